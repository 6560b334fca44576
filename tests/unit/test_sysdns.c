/* The system's per-link DNS server lists, parsed without I/O: systemd-resolved's SERVERS=
 * line (src/proto/resolved.c: every spelling resolved writes, the lines around it, entries
 * that must be skipped rather than misread) and macOS's `scutil --dns` (src/proto/scutil.c:
 * one interface's scoped resolvers, in output shaped as macOS prints it, and the lines
 * that must not be taken for them). Each parse gets an exact-size heap copy without a
 * final NUL, so a SAN=1 build catches a read past the text. */
#include "os.h"
#include <stdlib.h>
#include <string.h>

#include "resolved.h"
#include "scutil.h"
#include "unit.h"

/* The state-file parser for key (ifindex < 0) or scutil's for ifindex, on a copy of text. */
static int
parse_as(const char *text, const char *key, long ifindex, struct sockaddr_storage *out, int max)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    int n;

    if (copy == NULL)
        abort();
    memcpy(copy, text, len);
    n = ifindex < 0 ? resolved_parse_servers(copy, len, key, out, max)
                    : scutil_scoped_servers(copy, len, (unsigned)ifindex, out, max);
    free(copy);
    return n;
}

static int
parse_resolved(const char *text, struct sockaddr_storage *out, int max)
{
    return parse_as(text, "SERVERS=", -1, out, max);
}

static int
parse_networkd(const char *text, struct sockaddr_storage *out, int max)
{
    return parse_as(text, "DNS=", -1, out, max);
}

static int
parse_scutil(const char *text, unsigned ifindex, struct sockaddr_storage *out, int max)
{
    return parse_as(text, NULL, (long)ifindex, out, max);
}

/* "addr port scope" of out[i], for one comparison per entry. */
static const char *
show(const struct sockaddr_storage *ss)
{
    static char buf[INET6_ADDRSTRLEN + 32];
    char a[INET6_ADDRSTRLEN];
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(buf, sizeof(buf), "%s %u", a, ntohs(s4->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(buf, sizeof(buf), "%s %u %%%u", a, ntohs(s6->sin6_port),
                 (unsigned)s6->sin6_scope_id);
    } else
        snprintf(buf, sizeof(buf), "family %d", ss->ss_family);
    return buf;
}

/* --- systemd-resolved --- */

TEST(servers_in_every_spelling_resolved_writes)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse_resolved("# This is private data. Do not parse.\n"
                             "LLMNR=yes\n"
                             "MDNS=no\n"
                             "SERVERS=10.0.0.1 10.0.0.2:5353 fe80::1%3 [2001:db8::1]:5353%7 "
                             "9.9.9.9#dns.quad9.net [2001:db8::2]:853#dot.example 2001:db8::3\n"
                             "DOMAINS=lan\n",
                             s, 8),
              6);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 5353");
    ASSERT_STR_EQ(show(&s[2]), "fe80::1 53 %3");
    ASSERT_STR_EQ(show(&s[3]), "2001:db8::1 5353 %7");
    ASSERT_STR_EQ(show(&s[4]), "9.9.9.9 53"); /* "#name" alone: resolved may ask it in clear */
    /* [2001:db8::2]:853 is left out: port 853 speaks only DNS-over-TLS. */
    ASSERT_STR_EQ(show(&s[5]), "2001:db8::3 53 %0");
}

TEST(networkds_dns_line_for_the_links_it_manages)
{
    struct sockaddr_storage s[8];
    static const char state[] = "# This is private data. Do not parse.\n"
                                "ADMIN_STATE=configured\n"
                                "OPER_STATE=routable\n"
                                "NETWORK_FILE=/etc/systemd/network/10-wan.network\n"
                                "DNS=192.168.1.1 fe80::1%2\n"
                                "NTP=\n"
                                "SERVERS=10.9.9.9\n";

    ASSERT_EQ(parse_networkd(state, s, 8), 2); /* its key only */
    ASSERT_STR_EQ(show(&s[0]), "192.168.1.1 53");
    ASSERT_STR_EQ(show(&s[1]), "fe80::1 53 %2");
    ASSERT_EQ(parse_networkd("NTP=10.0.0.1\nDNS=\n", s, 8), 0);
    ASSERT_EQ(parse_networkd("MDNS=10.0.0.1\n", s, 8), 0); /* a key ending in DNS= is not it */
}

TEST(dns_over_tls_only_links_have_no_servers_to_ask_in_clear)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse_resolved("DNSOVERTLS=yes\nSERVERS=10.0.0.1\n", s, 8), -1);
    ASSERT_EQ(parse_networkd("DNS_OVER_TLS=yes\r\nDNS=10.0.0.1\n", s, 8), -1);
    /* Opportunistic (or off) falls back to clear DNS: the servers stand. */
    ASSERT_EQ(parse_resolved("DNSOVERTLS=opportunistic\nSERVERS=10.0.0.1\n", s, 8), 1);
    ASSERT_EQ(parse_networkd("DNS_OVER_TLS=no\nDNS=10.0.0.1\n", s, 8), 1);
    ASSERT_EQ(parse_resolved("DNSOVERTLS=yesterday\nSERVERS=10.0.0.1\n", s, 8), 1);
}

TEST(ports_and_scopes_never_wrap)
{
    struct sockaddr_storage s[4];

    /* 2^32 + 10 and 2^64 + 53 must be refused, not taken as scope 10 or port 53, also where
     * long has 32 bits (mingw, armhf). */
    ASSERT_EQ(parse_resolved("SERVERS=fe80::1%4294967306 10.0.0.1:18446744073709551669\n", s, 4),
              0);
    ASSERT_EQ(parse_resolved("SERVERS=fe80::1%4294967295 10.0.0.1:65535\n", s, 4), 2);
    ASSERT_STR_EQ(show(&s[0]), "fe80::1 53 %4294967295");
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.1 65535");
    ASSERT_EQ(parse_scutil("DNS configuration (for scoped queries)\nresolver #1\n"
                           "  nameserver[0] : 10.0.0.1\n  port : 4294967349\n"
                           "  if_index : 4294967302 (en1)\n",
                           6, s, 4),
              0);
}

TEST(at_most_max_in_file_order)
{
    struct sockaddr_storage s[2];

    ASSERT_EQ(parse_resolved("SERVERS=10.0.0.1 10.0.0.2 10.0.0.3\n", s, 2), 2);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 53");
}

TEST(no_servers_line_or_an_empty_one_is_none)
{
    struct sockaddr_storage s[4];

    ASSERT_EQ(parse_resolved("", s, 4), 0);
    ASSERT_EQ(parse_resolved("LLMNR=yes\nDOMAINS=lan\n", s, 4), 0);
    ASSERT_EQ(parse_resolved("SERVERS=\n", s, 4), 0);
    ASSERT_EQ(parse_resolved("SERVERS=   \n", s, 4), 0);
    /* Only a line that starts with the key: not a value that mentions it. */
    ASSERT_EQ(parse_resolved("NTAS=SERVERS=10.0.0.1\n XSERVERS=10.0.0.2\n", s, 4), 0);
}

TEST(last_line_without_newline_and_crlf)
{
    struct sockaddr_storage s[4];

    ASSERT_EQ(parse_resolved("LLMNR=yes\nSERVERS=10.0.0.1 10.0.0.2", s, 4), 2);
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 53");
    ASSERT_EQ(parse_resolved("SERVERS=10.0.0.1\r\n", s, 4), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
}

TEST(entries_that_do_not_parse_are_skipped_not_misread)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse_resolved("SERVERS=bogus 10.0.0.1:0 10.0.0.1:65536 10.0.0.1:x [2001:db8::1] "
                             "[2001:db8::1]:99999 fe80::1%eth0 fe80::1% 300.0.0.1 10.0.0.9\n",
                             s, 8),
              1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.9 53");
    /* An IPv4 address has no scope. */
    ASSERT_EQ(parse_resolved("SERVERS=10.0.0.1%3\n", s, 8), 0);
}

TEST(an_entry_longer_than_any_address_is_skipped_whole)
{
    struct sockaddr_storage s[4];
    char text[400];

    memcpy(text, "SERVERS=", 8);
    memset(text + 8, '1', 300); /* no prefix of it may be read as an address */
    strcpy(text + 308, " 10.0.0.7\n");
    ASSERT_EQ(parse_resolved(text, s, 4), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.7 53");
}

/* --- scutil --dns --- */

static const char sample[] = "DNS configuration\n"
                             "\n"
                             "resolver #1\n"
                             "  search domain[0] : lan\n"
                             "  nameserver[0] : 192.168.1.1\n"
                             "  if_index : 6 (en0)\n"
                             "  flags    : Request A records\n"
                             "  reach    : 0x00020002 (Reachable,Directly Reachable Address)\n"
                             "\n"
                             "resolver #2\n"
                             "  domain   : local\n"
                             "  options  : mdns\n"
                             "  timeout  : 5\n"
                             "  flags    : Request A records\n"
                             "  reach    : 0x00000000 (Not Reachable)\n"
                             "  order    : 300000\n"
                             "\n"
                             "DNS configuration (for scoped queries)\n"
                             "\n"
                             "resolver #1\n"
                             "  search domain[0] : lan\n"
                             "  nameserver[0] : 192.168.1.1\n"
                             "  nameserver[1] : fe80::1%en0\n"
                             "  if_index : 6 (en0)\n"
                             "  flags    : Scoped, Request A records, Request AAAA records\n"
                             "  reach    : 0x00020002 (Reachable,Directly Reachable Address)\n"
                             "\n"
                             "resolver #2\n"
                             "  nameserver[0] : 172.20.10.1\n"
                             "  nameserver[1] : 2001:db8::53\n"
                             "  port     : 5353\n"
                             "  if_index : 14 (en8)\n"
                             "  flags    : Scoped, Request A records\n"
                             "  reach    : 0x00020002 (Reachable,Directly Reachable Address)\n";

TEST(each_interface_gets_its_scoped_resolvers_servers)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse_scutil(sample, 6, s, 8), 2);
    ASSERT_STR_EQ(show(&s[0]), "192.168.1.1 53");
    ASSERT_STR_EQ(show(&s[1]), "fe80::1 53 %6"); /* the resolver's interface is the scope */
    ASSERT_EQ(parse_scutil(sample, 14, s, 8), 2);
    ASSERT_STR_EQ(show(&s[0]), "172.20.10.1 5353"); /* port applies to the whole block */
    ASSERT_STR_EQ(show(&s[1]), "2001:db8::53 5353 %0");
    ASSERT_EQ(parse_scutil(sample, 14, s, 1), 1); /* at most max */
}

TEST(the_general_sections_resolvers_are_not_an_interfaces)
{
    struct sockaddr_storage s[8];
    /* Resolver #1 of the general section names if_index 6 too; only the scoped one
     * counts, once. An interface with no scoped resolver has none. */
    static const char general_only[] = "DNS configuration\n\nresolver #1\n"
                                       "  nameserver[0] : 10.9.9.9\n  if_index : 3 (en2)\n";

    ASSERT_EQ(parse_scutil(general_only, 3, s, 8), 0);
    ASSERT_EQ(parse_scutil(sample, 7, s, 8), 0);
    ASSERT_EQ(parse_scutil(sample, 0, s, 8), 0);
    ASSERT_EQ(parse_scutil("", 6, s, 8), 0);
}

TEST(crlf_no_final_newline_and_bad_lines)
{
    struct sockaddr_storage s[8];
    static const char text[] = "DNS configuration (for scoped queries)\r\n\r\nresolver #1\r\n"
                               "  nameserver[0] : not-an-address\r\n"
                               "  nameserver[1] : 300.1.1.1\r\n"
                               "  nameserver : 10.0.0.1\r\n"
                               "  nameserver[2] : 10.0.0.2\r\n"
                               "  port     : 99999\r\n"
                               "  if_index : 4 (en1)";

    ASSERT_EQ(parse_scutil(text, 4, s, 8), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.2 53"); /* a port out of range is none */
    /* An if_index that is not a number binds the block to no interface. */
    ASSERT_EQ(parse_scutil("DNS configuration (for scoped queries)\nresolver #1\n"
                           "  nameserver[0] : 10.0.0.1\n  if_index : 1x (en1)\n",
                           1, s, 8),
              0);
}

TEST(a_block_ends_at_the_next_resolver_or_section)
{
    struct sockaddr_storage s[8];
    /* Block 1 has no if_index: its server is nobody's; block 2's belongs to 5. A later
     * general section does not extend the last scoped block. */
    static const char text[] = "DNS configuration (for scoped queries)\n"
                               "resolver #1\n  nameserver[0] : 10.0.0.1\n"
                               "resolver #2\n  nameserver[0] : 10.0.0.2\n  if_index : 5 (en3)\n"
                               "DNS configuration\n"
                               "resolver #1\n  nameserver[0] : 10.0.0.3\n  if_index : 5 (en3)\n";

    ASSERT_EQ(parse_scutil(text, 5, s, 8), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.2 53");
}

int
main(void)
{
    RUN(servers_in_every_spelling_resolved_writes);
    RUN(networkds_dns_line_for_the_links_it_manages);
    RUN(dns_over_tls_only_links_have_no_servers_to_ask_in_clear);
    RUN(ports_and_scopes_never_wrap);
    RUN(at_most_max_in_file_order);
    RUN(no_servers_line_or_an_empty_one_is_none);
    RUN(last_line_without_newline_and_crlf);
    RUN(entries_that_do_not_parse_are_skipped_not_misread);
    RUN(an_entry_longer_than_any_address_is_skipped_whole);
    RUN(each_interface_gets_its_scoped_resolvers_servers);
    RUN(the_general_sections_resolvers_are_not_an_interfaces);
    RUN(crlf_no_final_newline_and_bad_lines);
    RUN(a_block_ends_at_the_next_resolver_or_section);
    UNIT_MAIN_END("sysdns");
}
