#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "common.h"
#include "dialer.h"
#include "errmap.h"
#include "log.h"
#include "os.h"

void
health_init(struct health *h)
{
    memset(h, 0, sizeof(*h));
    h->nl_fd = OS_SOCK_INVALID;
    h->probe_interval_ms = HEALTH_PROBE_INTERVAL_MS;
    h->probe_timeout_ms = HEALTH_PROBE_INTERVAL_MS;
}

int
health_set_probe(struct health *h, const char *spec, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char host[256];
    const char *colon, *hs = spec;
    size_t hlen;
    int rc;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        hs = spec + 1;
        hlen = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL)
            goto bad;
        hlen = (size_t)(colon - spec);
    }
    if (hlen == 0 || hlen >= sizeof(host) || colon[1] == '\0')
        goto bad;
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "-probe %.100s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET && h->probe4.ss_family == 0)
            memcpy(&h->probe4, ai->ai_addr, sizeof(struct sockaddr_in));
        else if (ai->ai_family == AF_INET6 && h->probe6.ss_family == 0)
            memcpy(&h->probe6, ai->ai_addr, sizeof(struct sockaddr_in6));
    }
    freeaddrinfo(res);
    if (h->probe4.ss_family == 0 && h->probe6.ss_family == 0)
        goto bad;
    h->probing = 1;
    return 0;
bad:
    snprintf(err, errlen, "bad value \"%.100s\" for -probe (HOST:PORT or [IPv6]:PORT)", spec);
    return -1;
}

/* ---- probes ---- */

static void
probe_round_end(struct health *h)
{
    uint64_t now = loop_now(h->loop);

    /* A probe that timed out through an up link counts only if another link's probe got
     * through in the same round: otherwise it is the probe target that is silent. */
    if (h->round_ok != 0)
        for (unsigned i = 0; i < h->n_links; i++)
            if (h->round_slow & (UINT32_C(1) << i))
                link_note_failure(&h->links[i], DP_ERR_TIMEOUT, now);
    h->round_ok = h->round_slow = 0;
}

static void
probe_result(struct health_probe *p, int err)
{
    struct health *h = p->h;
    struct link *l = &h->links[p->link];
    uint64_t now = loop_now(h->loop);

    if (err == 0 || err == ECONNREFUSED || err <= DP_ERR_UPSTREAM_REP(1)) {
        /* Refused is an answer from the far end (directly or as an upstream proxy
         * reported it): the path works. */
        log_debug("probe via %s: ok", l->label);
        h->round_ok |= UINT32_C(1) << p->link;
        link_note_success(l, now);
    } else {
        log_debug("probe via %s failed: %s", l->label, errmap_text(err));
        if (link_state_of(l) != LINK_DOWN) {
            if (err == DP_ERR_TIMEOUT || err == ETIMEDOUT || !errmap_is_link_failure(err))
                h->round_slow |= UINT32_C(1) << p->link;
            else
                link_note_failure(l, err, now);
        }
    }
    p->link = -1;
    if (--h->probes_pending == 0)
        probe_round_end(h);
}

static void
probe_done(struct connector *c, os_sock fd, int err)
{
    struct health_probe *p = container_of(c, struct health_probe, conn);
    struct loop_io io;

    if (fd != OS_SOCK_INVALID) {
        connector_take(c, &io);
        loop_io_close(&io);
    }
    probe_result(p, err);
}

/* Starts a probe through link i (the connector, pinned to the link: its handshake
 * included when the link is a proxy). Returns 1 if one is in flight. */
static int
probe_start(struct health *h, unsigned i)
{
    struct health_probe *p = &h->probes[i];
    struct link *l = &h->links[i];
    const struct sockaddr_storage *dst = NULL;
    struct connector_env env = {
        .loop = h->loop,
        .bal = h->bal,
        .resolver = h->resolver,
        .timeout_ms = h->probe_timeout_ms,
    };

    if (atomic_load_explicit(&l->has_v4, memory_order_relaxed) && h->probe4.ss_family != 0)
        dst = &h->probe4;
    else if (atomic_load_explicit(&l->has_v6, memory_order_relaxed) && h->probe6.ss_family != 0)
        dst = &h->probe6;
    if (dst == NULL)
        return 0; /* the probe target has no address of a family this link serves */
    p->link = (int)i;
    h->probes_pending++;
    connector_probe(&p->conn, &env, i, (const struct sockaddr *)dst, probe_done);
    return 1;
}

static void
probe_round(struct health *h)
{
    h->round_ok = h->round_slow = 0;
    h->probes_pending = 1; /* held while starting, so a quick failure cannot end the round */
    for (unsigned i = 0; i < h->n_links; i++) {
        struct link *l = &h->links[i];

        /* An absent link (interface down, address gone) waits for the watcher instead. */
        if (atomic_load_explicit(&l->absent, memory_order_relaxed) != 0)
            continue;
        if (link_state_of(l) == LINK_DOWN || h->probe_up)
            probe_start(h, i);
    }
    if (--h->probes_pending == 0)
        probe_round_end(h);
}

/* ---- interfaces ---- */

static void
reread(struct health *h, uint64_t now)
{
    h->last_reread_ms = now;
    if (link_refresh_all(h->links, h->n_links, now) == -1)
        log_debug("cannot read the interfaces: %s", os_strerror(os_errno()));
}

static void
ifwatch_cb(struct loop_io *io, unsigned events)
{
    struct health *h = container_of(io, struct health, nl_io);
    int changed;

    DP_UNUSED(events);
    changed = os_ifwatch_drain(io->fd);
    if (changed == -1) {
        log_warn("interface notifications: %s; following interfaces by polling every %d s",
                 os_strerror(os_errno()), HEALTH_REREAD_POLL_MS / 1000);
        loop_io_stop(h->loop, io);
        os_ifwatch_close(io->fd);
        h->nl_fd = OS_SOCK_INVALID;
        return;
    }
    if (changed) {
        reread(h, loop_now(h->loop));
        h->dns_follow_until_ms = loop_now(h->loop) + HEALTH_DNS_FOLLOW_MS;
    }
}

/* ---- the tick ---- */

static void
adaptive_tick(struct health *h, uint64_t now)
{
    uint64_t bytes[LINK_MAX], active[LINK_MAX];
    unsigned ratio[LINK_MAX];
    uint32_t lat[LINK_MAX];

    for (unsigned i = 0; i < h->n_links; i++) {
        struct link *l = &h->links[i];

        bytes[i] = atomic_load_explicit(&l->bytes_up, memory_order_relaxed) +
                   atomic_load_explicit(&l->bytes_down, memory_order_relaxed);
        active[i] = atomic_load_explicit(&l->n_active, memory_order_relaxed);
        ratio[i] = l->spec.ratio;
        lat[i] = atomic_load_explicit(&l->connect_us, memory_order_relaxed);
    }
    adaptive_sample(&h->ad, bytes, active, now);
    adaptive_weights(&h->ad, ratio, lat, h->weights);
    balancer_set_weights(h->bal, h->weights);
}

static void
tick_cb(struct loop_timer *t)
{
    struct health *h = container_of(t, struct health, tick);
    uint64_t now = loop_now(h->loop);
    uint64_t every = h->nl_fd != OS_SOCK_INVALID ? HEALTH_REREAD_MS : HEALTH_REREAD_POLL_MS;

    if (link_refresh_requested() || now - h->last_reread_ms >= every)
        reread(h, now);
    else if (now < h->dns_follow_until_ms)
        link_reread_sys_dns(h->links, h->n_links);
    if (h->adaptive)
        adaptive_tick(h, now);
    if (h->probing && h->probes_pending == 0 && now - h->last_probe_ms >= h->probe_interval_ms) {
        h->last_probe_ms = now;
        probe_round(h);
    }
    loop_timer_start(h->loop, &h->tick, HEALTH_TICK_MS);
}

int
health_start(struct health *h, struct loop *loop, struct balancer *bal)
{
    uint64_t now = loop_now(loop);

    h->loop = loop;
    h->bal = bal;
    h->links = bal->links;
    h->n_links = bal->n_links;
    adaptive_init(&h->ad, h->n_links);
    for (unsigned i = 0; i < LINK_MAX; i++) {
        h->probes[i].h = h;
        h->probes[i].link = -1;
    }
    h->nl_fd = os_ifwatch_open();
    if (h->nl_fd != OS_SOCK_INVALID) {
        loop_io_init(&h->nl_io, h->nl_fd, ifwatch_cb);
        if (loop_io_set(loop, &h->nl_io, LOOP_READ) == -1) {
            os_ifwatch_close(h->nl_fd);
            h->nl_fd = OS_SOCK_INVALID;
        }
    }
    if (h->nl_fd == OS_SOCK_INVALID)
        log_debug("no interface notifications (%s): re-reading interfaces every %d s",
                  os_strerror(os_errno()), HEALTH_REREAD_POLL_MS / 1000);
    /* Anything that changed between link_init and now. */
    reread(h, now);
    h->last_probe_ms = now - h->probe_interval_ms; /* first probe round at the first tick */
    loop_timer_init(&h->tick, tick_cb);
    loop_timer_start(loop, &h->tick, h->probing ? 0 : HEALTH_TICK_MS);
    return 0;
}

void
health_stop(struct health *h)
{
    if (h->loop == NULL)
        return;
    loop_timer_stop(h->loop, &h->tick);
    for (unsigned i = 0; i < LINK_MAX; i++)
        connector_cancel(&h->probes[i].conn);
    if (h->nl_fd != OS_SOCK_INVALID) {
        loop_io_stop(h->loop, &h->nl_io);
        os_ifwatch_close(h->nl_fd);
        h->nl_fd = OS_SOCK_INVALID;
    }
    h->loop = NULL;
}
