/* HTTP/1.x for a proxy: pure parsers for request and response heads, a body tracker
 * (Content-Length, chunked, close-delimited) that finds where a message ends, and
 * writers for the rewritten heads and our own short responses.
 *
 * Heads follow src/parse.h: handed everything received so far from the message's first
 * byte, PARSE_MORE until the blank line, PARSE_DONE with *consumed = the head's exact
 * length (bytes after it are body or the next message). Parsed fields are spans into that
 * buffer, so the caller keeps the head's bytes until it has written the rewritten head. */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "target.h"

#define HTTP_HEAD_MAX 32768    /* request or response head, request line included: 431 */
#define HTTP_HEADERS_MAX 100   /* header fields per head: 431 */
#define HTTP_CONN_TOKENS_MAX 8 /* header names a Connection field may list */

enum http_body_kind {
    HTTP_BODY_NONE,    /* no body (or a CONNECT, whose "body" is the tunnel) */
    HTTP_BODY_LENGTH,  /* Content-Length bytes */
    HTTP_BODY_CHUNKED, /* Transfer-Encoding ending in chunked */
    HTTP_BODY_CLOSE,   /* responses only: until the server closes */
};

struct http_span {
    uint32_t off, len; /* into the head's buffer */
};

struct http_header {
    struct http_span name, value;
    uint8_t drop; /* hop-by-hop (or named in Connection): not forwarded */
};

/* What request and response heads share. */
struct http_fields {
    struct http_header headers[HTTP_HEADERS_MAX];
    unsigned n_headers;
    int minor; /* HTTP/1.minor: 0 or 1 */
    enum http_body_kind body;
    uint64_t content_length;
    int conn_close, conn_keep_alive; /* tokens seen in Connection or Proxy-Connection */
    struct http_span conn_tokens[HTTP_CONN_TOKENS_MAX];
    unsigned n_conn_tokens;
    int has_length, has_te, te_chunked;
};

struct http_request {
    struct http_span method, path; /* path: origin-form to send ("" means "/") */
    struct http_span authority;    /* host[:port] as the client wrote it: the Host to send */
    int is_connect, is_head;
    struct target target; /* where to connect (port 80 when the URI names none) */
    struct http_span proxy_auth;
    int has_proxy_auth;
    int keep_alive; /* HTTP/1.1 without "Connection: close" */
    struct http_fields f;
};

/* PARSE_ERROR: *status is 400 (malformed, origin-form or https:// target, ambiguous
 * framing), 431 (head over HTTP_HEAD_MAX or more than HTTP_HEADERS_MAX fields) or 505
 * (not HTTP/1.x). A request is "CONNECT host:port" or an absolute http:// URI. */
enum parse_status http_parse_request(const uint8_t *buf, size_t len, size_t *consumed,
                                     struct http_request *out, int *status);

/* The same for a request to an origin server of ours (the status page): origin-form
 * "METHOD /path HTTP/1.x" only (path holds it, query included; target and authority stay
 * empty). PARSE_ERROR: 400, 431 or 505 as above. */
enum parse_status http_parse_origin_request(const uint8_t *buf, size_t len, size_t *consumed,
                                            struct http_request *out, int *status);

/* The value of the one header field called name (case-insensitive) in f. Returns 0, or -1
 * when there is none or more than one. */
int http_header_value(const uint8_t *buf, const struct http_fields *f, const char *name,
                      struct http_span *out);

struct http_response {
    int status;
    struct http_span status_line; /* without its line end */
    int keep_alive;               /* the server may be sent another request afterwards */
    struct http_fields f;
};

/* request_was_head: the response answers a HEAD (it has no body whatever it says).
 * Framing follows RFC 9112 section 6.3: 1xx, 204, 304 and HEAD have none; chunked;
 * Content-Length; else until close. PARSE_ERROR for anything malformed or oversized
 * (the caller answers 502). */
enum parse_status http_parse_response(const uint8_t *buf, size_t len, size_t *consumed,
                                      int request_was_head, struct http_response *out);

/* Tracks a body as its bytes pass, to find where the message ends. Chunked framing is a
 * byte-at-a-time state machine, so any split of the stream gives the same answer. */
struct http_body {
    enum http_body_kind kind;
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left of the current chunk */
    uint32_t line_len;  /* CHUNKED: bytes of the current size/trailer line, bounded */
    uint32_t trailer_len;
    uint8_t state;
    uint8_t done;
};

void http_body_init(struct http_body *b, enum http_body_kind kind, uint64_t length);
/* Looks at the next len bytes of the stream. *used: how many belong to this body.
 * PARSE_DONE: the body ended after *used bytes (later ones are the next message);
 * PARSE_MORE: all len belong and the body goes on (CLOSE: until EOF);
 * PARSE_ERROR: malformed chunked framing (or a size or trailer past our limits). */
enum parse_status http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *used);

/* The head to send upstream: "METHOD origin-form HTTP/1.x", Host from the URI, the
 * client's fields less hop-by-hop ones (Proxy-Authorization never leaves), and
 * "Connection: close" when the client asked for it. Returns the length, or 0 when it
 * does not fit in cap. */
size_t http_write_request_head(uint8_t *out, size_t cap, const uint8_t *head,
                               const struct http_request *req);

/* The head to send the client: the server's status line and fields less hop-by-hop
 * ones, and our own Connection field. Returns the length, or 0 when it does not fit. */
size_t http_write_response_head(uint8_t *out, size_t cap, const uint8_t *head,
                                const struct http_response *resp, int keep_alive);

/* A complete response of ours (text/plain body "status reason: text\n", Connection:
 * close; 407 adds Proxy-Authenticate: Basic). Returns the length (truncating text). */
size_t http_write_error(char *out, size_t cap, int status, const char *text);
#define HTTP_CONNECT_OK "HTTP/1.1 200 Connection established\r\n\r\n"

const char *http_reason(int status);

/* "Basic base64(user:pass)" from a Proxy-Authorization value: decodes into user/pass
 * (each at most 255 bytes; they may hold any byte, NUL included, so use the lengths).
 * Returns 0, or -1 for another scheme or bad base64 or a missing ':'. */
int http_basic_credentials(const uint8_t *value, size_t len, uint8_t *user, size_t *user_len,
                           uint8_t *pass, size_t *pass_len);

#endif
