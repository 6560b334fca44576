#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "common.h"

void
cli_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 8080;
    cfg->connect_timeout_ms = 10000;
    cfg->handshake_timeout_ms = 10000;
    cfg->threads = 1;
    cfg->fail_threshold = 3;
    cfg->probe_interval_ms = 5000;
    cfg->race_delay_ms = 1500;
    cfg->sticky_ttl_ms = 600000;
}

void
cli_usage(FILE *out)
{
    fputs("Usage: dispatch-proxy [OPTIONS] [LINK[@RATIO]...]\n"
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
          "Options (each also accepted with two dashes, and as -opt=value):\n"
          "  -list                    list interfaces and their addresses, then exit\n"
          "  -lhost HOST              address to listen on (default 127.0.0.1; IPv6 ok)\n"
          "  -lport PORT              port to listen on (default 8080; 0 picks one)\n"
          "  -listen HOST:PORT        both at once ([::1]:1080 for IPv6)\n"
          "  -connect-timeout SEC     per-link connect attempt timeout (default 10)\n"
          "  -handshake-timeout SEC   time a client has to send its request (default 10)\n"
          "  -idle-timeout SEC        close relayed connections idle that long (default 0: "
          "never)\n"
          "  -max-clients N           concurrent clients (default: from the open-file limit)\n"
          "  -threads N               event loops (default 1)\n"
          "  -policy NAME             how links are chosen (default wrr):\n"
          "                             wrr       weighted round robin by the ratios\n"
          "                             lc        fewest connections per unit of ratio\n"
          "                             sticky    same client + host -> same link (TTL)\n"
          "                             adaptive  weights follow measured throughput\n"
          "                                       and connect latency; ratios = prior\n"
          "  -sticky-ttl SEC          sticky: how long a pair keeps its link after its\n"
          "                           last connection (default 600)\n"
          "  -fail-threshold N        link-level failures in a row that make a link down\n"
          "                           (default 3; one makes it suspect, skipped briefly)\n"
          "  -probe HOST:PORT         bring down links back by a TCP connect through them\n"
          "                           to HOST:PORT (default: none; then a down link is\n"
          "                           retried by one real connection, after 1 s doubling\n"
          "                           to 60 s)\n"
          "  -probe-interval SEC      time between probes (default 5)\n"
          "  -probe-up                probe links that are up too (a failed probe counts\n"
          "                           as a failure)\n"
          "  -tunnel                  LINKs are HOST:PORT[@RATIO] upstreams (e.g. ssh -D ports):\n"
          "                           each client connection is piped to the next one\n"
          "                           unchanged (no SOCKS/HTTP here), names re-resolved\n"
          "                           per connection, the next upstream tried on failure\n"
          "  -race-delay SEC          if a link has not connected after SEC, race the next\n"
          "                           link; the first to connect wins (default 1.5; 0 off)\n"
          "  -user NAME               started as root: run as NAME once listening\n"
          "  -auth USER:PASS          require this user name and password (repeatable):\n"
          "                           SOCKS5 username/password, HTTP Proxy-Authorization:\n"
          "                           Basic; SOCKS4 (no passwords) is then refused\n"
          "  -auth-file FILE          the same from FILE, one USER:PASS a line (# comments);\n"
          "                           re-read on SIGHUP. Keeps passwords out of ps\n"
          "  -allow CIDR              only clients from this range (repeatable; IPv4 or\n"
          "                           IPv6, e.g. 192.168.1.0/24, ::1); others are refused\n"
          "  -open                    allow -lhost 0.0.0.0 or :: without -auth or -allow\n"
          "                           (an open proxy: anyone reaching this host can use it)\n"
          "  -v, -verbose             log every connection (-vv: every state change)\n"
          "  -quiet                   log only warnings and errors\n"
          "  -h, -help                this help\n"
          "  -version                 print the version\n",
          out);
}

/* Parses a number of seconds (decimals allowed) into milliseconds within [min_ms, max_ms]. */
static int
parse_seconds(const char *s, unsigned min_ms, unsigned max_ms, unsigned *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    v = v * 1000.0 + 0.5;
    if (v < min_ms || v > max_ms)
        return -1;
    *out = (unsigned)v;
    return 0;
}

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

/* "HOST:PORT" or "[V6]:PORT". */
static int
parse_listen(const char *s, struct config *cfg)
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
    if (hlen == 0 || hlen >= sizeof(cfg->listen_host) || parse_uint(colon + 1, 0, 65535, &port))
        return -1;
    memcpy(cfg->listen_host, s, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (uint16_t)port;
    return 0;
}

enum opt_id {
    OPT_LIST,
    OPT_LHOST,
    OPT_LPORT,
    OPT_LISTEN,
    OPT_CONNECT_TIMEOUT,
    OPT_HANDSHAKE_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_MAX_CLIENTS,
    OPT_THREADS,
    OPT_USER,
    OPT_NO_SPLICE,
    OPT_AUTH,
    OPT_AUTH_FILE,
    OPT_ALLOW,
    OPT_OPEN,
    OPT_POLICY,
    OPT_STICKY_TTL,
    OPT_FAIL_THRESHOLD,
    OPT_PROBE,
    OPT_PROBE_INTERVAL,
    OPT_PROBE_UP,
    OPT_RACE_DELAY,
    OPT_TUNNEL,
    OPT_VERBOSE,
    OPT_VV,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION,
};

struct opt {
    const char *name;
    enum opt_id id;
    int takes_value;
};

static const struct opt opts[] = {
    {"list", OPT_LIST, 0},
    {"lhost", OPT_LHOST, 1},
    {"lport", OPT_LPORT, 1},
    {"listen", OPT_LISTEN, 1},
    {"connect-timeout", OPT_CONNECT_TIMEOUT, 1},
    {"handshake-timeout", OPT_HANDSHAKE_TIMEOUT, 1},
    {"idle-timeout", OPT_IDLE_TIMEOUT, 1},
    {"max-clients", OPT_MAX_CLIENTS, 1},
    {"threads", OPT_THREADS, 1},
    {"user", OPT_USER, 1},
    {"no-splice", OPT_NO_SPLICE, 0},
    {"auth", OPT_AUTH, 1},
    {"auth-file", OPT_AUTH_FILE, 1},
    {"allow", OPT_ALLOW, 1},
    {"open", OPT_OPEN, 0},
    {"policy", OPT_POLICY, 1},
    {"sticky-ttl", OPT_STICKY_TTL, 1},
    {"fail-threshold", OPT_FAIL_THRESHOLD, 1},
    {"probe", OPT_PROBE, 1},
    {"probe-interval", OPT_PROBE_INTERVAL, 1},
    {"probe-up", OPT_PROBE_UP, 0},
    {"race-delay", OPT_RACE_DELAY, 1},
    {"tunnel", OPT_TUNNEL, 0},
    {"v", OPT_VERBOSE, 0},
    {"verbose", OPT_VERBOSE, 0},
    {"vv", OPT_VV, 0},
    {"quiet", OPT_QUIET, 0},
    {"q", OPT_QUIET, 0},
    {"h", OPT_HELP, 0},
    {"help", OPT_HELP, 0},
    {"version", OPT_VERSION, 0},
};

/* The operands, once every option is known (-tunnel changes what they are). A proxy
 * link's password never reaches the message. */
static enum cli_result
parse_links(char **ops, unsigned n_ops, struct config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < n_ops; i++) {
        char why[200], shown[128];
        int rc;

        if (cfg->n_links >= LINK_MAX) {
            snprintf(err, errlen, "too many links (at most %d)", LINK_MAX);
            return CLI_ERROR;
        }
        rc = cfg->tunnel ? link_parse_tunnel(ops[i], &cfg->links[cfg->n_links], why, sizeof(why))
                         : link_parse_spec(ops[i], &cfg->links[cfg->n_links], why, sizeof(why));
        if (rc == -1) {
            snprintf(err, errlen, "bad %s \"%.100s\": %s", cfg->tunnel ? "tunnel" : "link",
                     link_redact(ops[i], shown, sizeof(shown)), why);
            return CLI_ERROR;
        }
        cfg->n_links++;
    }
    if (cfg->tunnel && (cfg->n_auth > 0 || cfg->auth_file != NULL)) {
        /* A tunnel reads nothing from the client: a password could never be asked for. */
        snprintf(err, errlen,
                 "-auth and -auth-file do not apply to -tunnel (client bytes go to "
                 "the upstream unchanged); use -allow");
        return CLI_ERROR;
    }
    if (cfg->tunnel && cfg->n_links == 0) {
        snprintf(err, errlen, "-tunnel needs at least one HOST:PORT[@RATIO]");
        return CLI_ERROR;
    }
    return CLI_RUN;
}

enum cli_result
cli_parse(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
    int only_links = 0;
    char *ops[LINK_MAX + 1];
    unsigned n_ops = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *value = NULL, *eq;
        const struct opt *o = NULL;
        unsigned long n;
        size_t nlen;

        if (only_links || arg[0] != '-' || arg[1] == '\0') {
            if (n_ops > LINK_MAX) {
                snprintf(err, errlen, "too many links (at most %d)", LINK_MAX);
                return CLI_ERROR;
            }
            ops[n_ops++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_links = 1;
            continue;
        }
        name = arg + 1 + (arg[1] == '-');
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        for (size_t k = 0; k < ARRAY_SIZE(opts); k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                o = &opts[k];
        if (o == NULL) {
            snprintf(err, errlen, "unknown option \"%.100s\" (see --help)", arg);
            return CLI_ERROR;
        }
        if (o->takes_value) {
            if (eq != NULL)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                snprintf(err, errlen, "option %s needs a value", arg);
                return CLI_ERROR;
            }
        } else if (eq != NULL) {
            snprintf(err, errlen, "option -%s takes no value", o->name);
            return CLI_ERROR;
        }
        switch (o->id) {
        case OPT_LIST:
            cfg->list = 1;
            break;
        case OPT_LHOST:
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->listen_host))
                goto bad_value;
            snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s", value);
            break;
        case OPT_LPORT:
            if (parse_uint(value, 0, 65535, &n) == -1)
                goto bad_value;
            cfg->listen_port = (uint16_t)n;
            break;
        case OPT_LISTEN:
            if (parse_listen(value, cfg) == -1)
                goto bad_value;
            break;
        case OPT_CONNECT_TIMEOUT:
            if (parse_seconds(value, 1, 3600000, &cfg->connect_timeout_ms) == -1)
                goto bad_value;
            break;
        case OPT_HANDSHAKE_TIMEOUT:
            if (parse_seconds(value, 1, 3600000, &cfg->handshake_timeout_ms) == -1)
                goto bad_value;
            break;
        case OPT_IDLE_TIMEOUT:
            if (parse_seconds(value, 0, 86400000, &cfg->idle_timeout_ms) == -1)
                goto bad_value;
            break;
        case OPT_MAX_CLIENTS:
            if (parse_uint(value, 1, 10000000, &n) == -1)
                goto bad_value;
            cfg->max_clients = (unsigned)n;
            break;
        case OPT_THREADS:
            if (parse_uint(value, 0, 64, &n) == -1)
                goto bad_value;
            cfg->threads = (unsigned)n;
            break;
        case OPT_NO_SPLICE:
            cfg->no_splice = 1;
            break;
        case OPT_AUTH: {
            /* Never echo the value: it holds a password. */
            const char *colon = strchr(value, ':');
            if (colon == NULL || colon - value > ACCESS_FIELD_MAX ||
                strlen(colon + 1) > ACCESS_FIELD_MAX) {
                snprintf(err, errlen, "-auth needs USER:PASSWORD (each at most %d bytes)",
                         ACCESS_FIELD_MAX);
                return CLI_ERROR;
            }
            if (cfg->n_auth == CFG_AUTH_MAX) {
                snprintf(err, errlen, "too many -auth (at most %d; use -auth-file)", CFG_AUTH_MAX);
                return CLI_ERROR;
            }
            cfg->auth[cfg->n_auth++] = value;
            break;
        }
        case OPT_AUTH_FILE:
            if (value[0] == '\0')
                goto bad_value;
            cfg->auth_file = value;
            break;
        case OPT_ALLOW:
            if (cfg->n_allow == CFG_ALLOW_MAX) {
                snprintf(err, errlen, "too many -allow (at most %d)", CFG_ALLOW_MAX);
                return CLI_ERROR;
            }
            if (access_parse_cidr(value, &cfg->allow[cfg->n_allow]) == -1)
                goto bad_value;
            cfg->n_allow++;
            break;
        case OPT_POLICY: {
            int p = balancer_policy_parse(value);
            if (p < 0)
                goto bad_value;
            cfg->policy = p;
            break;
        }
        case OPT_STICKY_TTL:
            if (parse_seconds(value, 1000, 604800000, &cfg->sticky_ttl_ms) == -1)
                goto bad_value;
            break;
        case OPT_FAIL_THRESHOLD:
            if (parse_uint(value, 1, 1000, &n) == -1)
                goto bad_value;
            cfg->fail_threshold = (unsigned)n;
            break;
        case OPT_PROBE:
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->probe) ||
                strchr(value, ':') == NULL)
                goto bad_value;
            snprintf(cfg->probe, sizeof(cfg->probe), "%s", value);
            break;
        case OPT_PROBE_INTERVAL:
            if (parse_seconds(value, 100, 3600000, &cfg->probe_interval_ms) == -1)
                goto bad_value;
            break;
        case OPT_PROBE_UP:
            cfg->probe_up = 1;
            break;
        case OPT_RACE_DELAY:
            if (parse_seconds(value, 0, 3600000, &cfg->race_delay_ms) == -1)
                goto bad_value;
            break;
        case OPT_OPEN:
            cfg->open = 1;
            break;
        case OPT_TUNNEL:
            cfg->tunnel = 1;
            break;
        case OPT_USER:
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->user))
                goto bad_value;
            snprintf(cfg->user, sizeof(cfg->user), "%s", value);
            break;
        case OPT_VERBOSE:
            cfg->verbosity = cfg->verbosity >= 1 ? 2 : 1;
            break;
        case OPT_VV:
            cfg->verbosity = 2;
            break;
        case OPT_QUIET:
            cfg->verbosity = -1;
            break;
        case OPT_HELP:
            cli_usage(stdout);
            return CLI_EXIT;
        case OPT_VERSION:
            printf("dispatch-proxy %s\n", DP_VERSION);
            return CLI_EXIT;
        }
        continue;
    bad_value:
        snprintf(err, errlen, "bad value \"%.100s\" for -%s", value, o->name);
        return CLI_ERROR;
    }
    return parse_links(ops, n_ops, cfg, err, errlen);
}
