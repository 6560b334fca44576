#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "common.h"
#include "dns_resolver.h"

#define CFG(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define NOWHERE 0, 0

static int
parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* A number of seconds (decimals allowed) into milliseconds within [min_ms, max_ms]. */
static int
parse_seconds(const char *s, unsigned long min_ms, unsigned long max_ms, unsigned *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    v = v * 1000.0 + 0.5;
    if (v < (double)min_ms || v > (double)max_ms)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int
options_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port_out)
{
    const char *colon;
    size_t hlen;
    unsigned long port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hlen = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen || parse_uint(colon + 1, 0, 65535, &port))
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    *port_out = (uint16_t)port;
    return 0;
}

static int
set_listen(struct config *cfg, const struct opt_row *row, const char *s, char *why, size_t wl)
{
    (void)row, (void)why, (void)wl;
    return options_parse_hostport(s, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port);
}

static int
check_status(struct config *cfg, const struct opt_row *row, const char *s, char *why, size_t wl)
{
    char host[64];
    uint16_t port;

    (void)cfg, (void)row, (void)why, (void)wl;
    return options_parse_hostport(s, host, sizeof(host), &port);
}

static int
set_auth(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    /* Never echo the value: it holds a password. */
    const char *colon = strchr(value, ':');

    (void)row;
    if (colon == NULL || colon - value > ACCESS_FIELD_MAX || strlen(colon + 1) > ACCESS_FIELD_MAX) {
        snprintf(why, wl, "-auth needs USER:PASSWORD (each at most %d bytes)", ACCESS_FIELD_MAX);
        return OPT_ERRMSG;
    }
    if (cfg->n_auth == CFG_AUTH_MAX) {
        snprintf(why, wl, "too many -auth (at most %d; use -auth-file)", CFG_AUTH_MAX);
        return OPT_ERRMSG;
    }
    cfg->auth[cfg->n_auth++] = value;
    return 0;
}

static int
set_allow(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    (void)row;
    if (cfg->n_allow == CFG_ALLOW_MAX) {
        snprintf(why, wl, "too many -allow (at most %d)", CFG_ALLOW_MAX);
        return OPT_ERRMSG;
    }
    if (access_parse_cidr(value, &cfg->allow[cfg->n_allow]) == -1)
        return -1;
    cfg->n_allow++;
    return 0;
}

static int
set_policy(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    int p = balancer_policy_parse(value);

    (void)row, (void)why, (void)wl;
    if (p < 0)
        return -1;
    cfg->policy = p;
    return 0;
}

/* "auto" (stored as 0: one loop per online CPU, at most CFG_THREADS_AUTO_MAX) or a count
 * from 0 (auto too) to 64. */
static int
set_threads(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    unsigned long n;

    (void)row, (void)why, (void)wl;
    if (strcmp(value, "auto") == 0) {
        cfg->threads = 0;
        return 0;
    }
    if (parse_uint(value, 0, 64, &n) == -1)
        return -1;
    cfg->threads = (unsigned)n;
    return 0;
}

static int
check_probe(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    (void)cfg, (void)row, (void)why, (void)wl;
    return strchr(value, ':') == NULL ? -1 : 0;
}

static int
check_dns(struct config *cfg, const struct opt_row *row, const char *value, char *why, size_t wl)
{
    struct dns_server_spec items[DNS_SPEC_MAX];

    (void)cfg, (void)row;
    return dns_parse_servers(value, items, DNS_SPEC_MAX, why, wl) < 0 ? OPT_ERRMSG : 0;
}

static int
set_verbose(struct config *cfg, const struct opt_row *row, const char *v, char *why, size_t wl)
{
    (void)row, (void)v, (void)why, (void)wl;
    cfg->verbosity = cfg->verbosity >= 1 ? 2 : 1;
    return 0;
}

static int
set_vv(struct config *cfg, const struct opt_row *row, const char *v, char *why, size_t wl)
{
    (void)row, (void)v, (void)why, (void)wl;
    cfg->verbosity = 2;
    return 0;
}

static int
set_quiet(struct config *cfg, const struct opt_row *row, const char *v, char *why, size_t wl)
{
    (void)row, (void)v, (void)why, (void)wl;
    cfg->verbosity = -1;
    return 0;
}

static int
do_help(struct config *cfg, const struct opt_row *row, const char *v, char *why, size_t wl)
{
    (void)cfg, (void)row, (void)v, (void)why, (void)wl;
    options_usage(stdout);
    return OPT_EXIT;
}

static int
do_version(struct config *cfg, const struct opt_row *row, const char *v, char *why, size_t wl)
{
    (void)cfg, (void)row, (void)v, (void)why, (void)wl;
    printf("dispatch-proxy %s\n", DP_VERSION);
    return OPT_EXIT;
}

static int
do_config(struct config *cfg, const struct opt_row *row, const char *path, char *why, size_t wl)
{
    (void)row;
    if (cfg->config_file != NULL) {
        snprintf(why, wl, "only one -config");
        return OPT_ERRMSG;
    }
    if (path[0] == '\0')
        return -1;
    cfg->config_file = path;
    return options_load_file(cfg, path, why, wl) == 0 ? 0 : OPT_ERRMSG;
}

/* clang-format off */
const struct opt_row options_table[] = {
    {"config", NULL, "FILE", OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_CLI_ONLY, do_config,
     "read options and links from FILE (\"name value\" and\n"
     "\"link LINK\" lines, # comments); options after it on\n"
     "the command line override it. SIGHUP re-reads it"},
    {"check-config", NULL, NULL, OPT_T_FLAG, CFG(check_config), 0, 0, NULL, OPT_CLI_ONLY, NULL,
     "check the options and the -config file, say what is\n"
     "wrong (FILE:LINE: key: why), exit 0 if good, else 1"},
    {"list", NULL, NULL, OPT_T_FLAG, CFG(list), 0, 0, NULL, OPT_CLI_ONLY, NULL,
     "list interfaces and their addresses, then exit"},
    {"lhost", NULL, "HOST", OPT_T_STRING, CFG(listen_host), 1, 0, "127.0.0.1", OPT_ANYWHERE, NULL,
     "address to listen on (IPv6 ok)"},
    {"lport", NULL, "PORT", OPT_T_UINT, CFG(listen_port), 0, 65535, "8080", OPT_ANYWHERE, NULL,
     "port to listen on (0 picks one)"},
    {"listen", NULL, "HOST:PORT", OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_listen,
     "both at once ([::1]:1080 for IPv6)"},
    {"status", NULL, "HOST:PORT", OPT_T_STRING, CFG(status_listen), 1, 0, NULL, OPT_ANYWHERE,
     check_status,
     "serve the status page, JSON API and /metrics there\n"
     "(e.g. 127.0.0.1:8081; off by default); clients as\n"
     "-allow and -auth admit (see docs/SECURITY.md)"},
    {"connect-timeout", NULL, "SEC", OPT_T_SECONDS, CFG(connect_timeout_ms), 1, 3600000, "10",
     OPT_ANYWHERE, NULL, "per-link connect attempt timeout"},
    {"handshake-timeout", NULL, "SEC", OPT_T_SECONDS, CFG(handshake_timeout_ms), 1, 3600000, "10",
     OPT_ANYWHERE, NULL, "time a client has to send its request"},
    {"idle-timeout", NULL, "SEC", OPT_T_SECONDS, CFG(idle_timeout_ms), 0, 86400000, "0",
     OPT_ANYWHERE, NULL, "close relayed connections idle that long (0: never)"},
    {"half-close-timeout", NULL, "SEC", OPT_T_SECONDS, CFG(half_close_timeout_ms), 0, 86400000,
     "60", OPT_ANYWHERE, NULL,
     "close a relayed connection one side has finished\n"
     "once nothing moves for that long (0: never)"},
    {"udp-timeout", NULL, "SEC", OPT_T_SECONDS, CFG(udp_timeout_ms), 0, 86400000, "120",
     OPT_ANYWHERE, NULL,
     "end a SOCKS5 UDP association idle that long (0: only\n"
     "when its TCP connection closes)"},
    {"udp-max", NULL, "N", OPT_T_UINT, CFG(udp_max), 0, 1000000, "1024", OPT_ANYWHERE, NULL,
     "SOCKS5 UDP associations at once, all clients; more\n"
     "get REP 1 (0: UDP ASSOCIATE refused with REP 7)"},
    {"udp-max-client", NULL, "N", OPT_T_UINT, CFG(udp_max_client), 1, 1000000, "256",
     OPT_ANYWHERE, NULL, "SOCKS5 UDP associations at once per client address"},
    {"max-clients", NULL, "N", OPT_T_UINT, CFG(max_clients), 1, 10000000, NULL, OPT_ANYWHERE, NULL,
     "concurrent clients (default: from the open-file limit)"},
    {"threads", NULL, "N|auto", OPT_T_CUSTOM, NOWHERE, 0, 0, "auto", OPT_ANYWHERE, set_threads,
     "event loops (auto: one per online CPU, at most 8;\n"
     "0 is auto too; 1 runs everything on one thread)"},
    {"policy", NULL, "NAME", OPT_T_CUSTOM, NOWHERE, 0, 0, "wrr", OPT_ANYWHERE, set_policy,
     "how links are chosen\n"
     "  wrr       weighted round robin by the ratios\n"
     "  lc        fewest connections per unit of ratio\n"
     "  sticky    same client + host -> same link (TTL)\n"
     "  adaptive  weights follow measured throughput\n"
     "            and connect latency; ratios = prior"},
    {"sticky-ttl", NULL, "SEC", OPT_T_SECONDS, CFG(sticky_ttl_ms), 1000, 604800000, "600",
     OPT_ANYWHERE, NULL,
     "sticky: how long a pair keeps its link after its\nlast connection"},
    {"fail-threshold", NULL, "N", OPT_T_UINT, CFG(fail_threshold), 1, 1000, "3", OPT_ANYWHERE, NULL,
     "link-level failures in a row that make a link down\n"
     "(one makes it suspect, skipped briefly)"},
    {"probe", NULL, "HOST:PORT", OPT_T_STRING, CFG(probe), 1, 0, NULL, OPT_ANYWHERE, check_probe,
     "bring down links back by a TCP connect through them\n"
     "to HOST:PORT (default: none; then a down link is\n"
     "retried by one real connection, after 1 s doubling\n"
     "to 60 s)"},
    {"probe-interval", NULL, "SEC", OPT_T_SECONDS, CFG(probe_interval_ms), 100, 3600000, "5",
     OPT_ANYWHERE, NULL, "time between probes"},
    {"probe-up", NULL, NULL, OPT_T_FLAG, CFG(probe_up), 0, 0, NULL, OPT_ANYWHERE, NULL,
     "probe links that are up too (a failed probe counts\nas a failure)"},
    {"tunnel", NULL, NULL, OPT_T_FLAG, CFG(tunnel), 0, 0, NULL, OPT_ANYWHERE, NULL,
     "LINKs are HOST:PORT[@RATIO] upstreams (e.g. ssh -D ports):\n"
     "each client connection is piped to the next one\n"
     "unchanged (no SOCKS/HTTP here), names re-resolved\n"
     "per connection, the next upstream tried on failure"},
    {"race-delay", NULL, "SEC", OPT_T_SECONDS, CFG(race_delay_ms), 0, 3600000, "1.5",
     OPT_ANYWHERE, NULL,
     "if a link has not connected after SEC, race the next\n"
     "link; the first to connect wins (0 off)"},
    {"dns", NULL, "ADDR[,..]", OPT_T_STRING, CFG(dns), 1, 0, "auto", OPT_ANYWHERE, check_dns,
     "name servers asked through the links: ADDR for every\n"
     "link, LINK=ADDR for one (e.g. 10.0.0.53,wan2=192.0.2.53;\n"
     "links without one use the system's); \"system\": the\n"
     "system resolver (getaddrinfo), whatever the link;\n"
     "\"auto\": per link where the system names each link's\n"
     "servers (Windows), else \"system\""},
    {"no-splice", NULL, NULL, OPT_T_FLAG, CFG(no_splice), 0, 0, NULL, OPT_ANYWHERE, NULL,
     "copy through buffers even where the kernel could pipe"},
    {"user", NULL, "NAME", OPT_T_STRING, CFG(user), 1, 0, NULL, OPT_ANYWHERE, NULL,
     "started as root: run as NAME once listening"},
    {"auth", NULL, "USER:PASS", OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_auth,
     "require this user name and password (repeatable):\n"
     "SOCKS5 username/password, HTTP Proxy-Authorization:\n"
     "Basic; SOCKS4 (no passwords) is then refused"},
    {"auth-file", NULL, "FILE", OPT_T_PATH, CFG(auth_file), 0, 0, NULL, OPT_ANYWHERE, NULL,
     "the same from FILE, one USER:PASS a line (# comments);\n"
     "re-read on SIGHUP. Keeps passwords out of ps"},
    {"allow", NULL, "CIDR", OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_allow,
     "only clients from this range (repeatable; IPv4 or\n"
     "IPv6, e.g. 192.168.1.0/24, ::1); others are refused"},
    {"open", NULL, NULL, OPT_T_FLAG, CFG(open), 0, 0, NULL, OPT_ANYWHERE, NULL,
     "allow -lhost 0.0.0.0 or :: without -auth or -allow\n"
     "(an open proxy: anyone reaching this host can use it)"},
    {"verbose", "v", NULL, OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_verbose,
     "log every connection (twice, or -vv: every state change)"},
    {"vv", NULL, NULL, OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_vv,
     "log every state change"},
    {"quiet", "q", NULL, OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_ANYWHERE, set_quiet,
     "log only warnings and errors"},
    {"help", "h", NULL, OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_CLI_ONLY, do_help, "this help"},
    {"version", NULL, NULL, OPT_T_CUSTOM, NOWHERE, 0, 0, NULL, OPT_CLI_ONLY, do_version,
     "print the version"},
};
/* clang-format on */

const size_t options_count = ARRAY_SIZE(options_table);

const struct opt_row *
options_find(const char *name, size_t nlen)
{
    for (size_t k = 0; k < options_count; k++) {
        const struct opt_row *r = &options_table[k];
        if ((strlen(r->name) == nlen && strncmp(r->name, name, nlen) == 0) ||
            (r->alias != NULL && strlen(r->alias) == nlen && strncmp(r->alias, name, nlen) == 0))
            return r;
    }
    return NULL;
}

void
options_defaults(struct config *cfg)
{
    char err[256];

    memset(cfg, 0, sizeof(*cfg));
    for (size_t k = 0; k < options_count; k++)
        if (options_table[k].deflt != NULL)
            (void)options_apply(cfg, &options_table[k], options_table[k].deflt, err, sizeof(err));
}

int
options_apply(struct config *cfg, const struct opt_row *row, const char *value, char *err,
              size_t errlen)
{
    char *field = (char *)cfg + row->off;
    unsigned long n;
    int rc = 0;

    switch (row->type) {
    case OPT_T_FLAG:
        *(int *)(void *)field = 1;
        break;
    case OPT_T_UINT:
        if (parse_uint(value, row->min, row->max, &n) == -1)
            rc = -1;
        else if (row->size == sizeof(uint16_t))
            *(uint16_t *)(void *)field = (uint16_t)n;
        else
            *(unsigned *)(void *)field = (unsigned)n;
        break;
    case OPT_T_SECONDS:
        rc = parse_seconds(value, row->min, row->max, (unsigned *)(void *)field);
        break;
    case OPT_T_STRING:
        if ((row->min > 0 && value[0] == '\0') || strlen(value) >= row->size)
            rc = -1;
        else if (row->set != NULL)
            rc = row->set(cfg, row, value, err, errlen); /* a check: -1 or OPT_ERRMSG */
        if (rc == 0)
            snprintf(field, row->size, "%s", value);
        break;
    case OPT_T_PATH:
        if (value[0] == '\0')
            rc = -1;
        else
            *(const char **)(void *)field = value;
        break;
    case OPT_T_CUSTOM:
        rc = row->set(cfg, row, value, err, errlen);
        break;
    }
    if (rc == -1)
        snprintf(err, errlen, "bad value \"%.100s\" for -%s", value, row->name);
    return rc == OPT_ERRMSG ? -1 : rc;
}

static const char usage_head[] =
    "Usage: dispatch-proxy [OPTIONS] [LINK[@RATIO]...]\n"
    "\n"
    "A SOCKS5 proxy that spreads new connections over several uplinks (links) by\n"
    "weighted round robin, each connection leaving by its link's interface. The same\n"
    "port also speaks SOCKS4/4a and HTTP proxy (CONNECT and http:// forwarding),\n"
    "told apart by the client's first byte.\n"
    "\n"
    "LINK is an IPv4 or IPv6 address of this host, or an interface name; RATIO (a\n"
    "positive integer, default 1) is its share of connections: with 10.0.0.2@3\n"
    "192.168.1.2@2, 3 of every 5 connections go to the first link, interleaved\n"
    "(a b a b a). With no LINK, every interface that is up and has a default route\n"
    "is used, ratio 1 each.\n"
    "\n"
    "LINK may also be an upstream proxy, used like any other link:\n"
    "  socks5://[USER:PASS@]HOST:PORT   names resolved here, addresses sent\n"
    "  socks5h://[USER:PASS@]HOST:PORT  names sent to the proxy: no DNS here\n"
    "  socks4a://[USER@]HOST:PORT       http://[USER:PASS@]HOST:PORT (CONNECT)\n"
    "followed by @RATIO, /via=LINK (reach the proxy through that local link) and\n"
    "/auth-file=PATH (USER:PASS from a file instead of the URL), in that order.\n"
    "USER and PASS are percent-encoded (%40 for @, %3A for :, %2F for /).\n"
    "\n"
    "Options (each also accepted with two dashes, and as -opt=value; in a -config file\n"
    "as \"name value\" lines, and \"link LINK\" for each link):\n";

void
options_usage(FILE *out)
{
    fputs(usage_head, out);
    for (size_t k = 0; k < options_count; k++) {
        const struct opt_row *r = &options_table[k];
        const char *h = r->help;
        char left[64];
        int first = 1;

        snprintf(left, sizeof(left), "-%s%s%s%s%s", r->name, r->alias ? ", -" : "",
                 r->alias ? r->alias : "", r->arg ? " " : "", r->arg ? r->arg : "");
        while (*h != '\0' || first) {
            const char *nl = strchr(h, '\n');
            int len = nl != NULL ? (int)(nl - h) : (int)strlen(h);

            fprintf(out, "  %-24s %.*s", first ? left : "", len, h);
            h += len + (nl != NULL);
            if (first && r->deflt != NULL)
                fprintf(out, " (default %s)", r->deflt);
            fputc('\n', out);
            first = 0;
        }
    }
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int
file_flag(const char *v)
{
    static const char *const yes[] = {"", "yes", "on", "true", "1"};
    static const char *const no[] = {"no", "off", "false", "0"};

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        if (strcmp(v, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        if (strcmp(v, no[i]) == 0)
            return 0;
    return -1;
}

int
options_parse_text(struct config *cfg, const char *name, char *text, char *err, size_t errlen)
{
    unsigned line = 0;
    char *p = text;

    while (*p != '\0') {
        char *eol = strchr(p, '\n'), *key, *value, *end;
        const struct opt_row *row;
        char why[300];

        line++;
        if (eol != NULL)
            *eol = '\0';
        /* Cut comments and surrounding blanks. */
        for (char *c = p; *c != '\0'; c++)
            if (*c == '#' && (c == p || is_space(c[-1]))) {
                *c = '\0';
                break;
            }
        while (is_space(*p))
            p++;
        end = p + strlen(p);
        while (end > p && is_space(end[-1]))
            *--end = '\0';
        key = p;
        p = eol != NULL ? eol + 1 : end;
        if (*key == '\0')
            continue;
        value = key;
        while (*value != '\0' && !is_space(*value))
            value++;
        if (*value != '\0') {
            *value++ = '\0';
            while (is_space(*value))
                value++;
        }
        if (key[0] == '-') {
            snprintf(err, errlen, "%s:%u: \"%.60s\": write keys without dashes", name, line, key);
            return -1;
        }
        if (strcmp(key, "link") == 0) {
            if (*value == '\0') {
                snprintf(err, errlen, "%s:%u: link: needs LINK[@RATIO]", name, line);
                return -1;
            }
            if (cfg->n_pending > LINK_MAX) {
                snprintf(err, errlen, "%s:%u: link: too many links (at most %d)", name, line,
                         LINK_MAX);
                return -1;
            }
            cfg->pending[cfg->n_pending].text = value;
            cfg->pending[cfg->n_pending++].line = line;
            continue;
        }
        row = options_find(key, strlen(key));
        if (row == NULL) {
            snprintf(err, errlen, "%s:%u: unknown key \"%.60s\"", name, line, key);
            return -1;
        }
        if (row->where == OPT_CLI_ONLY) {
            snprintf(err, errlen, "%s:%u: %s: only on the command line", name, line, row->name);
            return -1;
        }
        if (row->arg == NULL) {
            int on = file_flag(value);
            if (on == -1) {
                snprintf(err, errlen, "%s:%u: %s: takes no value (or yes/no), not \"%.60s\"", name,
                         line, row->name, value);
                return -1;
            }
            if (on == 0) {
                if (row->type != OPT_T_FLAG) {
                    snprintf(err, errlen, "%s:%u: %s: cannot be turned off", name, line, row->name);
                    return -1;
                }
                *(int *)(void *)((char *)cfg + row->off) = 0;
                continue;
            }
        } else if (*value == '\0') {
            snprintf(err, errlen, "%s:%u: %s: needs a value (%s)", name, line, row->name, row->arg);
            return -1;
        }
        if (options_apply(cfg, row, row->arg != NULL ? value : NULL, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%u: %s: %s", name, line, row->name, why);
            return -1;
        }
    }
    return 0;
}

int
options_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
        return -1;
    }
    free(cfg->file_text);
    cfg->file_text = malloc(CFG_FILE_MAX + 1);
    if (cfg->file_text == NULL) {
        fclose(f);
        snprintf(err, errlen, "%.200s: out of memory", path);
        return -1;
    }
    n = fread(cfg->file_text, 1, CFG_FILE_MAX + 1, f);
    if (ferror(f) || n > CFG_FILE_MAX) {
        snprintf(err, errlen, "%.200s: %s", path, ferror(f) ? "read error" : "larger than 1 MiB");
        fclose(f);
        return -1;
    }
    fclose(f);
    cfg->file_text[n] = '\0';
    if (strlen(cfg->file_text) != n) {
        unsigned line = 1;
        for (const char *c = cfg->file_text; *c != '\0'; c++)
            line += *c == '\n';
        snprintf(err, errlen, "%.200s:%u: a NUL byte (not a text file?)", path, line);
        return -1;
    }
    return options_parse_text(cfg, path, cfg->file_text, err, errlen);
}

void
options_free(struct config *cfg)
{
    free(cfg->file_text);
    cfg->file_text = NULL;
}
