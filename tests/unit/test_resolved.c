/* systemd-resolved's per-link SERVERS= line (src/proto/resolved.c): every spelling resolved
 * writes (port, %ifindex scope, #DoT name, brackets), the lines around it, and entries
 * that must be skipped rather than misread. Each parse gets an exact-size heap copy
 * without a final NUL, so a SAN=1 build catches a read past the text. */
#include "os.h"
#include <stdlib.h>
#include <string.h>

#include "resolved.h"
#include "unit.h"

static int
parse(const char *text, struct sockaddr_storage *out, int max)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    int n;

    if (copy == NULL)
        abort();
    memcpy(copy, text, len);
    n = resolved_parse_servers(copy, len, out, max);
    free(copy);
    return n;
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

TEST(servers_in_every_spelling_resolved_writes)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse("# This is private data. Do not parse.\n"
                    "LLMNR=yes\n"
                    "MDNS=no\n"
                    "SERVERS=10.0.0.1 10.0.0.2:5353 fe80::1%3 [2001:db8::1]:5353%7 "
                    "9.9.9.9#dns.quad9.net [2001:db8::2]:853#dot.example 2001:db8::3\n"
                    "DOMAINS=lan\n",
                    s, 8),
              7);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 5353");
    ASSERT_STR_EQ(show(&s[2]), "fe80::1 53 %3");
    ASSERT_STR_EQ(show(&s[3]), "2001:db8::1 5353 %7");
    ASSERT_STR_EQ(show(&s[4]), "9.9.9.9 53");
    ASSERT_STR_EQ(show(&s[5]), "2001:db8::2 853 %0");
    ASSERT_STR_EQ(show(&s[6]), "2001:db8::3 53 %0");
}

TEST(at_most_max_in_file_order)
{
    struct sockaddr_storage s[2];

    ASSERT_EQ(parse("SERVERS=10.0.0.1 10.0.0.2 10.0.0.3\n", s, 2), 2);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 53");
}

TEST(no_servers_line_or_an_empty_one_is_none)
{
    struct sockaddr_storage s[4];

    ASSERT_EQ(parse("", s, 4), 0);
    ASSERT_EQ(parse("LLMNR=yes\nDOMAINS=lan\n", s, 4), 0);
    ASSERT_EQ(parse("SERVERS=\n", s, 4), 0);
    ASSERT_EQ(parse("SERVERS=   \n", s, 4), 0);
    /* Only a line that starts with the key: not a value that mentions it. */
    ASSERT_EQ(parse("NTAS=SERVERS=10.0.0.1\n XSERVERS=10.0.0.2\n", s, 4), 0);
}

TEST(last_line_without_newline_and_crlf)
{
    struct sockaddr_storage s[4];

    ASSERT_EQ(parse("LLMNR=yes\nSERVERS=10.0.0.1 10.0.0.2", s, 4), 2);
    ASSERT_STR_EQ(show(&s[1]), "10.0.0.2 53");
    ASSERT_EQ(parse("SERVERS=10.0.0.1\r\n", s, 4), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.1 53");
}

TEST(entries_that_do_not_parse_are_skipped_not_misread)
{
    struct sockaddr_storage s[8];

    ASSERT_EQ(parse("SERVERS=bogus 10.0.0.1:0 10.0.0.1:65536 10.0.0.1:x [2001:db8::1] "
                    "[2001:db8::1]:99999 fe80::1%eth0 fe80::1% 300.0.0.1 10.0.0.9\n",
                    s, 8),
              1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.9 53");
    /* An IPv4 address has no scope. */
    ASSERT_EQ(parse("SERVERS=10.0.0.1%3\n", s, 8), 0);
}

TEST(an_entry_longer_than_any_address_is_skipped_whole)
{
    struct sockaddr_storage s[4];
    char text[400];

    memcpy(text, "SERVERS=", 8);
    memset(text + 8, '1', 300); /* no prefix of it may be read as an address */
    strcpy(text + 308, " 10.0.0.7\n");
    ASSERT_EQ(parse(text, s, 4), 1);
    ASSERT_STR_EQ(show(&s[0]), "10.0.0.7 53");
}

int
main(void)
{
    RUN(servers_in_every_spelling_resolved_writes);
    RUN(at_most_max_in_file_order);
    RUN(no_servers_line_or_an_empty_one_is_none);
    RUN(last_line_without_newline_and_crlf);
    RUN(entries_that_do_not_parse_are_skipped_not_misread);
    RUN(an_entry_longer_than_any_address_is_skipped_whole);
    UNIT_MAIN_END("resolved");
}
