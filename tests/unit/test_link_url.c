/* Proxy and tunnel links on the command line (src/net/link_url.c): schemes, credentials
 * (percent-decoded, never in messages), the ratio after the port, /via and /auth-file,
 * IPv6 in brackets, and every error being one line naming the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "unit.h"

static char err[256];

#define PARSE_OK(spec, out)                                                                        \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        if (link_parse_spec((spec), (out), err, sizeof(err)) != 0)                                 \
            UNIT_FAIL("link_parse_spec(\"%s\") failed: %s", (spec), err);                          \
    } while (0)

/* Expects failure, with needle in the message and the secret nowhere in it. */
#define PARSE_ERR(spec, needle)                                                                    \
    do {                                                                                           \
        struct link_spec e_;                                                                       \
        err[0] = '\0';                                                                             \
        if (link_parse_spec((spec), &e_, err, sizeof(err)) != -1)                                  \
            UNIT_FAIL("link_parse_spec(\"%s\") accepted", (spec));                                 \
        if (strstr(err, (needle)) == NULL)                                                         \
            UNIT_FAIL("\"%s\": message \"%s\" lacks \"%s\"", (spec), err, (needle));               \
        ASSERT(strstr(err, "hunter2") == NULL);                                                    \
        ASSERT(strchr(err, '\n') == NULL);                                                         \
    } while (0)

TEST(socks5_with_credentials_and_ratio)
{
    struct link_spec s;

    PARSE_OK("socks5://alice:pw@127.0.0.1:1080@3", &s);
    ASSERT_EQ(s.kind, LINK_PROXY);
    ASSERT_EQ(s.up.scheme, LINK_SCHEME_SOCKS5);
    ASSERT_STR_EQ(s.up.host, "127.0.0.1");
    ASSERT_EQ(s.up.port, 1080);
    ASSERT_EQ(s.ratio, 3);
    ASSERT(s.up.has_auth && s.up.literal);
    ASSERT_STR_EQ(s.up.user, "alice");
    ASSERT_STR_EQ(s.up.pass, "pw");
}

TEST(every_scheme_and_a_host_name)
{
    struct link_spec s;

    PARSE_OK("socks5h://proxy.example:9050", &s);
    ASSERT_EQ(s.up.scheme, LINK_SCHEME_SOCKS5H);
    ASSERT(!s.up.literal && !s.up.has_auth);
    ASSERT_STR_EQ(s.up.host, "proxy.example");
    PARSE_OK("socks4a://bob@10.0.0.1:1080", &s);
    ASSERT_EQ(s.up.scheme, LINK_SCHEME_SOCKS4A);
    ASSERT_STR_EQ(s.up.user, "bob");
    ASSERT_EQ(s.up.pass_len, 0);
    PARSE_OK("http://h:3128", &s);
    ASSERT_EQ(s.up.scheme, LINK_SCHEME_HTTP);
    ASSERT_EQ(s.ratio, 1);
}

TEST(credentials_are_percent_decoded)
{
    struct link_spec s;

    PARSE_OK("socks5://al%40ice:p%3Aw%2F%25d@h:1", &s);
    ASSERT_STR_EQ(s.up.user, "al@ice");
    ASSERT_STR_EQ(s.up.pass, "p:w/%d");
    ASSERT_EQ(s.up.pass_len, 6);
}

TEST(an_unencoded_at_in_the_password_still_parses)
{
    struct link_spec s;

    PARSE_OK("socks5://u:p@ss@h:1@2", &s);
    ASSERT_STR_EQ(s.up.pass, "p@ss");
    ASSERT_STR_EQ(s.up.host, "h");
    ASSERT_EQ(s.ratio, 2);
}

TEST(ipv6_upstream_in_brackets)
{
    struct link_spec s;

    PARSE_OK("http://[::1]:3128@2", &s);
    ASSERT(s.up.literal);
    ASSERT_EQ(s.up.addr.sa.sa_family, AF_INET6);
    ASSERT_STR_EQ(s.up.host, "::1");
    ASSERT_EQ(s.ratio, 2);
}

TEST(via_and_auth_file_options)
{
    struct link_spec s;

    PARSE_OK("socks5://h:1080@2/via=wlan0/auth-file=/etc/dp/up.auth", &s);
    ASSERT(s.up.has_via);
    ASSERT_EQ(s.via_kind, LINK_IFACE);
    ASSERT_STR_EQ(s.name, "wlan0");
    ASSERT_STR_EQ(s.up.auth_file, "/etc/dp/up.auth");
    PARSE_OK("socks5://h:1080/via=127.0.0.7", &s);
    ASSERT_EQ(s.via_kind, LINK_ADDR4);
}

TEST(bad_urls_say_why_without_the_password)
{
    char big[400];

    PARSE_ERR("ftp://u:hunter2@h:1", "unknown scheme \"ftp\"");
    PARSE_ERR("socks5://u:hunter2@h:0", "port");
    PARSE_ERR("socks5://u:hunter2@h:65536", "port");
    PARSE_ERR("socks5://u:hunter2@h", "no :PORT");
    PARSE_ERR("socks5://u:hunter2@:80", "host");
    PARSE_ERR("socks5://u:hunter2@h:80@0", "ratio");
    PARSE_ERR("socks5://u:hunter2@h:80@1001", "ratio");
    PARSE_ERR("socks5://u:hunter2%zz@h:80", "percent-encoded");
    PARSE_ERR("socks5://u:hunter2%00@h:80", "percent-encoded");
    PARSE_ERR("socks5://u:hunter2@h:80/x=y", "unknown option");
    PARSE_ERR("socks5://u:hunter2@h:80/auth-file=/f", "both in the URL and in /auth-file");
    PARSE_ERR("socks4a://u:hunter2@h:80", "no password");
    PARSE_ERR("socks5://u:hunter2@[::1:80", "[IPv6]:PORT");
    PARSE_ERR("socks5://u:hunter2@bad_host!:80", "not a host name");
    snprintf(big, sizeof(big), "socks5://u:%0256d@h:1", 0);
    PARSE_ERR(big, "255 bytes");
}

TEST(redact_hides_only_the_password)
{
    char out[128];

    ASSERT_STR_EQ(link_redact("socks5://alice:hunter2@h:1080@3", out, sizeof(out)),
                  "socks5://alice:***@h:1080@3");
    ASSERT_STR_EQ(link_redact("socks5://alice@h:1", out, sizeof(out)), "socks5://alice@h:1");
    ASSERT_STR_EQ(link_redact("http://h:1@2", out, sizeof(out)), "http://h:1@2");
    ASSERT_STR_EQ(link_redact("wlan0@2", out, sizeof(out)), "wlan0@2");
}

TEST(tunnel_operands)
{
    struct link_spec s;

    ASSERT_EQ(link_parse_tunnel("127.0.0.1:7777", &s, err, sizeof(err)), 0);
    ASSERT_EQ(s.up.scheme, LINK_SCHEME_TUNNEL);
    ASSERT_EQ(s.ratio, 1);
    ASSERT_EQ(link_parse_tunnel("[::1]:7778@3", &s, err, sizeof(err)), 0);
    ASSERT_EQ(s.up.addr.sa.sa_family, AF_INET6);
    ASSERT_EQ(s.ratio, 3);
    ASSERT_EQ(link_parse_tunnel("host1.example:22@2/via=eth1", &s, err, sizeof(err)), 0);
    ASSERT(!s.up.literal && s.up.has_via);
    ASSERT_EQ(link_parse_tunnel("socks5://h:1", &s, err, sizeof(err)), -1);
    ASSERT_EQ(link_parse_tunnel("h:1/auth-file=/x", &s, err, sizeof(err)), -1);
    ASSERT_EQ(link_parse_tunnel("h", &s, err, sizeof(err)), -1);
}

TEST(labels_carry_no_credentials)
{
    struct link_spec s;
    char label[80];

    PARSE_OK("socks5h://alice:hunter2@[::1]:1080", &s);
    link_proxy_label(&s, label, sizeof(label));
    ASSERT_STR_EQ(label, "socks5h://[::1]:1080");
    ASSERT_EQ(link_parse_tunnel("127.0.0.1:7777@3", &s, err, sizeof(err)), 0);
    link_proxy_label(&s, label, sizeof(label));
    ASSERT_STR_EQ(label, "127.0.0.1:7777");
}

TEST(auth_file_gives_user_and_password)
{
    struct link_spec s;
    char path[] = "/tmp/dp-unit-authXXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    ASSERT(fd != -1);
    f = fdopen(fd, "w");
    ASSERT(f != NULL);
    fputs("# comment\n\nalice:p:w\n", f);
    fclose(f);
    memset(&s, 0, sizeof(s));
    snprintf(s.up.auth_file, sizeof(s.up.auth_file), "%s", path);
    ASSERT_EQ(link_read_auth_file(&s, err, sizeof(err)), 0);
    remove(path);
    ASSERT_STR_EQ(s.up.user, "alice");
    ASSERT_STR_EQ(s.up.pass, "p:w");
    ASSERT(s.up.has_auth);
    snprintf(s.up.auth_file, sizeof(s.up.auth_file), "%s", path);
    ASSERT_EQ(link_read_auth_file(&s, err, sizeof(err)), -1);
    ASSERT(strstr(err, "cannot read") != NULL);
}

int
main(void)
{
    RUN(socks5_with_credentials_and_ratio);
    RUN(every_scheme_and_a_host_name);
    RUN(credentials_are_percent_decoded);
    RUN(an_unencoded_at_in_the_password_still_parses);
    RUN(ipv6_upstream_in_brackets);
    RUN(via_and_auth_file_options);
    RUN(bad_urls_say_why_without_the_password);
    RUN(redact_hides_only_the_password);
    RUN(tunnel_operands);
    RUN(labels_carry_no_credentials);
    RUN(auth_file_gives_user_and_password);
    UNIT_MAIN_END("link_url");
}
