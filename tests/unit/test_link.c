/* Links: LINK[@RATIO] parsing, resolving a link on this host (loopback only), refresh,
 * backoff; and the iface helpers behind them. Looks at interfaces, sends nothing. */
#include "os.h" /* sockets and addresses on every platform */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iface.h"
#include "link.h"
#include "log.h"
#include "unit.h"

static char err[256];

/* Parses spec, expecting success. */
#define PARSE_OK(spec, out)                                                                        \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        if (link_parse_spec((spec), (out), err, sizeof(err)) != 0)                                 \
            UNIT_FAIL("link_parse_spec(\"%s\") failed: %s", (spec), err);                          \
    } while (0)

/* Parses spec, expecting failure with exactly message. */
#define PARSE_ERR(spec, message)                                                                   \
    do {                                                                                           \
        struct link_spec parse_err_spec_;                                                          \
        err[0] = '\0';                                                                             \
        if (link_parse_spec((spec), &parse_err_spec_, err, sizeof(err)) != -1)                     \
            UNIT_FAIL("link_parse_spec(\"%s\") accepted", (spec));                                 \
        ASSERT_STR_EQ(err, (message));                                                             \
    } while (0)

static int
is_v4(const struct link_spec *s, const char *text, unsigned ratio)
{
    struct in_addr a;

    return s->kind == LINK_ADDR4 && inet_pton(AF_INET, text, &a) == 1 &&
           memcmp(&a, &s->addr4, sizeof(a)) == 0 && s->ratio == ratio;
}

static int
is_v6(const struct link_spec *s, const char *text, unsigned ratio)
{
    struct in6_addr a;

    return s->kind == LINK_ADDR6 && inet_pton(AF_INET6, text, &a) == 1 &&
           memcmp(&a, &s->addr6, sizeof(a)) == 0 && s->ratio == ratio;
}

static int
is_iface(const struct link_spec *s, const char *name, unsigned ratio)
{
    return s->kind == LINK_IFACE && strcmp(s->name, name) == 0 && s->ratio == ratio;
}

/* ---- link_parse_spec: valid forms ---- */

TEST(parse_ipv4_without_ratio_defaults_to_1)
{
    struct link_spec s;

    PARSE_OK("10.201.1.2", &s);
    ASSERT(is_v4(&s, "10.201.1.2", 1));
}

TEST(parse_ipv4_with_ratio)
{
    struct link_spec s;

    PARSE_OK("192.168.1.2@3", &s);
    ASSERT(is_v4(&s, "192.168.1.2", 3));
}

TEST(parse_ipv6_bare)
{
    struct link_spec s;

    PARSE_OK("fd01::2", &s);
    ASSERT(is_v6(&s, "fd01::2", 1));
    PARSE_OK("::1", &s);
    ASSERT(is_v6(&s, "::1", 1));
    PARSE_OK("2001:db8:0:0:0:0:0:1", &s);
    ASSERT(is_v6(&s, "2001:db8::1", 1));
}

TEST(parse_ipv6_bare_with_ratio)
{
    struct link_spec s;

    PARSE_OK("fd01::2@3", &s);
    ASSERT(is_v6(&s, "fd01::2", 3));
}

TEST(parse_ipv6_bracketed)
{
    struct link_spec s;

    PARSE_OK("[fd01::2]@3", &s);
    ASSERT(is_v6(&s, "fd01::2", 3));
    PARSE_OK("[fd01::2]", &s);
    ASSERT(is_v6(&s, "fd01::2", 1));
    PARSE_OK("[::1]@1000", &s);
    ASSERT(is_v6(&s, "::1", 1000));
}

TEST(parse_interface_names)
{
    struct link_spec s;

    PARSE_OK("eth0", &s);
    ASSERT(is_iface(&s, "eth0", 1));
    PARSE_OK("wlan0@2", &s);
    ASSERT(is_iface(&s, "wlan0", 2));
    PARSE_OK("lo", &s);
    ASSERT(is_iface(&s, "lo", 1));
    PARSE_OK("br-lan.10_x", &s);
    ASSERT(is_iface(&s, "br-lan.10_x", 1));
    PARSE_OK("eth0:1@4", &s); /* IPv4 alias label */
    ASSERT(is_iface(&s, "eth0:1", 4));
    PARSE_OK("abcdefghijklmno", &s); /* 15 characters: the longest name */
    ASSERT(is_iface(&s, "abcdefghijklmno", 1));
    PARSE_OK("ppp0@1000", &s);
    ASSERT(is_iface(&s, "ppp0", 1000));
}

TEST(parse_ratio_bounds_and_leading_zeros)
{
    struct link_spec s;

    PARSE_OK("eth0@1", &s);
    ASSERT_EQ(s.ratio, 1);
    PARSE_OK("eth0@1000", &s);
    ASSERT_EQ(s.ratio, 1000);
    PARSE_OK("eth0@007", &s);
    ASSERT_EQ(s.ratio, 7);
}

/* ---- link_parse_spec: invalid forms ---- */

TEST(parse_rejects_bad_ratios)
{
    PARSE_ERR("eth0@", "ratio \"\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@0", "ratio \"0\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@-1", "ratio \"-1\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@+3", "ratio \"+3\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@ 3", "ratio \" 3\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@3 ", "ratio \"3 \" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@3x", "ratio \"3x\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@3.0", "ratio \"3.0\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@0x10", "ratio \"0x10\" must be an integer from 1 to 1000");
    PARSE_ERR("eth0@1001", "ratio \"1001\" must be an integer from 1 to 1000");
    PARSE_ERR("10.0.0.1@4294967297", "ratio \"4294967297\" must be an integer from 1 to 1000");
    PARSE_ERR("10.0.0.1@99999999999999999999999",
              "ratio \"99999999999999999999999\" must be an integer from 1 to 1000");
    PARSE_ERR("[fd01::2]@", "ratio \"\" must be an integer from 1 to 1000");
}

TEST(parse_rejects_empty_link)
{
    PARSE_ERR("", "\"\" is not an IP address or interface name");
    PARSE_ERR("@3", "\"\" is not an IP address or interface name");
}

TEST(parse_rejects_bad_interface_names)
{
    {
        /* Windows friendly names run longer than Linux's 15: the limit is the seam's. */
        char name[OS_IFNAME_MAX + 1], want[64];
        struct link_spec spec;

        memset(name, 'a', OS_IFNAME_MAX);
        name[OS_IFNAME_MAX] = '\0';
        snprintf(want, sizeof(want), "\" is longer than %d characters", OS_IFNAME_MAX - 1);
        ASSERT_EQ(link_parse_spec(name, &spec, err, sizeof(err)), -1);
        ASSERT(strncmp(err, "interface name \"aaaa", 20) == 0);
        ASSERT(strstr(err, want) != NULL);
    }
    PARSE_ERR("eth/0", "unknown link option \"/0\" (LINK[@RATIO][/dns=ADDR[,ADDR]])");
    PARSE_ERR(" eth0", "\" eth0\" is not an IP address or interface name");
    PARSE_ERR("Wi-Fi 2 @3", "\"Wi-Fi 2 \" is not an IP address or interface name");
    PARSE_ERR("Wi-Fi\n2", "\"Wi-Fi\\x0a2\" is not an IP address or interface name");
    PARSE_ERR("Wi\"Fi", "\"Wi\\\"Fi\" is not an IP address or interface name");
    PARSE_ERR("eth0\t", "\"eth0\\x09\" is not an IP address or interface name");
    PARSE_ERR("eth0%1", "\"eth0%1\" is not an IP address or interface name");
    PARSE_ERR("a@b@3", "\"a@b\" is not an IP address or interface name");
    PARSE_ERR(".", "\".\" is not an IP address or interface name");
    PARSE_ERR("..", "\"..\" is not an IP address or interface name");
    PARSE_ERR(":0", "\":0\" is not an IP address or interface name");
}

/* Windows adapters go by friendly names: spaces, parentheses, localized letters. */
TEST(parse_accepts_windows_friendly_names)
{
    static const char *const names[] = {
        "Wi-Fi 2",
        "Ethernet 3",
        "vEthernet (Default Switch)",
        "Local Area Connection* 10",
        "Bluetooth Network Connection",
        "Подключение по локальной сети",
        "WLAN",
    };
    struct link_spec s;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char spec[160];

        snprintf(spec, sizeof(spec), "%s@3", names[i]);
        PARSE_OK(spec, &s);
        ASSERT_EQ(s.kind, LINK_IFACE);
        ASSERT_STR_EQ(s.name, names[i]);
        ASSERT_EQ(s.ratio, 3);
    }
}

TEST(parse_rejects_bad_addresses)
{
    PARSE_ERR("10.0.0.256", "\"10.0.0.256\" is not a valid IPv4 address");
    PARSE_ERR("10.0.0", "\"10.0.0\" is not a valid IPv4 address");
    PARSE_ERR("10.0.0.1.", "\"10.0.0.1.\" is not a valid IPv4 address");
    PARSE_ERR("fd01::zz", "\"fd01::zz\" is not a valid IPv6 address");
    PARSE_ERR("fd01:::2", "\"fd01:::2\" is not a valid IPv6 address");
    PARSE_ERR("fe80::1%eth0", "\"fe80::1%eth0\" is not a valid IPv6 address");
    PARSE_ERR("[fd01::2", "\"[fd01::2\" is not a bracketed IPv6 address");
    PARSE_ERR("[fd01::2]x", "\"[fd01::2]x\" is not a bracketed IPv6 address");
    PARSE_ERR("[]", "\"[]\" is not a bracketed IPv6 address");
    PARSE_ERR("[10.0.0.1]", "\"[10.0.0.1]\" is not a bracketed IPv6 address");
    PARSE_ERR("[eth0]@2", "\"[eth0]\" is not a bracketed IPv6 address");
}

TEST(parse_error_escapes_control_characters)
{
    PARSE_ERR("eth\x01\"", "\"eth\\x01\\\"\" is not an IP address or interface name");
    PARSE_ERR("eth0@\n", "ratio \"\\x0a\" must be an integer from 1 to 1000");
    ASSERT(strchr(err, '\n') == NULL);
}

TEST(parse_error_fits_a_small_buffer)
{
    struct link_spec s;
    char small[16];

    ASSERT_EQ(link_parse_spec("eth0@0", &s, small, sizeof(small)), -1);
    ASSERT_EQ(strlen(small), sizeof(small) - 1);
}

/* ---- link_init ---- */

static unsigned
lo_index(void)
{
    return os_if_index("lo");
}

TEST(init_127_0_0_1_is_on_lo)
{
    struct link_spec s;
    struct link l;
    struct in_addr a;

    PARSE_OK("127.0.0.1@2", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_STR_EQ(l.ifname, "lo");
    ASSERT_EQ(l.ifindex, lo_index());
    ASSERT_STR_EQ(l.label, "127.0.0.1");
    ASSERT_EQ(l.has_v4, 1);
    ASSERT_EQ(l.has_v6, 0);
    ASSERT_EQ(l.src4.sin_family, AF_INET);
    ASSERT_EQ(l.src4.sin_port, 0);
    inet_pton(AF_INET, "127.0.0.1", &a);
    ASSERT_EQ(l.src4.sin_addr.s_addr, a.s_addr);
    ASSERT_EQ(l.spec.ratio, 2);
    ASSERT_EQ(atomic_load(&l.fail_streak), 0);
    ASSERT_EQ(atomic_load(&l.n_connections), 0);
}

TEST(init_127_0_0_5_is_on_lo)
{
    struct link_spec s;
    struct link l;
    struct in_addr a;

    PARSE_OK("127.0.0.5", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_STR_EQ(l.ifname, "lo");
    ASSERT_EQ(l.ifindex, lo_index());
    ASSERT_STR_EQ(l.label, "127.0.0.5");
    inet_pton(AF_INET, "127.0.0.5", &a);
    ASSERT_EQ(l.src4.sin_addr.s_addr, a.s_addr);
    ASSERT_EQ(link_refresh(&l, AF_INET, 0), 0);
}

TEST(init_ipv6_loopback_is_on_lo)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("[::1]@3", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_STR_EQ(l.ifname, "lo");
    ASSERT_EQ(l.ifindex, lo_index());
    ASSERT_STR_EQ(l.label, "::1");
    ASSERT_EQ(l.has_v4, 0);
    ASSERT_EQ(l.has_v6, 1);
    ASSERT_EQ(l.src6.sin6_family, AF_INET6);
    ASSERT_EQ(l.src6.sin6_port, 0);
    ASSERT(IN6_IS_ADDR_LOOPBACK(&l.src6.sin6_addr));
}

TEST(init_interface_lo)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("lo", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_STR_EQ(l.ifname, "lo");
    ASSERT_STR_EQ(l.label, "lo");
    ASSERT_EQ(l.ifindex, lo_index());
    ASSERT_EQ(l.has_v4, 1);
    ASSERT_EQ(l.src4.sin_family, AF_INET);
    ASSERT_EQ(l.src4.sin_port, 0);
    ASSERT_EQ(ntohl(l.src4.sin_addr.s_addr) >> 24, 127);
    if (l.has_v6)
        ASSERT(IN6_IS_ADDR_LOOPBACK(&l.src6.sin6_addr));
}

TEST(init_rejects_address_not_on_this_host)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("192.0.2.1", &s); /* TEST-NET-1: looked up, never sent to */
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), -1);
    ASSERT_STR_EQ(err, "192.0.2.1 is not an address of any interface on this host");
    PARSE_OK("[2001:db8::1]", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), -1);
    ASSERT_STR_EQ(err, "2001:db8::1 is not an address of any interface on this host");
}

TEST(init_rejects_unknown_interface)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("nosuchif0@2", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), -1);
    ASSERT_STR_EQ(err, "no interface named nosuchif0");
}

/* ---- link_refresh ---- */

TEST(refresh_interface_link_follows_family)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("lo", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET, 0), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET6, 0), l.has_v6 ? 0 : -1);
    ASSERT_EQ(l.has_v4, 1);
    ASSERT_EQ(ntohl(l.src4.sin_addr.s_addr) >> 24, 127);
}

TEST(refresh_address_link_checks_family_and_presence)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("127.0.0.1", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET, 0), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET6, 0), -1);

    PARSE_OK("::1", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET6, 0), 0);
    ASSERT_EQ(link_refresh(&l, AF_INET, 0), -1);

    /* An address that went away: simulated by pointing the spec elsewhere. */
    inet_pton(AF_INET6, "2001:db8::1", &l.spec.addr6);
    ASSERT_EQ(link_refresh(&l, AF_INET6, 0), -1);
}

TEST(refresh_fails_when_interface_is_gone)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("lo", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    snprintf(l.spec.name, sizeof(l.spec.name), "nosuchif0"); /* as if it was removed */
    ASSERT_EQ(link_refresh(&l, AF_INET, 0), -1);
    ASSERT_EQ(link_refresh(&l, AF_UNSPEC, 0), -1);
}

/* ---- health ---- */

TEST(backoff_doubles_from_1s_to_30s)
{
    static const uint64_t expect_ms[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    struct link_spec s;
    struct link l;
    uint64_t now = 5000000;

    PARSE_OK("lo", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    ASSERT_EQ(link_is_backed_off(&l, now), 0);
    for (unsigned i = 0; i < sizeof(expect_ms) / sizeof(expect_ms[0]); i++) {
        link_note_failure(&l, ENETUNREACH, now);
        ASSERT_EQ(atomic_load(&l.fail_streak), i + 1);
        ASSERT_EQ(atomic_load(&l.skip_until_ms), now + expect_ms[i]);
        ASSERT_EQ(link_is_backed_off(&l, now + expect_ms[i] - 1), 1);
        ASSERT_EQ(link_is_backed_off(&l, now + expect_ms[i]), 0);
    }
    ASSERT_EQ(atomic_load(&l.n_failures), 0); /* counting is the dialer's */
}

TEST(success_clears_backoff)
{
    struct link_spec s;
    struct link l;

    PARSE_OK("lo", &s);
    ASSERT_EQ(link_init(&l, &s, err, sizeof(err)), 0);
    link_note_failure(&l, ENETUNREACH, 1000);
    link_note_failure(&l, ENETUNREACH, 1000);
    ASSERT_EQ(link_is_backed_off(&l, 1500), 1);
    link_note_success(&l, 0);
    ASSERT_EQ(link_is_backed_off(&l, 1500), 0);
    ASSERT_EQ(atomic_load(&l.fail_streak), 0);
    ASSERT_EQ(atomic_load(&l.skip_until_ms), 0);
    link_note_failure(&l, ENETUNREACH, 1000); /* the streak starts over at 1 s */
    ASSERT_EQ(atomic_load(&l.skip_until_ms), 2000);
}

/* ---- iface ---- */

TEST(iface_find_addr_finds_loopback)
{
    struct in_addr a4;
    char name[OS_IFNAME_MAX];
    unsigned index = 0;

    inet_pton(AF_INET, "127.0.0.1", &a4);
    ASSERT_EQ(iface_find_addr(AF_INET, &a4, name, &index), 0);
    ASSERT_STR_EQ(name, "lo");
    ASSERT_EQ(index, lo_index());
    inet_pton(AF_INET, "127.255.255.254", &a4);
    ASSERT_EQ(iface_find_addr(AF_INET, &a4, name, &index), 0);
    ASSERT_STR_EQ(name, "lo");
    inet_pton(AF_INET, "192.0.2.1", &a4);
    ASSERT_EQ(iface_find_addr(AF_INET, &a4, name, &index), -1);
    ASSERT_EQ(iface_find_addr(AF_UNIX, &a4, name, &index), -1);
}

TEST(iface_list_prints_header_and_lo)
{
    /* A temporary file, not open_memstream: the Windows C library has none. */
    FILE *f = tmpfile();
    char *buf = calloc(1, 65536);
    size_t len;

    ASSERT(f != NULL && buf != NULL);
    ASSERT_EQ(iface_list(f), 0);
    rewind(f);
    len = fread(buf, 1, 65535, f);
    fclose(f);
    buf[len] = '\0';
    ASSERT(strncmp(buf, "--- Listing the available addresses for dispatching\n", 52) == 0);
    if (strstr(buf, "\n[+] lo (up), IPv4: 127.0.0.1") == NULL) {
        printf("%s", buf);
        free(buf);
        UNIT_FAIL("no line for lo");
    }
    free(buf);
}

TEST(default_route_ifaces_never_lists_loopback)
{
    char names[LINK_MAX][OS_IFNAME_MAX];
    int n = iface_default_route_ifaces(names, LINK_MAX);

    ASSERT(n >= 0 && n <= LINK_MAX);
    for (int i = 0; i < n; i++) {
        ASSERT(strcmp(names[i], "lo") != 0);
        ASSERT(os_if_index(names[i]) != 0);
        if (i > 0)
            ASSERT(os_if_index(names[i - 1]) < os_if_index(names[i]));
    }
    ASSERT_EQ(iface_default_route_ifaces(names, 0), 0);
}

TEST(parse_dns_option_gives_the_links_own_servers)
{
    struct link_spec spec;

    PARSE_OK("wan1@3/dns=10.0.0.53,[2001:db8::53]:5353", &spec);
    ASSERT_EQ(spec.kind, LINK_IFACE);
    ASSERT_STR_EQ(spec.name, "wan1");
    ASSERT_EQ(spec.ratio, 3);
    ASSERT_STR_EQ(spec.dns, "10.0.0.53,[2001:db8::53]:5353");
    PARSE_OK("192.168.1.2/dns=192.168.1.1:53", &spec);
    ASSERT_EQ(spec.kind, LINK_ADDR4);
    ASSERT_EQ(spec.ratio, 1);
    ASSERT_STR_EQ(spec.dns, "192.168.1.1:53");
    PARSE_OK("[fe80::1]@2/dns=fe80::53", &spec);
    ASSERT_EQ(spec.kind, LINK_ADDR6);
    ASSERT_EQ(spec.ratio, 2);
    ASSERT_STR_EQ(spec.dns, "fe80::53");
    PARSE_OK("Wi-Fi 2@3/dns=10.0.0.1", &spec); /* a friendly name with a space */
    ASSERT_STR_EQ(spec.name, "Wi-Fi 2");
    PARSE_OK("eth0", &spec);
    ASSERT_STR_EQ(spec.dns, "");
}

/* A bad "/dns=" value: the message quotes it and says what is expected. */
#define DNS_ERR(spec, value)                                                                       \
    PARSE_ERR((spec), "/dns=" value ": give this link's name servers, 1 to 4 of IP, IPv4:PORT "    \
                      "or [IPv6]:PORT, comma-separated")

TEST(parse_dns_option_errors_name_the_problem)
{
    DNS_ERR("wan1/dns=", "");
    DNS_ERR("wan1/dns=nope", "nope");
    DNS_ERR("wan1/dns=wan2=10.0.0.1", "wan2=10.0.0.1"); /* no LINK= here: the link is this one */
    DNS_ERR("wan1/dns=system", "system");
    DNS_ERR("wan1/dns=10.0.0.1,,10.0.0.2", "10.0.0.1,,10.0.0.2");
    DNS_ERR("wan1/dns=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5",
            "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5"); /* 5 > 4 */
    DNS_ERR("wan1/dns=10.0.0.1@3", "10.0.0.1@3");       /* the ratio comes before */
    DNS_ERR("wan1/dns=10.0.0.1/dns=10.0.0.2", "10.0.0.1/dns=10.0.0.2");
    PARSE_ERR("wan1/via=eth0",
              "unknown link option \"/via=eth0\" (LINK[@RATIO][/dns=ADDR[,ADDR]])");
}

int
main(void)
{
    log_threshold = LOG_ERROR; /* link transitions log */
    RUN(parse_ipv4_without_ratio_defaults_to_1);
    RUN(parse_dns_option_gives_the_links_own_servers);
    RUN(parse_dns_option_errors_name_the_problem);
    RUN(parse_ipv4_with_ratio);
    RUN(parse_ipv6_bare);
    RUN(parse_ipv6_bare_with_ratio);
    RUN(parse_ipv6_bracketed);
    RUN(parse_interface_names);
    RUN(parse_ratio_bounds_and_leading_zeros);
    RUN(parse_rejects_bad_ratios);
    RUN(parse_rejects_empty_link);
    RUN(parse_rejects_bad_interface_names);
    RUN(parse_accepts_windows_friendly_names);
    RUN(parse_rejects_bad_addresses);
    RUN(parse_error_escapes_control_characters);
    RUN(parse_error_fits_a_small_buffer);
    RUN(init_127_0_0_1_is_on_lo);
    RUN(init_127_0_0_5_is_on_lo);
    RUN(init_ipv6_loopback_is_on_lo);
    RUN(init_interface_lo);
    RUN(init_rejects_address_not_on_this_host);
    RUN(init_rejects_unknown_interface);
    RUN(refresh_interface_link_follows_family);
    RUN(refresh_address_link_checks_family_and_presence);
    RUN(refresh_fails_when_interface_is_gone);
    RUN(backoff_doubles_from_1s_to_30s);
    RUN(success_clears_backoff);
    RUN(iface_find_addr_finds_loopback);
    RUN(iface_list_prints_header_and_lo);
    RUN(default_route_ifaces_never_lists_loopback);
    UNIT_MAIN_END("link");
}
