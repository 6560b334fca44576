/* The client side of upstream proxy protocols (src/proto/upstream.c): the bytes we send,
 * every reply parsed whole, byte by byte and with tunnel bytes after it, garbage refused
 * at its first byte, and what each answer means for the link. Parsers get exact-size
 * heap copies, so a SAN=1 build catches any read past what was "received". */
#include <stdlib.h>
#include <string.h>

#include "errmap.h"
#include "unit.h"
#include "upstream.h"

typedef enum parse_status (*reply_parser)(const uint8_t *, size_t, size_t *, int *,
                                          struct target *);

static enum parse_status
parse_with(reply_parser fn, const void *msg, size_t len, size_t *used, int *code, struct target *b)
{
    uint8_t *copy = malloc(len ? len : 1);
    enum parse_status st;

    if (copy == NULL)
        abort();
    memcpy(copy, msg, len);
    st = fn(copy, len, used, code, b);
    free(copy);
    return st;
}

static enum parse_status
http_parse(const void *msg, size_t len, size_t *used, int *status)
{
    uint8_t *copy = malloc(len ? len : 1);
    enum parse_status st;

    if (copy == NULL)
        abort();
    memcpy(copy, msg, len);
    st = upstream_http_parse_connect(copy, len, used, status);
    free(copy);
    return st;
}

static struct target
domain(const char *name, uint16_t port)
{
    struct target t;

    memset(&t, 0, sizeof(t));
    t.type = TARGET_DOMAIN;
    t.port = port;
    snprintf(t.host, sizeof(t.host), "%s", name);
    return t;
}

static struct target
ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct target t;

    memset(&t, 0, sizeof(t));
    t.type = TARGET_IPV4;
    t.port = port;
    t.addr[0] = a;
    t.addr[1] = b;
    t.addr[2] = c;
    t.addr[3] = d;
    return t;
}

TEST(greeting_offers_userpass_only_with_credentials)
{
    uint8_t out[8];

    ASSERT_EQ(upstream_socks5_greeting(out, 0), 3);
    ASSERT_MEM_EQ(out, "\x05\x01\x00", 3);
    ASSERT_EQ(upstream_socks5_greeting(out, 1), 4);
    ASSERT_MEM_EQ(out, "\x05\x02\x00\x02", 4);
}

TEST(method_reply_parses_after_two_bytes)
{
    uint8_t m[] = {5, 2};
    size_t used = 0;
    int method = -1;

    ASSERT_EQ(upstream_socks5_parse_method(m, 1, &used, &method), PARSE_MORE);
    ASSERT_EQ(upstream_socks5_parse_method(m, 2, &used, &method), PARSE_DONE);
    ASSERT_EQ(used, 2);
    ASSERT_EQ(method, 2);
}

TEST(method_reply_with_wrong_version_is_garbage)
{
    uint8_t m[] = {'H', 'T'};
    size_t used = 0;
    int method = -1;

    ASSERT_EQ(upstream_socks5_parse_method(m, 1, &used, &method), PARSE_ERROR);
    ASSERT_EQ(method, -1);
}

TEST(method_choice_meaning)
{
    ASSERT_EQ(upstream_socks5_method_err(0, 0), 0);
    ASSERT_EQ(upstream_socks5_method_err(0, 1), 0);
    ASSERT_EQ(upstream_socks5_method_err(2, 1), 0);
    ASSERT_EQ(upstream_socks5_method_err(2, 0), DP_ERR_UPSTREAM_AUTH);
    ASSERT_EQ(upstream_socks5_method_err(0xFF, 1), DP_ERR_UPSTREAM_AUTH);
    ASSERT_EQ(upstream_socks5_method_err(1, 1), DP_ERR_UPSTREAM);
}

TEST(auth_request_is_rfc1929)
{
    uint8_t out[600];

    ASSERT_EQ(upstream_socks5_auth(out, sizeof(out), "alice", 5, "p:w", 3), 11);
    ASSERT_MEM_EQ(out,
                  "\x01\x05"
                  "alice"
                  "\x03"
                  "p:w",
                  11);
}

TEST(auth_request_with_255_byte_fields_fits_and_256_does_not)
{
    uint8_t out[600];
    char big[256];

    memset(big, 'x', sizeof(big));
    ASSERT_EQ(upstream_socks5_auth(out, sizeof(out), big, 255, big, 255), 513);
    ASSERT_EQ(out[1], 255);
    ASSERT_EQ(out[257], 255);
    ASSERT_EQ(upstream_socks5_auth(out, sizeof(out), big, 256, "p", 1), 0);
    ASSERT_EQ(upstream_socks5_auth(out, 10, "user", 4, "pass", 4), 0);
}

TEST(auth_status_zero_is_ok_anything_else_refused)
{
    size_t used = 0;
    int ok = -1;

    ASSERT_EQ(upstream_socks5_parse_auth_status((const uint8_t *)"\x01\x00", 2, &used, &ok),
              PARSE_DONE);
    ASSERT_EQ(ok, 1);
    ASSERT_EQ(upstream_socks5_parse_auth_status((const uint8_t *)"\x01\x01", 2, &used, &ok),
              PARSE_DONE);
    ASSERT_EQ(ok, 0);
    ASSERT_EQ(upstream_socks5_parse_auth_status((const uint8_t *)"\x05\x00", 2, &used, &ok),
              PARSE_DONE);
    ASSERT_EQ(ok, 1);
    ASSERT_EQ(upstream_socks5_parse_auth_status((const uint8_t *)"\x01", 1, &used, &ok),
              PARSE_MORE);
    ASSERT_EQ(upstream_socks5_parse_auth_status((const uint8_t *)"\x02", 1, &used, &ok),
              PARSE_ERROR);
}

TEST(connect_request_carries_a_name_for_socks5h)
{
    uint8_t out[600];
    struct target t = domain("example.test", 443);

    ASSERT_EQ(upstream_socks5_connect(out, sizeof(out), &t), 4 + 1 + 12 + 2);
    ASSERT_MEM_EQ(out,
                  "\x05\x01\x00\x03\x0c"
                  "example.test"
                  "\x01\xbb",
                  19);
}

TEST(connect_request_carries_ipv4_and_ipv6)
{
    uint8_t out[600];
    struct target t = ipv4(127, 0, 0, 1, 80);

    ASSERT_EQ(upstream_socks5_connect(out, sizeof(out), &t), 10);
    ASSERT_MEM_EQ(out, "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", 10);
    memset(&t, 0, sizeof(t));
    t.type = TARGET_IPV6;
    t.addr[15] = 1;
    t.port = 8080;
    ASSERT_EQ(upstream_socks5_connect(out, sizeof(out), &t), 22);
    ASSERT_EQ(out[3], 4);
    ASSERT_EQ(out[19], 1);
    ASSERT_EQ(out[20], 0x1f);
    ASSERT_EQ(out[21], 0x90);
}

static const uint8_t reply_v4[] = {5, 0, 0, 1, 10, 9, 8, 7, 0x1f, 0x90};

TEST(reply_gives_rep_and_bound_address)
{
    size_t used = 0;
    int rep = -1;
    struct target b;

    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, reply_v4, sizeof(reply_v4), &used, &rep, &b),
              PARSE_DONE);
    ASSERT_EQ(used, sizeof(reply_v4));
    ASSERT_EQ(rep, 0);
    ASSERT_EQ(b.type, TARGET_IPV4);
    ASSERT_MEM_EQ(b.addr, "\x0a\x09\x08\x07", 4);
    ASSERT_EQ(b.port, 8080);
}

TEST(reply_every_strict_prefix_is_more_and_tunnel_bytes_are_left)
{
    uint8_t m[sizeof(reply_v4) + 3];
    size_t used = 0;
    int rep = -1;
    struct target b;

    memcpy(m, reply_v4, sizeof(reply_v4));
    memcpy(m + sizeof(reply_v4), "abc", 3);
    for (size_t k = 0; k < sizeof(reply_v4); k++)
        ASSERT_EQ(parse_with(upstream_socks5_parse_reply, m, k, &used, &rep, &b), PARSE_MORE);
    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, m, sizeof(m), &used, &rep, &b), PARSE_DONE);
    ASSERT_EQ(used, sizeof(reply_v4));
}

TEST(reply_with_domain_and_ipv6_bound_addresses)
{
    uint8_t d[] = {5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 1};
    uint8_t v6[22] = {5, 5, 0, 4};
    size_t used = 0;
    int rep = -1;
    struct target b;

    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, d, sizeof(d), &used, &rep, &b), PARSE_DONE);
    ASSERT_EQ(b.type, TARGET_DOMAIN);
    ASSERT_STR_EQ(b.host, "host");
    ASSERT_EQ(b.port, 1);
    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, v6, sizeof(v6), &used, &rep, &b), PARSE_DONE);
    ASSERT_EQ(rep, 5);
    ASSERT_EQ(b.type, TARGET_IPV6);
    ASSERT_EQ(used, 22);
}

TEST(reply_garbage_is_refused_at_its_byte)
{
    size_t used = 0;
    int rep = -1;
    struct target b;

    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, "H", 1, &used, &rep, &b), PARSE_ERROR);
    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, "\x05\x00\x00\x02", 4, &used, &rep, &b),
              PARSE_ERROR);
    ASSERT_EQ(parse_with(upstream_socks5_parse_reply, "\x05\x00\x00\x03\x00", 5, &used, &rep, &b),
              PARSE_ERROR);
    ASSERT_EQ(rep, -1);
}

TEST(rep_meaning_is_the_destination_answer)
{
    ASSERT_EQ(upstream_socks5_rep_err(0), 0);
    ASSERT_EQ(upstream_socks5_rep_err(5), DP_ERR_UPSTREAM_REP(5));
    ASSERT_EQ(upstream_socks5_rep_err(200), DP_ERR_UPSTREAM_REP(1));
    ASSERT_EQ(errmap_socks5_rep(DP_ERR_UPSTREAM_REP(5)), 5);
    ASSERT_EQ(errmap_socks5_rep(DP_ERR_UPSTREAM_REP(4)), 4);
    ASSERT_EQ(errmap_http_status(DP_ERR_UPSTREAM_REP(5)), 502);
    ASSERT_EQ(errmap_http_status(DP_ERR_UPSTREAM_REP(6)), 504);
    ASSERT(errmap_is_final(DP_ERR_UPSTREAM_REP(3)));
    ASSERT(!errmap_is_link_failure(DP_ERR_UPSTREAM_REP(3)));
    ASSERT(errmap_is_link_failure(DP_ERR_UPSTREAM));
    ASSERT(errmap_is_link_failure(DP_ERR_UPSTREAM_AUTH));
    ASSERT(!errmap_is_final(DP_ERR_UPSTREAM_AUTH));
}

TEST(socks4a_request_sends_the_name)
{
    uint8_t out[600];
    struct target t = domain("a.test", 80);

    ASSERT_EQ(upstream_socks4_connect(out, sizeof(out), &t, "u", 1), 8 + 2 + 7);
    ASSERT_MEM_EQ(out, "\x04\x01\x00\x50\x00\x00\x00\x01u\0a.test\0", 17);
    t = ipv4(127, 0, 0, 2, 81);
    ASSERT_EQ(upstream_socks4_connect(out, sizeof(out), &t, "", 0), 9);
    ASSERT_MEM_EQ(out, "\x04\x01\x00\x51\x7f\x00\x00\x02\0", 9);
}

TEST(socks4a_cannot_carry_ipv6)
{
    uint8_t out[600];
    struct target t;

    memset(&t, 0, sizeof(t));
    t.type = TARGET_IPV6;
    ASSERT_EQ(upstream_socks4_connect(out, sizeof(out), &t, "", 0), 0);
}

TEST(socks4_reply_parses_and_means)
{
    uint8_t ok[] = {0, 90, 0, 80, 1, 2, 3, 4};
    uint8_t no[] = {0, 91, 0, 0, 0, 0, 0, 0};
    size_t used = 0;
    int cd = -1;
    struct target b;

    for (size_t k = 0; k < sizeof(ok); k++)
        ASSERT_EQ(parse_with(upstream_socks4_parse_reply, ok, k, &used, &cd, &b), PARSE_MORE);
    ASSERT_EQ(parse_with(upstream_socks4_parse_reply, ok, 8, &used, &cd, &b), PARSE_DONE);
    ASSERT_EQ(cd, 90);
    ASSERT_EQ(b.port, 80);
    ASSERT_EQ(upstream_socks4_cd_err(cd), 0);
    ASSERT_EQ(parse_with(upstream_socks4_parse_reply, no, 8, &used, &cd, &b), PARSE_DONE);
    ASSERT_EQ(upstream_socks4_cd_err(cd), DP_ERR_UPSTREAM_REP(5));
    ASSERT_EQ(upstream_socks4_cd_err(92), DP_ERR_UPSTREAM_AUTH);
    ASSERT_EQ(parse_with(upstream_socks4_parse_reply, "\x05", 1, &used, &cd, &b), PARSE_ERROR);
    ASSERT_EQ(parse_with(upstream_socks4_parse_reply, "\x00\x10", 2, &used, &cd, &b), PARSE_ERROR);
}

TEST(http_connect_request_with_basic_credentials)
{
    uint8_t out[UPSTREAM_REQ_MAX + 1];
    struct target t = domain("example.test", 443);
    size_t n = upstream_http_connect(out, UPSTREAM_REQ_MAX, &t, "Aladdin", 7, "open sesame", 11);
    static const char want[] = "CONNECT example.test:443 HTTP/1.1\r\n"
                               "Host: example.test:443\r\n"
                               "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
                               "\r\n";

    ASSERT_EQ(n, sizeof(want) - 1);
    out[n] = 0;
    ASSERT_STR_EQ((char *)out, want);
}

TEST(http_connect_request_ipv6_in_brackets_and_no_credentials)
{
    uint8_t out[UPSTREAM_REQ_MAX + 1];
    struct target t;
    size_t n;

    memset(&t, 0, sizeof(t));
    t.type = TARGET_IPV6;
    t.addr[15] = 1;
    t.port = 22;
    n = upstream_http_connect(out, UPSTREAM_REQ_MAX, &t, NULL, 0, NULL, 0);
    ASSERT(n > 0);
    out[n] = 0;
    ASSERT_STR_EQ((char *)out, "CONNECT [0:0:0:0:0:0:0:1]:22 HTTP/1.1\r\nHost: "
                               "[0:0:0:0:0:0:0:1]:22\r\n\r\n");
}

TEST(http_connect_refuses_a_name_that_would_split_the_line)
{
    uint8_t out[UPSTREAM_REQ_MAX];
    struct target t = domain("a b", 80);

    ASSERT_EQ(upstream_http_connect(out, sizeof(out), &t, NULL, 0, NULL, 0), 0);
    t = domain("a\r\nX: y", 80);
    ASSERT_EQ(upstream_http_connect(out, sizeof(out), &t, NULL, 0, NULL, 0), 0);
}

TEST(http_200_head_is_consumed_and_tunnel_bytes_are_left)
{
    static const char m[] = "HTTP/1.0 200 Connection established\r\n"
                            "Proxy-agent: tinyproxy/1.11.1\r\n\r\nTLS";
    size_t used = 0, head = sizeof(m) - 1 - 3;
    int status = -1;

    for (size_t k = 0; k < head; k++)
        ASSERT_EQ(http_parse(m, k, &used, &status), PARSE_MORE);
    ASSERT_EQ(http_parse(m, sizeof(m) - 1, &used, &status), PARSE_DONE);
    ASSERT_EQ(status, 200);
    ASSERT_EQ(used, head);
    ASSERT_EQ(upstream_http_status_err(status), 0);
}

TEST(http_refusal_is_known_from_the_status_line)
{
    static const char m[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 1000\r\n";
    size_t used = 0;
    int status = -1;

    ASSERT_EQ(http_parse(m, sizeof(m) - 1, &used, &status), PARSE_DONE);
    ASSERT_EQ(status, 502);
    ASSERT_EQ(upstream_http_status_err(502), DP_ERR_UPSTREAM_REP(5));
    ASSERT_EQ(upstream_http_status_err(407), DP_ERR_UPSTREAM_AUTH);
    ASSERT_EQ(upstream_http_status_err(401), DP_ERR_UPSTREAM_AUTH);
    ASSERT_EQ(upstream_http_status_err(504), DP_ERR_UPSTREAM_REP(6));
    ASSERT_EQ(upstream_http_status_err(403), DP_ERR_UPSTREAM_REP(2));
}

TEST(http_garbage_is_refused_at_its_first_byte)
{
    size_t used = 0;
    int status = -1;

    ASSERT_EQ(http_parse("\x05\x00", 2, &used, &status), PARSE_ERROR);
    ASSERT_EQ(http_parse("HTTP/2 200", 10, &used, &status), PARSE_ERROR);
    ASSERT_EQ(http_parse("HTTP/1.1 2x", 11, &used, &status), PARSE_ERROR);
    ASSERT_EQ(http_parse("HTTP/1.1 200\r\nbad header\r\n\r\n", 28, &used, &status), PARSE_ERROR);
    ASSERT_EQ(status, -1);
}

TEST(http_head_without_end_is_refused_at_the_limit)
{
    uint8_t *m = malloc(UPSTREAM_REPLY_MAX + 10);
    size_t used = 0;
    int status = -1;
    static const char line[] = "HTTP/1.1 200 OK\r\n";

    if (m == NULL)
        abort();
    memset(m, 'a', UPSTREAM_REPLY_MAX + 10);
    memcpy(m, line, sizeof(line) - 1);
    memcpy(m + sizeof(line) - 1, "X: ", 3);
    ASSERT_EQ(http_parse(m, UPSTREAM_REPLY_MAX - 1, &used, &status), PARSE_MORE);
    ASSERT_EQ(http_parse(m, UPSTREAM_REPLY_MAX + 10, &used, &status), PARSE_ERROR);
    free(m);
}

int
main(void)
{
    RUN(greeting_offers_userpass_only_with_credentials);
    RUN(method_reply_parses_after_two_bytes);
    RUN(method_reply_with_wrong_version_is_garbage);
    RUN(method_choice_meaning);
    RUN(auth_request_is_rfc1929);
    RUN(auth_request_with_255_byte_fields_fits_and_256_does_not);
    RUN(auth_status_zero_is_ok_anything_else_refused);
    RUN(connect_request_carries_a_name_for_socks5h);
    RUN(connect_request_carries_ipv4_and_ipv6);
    RUN(reply_gives_rep_and_bound_address);
    RUN(reply_every_strict_prefix_is_more_and_tunnel_bytes_are_left);
    RUN(reply_with_domain_and_ipv6_bound_addresses);
    RUN(reply_garbage_is_refused_at_its_byte);
    RUN(rep_meaning_is_the_destination_answer);
    RUN(socks4a_request_sends_the_name);
    RUN(socks4a_cannot_carry_ipv6);
    RUN(socks4_reply_parses_and_means);
    RUN(http_connect_request_with_basic_credentials);
    RUN(http_connect_request_ipv6_in_brackets_and_no_credentials);
    RUN(http_connect_refuses_a_name_that_would_split_the_line);
    RUN(http_200_head_is_consumed_and_tunnel_bytes_are_left);
    RUN(http_refusal_is_known_from_the_status_line);
    RUN(http_garbage_is_refused_at_its_first_byte);
    RUN(http_head_without_end_is_refused_at_the_limit);
    UNIT_MAIN_END("upstream");
}
