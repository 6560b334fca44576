/* libFuzzer harness for the SOCKS4/4a parser and reply encoder (src/socks4.c).
 *
 * Input: byte 0 chooses the split point (and the reply code); the rest is what a client
 * sent. As in fuzz_socks5: the whole input, every prefix up to the first final answer
 * and the fuzzer's split point, each in a buffer of exactly its size.
 * Invariants (abort() when broken):
 * - DONE means 0 < consumed <= length; a prefix parses as MORE or exactly as the whole;
 *   out is untouched unless DONE; MORE only while shorter than the longest request;
 * - DONE agrees with the bytes: CD 1 or 2, port, IPv4 address or (4a, DSTIP 0.0.0.x)
 *   a host name NUL-terminated, 1..255 bytes, USERID length <= 255;
 * - an error's reply code is -1 (VN != 4) or 0x5B;
 * - the encoded reply is 8 bytes, VN 0, the code given, the IPv4 BND or zeros. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "socks4.h"

/* Per input: an allocation of exactly the message's size; each parse runs on a copy that
 * ends at its end. */
static uint8_t *scratch;
static size_t cap;
#define REP_UNSET 12345
#define REQUEST_MAX (8 + (SOCKS4_USERID_MAX + 1) + 256)

struct outcome {
    enum parse_status st;
    size_t consumed;
    int rep;
    struct socks4_request out;
};

static void
run(const uint8_t *msg, size_t len, struct outcome *o)
{
    /* The copy ends where the scratch allocation ends: a read past len is one ASan sees. */
    uint8_t *buf = fuzz_at_end(scratch, cap, msg, len);

    memset(o, FUZZ_SENTINEL, sizeof(*o));
    o->consumed = SIZE_MAX;
    o->rep = REP_UNSET;
    o->st = socks4_parse_request(buf, len, &o->consumed, &o->out, &o->rep);

    FUZZ_CHECK(o->st == PARSE_MORE || o->st == PARSE_DONE || o->st == PARSE_ERROR);
    if (o->st == PARSE_DONE)
        FUZZ_CHECK(o->consumed > 0 && o->consumed <= len);
    else
        FUZZ_CHECK(fuzz_all_sentinel(&o->out, sizeof(o->out)));
    if (o->st == PARSE_ERROR)
        FUZZ_CHECK(o->rep == -1 || o->rep == SOCKS4_REP_REJECTED);
}

static int
same(const struct outcome *a, const struct outcome *b)
{
    if (a->st != b->st)
        return 0;
    if (a->st == PARSE_DONE)
        return a->consumed == b->consumed && memcmp(&a->out, &b->out, sizeof(a->out)) == 0;
    if (a->st == PARSE_ERROR)
        return a->rep == b->rep;
    return 1;
}

static void
check_reply(const struct socks4_request *r, uint8_t rep)
{
    uint8_t *out = malloc(SOCKS4_REPLY_LEN);
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    static const uint8_t zero[6];

    FUZZ_CHECK(out != NULL);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(r->target.port);
    memcpy(&sin.sin_addr, r->target.addr, 4);
    FUZZ_CHECK(socks4_write_reply(out, rep, (const struct sockaddr *)&sin) == SOCKS4_REPLY_LEN);
    FUZZ_CHECK(out[0] == 0 && out[1] == rep);
    FUZZ_CHECK(((out[2] << 8) | out[3]) == r->target.port);
    FUZZ_CHECK(memcmp(out + 4, r->target.addr, 4) == 0);

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6; /* not representable in SOCKS4: zeros */
    FUZZ_CHECK(socks4_write_reply(out, rep, (const struct sockaddr *)&sin6) == SOCKS4_REPLY_LEN);
    FUZZ_CHECK(out[0] == 0 && out[1] == rep && memcmp(out + 2, zero, 6) == 0);
    FUZZ_CHECK(socks4_write_reply(out, rep, NULL) == SOCKS4_REPLY_LEN);
    FUZZ_CHECK(out[0] == 0 && out[1] == rep && memcmp(out + 2, zero, 6) == 0);
    free(out);
}

static void
validate(const uint8_t *m, size_t n, const struct outcome *o, uint8_t rep)
{
    const struct socks4_request *r = &o->out;
    size_t ulen, hlen, end;

    if (o->st == PARSE_MORE) {
        FUZZ_CHECK(n < REQUEST_MAX);
        return;
    }
    if (o->st == PARSE_ERROR) {
        FUZZ_CHECK(n >= 1 && (o->rep == -1) == (m[0] != SOCKS4_VERSION));
        return;
    }
    FUZZ_CHECK(m[0] == SOCKS4_VERSION && r->cmd == m[1] && (r->cmd == 1 || r->cmd == 2));
    FUZZ_CHECK(r->target.port == ((m[2] << 8) | m[3]));
    ulen = r->userid_len;
    FUZZ_CHECK(ulen <= SOCKS4_USERID_MAX);
    FUZZ_CHECK(memchr(m + 8, 0, ulen) == NULL && m[8 + ulen] == 0);
    end = 8 + ulen + 1;
    if (m[4] == 0 && m[5] == 0 && m[6] == 0 && m[7] != 0) {
        FUZZ_CHECK(r->target.type == TARGET_DOMAIN);
        FUZZ_CHECK(fuzz_terminated(r->target.host, sizeof(r->target.host)));
        hlen = strlen(r->target.host);
        FUZZ_CHECK(hlen >= 1 && hlen <= 255);
        FUZZ_CHECK(memcmp(r->target.host, m + end, hlen) == 0 && m[end + hlen] == 0);
        end += hlen + 1;
    } else {
        FUZZ_CHECK(r->target.type == TARGET_IPV4);
        FUZZ_CHECK(memcmp(r->target.addr, m + 4, 4) == 0);
    }
    FUZZ_CHECK(o->consumed == end);
    check_reply(r, rep);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome full, part;
    const uint8_t *m;
    size_t n, split;
    uint8_t rep;

    if (size < 1)
        return 0;
    m = data + 1;
    n = size - 1;
    cap = n;
    scratch = malloc(cap);
    FUZZ_CHECK(scratch != NULL || cap == 0);
    split = data[0] % (n + 1);
    rep = data[0] & 1 ? SOCKS4_REP_REJECTED : SOCKS4_REP_GRANTED;

    run(m, n, &full);
    validate(m, n, &full, rep);
    for (size_t k = 0; k <= n; k++) {
        run(m, k, &part);
        if (part.st == PARSE_MORE) {
            FUZZ_CHECK(k < n || full.st == PARSE_MORE);
            continue;
        }
        FUZZ_CHECK(same(&part, &full));
        break;
    }
    run(m, split, &part);
    FUZZ_CHECK(part.st == PARSE_MORE || same(&part, &full));
    free(scratch);
    return 0;
}
