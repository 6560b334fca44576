/* The one way every part of the proxy gets an outgoing stream: the SOCKS and HTTP front
 * ends, -tunnel sessions and the health probes.
 *
 *   target ─► resolve (per-link DNS through the attempt's link, or -dns system; never
 *             for names an upstream resolves: socks5h, socks4a, http) ─► pick a link (balancer,
 *             health) ─► dial through the link (device + source binding) ─► upstream
 *             handshake when the link is a proxy ─► race / fail over ─► stream
 *
 * The racing and failover engine is the dialer (dialer.h); this file adds the steps
 * around each attempt through its hooks.
 *
 * Failure causes (errmap.h): an upstream that is down, refuses our credentials, breaks
 * the protocol or times out fails that attempt and the next link is tried; what an
 * upstream reports about the destination (SOCKS5 REP, SOCKS4 91, HTTP non-2xx) is final
 * and passed to the client, and the link counts as working. */
#ifndef DP_CONNECTOR_H
#define DP_CONNECTOR_H

#include <stdint.h>

#include "dialer.h"
#include "loop.h"
#include "os.h"
#include "target.h"
#include "upstream.h"

struct balancer;
struct link;
struct resolver;
struct resolve_req;
struct dns_resolver;
struct dns_lookup;
struct connector;

/* What a connector runs on: the caller's loop and the process's links and resolver. */
struct connector_env {
    struct loop *loop;
    struct balancer *bal;
    struct resolver *resolver;
    struct dns_resolver *dns; /* per-link DNS for targets' names; NULL: -dns system */
    unsigned timeout_ms;      /* per attempt: connect and upstream handshake; also lookups */
};

/* Called once: fd valid, a stream through connector_link(c) ready for the client's bytes
 * (take it with connector_take); or OS_SOCK_INVALID and err (errno or DP_ERR_*). */
typedef void (*connector_done_fn)(struct connector *c, os_sock fd, int err);

enum connector_res { RES_NONE, RES_PENDING, RES_DONE, RES_FAILED };

/* Per attempt slot: the upstream's addresses and the handshake in progress. */
struct connector_slot {
    struct resolve_req *resolve; /* the upstream proxy's name */
    enum connector_res res;
    struct sockaddr_storage addrs[4];
    unsigned n_addrs;
    int waiting; /* waits for the target's addresses */
    int step;    /* handshake step (connector.c) */
    size_t in_len;
    uint8_t in[UPSTREAM_REPLY_MAX];
};

struct connector {
    struct dialer dialer;
    struct connector_env env;
    struct target target;
    int has_target;              /* 0: -tunnel, the client's bytes name no destination */
    struct resolve_req *resolve; /* the target's name (-dns system) */
    os_sock client_fd;           /* whose lookups these are (the resolver's fairness) */
    struct dns_lookup *lookup;   /* the target's name (per-link DNS) */
    int res_err;                 /* RES_FAILED: why (DP_ERR_RESOLVE, DP_ERR_DNS_*) */
    int dns_asked;               /* the link whose DNS was asked first */
    uint32_t dns_skip;           /* links whose DNS did not answer: connections move away */
    enum connector_res res;
    struct loop_timer res_timer; /* bounds every lookup of this connection */
    struct connector_slot slot[2];
    struct target bnd; /* what the upstream reported as bound (has_bnd) */
    int has_bnd;
    int resuming, deferred, deferred_fd, deferred_err;
    uint64_t id;
    connector_done_fn done;
};

/* Starts getting a stream to t (NULL: -tunnel, the link's far end is the destination).
 * client_fd (or OS_SOCK_INVALID) and t make the sticky policy's key. done() is called later from
 * the loop, never from inside this call. c must be zeroed or cancelled before. */
void connector_start(struct connector *c, const struct connector_env *env, const struct target *t,
                     os_sock client_fd, uint64_t id, connector_done_fn done);

/* A probe: a stream to dst through link index only, handshake included, with no health
 * verdict of its own (the caller judges). */
void connector_probe(struct connector *c, const struct connector_env *env, unsigned link,
                     const struct sockaddr *dst, connector_done_fn done);

/* Stops whatever is in progress (sockets closed, lookups cancelled); done() will not be
 * called. Safe on a zeroed or finished connector. */
void connector_cancel(struct connector *c);

/* Inside done() with fd >= 0: moves the stream and its event registration to `to`. */
void connector_take(struct connector *c, struct loop_io *to);

/* The link the stream goes through (NULL before success). */
struct link *connector_link(const struct connector *c);

/* The BND a SOCKS reply reports: what the upstream proxy reported, else the stream's
 * local address. Writes out (ss_family AF_UNSPEC when there is nothing to tell).
 * Returns 0, or -1 when getsockname failed. */
int connector_bound(const struct connector *c, os_sock fd, struct sockaddr_storage *out);

#endif
