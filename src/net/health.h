/* The link watcher, on server 0's loop: keeps every link's addresses and presence
 * current (netlink notifications on Linux, plus a slow periodic re-read as a safety net;
 * periodic only elsewhere), probes links when -probe is given, feeds -policy adaptive its
 * weights from the live byte counters. (The -v link status lines: src/admin/status.c.) */
#ifndef DP_HEALTH_H
#define DP_HEALTH_H

#include <stdint.h>

#include "os.h"

#include "adaptive.h"
#include "connector.h"
#include "link.h"
#include "loop.h"

#define HEALTH_TICK_MS 1000
#define HEALTH_REREAD_MS 30000        /* safety-net re-read with netlink */
#define HEALTH_REREAD_POLL_MS 2000    /* re-read without netlink */
#define HEALTH_DNS_FOLLOW_MS 10000    /* DNS servers re-read each tick after a change */
#define HEALTH_PROBE_INTERVAL_MS 5000 /* default for -probe-interval */

struct balancer;
struct health;

struct health_probe {
    struct health *h;
    struct connector conn; /* the same way to a stream as every connection */
    int link;              /* -1: idle */
};

struct health {
    struct loop *loop;
    struct balancer *bal;
    struct resolver *resolver; /* for proxy links named by host name (set before start) */
    struct link *links;
    unsigned n_links;
    struct loop_timer tick;
    os_sock nl_fd; /* interface watch (netlink, ...) or OS_SOCK_INVALID: poll */
    struct loop_io nl_io;
    uint64_t last_reread_ms, last_probe_ms;
    uint64_t dns_follow_until_ms; /* after an interface change: re-read DNS servers each tick */
    /* -probe */
    int probing;
    int probe_up;
    unsigned probe_interval_ms, probe_timeout_ms;
    struct sockaddr_storage probe4, probe6; /* ss_family 0: none of that family */
    struct health_probe probes[LINK_MAX];
    unsigned probes_pending;
    uint32_t round_ok, round_slow;
    /* -policy adaptive */
    int adaptive;
    struct adaptive ad;
    uint32_t weights[LINK_MAX];
};

/* Parses and resolves "-probe HOST:PORT" ("[v6]:port" too) into h's probe addresses
 * (one per family at most). Blocking (start-up only). Returns 0, or -1 with a reason. */
int health_set_probe(struct health *h, const char *spec, char *err, size_t errlen);

/* Prepares h (no probe, no adaptive); call health_set_probe and set the fields after. */
void health_init(struct health *h);

/* Starts watching on loop (server 0's). Returns 0, or -1 (errno). Without netlink it
 * falls back to periodic re-reading and says so at -v. */
int health_start(struct health *h, struct loop *loop, struct balancer *bal);

/* Stops timers, probes and the netlink socket (on the loop's thread, or after it ran). */
void health_stop(struct health *h);

#endif
