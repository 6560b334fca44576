#include "dialer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "balancer.h"
#include "common.h"
#include "errmap.h"
#include "link.h"
#include "log.h"

/* Device binding is what makes Linux send through the chosen interface (weak host
 * model: the source address alone does not choose it). NOBIND builds turn it off to
 * prove the integration suite notices. */
#if defined(SO_BINDTODEVICE) && !defined(DP_DISABLE_BINDTODEVICE)
#define HAVE_BINDTODEVICE 1
#endif

#ifdef HAVE_BINDTODEVICE
static atomic_int bind_device_refused;
#endif

int
dialer_binds_device(void)
{
#ifdef HAVE_BINDTODEVICE
    return !atomic_load(&bind_device_refused);
#else
    return 0;
#endif
}

void
dialer_add_addr(struct dialer *d, const struct sockaddr *sa)
{
    if (d->n_addrs >= DIALER_MAX_ADDRS)
        return;
    if (sa->sa_family == AF_INET)
        memcpy(&d->addrs[d->n_addrs++], sa, sizeof(struct sockaddr_in));
    else if (sa->sa_family == AF_INET6)
        memcpy(&d->addrs[d->n_addrs++], sa, sizeof(struct sockaddr_in6));
}

void
dialer_add_addrinfo(struct dialer *d, const struct addrinfo *res)
{
    for (; res != NULL; res = res->ai_next)
        dialer_add_addr(d, res->ai_addr);
}

struct link *
dialer_link(const struct dialer *d)
{
    return d->link >= 0 ? &d->bal->links[d->link] : NULL;
}

static unsigned
family_mask(const struct dialer *d)
{
    unsigned mask = 0;
    for (unsigned i = 0; i < d->n_addrs; i++)
        mask |= d->addrs[i].ss_family == AF_INET6 ? BAL_FAMILY_V6 : BAL_FAMILY_V4;
    return mask;
}

static int
link_serves(const struct link *l, int family)
{
    return family == AF_INET6 ? l->has_v6 : l->has_v4;
}

static void
close_attempt(struct dialer *d)
{
    loop_timer_stop(d->loop, &d->timer);
    if (d->io.fd != -1) {
        loop_io_stop(d->loop, &d->io);
        close(d->io.fd);
        d->io.fd = -1;
    }
}

/* Options that decide which way the packets leave. Returns 0 or an errno. */
static int
bind_to_link(int fd, struct link *l, int family)
{
    static const int one = 1;
    int err;

#ifdef HAVE_BINDTODEVICE
    if (l->ifname[0] != '\0' && !atomic_load(&bind_device_refused) &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, l->ifname, (socklen_t)strlen(l->ifname)) ==
            -1) {
        err = errno;
        if (err == ENODEV)
            return ENODEV;
        if (err == EPERM && !atomic_exchange(&bind_device_refused, 1))
            log_warn("SO_BINDTODEVICE refused (%s): connections will only bind source "
                     "addresses, which Linux does not use to choose the interface. Use "
                     "Linux >= 5.7, or grant CAP_NET_RAW (setcap cap_net_raw+ep "
                     "dispatch-proxy), or set up policy routing (ip rule add from ADDR "
                     "table N)",
                     strerror(err));
    }
#endif
#ifdef IP_BIND_ADDRESS_NO_PORT
    /* Without it every bound socket reserves a port per source address whatever the
     * destination, and a few thousand connections per link run out of ports. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    if (family == AF_INET)
        err = bind(fd, (const struct sockaddr *)&l->src4, sizeof(l->src4));
    else
        err = bind(fd, (const struct sockaddr *)&l->src6, sizeof(l->src6));
    if (err == -1)
        return errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

static void try_next(struct dialer *d);

static void
attempt_failed(struct dialer *d, int err)
{
    struct link *l = &d->bal->links[d->link];
    char ebuf[64];

    close_attempt(d);
    d->last_err = err;
    log_debug("#%llu attempt via %s failed: %s", (unsigned long long)d->id, l->label,
              errmap_text(err));
    atomic_fetch_add_explicit(&l->n_failures, 1, memory_order_relaxed);
    if (errmap_is_link_failure(err)) {
        link_note_failure(l, loop_now(d->loop));
        if (atomic_load_explicit(&l->fail_streak, memory_order_relaxed) == 1)
            log_warn("link %s failed (%s); trying other links",
                     log_escape(ebuf, sizeof(ebuf), l->label, strlen(l->label)),
                     errmap_text(err));
        d->tried |= 1u << d->link;
        d->addr_idx = d->n_addrs; /* this link is done */
    } else if (errmap_is_final(err)) {
        d->tried = UINT32_MAX; /* the destination answered: stop here */
        d->addr_idx = d->n_addrs;
    }
    try_next(d);
}

static void
connected(struct dialer *d)
{
    struct link *l = &d->bal->links[d->link];
    int fd = d->io.fd;

    loop_timer_stop(d->loop, &d->timer);
    loop_io_stop(d->loop, &d->io);
    d->io.fd = -1;
    link_note_success(l);
    d->done(d, fd, 0);
}

static void
io_cb(struct loop_io *io, unsigned events)
{
    struct dialer *d = container_of(io, struct dialer, io);
    int err = 0;
    socklen_t len = sizeof(err);

    DP_UNUSED(events);
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err == 0)
        connected(d);
    else if (err != EINPROGRESS)
        attempt_failed(d, err);
}

static void
timer_cb(struct loop_timer *t)
{
    struct dialer *d = container_of(t, struct dialer, timer);
    attempt_failed(d, DP_ERR_TIMEOUT);
}

/* Starts one connect to addrs[idx] through links[d->link]. Returns 0 when the attempt is
 * under way (or already done), or an errno when it failed at once. */
static int
start_attempt(struct dialer *d, unsigned idx)
{
    struct link *l = &d->bal->links[d->link];
    const struct sockaddr_storage *dst = &d->addrs[idx];
    int family = dst->ss_family;
    socklen_t dlen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd, err;

    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return errno;
    err = bind_to_link(fd, l, family);
    if (err != 0) {
        close(fd);
        return err;
    }
    loop_io_init(&d->io, fd, io_cb);
    if (connect(fd, (const struct sockaddr *)dst, dlen) == -1 && errno != EINPROGRESS) {
        err = errno;
        d->io.fd = -1;
        close(fd);
        return err;
    }
    if (loop_io_set(d->loop, &d->io, LOOP_WRITE) == -1) {
        err = errno;
        d->io.fd = -1;
        close(fd);
        return err;
    }
    loop_timer_start(d->loop, &d->timer, d->timeout_ms);
    atomic_fetch_add_explicit(&l->n_connections, 1, memory_order_relaxed);
    return 0;
}

/* Finds the next (link, address) pair worth trying and starts it; calls done() with the
 * last error when nothing is left. */
static void
try_next(struct dialer *d)
{
    for (;;) {
        struct link *l;

        if (d->link >= 0 && d->addr_idx < d->n_addrs) {
            unsigned idx = d->addr_idx++;
            int family = d->addrs[idx].ss_family, err;

            l = &d->bal->links[d->link];
            if (!link_serves(l, family))
                continue;
            if (l->spec.kind == LINK_IFACE && link_refresh(l, family) == -1) {
                /* The interface is down or gone, or lost its address of this family. */
                d->addr_idx = idx + 1;
                attempt_failed(d, EADDRNOTAVAIL);
                return;
            }
            err = start_attempt(d, idx);
            if (err == 0)
                return;
            /* Failed at once (no route, device gone...): handled like a late failure. */
            d->addr_idx = idx + 1;
            attempt_failed(d, err);
            return;
        }
        if (d->link >= 0)
            d->tried |= 1u << d->link;
        if (d->tried == UINT32_MAX) {
            d->done(d, -1, d->last_err);
            return;
        }
        d->link = balancer_pick(d->bal, family_mask(d), d->tried, loop_now(d->loop));
        if (d->link < 0) {
            d->done(d, -1, d->last_err != 0 ? d->last_err : DP_ERR_NO_LINK);
            return;
        }
        d->addr_idx = 0;
    }
}

static void
start_work(struct loop_timer *t)
{
    struct dialer *d = container_of(t, struct dialer, timer);
    d->timer.cb = timer_cb;
    try_next(d);
}

void
dialer_start(struct dialer *d, struct loop *loop, struct balancer *bal, unsigned timeout_ms)
{
    d->loop = loop;
    d->bal = bal;
    d->timeout_ms = timeout_ms;
    d->addr_idx = 0;
    d->tried = 0;
    d->link = -1;
    d->last_err = 0;
    loop_io_init(&d->io, -1, io_cb);
    /* A zero-delay timer: done() never runs inside dialer_start, so callers need not
     * guard against re-entry. The same timer then serves as the attempt's timeout. */
    loop_timer_init(&d->timer, start_work);
    loop_timer_start(loop, &d->timer, 0);
}

void
dialer_cancel(struct dialer *d)
{
    if (d->loop == NULL)
        return;
    close_attempt(d);
}
