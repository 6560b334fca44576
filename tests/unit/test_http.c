/* HTTP heads, bodies and writers: well-formed requests of each form, byte-by-byte arrival,
 * pipelined messages, every rejected ambiguity, size limits, and the rewritten heads.
 * Parsers get exact-size heap copies, so a SAN=1 build catches reads past the data. */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "unit.h"

static uint8_t *
copy_of(const void *msg, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    if (c == NULL)
        abort();
    if (len > 0)
        memcpy(c, msg, len);
    return c;
}

static enum parse_status
req_n(const char *msg, size_t len, size_t *consumed, struct http_request *r, int *status)
{
    uint8_t *c = copy_of(msg, len);
    enum parse_status st = http_parse_request(c, len, consumed, r, status);
    free(c);
    return st;
}

static enum parse_status
req(const char *msg, size_t *consumed, struct http_request *r, int *status)
{
    return req_n(msg, strlen(msg), consumed, r, status);
}

/* Status of a request that must be refused, fed all at once; and byte by byte the verdict
 * must be the same. */
static int
refused_status(const char *msg)
{
    struct http_request r;
    size_t consumed = 0, len = strlen(msg);
    int status = 0, status_bb = 0;

    if (req(msg, &consumed, &r, &status) != PARSE_ERROR)
        return 0;
    for (size_t n = 0; n <= len; n++) {
        enum parse_status st = req_n(msg, n, &consumed, &r, &status_bb);
        if (st == PARSE_DONE)
            return -1;
        if (st == PARSE_ERROR)
            return status_bb == status ? status : -2;
    }
    return -3;
}

static enum parse_status
resp_n(const char *msg, size_t len, int was_head, size_t *consumed, struct http_response *r)
{
    uint8_t *c = copy_of(msg, len);
    enum parse_status st = http_parse_response(c, len, consumed, was_head, r);
    free(c);
    return st;
}

static enum parse_status
resp(const char *msg, int was_head, size_t *consumed, struct http_response *r)
{
    return resp_n(msg, strlen(msg), was_head, consumed, r);
}

static int
span_is(const char *buf, struct http_span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(buf + s.off, lit, s.len) == 0;
}

/* Rewrites a request as it would go upstream, NUL-terminated into out. */
static size_t
rewrite(const char *msg, char *out, size_t cap)
{
    struct http_request r;
    size_t consumed = 0, n;
    int status = 0;

    if (req(msg, &consumed, &r, &status) != PARSE_DONE)
        return 0;
    n = http_write_request_head((uint8_t *)out, cap - 1, (const uint8_t *)msg, &r);
    out[n] = '\0';
    return n;
}

/* Feeds a body in pieces of step bytes; returns the total bytes that belong to it, or
 * (size_t)-1 on an error; *done says whether it ended. */
static size_t
feed_body(enum http_body_kind kind, uint64_t length, const char *data, size_t len, size_t step,
          int *done)
{
    struct http_body b;
    size_t total = 0;

    http_body_init(&b, kind, length);
    *done = b.done;
    for (size_t i = 0; i < len && !*done; i += step) {
        size_t n = len - i < step ? len - i : step, used = 0;
        uint8_t *c = copy_of(data + i, n);
        enum parse_status st = http_body_feed(&b, c, n, &used);
        free(c);
        if (st == PARSE_ERROR)
            return (size_t)-1;
        total += used;
        if (st == PARSE_DONE) {
            *done = 1;
            break;
        }
        if (used != n)
            return (size_t)-2;
    }
    return total;
}

/* ---- request heads ---- */

TEST(absolute_form_get_gives_origin_host_port_80_and_path)
{
    const char *m = "GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(consumed, strlen(m));
    ASSERT(span_is(m, r.method, "GET"));
    ASSERT(span_is(m, r.path, "/a/b?c=d"));
    ASSERT(span_is(m, r.authority, "example.com"));
    ASSERT_EQ(r.target.type, TARGET_DOMAIN);
    ASSERT_STR_EQ(r.target.host, "example.com");
    ASSERT_EQ(r.target.port, 80);
    ASSERT_EQ(r.is_connect, 0);
    ASSERT_EQ(r.f.minor, 1);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
}

TEST(absolute_form_with_port_and_ipv4_literal)
{
    const char *m = "GET http://127.0.0.1:8081 HTTP/1.1\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;
    const uint8_t lo[4] = {127, 0, 0, 1};

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(r.target.type, TARGET_IPV4);
    ASSERT_MEM_EQ(r.target.addr, lo, 4);
    ASSERT_EQ(r.target.port, 8081);
    ASSERT_EQ(r.path.len, 0);
}

TEST(absolute_form_with_ipv6_literal)
{
    const char *m = "HEAD http://[::1]:8080/x HTTP/1.1\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;
    uint8_t one[16] = {0};

    one[15] = 1;
    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(r.target.type, TARGET_IPV6);
    ASSERT_MEM_EQ(r.target.addr, one, 16);
    ASSERT_EQ(r.target.port, 8080);
    ASSERT_EQ(r.is_head, 1);
}

TEST(scheme_is_case_insensitive)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("GET HTTP://h/ HTTP/1.1\r\n\r\n", &consumed, &r, &status), PARSE_DONE);
    ASSERT_STR_EQ(r.target.host, "h");
}

TEST(connect_authority_form_names_host_and_port)
{
    const char *m = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(r.is_connect, 1);
    ASSERT_STR_EQ(r.target.host, "example.com");
    ASSERT_EQ(r.target.port, 443);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
}

TEST(connect_to_ipv6_literal)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", &consumed, &r, &status),
              PARSE_DONE);
    ASSERT_EQ(r.target.type, TARGET_IPV6);
    ASSERT_EQ(r.target.port, 443);
}

TEST(connect_bytes_after_head_are_tunnel_not_body)
{
    const char *m = "CONNECT h:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n\x16\x03\x01";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(consumed, strlen(m) - 3);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
}

TEST(connect_without_port_or_with_port_0_or_too_big_is_400)
{
    ASSERT_EQ(refused_status("CONNECT example.com HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT example.com: HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT example.com:0 HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT example.com:65536 HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT example.com:123456 HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT [::1 HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("CONNECT [zz]:1 HTTP/1.1\r\n\r\n"), 400);
}

TEST(origin_form_request_to_the_proxy_is_400)
{
    ASSERT_EQ(refused_status("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), 400);
}

TEST(https_absolute_uri_is_400)
{
    ASSERT_EQ(refused_status("GET https://example.com/ HTTP/1.1\r\n\r\n"), 400);
}

TEST(userinfo_in_uri_is_400)
{
    ASSERT_EQ(refused_status("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n"), 400);
}

TEST(bad_characters_in_host_are_400)
{
    ASSERT_EQ(refused_status("GET http://exa$mple.com/ HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http:/// HTTP/1.1\r\n\r\n"), 400);
}

TEST(malformed_request_lines_are_400)
{
    ASSERT_EQ(refused_status("GET  http://h/ HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1 \r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("G(T http://h/ HTTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/\x01 HTTP/1.1\r\n\r\n"), 400);
}

TEST(other_major_versions_are_505)
{
    ASSERT_EQ(refused_status("GET http://h/ HTTP/2.0\r\n\r\n"), 505);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/0.9\r\n\r\n"), 505);
}

TEST(later_http1_minor_versions_talk_1_1)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("GET http://h/ HTTP/1.2\r\n\r\n", &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(r.f.minor, 1);
}

TEST(http_1_0_is_not_kept_alive)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("GET http://h/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n", &consumed, &r,
                  &status),
              PARSE_DONE);
    ASSERT_EQ(r.f.minor, 0);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST(connection_close_ends_keep_alive)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("GET http://h/ HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", &consumed, &r,
                  &status),
              PARSE_DONE);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST(every_strict_prefix_is_more_and_whole_is_done)
{
    const char *m = "POST http://h:81/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                    "X-A: 1\r\n\r\nabc";
    struct http_request r;
    size_t consumed = 0, head = strlen(m) - 3;
    int status = 0;

    for (size_t n = 0; n < head; n++)
        ASSERT_EQ(req_n(m, n, &consumed, &r, &status), PARSE_MORE);
    for (size_t n = head; n <= strlen(m); n++) {
        ASSERT_EQ(req_n(m, n, &consumed, &r, &status), PARSE_DONE);
        ASSERT_EQ(consumed, head);
    }
    ASSERT_EQ(r.f.body, HTTP_BODY_LENGTH);
    ASSERT_EQ(r.f.content_length, 3);
}

TEST(pipelined_requests_are_consumed_one_at_a_time)
{
    const char *m = "GET http://a/1 HTTP/1.1\r\n\r\nGET http://b:8/2 HTTP/1.1\r\n\r\n";
    struct http_request r;
    size_t consumed = 0, first;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_STR_EQ(r.target.host, "a");
    first = consumed;
    ASSERT_EQ(first, strlen("GET http://a/1 HTTP/1.1\r\n\r\n"));
    ASSERT_EQ(req(m + first, &consumed, &r, &status), PARSE_DONE);
    ASSERT_STR_EQ(r.target.host, "b");
    ASSERT_EQ(r.target.port, 8);
    ASSERT_EQ(first + consumed, strlen(m));
}

TEST(bare_lf_line_ends_are_accepted)
{
    const char *m = "GET http://h/ HTTP/1.1\nHost: h\n\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(consumed, strlen(m));
    ASSERT_EQ(r.f.n_headers, 1);
}

TEST(a_stray_crlf_before_the_request_line_is_ignored)
{
    const char *m = "\r\nGET http://h/ HTTP/1.1\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(consumed, strlen(m));
}

TEST(header_values_are_trimmed_of_whitespace)
{
    const char *m = "GET http://h/ HTTP/1.1\r\nX-Thing: \t spaced value \t\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT(span_is(m, r.f.headers[0].name, "X-Thing"));
    ASSERT(span_is(m, r.f.headers[0].value, "spaced value"));
}

TEST(chunked_request_body_is_recognised)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", &consumed,
                  &r, &status),
              PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_CHUNKED);
}

TEST(repeated_equal_content_length_is_accepted)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("POST http://h/ HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n",
                  &consumed, &r, &status),
              PARSE_DONE);
    ASSERT_EQ(r.f.content_length, 7);
}

TEST(content_length_zero_means_no_body)
{
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req("POST http://h/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &consumed, &r, &status),
              PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
}

TEST(ambiguous_framing_is_400)
{
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"),
              400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\n"
                             "Content-Length: 4\r\n\r\n"),
              400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length: -3\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n"
                             "\r\n"),
              400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
              400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"),
              400);
    ASSERT_EQ(refused_status("POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(malformed_header_lines_are_400)
{
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nX-A : 1\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\n: empty-name\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nX-A: \x7f\r\n\r\n"), 400);
    ASSERT_EQ(refused_status("GET http://h/ HTTP/1.1\r\nX-A: 1\r\nProxy-Authorization: a\r\n"
                             "Proxy-Authorization: b\r\n\r\n"),
              400);
}

TEST(nul_in_a_header_value_is_400)
{
    const char m[] = "GET http://h/ HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req_n(m, sizeof(m) - 1, &consumed, &r, &status), PARSE_ERROR);
    ASSERT_EQ(status, 400);
}

TEST(head_without_end_is_431_at_the_limit_not_before)
{
    size_t len = HTTP_HEAD_MAX + 100;
    char *m = malloc(len);
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT(m != NULL);
    memset(m, 'a', len);
    memcpy(m, "GET http://h/ HTTP/1.1\r\nX-Big: ", 31);
    ASSERT_EQ(req_n(m, HTTP_HEAD_MAX - 1, &consumed, &r, &status), PARSE_MORE);
    ASSERT_EQ(req_n(m, HTTP_HEAD_MAX, &consumed, &r, &status), PARSE_ERROR);
    ASSERT_EQ(status, 431);
    ASSERT_EQ(req_n(m, len, &consumed, &r, &status), PARSE_ERROR);
    ASSERT_EQ(status, 431);
    free(m);
}

TEST(head_just_under_the_limit_is_accepted)
{
    char *m = malloc(HTTP_HEAD_MAX);
    const char *start = "GET http://h/ HTTP/1.1\r\nX-Big: ";
    size_t fill = HTTP_HEAD_MAX - strlen(start) - 4, consumed = 0;
    struct http_request r;
    int status = 0;

    ASSERT(m != NULL);
    memcpy(m, start, strlen(start));
    memset(m + strlen(start), 'v', fill);
    memcpy(m + strlen(start) + fill, "\r\n\r\n", 4);
    ASSERT_EQ(req_n(m, HTTP_HEAD_MAX, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(consumed, HTTP_HEAD_MAX);
    free(m);
}

TEST(too_many_header_fields_is_431)
{
    char *m = malloc(64 * (HTTP_HEADERS_MAX + 2));
    size_t n = 0;

    ASSERT(m != NULL);
    n += (size_t)sprintf(m + n, "GET http://h/ HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
        n += (size_t)sprintf(m + n, "X-%d: v\r\n", i);
    sprintf(m + n, "\r\n");
    ASSERT_EQ(refused_status(m), 431);
    free(m);
}

TEST(proxy_authorization_value_is_captured)
{
    const char *m = "GET http://h/ HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(r.has_proxy_auth, 1);
    ASSERT(span_is(m, r.proxy_auth, "Basic dTpw"));
}

TEST(byte_by_byte_and_all_at_once_agree_on_every_field)
{
    const char *m = "PUT http://[::1]:9/x?y HTTP/1.1\r\nConnection: x-drop, close\r\n"
                    "X-Drop: 1\r\nTransfer-Encoding: chunked\r\nX-Keep: 2\r\n\r\n5\r\n";
    struct http_request whole, part;
    size_t c1 = 0, c2 = 0;
    int status = 0;

    ASSERT_EQ(req(m, &c1, &whole, &status), PARSE_DONE);
    for (size_t n = 0; n < c1; n++)
        ASSERT_EQ(req_n(m, n, &c2, &part, &status), PARSE_MORE);
    ASSERT_EQ(req_n(m, c1, &c2, &part, &status), PARSE_DONE);
    ASSERT_EQ(c1, c2);
    ASSERT_MEM_EQ(&whole, &part, sizeof(whole));
}

/* ---- the rewritten request head ---- */

TEST(rewrite_sends_origin_form_with_host_from_the_uri)
{
    char out[512];

    ASSERT(rewrite("GET http://example.com:8080/a?b HTTP/1.1\r\nHost: evil.example\r\n"
                   "Accept: */*\r\n\r\n",
                   out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET /a?b HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n");
}

TEST(rewrite_of_an_empty_path_is_slash)
{
    char out[512];

    ASSERT(rewrite("GET http://h HTTP/1.1\r\n\r\n", out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT(rewrite("GET http://h?q=1#frag HTTP/1.1\r\n\r\n", out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET /?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(rewrite_drops_hop_by_hop_fields_and_those_connection_names)
{
    char out[1024];

    ASSERT(rewrite("POST http://h/p HTTP/1.1\r\nProxy-Connection: keep-alive\r\n"
                   "Proxy-Authorization: Basic c2VjcmV0OnB3\r\nKeep-Alive: 300\r\n"
                   "Connection: X-Private\r\nX-Private: 1\r\nTE: trailers\r\nUpgrade: h2c\r\n"
                   "Content-Length: 2\r\nX-Public: 2\r\n\r\n",
                   out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-Public: 2\r\n\r\n");
}

/* Issue 13.1: Connection naming a framing field must not remove it, or the origin would
 * read the body we delimit as the next request (smuggling). */
TEST(connection_never_removes_the_fields_the_framing_depends_on)
{
    char out[1024];

    ASSERT(rewrite("GET http://127.0.0.1:18006/public HTTP/1.1\r\nContent-Length: 47\r\n"
                   "Connection: content-length\r\n\r\n",
                   out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out,
                  "GET /public HTTP/1.1\r\nHost: 127.0.0.1:18006\r\nContent-Length: 47\r\n\r\n");
    ASSERT(rewrite("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: keep-alive, TRANSFER-Encoding ,x-a\r\nX-A: 1\r\n\r\n",
                   out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT(rewrite("GET http://h/ HTTP/1.1\r\nConnection: host\r\n\r\n", out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(response_connection_never_removes_its_length_or_chunked)
{
    const char *m1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n";
    const char *m2 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: Transfer-Encoding\r\n\r\n";
    struct http_response r;
    size_t consumed = 0;
    uint8_t out[256];
    size_t n;

    ASSERT_EQ(resp(m1, 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_LENGTH);
    n = http_write_response_head(out, sizeof(out), (const uint8_t *)m1, &r, 1);
    out[n] = '\0';
    ASSERT_STR_EQ((char *)out,
                  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(resp(m2, 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_CHUNKED);
    n = http_write_response_head(out, sizeof(out), (const uint8_t *)m2, &r, 1);
    out[n] = '\0';
    ASSERT_STR_EQ(
        (char *)out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
}

TEST(rewrite_passes_connection_close_on)
{
    char out[512];

    ASSERT(rewrite("GET http://h/ HTTP/1.1\r\nConnection: close\r\n\r\n", out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
}

TEST(rewrite_keeps_http_1_0)
{
    char out[512];

    ASSERT(rewrite("GET http://h/ HTTP/1.0\r\n\r\n", out, sizeof(out)) > 0);
    ASSERT_STR_EQ(out, "GET / HTTP/1.0\r\nHost: h\r\n\r\n");
}

TEST(rewrite_that_does_not_fit_returns_0)
{
    const char *m = "GET http://h/ HTTP/1.1\r\nX-A: 1234567890\r\n\r\n";
    struct http_request r;
    size_t consumed = 0;
    int status = 0;
    uint8_t out[20];

    ASSERT_EQ(req(m, &consumed, &r, &status), PARSE_DONE);
    ASSERT_EQ(http_write_request_head(out, sizeof(out), (const uint8_t *)m, &r), 0);
}

/* ---- response heads ---- */

TEST(response_with_content_length)
{
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp(m, 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(consumed, strlen(m) - 5);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.f.body, HTTP_BODY_LENGTH);
    ASSERT_EQ(r.f.content_length, 5);
    ASSERT_EQ(r.keep_alive, 1);
}

TEST(response_without_framing_is_close_delimited_and_not_reusable)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.1 200 OK\r\n\r\n", 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_CLOSE);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST(response_chunked_wins_over_content_length_which_is_dropped)
{
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct http_response r;
    size_t consumed = 0;
    uint8_t out[256];
    size_t n;

    ASSERT_EQ(resp(m, 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_CHUNKED);
    n = http_write_response_head(out, sizeof(out), (const uint8_t *)m, &r, 1);
    out[n] = '\0';
    ASSERT_STR_EQ(
        (char *)out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
}

TEST(response_transfer_coding_not_ending_in_chunked_is_close_delimited)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &consumed, &r),
              PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_CLOSE);
}

TEST(responses_without_body_204_304_1xx_and_to_head)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.1 204 No Content\r\n\r\n", 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, &consumed, &r),
              PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
    ASSERT_EQ(resp("HTTP/1.1 100 Continue\r\n\r\n", 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
    ASSERT_EQ(r.status, 100);
    ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 1, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.f.body, HTTP_BODY_NONE);
    ASSERT_EQ(resp("HTTP/1.1 200 OK\r\n\r\n", 1, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.keep_alive, 1);
}

TEST(http_1_0_response_is_reusable_only_with_keep_alive)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.keep_alive, 0);
    ASSERT_EQ(resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", 0,
                   &consumed, &r),
              PARSE_DONE);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", 0, &consumed, &r),
        PARSE_DONE);
    ASSERT_EQ(r.keep_alive, 0);
}

TEST(status_line_without_reason_is_accepted)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 0, &consumed, &r), PARSE_DONE);
    ASSERT_EQ(r.status, 404);
}

TEST(malformed_status_lines_are_errors)
{
    struct http_response r;
    size_t consumed = 0;

    ASSERT_EQ(resp("HTTP/1.1 20 OK\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
    ASSERT_EQ(resp("HTTP/1.1 2000 OK\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
    ASSERT_EQ(resp("HTTP/2.0 200 OK\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
    ASSERT_EQ(resp("ICY 200 OK\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
    ASSERT_EQ(resp("HTTP/1.1 099 Odd\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
    ASSERT_EQ(resp("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", 0, &consumed, &r), PARSE_ERROR);
}

TEST(response_head_over_the_limit_is_an_error)
{
    char *m = malloc(HTTP_HEAD_MAX + 10);
    struct http_response r;
    size_t consumed = 0;

    ASSERT(m != NULL);
    memset(m, 'x', HTTP_HEAD_MAX + 10);
    memcpy(m, "HTTP/1.1 200 OK\r\nX: ", 20);
    ASSERT_EQ(resp_n(m, HTTP_HEAD_MAX + 10, 0, &consumed, &r), PARSE_ERROR);
    free(m);
}

TEST(response_writer_replaces_connection_and_drops_hop_by_hop)
{
    const char *m = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
                    "X-Hop: 1\r\nContent-Length: 0\r\n\r\n";
    struct http_response r;
    size_t consumed = 0, n;
    uint8_t out[256];

    ASSERT_EQ(resp(m, 0, &consumed, &r), PARSE_DONE);
    n = http_write_response_head(out, sizeof(out), (const uint8_t *)m, &r, 0);
    out[n] = '\0';
    ASSERT_STR_EQ((char *)out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(interim_response_is_passed_without_connection_field)
{
    const char *m = "HTTP/1.1 100 Continue\r\n\r\n";
    struct http_response r;
    size_t consumed = 0, n;
    uint8_t out[128];

    ASSERT_EQ(resp(m, 0, &consumed, &r), PARSE_DONE);
    n = http_write_response_head(out, sizeof(out), (const uint8_t *)m, &r, 1);
    out[n] = '\0';
    ASSERT_STR_EQ((char *)out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* ---- bodies ---- */

TEST(length_body_ends_exactly_at_its_length_in_any_split)
{
    const char *d = "0123456789NEXT";
    int done = 0;

    for (size_t step = 1; step <= 14; step++) {
        ASSERT_EQ(feed_body(HTTP_BODY_LENGTH, 10, d, 14, step, &done), 10);
        ASSERT_EQ(done, 1);
    }
}

TEST(chunked_body_ends_after_the_final_crlf_in_any_split)
{
    const char *d = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nGET";
    size_t body = strlen(d) - 3;
    int done = 0;

    for (size_t step = 1; step <= strlen(d); step++) {
        ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, strlen(d), step, &done), body);
        ASSERT_EQ(done, 1);
    }
}

TEST(chunked_body_with_trailers)
{
    const char *d = "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\nrest";
    int done = 0;

    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, strlen(d), 1, &done), strlen(d) - 4);
    ASSERT_EQ(done, 1);
}

/* Issue 13, also: a bare LF (or CR) anywhere in the chunked framing is an error, never
 * passed on: a next hop that reads it differently would split the stream elsewhere. */
TEST(chunked_bare_lf_or_cr_anywhere_is_an_error)
{
    static const char *const bad[] = {
        "3\nabc\r\n0\r\n\r\n",              /* after the size */
        "3;x=1\nabc\r\n0\r\n\r\n",          /* after an extension */
        "3\r\nabc\n0\r\n\r\n",              /* after the data */
        "3\r\nabc\r\n0\n\r\n",              /* after the last size */
        "3\r\nabc\r\n0\r\n\n",              /* the final line */
        "3\r\nabc\r\n0\r\nX: 1\n\r\n",      /* a trailer line */
        "3\r\nabc\r\n0\r\n\rX",             /* CR without LF at the end */
        "3\r\nabc\r\n0\r\nX: 1\rY\r\n\r\n", /* CR inside a trailer */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (size_t step = 1; step <= 3; step++) {
            int done = 0;
            ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, bad[i], strlen(bad[i]), step, &done),
                      (size_t)-1);
        }
}

TEST(chunk_size_has_at_most_16_hex_digits_leading_zeros_included)
{
    const char *ok = "0000000000000003\r\nabc\r\n0000000000000000\r\n\r\n";
    const char *long_zeros = "00000000000000003\r\nabc\r\n0\r\n\r\n";
    const char *big = "1000000000000000\r\n"; /* 2^60 */
    const char *max = "fffffffffffffff\r\n";  /* 2^60 - 1: accepted, then cut short */
    int done = 0;

    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, ok, strlen(ok), 1, &done), strlen(ok));
    ASSERT_EQ(done, 1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, long_zeros, strlen(long_zeros), 1, &done),
              (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, big, strlen(big), 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, max, strlen(max), 1, &done), strlen(max));
    ASSERT_EQ(done, 0);
}

TEST(chunked_body_cut_short_is_not_done)
{
    const char *d = "a\r\n0123456";
    int done = 1;

    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, strlen(d), 3, &done), strlen(d));
    ASSERT_EQ(done, 0);
}

TEST(malformed_chunked_bodies_are_errors)
{
    int done = 0;

    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "g\r\n", 3, 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "\r\n", 2, 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "2\r\nabX", 6, 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "2\r\nab\rX", 7, 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "2\rX", 3, 1, &done), (size_t)-1);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, "fffffffffffffffff\r\n", 19, 4, &done), (size_t)-1);
}

/* Same verdict fed whole and byte by byte: the error, or the bytes the body took. */
static size_t
chunked_verdict(const char *d)
{
    int done = 0;
    size_t a = feed_body(HTTP_BODY_CHUNKED, 0, d, strlen(d), strlen(d), &done);
    size_t b = feed_body(HTTP_BODY_CHUNKED, 0, d, strlen(d), 1, &done);
    return a == b ? a : (size_t)-3;
}

TEST(after_a_chunk_size_only_whitespace_then_extensions_or_the_line_end)
{
    const char *ok = "3 \t;name=\"v a\"\t;x\r\nabc\r\n0  \r\n\r\n";

    ASSERT_EQ(chunked_verdict(ok), strlen(ok));
    ASSERT_EQ(chunked_verdict("3 x\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("3 3\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("3\t0\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("3;a\x01\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("3;a\x7f\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("0x3\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
    ASSERT_EQ(chunked_verdict("+3\r\nabc\r\n0\r\n\r\n"), (size_t)-1);
}

TEST(whitespace_after_a_chunk_size_is_bounded_like_extensions)
{
    size_t n = 5000;
    char *d = malloc(n + 1);
    int done = 0;

    ASSERT(d != NULL);
    memset(d, ' ', n);
    d[0] = '1';
    d[n] = '\0';
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, n, 512, &done), (size_t)-1);
    free(d);
}

TEST(oversized_chunk_extension_or_trailer_is_an_error)
{
    size_t n = 20000;
    char *d = malloc(n);
    int done = 0;

    ASSERT(d != NULL);
    memset(d, 'e', n);
    memcpy(d, "1;", 2);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, n, 512, &done), (size_t)-1);
    memset(d, 'T', n);
    memcpy(d, "0\r\n", 3);
    ASSERT_EQ(feed_body(HTTP_BODY_CHUNKED, 0, d, n, 512, &done), (size_t)-1);
    free(d);
}

TEST(close_delimited_body_takes_everything_and_never_ends)
{
    int done = 1;

    ASSERT_EQ(feed_body(HTTP_BODY_CLOSE, 0, "abcdef", 6, 2, &done), 6);
    ASSERT_EQ(done, 0);
}

TEST(no_body_is_done_at_once)
{
    int done = 0;

    ASSERT_EQ(feed_body(HTTP_BODY_NONE, 0, "GET", 3, 1, &done), 0);
    ASSERT_EQ(done, 1);
}

/* ---- our own responses ---- */

TEST(error_response_has_matching_length_and_closes)
{
    char out[512];
    size_t n = http_write_error(out, sizeof(out), 502, "connection refused");
    const char *body;

    ASSERT(n > 0);
    out[n] = '\0';
    ASSERT(strncmp(out, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0);
    ASSERT(strstr(out, "Connection: close\r\n") != NULL);
    body = strstr(out, "\r\n\r\n") + 4;
    ASSERT_STR_EQ(body, "502 Bad Gateway: connection refused\n");
    ASSERT(strstr(out, "Content-Length: 36\r\n") != NULL);
    ASSERT(strstr(out, "Proxy-Authenticate") == NULL);
}

TEST(error_407_asks_for_basic_credentials)
{
    char out[512];
    size_t n = http_write_error(out, sizeof(out), 407, "proxy authentication required");

    ASSERT(n > 0);
    out[n] = '\0';
    ASSERT(strstr(out, "HTTP/1.1 407 Proxy Authentication Required\r\n") == out);
    ASSERT(strstr(out, "\r\nProxy-Authenticate: Basic realm=\"dispatch-proxy\"\r\n") != NULL);
}

TEST(error_response_that_does_not_fit_returns_0)
{
    char out[40];

    ASSERT_EQ(http_write_error(out, sizeof(out), 400, "x"), 0);
}

/* ---- Basic credentials ---- */

TEST(basic_credentials_decode_user_and_password)
{
    const char *v = "Basic YWxpY2U6d29uZGVyOmxhbmQ="; /* alice:wonder:land */
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;

    ASSERT_EQ(http_basic_credentials((const uint8_t *)v, strlen(v), user, &ul, pass, &pl), 0);
    ASSERT_EQ(ul, 5);
    ASSERT_MEM_EQ(user, "alice", 5);
    ASSERT_EQ(pl, 11);
    ASSERT_MEM_EQ(pass, "wonder:land", 11);
}

TEST(basic_scheme_is_case_insensitive_and_padding_variants_decode)
{
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;

    ASSERT_EQ(http_basic_credentials((const uint8_t *)"bAsIc   dTpw", 12, user, &ul, pass, &pl), 0);
    ASSERT_EQ(ul, 1);
    ASSERT_EQ(pl, 1);
    ASSERT_EQ(http_basic_credentials((const uint8_t *)"Basic dTpwdw==", 14, user, &ul, pass, &pl),
              0);
    ASSERT_EQ(pl, 2);
    ASSERT_EQ(http_basic_credentials((const uint8_t *)"Basic Og==", 10, user, &ul, pass, &pl), 0);
    ASSERT_EQ(ul, 0);
    ASSERT_EQ(pl, 0);
}

TEST(basic_credentials_keep_nul_bytes_with_their_lengths)
{
    const char *v = "Basic YQBiOmMAZA=="; /* "a\0b:c\0d" */
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;

    ASSERT_EQ(http_basic_credentials((const uint8_t *)v, strlen(v), user, &ul, pass, &pl), 0);
    ASSERT_EQ(ul, 3);
    ASSERT_MEM_EQ(user, "a\0b", 3);
    ASSERT_EQ(pl, 3);
    ASSERT_MEM_EQ(pass, "c\0d", 3);
}

TEST(bad_basic_credentials_are_refused)
{
    uint8_t user[256], pass[256];
    size_t ul = 0, pl = 0;
    const char *bad[] = {
        "Bearer dTpw", "Basic",           "Basic ",         "Basic dTpw=",
        "Basic d=pw",  "Basic dT!w",      "Basic dXNlcg==", /* "user": no colon */
        "Basicx dTpw", "Basic dTpw dTpw",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ(
            http_basic_credentials((const uint8_t *)bad[i], strlen(bad[i]), user, &ul, pass, &pl),
            -1);
}

TEST(basic_credentials_longer_than_255_per_field_are_refused)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t plain[300], user[256], pass[256];
    char v[600];
    size_t ul = 0, pl = 0, n = 6, i;

    memset(plain, 'u', sizeof(plain));
    plain[256] = ':'; /* a 256-byte user name */
    memcpy(v, "Basic ", 6);
    for (i = 0; i + 3 <= 258; i += 3) {
        unsigned w = (unsigned)plain[i] << 16 | (unsigned)plain[i + 1] << 8 | plain[i + 2];
        v[n++] = b64[w >> 18 & 63];
        v[n++] = b64[w >> 12 & 63];
        v[n++] = b64[w >> 6 & 63];
        v[n++] = b64[w & 63];
    }
    ASSERT_EQ(http_basic_credentials((const uint8_t *)v, n, user, &ul, pass, &pl), -1);
}

TEST(origin_form_for_our_own_server)
{
    static const char req[] = "POST /api/links/0/ratio?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n"
                              "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n";
    struct http_request r;
    struct http_span v;
    size_t used = 0;
    int status = 0;

    ASSERT_EQ(http_parse_origin_request((const uint8_t *)req, strlen(req), &used, &r, &status),
              PARSE_DONE);
    ASSERT_EQ(used, strlen(req));
    ASSERT_EQ(r.path.len, strlen("/api/links/0/ratio?x=1"));
    ASSERT_MEM_EQ(req + r.path.off, "/api/links/0/ratio?x=1", r.path.len);
    ASSERT_EQ(r.f.content_length, 11);
    ASSERT_EQ(http_header_value((const uint8_t *)req, &r.f, "content-type", &v), 0);
    ASSERT_MEM_EQ(req + v.off, "application/json", v.len);
    ASSERT_EQ(http_header_value((const uint8_t *)req, &r.f, "origin", &v), -1);
    /* A proxy's request is not one for us, nor the other way round. */
    ASSERT_EQ(http_parse_origin_request((const uint8_t *)"GET http://a/ HTTP/1.1\r\n\r\n", 26,
                                        &used, &r, &status),
              PARSE_ERROR);
    ASSERT_EQ(status, 400);
    ASSERT_EQ(http_parse_request((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, &used, &r, &status),
              PARSE_ERROR);
}

int
main(void)
{
    RUN(absolute_form_get_gives_origin_host_port_80_and_path);
    RUN(absolute_form_with_port_and_ipv4_literal);
    RUN(absolute_form_with_ipv6_literal);
    RUN(scheme_is_case_insensitive);
    RUN(connect_authority_form_names_host_and_port);
    RUN(connect_to_ipv6_literal);
    RUN(connect_bytes_after_head_are_tunnel_not_body);
    RUN(connect_without_port_or_with_port_0_or_too_big_is_400);
    RUN(origin_form_request_to_the_proxy_is_400);
    RUN(https_absolute_uri_is_400);
    RUN(userinfo_in_uri_is_400);
    RUN(bad_characters_in_host_are_400);
    RUN(malformed_request_lines_are_400);
    RUN(other_major_versions_are_505);
    RUN(later_http1_minor_versions_talk_1_1);
    RUN(http_1_0_is_not_kept_alive);
    RUN(connection_close_ends_keep_alive);
    RUN(every_strict_prefix_is_more_and_whole_is_done);
    RUN(pipelined_requests_are_consumed_one_at_a_time);
    RUN(bare_lf_line_ends_are_accepted);
    RUN(a_stray_crlf_before_the_request_line_is_ignored);
    RUN(header_values_are_trimmed_of_whitespace);
    RUN(chunked_request_body_is_recognised);
    RUN(repeated_equal_content_length_is_accepted);
    RUN(content_length_zero_means_no_body);
    RUN(ambiguous_framing_is_400);
    RUN(malformed_header_lines_are_400);
    RUN(nul_in_a_header_value_is_400);
    RUN(head_without_end_is_431_at_the_limit_not_before);
    RUN(head_just_under_the_limit_is_accepted);
    RUN(too_many_header_fields_is_431);
    RUN(proxy_authorization_value_is_captured);
    RUN(byte_by_byte_and_all_at_once_agree_on_every_field);

    RUN(rewrite_sends_origin_form_with_host_from_the_uri);
    RUN(rewrite_of_an_empty_path_is_slash);
    RUN(rewrite_drops_hop_by_hop_fields_and_those_connection_names);
    RUN(connection_never_removes_the_fields_the_framing_depends_on);
    RUN(response_connection_never_removes_its_length_or_chunked);
    RUN(rewrite_passes_connection_close_on);
    RUN(rewrite_keeps_http_1_0);
    RUN(rewrite_that_does_not_fit_returns_0);

    RUN(response_with_content_length);
    RUN(response_without_framing_is_close_delimited_and_not_reusable);
    RUN(response_chunked_wins_over_content_length_which_is_dropped);
    RUN(response_transfer_coding_not_ending_in_chunked_is_close_delimited);
    RUN(responses_without_body_204_304_1xx_and_to_head);
    RUN(http_1_0_response_is_reusable_only_with_keep_alive);
    RUN(status_line_without_reason_is_accepted);
    RUN(malformed_status_lines_are_errors);
    RUN(response_head_over_the_limit_is_an_error);
    RUN(response_writer_replaces_connection_and_drops_hop_by_hop);
    RUN(interim_response_is_passed_without_connection_field);

    RUN(length_body_ends_exactly_at_its_length_in_any_split);
    RUN(chunked_body_ends_after_the_final_crlf_in_any_split);
    RUN(chunked_body_with_trailers);
    RUN(chunked_bare_lf_or_cr_anywhere_is_an_error);
    RUN(chunk_size_has_at_most_16_hex_digits_leading_zeros_included);
    RUN(chunked_body_cut_short_is_not_done);
    RUN(malformed_chunked_bodies_are_errors);
    RUN(after_a_chunk_size_only_whitespace_then_extensions_or_the_line_end);
    RUN(whitespace_after_a_chunk_size_is_bounded_like_extensions);
    RUN(oversized_chunk_extension_or_trailer_is_an_error);
    RUN(close_delimited_body_takes_everything_and_never_ends);
    RUN(no_body_is_done_at_once);

    RUN(error_response_has_matching_length_and_closes);
    RUN(error_407_asks_for_basic_credentials);
    RUN(error_response_that_does_not_fit_returns_0);

    RUN(basic_credentials_decode_user_and_password);
    RUN(basic_scheme_is_case_insensitive_and_padding_variants_decode);
    RUN(basic_credentials_keep_nul_bytes_with_their_lengths);
    RUN(bad_basic_credentials_are_refused);
    RUN(basic_credentials_longer_than_255_per_field_are_refused);
    RUN(origin_form_for_our_own_server);
    UNIT_MAIN_END("http");
}
