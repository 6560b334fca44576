/* The option table (src/core/options.c): every row sound (a default that parses, help, a
 * unique name), the usage text generated from it, and the -config file parser: values,
 * comments, flags, links, the command line overriding the file, and every error naming
 * FILE:LINE and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balancer.h"
#include "cli.h"
#include "options.h"
#include "unit.h"

static char err[400];
static struct config cfg;

/* Parses text as the file "t.conf"; expects rc. */
static int
parse_text(const char *text)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), "%s", text);
    options_defaults(&cfg);
    err[0] = '\0';
    return options_parse_text(&cfg, "t.conf", buf, err, sizeof(err));
}

#define TEXT_ERR(text, needle)                                                                     \
    do {                                                                                           \
        if (parse_text(text) != -1)                                                                \
            UNIT_FAIL("accepted: %s", (text));                                                     \
        if (strstr(err, (needle)) == NULL)                                                         \
            UNIT_FAIL("message \"%s\" lacks \"%s\"", err, (needle));                               \
        ASSERT(strchr(err, '\n') == NULL);                                                         \
    } while (0)

TEST(every_row_is_sound)
{
    for (size_t i = 0; i < options_count; i++) {
        const struct opt_row *r = &options_table[i];
        struct config c;

        ASSERT(r->help != NULL && r->help[0] != '\0');
        ASSERT(options_find(r->name, strlen(r->name)) == r);
        if (r->alias != NULL)
            ASSERT(options_find(r->alias, strlen(r->alias)) == r);
        if (r->type != OPT_T_CUSTOM)
            ASSERT(r->off + r->size <= sizeof(struct config) && r->size > 0);
        if (r->type == OPT_T_CUSTOM)
            ASSERT(r->set != NULL);
        if (r->deflt != NULL) {
            memset(&c, 0, sizeof(c));
            if (options_apply(&c, r, r->deflt, err, sizeof(err)) != 0)
                UNIT_FAIL("default of -%s does not parse: %s", r->name, err);
        }
    }
    ASSERT(options_find("nope", 4) == NULL);
    ASSERT(options_find("listen", 3) == NULL); /* no prefixes */
}

TEST(defaults_are_the_documented_ones)
{
    options_defaults(&cfg);
    ASSERT_STR_EQ(cfg.listen_host, "127.0.0.1");
    ASSERT_EQ(cfg.listen_port, 8080);
    ASSERT_EQ(cfg.connect_timeout_ms, 10000);
    ASSERT_EQ(cfg.handshake_timeout_ms, 10000);
    ASSERT_EQ(cfg.idle_timeout_ms, 0);
    ASSERT_EQ(cfg.threads, 0); /* auto */
    ASSERT_EQ(cfg.fail_threshold, 3);
    ASSERT_EQ(cfg.probe_interval_ms, 5000);
    ASSERT_EQ(cfg.race_delay_ms, 1500);
    ASSERT_EQ(cfg.sticky_ttl_ms, 600000);
    ASSERT_EQ(cfg.policy, POLICY_WRR);
    ASSERT_EQ(cfg.max_clients, 0);
    ASSERT(cfg.config_file == NULL && cfg.file_text == NULL);
}

TEST(usage_shows_every_row_and_its_default)
{
    static char text[16384];
    FILE *f = tmpfile();
    size_t len;

    ASSERT(f != NULL);
    options_usage(f);
    rewind(f);
    len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    for (size_t i = 0; i < options_count; i++) {
        char want[80];
        snprintf(want, sizeof(want), "  -%s", options_table[i].name);
        if (strstr(text, want) == NULL)
            UNIT_FAIL("usage lacks %s", want);
    }
    ASSERT(strstr(text, "-race-delay SEC") != NULL);
    ASSERT(strstr(text, "(default 1.5)") != NULL);
    ASSERT(strstr(text, "(default 127.0.0.1)") != NULL);
}

TEST(a_file_sets_every_kind_of_value)
{
    ASSERT_EQ(parse_text("# comment\n"
                         "\n"
                         "  listen 127.0.0.2:1081   # trailing comment\n"
                         "connect-timeout 2.5\n"
                         "threads\t4\r\n"
                         "policy lc\n"
                         "probe 127.0.0.1:9\n"
                         "probe-up\n"
                         "open yes\n"
                         "open no\n"
                         "auth alice:pw#1\n"
                         "allow 10.0.0.0/8\n"
                         "auth-file /etc/dp.auth\n"
                         "verbose\n"
                         "link 127.0.0.1@3\n"
                         "link lo\n"),
              0);
    ASSERT_STR_EQ(cfg.listen_host, "127.0.0.2");
    ASSERT_EQ(cfg.listen_port, 1081);
    ASSERT_EQ(cfg.connect_timeout_ms, 2500);
    ASSERT_EQ(cfg.threads, 4);
    ASSERT_EQ(cfg.policy, POLICY_LC);
    ASSERT_STR_EQ(cfg.probe, "127.0.0.1:9");
    ASSERT_EQ(cfg.probe_up, 1);
    ASSERT_EQ(cfg.open, 0);
    ASSERT_EQ(cfg.n_auth, 1);
    ASSERT_STR_EQ(cfg.auth[0], "alice:pw#1"); /* # starts a comment only after a blank */
    ASSERT_EQ(cfg.n_allow, 1);
    ASSERT_STR_EQ(cfg.auth_file, "/etc/dp.auth");
    ASSERT_EQ(cfg.verbosity, 1);
    ASSERT_EQ(cfg.n_pending, 2);
    ASSERT_STR_EQ(cfg.pending[0].text, "127.0.0.1@3");
    ASSERT_EQ(cfg.pending[0].line, 15);
    ASSERT_EQ(cfg.pending[1].line, 16);
}

TEST(threads_takes_auto_or_a_count)
{
    ASSERT_EQ(parse_text("threads 1\n"), 0);
    ASSERT_EQ(cfg.threads, 1);
    ASSERT_EQ(parse_text("threads auto\n"), 0);
    ASSERT_EQ(cfg.threads, 0);
    ASSERT_EQ(parse_text("threads 0\n"), 0); /* 0 has always meant one per CPU */
    ASSERT_EQ(cfg.threads, 0);
    ASSERT_EQ(parse_text("threads 64\n"), 0);
    ASSERT_EQ(cfg.threads, 64);
    TEXT_ERR("threads Auto2\n", "t.conf:1: threads: bad value \"Auto2\" for -threads");
}

TEST(every_file_error_names_the_line_and_key)
{
    TEXT_ERR("threads 2\nbogus 1\n", "t.conf:2: unknown key \"bogus\"");
    TEXT_ERR("\n\n-threads 2\n", "t.conf:3: \"-threads\": write keys without dashes");
    TEXT_ERR("config other.conf\n", "t.conf:1: config: only on the command line");
    TEXT_ERR("# x\nhelp\n", "t.conf:2: help: only on the command line");
    TEXT_ERR("check-config\n", "t.conf:1: check-config: only on the command line");
    TEXT_ERR("threads\n", "t.conf:1: threads: needs a value (N|auto)");
    TEXT_ERR("threads 65\n", "t.conf:1: threads: bad value \"65\" for -threads");
    TEXT_ERR("lport 8080\nconnect-timeout -1\n", "t.conf:2: connect-timeout: bad value");
    TEXT_ERR("policy fastest\n", "t.conf:1: policy: bad value \"fastest\"");
    TEXT_ERR("probe nocolon\n", "t.conf:1: probe: bad value");
    TEXT_ERR("allow 10.0.0.0/33\n", "t.conf:1: allow: bad value");
    TEXT_ERR("auth nopassword\n", "t.conf:1: auth: -auth needs USER:PASSWORD");
    TEXT_ERR("open maybe\n", "t.conf:1: open: takes no value (or yes/no), not \"maybe\"");
    TEXT_ERR("verbose no\n", "t.conf:1: verbose: cannot be turned off");
    TEXT_ERR("\nlink\n", "t.conf:2: link: needs LINK[@RATIO]");
    TEXT_ERR("lhost " /* 64 bytes: one too many */
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
             "t.conf:1: lhost: bad value");
}

static char path[64];

static void
write_file(const char *text)
{
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/dp-test-options-%d.conf", (int)getpid());
    f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static enum cli_result
run_cli(int argc, char **argv)
{
    options_free(&cfg);
    cli_defaults(&cfg);
    err[0] = '\0';
    return cli_parse(argc, argv, &cfg, err, sizeof(err));
}

TEST(config_on_the_command_line)
{
    char *argv[] = {"dp", "-config", path, "-threads", "3", "127.0.0.1@2", NULL};
    char *check[] = {"dp", "-check-config", "-config", path, NULL};
    char *twice[] = {"dp", "-config", path, "-config", path, NULL};

    write_file("threads 2\nlport 1234\nlink 127.0.0.2@5\n");
    ASSERT_EQ(run_cli(6, argv), CLI_RUN);
    ASSERT_EQ(cfg.threads, 3); /* after -config: the command line wins */
    ASSERT_EQ(cfg.listen_port, 1234);
    ASSERT_EQ(cfg.n_links, 2);
    ASSERT_EQ(cfg.links[0].ratio, 5);
    ASSERT_EQ(cfg.links[1].ratio, 2);
    ASSERT_STR_EQ(cfg.config_file, path);
    ASSERT_EQ(run_cli(4, check), CLI_RUN);
    ASSERT_EQ(cfg.check_config, 1);
    ASSERT_EQ(run_cli(5, twice), CLI_ERROR);
    ASSERT(strstr(err, "only one -config") != NULL);

    write_file("threads 2\n\nlink 127.0.0.1@0\n");
    ASSERT_EQ(run_cli(6, argv), CLI_ERROR);
    ASSERT(strstr(err, ":3: link: bad link \"127.0.0.1@0\"") != NULL);
    ASSERT(strncmp(err, path, strlen(path)) == 0);

    write_file("tunnel\nlink socks5://u:hunter2@x@0\n");
    ASSERT_EQ(run_cli(4, check), CLI_ERROR);
    ASSERT(strstr(err, ":2: link: bad tunnel") != NULL);
    ASSERT(strstr(err, "hunter2") == NULL);
    ASSERT_EQ(cfg.check_config, 1);

    write_file("threads 1\0threads 2\n");
    ASSERT_EQ(run_cli(4, check), CLI_RUN); /* fputs stops at the NUL */
    unlink(path);
    ASSERT_EQ(run_cli(4, check), CLI_ERROR);
    ASSERT(strstr(err, "No such file") != NULL);
    options_free(&cfg);
}

TEST(command_line_errors_keep_their_wording)
{
    char *unknown[] = {"dp", "-bogus", NULL};
    char *noval[] = {"dp", "-threads", NULL};
    char *flagval[] = {"dp", "-open=1", NULL};
    char *bad[] = {"dp", "--threads=x", NULL};

    ASSERT_EQ(run_cli(2, unknown), CLI_ERROR);
    ASSERT_STR_EQ(err, "unknown option \"-bogus\" (see --help)");
    ASSERT_EQ(run_cli(2, noval), CLI_ERROR);
    ASSERT_STR_EQ(err, "option -threads needs a value");
    ASSERT_EQ(run_cli(2, flagval), CLI_ERROR);
    ASSERT_STR_EQ(err, "option -open takes no value");
    ASSERT_EQ(run_cli(2, bad), CLI_ERROR);
    ASSERT_STR_EQ(err, "bad value \"x\" for -threads");
}

int
main(void)
{
    RUN(every_row_is_sound);
    RUN(defaults_are_the_documented_ones);
    RUN(usage_shows_every_row_and_its_default);
    RUN(a_file_sets_every_kind_of_value);
    RUN(threads_takes_auto_or_a_count);
    RUN(every_file_error_names_the_line_and_key);
    RUN(config_on_the_command_line);
    RUN(command_line_errors_keep_their_wording);
    UNIT_MAIN_END("options");
}
