/* SOCKS5 parsers and encoders: every field, byte-by-byte arrival, pipelined bursts and
 * every malformed field. Parsers are always handed an exact-size heap copy of the
 * bytes, so a build with SAN=1 catches any read past what was "received". */
#include "os.h" /* sockets and addresses on every platform */
#include <stdlib.h>
#include <string.h>

#include "socks5.h"
#include "unit.h"

enum kind { GREETING, AUTH, REQUEST };

/* Runs one parser over an exact-size copy of msg[0..len). */
static enum parse_status
parse_exact(enum kind k, const uint8_t *msg, size_t len, size_t *consumed,
            struct socks5_greeting *g, struct socks5_auth *a, struct socks5_request *r, int *rep)
{
    uint8_t *copy = malloc(len ? len : 1);
    enum parse_status st = PARSE_ERROR;

    if (copy == NULL)
        abort();
    if (len > 0)
        memcpy(copy, msg, len);
    switch (k) {
    case GREETING:
        st = socks5_parse_greeting(copy, len, consumed, g);
        break;
    case AUTH:
        st = socks5_parse_auth(copy, len, consumed, a);
        break;
    case REQUEST:
        st = socks5_parse_request(copy, len, consumed, r, rep);
        break;
    }
    free(copy);
    return st;
}

static enum parse_status
greeting(const uint8_t *msg, size_t len, size_t *consumed, struct socks5_greeting *g)
{
    return parse_exact(GREETING, msg, len, consumed, g, NULL, NULL, NULL);
}

static enum parse_status
auth(const uint8_t *msg, size_t len, size_t *consumed, struct socks5_auth *a)
{
    return parse_exact(AUTH, msg, len, consumed, NULL, a, NULL, NULL);
}

static enum parse_status
request(const uint8_t *msg, size_t len, size_t *consumed, struct socks5_request *r, int *rep)
{
    return parse_exact(REQUEST, msg, len, consumed, NULL, NULL, r, rep);
}

/* Feeds msg one byte more each time, as a slow client would, and returns the first
 * prefix length whose status is not PARSE_MORE (n when every strict prefix was MORE). */
static size_t
first_not_more(enum kind k, const uint8_t *msg, size_t n)
{
    struct socks5_greeting g;
    struct socks5_auth a;
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 0;

    for (size_t len = 0; len < n; len++)
        if (parse_exact(k, msg, len, &consumed, &g, &a, &r, &rep) != PARSE_MORE)
            return len;
    return n;
}

/* The status the first time a prefix stops being PARSE_MORE, and at what length. */
static enum parse_status
first_verdict(enum kind k, const uint8_t *msg, size_t n, size_t *at, int *rep)
{
    struct socks5_greeting g;
    struct socks5_auth a;
    struct socks5_request r;
    size_t consumed = 0;

    for (size_t len = 0; len <= n; len++) {
        enum parse_status st = parse_exact(k, msg, len, &consumed, &g, &a, &r, rep);
        if (st != PARSE_MORE) {
            *at = len;
            return st;
        }
    }
    *at = n + 1;
    return PARSE_MORE;
}

/* VER CMD RSV ATYP ADDR PORT with an IP address of alen bytes. */
static size_t
build_ip_request(uint8_t *out, uint8_t cmd, uint8_t atyp, const uint8_t *addr, size_t alen,
                 uint16_t port)
{
    out[0] = 5;
    out[1] = cmd;
    out[2] = 0;
    out[3] = atyp;
    memcpy(out + 4, addr, alen);
    out[4 + alen] = (uint8_t)(port >> 8);
    out[5 + alen] = (uint8_t)port;
    return 6 + alen;
}

/* VER CMD RSV 03 LEN NAME PORT. */
static size_t
build_domain_request(uint8_t *out, uint8_t cmd, const char *name, size_t nlen, uint16_t port)
{
    out[0] = 5;
    out[1] = cmd;
    out[2] = 0;
    out[3] = 3;
    out[4] = (uint8_t)nlen;
    memcpy(out + 5, name, nlen);
    out[5 + nlen] = (uint8_t)(port >> 8);
    out[6 + nlen] = (uint8_t)port;
    return 7 + nlen;
}

/* 01 ULEN UNAME PLEN PASSWD. */
static size_t
build_auth(uint8_t *out, const char *user, size_t ulen, const char *pass, size_t plen)
{
    out[0] = 1;
    out[1] = (uint8_t)ulen;
    memcpy(out + 2, user, ulen);
    out[2 + ulen] = (uint8_t)plen;
    memcpy(out + 3 + ulen, pass, plen);
    return 3 + ulen + plen;
}

static const uint8_t v4_addr[4] = {192, 0, 2, 10};
static const uint8_t v6_addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* ---- greeting ---- */

TEST(greeting_offering_only_none_sets_offers_none)
{
    const uint8_t msg[] = {5, 1, 0x00};
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 3);
    ASSERT_EQ(g.offers_none, 1);
    ASSERT_EQ(g.offers_userpass, 0);
}

TEST(greeting_offering_only_userpass_sets_offers_userpass)
{
    const uint8_t msg[] = {5, 1, 0x02};
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 3);
    ASSERT_EQ(g.offers_none, 0);
    ASSERT_EQ(g.offers_userpass, 1);
}

TEST(greeting_sees_both_methods_among_unknown_ones)
{
    const uint8_t msg[] = {5, 5, 0x01, 0x02, 0x80, 0x00, 0xFF};
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 7);
    ASSERT_EQ(g.offers_none, 1);
    ASSERT_EQ(g.offers_userpass, 1);
}

TEST(greeting_offering_only_unknown_methods_offers_nothing)
{
    const uint8_t msg[] = {5, 3, 0x01, 0x03, 0xFF};
    struct socks5_greeting g = {1, 1};
    size_t consumed = 0;

    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 5);
    ASSERT_EQ(g.offers_none, 0);
    ASSERT_EQ(g.offers_userpass, 0);
}

TEST(greeting_with_zero_methods_is_done_with_nothing_offered)
{
    const uint8_t msg[] = {5, 0};
    struct socks5_greeting g = {1, 1};
    size_t consumed = 0;

    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 2);
    ASSERT_EQ(g.offers_none, 0);
    ASSERT_EQ(g.offers_userpass, 0);
    ASSERT_EQ(first_not_more(GREETING, msg, sizeof(msg)), sizeof(msg));
}

TEST(greeting_is_more_for_every_strict_prefix)
{
    const uint8_t msg[] = {5, 3, 0x00, 0x01, 0x02};
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(first_not_more(GREETING, msg, sizeof(msg)), sizeof(msg));
    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, sizeof(msg));
}

TEST(greeting_with_255_methods_is_more_until_the_last_byte)
{
    uint8_t msg[2 + 255];
    struct socks5_greeting g;
    size_t consumed = 0;

    msg[0] = 5;
    msg[1] = 255;
    for (size_t i = 0; i < 255; i++)
        msg[2 + i] = (uint8_t)(0x80 + (i % 0x7F)); /* private methods */
    msg[sizeof(msg) - 1] = 0x02;                   /* userpass offered last */

    ASSERT_EQ(first_not_more(GREETING, msg, sizeof(msg)), sizeof(msg));
    ASSERT_EQ(greeting(msg, sizeof(msg), &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, sizeof(msg));
    ASSERT_EQ(g.offers_none, 0);
    ASSERT_EQ(g.offers_userpass, 1);
}

TEST(greeting_consumes_only_itself_when_request_and_payload_follow)
{
    uint8_t msg[64];
    struct socks5_greeting g;
    size_t consumed = 0, n = 0;

    msg[n++] = 5;
    msg[n++] = 2;
    msg[n++] = 0x00;
    msg[n++] = 0x02;
    n += build_ip_request(msg + n, 1, 1, v4_addr, 4, 80);
    memcpy(msg + n, "GET /", 5);
    n += 5;

    ASSERT_EQ(greeting(msg, n, &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 4);
    ASSERT_EQ(g.offers_none, 1);
    ASSERT_EQ(g.offers_userpass, 1);
}

TEST(greeting_with_empty_buffer_is_more)
{
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(greeting(NULL, 0, &consumed, &g), PARSE_MORE);
}

TEST(greeting_with_version_4_is_error_on_first_byte)
{
    const uint8_t msg[] = {4, 1, 0x00};
    size_t at = 0;
    int rep = 0;

    ASSERT_EQ(first_verdict(GREETING, msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 1);
}

TEST(greeting_with_version_0_or_ff_or_http_is_error)
{
    const uint8_t v0[] = {0, 1, 0x00}, vff[] = {0xFF, 1, 0x00}, http[] = {'G', 'E', 'T'};
    struct socks5_greeting g;
    size_t consumed = 0;

    ASSERT_EQ(greeting(v0, sizeof(v0), &consumed, &g), PARSE_ERROR);
    ASSERT_EQ(greeting(vff, sizeof(vff), &consumed, &g), PARSE_ERROR);
    ASSERT_EQ(greeting(http, sizeof(http), &consumed, &g), PARSE_ERROR);
}

/* ---- RFC 1929 username/password ---- */

TEST(auth_copies_user_and_password_nul_terminated)
{
    uint8_t msg[64];
    struct socks5_auth a;
    size_t consumed = 0, n = build_auth(msg, "alice", 5, "s3cret!", 7);

    memset(&a, 'x', sizeof(a));
    ASSERT_EQ(auth(msg, n, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, 15);
    ASSERT_EQ(a.user_len, 5);
    ASSERT_EQ(a.pass_len, 7);
    ASSERT_STR_EQ(a.user, "alice");
    ASSERT_STR_EQ(a.pass, "s3cret!");
}

TEST(auth_is_more_for_every_strict_prefix)
{
    uint8_t msg[64];
    size_t n = build_auth(msg, "alice", 5, "s3cret!", 7);

    ASSERT_EQ(first_not_more(AUTH, msg, n), n);
}

TEST(auth_with_empty_user_and_password_is_done)
{
    const uint8_t msg[] = {1, 0, 0};
    struct socks5_auth a;
    size_t consumed = 0;

    memset(&a, 'x', sizeof(a));
    ASSERT_EQ(first_not_more(AUTH, msg, sizeof(msg)), sizeof(msg));
    ASSERT_EQ(auth(msg, sizeof(msg), &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, 3);
    ASSERT_EQ(a.user_len, 0);
    ASSERT_EQ(a.pass_len, 0);
    ASSERT_STR_EQ(a.user, "");
    ASSERT_STR_EQ(a.pass, "");
}

TEST(auth_with_empty_user_keeps_password)
{
    uint8_t msg[16];
    struct socks5_auth a;
    size_t consumed = 0, n = build_auth(msg, "", 0, "pw", 2);

    ASSERT_EQ(first_not_more(AUTH, msg, n), n);
    ASSERT_EQ(auth(msg, n, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(a.user_len, 0);
    ASSERT_STR_EQ(a.user, "");
    ASSERT_EQ(a.pass_len, 2);
    ASSERT_STR_EQ(a.pass, "pw");
}

TEST(auth_with_empty_password_keeps_user)
{
    uint8_t msg[16];
    struct socks5_auth a;
    size_t consumed = 0, n = build_auth(msg, "bob", 3, "", 0);

    ASSERT_EQ(first_not_more(AUTH, msg, n), n);
    ASSERT_EQ(auth(msg, n, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(a.user_len, 3);
    ASSERT_STR_EQ(a.user, "bob");
    ASSERT_EQ(a.pass_len, 0);
    ASSERT_STR_EQ(a.pass, "");
}

TEST(auth_with_255_byte_user_and_password_fills_both_fields)
{
    char user[255], pass[255];
    uint8_t msg[3 + 255 + 255];
    struct socks5_auth a;
    size_t consumed = 0, n;

    for (size_t i = 0; i < 255; i++) {
        user[i] = (char)('a' + i % 26);
        pass[i] = (char)('A' + i % 26);
    }
    n = build_auth(msg, user, 255, pass, 255);
    ASSERT_EQ(n, sizeof(msg));

    ASSERT_EQ(first_not_more(AUTH, msg, n), n);
    ASSERT_EQ(auth(msg, n, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, 513);
    ASSERT_EQ(a.user_len, 255);
    ASSERT_EQ(a.pass_len, 255);
    ASSERT_MEM_EQ(a.user, user, 255);
    ASSERT_MEM_EQ(a.pass, pass, 255);
    ASSERT_EQ(a.user[255], '\0');
    ASSERT_EQ(a.pass[255], '\0');
}

TEST(auth_consumes_only_itself_when_request_and_payload_follow)
{
    uint8_t msg[64];
    struct socks5_auth a;
    size_t consumed = 0, n = build_auth(msg, "u", 1, "p", 1);
    size_t auth_len = n;

    n += build_ip_request(msg + n, 1, 1, v4_addr, 4, 443);
    msg[n++] = 0x16; /* TLS ClientHello begins */

    ASSERT_EQ(auth(msg, n, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, auth_len);
    ASSERT_STR_EQ(a.user, "u");
    ASSERT_STR_EQ(a.pass, "p");
}

TEST(auth_with_version_5_is_error_on_first_byte)
{
    uint8_t msg[16];
    size_t n = build_auth(msg, "u", 1, "p", 1), at = 0;
    int rep = 0;

    msg[0] = 5;
    ASSERT_EQ(first_verdict(AUTH, msg, n, &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 1);
}

TEST(auth_with_version_0_or_2_is_error)
{
    const uint8_t v0[] = {0, 0, 0}, v2[] = {2, 0, 0};
    struct socks5_auth a;
    size_t consumed = 0;

    ASSERT_EQ(auth(v0, sizeof(v0), &consumed, &a), PARSE_ERROR);
    ASSERT_EQ(auth(v2, sizeof(v2), &consumed, &a), PARSE_ERROR);
}

/* ---- request ---- */

TEST(request_connect_ipv4_fills_every_field)
{
    uint8_t msg[32];
    struct socks5_request r;
    size_t consumed = 0, n = build_ip_request(msg, 1, 1, v4_addr, 4, 8080);
    int rep = 99;

    memset(&r, 0x5A, sizeof(r));
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 10);
    ASSERT_EQ(r.cmd, SOCKS5_CMD_CONNECT);
    ASSERT_EQ(r.target.type, TARGET_IPV4);
    ASSERT_EQ(r.target.port, 8080);
    ASSERT_MEM_EQ(r.target.addr, v4_addr, 4);
    ASSERT_STR_EQ(r.target.host, "");
}

TEST(request_ipv4_address_stays_in_network_order)
{
    uint8_t msg[32];
    struct socks5_request r;
    struct in_addr want;
    size_t consumed = 0, n;
    int rep = 0;

    ASSERT_EQ(inet_pton(AF_INET, "10.20.30.40", &want), 1);
    n = build_ip_request(msg, 1, 1, (const uint8_t *)&want, 4, 1);
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_MEM_EQ(r.target.addr, &want, 4);
}

TEST(request_connect_ipv6_fills_every_field)
{
    uint8_t msg[32];
    struct socks5_request r;
    struct in6_addr want;
    size_t consumed = 0, n = build_ip_request(msg, 1, 4, v6_addr, 16, 443);
    int rep = 99;

    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
    memset(&r, 0x5A, sizeof(r));
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 22);
    ASSERT_EQ(r.cmd, SOCKS5_CMD_CONNECT);
    ASSERT_EQ(r.target.type, TARGET_IPV6);
    ASSERT_EQ(r.target.port, 443);
    ASSERT_MEM_EQ(r.target.addr, &want, 16);
    ASSERT_STR_EQ(r.target.host, "");
}

TEST(request_connect_domain_fills_every_field)
{
    uint8_t msg[64];
    struct socks5_request r;
    size_t consumed = 0, n = build_domain_request(msg, 1, "example.com", 11, 80);
    int rep = 99;

    memset(&r, 0x5A, sizeof(r));
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 18);
    ASSERT_EQ(r.cmd, SOCKS5_CMD_CONNECT);
    ASSERT_EQ(r.target.type, TARGET_DOMAIN);
    ASSERT_EQ(r.target.port, 80);
    ASSERT_STR_EQ(r.target.host, "example.com");
}

TEST(request_ipv4_is_more_for_every_strict_prefix)
{
    uint8_t msg[32];
    size_t n = build_ip_request(msg, 1, 1, v4_addr, 4, 80);

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
}

TEST(request_ipv6_is_more_for_every_strict_prefix)
{
    uint8_t msg[32];
    size_t n = build_ip_request(msg, 1, 4, v6_addr, 16, 80);

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
}

TEST(request_domain_is_more_for_every_strict_prefix)
{
    uint8_t msg[64];
    size_t n = build_domain_request(msg, 1, "example.com", 11, 80);

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
}

TEST(request_one_byte_domain_is_accepted)
{
    uint8_t msg[16];
    struct socks5_request r;
    size_t consumed = 0, n = build_domain_request(msg, 1, "x", 1, 7);
    int rep = 0;

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 8);
    ASSERT_STR_EQ(r.target.host, "x");
}

TEST(request_255_byte_domain_is_accepted_whole)
{
    char name[255];
    uint8_t msg[7 + 255];
    struct socks5_request r;
    size_t consumed = 0, n;
    int rep = 0;

    for (size_t i = 0; i < sizeof(name); i++)
        name[i] = (i % 64 == 63) ? '.' : (char)('a' + i % 26);
    n = build_domain_request(msg, 1, name, 255, 65535);
    ASSERT_EQ(n, sizeof(msg));

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
    memset(&r, 0x5A, sizeof(r));
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 262);
    ASSERT_EQ(strlen(r.target.host), 255);
    ASSERT_MEM_EQ(r.target.host, name, 255);
    ASSERT_EQ(r.target.port, 65535);
}

TEST(request_port_is_returned_in_host_byte_order)
{
    const uint8_t msg[] = {5, 1, 0, 1, 127, 0, 0, 1, 0x1F, 0x90};
    const uint8_t zero[] = {5, 1, 0, 1, 127, 0, 0, 1, 0x00, 0x00};
    const uint8_t high[] = {5, 1, 0, 1, 127, 0, 0, 1, 0x01, 0x00};
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 0;

    ASSERT_EQ(request(msg, sizeof(msg), &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.target.port, 8080);
    ASSERT_EQ(request(zero, sizeof(zero), &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.target.port, 0);
    ASSERT_EQ(request(high, sizeof(high), &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(r.target.port, 256);
}

TEST(request_ignores_a_nonzero_reserved_byte)
{
    uint8_t msg[32];
    struct socks5_request r;
    size_t consumed = 0, n = build_ip_request(msg, 1, 1, v4_addr, 4, 80);
    int rep = 0;

    msg[2] = 0xFF;
    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_MEM_EQ(r.target.addr, v4_addr, 4);
}

TEST(request_bind_parses_to_done_with_cmd_2)
{
    uint8_t msg[32];
    struct socks5_request r;
    size_t consumed = 0, n = build_ip_request(msg, 2, 1, v4_addr, 4, 21);
    int rep = 0;

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(r.cmd, SOCKS5_CMD_BIND);
}

TEST(request_udp_associate_parses_to_done_with_cmd_3)
{
    uint8_t msg[32];
    struct socks5_request r;
    size_t consumed = 0, n = build_domain_request(msg, 3, "dns.test", 8, 53);
    int rep = 0;

    ASSERT_EQ(first_not_more(REQUEST, msg, n), n);
    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(r.cmd, SOCKS5_CMD_UDP);
    ASSERT_STR_EQ(r.target.host, "dns.test");
}

TEST(request_consumes_exactly_itself_when_payload_follows_for_each_atyp)
{
    uint8_t msg[64];
    struct socks5_request r;
    size_t consumed = 0, n;
    int rep = 0;

    n = build_ip_request(msg, 1, 1, v4_addr, 4, 80);
    memcpy(msg + n, "\x05\x01\x00\x01", 4); /* payload that looks like another request */
    ASSERT_EQ(request(msg, n + 4, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);

    n = build_ip_request(msg, 1, 4, v6_addr, 16, 80);
    memcpy(msg + n, "data", 4);
    ASSERT_EQ(request(msg, n + 4, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);

    n = build_domain_request(msg, 1, "a.example", 9, 80);
    memset(msg + n, 0, 4); /* NUL bytes after the name are payload, not the name */
    ASSERT_EQ(request(msg, n + 4, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_STR_EQ(r.target.host, "a.example");
}

TEST(greeting_auth_request_and_payload_in_one_burst_split_exactly)
{
    static const char payload[] = "GET / HTTP/1.1\r\n";
    uint8_t msg[128];
    struct socks5_greeting g;
    struct socks5_auth a;
    struct socks5_request r;
    size_t consumed = 0, off = 0, n = 0;
    int rep = 0;

    msg[n++] = 5;
    msg[n++] = 1;
    msg[n++] = 0x02;
    n += build_auth(msg + n, "user", 4, "pass", 4);
    n += build_domain_request(msg + n, 1, "example.org", 11, 80);
    memcpy(msg + n, payload, sizeof(payload) - 1);
    n += sizeof(payload) - 1;

    ASSERT_EQ(greeting(msg + off, n - off, &consumed, &g), PARSE_DONE);
    ASSERT_EQ(consumed, 3);
    ASSERT_EQ(g.offers_userpass, 1);
    off += consumed;
    ASSERT_EQ(auth(msg + off, n - off, &consumed, &a), PARSE_DONE);
    ASSERT_EQ(consumed, 11);
    ASSERT_STR_EQ(a.user, "user");
    ASSERT_STR_EQ(a.pass, "pass");
    off += consumed;
    ASSERT_EQ(request(msg + off, n - off, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, 18);
    ASSERT_STR_EQ(r.target.host, "example.org");
    off += consumed;
    ASSERT_EQ(n - off, sizeof(payload) - 1);
    ASSERT_MEM_EQ(msg + off, payload, sizeof(payload) - 1);
}

TEST(request_with_version_4_is_error_rep_minus_1_on_first_byte)
{
    uint8_t msg[32];
    size_t n = build_ip_request(msg, 1, 1, v4_addr, 4, 80), at = 0;
    int rep = 99;

    msg[0] = 4;
    ASSERT_EQ(first_verdict(REQUEST, msg, n, &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 1);
    ASSERT_EQ(rep, -1);
}

TEST(request_with_version_0_is_error_rep_minus_1)
{
    const uint8_t msg[] = {0, 1, 0, 1, 1, 2, 3, 4, 0, 80};
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 99;

    ASSERT_EQ(request(msg, sizeof(msg), &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, -1);
}

TEST(request_bad_version_wins_over_bad_cmd_and_atyp)
{
    const uint8_t msg[] = {4, 9, 0, 9};
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 99;

    ASSERT_EQ(request(msg, sizeof(msg), &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, -1);
}

TEST(request_with_unknown_cmd_is_error_rep_7_on_cmd_byte)
{
    const uint8_t cmds[] = {0, 4, 0x80, 0xFF};

    for (size_t i = 0; i < sizeof(cmds); i++) {
        uint8_t msg[32];
        size_t n = build_ip_request(msg, cmds[i], 1, v4_addr, 4, 80), at = 0;
        int rep = 99;

        ASSERT_EQ(first_verdict(REQUEST, msg, n, &at, &rep), PARSE_ERROR);
        ASSERT_EQ(at, 2);
        ASSERT_EQ(rep, SOCKS5_REP_CMD_UNSUPPORTED);
    }
}

TEST(request_bad_cmd_wins_over_bad_atyp)
{
    const uint8_t msg[] = {5, 9, 0, 9};
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 99;

    ASSERT_EQ(request(msg, sizeof(msg), &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, SOCKS5_REP_CMD_UNSUPPORTED);
}

TEST(request_with_unknown_atyp_is_error_rep_8_on_atyp_byte)
{
    const uint8_t atyps[] = {0, 2, 5, 0xFF};

    for (size_t i = 0; i < sizeof(atyps); i++) {
        uint8_t msg[32];
        size_t n = build_ip_request(msg, 1, atyps[i], v4_addr, 4, 80), at = 0;
        int rep = 99;

        ASSERT_EQ(first_verdict(REQUEST, msg, n, &at, &rep), PARSE_ERROR);
        ASSERT_EQ(at, 4);
        ASSERT_EQ(rep, SOCKS5_REP_ATYP_UNSUPPORTED);
    }
}

TEST(request_unknown_atyp_is_rep_8_for_bind_and_udp_too)
{
    const uint8_t bind[] = {5, 2, 0, 7}, udp[] = {5, 3, 0, 7};
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 99;

    ASSERT_EQ(request(bind, sizeof(bind), &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, SOCKS5_REP_ATYP_UNSUPPORTED);
    rep = 99;
    ASSERT_EQ(request(udp, sizeof(udp), &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, SOCKS5_REP_ATYP_UNSUPPORTED);
}

TEST(request_with_zero_length_domain_is_error_rep_1_on_length_byte)
{
    const uint8_t msg[] = {5, 1, 0, 3, 0, 0, 80};
    size_t at = 0;
    int rep = 99;

    ASSERT_EQ(first_verdict(REQUEST, msg, sizeof(msg), &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 5);
    ASSERT_EQ(rep, SOCKS5_REP_GENERAL);
}

TEST(request_with_nul_first_in_domain_is_error_rep_1)
{
    uint8_t msg[32];
    size_t n = build_domain_request(msg, 1, "\0bc.test", 8, 80), at = 0;
    int rep = 99;

    ASSERT_EQ(first_verdict(REQUEST, msg, n, &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 6);
    ASSERT_EQ(rep, SOCKS5_REP_GENERAL);
}

TEST(request_with_nul_inside_domain_is_error_rep_1_once_the_nul_arrives)
{
    uint8_t msg[32];
    size_t n = build_domain_request(msg, 1, "evil\0.test", 10, 80), at = 0;
    int rep = 99;

    ASSERT_EQ(first_verdict(REQUEST, msg, n, &at, &rep), PARSE_ERROR);
    ASSERT_EQ(at, 5 + 5);
    ASSERT_EQ(rep, SOCKS5_REP_GENERAL);
}

TEST(request_with_nul_last_in_domain_is_error_rep_1)
{
    uint8_t msg[32];
    struct socks5_request r;
    size_t consumed = 0, n = build_domain_request(msg, 1, "a.test\0", 7, 80);
    int rep = 99;

    ASSERT_EQ(request(msg, n, &consumed, &r, &rep), PARSE_ERROR);
    ASSERT_EQ(rep, SOCKS5_REP_GENERAL);
}

TEST(request_with_empty_buffer_is_more)
{
    struct socks5_request r;
    size_t consumed = 0;
    int rep = 0;

    ASSERT_EQ(request(NULL, 0, &consumed, &r, &rep), PARSE_MORE);
}

/* ---- encoders ---- */

TEST(write_method_emits_version_and_method)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t none[] = {5, 0x00}, up[] = {5, 0x02}, rej[] = {5, 0xFF};

    ASSERT_EQ(socks5_write_method(out, SOCKS5_METHOD_NONE), 2);
    ASSERT_MEM_EQ(out, none, 2);
    ASSERT_EQ(socks5_write_method(out, SOCKS5_METHOD_USERPASS), 2);
    ASSERT_MEM_EQ(out, up, 2);
    ASSERT_EQ(socks5_write_method(out, SOCKS5_METHOD_REJECT), 2);
    ASSERT_MEM_EQ(out, rej, 2);
}

TEST(write_auth_status_emits_01_00_on_success)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t ok[] = {1, 0};

    ASSERT_EQ(socks5_write_auth_status(out, 1), 2);
    ASSERT_MEM_EQ(out, ok, 2);
    ASSERT_EQ(socks5_write_auth_status(out, 42), 2); /* any nonzero is success */
    ASSERT_MEM_EQ(out, ok, 2);
}

TEST(write_auth_status_emits_01_01_on_failure)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t fail[] = {1, 1};

    ASSERT_EQ(socks5_write_auth_status(out, 0), 2);
    ASSERT_MEM_EQ(out, fail, 2);
}

TEST(write_reply_for_ipv4_is_atyp_1_ten_bytes)
{
    struct sockaddr_in sin;
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t want[] = {5, 0, 0, 1, 198, 51, 100, 7, 0xC3, 0x50};

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(50000);
    ASSERT_EQ(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr), 1);

    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_OK, (const struct sockaddr *)&sin), 10);
    ASSERT_MEM_EQ(out, want, 10);
}

TEST(write_reply_for_ipv6_is_atyp_4_twenty_two_bytes)
{
    struct sockaddr_in6 sin6;
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t want[] = {5, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0,    0,
                            0, 0, 0, 0, 0,    0,    0,    0,    1, 0x01, 0xBB};

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(443);
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr), 1);

    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_OK, (const struct sockaddr *)&sin6), 22);
    ASSERT_MEM_EQ(out, want, 22);
}

TEST(write_reply_for_v4_mapped_ipv6_is_atyp_1)
{
    struct sockaddr_in6 sin6;
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t want[] = {5, 0, 0, 1, 203, 0, 113, 9, 0x1F, 0x90};

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(8080);
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:203.0.113.9", &sin6.sin6_addr), 1);

    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_OK, (const struct sockaddr *)&sin6), 10);
    ASSERT_MEM_EQ(out, want, 10);
}

TEST(write_reply_for_ipv6_loopback_and_v4_compatible_stays_atyp_4)
{
    struct sockaddr_in6 sin6;
    uint8_t out[SOCKS5_REPLY_MAX];

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(1);
    ASSERT_EQ(inet_pton(AF_INET6, "::1", &sin6.sin6_addr), 1);
    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_OK, (const struct sockaddr *)&sin6), 22);
    ASSERT_EQ(out[3], 4);
    ASSERT_EQ(out[19], 1);

    /* v4-compatible ::a.b.c.d has 00 00 where a mapped address has ff ff */
    ASSERT_EQ(inet_pton(AF_INET6, "::255.255.1.2", &sin6.sin6_addr), 1);
    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_OK, (const struct sockaddr *)&sin6), 22);
    ASSERT_EQ(out[3], 4);
}

TEST(write_reply_without_bnd_is_zero_ipv4_ten_bytes)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t want[] = {5, 4, 0, 1, 0, 0, 0, 0, 0, 0};

    memset(out, 0xEE, sizeof(out));
    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_HOST_UNREACH, NULL), 10);
    ASSERT_MEM_EQ(out, want, 10);
}

TEST(write_reply_for_unknown_family_is_like_null)
{
    struct sockaddr_storage ss;
    uint8_t out[SOCKS5_REPLY_MAX];
    const uint8_t want[] = {5, 1, 0, 1, 0, 0, 0, 0, 0, 0};

    memset(&ss, 0xAB, sizeof(ss));
    ss.ss_family = AF_UNIX;
    ASSERT_EQ(socks5_write_reply(out, SOCKS5_REP_GENERAL, (const struct sockaddr *)&ss), 10);
    ASSERT_MEM_EQ(out, want, 10);
}

TEST(write_reply_carries_every_rep_code_and_never_atyp_3)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    uint8_t out[SOCKS5_REPLY_MAX];

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    for (unsigned rep = SOCKS5_REP_OK; rep <= SOCKS5_REP_ATYP_UNSUPPORTED; rep++) {
        ASSERT_EQ(socks5_write_reply(out, (uint8_t)rep, (const struct sockaddr *)&sin), 10);
        ASSERT_EQ(out[0], 5);
        ASSERT_EQ(out[1], rep);
        ASSERT_EQ(out[2], 0);
        ASSERT_EQ(out[3], 1);
        ASSERT_EQ(socks5_write_reply(out, (uint8_t)rep, (const struct sockaddr *)&sin6), 22);
        ASSERT_EQ(out[1], rep);
        ASSERT_EQ(out[3], 4);
        ASSERT_EQ(socks5_write_reply(out, (uint8_t)rep, NULL), 10);
        ASSERT_EQ(out[1], rep);
        ASSERT_EQ(out[3], 1);
    }
}

TEST(write_reply_round_trips_through_the_request_parser)
{
    /* A reply has the request's shape, so the parser reads BND back (as CONNECT). */
    struct sockaddr_in6 sin6;
    struct socks5_request r;
    uint8_t out[SOCKS5_REPLY_MAX];
    size_t n, consumed = 0;
    int rep = 0;

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(61000);
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr), 1);
    n = socks5_write_reply(out, SOCKS5_CMD_CONNECT, (const struct sockaddr *)&sin6);
    ASSERT_EQ(request(out, n, &consumed, &r, &rep), PARSE_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(r.target.type, TARGET_IPV6);
    ASSERT_EQ(r.target.port, 61000);
    ASSERT_MEM_EQ(r.target.addr, v6_addr, 16);
}

int
main(void)
{
    RUN(greeting_offering_only_none_sets_offers_none);
    RUN(greeting_offering_only_userpass_sets_offers_userpass);
    RUN(greeting_sees_both_methods_among_unknown_ones);
    RUN(greeting_offering_only_unknown_methods_offers_nothing);
    RUN(greeting_with_zero_methods_is_done_with_nothing_offered);
    RUN(greeting_is_more_for_every_strict_prefix);
    RUN(greeting_with_255_methods_is_more_until_the_last_byte);
    RUN(greeting_consumes_only_itself_when_request_and_payload_follow);
    RUN(greeting_with_empty_buffer_is_more);
    RUN(greeting_with_version_4_is_error_on_first_byte);
    RUN(greeting_with_version_0_or_ff_or_http_is_error);

    RUN(auth_copies_user_and_password_nul_terminated);
    RUN(auth_is_more_for_every_strict_prefix);
    RUN(auth_with_empty_user_and_password_is_done);
    RUN(auth_with_empty_user_keeps_password);
    RUN(auth_with_empty_password_keeps_user);
    RUN(auth_with_255_byte_user_and_password_fills_both_fields);
    RUN(auth_consumes_only_itself_when_request_and_payload_follow);
    RUN(auth_with_version_5_is_error_on_first_byte);
    RUN(auth_with_version_0_or_2_is_error);

    RUN(request_connect_ipv4_fills_every_field);
    RUN(request_ipv4_address_stays_in_network_order);
    RUN(request_connect_ipv6_fills_every_field);
    RUN(request_connect_domain_fills_every_field);
    RUN(request_ipv4_is_more_for_every_strict_prefix);
    RUN(request_ipv6_is_more_for_every_strict_prefix);
    RUN(request_domain_is_more_for_every_strict_prefix);
    RUN(request_one_byte_domain_is_accepted);
    RUN(request_255_byte_domain_is_accepted_whole);
    RUN(request_port_is_returned_in_host_byte_order);
    RUN(request_ignores_a_nonzero_reserved_byte);
    RUN(request_bind_parses_to_done_with_cmd_2);
    RUN(request_udp_associate_parses_to_done_with_cmd_3);
    RUN(request_consumes_exactly_itself_when_payload_follows_for_each_atyp);
    RUN(greeting_auth_request_and_payload_in_one_burst_split_exactly);
    RUN(request_with_version_4_is_error_rep_minus_1_on_first_byte);
    RUN(request_with_version_0_is_error_rep_minus_1);
    RUN(request_bad_version_wins_over_bad_cmd_and_atyp);
    RUN(request_with_unknown_cmd_is_error_rep_7_on_cmd_byte);
    RUN(request_bad_cmd_wins_over_bad_atyp);
    RUN(request_with_unknown_atyp_is_error_rep_8_on_atyp_byte);
    RUN(request_unknown_atyp_is_rep_8_for_bind_and_udp_too);
    RUN(request_with_zero_length_domain_is_error_rep_1_on_length_byte);
    RUN(request_with_nul_first_in_domain_is_error_rep_1);
    RUN(request_with_nul_inside_domain_is_error_rep_1_once_the_nul_arrives);
    RUN(request_with_nul_last_in_domain_is_error_rep_1);
    RUN(request_with_empty_buffer_is_more);

    RUN(write_method_emits_version_and_method);
    RUN(write_auth_status_emits_01_00_on_success);
    RUN(write_auth_status_emits_01_01_on_failure);
    RUN(write_reply_for_ipv4_is_atyp_1_ten_bytes);
    RUN(write_reply_for_ipv6_is_atyp_4_twenty_two_bytes);
    RUN(write_reply_for_v4_mapped_ipv6_is_atyp_1);
    RUN(write_reply_for_ipv6_loopback_and_v4_compatible_stays_atyp_4);
    RUN(write_reply_without_bnd_is_zero_ipv4_ten_bytes);
    RUN(write_reply_for_unknown_family_is_like_null);
    RUN(write_reply_carries_every_rep_code_and_never_atyp_3);
    RUN(write_reply_round_trips_through_the_request_parser);

    UNIT_MAIN_END("socks5");
}
