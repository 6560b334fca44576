/* libFuzzer harness for the SOCKS5 UDP datagram header (src/proto/socks5_udp.c).
 *
 * Input: byte 0 chooses a split point; the rest is a datagram a client sent to its
 * association. The parser runs on the whole datagram, on every prefix up to its first
 * final answer and on the split, each in a buffer of exactly its size (ASan sees a read
 * past the datagram).
 *
 * Invariants (abort() when broken):
 * - status is one of the three; DONE means 8 <= consumed <= min(length, 262) and
 *   consumed is 4 + address length + 2; MORE only while shorter than 262 bytes;
 * - a prefix parses as MORE or exactly as the whole; out untouched unless DONE;
 * - an error's reason matches the first offending byte: RSV (byte 0 or 1 not zero), FRAG
 *   (RSV zero, byte 2 not zero: fragments are always dropped), ATYP (not 1, 3, 4),
 *   DOMAIN (length 0 or a NUL inside); its text is not empty;
 * - DONE results agree with the bytes (address, port; a domain NUL-terminated, 1..255
 *   bytes, no NUL inside), and writing the parsed target back gives the header's bytes;
 * - for an IP target, the reply header built from its socket address is 10 or 22 bytes
 *   and equals the header (a v4-mapped IPv6 address comes back as its IPv4). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "socks5_udp.h"

static uint8_t *scratch;
static size_t cap;
#define WHY_UNSET 12345

struct outcome {
    enum parse_status st;
    size_t consumed;
    int why;
    struct target t;
};

static void
run(const uint8_t *msg, size_t len, struct outcome *o)
{
    uint8_t *buf = fuzz_at_end(scratch, cap, msg, len);

    memset(o, FUZZ_SENTINEL, sizeof(*o));
    o->consumed = SIZE_MAX;
    o->why = WHY_UNSET;
    o->st = socks5_udp_parse(buf, len, &o->consumed, &o->t, &o->why);
    FUZZ_CHECK(o->st == PARSE_MORE || o->st == PARSE_DONE || o->st == PARSE_ERROR);
    if (o->st != PARSE_DONE) {
        FUZZ_CHECK(fuzz_all_sentinel(&o->t, sizeof(o->t)));
        FUZZ_CHECK(o->consumed == SIZE_MAX);
    }
    if (o->st != PARSE_ERROR)
        FUZZ_CHECK(o->why == WHY_UNSET);
}

static int
same(const struct outcome *a, const struct outcome *b)
{
    if (a->st != b->st)
        return 0;
    if (a->st == PARSE_DONE)
        return a->consumed == b->consumed && memcmp(&a->t, &b->t, sizeof(a->t)) == 0;
    if (a->st == PARSE_ERROR)
        return a->why == b->why;
    return 1;
}

static void
check_error(const uint8_t *m, size_t n, int why)
{
    const char *text = socks5_udp_err_text(why);

    FUZZ_CHECK(text != NULL && text[0] != '\0');
    switch (why) {
    case SOCKS5_UDP_ERR_RSV:
        FUZZ_CHECK((n >= 1 && m[0] != 0) || (n >= 2 && m[1] != 0));
        break;
    case SOCKS5_UDP_ERR_FRAG:
        FUZZ_CHECK(n >= 3 && m[0] == 0 && m[1] == 0 && m[2] != 0);
        break;
    case SOCKS5_UDP_ERR_ATYP:
        FUZZ_CHECK(n >= 4 && m[0] == 0 && m[1] == 0 && m[2] == 0);
        FUZZ_CHECK(m[3] != TARGET_IPV4 && m[3] != TARGET_DOMAIN && m[3] != TARGET_IPV6);
        break;
    case SOCKS5_UDP_ERR_DOMAIN:
        FUZZ_CHECK(n >= 5 && m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == TARGET_DOMAIN);
        FUZZ_CHECK(m[4] == 0 || memchr(m + 5, 0, n - 5 < m[4] ? n - 5 : m[4]) != NULL);
        break;
    default:
        FUZZ_CHECK(!"a reason outside enum socks5_udp_err");
    }
}

/* The reply header built from an IP target's socket address is the header itself. */
static void
check_reply_header(const uint8_t *m, const struct target *t)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t *out = malloc(SOCKS5_UDP_HDR_IP_MAX);
    struct sockaddr_storage ss;
    size_t n;

    FUZZ_CHECK(out != NULL);
    memset(&ss, 0, sizeof(ss));
    if (t->type == TARGET_IPV4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(t->port);
        memcpy(&sin->sin_addr, t->addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(t->port);
        memcpy(&sin6->sin6_addr, t->addr, 16);
    }
    n = socks5_udp_write_from(out, (struct sockaddr *)&ss);
    FUZZ_CHECK(n == 10 || n == 22);
    FUZZ_CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0);
    if (t->type == TARGET_IPV6 && memcmp(t->addr, mapped, 12) == 0) {
        FUZZ_CHECK(n == 10 && out[3] == TARGET_IPV4);
        FUZZ_CHECK(memcmp(out + 4, t->addr + 12, 4) == 0);
        FUZZ_CHECK(((out[8] << 8) | out[9]) == t->port);
    } else {
        FUZZ_CHECK(n == (t->type == TARGET_IPV4 ? 10u : 22u));
        FUZZ_CHECK(memcmp(out, m, n) == 0);
    }
    free(out);
}

static void
validate(const uint8_t *m, size_t n, const struct outcome *o)
{
    const struct target *t = &o->t;
    uint8_t *back;
    size_t alen;

    if (o->st == PARSE_MORE) {
        FUZZ_CHECK(n < SOCKS5_UDP_HDR_MAX);
        return;
    }
    if (o->st == PARSE_ERROR) {
        check_error(m, n, o->why);
        return;
    }
    FUZZ_CHECK(o->consumed >= SOCKS5_UDP_HDR_MIN && o->consumed <= n);
    FUZZ_CHECK(o->consumed <= SOCKS5_UDP_HDR_MAX);
    FUZZ_CHECK(m[0] == 0 && m[1] == 0 && m[2] == 0 && (uint8_t)t->type == m[3]);
    switch (t->type) {
    case TARGET_IPV4:
        alen = 4;
        FUZZ_CHECK(memcmp(t->addr, m + 4, 4) == 0);
        break;
    case TARGET_IPV6:
        alen = 16;
        FUZZ_CHECK(memcmp(t->addr, m + 4, 16) == 0);
        break;
    case TARGET_DOMAIN:
        alen = 1 + (size_t)m[4];
        FUZZ_CHECK(fuzz_terminated(t->host, sizeof(t->host)));
        FUZZ_CHECK(strlen(t->host) == m[4] && m[4] >= 1);
        FUZZ_CHECK(memcmp(t->host, m + 5, m[4]) == 0);
        break;
    default:
        FUZZ_CHECK(!"parsed an ATYP outside 1, 3, 4");
        return;
    }
    FUZZ_CHECK(o->consumed == 4 + alen + 2);
    FUZZ_CHECK(t->port == ((m[4 + alen] << 8) | m[5 + alen]));

    back = malloc(SOCKS5_UDP_HDR_MAX);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(socks5_udp_write_target(back, t) == o->consumed);
    FUZZ_CHECK(memcmp(back, m, o->consumed) == 0);
    free(back);
    if (t->type != TARGET_DOMAIN)
        check_reply_header(m, t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome full, part;
    const uint8_t *m;
    size_t n, split;

    if (size < 1)
        return 0;
    m = data + 1;
    n = size - 1;
    cap = n;
    scratch = malloc(cap ? cap : 1);
    FUZZ_CHECK(scratch != NULL);
    split = data[0] % (n + 1);

    run(m, n, &full);
    validate(m, n, &full);
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
