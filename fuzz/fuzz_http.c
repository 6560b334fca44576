/* libFuzzer harness for the HTTP/1.x proxy parsers and writers (src/http.c).
 *
 * Input: byte 0 chooses the split point and whether the response answers a HEAD; the
 * rest is parsed as a request head, as a response head, and as a chunked body; the
 * bytes after a complete head are fed to that head's body tracker. Every parse runs on a
 * copy ending where an allocation ends, so ASan sees a read past the length.
 * Invariants (abort() when broken):
 * - heads: DONE means 0 < consumed <= min(length, HTTP_HEAD_MAX) and the head ends with
 *   LF; a prefix (byte by byte up to 24, around every line end, at the fuzzer's split)
 *   parses as MORE or exactly as the whole; a request error is 400, 431 or 505;
 * - parsed fields: spans inside the head, at most HTTP_HEADERS_MAX fields, names
 *   non-empty; the target is IPv4/IPv6/domain, a domain NUL-terminated and 1..255 bytes,
 *   port > 0; the framing agrees with the fields (CONNECT and 1xx/204/304/HEAD have no
 *   body, keep-alive never with a close-delimited body);
 * - rewritten heads: only CRLF line ends, no bare CR or LF, no Proxy-Authorization
 *   leaves, nothing written past cap (a cap one byte short gives 0); parsed again as the
 *   next hop parses it, the same framing (a Connection token never takes it away);
 * - bodies: fed whole, byte by byte, or in two segments, the same verdict after the same
 *   number of bytes; used <= length; MORE uses all;
 * - Basic credentials: user and password at most 255 bytes, written into buffers of
 *   exactly 255; re-encoded, they decode to the same;
 * - our own error responses parse as a complete response whose body length is right. */
#include <string.h>

#include "fuzz.h"
#include "http.h"

static uint8_t *scratch;
static size_t cap;

/* A copy of msg[0..len) that ends where scratch ends. */
static const uint8_t *
at_end(const uint8_t *msg, size_t len)
{
    return fuzz_at_end(scratch, cap, msg, len);
}

static void
check_span(struct http_span s, size_t head_len)
{
    FUZZ_CHECK((size_t)s.off + s.len <= head_len);
}

static void
check_fields(const struct http_fields *f, size_t head_len)
{
    FUZZ_CHECK(f->n_headers <= HTTP_HEADERS_MAX);
    FUZZ_CHECK(f->n_conn_tokens <= HTTP_CONN_TOKENS_MAX);
    FUZZ_CHECK(f->minor == 0 || f->minor == 1);
    for (unsigned i = 0; i < f->n_headers; i++) {
        check_span(f->headers[i].name, head_len);
        check_span(f->headers[i].value, head_len);
        FUZZ_CHECK(f->headers[i].name.len > 0);
        FUZZ_CHECK(f->headers[i].drop == 0 || f->headers[i].drop == 1);
    }
    for (unsigned i = 0; i < f->n_conn_tokens; i++)
        check_span(f->conn_tokens[i], head_len);
    if (f->body == HTTP_BODY_LENGTH)
        FUZZ_CHECK(f->has_length && f->content_length > 0);
    if (f->body == HTTP_BODY_CHUNKED)
        FUZZ_CHECK(f->has_te && f->te_chunked);
}

static int
ieq_prefix(const uint8_t *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = p[i], b = (uint8_t)lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t)(a + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

/* CRLF discipline, the blank line at the end, and no Proxy-Authorization field. */
static void
check_written_head(const uint8_t *h, size_t n)
{
    FUZZ_CHECK(n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '\r')
            FUZZ_CHECK(i + 1 < n && h[i + 1] == '\n');
        if (h[i] == '\n') {
            FUZZ_CHECK(i > 0 && h[i - 1] == '\r');
            FUZZ_CHECK(!ieq_prefix(h + i + 1, n - i - 1, "proxy-authorization:"));
        }
        FUZZ_CHECK(h[i] != '\0');
    }
}

/* The head we send, parsed by the next hop, gives the framing we track the body by (a
 * field named in Connection must not take Content-Length or Transfer-Encoding with it).
 * Only when it parses: the added Host or Connection field may push it past a limit. */
static void
check_framing_kept(int is_request, const uint8_t *out, size_t n, const void *parsed, int was_head)
{
    const struct http_fields *f;
    size_t used = 0;
    int status = 0;

    if (is_request) {
        const struct http_request *r = parsed;
        struct http_request again;
        if (r->is_connect ||
            http_parse_origin_request(out, n, &used, &again, &status) != PARSE_DONE)
            return;
        f = &r->f;
        FUZZ_CHECK(again.f.body == f->body && again.f.has_te == f->has_te);
    } else {
        const struct http_response *r = parsed;
        struct http_response again;
        if (http_parse_response(out, n, &used, was_head, &again) != PARSE_DONE)
            return;
        f = &r->f;
        FUZZ_CHECK(again.f.body == f->body);
    }
    FUZZ_CHECK(used == n);
    if (f->body == HTTP_BODY_LENGTH)
        FUZZ_CHECK(f->has_length);
}

/* Writes with a generous cap, then with exactly enough and one byte less. */
static void
check_writer(int is_request, const uint8_t *head, const void *parsed, int keep_alive, int was_head)
{
    static uint8_t out[2 * HTTP_HEAD_MAX + 256];
    size_t big = sizeof(out), n, n2;
    uint8_t *exact;

    n = is_request ? http_write_request_head(out, big, head, parsed)
                   : http_write_response_head(out, big, head, parsed, keep_alive);
    FUZZ_CHECK(n > 0 && n <= big);
    check_written_head(out, n);
    exact = malloc(n);
    FUZZ_CHECK(exact != NULL);
    n2 = is_request ? http_write_request_head(exact, n, head, parsed)
                    : http_write_response_head(exact, n, head, parsed, keep_alive);
    FUZZ_CHECK(n2 == n && memcmp(exact, out, n) == 0);
    n2 = is_request ? http_write_request_head(exact, n - 1, head, parsed)
                    : http_write_response_head(exact, n - 1, head, parsed, keep_alive);
    FUZZ_CHECK(n2 == 0);
    free(exact);
    check_framing_kept(is_request, out, n, parsed, was_head);
}

static void
check_target(const struct target *t)
{
    FUZZ_CHECK(t->port > 0);
    FUZZ_CHECK(t->type == TARGET_IPV4 || t->type == TARGET_IPV6 || t->type == TARGET_DOMAIN);
    if (t->type == TARGET_DOMAIN) {
        FUZZ_CHECK(fuzz_terminated(t->host, sizeof(t->host)));
        FUZZ_CHECK(strlen(t->host) >= 1 && strlen(t->host) <= 255);
    }
}

/* ---- Basic credentials ------------------------------------------------------------ */

static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            w |= in[i + 2];
        out[o++] = abc[w >> 18 & 63];
        out[o++] = abc[w >> 12 & 63];
        out[o++] = i + 1 < n ? abc[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[w & 63] : '=';
    }
    return o;
}

static void
check_credentials(const uint8_t *value, size_t len)
{
    uint8_t *user = malloc(255), *pass = malloc(255), *user2 = malloc(255), *pass2 = malloc(255);
    uint8_t plain[512];
    char enc[6 + 700];
    size_t ulen = 9999, plen = 9999, ulen2, plen2, n;
    const uint8_t *v = at_end(value, len);

    FUZZ_CHECK(user && pass && user2 && pass2);
    if (http_basic_credentials(v, len, user, &ulen, pass, &plen) == 0) {
        FUZZ_CHECK(ulen <= 255 && plen <= 255);
        FUZZ_CHECK(memchr(user, ':', ulen) == NULL);
        memcpy(plain, user, ulen);
        plain[ulen] = ':';
        memcpy(plain + ulen + 1, pass, plen);
        memcpy(enc, "Basic ", 6);
        n = 6 + b64_encode(plain, ulen + 1 + plen, enc + 6);
        FUZZ_CHECK(http_basic_credentials((const uint8_t *)enc, n, user2, &ulen2, pass2, &plen2) ==
                   0);
        FUZZ_CHECK(ulen2 == ulen && plen2 == plen);
        FUZZ_CHECK(memcmp(user2, user, ulen) == 0 && memcmp(pass2, pass, plen) == 0);
    }
    free(user);
    free(pass);
    free(user2);
    free(pass2);
}

/* ---- heads -------------------------------------------------------------------------- */

struct head_outcome {
    enum parse_status st;
    size_t consumed;
    int status;
    union {
        struct http_request req;
        struct http_response resp;
    } out;
};

static void
parse_head(int is_request, int was_head, const uint8_t *m, size_t len, struct head_outcome *o)
{
    const uint8_t *buf = at_end(m, len);

    memset(o, 0, sizeof(*o));
    o->status = -12345;
    if (is_request)
        o->st = http_parse_request(buf, len, &o->consumed, &o->out.req, &o->status);
    else
        o->st = http_parse_response(buf, len, &o->consumed, was_head, &o->out.resp);
    FUZZ_CHECK(o->st == PARSE_MORE || o->st == PARSE_DONE || o->st == PARSE_ERROR);
    if (o->st == PARSE_DONE) {
        FUZZ_CHECK(o->consumed > 0 && o->consumed <= len && o->consumed <= HTTP_HEAD_MAX);
        FUZZ_CHECK(m[o->consumed - 1] == '\n');
    }
    if (o->st == PARSE_MORE)
        FUZZ_CHECK(len < HTTP_HEAD_MAX);
    if (is_request && o->st == PARSE_ERROR)
        FUZZ_CHECK(o->status == 400 || o->status == 431 || o->status == 505);
    if (is_request) {
        /* The status page's origin-form parser: the same head rules, and a path that
         * starts with '/'. */
        struct http_request r;
        size_t used = 0;
        int status = -12345;
        enum parse_status st = http_parse_origin_request(buf, len, &used, &r, &status);

        FUZZ_CHECK(st == PARSE_MORE || st == PARSE_DONE || st == PARSE_ERROR);
        if (st == PARSE_DONE)
            FUZZ_CHECK(used > 0 && used <= len && m[used - 1] == '\n' && r.path.len > 0 &&
                       r.path.off + r.path.len <= used && m[r.path.off] == '/');
        if (st == PARSE_ERROR)
            FUZZ_CHECK(status == 400 || status == 431 || status == 505);
    }
}

static int
same_head(int is_request, const struct head_outcome *a, const struct head_outcome *b)
{
    if (a->st != b->st)
        return 0;
    if (a->st == PARSE_ERROR)
        return !is_request || a->status == b->status;
    if (a->st == PARSE_MORE)
        return 1;
    return a->consumed == b->consumed &&
           memcmp(&a->out, &b->out, is_request ? sizeof(a->out.req) : sizeof(a->out.resp)) == 0;
}

static void
check_prefix(int is_request, int was_head, const uint8_t *m, size_t k,
             const struct head_outcome *full)
{
    struct head_outcome part;

    parse_head(is_request, was_head, m, k, &part);
    FUZZ_CHECK(part.st == PARSE_MORE || same_head(is_request, &part, full));
    if (full->st == PARSE_DONE && k < full->consumed)
        FUZZ_CHECK(part.st == PARSE_MORE);
}

/* A head is judged line by line: the prefixes that matter end just before, at or just
 * after a line end; short heads are checked at every length. */
static void
check_head_prefixes(int is_request, int was_head, const uint8_t *m, size_t n, size_t split,
                    const struct head_outcome *full)
{
    size_t last = full->st == PARSE_DONE ? full->consumed : n;

    for (size_t k = 0; k < n && k <= 24; k++)
        check_prefix(is_request, was_head, m, k, full);
    for (size_t k = 25; k < n && k <= last + 1; k++)
        if (m[k - 1] == '\n' || m[k - 1] == '\r' || (k + 1 <= n && m[k] == '\n'))
            check_prefix(is_request, was_head, m, k, full);
    if (split < n)
        check_prefix(is_request, was_head, m, split, full);
}

/* ---- bodies ------------------------------------------------------------------------- */

struct body_verdict {
    enum parse_status st;
    size_t total; /* bytes of the stream the body took */
};

/* Feeds m[0..n) in pieces of at most step bytes (0: all at once, else split first). */
static struct body_verdict
feed_body(enum http_body_kind kind, uint64_t length, const uint8_t *m, size_t n, size_t step,
          size_t split)
{
    struct http_body b;
    struct body_verdict v = {PARSE_MORE, 0};
    size_t pos = 0;
    int first = 1;

    http_body_init(&b, kind, length);
    if (b.done)
        return (struct body_verdict){PARSE_DONE, 0};
    while (pos < n) {
        size_t piece = n - pos, used = SIZE_MAX;
        const uint8_t *buf;

        if (step > 0 && piece > step)
            piece = step;
        if (step == 0 && first && split > 0 && split < n)
            piece = split;
        first = 0;
        buf = at_end(m + pos, piece);
        v.st = http_body_feed(&b, buf, piece, &used);
        FUZZ_CHECK(v.st == PARSE_MORE || v.st == PARSE_DONE || v.st == PARSE_ERROR);
        if (v.st == PARSE_ERROR)
            return v;
        FUZZ_CHECK(used <= piece);
        if (v.st == PARSE_MORE)
            FUZZ_CHECK(used == piece);
        v.total += used;
        if (v.st == PARSE_DONE) {
            FUZZ_CHECK(b.done);
            FUZZ_CHECK(http_body_feed(&b, buf, piece, &used) == PARSE_DONE && used == 0);
            return v;
        }
        pos += piece;
    }
    return v;
}

static void
check_body(enum http_body_kind kind, uint64_t length, const uint8_t *m, size_t n, size_t split)
{
    struct body_verdict whole = feed_body(kind, length, m, n, 0, 0);
    struct body_verdict two = feed_body(kind, length, m, n, 0, split);
    struct body_verdict bytes = feed_body(kind, length, m, n, 1, 0);

    FUZZ_CHECK(whole.st == two.st && whole.st == bytes.st);
    if (whole.st != PARSE_ERROR)
        FUZZ_CHECK(whole.total == two.total && whole.total == bytes.total);
    if (kind == HTTP_BODY_LENGTH && whole.st == PARSE_DONE)
        FUZZ_CHECK(whole.total == length);
    if (kind == HTTP_BODY_LENGTH && whole.st == PARSE_MORE)
        FUZZ_CHECK(n < length);
    if (kind == HTTP_BODY_CLOSE)
        FUZZ_CHECK(whole.st == PARSE_MORE && whole.total == n);
}

/* ---- our own error responses --------------------------------------------------------- */

static void
check_error_response(const uint8_t *m, size_t n, uint8_t sel)
{
    static const int statuses[] = {400, 403, 405, 407, 408, 431, 500, 502, 504, 505, 599};
    int status = statuses[sel % (sizeof(statuses) / sizeof(statuses[0]))];
    size_t tlen = n < 300 ? n : 300, len, bodylen;
    char *text = malloc(tlen + 1), *out = malloc(1024);
    struct http_response resp;
    size_t consumed = 0;

    FUZZ_CHECK(text != NULL && out != NULL);
    memcpy(text, m, tlen);
    text[tlen] = '\0';
    len = http_write_error(out, 1024, status, text);
    FUZZ_CHECK(len > 0 && len < 1024);
    FUZZ_CHECK(http_parse_response((const uint8_t *)out, len, &consumed, 0, &resp) == PARSE_DONE);
    FUZZ_CHECK(resp.status == status && resp.f.body == HTTP_BODY_LENGTH);
    bodylen = len - consumed;
    FUZZ_CHECK(resp.f.content_length == bodylen && !resp.keep_alive);
    FUZZ_CHECK(http_write_error(out, len, status, text) == 0); /* no room for the NUL */
    free(text);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct head_outcome *req = malloc(sizeof(*req)), *resp = malloc(sizeof(*resp));
    const uint8_t *m;
    size_t n, split;
    int was_head;

    FUZZ_CHECK(req != NULL && resp != NULL);
    if (size < 1)
        goto out;
    m = data + 1;
    n = size - 1;
    split = (size_t)data[0] * (n + 1) / 256;
    was_head = data[0] & 1;
    cap = n + 64;
    scratch = malloc(cap);
    FUZZ_CHECK(scratch != NULL);

    parse_head(1, 0, m, n, req);
    check_head_prefixes(1, 0, m, n, split, req);
    if (req->st == PARSE_DONE) {
        const struct http_request *r = &req->out.req;
        const uint8_t *head = at_end(m, req->consumed);

        check_fields(&r->f, req->consumed);
        check_span(r->method, req->consumed);
        check_span(r->path, req->consumed);
        check_span(r->authority, req->consumed);
        check_span(r->proxy_auth, req->consumed);
        FUZZ_CHECK(r->method.len > 0);
        check_target(&r->target);
        if (r->is_connect)
            FUZZ_CHECK(r->f.body == HTTP_BODY_NONE);
        FUZZ_CHECK(r->f.body != HTTP_BODY_CLOSE);
        check_writer(1, head, r, 0, 0);
        if (r->has_proxy_auth)
            check_credentials(m + r->proxy_auth.off, r->proxy_auth.len);
        check_body(r->f.body, r->f.content_length, m + req->consumed, n - req->consumed,
                   split > req->consumed ? split - req->consumed : 0);
    }

    parse_head(0, was_head, m, n, resp);
    check_head_prefixes(0, was_head, m, n, split, resp);
    if (resp->st == PARSE_DONE) {
        const struct http_response *r = &resp->out.resp;
        const uint8_t *head = at_end(m, resp->consumed);

        check_fields(&r->f, resp->consumed);
        check_span(r->status_line, resp->consumed);
        FUZZ_CHECK(r->status >= 100 && r->status <= 999);
        if (r->status < 200 || r->status == 204 || r->status == 304 || was_head)
            FUZZ_CHECK(r->f.body == HTTP_BODY_NONE);
        if (r->keep_alive)
            FUZZ_CHECK(r->f.body != HTTP_BODY_CLOSE);
        check_writer(0, head, r, r->keep_alive, was_head);
        check_body(r->f.body, r->f.content_length, m + resp->consumed, n - resp->consumed,
                   split > resp->consumed ? split - resp->consumed : 0);
    }

    /* The whole input as a chunked body and as a Proxy-Authorization value. */
    check_body(HTTP_BODY_CHUNKED, 0, m, n, split);
    check_credentials(m, n);
    check_error_response(m, n, data[0]);
    free(scratch);
out:
    free(req);
    free(resp);
    return 0;
}
