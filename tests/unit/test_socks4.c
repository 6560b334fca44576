/* SOCKS4 / SOCKS4a request parser and reply encoder: every field, byte-by-byte arrival,
 * pipelined payload, malformed and oversized fields. The parser always gets an exact-size
 * heap copy, so a SAN=1 build catches any read past what was "received". */
#include "os.h" /* sockets and addresses on every platform */
#include <stdlib.h>
#include <string.h>

#include "socks4.h"
#include "unit.h"

static enum parse_status
parse(const uint8_t *msg, size_t len, size_t *consumed, struct socks4_request *r, int *rep)
{
    uint8_t *copy = malloc(len ? len : 1);
    enum parse_status st;

    if (copy == NULL)
        abort();
    if (len > 0)
        memcpy(copy, msg, len);
    st = socks4_parse_request(copy, len, consumed, r, rep);
    free(copy);
    return st;
}

/* Feeds one byte more each time; returns the first verdict that is not MORE, and where. */
static enum parse_status
first_verdict(const uint8_t *msg, size_t n, size_t *at, int *rep)
{
    struct socks4_request r;
    size_t consumed = 0;

    for (size_t len = 0; len <= n; len++) {
        enum parse_status st = parse(msg, len, &consumed, &r, rep);
        if (st != PARSE_MORE) {
            *at = len;
            return st;
        }
    }
    *at = n + 1;
    return PARSE_MORE;
}

/* VN CD PORT IP USERID\0 [HOST\0] */
static size_t
build(uint8_t *out, uint8_t cmd, uint16_t port, const uint8_t ip[4], const char *user,
      const char *host)
{
    size_t n = 0;

    out[n++] = 4;
    out[n++] = cmd;
    out[n++] = (uint8_t)(port >> 8);
    out[n++] = (uint8_t)port;
    memcpy(out + n, ip, 4);
    n += 4;
    memcpy(out + n, user, strlen(user) + 1);
    n += strlen(user) + 1;
    if (host != NULL) {
        memcpy(out + n, host, strlen(host) + 1);
        n += strlen(host) + 1;
    }
    return n;
}

static const uint8_t ip_v4[4] = {192, 0, 2, 10};
static const uint8_t ip_4a[4] = {0, 0, 0, 1};

TEST(connect_to_ipv4_with_empty_userid_is_done)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, ip_v4, "", NULL), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 9);
    ASSERT_EQ(r.cmd, SOCKS4_CMD_CONNECT);
    ASSERT_EQ(r.target.type, TARGET_IPV4);
    ASSERT_EQ(r.target.port, 80);
    ASSERT_MEM_EQ(r.target.addr, ip_v4, 4);
    ASSERT_EQ(r.userid_len, 0);
}

TEST(userid_is_accepted_and_skipped)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 443, ip_v4, "windows-user", NULL), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(r.userid_len, 12);
    ASSERT_EQ(r.target.port, 443);
}

TEST(socks4a_name_after_userid_becomes_a_domain_target)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 8080, ip_4a, "u", "example.com"), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(r.target.type, TARGET_DOMAIN);
    ASSERT_STR_EQ(r.target.host, "example.com");
    ASSERT_EQ(r.target.port, 8080);
}

TEST(ip_0_0_0_0_is_plain_socks4_not_4a)
{
    const uint8_t zero[4] = {0, 0, 0, 0};
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, zero, "", NULL), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.target.type, TARGET_IPV4);
    ASSERT_EQ(consumed, 9);
}

TEST(bind_parses_and_reports_its_command)
{
    uint8_t msg[64];
    size_t n = build(msg, 2, 80, ip_v4, "", NULL), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.cmd, SOCKS4_CMD_BIND);
}

TEST(every_strict_prefix_is_more_for_socks4)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, ip_v4, "someone", NULL), at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(msg, n, &at, &rep), PARSE_DONE);
    ASSERT_EQ(at, n);
}

TEST(every_strict_prefix_is_more_for_socks4a)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, ip_4a, "someone", "host.example"), at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(msg, n, &at, &rep), PARSE_DONE);
    ASSERT_EQ(at, n);
}

TEST(byte_by_byte_gives_the_same_result_as_all_at_once)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 1234, ip_4a, "id", "a.example"), consumed = 0;
    struct socks4_request whole, last;
    int rep = 0;

    ASSERT_EQ(parse(msg, n, &consumed, &whole, &rep), PARSE_DONE);
    for (size_t len = 0; len < n; len++)
        ASSERT_EQ(parse(msg, len, &consumed, &last, &rep), PARSE_MORE);
    ASSERT_EQ(parse(msg, n, &consumed, &last, &rep), PARSE_DONE);
    ASSERT_MEM_EQ(&whole.target, &last.target, sizeof(whole.target));
}

TEST(pipelined_payload_is_not_consumed)
{
    uint8_t msg[96];
    size_t n = build(msg, 1, 80, ip_4a, "", "h.example"), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    memcpy(msg + n, "GET / HTTP/1.1\r\n", 16);
    ASSERT_EQ(parse(msg, n + 16, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_STR_EQ(r.target.host, "h.example");
}

TEST(pipelined_payload_after_plain_socks4_is_not_consumed)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, ip_v4, "x", NULL), consumed = 0;
    struct socks4_request r;
    int rep = 0;

    msg[n] = 0x16; /* a TLS hello's first byte */
    ASSERT_EQ(parse(msg, n + 1, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
}

TEST(wrong_version_is_error_without_reply)
{
    const uint8_t msg[] = {5, 1, 0, 80, 1, 2, 3, 4, 0};
    size_t at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 1);
    ASSERT_EQ(rep, -1);
}

TEST(unknown_command_is_rejected_on_its_byte)
{
    const uint8_t msg[] = {4, 3, 0, 80, 1, 2, 3, 4, 0};
    size_t at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 2);
    ASSERT_EQ(rep, SOCKS4_REP_REJECTED);
}

TEST(userid_of_255_bytes_is_accepted)
{
    uint8_t msg[8 + 256];
    char user[256];
    size_t n, consumed = 0;
    struct socks4_request r;
    int rep = 0;

    memset(user, 'u', 255);
    user[255] = '\0';
    n = build(msg, 1, 80, ip_v4, user, NULL);
    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.userid_len, 255);
}

TEST(userid_over_255_bytes_is_rejected_without_waiting_for_its_end)
{
    uint8_t msg[8 + 400];
    size_t at = 0;
    int rep = 0;

    build(msg, 1, 80, ip_v4, "", NULL);
    memset(msg + 8, 'u', 400); /* no NUL anywhere */
    ASSERT_EQ(first_verdict(msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 8 + 256);
    ASSERT_EQ(rep, SOCKS4_REP_REJECTED);
}

TEST(socks4a_empty_host_is_rejected)
{
    uint8_t msg[64];
    size_t n = build(msg, 1, 80, ip_4a, "u", ""), at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(msg, n, &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, n);
    ASSERT_EQ(rep, SOCKS4_REP_REJECTED);
}

TEST(socks4a_host_over_255_bytes_is_rejected)
{
    uint8_t msg[8 + 2 + 400];
    size_t at = 0;
    int rep = 0;

    build(msg, 1, 80, ip_4a, "u", NULL);
    memset(msg + 10, 'h', 400);
    ASSERT_EQ(first_verdict(msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 10 + 256);
}

TEST(socks4a_host_of_255_bytes_is_accepted)
{
    uint8_t msg[8 + 2 + 256];
    char host[256];
    size_t n, consumed = 0;
    struct socks4_request r;
    int rep = 0;

    memset(host, 'h', 255);
    host[255] = '\0';
    n = build(msg, 1, 80, ip_4a, "u", host);
    ASSERT_EQ(parse(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(strlen(r.target.host), 255);
}

TEST(empty_buffer_is_more)
{
    struct socks4_request r;
    size_t consumed = 0;
    int rep = 0;

    ASSERT_EQ(socks4_parse_request(NULL, 0, &consumed, &r, &rep), PARSE_MORE);
}

TEST(reply_granted_carries_the_ipv4_bound_address)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4321)};
    const uint8_t exp[8] = {0, 0x5A, 0x10, 0xE1, 10, 0, 0, 2};
    uint8_t out[SOCKS4_REPLY_LEN];

    inet_pton(AF_INET, "10.0.0.2", &sin.sin_addr);
    ASSERT_EQ(socks4_write_reply(out, SOCKS4_REP_GRANTED, (struct sockaddr *)&sin), 8);
    ASSERT_MEM_EQ(out, exp, 8);
}

TEST(reply_rejected_without_address_is_zeros)
{
    const uint8_t exp[8] = {0, 0x5B, 0, 0, 0, 0, 0, 0};
    uint8_t out[SOCKS4_REPLY_LEN];

    ASSERT_EQ(socks4_write_reply(out, SOCKS4_REP_REJECTED, NULL), 8);
    ASSERT_MEM_EQ(out, exp, 8);
}

TEST(reply_for_ipv6_bound_address_is_zeros)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    const uint8_t exp[8] = {0, 0x5A, 0, 0, 0, 0, 0, 0};
    uint8_t out[SOCKS4_REPLY_LEN];

    ASSERT_EQ(socks4_write_reply(out, SOCKS4_REP_GRANTED, (struct sockaddr *)&sin6), 8);
    ASSERT_MEM_EQ(out, exp, 8);
}

int
main(void)
{
    RUN(connect_to_ipv4_with_empty_userid_is_done);
    RUN(userid_is_accepted_and_skipped);
    RUN(socks4a_name_after_userid_becomes_a_domain_target);
    RUN(ip_0_0_0_0_is_plain_socks4_not_4a);
    RUN(bind_parses_and_reports_its_command);
    RUN(every_strict_prefix_is_more_for_socks4);
    RUN(every_strict_prefix_is_more_for_socks4a);
    RUN(byte_by_byte_gives_the_same_result_as_all_at_once);
    RUN(pipelined_payload_is_not_consumed);
    RUN(pipelined_payload_after_plain_socks4_is_not_consumed);
    RUN(wrong_version_is_error_without_reply);
    RUN(unknown_command_is_rejected_on_its_byte);
    RUN(userid_of_255_bytes_is_accepted);
    RUN(userid_over_255_bytes_is_rejected_without_waiting_for_its_end);
    RUN(socks4a_empty_host_is_rejected);
    RUN(socks4a_host_over_255_bytes_is_rejected);
    RUN(socks4a_host_of_255_bytes_is_accepted);
    RUN(empty_buffer_is_more);
    RUN(reply_granted_carries_the_ipv4_bound_address);
    RUN(reply_rejected_without_address_is_zeros);
    RUN(reply_for_ipv6_bound_address_is_zeros);
    UNIT_MAIN_END("socks4");
}
