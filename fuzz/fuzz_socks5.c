/* libFuzzer harness for the SOCKS5 parsers and reply encoders (src/socks5.c).
 *
 * Input: byte 0 chooses the split point (and the REP code of the encoded reply); the rest
 * is what a client sent. Each parser is run on the whole input and on every prefix up to
 * its first final answer, each prefix in a buffer of exactly its size so that ASan sees a
 * read past the length. Then the pipeline a session runs is replayed: greeting, optional
 * RFC 1929 auth, request, each on what the previous one left.
 *
 * Invariants (abort() when broken):
 * - status is one of the three; DONE means 0 < consumed <= length;
 * - a prefix parses as MORE or exactly as the whole (fed byte by byte, in two segments,
 *   or in one, the answer is the same);
 * - the out-parameter is untouched unless DONE;
 * - DONE results agree with the bytes (lengths, addresses, port, domain NUL-terminated,
 *   strlen <= 255, no NUL inside); MORE only while shorter than the longest message;
 * - an error's REP is one of -1, 1, 7, 8 and matches the offending field;
 * - a reply encoded from a parsed target is 10 or 22 bytes, VER 5, RSV 0, ATYP 1 or 4,
 *   carrying the address and port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "socks5.h"

/* Per input: an allocation of exactly the message's size; each parse runs on a copy that
 * ends at its end. */
static uint8_t *scratch;
static size_t cap;
#define REP_UNSET 12345

/* The longest message each parser can need. */
#define GREETING_MAX (2 + 255)
#define AUTH_MAX (3 + 255 + 255)
#define REQUEST_MAX (4 + 1 + 255 + 2)

enum which { GREETING, AUTH, REQUEST };

struct outcome {
    enum parse_status st;
    size_t consumed;
    int rep;
    union {
        struct socks5_greeting g;
        struct socks5_auth a;
        struct socks5_request r;
    } out;
};

/* Runs one parser on a private copy of exactly len bytes. */
static void
run(enum which w, const uint8_t *msg, size_t len, struct outcome *o)
{
    /* The copy ends where the scratch allocation ends: a read past len is one ASan sees. */
    uint8_t *buf = fuzz_at_end(scratch, cap, msg, len);

    memset(o, FUZZ_SENTINEL, sizeof(*o));
    o->consumed = SIZE_MAX;
    o->rep = REP_UNSET;
    switch (w) {
    case GREETING:
        o->st = socks5_parse_greeting(buf, len, &o->consumed, &o->out.g);
        break;
    case AUTH:
        o->st = socks5_parse_auth(buf, len, &o->consumed, &o->out.a);
        break;
    case REQUEST:
        o->st = socks5_parse_request(buf, len, &o->consumed, &o->out.r, &o->rep);
        break;
    }

    FUZZ_CHECK(o->st == PARSE_MORE || o->st == PARSE_DONE || o->st == PARSE_ERROR);
    if (o->st == PARSE_DONE)
        FUZZ_CHECK(o->consumed > 0 && o->consumed <= len);
    else
        FUZZ_CHECK(fuzz_all_sentinel(&o->out, sizeof(o->out)));
}

static int
same(enum which w, const struct outcome *a, const struct outcome *b)
{
    if (a->st != b->st)
        return 0;
    if (a->st == PARSE_DONE)
        return a->consumed == b->consumed && memcmp(&a->out, &b->out, sizeof(a->out)) == 0;
    if (a->st == PARSE_ERROR && w == REQUEST)
        return a->rep == b->rep;
    return 1;
}

static void
check_reply(const struct socks5_request *r, uint8_t rep)
{
    uint8_t *out = malloc(SOCKS5_REPLY_MAX);
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    const struct sockaddr *bnd = NULL;
    const uint8_t *want = NULL;
    size_t n, alen = 4;

    FUZZ_CHECK(out != NULL);
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (r->target.type == TARGET_IPV4) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(r->target.port);
        memcpy(&sin.sin_addr, r->target.addr, 4);
        bnd = (const struct sockaddr *)&sin;
        want = r->target.addr;
    } else if (r->target.type == TARGET_IPV6) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(r->target.port);
        memcpy(&sin6.sin6_addr, r->target.addr, 16);
        bnd = (const struct sockaddr *)&sin6;
        if (memcmp(r->target.addr, mapped, 12) == 0) {
            want = r->target.addr + 12; /* reported as the IPv4 it is */
        } else {
            want = r->target.addr;
            alen = 16;
        }
    }
    if (bnd == NULL && (rep & 1)) {
        /* Any other family is reported like NULL. */
        static struct sockaddr_storage unix_like = {.ss_family = AF_UNIX};
        bnd = (const struct sockaddr *)&unix_like;
    }
    n = socks5_write_reply(out, rep, bnd);
    FUZZ_CHECK(n == 4 + alen + 2);
    FUZZ_CHECK(n == 10 || n == 22);
    FUZZ_CHECK(out[0] == SOCKS5_VERSION && out[1] == rep && out[2] == 0);
    FUZZ_CHECK(out[3] == (alen == 16 ? TARGET_IPV6 : TARGET_IPV4));
    if (want != NULL) {
        FUZZ_CHECK(memcmp(out + 4, want, alen) == 0);
        FUZZ_CHECK(((out[4 + alen] << 8) | out[5 + alen]) == r->target.port);
    } else {
        static const uint8_t zero[6];
        FUZZ_CHECK(memcmp(out + 4, zero, 6) == 0); /* a domain target: 0.0.0.0:0 */
    }
    free(out);
}

/* Checks a result against the bytes it came from. */
static void
validate(enum which w, const uint8_t *m, size_t n, const struct outcome *o, uint8_t rep)
{
    if (o->st == PARSE_MORE) {
        FUZZ_CHECK(n < (w == GREETING ? GREETING_MAX : w == AUTH ? AUTH_MAX : REQUEST_MAX));
        return;
    }
    switch (w) {
    case GREETING:
        if (o->st == PARSE_ERROR) {
            FUZZ_CHECK(n >= 1 && m[0] != SOCKS5_VERSION);
            return;
        }
        FUZZ_CHECK(m[0] == SOCKS5_VERSION && o->consumed == 2u + m[1]);
        FUZZ_CHECK(o->out.g.offers_none == (memchr(m + 2, 0x00, m[1]) != NULL));
        FUZZ_CHECK(o->out.g.offers_userpass == (memchr(m + 2, 0x02, m[1]) != NULL));
        break;
    case AUTH: {
        const struct socks5_auth *a = &o->out.a;
        size_t ulen, plen;

        if (o->st == PARSE_ERROR) {
            FUZZ_CHECK(n >= 1 && m[0] != SOCKS5_AUTH_VERSION);
            return;
        }
        FUZZ_CHECK(m[0] == SOCKS5_AUTH_VERSION);
        ulen = m[1];
        plen = m[2 + ulen];
        FUZZ_CHECK(a->user_len == ulen && a->pass_len == plen);
        FUZZ_CHECK(a->user_len <= 255 && a->pass_len <= 255);
        FUZZ_CHECK(o->consumed == 3 + ulen + plen);
        FUZZ_CHECK(memcmp(a->user, m + 2, ulen) == 0 && a->user[ulen] == '\0');
        FUZZ_CHECK(memcmp(a->pass, m + 3 + ulen, plen) == 0 && a->pass[plen] == '\0');
        break;
    }
    case REQUEST: {
        const struct socks5_request *r = &o->out.r;
        size_t alen;

        if (o->st == PARSE_ERROR) {
            FUZZ_CHECK(n >= 1);
            switch (o->rep) {
            case -1:
                FUZZ_CHECK(m[0] != SOCKS5_VERSION);
                break;
            case SOCKS5_REP_CMD_UNSUPPORTED:
                FUZZ_CHECK(n >= 2 && (m[1] < 1 || m[1] > 3));
                break;
            case SOCKS5_REP_ATYP_UNSUPPORTED:
                FUZZ_CHECK(n >= 4 && m[3] != 1 && m[3] != 3 && m[3] != 4);
                break;
            case SOCKS5_REP_GENERAL: /* empty domain, or a NUL inside it */
                FUZZ_CHECK(n >= 5 && m[3] == TARGET_DOMAIN);
                FUZZ_CHECK(m[4] == 0 || memchr(m + 5, 0, n - 5 < m[4] ? n - 5 : m[4]) != NULL);
                break;
            default:
                FUZZ_CHECK(!"REP outside the documented set");
            }
            if (o->rep >= 0)
                check_reply(&(struct socks5_request){.target.type = TARGET_DOMAIN},
                            (uint8_t)o->rep);
            return;
        }
        FUZZ_CHECK(m[0] == SOCKS5_VERSION && r->cmd == m[1] && r->cmd >= 1 && r->cmd <= 3);
        FUZZ_CHECK((uint8_t)r->target.type == m[3]);
        switch (r->target.type) {
        case TARGET_IPV4:
            alen = 4;
            FUZZ_CHECK(memcmp(r->target.addr, m + 4, 4) == 0);
            break;
        case TARGET_IPV6:
            alen = 16;
            FUZZ_CHECK(memcmp(r->target.addr, m + 4, 16) == 0);
            break;
        case TARGET_DOMAIN:
            alen = 1 + (size_t)m[4];
            FUZZ_CHECK(fuzz_terminated(r->target.host, sizeof(r->target.host)));
            FUZZ_CHECK(strlen(r->target.host) == m[4]);
            FUZZ_CHECK(strlen(r->target.host) >= 1 && strlen(r->target.host) <= 255);
            FUZZ_CHECK(memcmp(r->target.host, m + 5, m[4]) == 0);
            break;
        default:
            FUZZ_CHECK(!"parsed an ATYP outside 1, 3, 4");
            return;
        }
        FUZZ_CHECK(o->consumed == 4 + alen + 2);
        FUZZ_CHECK(r->target.port == ((m[4 + alen] << 8) | m[5 + alen]));
        check_reply(r, rep);
        break;
    }
    }
}

/* Whole input, every prefix up to the first final answer, and the fuzzer's split point.
 * Returns the whole input's outcome. */
static void
check_parser(enum which w, const uint8_t *m, size_t n, size_t split, uint8_t rep,
             struct outcome *full)
{
    struct outcome part;

    run(w, m, n, full);
    validate(w, m, n, full, rep);
    for (size_t k = 0; k <= n; k++) {
        run(w, m, k, &part);
        if (part.st == PARSE_MORE) {
            FUZZ_CHECK(k < n || full->st == PARSE_MORE);
            continue;
        }
        FUZZ_CHECK(same(w, &part, full));
        break;
    }
    if (split > n)
        split = n;
    run(w, m, split, &part);
    FUZZ_CHECK(part.st == PARSE_MORE || same(w, &part, full));
}

static void
check_encoders(void)
{
    uint8_t *out = malloc(2);

    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(socks5_write_method(out, SOCKS5_METHOD_REJECT) == 2);
    FUZZ_CHECK(out[0] == 5 && out[1] == 0xFF);
    FUZZ_CHECK(socks5_write_auth_status(out, 0) == 2);
    FUZZ_CHECK(out[0] == 1 && out[1] == 1);
    FUZZ_CHECK(socks5_write_auth_status(out, 1) == 2);
    FUZZ_CHECK(out[0] == 1 && out[1] == 0);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome o;
    const uint8_t *m;
    size_t n, split, off;
    uint8_t rep;

    if (size < 1)
        return 0;
    m = data + 1;
    n = size - 1;
    cap = n;
    scratch = malloc(cap);
    FUZZ_CHECK(scratch != NULL || cap == 0);
    split = data[0] % (n + 1);
    rep = data[0] % 9;

    /* Each parser on the whole input (the greeting's run starts the pipeline below). */
    check_parser(AUTH, m, n, split, rep, &o);
    check_parser(REQUEST, m, n, split, rep, &o);

    /* A pipelined client: greeting [+ auth] + request (+ payload) in one burst. */
    check_parser(GREETING, m, n, split, rep, &o);
    if (o.st == PARSE_DONE) {
        off = o.consumed;
        if (off < n && m[off] == SOCKS5_AUTH_VERSION) {
            check_parser(AUTH, m + off, n - off, split, rep, &o);
            off = o.st == PARSE_DONE ? off + o.consumed : n + 1;
        }
        if (off <= n)
            check_parser(REQUEST, m + off, n - off, split, rep, &o);
    }
    check_encoders();
    free(scratch);
    return 0;
}
