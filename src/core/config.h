/* Everything the command line decides, read-only once the proxy runs. */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdint.h>

#include "access.h"
#include "link.h"

#define CFG_AUTH_MAX 64
#define CFG_ALLOW_MAX 64
#define CFG_FILE_MAX (1024 * 1024) /* -config: larger files are refused */
#define CFG_THREADS_AUTO_MAX 8     /* -threads auto: one loop per online CPU, at most this */

/* A link as written (command line operand or "link" line), parsed once every option is
 * known (-tunnel changes what a link is). line 0: the command line. */
struct cfg_link_text {
    const char *text;
    unsigned line;
};

struct config {
    char listen_host[64];
    uint16_t listen_port;
    char status_listen[80]; /* -status HOST:PORT: the status page's listener ("" off) */
    struct link_spec links[LINK_MAX];
    unsigned n_links;
    int tunnel;    /* -tunnel: links are HOST:PORT upstreams, client bytes piped unchanged */
    int list;      /* -list: print interfaces and exit */
    int verbosity; /* 0 normal, 1 -v, 2 -vv; -1 -quiet */
    unsigned connect_timeout_ms;
    unsigned handshake_timeout_ms;
    unsigned idle_timeout_ms; /* 0: relayed connections never time out while idle */
    unsigned max_clients;     /* 0: derived from RLIMIT_NOFILE at start */
    unsigned threads;         /* event loops; 0 (auto): one per online CPU, capped */
    int no_splice;            /* -no-splice: copy through buffers even where splice works */
    char user[64];            /* -user: drop root privileges to this user after start-up */

    /* -half-close-timeout: a relayed connection one side of which has finished (EOF
     * passed on) is closed once nothing moved for that long (0: never). */
    unsigned half_close_timeout_ms;

    /* SOCKS5 UDP ASSOCIATE (src/front/udp.c). */
    unsigned udp_timeout_ms; /* -udp-timeout: an association idle that long ends (0: never) */
    unsigned udp_max;        /* -udp-max: associations at once, all clients (0: refused) */
    unsigned udp_max_client; /* -udp-max-client: associations at once per client address */

    /* Access (src/access.h). -auth values point into argv. */
    const char *auth[CFG_AUTH_MAX]; /* -auth USER:PASS */
    unsigned n_auth;
    const char *auth_file;                   /* -auth-file: re-read on SIGHUP */
    struct access_cidr allow[CFG_ALLOW_MAX]; /* -allow CIDR */
    unsigned n_allow;
    int open; /* -open: listening on every address without -auth or -allow is intended */
    /* Link health and dispatch (src/link.h, src/balancer.h, src/health.h). */
    int policy;              /* enum balancer_policy: -policy wrr|lc|sticky|adaptive */
    unsigned fail_threshold; /* -fail-threshold: failures in a row that make a link down */
    char probe[300];         /* -probe HOST:PORT ("" none: no traffic of our own) */
    unsigned probe_interval_ms;
    int probe_up;           /* -probe-up: probe links that are up too */
    unsigned race_delay_ms; /* -race-delay: 0 no racing */
    unsigned sticky_ttl_ms; /* -sticky-ttl */
    char dns[512];          /* -dns: "system", or [LINK=]ADDR,... (dns_resolver.h) */
    /* The config file (src/core/options.h). */
    const char *config_file; /* -config FILE (NULL: none) */
    int check_config;        /* -check-config: validate, print the verdict, exit 0/1 */
    char *file_text;         /* owned: the file's text; its values point into it */
    struct cfg_link_text pending[LINK_MAX + 1];
    unsigned n_pending;
};

#endif
