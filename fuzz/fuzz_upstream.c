/* libFuzzer harness for the upstream proxy reply parsers (src/proto/upstream.c): what a
 * SOCKS5, SOCKS4a or HTTP proxy answers us.
 *
 * Input: byte 0 picks the parser (low 3 bits) and the split point; the rest is what the
 * upstream sent. Each parse runs on a copy that ends where its allocation ends.
 * Invariants (abort() when broken):
 * - DONE means 0 < consumed <= length; out-parameters are untouched unless DONE;
 * - every prefix parses as MORE until the first final answer, which equals the whole
 *   input's; the fuzzer's split point agrees too; MORE only below each message's maximum;
 * - results agree with the bytes: SOCKS5 method/status/REP and BND, SOCKS4 CD 90..93,
 *   HTTP status 100..999 from the status line, 2xx heads end in a blank line;
 * - every answer maps to 0 or a documented failure cause, and a SOCKS5 REP passes
 *   through errmap unchanged;
 * - a CONNECT request encoded for a parsed BND parses back, through our own server-side
 *   parser, to the same target. */
#include <string.h>

#include "errmap.h"
#include "fuzz.h"
#include "socks5.h"
#include "upstream.h"

enum which { W_METHOD, W_AUTH, W_S5REPLY, W_S4REPLY, W_HTTP, W_COUNT };

struct outcome {
    enum parse_status st;
    size_t consumed;
    int code;
    struct target bnd;
};

static uint8_t *scratch;
static size_t cap;

static size_t
max_len(enum which w)
{
    switch (w) {
    case W_METHOD:
    case W_AUTH:
        return 2;
    case W_S5REPLY:
        return 4 + 256 + 2;
    case W_S4REPLY:
        return 8;
    default:
        return UPSTREAM_REPLY_MAX;
    }
}

static void
run(enum which w, const uint8_t *msg, size_t len, struct outcome *o)
{
    uint8_t *buf = fuzz_at_end(scratch, cap, msg, len);

    memset(o, FUZZ_SENTINEL, sizeof(*o));
    o->consumed = SIZE_MAX;
    switch (w) {
    case W_METHOD:
        o->st = upstream_socks5_parse_method(buf, len, &o->consumed, &o->code);
        break;
    case W_AUTH:
        o->st = upstream_socks5_parse_auth_status(buf, len, &o->consumed, &o->code);
        break;
    case W_S5REPLY:
        o->st = upstream_socks5_parse_reply(buf, len, &o->consumed, &o->code, &o->bnd);
        break;
    case W_S4REPLY:
        o->st = upstream_socks4_parse_reply(buf, len, &o->consumed, &o->code, &o->bnd);
        break;
    default:
        o->st = upstream_http_parse_connect(buf, len, &o->consumed, &o->code);
        break;
    }
    FUZZ_CHECK(o->st == PARSE_MORE || o->st == PARSE_DONE || o->st == PARSE_ERROR);
    if (o->st == PARSE_DONE) {
        FUZZ_CHECK(o->consumed > 0 && o->consumed <= len);
    } else {
        FUZZ_CHECK(o->consumed == SIZE_MAX);
        FUZZ_CHECK(fuzz_all_sentinel(&o->code, sizeof(o->code)));
        FUZZ_CHECK(fuzz_all_sentinel(&o->bnd, sizeof(o->bnd)));
    }
    if (o->st == PARSE_MORE)
        FUZZ_CHECK(len < max_len(w));
}

static int
same(const struct outcome *a, const struct outcome *b, enum which w)
{
    if (a->st != b->st)
        return 0;
    if (a->st != PARSE_DONE)
        return 1;
    if (a->consumed != b->consumed || a->code != b->code)
        return 0;
    return w != W_S5REPLY && w != W_S4REPLY ? 1 : memcmp(&a->bnd, &b->bnd, sizeof(a->bnd)) == 0;
}

static int
known_cause(int err)
{
    return err == 0 || err == DP_ERR_UPSTREAM || err == DP_ERR_UPSTREAM_AUTH ||
           (err <= DP_ERR_UPSTREAM_REP(1) && err >= DP_ERR_UPSTREAM_REP(8));
}

/* The BND we parsed, as a CONNECT target, must survive our encoder and our server-side
 * request parser unchanged. */
static void
round_trip(const struct target *t)
{
    uint8_t req[UPSTREAM_REQ_MAX];
    size_t n = upstream_socks5_connect(req, sizeof(req), t), used = 0;
    struct socks5_request r;
    int rep = 0;

    if (t->type == TARGET_DOMAIN && t->host[0] == '\0') {
        FUZZ_CHECK(n == 0);
        return;
    }
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(socks5_parse_request(req, n, &used, &r, &rep) == PARSE_DONE && used == n);
    FUZZ_CHECK(r.target.type == t->type && r.target.port == t->port);
    if (t->type == TARGET_DOMAIN)
        FUZZ_CHECK(strcmp(r.target.host, t->host) == 0);
    else
        FUZZ_CHECK(memcmp(r.target.addr, t->addr, t->type == TARGET_IPV4 ? 4 : 16) == 0);
}

static void
validate(enum which w, const uint8_t *m, size_t n, const struct outcome *o)
{
    if (o->st != PARSE_DONE)
        return;
    switch (w) {
    case W_METHOD:
        FUZZ_CHECK(m[0] == 5 && o->code == m[1] && o->consumed == 2);
        FUZZ_CHECK(known_cause(upstream_socks5_method_err(o->code, m[1] & 1)));
        break;
    case W_AUTH:
        FUZZ_CHECK(o->consumed == 2 && o->code == (m[1] == 0));
        break;
    case W_S5REPLY: {
        int err = upstream_socks5_rep_err(o->code);
        FUZZ_CHECK(m[0] == 5 && o->code == m[1] && (int)o->bnd.type == m[3]);
        FUZZ_CHECK(o->bnd.port == ((m[o->consumed - 2] << 8) | m[o->consumed - 1]));
        FUZZ_CHECK(known_cause(err));
        if (o->code >= 1 && o->code <= 8)
            FUZZ_CHECK(errmap_socks5_rep(err) == o->code && errmap_is_final(err));
        if (o->bnd.type == TARGET_DOMAIN)
            FUZZ_CHECK(fuzz_terminated(o->bnd.host, sizeof(o->bnd.host)));
        round_trip(&o->bnd);
        break;
    }
    case W_S4REPLY:
        FUZZ_CHECK(o->consumed == 8 && o->code >= 90 && o->code <= 93 && o->code == m[1]);
        FUZZ_CHECK(memcmp(o->bnd.addr, m + 4, 4) == 0);
        FUZZ_CHECK(known_cause(upstream_socks4_cd_err(o->code)));
        break;
    default:
        FUZZ_CHECK(o->code >= 100 && o->code <= 999);
        FUZZ_CHECK(memcmp(m, "HTTP/1.", 7) == 0);
        FUZZ_CHECK(o->code == (m[9] - '0') * 100 + (m[10] - '0') * 10 + (m[11] - '0'));
        FUZZ_CHECK(known_cause(upstream_http_status_err(o->code)));
        if (o->code >= 200 && o->code <= 299)
            FUZZ_CHECK(m[o->consumed - 1] == '\n');
        break;
    }
    (void)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome full, part;
    const uint8_t *m;
    size_t n, split;
    enum which w;

    if (size < 1)
        return 0;
    w = (enum which)((data[0] & 7) % W_COUNT);
    m = data + 1;
    n = size - 1;
    cap = n;
    scratch = malloc(cap ? cap : 1);
    FUZZ_CHECK(scratch != NULL);
    cap = n;
    split = (data[0] >> 3) % (n + 1);

    run(w, m, n, &full);
    validate(w, m, n, &full);
    for (size_t k = 0; k <= n; k++) {
        run(w, m, k, &part);
        if (part.st == PARSE_MORE) {
            FUZZ_CHECK(k < n || full.st == PARSE_MORE);
            continue;
        }
        FUZZ_CHECK(same(&part, &full, w));
        break;
    }
    run(w, m, split, &part);
    FUZZ_CHECK(part.st == PARSE_MORE || same(&part, &full, w));
    free(scratch);
    return 0;
}
