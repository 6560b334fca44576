/* HTTP/1.x heads and bodies for a proxy (RFC 9110, 9112).
 *
 * Strict where leniency lets a request mean two things to two parties (request
 * smuggling): Transfer-Encoding with Content-Length, differing Content-Lengths, obs-fold,
 * whitespace before a field's colon, control bytes in values are all 400. Lenient where it
 * costs nothing: a bare LF ends a line as well as CRLF. Heads are re-parsed from their
 * first byte on every call (bounded by HTTP_HEAD_MAX), and a line is judged once its LF
 * has arrived, so a head fed byte by byte gets the same verdict as all at once. */
#include "http.h"

#include <stdio.h>
#include <string.h>

#include "common.h"
#include "os.h"

#define CHUNK_LINE_MAX 4096 /* chunk-size line with its extensions */
#define TRAILER_MAX 8192    /* all trailer fields of a chunked body */
#define CHUNK_DIGITS_MAX 16 /* hex digits of a chunk size, leading zeros included */

/* ---- small helpers ---------------------------------------------------------------- */

static int
is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_value_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive: does p[0..len) spell lit exactly? */
static int
ieq(const uint8_t *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    if (len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static int
span_ieq(const uint8_t *buf, struct http_span s, const char *lit)
{
    return ieq(buf + s.off, s.len, lit);
}

static int
spans_ieq(const uint8_t *buf, struct http_span a, struct http_span b)
{
    if (a.len != b.len)
        return 0;
    for (uint32_t i = 0; i < a.len; i++)
        if (lower(buf[a.off + i]) != lower(buf[b.off + i]))
            return 0;
    return 1;
}

static struct http_span
span(size_t off, size_t len)
{
    struct http_span s = {(uint32_t)off, (uint32_t)len};
    return s;
}

/* Calls fn for each comma-separated element of buf[off..off+len), OWS trimmed, empty
 * elements skipped. Stops at the first non-zero return and passes it on. */
static int
each_token(const uint8_t *buf, size_t off, size_t len,
           int (*fn)(const uint8_t *, struct http_span, void *), void *arg)
{
    size_t i = off, end = off + len;

    while (i < end) {
        size_t a, b;
        int r;
        while (i < end && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == ','))
            i++;
        a = i;
        while (i < end && buf[i] != ',')
            i++;
        b = i;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t'))
            b--;
        if (b > a && (r = fn(buf, span(a, b - a), arg)) != 0)
            return r;
    }
    return 0;
}

/* ---- fields shared by requests and responses --------------------------------------- */

static const char *const hop_by_hop[] = {
    "connection", "proxy-connection",    "keep-alive",         "te",
    "upgrade",    "proxy-authorization", "proxy-authenticate",
};

static int
conn_token(const uint8_t *buf, struct http_span t, void *arg)
{
    struct http_fields *f = arg;

    if (span_ieq(buf, t, "close"))
        f->conn_close = 1;
    else if (span_ieq(buf, t, "keep-alive"))
        f->conn_keep_alive = 1;
    else if (f->n_conn_tokens == HTTP_CONN_TOKENS_MAX)
        return 400;
    else
        f->conn_tokens[f->n_conn_tokens++] = t;
    return 0;
}

struct te_state {
    struct http_fields *f;
    int bad; /* chunked applied twice, or another coding after it */
};

static int
te_token(const uint8_t *buf, struct http_span t, void *arg)
{
    struct te_state *te = arg;
    int chunked = span_ieq(buf, t, "chunked");

    if (te->f->te_chunked)
        te->bad = 1;
    te->f->te_chunked = chunked;
    te->f->has_te = 1;
    return 0;
}

/* Content-Length: 1 to 18 digits (no list form, no sign); a repeat must agree. */
static int
content_length(const uint8_t *buf, struct http_span v, struct http_fields *f)
{
    uint64_t n = 0;

    if (v.len == 0 || v.len > 18)
        return 400;
    for (uint32_t i = 0; i < v.len; i++) {
        uint8_t c = buf[v.off + i];
        if (c < '0' || c > '9')
            return 400;
        n = n * 10 + (uint64_t)(c - '0');
    }
    if (f->has_length && f->content_length != n)
        return 400;
    f->has_length = 1;
    f->content_length = n;
    return 0;
}

/* One "name: value" line at buf[start..start+llen). Returns 0 or an HTTP status. */
static int
parse_field(const uint8_t *buf, size_t start, size_t llen, struct http_fields *f, int *te_bad,
            struct http_request *req)
{
    size_t i = start, end = start + llen, vs, ve;
    struct http_header *h;
    struct http_span name, value;
    int r = 0;

    while (i < end && is_tchar(buf[i]))
        i++;
    if (i == start || i == end || buf[i] != ':')
        return 400; /* no name, obs-fold, or whitespace before the colon */
    name = span(start, i - start);
    vs = i + 1;
    while (vs < end && (buf[vs] == ' ' || buf[vs] == '\t'))
        vs++;
    ve = end;
    while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
        ve--;
    for (size_t k = vs; k < ve; k++)
        if (!is_value_char(buf[k]))
            return 400;
    value = span(vs, ve - vs);
    if (f->n_headers == HTTP_HEADERS_MAX)
        return 431;
    h = &f->headers[f->n_headers++];
    h->name = name;
    h->value = value;
    h->drop = 0;

    if (span_ieq(buf, name, "content-length")) {
        r = content_length(buf, value, f);
    } else if (span_ieq(buf, name, "transfer-encoding")) {
        struct te_state te = {f, *te_bad};
        r = each_token(buf, value.off, value.len, te_token, &te);
        *te_bad = te.bad;
        if (!f->has_te) /* an empty list */
            r = 400;
    } else if (span_ieq(buf, name, "connection") || span_ieq(buf, name, "proxy-connection")) {
        r = each_token(buf, value.off, value.len, conn_token, f);
    } else if (req != NULL && span_ieq(buf, name, "proxy-authorization")) {
        if (req->has_proxy_auth)
            return 400;
        req->has_proxy_auth = 1;
        req->proxy_auth = value;
    }
    return r;
}

/* Fields the message's framing and routing depend on: never hop-by-hop, whatever
 * Connection says. The proxy delimits the body by them, so the next hop must see the
 * same ones, or it would read the body (or the next message) differently. */
static const char *const end_to_end[] = {"content-length", "transfer-encoding", "host"};

static int
is_end_to_end(const uint8_t *buf, struct http_span name)
{
    for (size_t k = 0; k < ARRAY_SIZE(end_to_end); k++)
        if (span_ieq(buf, name, end_to_end[k]))
            return 1;
    return 0;
}

/* Marks the fields we never forward: hop-by-hop ones, those Connection names (except the
 * framing ones above), and (for a request) Host, which is written from the URI. */
static void
mark_drops(const uint8_t *buf, struct http_fields *f, int is_request)
{
    for (unsigned i = 0; i < f->n_headers; i++) {
        struct http_header *h = &f->headers[i];
        for (size_t k = 0; k < ARRAY_SIZE(hop_by_hop) && !h->drop; k++)
            h->drop = (uint8_t)span_ieq(buf, h->name, hop_by_hop[k]);
        for (unsigned k = 0; k < f->n_conn_tokens && !h->drop; k++)
            h->drop = (uint8_t)(spans_ieq(buf, h->name, f->conn_tokens[k]) &&
                                !is_end_to_end(buf, h->name));
        if (is_request && span_ieq(buf, h->name, "host"))
            h->drop = 1;
    }
}

/* Walks a head line by line. first_line parses the start line; the blank line ends the
 * head. Returns PARSE_DONE with *consumed, PARSE_MORE, or PARSE_ERROR with *status. */
static enum parse_status
parse_head(const uint8_t *buf, size_t len, size_t *consumed, struct http_fields *f,
           struct http_request *req, int (*first_line)(const uint8_t *, size_t, size_t, void *),
           void *arg, int *status, int *te_bad)
{
    size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, pos = 0;
    int line_no = 0;

    memset(f, 0, sizeof(*f));
    *te_bad = 0;
    for (;;) {
        const uint8_t *nl = pos < lim ? memchr(buf + pos, '\n', lim - pos) : NULL;
        size_t eol, llen;
        int r;

        if (nl == NULL) {
            if (len >= HTTP_HEAD_MAX) {
                *status = 431;
                return PARSE_ERROR;
            }
            return PARSE_MORE;
        }
        eol = (size_t)(nl - buf);
        llen = eol - pos;
        if (llen > 0 && buf[eol - 1] == '\r')
            llen--;
        if (line_no == 0 && llen == 0 && pos < 4) {
            pos = eol + 1; /* RFC 9112 2.2: ignore a stray CRLF before a request line */
            continue;
        }
        if (line_no == 0)
            r = first_line(buf, pos, llen, arg);
        else if (llen == 0) {
            *consumed = eol + 1;
            return PARSE_DONE;
        } else
            r = parse_field(buf, pos, llen, f, te_bad, req);
        if (r != 0) {
            *status = r;
            return PARSE_ERROR;
        }
        line_no++;
        pos = eol + 1;
    }
}

/* "HTTP/1.x": returns the minor version (0 or 1; later minors talk 1.1), 505 for another
 * major version, or -1 when it is not a version at all. */
static int
parse_version(const uint8_t *p, size_t len)
{
    if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9')
        return -1;
    if (p[5] != '1')
        return 505;
    return p[7] == '0' ? 0 : 1;
}

/* ---- requests --------------------------------------------------------------------- */

static int
is_host_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* host[:port] or [v6][:port] at p[0..len) into t. need_port: CONNECT's authority-form
 * must name one. Returns 0 or 400. */
static int
parse_authority(const uint8_t *p, size_t len, int need_port, struct target *t)
{
    size_t hlen, i = 0;
    const uint8_t *host;
    unsigned long port = 0;
    char tmp[64];

    memset(t, 0, sizeof(*t));
    if (len > 0 && p[0] == '[') {
        const uint8_t *close = memchr(p, ']', len);
        if (close == NULL)
            return 400;
        hlen = (size_t)(close - p - 1);
        if (hlen == 0 || hlen >= sizeof(tmp))
            return 400;
        memcpy(tmp, p + 1, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, t->addr) != 1)
            return 400;
        t->type = TARGET_IPV6;
        i = hlen + 2;
    } else {
        host = p;
        while (i < len && is_host_char(p[i]))
            i++;
        hlen = i;
        if (hlen == 0 || hlen > sizeof(t->host) - 1)
            return 400;
        if (hlen < sizeof(tmp)) {
            memcpy(tmp, host, hlen);
            tmp[hlen] = '\0';
        }
        if (hlen < sizeof(tmp) && inet_pton(AF_INET, tmp, t->addr) == 1) {
            t->type = TARGET_IPV4;
        } else {
            t->type = TARGET_DOMAIN;
            memcpy(t->host, host, hlen);
            t->host[hlen] = '\0';
        }
    }
    if (i < len && p[i] != ':')
        return 400; /* userinfo ("@"), a bad character, or junk after "]" */
    if (i < len)
        i++;
    if (i == len) {
        if (need_port)
            return 400;
        port = 80;
    }
    for (size_t digits = 0; i < len; i++, digits++) {
        if (p[i] < '0' || p[i] > '9' || digits == 5)
            return 400;
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (port == 0 || port > 65535)
        return 400;
    t->port = (uint16_t)port;
    return 0;
}

/* "METHOD SP request-target SP HTTP/1.x" at buf[off..off+llen): method, version and
 * flags into r, the target's offset and length within the line into *t0, *tl. Returns 0,
 * 400 or 505. */
static int
split_request_line(const uint8_t *buf, size_t off, size_t llen, struct http_request *r,
                   size_t *t0_out, size_t *tl_out)
{
    const uint8_t *line = buf + off;
    size_t i = 0, m, t0, tl;
    int v;

    while (i < llen && is_tchar(line[i]))
        i++;
    if (i == 0 || i == llen || line[i] != ' ')
        return 400;
    m = i++;
    t0 = i;
    while (i < llen && line[i] > 0x20 && line[i] < 0x7f)
        i++;
    tl = i - t0;
    if (tl == 0 || i == llen || line[i] != ' ')
        return 400;
    v = parse_version(line + i + 1, llen - i - 1);
    if (v < 0)
        return 400;
    if (v == 505)
        return 505;
    r->f.minor = v;
    r->method = span(off, m);
    r->is_connect = m == 7 && memcmp(line, "CONNECT", 7) == 0;
    r->is_head = m == 4 && memcmp(line, "HEAD", 4) == 0;
    *t0_out = t0;
    *tl_out = tl;
    return 0;
}

/* A proxy's request line: CONNECT authority or an absolute http:// URI. */
static int
request_line(const uint8_t *buf, size_t off, size_t llen, void *arg)
{
    struct http_request *r = arg;
    const uint8_t *line = buf + off;
    size_t t0, tl, a, e, q;
    int rc = split_request_line(buf, off, llen, r, &t0, &tl);

    if (rc != 0)
        return rc;

    if (r->is_connect) {
        r->authority = span(off + t0, tl);
        return parse_authority(line + t0, tl, 1, &r->target);
    }
    /* Absolute form only: an origin-form "/path" is meant for an origin server, and
     * https:// needs CONNECT (a proxy that does not terminate TLS cannot fetch it). */
    if (tl < 7 || !ieq(line + t0, 7, "http://"))
        return 400;
    a = t0 + 7;
    e = a;
    while (e < t0 + tl && line[e] != '/' && line[e] != '?' && line[e] != '#')
        e++;
    q = e;
    while (q < t0 + tl && line[q] != '#')
        q++;
    r->authority = span(off + a, e - a);
    r->path = span(off + e, q - e); /* the fragment is the client's business */
    return parse_authority(line + a, e - a, 0, &r->target);
}

/* An origin server's request line (our status page): "/path" only. */
static int
origin_request_line(const uint8_t *buf, size_t off, size_t llen, void *arg)
{
    struct http_request *r = arg;
    size_t t0, tl;
    int rc = split_request_line(buf, off, llen, r, &t0, &tl);

    if (rc != 0)
        return rc;
    if (buf[off + t0] != '/')
        return 400;
    r->path = span(off + t0, tl);
    return 0;
}

static enum parse_status
parse_request(const uint8_t *buf, size_t len, size_t *consumed, struct http_request *out,
              int *status, int (*first_line)(const uint8_t *, size_t, size_t, void *))
{
    struct http_request r;
    struct http_fields f;
    size_t used = 0;
    int te_bad = 0;
    enum parse_status st;

    memset(&r, 0, sizeof(r));
    st = parse_head(buf, len, &used, &f, &r, first_line, &r, status, &te_bad);
    if (st != PARSE_DONE)
        return st;
    f.minor = r.f.minor;
    if (f.has_te) {
        /* Only chunked as the last coding delimits a request body; with a Content-Length
         * beside it two parties may disagree on where the request ends. */
        if (f.minor == 0 || !f.te_chunked || te_bad || f.has_length) {
            *status = 400;
            return PARSE_ERROR;
        }
        f.body = HTTP_BODY_CHUNKED;
    } else if (f.has_length && f.content_length > 0) {
        f.body = HTTP_BODY_LENGTH;
    }
    if (r.is_connect)
        f.body = HTTP_BODY_NONE; /* what follows is the tunnel */
    mark_drops(buf, &f, 1);
    r.keep_alive = f.minor == 1 && !f.conn_close;
    r.f = f;
    *out = r;
    *consumed = used;
    return PARSE_DONE;
}

enum parse_status
http_parse_request(const uint8_t *buf, size_t len, size_t *consumed, struct http_request *out,
                   int *status)
{
    return parse_request(buf, len, consumed, out, status, request_line);
}

enum parse_status
http_parse_origin_request(const uint8_t *buf, size_t len, size_t *consumed,
                          struct http_request *out, int *status)
{
    return parse_request(buf, len, consumed, out, status, origin_request_line);
}

int
http_header_value(const uint8_t *buf, const struct http_fields *f, const char *name,
                  struct http_span *out)
{
    int found = 0;

    for (unsigned i = 0; i < f->n_headers; i++)
        if (span_ieq(buf, f->headers[i].name, name)) {
            if (found)
                return -1;
            *out = f->headers[i].value;
            found = 1;
        }
    return found ? 0 : -1;
}

/* ---- responses -------------------------------------------------------------------- */

struct status_ctx {
    struct http_response *resp;
};

/* "HTTP/1.x SP 3DIGIT [SP reason]". */
static int
status_line(const uint8_t *buf, size_t off, size_t llen, void *arg)
{
    struct http_response *r = ((struct status_ctx *)arg)->resp;
    const uint8_t *line = buf + off;
    int v;

    if (llen < 12 || line[8] != ' ' || (llen > 12 && line[12] != ' '))
        return 502;
    v = parse_version(line, 8);
    if (v != 0 && v != 1)
        return 502;
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return 502;
    for (size_t i = 12; i < llen; i++)
        if (!is_value_char(line[i]))
            return 502;
    r->f.minor = v;
    r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (r->status < 100)
        return 502;
    r->status_line = span(off, llen);
    return 0;
}

enum parse_status
http_parse_response(const uint8_t *buf, size_t len, size_t *consumed, int request_was_head,
                    struct http_response *out)
{
    struct http_response r;
    struct status_ctx ctx = {&r};
    struct http_fields f;
    size_t used = 0;
    int te_bad = 0, status = 0;
    enum parse_status st;

    memset(&r, 0, sizeof(r));
    st = parse_head(buf, len, &used, &f, NULL, status_line, &ctx, &status, &te_bad);
    if (st != PARSE_DONE)
        return st;
    f.minor = r.f.minor;
    if (r.status < 200 || r.status == 204 || r.status == 304 || request_was_head) {
        f.body = HTTP_BODY_NONE;
    } else if (f.has_te) {
        f.body = f.te_chunked && !te_bad ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
    } else if (f.has_length) {
        f.body = f.content_length > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
    } else {
        f.body = HTTP_BODY_CLOSE;
    }
    mark_drops(buf, &f, 0);
    if (f.has_te) /* Transfer-Encoding overrides Content-Length: do not pass both on */
        for (unsigned i = 0; i < f.n_headers; i++)
            if (span_ieq(buf, f.headers[i].name, "content-length"))
                f.headers[i].drop = 1;
    r.keep_alive =
        f.body != HTTP_BODY_CLOSE && !f.conn_close && (f.minor == 1 || f.conn_keep_alive);
    r.f = f;
    *out = r;
    *consumed = used;
    return PARSE_DONE;
}

/* ---- bodies ----------------------------------------------------------------------- */

enum chunk_state {
    CH_SIZE_START, /* first hex digit of a chunk size */
    CH_SIZE,       /* more hex digits, or ';' / whitespace / line end */
    CH_SIZE_WS,    /* whitespace after the digits: more, ';' or CR */
    CH_EXT,        /* chunk extensions, ignored up to the line end */
    CH_SIZE_LF,    /* CR seen after the size line */
    CH_DATA,
    CH_DATA_CR, /* CRLF after a chunk's data */
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line, or the final blank line */
    CH_TRAILER,
    CH_TRAILER_LF, /* CR seen at the end of a trailer line */
    CH_FINAL_LF,
};

void
http_body_init(struct http_body *b, enum http_body_kind kind, uint64_t length)
{
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    b->remaining = length;
    b->state = CH_SIZE_START;
    b->done = kind == HTTP_BODY_NONE || (kind == HTTP_BODY_LENGTH && length == 0);
}

static int
hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (uint8_t)lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The chunked state machine; returns PARSE_DONE at the end of the final CRLF. Strict, so
 * that every next hop reads the body the same way we do: every line ends in CRLF (a bare
 * LF or CR is an error), a chunk size has at most CHUNK_DIGITS_MAX hex digits (leading
 * zeros included) and its value stays below 2^60. */
static enum parse_status
chunked_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *used)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = buf[i];
        int h;

        switch (b->state) {
        case CH_SIZE_START:
        case CH_SIZE:
            h = hex_value(c);
            if (h >= 0) {
                if (b->line_len >= CHUNK_DIGITS_MAX || b->remaining >> 56)
                    return PARSE_ERROR;
                b->remaining = b->remaining * 16 + (uint64_t)h;
                b->state = CH_SIZE;
                b->line_len++;
                break;
            }
            if (b->state == CH_SIZE_START)
                return PARSE_ERROR;
            /* fall through */
        case CH_SIZE_WS:
            /* After the digits only whitespace, then ';' or the CR: "5 x" or "5 3" is
             * not a size another reader could take as 5. */
            if (c == ' ' || c == '\t')
                b->state = CH_SIZE_WS;
            else if (c == ';')
                b->state = CH_EXT;
            else if (c == '\r')
                b->state = CH_SIZE_LF;
            else
                return PARSE_ERROR;
            if (++b->line_len > CHUNK_LINE_MAX)
                return PARSE_ERROR;
            break;
        case CH_EXT:
            if (c == '\r')
                b->state = CH_SIZE_LF;
            else if ((c < 0x20 && c != '\t') || c == 0x7f || ++b->line_len > CHUNK_LINE_MAX)
                return PARSE_ERROR; /* LF, NUL and other controls included */
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return PARSE_ERROR;
            b->line_len = 0;
            b->state = b->remaining == 0 ? CH_TRAILER_START : CH_DATA;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > b->remaining)
                n = (size_t)b->remaining;
            b->remaining -= n;
            i += n;
            if (b->remaining == 0)
                b->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (c != '\r')
                return PARSE_ERROR;
            b->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return PARSE_ERROR;
            b->state = CH_SIZE_START;
            break;
        case CH_TRAILER_START:
            if (c == '\n')
                return PARSE_ERROR;
            b->state = c == '\r' ? CH_FINAL_LF : CH_TRAILER;
            if (++b->trailer_len > TRAILER_MAX)
                return PARSE_ERROR;
            break;
        case CH_TRAILER:
            if (c == '\n')
                return PARSE_ERROR;
            if (c == '\r')
                b->state = CH_TRAILER_LF;
            if (++b->trailer_len > TRAILER_MAX)
                return PARSE_ERROR;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                return PARSE_ERROR;
            b->state = CH_TRAILER_START;
            break;
        case CH_FINAL_LF:
            if (c != '\n')
                return PARSE_ERROR;
            *used = i + 1;
            b->done = 1;
            return PARSE_DONE;
        }
        i++;
    }
    *used = len;
    return PARSE_MORE;
}

enum parse_status
http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *used)
{
    size_t n;

    if (b->done) {
        *used = 0;
        return PARSE_DONE;
    }
    switch (b->kind) {
    case HTTP_BODY_LENGTH:
        n = len < b->remaining ? len : (size_t)b->remaining;
        b->remaining -= n;
        *used = n;
        if (b->remaining == 0) {
            b->done = 1;
            return PARSE_DONE;
        }
        return PARSE_MORE;
    case HTTP_BODY_CHUNKED:
        return chunked_feed(b, buf, len, used);
    case HTTP_BODY_CLOSE:
        *used = len;
        return PARSE_MORE;
    case HTTP_BODY_NONE:
        break;
    }
    *used = 0;
    return PARSE_DONE;
}

/* ---- writers ---------------------------------------------------------------------- */

struct out {
    uint8_t *p;
    size_t cap, len;
    int overflow;
};

static void
put(struct out *o, const void *s, size_t n)
{
    if (o->overflow || o->cap - o->len < n) {
        o->overflow = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void
put_span(struct out *o, const uint8_t *buf, struct http_span s)
{
    put(o, buf + s.off, s.len);
}

static void
put_fields(struct out *o, const uint8_t *buf, const struct http_fields *f)
{
    for (unsigned i = 0; i < f->n_headers; i++) {
        const struct http_header *h = &f->headers[i];
        if (h->drop)
            continue;
        put_span(o, buf, h->name);
        puts_(o, ": ");
        put_span(o, buf, h->value);
        puts_(o, "\r\n");
    }
}

size_t
http_write_request_head(uint8_t *out, size_t cap, const uint8_t *head,
                        const struct http_request *req)
{
    struct out o = {out, cap, 0, 0};

    put_span(&o, head, req->method);
    puts_(&o, " ");
    if (req->path.len == 0 || head[req->path.off] != '/')
        puts_(&o, "/");
    put_span(&o, head, req->path);
    puts_(&o, req->f.minor == 0 ? " HTTP/1.0\r\nHost: " : " HTTP/1.1\r\nHost: ");
    put_span(&o, head, req->authority);
    puts_(&o, "\r\n");
    put_fields(&o, head, &req->f);
    if (req->f.minor == 1 && !req->keep_alive)
        puts_(&o, "Connection: close\r\n");
    puts_(&o, "\r\n");
    return o.overflow ? 0 : o.len;
}

size_t
http_write_response_head(uint8_t *out, size_t cap, const uint8_t *head,
                         const struct http_response *resp, int keep_alive)
{
    struct out o = {out, cap, 0, 0};

    put_span(&o, head, resp->status_line);
    puts_(&o, "\r\n");
    put_fields(&o, head, &resp->f);
    if (resp->status >= 200)
        puts_(&o, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    puts_(&o, "\r\n");
    return o.overflow ? 0 : o.len;
}

const char *
http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Error";
}

size_t
http_write_error(char *out, size_t cap, int status, const char *text)
{
    char body[256];
    int blen, n;

    blen = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_reason(status), text);
    if (blen < 0)
        return 0;
    if ((size_t)blen >= sizeof(body))
        blen = (int)sizeof(body) - 1;
    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\n%s"
                 "Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%.*s",
                 status, http_reason(status),
                 status == 407 ? "Proxy-Authenticate: Basic realm=\"dispatch-proxy\"\r\n" : "",
                 blen, blen, body);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

/* ---- Proxy-Authorization: Basic --------------------------------------------------- */

static int
b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict RFC 4648 base64 (padding required). Returns the decoded length or -1. */
static long
b64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;

    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        uint32_t w;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64_value(in[i + k])) < 0) {
                return -1;
            }
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (o + 3 - (size_t)pad > cap)
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

int
http_basic_credentials(const uint8_t *value, size_t len, uint8_t *user, size_t *user_len,
                       uint8_t *pass, size_t *pass_len)
{
    uint8_t plain[3 * 256]; /* user (255) ':' password (255), and room to spare */
    const uint8_t *colon;
    size_t i = 5;
    long n;

    if (len < 6 || !ieq(value, 5, "basic") || (value[5] != ' ' && value[5] != '\t'))
        return -1;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    n = b64_decode(value + i, len - i, plain, sizeof(plain));
    if (n < 0)
        return -1;
    colon = memchr(plain, ':', (size_t)n);
    if (colon == NULL || colon - plain > 255 || (plain + n) - (colon + 1) > 255)
        return -1;
    *user_len = (size_t)(colon - plain);
    memcpy(user, plain, *user_len);
    *pass_len = (size_t)((plain + n) - (colon + 1));
    memcpy(pass, colon + 1, *pass_len);
    return 0;
}
