/* Access control: -allow ranges, credentials from -auth and -auth-file (reload included),
 * comparisons by length and content (NUL bytes are data), and listen-address exposure. */
#include "os.h" /* sockets and addresses on every platform */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "unit.h"

static struct sockaddr_storage
sa_of(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s4->sin_addr);
    }
    return ss;
}

/* Allowed by an access object holding just these rules? */
static int
allowed(const char *const *rules, unsigned n, const char *ip)
{
    struct access_cidr cidr[8];
    struct access a;
    struct sockaddr_storage ss = sa_of(ip);
    char err[200];
    int ok;

    for (unsigned i = 0; i < n; i++)
        if (access_parse_cidr(rules[i], &cidr[i]) == -1)
            return -1;
    if (access_init(&a, cidr, n, NULL, 0, NULL, err, sizeof(err)) == -1)
        return -1;
    ok = access_client_allowed(&a, (struct sockaddr *)&ss);
    access_free(&a);
    return ok;
}

static const char *
write_file(const char *text)
{
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/dp-test-access-%ld", (long)getpid());
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static int
check(struct access *a, const char *user, size_t ulen, const char *pass, size_t plen)
{
    return access_check(a, (const uint8_t *)user, ulen, (const uint8_t *)pass, plen);
}

#define CHECK(a, u, p) check((a), (u), strlen(u), (p), strlen(p))

/* ---- -allow ---- */

TEST(cidr_parses_ipv4_ipv6_and_bare_addresses)
{
    struct access_cidr c;

    ASSERT_EQ(access_parse_cidr("10.0.0.0/8", &c), 0);
    ASSERT_EQ(c.family, AF_INET);
    ASSERT_EQ(c.prefix, 8);
    ASSERT_EQ(access_parse_cidr("127.0.0.2", &c), 0);
    ASSERT_EQ(c.prefix, 32);
    ASSERT_EQ(access_parse_cidr("fd00::/8", &c), 0);
    ASSERT_EQ(c.family, AF_INET6);
    ASSERT_EQ(c.prefix, 8);
    ASSERT_EQ(access_parse_cidr("::1", &c), 0);
    ASSERT_EQ(c.prefix, 128);
    ASSERT_EQ(access_parse_cidr("0.0.0.0/0", &c), 0);
    ASSERT_EQ(c.prefix, 0);
}

TEST(cidr_rejects_bad_prefixes_and_addresses)
{
    struct access_cidr c;
    const char *bad[] = {"",
                         "/8",
                         "10.0.0.0/33",
                         "::/129",
                         "10.0.0.0/",
                         "10.0.0.0/-1",
                         "10.0.0.0/8x",
                         "10.0.0/8",
                         "host.example",
                         "10.0.0.0/+8",
                         "::1/ 8"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ(access_parse_cidr(bad[i], &c), -1);
}

TEST(no_allow_rule_allows_everyone)
{
    ASSERT_EQ(allowed(NULL, 0, "203.0.113.9"), 1);
    ASSERT_EQ(allowed(NULL, 0, "2001:db8::9"), 1);
}

TEST(ipv4_range_allows_inside_and_refuses_outside)
{
    const char *rules[] = {"192.168.1.0/24"};

    ASSERT_EQ(allowed(rules, 1, "192.168.1.0"), 1);
    ASSERT_EQ(allowed(rules, 1, "192.168.1.255"), 1);
    ASSERT_EQ(allowed(rules, 1, "192.168.2.1"), 0);
    ASSERT_EQ(allowed(rules, 1, "::ffff:192.168.1.7"), 1); /* dual-stack socket's client */
    ASSERT_EQ(allowed(rules, 1, "2001:db8::1"), 0);
}

TEST(single_address_rule_is_exact)
{
    const char *rules[] = {"127.0.0.2/32"};

    ASSERT_EQ(allowed(rules, 1, "127.0.0.2"), 1);
    ASSERT_EQ(allowed(rules, 1, "127.0.0.1"), 0);
}

TEST(prefix_not_on_a_byte_boundary)
{
    const char *rules[] = {"10.0.0.0/12", "2001:db8::/33"};

    ASSERT_EQ(allowed(rules, 2, "10.15.255.255"), 1);
    ASSERT_EQ(allowed(rules, 2, "10.16.0.0"), 0);
    ASSERT_EQ(allowed(rules, 2, "2001:db8:7fff::1"), 1);
    ASSERT_EQ(allowed(rules, 2, "2001:db8:8000::1"), 0);
}

TEST(host_bits_in_a_rule_do_not_matter)
{
    const char *rules[] = {"10.1.2.3/8"};

    ASSERT_EQ(allowed(rules, 1, "10.200.0.1"), 1);
}

TEST(ipv6_rules_and_several_rules)
{
    const char *rules[] = {"::1", "127.0.0.0/8", "fd00::/8"};

    ASSERT_EQ(allowed(rules, 3, "::1"), 1);
    ASSERT_EQ(allowed(rules, 3, "::2"), 0);
    ASSERT_EQ(allowed(rules, 3, "127.9.9.9"), 1);
    ASSERT_EQ(allowed(rules, 3, "fdab::1"), 1);
    ASSERT_EQ(allowed(rules, 3, "fe80::1"), 0);
}

TEST(zero_prefix_allows_the_whole_family)
{
    const char *rules[] = {"0.0.0.0/0"};

    ASSERT_EQ(allowed(rules, 1, "198.51.100.1"), 1);
    ASSERT_EQ(allowed(rules, 1, "2001:db8::1"), 0);
}

/* ---- credentials ---- */

TEST(credentials_split_at_the_first_colon)
{
    struct access_cred c;

    ASSERT_EQ(access_parse_cred("ann:pw:with:colons", 18, &c), 0);
    ASSERT_EQ(c.user_len, 3);
    ASSERT_EQ(c.pass_len, 14);
    ASSERT_MEM_EQ(c.pass, "pw:with:colons", 14);
    ASSERT_EQ(access_parse_cred(":", 1, &c), 0);
    ASSERT_EQ(c.user_len + c.pass_len, 0);
    ASSERT_EQ(access_parse_cred("nocolon", 7, &c), -1);
}

TEST(credential_fields_over_255_bytes_are_refused)
{
    char s[600];
    struct access_cred c;

    memset(s, 'a', sizeof(s));
    s[255] = ':';
    ASSERT_EQ(access_parse_cred(s, 256 + 255, &c), 0);
    ASSERT_EQ(access_parse_cred(s, 256 + 256, &c), -1);
    s[255] = 'a';
    s[256] = ':';
    ASSERT_EQ(access_parse_cred(s, 300, &c), -1);
}

TEST(check_matches_exact_user_and_password_only)
{
    const char *args[] = {"alice:wonder", "bob:builder"};
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, args, 2, NULL, err, sizeof(err)), 0);
    ASSERT_EQ(access_auth_required(&a), 1);
    ASSERT_EQ(CHECK(&a, "alice", "wonder"), 1);
    ASSERT_EQ(CHECK(&a, "bob", "builder"), 1);
    ASSERT_EQ(CHECK(&a, "alice", "builder"), 0);
    ASSERT_EQ(CHECK(&a, "alic", "wonder"), 0);
    ASSERT_EQ(CHECK(&a, "alice", "wonde"), 0);
    ASSERT_EQ(CHECK(&a, "alice", "wonderr"), 0);
    ASSERT_EQ(CHECK(&a, "ALICE", "wonder"), 0);
    ASSERT_EQ(CHECK(&a, "", ""), 0);
    access_free(&a);
}

TEST(nul_bytes_are_part_of_the_compared_fields)
{
    const char *args[] = {"alice:wonder"};
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, args, 1, NULL, err, sizeof(err)), 0);
    /* A strcmp would stop at the NUL and call these equal. */
    ASSERT_EQ(check(&a, "alice\0x", 7, "wonder", 6), 0);
    ASSERT_EQ(check(&a, "alice", 5, "wonder\0", 7), 0);
    ASSERT_EQ(check(&a, "alice", 5, "wonder", 6), 1);
    access_free(&a);
}

TEST(empty_password_is_a_credential_like_any_other)
{
    const char *args[] = {"guest:"};
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, args, 1, NULL, err, sizeof(err)), 0);
    ASSERT_EQ(CHECK(&a, "guest", ""), 1);
    ASSERT_EQ(CHECK(&a, "guest", "x"), 0);
    access_free(&a);
}

TEST(no_auth_configured_requires_none_and_matches_nothing)
{
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, NULL, 0, NULL, err, sizeof(err)), 0);
    ASSERT_EQ(access_auth_required(&a), 0);
    ASSERT_EQ(CHECK(&a, "", ""), 0);
    access_free(&a);
}

TEST(bad_auth_argument_is_an_error)
{
    const char *args[] = {"nocolon"};
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, args, 1, NULL, err, sizeof(err)), -1);
    ASSERT(strstr(err, "USER:PASSWORD") != NULL);
}

TEST(constant_time_compare_is_exact)
{
    ASSERT_EQ(access_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abc", 3), 1);
    ASSERT_EQ(access_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"abd", 3), 0);
    ASSERT_EQ(access_ct_equal((const uint8_t *)"ab", 2, (const uint8_t *)"abc", 3), 0);
    ASSERT_EQ(access_ct_equal((const uint8_t *)"abc", 3, (const uint8_t *)"ab", 2), 0);
    ASSERT_EQ(access_ct_equal((const uint8_t *)"", 0, (const uint8_t *)"", 0), 1);
    ASSERT_EQ(access_ct_equal((const uint8_t *)"\0", 1, (const uint8_t *)"", 0), 0);
}

/* ---- -auth-file ---- */

TEST(auth_file_lines_comments_and_crlf)
{
    const char *path = write_file("# users\n\nbob:s3cret\r\nann:pw:x\n#carol:nope\n");
    const char *args[] = {"alice:wonder"};
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, args, 1, path, err, sizeof(err)), 0);
    ASSERT_EQ(a.n_creds, 3);
    ASSERT_EQ(CHECK(&a, "bob", "s3cret"), 1);
    ASSERT_EQ(CHECK(&a, "bob", "s3cret\r"), 0);
    ASSERT_EQ(CHECK(&a, "ann", "pw:x"), 1);
    ASSERT_EQ(CHECK(&a, "alice", "wonder"), 1);
    ASSERT_EQ(CHECK(&a, "#carol", "nope"), 0);
    access_free(&a);
    unlink(path);
}

TEST(empty_auth_file_requires_auth_and_lets_no_one_in)
{
    const char *path = write_file("");
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, NULL, 0, path, err, sizeof(err)), 0);
    ASSERT_EQ(access_auth_required(&a), 1);
    ASSERT_EQ(CHECK(&a, "", ""), 0);
    access_free(&a);
    unlink(path);
}

TEST(malformed_auth_file_line_names_the_line_but_not_its_content)
{
    const char *path = write_file("bob:ok\nsecretwithoutcolon\n");
    struct access a;
    char err[300], want[100];

    ASSERT_EQ(access_init(&a, NULL, 0, NULL, 0, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2:", path);
    ASSERT(strstr(err, want) != NULL);
    ASSERT(strstr(err, "secretwithoutcolon") == NULL);
    unlink(path);
}

TEST(missing_auth_file_is_an_error)
{
    struct access a;
    char err[300];

    ASSERT_EQ(access_init(&a, NULL, 0, NULL, 0, "/nonexistent/dp-auth", err, sizeof(err)), -1);
    ASSERT(strstr(err, "/nonexistent/dp-auth") != NULL);
}

TEST(reload_replaces_the_file_entries_and_keeps_the_arguments)
{
    const char *path = write_file("bob:old\n");
    const char *args[] = {"alice:wonder"};
    struct access a;
    char err[200];
    size_t n = 0;

    ASSERT_EQ(access_init(&a, NULL, 0, args, 1, path, err, sizeof(err)), 0);
    ASSERT_EQ(CHECK(&a, "bob", "old"), 1);
    write_file("bob:new\ncarol:c\n");
    ASSERT_EQ(access_reload(&a, &n, err, sizeof(err)), 0);
    ASSERT_EQ(n, 3);
    ASSERT_EQ(CHECK(&a, "bob", "old"), 0);
    ASSERT_EQ(CHECK(&a, "bob", "new"), 1);
    ASSERT_EQ(CHECK(&a, "carol", "c"), 1);
    ASSERT_EQ(CHECK(&a, "alice", "wonder"), 1);
    access_free(&a);
    unlink(path);
}

TEST(failed_reload_keeps_the_table_in_force)
{
    const char *path = write_file("bob:old\n");
    struct access a;
    char err[200];

    ASSERT_EQ(access_init(&a, NULL, 0, NULL, 0, path, err, sizeof(err)), 0);
    write_file("broken line\n");
    ASSERT_EQ(access_reload(&a, NULL, err, sizeof(err)), -1);
    ASSERT_EQ(CHECK(&a, "bob", "old"), 1);
    unlink(path);
    ASSERT_EQ(access_reload(&a, NULL, err, sizeof(err)), -1);
    ASSERT_EQ(CHECK(&a, "bob", "old"), 1);
    access_free(&a);
}

/* ---- exposure of the listening address ---- */

TEST(exposure_of_listen_addresses)
{
    struct sockaddr_storage ss;

    ss = sa_of("0.0.0.0");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_EVERYWHERE);
    ss = sa_of("::");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_EVERYWHERE);
    ss = sa_of("127.0.0.1");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_LOOPBACK);
    ss = sa_of("127.8.0.1");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_LOOPBACK);
    ss = sa_of("::1");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_LOOPBACK);
    ss = sa_of("192.168.1.10");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_ADDRESS);
    ss = sa_of("fe80::1");
    ASSERT_EQ(access_exposure((struct sockaddr *)&ss), ACCESS_ADDRESS);
}

int
main(void)
{
    RUN(cidr_parses_ipv4_ipv6_and_bare_addresses);
    RUN(cidr_rejects_bad_prefixes_and_addresses);
    RUN(no_allow_rule_allows_everyone);
    RUN(ipv4_range_allows_inside_and_refuses_outside);
    RUN(single_address_rule_is_exact);
    RUN(prefix_not_on_a_byte_boundary);
    RUN(host_bits_in_a_rule_do_not_matter);
    RUN(ipv6_rules_and_several_rules);
    RUN(zero_prefix_allows_the_whole_family);
    RUN(credentials_split_at_the_first_colon);
    RUN(credential_fields_over_255_bytes_are_refused);
    RUN(check_matches_exact_user_and_password_only);
    RUN(nul_bytes_are_part_of_the_compared_fields);
    RUN(empty_password_is_a_credential_like_any_other);
    RUN(no_auth_configured_requires_none_and_matches_nothing);
    RUN(bad_auth_argument_is_an_error);
    RUN(constant_time_compare_is_exact);
    RUN(auth_file_lines_comments_and_crlf);
    RUN(empty_auth_file_requires_auth_and_lets_no_one_in);
    RUN(malformed_auth_file_line_names_the_line_but_not_its_content);
    RUN(missing_auth_file_is_an_error);
    RUN(reload_replaces_the_file_entries_and_keeps_the_arguments);
    RUN(failed_reload_keeps_the_table_in_force);
    RUN(exposure_of_listen_addresses);
    UNIT_MAIN_END("access");
}
