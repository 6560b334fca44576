/* SOCKS5 UDP datagram headers (RFC 1928 §7): every field, each byte arriving one at a
 * time (a prefix is MORE until the last header byte, never DONE early), every malformed
 * field refused at the byte that shows it, and reply headers built from addresses.
 * Parsers get an exact-size heap copy, so SAN=1 catches a read past the datagram. */
#include "os.h" /* sockets and addresses on every platform */
#include <stdlib.h>
#include <string.h>

#include "socks5_udp.h"
#include "unit.h"

#define WHY_UNSET 777

static enum parse_status
parse(const uint8_t *msg, size_t len, size_t *consumed, struct target *t, int *why)
{
    uint8_t *copy = malloc(len ? len : 1);
    enum parse_status st;

    if (copy == NULL)
        abort();
    if (len > 0)
        memcpy(copy, msg, len);
    st = socks5_udp_parse(copy, len, consumed, t, why);
    free(copy);
    return st;
}

/* Feeds msg one byte more each time; returns the first length whose status is not MORE
 * (n + 1 when all were MORE) and that status in *st. */
static size_t
first_verdict(const uint8_t *msg, size_t n, enum parse_status *st, int *why)
{
    struct target t;
    size_t consumed = 0;

    for (size_t len = 0; len <= n; len++) {
        *st = parse(msg, len, &consumed, &t, why);
        if (*st != PARSE_MORE)
            return len;
    }
    return n + 1;
}

static const uint8_t v4_hdr[] = {0, 0, 0, 1, 192, 0, 2, 10, 0x01, 0xbb, 'h', 'i'};
static const uint8_t v6_hdr[] = {0, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
                                 0, 0, 0, 0, 0,    0,    0,    0,    1, 0, 53};
static const uint8_t name_hdr[] = {0,   0,   0,   3,   9,   'l',  'o',  'c', 'a',
                                   'l', 'h', 'o', 's', 't', 0x1f, 0x90, 'x'};

TEST(ipv4_header_parses_to_done_with_address_port_and_length_10)
{
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(v4_hdr, sizeof(v4_hdr), &consumed, &t, &why), PARSE_DONE);
    ASSERT_EQ(consumed, 10);
    ASSERT_EQ(t.type, TARGET_IPV4);
    ASSERT_MEM_EQ(t.addr, v4_hdr + 4, 4);
    ASSERT_EQ(t.port, 443);
    ASSERT_EQ(why, WHY_UNSET);
}

TEST(ipv6_header_parses_to_done_with_length_22_and_empty_payload)
{
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(v6_hdr, sizeof(v6_hdr), &consumed, &t, &why), PARSE_DONE);
    ASSERT_EQ(consumed, 22);
    ASSERT_EQ(t.type, TARGET_IPV6);
    ASSERT_MEM_EQ(t.addr, v6_hdr + 4, 16);
    ASSERT_EQ(t.port, 53);
}

TEST(domain_header_parses_to_a_nul_terminated_name)
{
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(name_hdr, sizeof(name_hdr), &consumed, &t, &why), PARSE_DONE);
    ASSERT_EQ(consumed, 16);
    ASSERT_EQ(t.type, TARGET_DOMAIN);
    ASSERT_STR_EQ(t.host, "localhost");
    ASSERT_EQ(t.port, 8080);
}

TEST(domain_of_255_bytes_is_the_longest_header)
{
    uint8_t m[SOCKS5_UDP_HDR_MAX];
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    memset(m, 'a', sizeof(m));
    m[0] = m[1] = m[2] = 0;
    m[3] = 3;
    m[4] = 255;
    m[5 + 255] = 0;
    m[6 + 255] = 7;
    ASSERT_EQ(parse(m, sizeof(m), &consumed, &t, &why), PARSE_DONE);
    ASSERT_EQ(consumed, SOCKS5_UDP_HDR_MAX);
    ASSERT_EQ(strlen(t.host), 255);
    ASSERT_EQ(t.port, 7);
}

TEST(every_strict_prefix_is_more_and_the_whole_header_is_done_for_each_atyp)
{
    const struct {
        const uint8_t *m;
        size_t hdr;
    } cases[] = {{v4_hdr, 10}, {v6_hdr, 22}, {name_hdr, 16}};
    enum parse_status st;
    int why = WHY_UNSET;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_EQ(first_verdict(cases[i].m, cases[i].hdr, &st, &why), cases[i].hdr);
        ASSERT_EQ(st, PARSE_DONE);
    }
}

TEST(out_is_untouched_unless_done)
{
    struct target t, before;
    size_t consumed = 99;
    int why = WHY_UNSET;

    memset(&t, 0x5a, sizeof(t));
    before = t;
    ASSERT_EQ(parse(v4_hdr, 9, &consumed, &t, &why), PARSE_MORE);
    ASSERT_MEM_EQ(&t, &before, sizeof(t));
    ASSERT_EQ(consumed, 99);
    ASSERT_EQ(why, WHY_UNSET);
}

TEST(nonzero_rsv_is_error_at_the_byte_that_shows_it)
{
    const uint8_t first[] = {1, 0, 0, 1, 127, 0, 0, 1, 0, 7};
    const uint8_t second[] = {0, 0x80, 0, 1, 127, 0, 0, 1, 0, 7};
    enum parse_status st;
    int why = WHY_UNSET;

    ASSERT_EQ(first_verdict(first, sizeof(first), &st, &why), 1);
    ASSERT_EQ(st, PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_RSV);
    why = WHY_UNSET;
    ASSERT_EQ(first_verdict(second, sizeof(second), &st, &why), 2);
    ASSERT_EQ(st, PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_RSV);
}

TEST(nonzero_frag_is_error_frag_at_byte_3_for_every_value)
{
    uint8_t m[10] = {0, 0, 0, 1, 127, 0, 0, 1, 0, 7};
    enum parse_status st;

    for (unsigned frag = 1; frag <= 255; frag++) {
        int why = WHY_UNSET;
        m[2] = (uint8_t)frag;
        ASSERT_EQ(first_verdict(m, sizeof(m), &st, &why), 3);
        ASSERT_EQ(st, PARSE_ERROR);
        ASSERT_EQ(why, SOCKS5_UDP_ERR_FRAG);
    }
}

TEST(frag_0x80_end_of_sequence_is_dropped_too)
{
    const uint8_t m[] = {0, 0, 0x80, 1, 127, 0, 0, 1, 0, 7};
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(m, sizeof(m), &consumed, &t, &why), PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_FRAG);
}

TEST(unknown_atyp_is_error_atyp_at_byte_4)
{
    const uint8_t bad[] = {0, 2, 5, 0xff};
    uint8_t m[10] = {0, 0, 0, 0, 127, 0, 0, 1, 0, 7};
    enum parse_status st;

    for (size_t i = 0; i < sizeof(bad); i++) {
        int why = WHY_UNSET;
        m[3] = bad[i];
        ASSERT_EQ(first_verdict(m, sizeof(m), &st, &why), 4);
        ASSERT_EQ(st, PARSE_ERROR);
        ASSERT_EQ(why, SOCKS5_UDP_ERR_ATYP);
    }
}

TEST(empty_domain_is_error_at_its_length_byte)
{
    const uint8_t m[] = {0, 0, 0, 3, 0, 0, 53};
    enum parse_status st;
    int why = WHY_UNSET;

    ASSERT_EQ(first_verdict(m, sizeof(m), &st, &why), 5);
    ASSERT_EQ(st, PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_DOMAIN);
}

TEST(nul_inside_domain_is_error_once_the_nul_arrives)
{
    const uint8_t m[] = {0, 0, 0, 3, 4, 'a', 'b', 0, 'c', 0, 53};
    enum parse_status st;
    int why = WHY_UNSET;

    ASSERT_EQ(first_verdict(m, sizeof(m), &st, &why), 8);
    ASSERT_EQ(st, PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_DOMAIN);
}

TEST(rsv_error_wins_over_frag_and_atyp)
{
    const uint8_t m[] = {0, 1, 9, 9, 0, 0, 0, 0, 0, 0};
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(m, sizeof(m), &consumed, &t, &why), PARSE_ERROR);
    ASSERT_EQ(why, SOCKS5_UDP_ERR_RSV);
}

TEST(empty_datagram_is_more)
{
    struct target t;
    size_t consumed = 0;
    int why = WHY_UNSET;

    ASSERT_EQ(parse(NULL, 0, &consumed, &t, &why), PARSE_MORE);
}

TEST(error_texts_name_the_field)
{
    ASSERT_STR_EQ(socks5_udp_err_text(SOCKS5_UDP_ERR_RSV), "RSV not zero");
    ASSERT_STR_EQ(socks5_udp_err_text(SOCKS5_UDP_ERR_FRAG),
                  "FRAG not zero (fragments are dropped)");
    ASSERT_STR_EQ(socks5_udp_err_text(SOCKS5_UDP_ERR_ATYP), "unknown ATYP");
    ASSERT_STR_EQ(socks5_udp_err_text(SOCKS5_UDP_ERR_DOMAIN), "empty domain or NUL in it");
    ASSERT_STR_EQ(socks5_udp_err_text(0), "truncated header");
}

TEST(write_from_ipv4_is_ten_bytes_rsv_frag_zero)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
    const uint8_t want[] = {0, 0, 0, 1, 10, 1, 2, 3, 0x14, 0xe9};
    uint8_t out[SOCKS5_UDP_HDR_IP_MAX];

    inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
    ASSERT_EQ(socks5_udp_write_from(out, (struct sockaddr *)&sin), 10);
    ASSERT_MEM_EQ(out, want, sizeof(want));
}

TEST(write_from_ipv6_is_twenty_two_bytes)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
    uint8_t out[SOCKS5_UDP_HDR_IP_MAX];

    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    ASSERT_EQ(socks5_udp_write_from(out, (struct sockaddr *)&sin6), 22);
    ASSERT_MEM_EQ(out, v6_hdr, 22);
}

TEST(write_from_v4_mapped_ipv6_is_the_ipv4)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    uint8_t out[SOCKS5_UDP_HDR_IP_MAX];

    inet_pton(AF_INET6, "::ffff:192.0.2.10", &sin6.sin6_addr);
    ASSERT_EQ(socks5_udp_write_from(out, (struct sockaddr *)&sin6), 10);
    ASSERT_MEM_EQ(out, v4_hdr, 10);
}

TEST(write_from_unknown_family_is_zero_ipv4)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNIX};
    const uint8_t want[10] = {0, 0, 0, 1};
    uint8_t out[SOCKS5_UDP_HDR_IP_MAX];

    ASSERT_EQ(socks5_udp_write_from(out, (struct sockaddr *)&ss), 10);
    ASSERT_MEM_EQ(out, want, 10);
}

TEST(write_target_round_trips_through_the_parser_for_each_atyp)
{
    struct target in[3] = {{.type = TARGET_IPV4, .port = 1, .addr = {127, 0, 0, 2}},
                           {.type = TARGET_IPV6, .port = 65535, .addr = {[15] = 1}},
                           {.type = TARGET_DOMAIN, .port = 53, .host = "example.test"}};
    uint8_t out[SOCKS5_UDP_HDR_MAX];

    for (size_t i = 0; i < 3; i++) {
        struct target back;
        size_t n = socks5_udp_write_target(out, &in[i]), consumed = 0;
        int why = WHY_UNSET;

        ASSERT_EQ(n, i == 0 ? 10 : i == 1 ? 22 : 4 + 1 + 12 + 2);
        ASSERT_EQ(parse(out, n, &consumed, &back, &why), PARSE_DONE);
        ASSERT_EQ(consumed, n);
        ASSERT_EQ(back.type, in[i].type);
        ASSERT_EQ(back.port, in[i].port);
        if (in[i].type == TARGET_DOMAIN)
            ASSERT_STR_EQ(back.host, in[i].host);
        else
            ASSERT_MEM_EQ(back.addr, in[i].addr, in[i].type == TARGET_IPV4 ? 4 : 16);
    }
}

int
main(void)
{
    RUN(ipv4_header_parses_to_done_with_address_port_and_length_10);
    RUN(ipv6_header_parses_to_done_with_length_22_and_empty_payload);
    RUN(domain_header_parses_to_a_nul_terminated_name);
    RUN(domain_of_255_bytes_is_the_longest_header);
    RUN(every_strict_prefix_is_more_and_the_whole_header_is_done_for_each_atyp);
    RUN(out_is_untouched_unless_done);
    RUN(nonzero_rsv_is_error_at_the_byte_that_shows_it);
    RUN(nonzero_frag_is_error_frag_at_byte_3_for_every_value);
    RUN(frag_0x80_end_of_sequence_is_dropped_too);
    RUN(unknown_atyp_is_error_atyp_at_byte_4);
    RUN(empty_domain_is_error_at_its_length_byte);
    RUN(nul_inside_domain_is_error_once_the_nul_arrives);
    RUN(rsv_error_wins_over_frag_and_atyp);
    RUN(empty_datagram_is_more);
    RUN(error_texts_name_the_field);
    RUN(write_from_ipv4_is_ten_bytes_rsv_frag_zero);
    RUN(write_from_ipv6_is_twenty_two_bytes);
    RUN(write_from_v4_mapped_ipv6_is_the_ipv4);
    RUN(write_from_unknown_family_is_zero_ipv4);
    RUN(write_target_round_trips_through_the_parser_for_each_atyp);
    UNIT_MAIN_END("socks5_udp");
}
