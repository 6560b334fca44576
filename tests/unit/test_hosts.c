/* The pure parts of per-link DNS: the hosts file (src/net/hosts.c), the -dns value and
 * the search list (src/net/dns_resolver.c). */
#include "os.h" /* sockets and addresses on every platform */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dns_resolver.h"
#include "hosts.h"
#include "unit.h"

static const char hosts_text[] = "# comment line\n"
                                 "127.0.0.1\tlocalhost\n"
                                 "192.0.2.10  Printer.LAN printer   # trailing comment\n"
                                 "2001:db8::10 printer.lan\n"
                                 "192.0.2.11 printer.lan\n"
                                 "not-an-address ghost.lan\n"
                                 "fe80::1%eth0 scoped.lan\n"
                                 "192.0.2.12\n"
                                 "\n"
                                 "192.0.2.13 last.lan.";

TEST(hosts_finds_names_case_blind_in_file_order_ipv4_first)
{
    struct hosts *h = hosts_parse(hosts_text, sizeof(hosts_text) - 1);
    struct dns_addr a[8];

    ASSERT(h != NULL);
    ASSERT_EQ(hosts_lookup(h, "PRINTER.lan.", AF_UNSPEC, a, 8), 3);
    ASSERT_EQ(a[0].family, AF_INET);
    ASSERT_MEM_EQ(a[0].addr, ((const uint8_t[]){192, 0, 2, 10}), 4);
    ASSERT_MEM_EQ(a[1].addr, ((const uint8_t[]){192, 0, 2, 11}), 4);
    ASSERT_EQ(a[2].family, AF_INET6);
    ASSERT_EQ(a[2].addr[0], 0x20);
    ASSERT_EQ(a[2].addr[15], 0x10);
    ASSERT_EQ(hosts_lookup(h, "printer.lan", AF_INET6, a, 8), 1);
    ASSERT_EQ(hosts_lookup(h, "printer.lan", AF_INET, a, 1), 1); /* max respected */
    ASSERT_EQ(hosts_lookup(h, "printer", AF_INET, a, 8), 1);
    ASSERT_EQ(hosts_lookup(h, "last.lan", AF_INET, a, 8), 1);
    ASSERT_EQ(hosts_lookup(h, "scoped.lan", AF_INET6, a, 8), 1);
    hosts_free(h);
}

TEST(hosts_skips_bad_lines_and_knows_nothing_else)
{
    struct hosts *h = hosts_parse(hosts_text, sizeof(hosts_text) - 1);
    struct dns_addr a[8];

    ASSERT(h != NULL);
    ASSERT_EQ(hosts_count(h), 7); /* localhost, Printer.LAN, printer, printer.lan x2, ... */
    ASSERT_EQ(hosts_lookup(h, "ghost.lan", AF_UNSPEC, a, 8), 0);
    ASSERT_EQ(hosts_lookup(h, "192.0.2.12", AF_UNSPEC, a, 8), 0);
    ASSERT_EQ(hosts_lookup(h, "printer.lan.x", AF_UNSPEC, a, 8), 0);
    ASSERT_EQ(hosts_lookup(h, "", AF_UNSPEC, a, 8), 0);
    hosts_free(h);
}

TEST(localhost_is_loopback_whatever_the_file_says)
{
    static const char evil[] = "203.0.113.9 localhost foo.localhost\n";
    struct hosts *h = hosts_parse(evil, sizeof(evil) - 1);
    struct dns_addr a[8];

    ASSERT(h != NULL);
    ASSERT_EQ(hosts_lookup(h, "localhost", AF_UNSPEC, a, 8), 2);
    ASSERT_MEM_EQ(a[0].addr, ((const uint8_t[]){127, 0, 0, 1}), 4);
    ASSERT_EQ(a[1].family, AF_INET6);
    ASSERT_EQ(a[1].addr[15], 1);
    ASSERT_EQ(hosts_lookup(h, "Foo.LocalHost.", AF_INET, a, 8), 1);
    ASSERT_MEM_EQ(a[0].addr, ((const uint8_t[]){127, 0, 0, 1}), 4);
    ASSERT_EQ(hosts_lookup(NULL, "localhost", AF_INET6, a, 8), 1);
    ASSERT(hosts_is_localhost("a.b.localhost"));
    ASSERT(!hosts_is_localhost("localhost.example"));
    ASSERT(!hosts_is_localhost("notlocalhost"));
    hosts_free(h);
}

TEST(hosts_load_of_a_missing_file_is_empty)
{
    struct hosts *h = hosts_load("/nonexistent/hosts");

    ASSERT(h != NULL);
    ASSERT_EQ(hosts_count(h), 0);
    hosts_free(h);
}

TEST(dns_value_system_and_lists)
{
    struct dns_server_spec s[DNS_SPEC_MAX];
    char err[200];
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)&s[0].addr;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)&s[2].addr;

    ASSERT_EQ(dns_parse_servers("system", s, DNS_SPEC_MAX, err, sizeof(err)), 0);
    ASSERT_EQ(dns_parse_servers("10.0.0.53,wan2=192.0.2.53:5353,[2001:db8::53]:54", s, DNS_SPEC_MAX,
                                err, sizeof(err)),
              3);
    ASSERT_EQ(s[0].link[0], '\0');
    ASSERT_EQ(v4->sin_family, AF_INET);
    ASSERT_EQ(ntohs(v4->sin_port), 53);
    ASSERT_STR_EQ(s[1].link, "wan2");
    ASSERT_EQ(ntohs(((const struct sockaddr_in *)(const void *)&s[1].addr)->sin_port), 5353);
    ASSERT_EQ(v6->sin6_family, AF_INET6);
    ASSERT_EQ(ntohs(v6->sin6_port), 54);
    ASSERT_EQ(dns_parse_servers("wan1=2001:db8::1", s, DNS_SPEC_MAX, err, sizeof(err)), 1);
    ASSERT_EQ(s[0].addr.ss_family, AF_INET6);
    ASSERT_EQ(ntohs(((const struct sockaddr_in6 *)(const void *)&s[0].addr)->sin6_port), 53);
}

TEST(dns_value_errors_name_the_problem)
{
    struct dns_server_spec s[2];
    char err[200];
    const char *bad[] = {"",
                         "10.0.0.1,",
                         ",10.0.0.1",
                         "dns.example",
                         "10.0.0.1:0",
                         "10.0.0.1:65536",
                         "=10.0.0.1",
                         "[2001:db8::1",
                         "[2001:db8::1]x",
                         "wan2=",
                         "10.0.0.1:53:53"};

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        if (dns_parse_servers(bad[i], s, 2, err, sizeof(err)) != -1)
            UNIT_FAIL("accepted \"%s\"", bad[i]);
        ASSERT(strncmp(err, "-dns: ", 6) == 0);
        ASSERT(strchr(err, '\n') == NULL);
    }
    ASSERT_EQ(dns_parse_servers("1.1.1.1,1.0.0.1,8.8.8.8", s, 2, err, sizeof(err)), -1);
    ASSERT(strstr(err, "more than 2") != NULL);
}

/* Wire name -> text, for readable assertions. */
static const char *
text_of(const uint8_t *w, char *out)
{
    size_t n = 0;

    while (*w != 0) {
        if (n > 0)
            out[n++] = '.';
        memcpy(out + n, w + 1, *w);
        n += *w;
        w += 1 + *w;
    }
    out[n] = '\0';
    return out;
}

TEST(search_list_as_the_system_applies_it)
{
    char search[DNS_SEARCH_MAX][DNS_NAME_WIRE_MAX] = {"corp.example", "example"};
    uint8_t c[DNS_CANDIDATES_MAX][DNS_NAME_WIRE_MAX];
    char t[300];

    /* Fewer dots than ndots (1): the search domains first, the name last. */
    ASSERT_EQ(dns_candidates("intranet", (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 1, c), 3);
    ASSERT_STR_EQ(text_of(c[0], t), "intranet.corp.example");
    ASSERT_STR_EQ(text_of(c[1], t), "intranet.example");
    ASSERT_STR_EQ(text_of(c[2], t), "intranet");
    /* Enough dots: the name first. */
    ASSERT_EQ(dns_candidates("www.example.org", (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 1, c),
              3);
    ASSERT_STR_EQ(text_of(c[0], t), "www.example.org");
    ASSERT_STR_EQ(text_of(c[1], t), "www.example.org.corp.example");
    /* ndots 5 (Kubernetes): a name with 2 dots searches first. */
    ASSERT_EQ(dns_candidates("a.b.c", (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 5, c), 3);
    ASSERT_STR_EQ(text_of(c[2], t), "a.b.c");
    /* A final dot: the name alone. */
    ASSERT_EQ(dns_candidates("intranet.", (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 1, c), 1);
    ASSERT_STR_EQ(text_of(c[0], t), "intranet");
    /* No search list; an invalid name gives nothing. */
    ASSERT_EQ(dns_candidates("intranet", (const char(*)[DNS_NAME_WIRE_MAX])search, 0, 1, c), 1);
    ASSERT_EQ(dns_candidates("a..b", (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 1, c), 0);
}

TEST(search_candidates_too_long_are_left_out)
{
    char search[DNS_SEARCH_MAX][DNS_NAME_WIRE_MAX];
    uint8_t c[DNS_CANDIDATES_MAX][DNS_NAME_WIRE_MAX];
    char name[200];

    memset(search, 0, sizeof(search));
    /* A 120-byte domain: with the 149-byte name it is over 255 bytes. */
    for (int i = 0; i < 120; i++)
        search[0][i] = (i + 1) % 60 == 0 ? '.' : 'd';
    memcpy(search[1], "ok", 3);
    for (int i = 0; i < 149; i++)
        name[i] = (i + 1) % 50 == 0 ? '.' : 'n';
    name[149] = '\0';
    ASSERT_EQ(dns_candidates(name, (const char(*)[DNS_NAME_WIRE_MAX])search, 2, 1, c), 2);
}

int
main(void)
{
    RUN(hosts_finds_names_case_blind_in_file_order_ipv4_first);
    RUN(hosts_skips_bad_lines_and_knows_nothing_else);
    RUN(localhost_is_loopback_whatever_the_file_says);
    RUN(hosts_load_of_a_missing_file_is_empty);
    RUN(dns_value_system_and_lists);
    RUN(dns_value_errors_name_the_problem);
    RUN(search_list_as_the_system_applies_it);
    RUN(search_candidates_too_long_are_left_out);
    UNIT_MAIN_END("hosts");
}
