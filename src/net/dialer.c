#include "dialer.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "balancer.h"
#include "common.h"
#include "errmap.h"
#include "link.h"
#include "log.h"
#include "os.h"
#include "sockopt.h"
#include "sticky.h"
#include "target.h"

/* Interface binding is what makes Linux send through the chosen interface (weak host
 * model: the source address alone does not choose it), and what macOS and Windows
 * offer as IP_BOUND_IF / IP_UNICAST_IF. NOBIND builds turn it off to prove the
 * integration suite notices. */
static atomic_int bind_device_refused;

int
dialer_binds_device(void)
{
    return os_can_bind_to_interface() && !atomic_load(&bind_device_refused);
}

static _Atomic unsigned race_delay_ms = DIALER_RACE_DELAY_MS; /* reload writes it */

void
dialer_set_race_delay(unsigned ms)
{
    race_delay_ms = ms;
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

int
dialer_add_target(struct dialer *d, const struct target *t)
{
    if (t->type == TARGET_IPV4) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(t->port)};
        memcpy(&sin.sin_addr, t->addr, 4);
        dialer_add_addr(d, (struct sockaddr *)&sin);
        return 1;
    }
    if (t->type == TARGET_IPV6 && dp_is_v4mapped(t->addr)) {
        /* ::ffff:a.b.c.d is an IPv4 destination: dialed over IPv4, by IPv4 links */
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(t->port)};
        memcpy(&sin.sin_addr, t->addr + 12, 4);
        dialer_add_addr(d, (struct sockaddr *)&sin);
        return 1;
    }
    if (t->type == TARGET_IPV6) {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(t->port)};
        memcpy(&sin6.sin6_addr, t->addr, 16);
        dialer_add_addr(d, (struct sockaddr *)&sin6);
        return 1;
    }
    return 0;
}

void
dialer_add_addrinfo(struct dialer *d, const struct addrinfo *res)
{
    for (; res != NULL; res = res->ai_next)
        dialer_add_addr(d, res->ai_addr);
}

void
dialer_set_affinity(struct dialer *d, struct balancer *bal, os_sock client_fd,
                    const struct target *t)
{
    struct sockaddr_storage peer;
    socklen_t len;

    d->affinity = 0;
    if (!balancer_wants_affinity(bal) || os_getpeername(client_fd, &peer, &len) == -1)
        return;
    if (t->type == TARGET_DOMAIN)
        d->affinity = sticky_key((struct sockaddr *)&peer, t->host, strlen(t->host));
    else
        d->affinity =
            sticky_key((struct sockaddr *)&peer, t->addr, t->type == TARGET_IPV4 ? 4 : 16);
}

struct link *
dialer_link(const struct dialer *d)
{
    return d->link >= 0 ? &d->bal->links[d->link] : NULL;
}

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned
family_mask(const struct dialer *d)
{
    unsigned mask = 0;
    for (unsigned i = 0; i < d->n_addrs; i++)
        mask |= d->addrs[i].ss_family == AF_INET6 ? BAL_FAMILY_V6 : BAL_FAMILY_V4;
    /* No addresses yet (a name to resolve, or proxy links that carry it): any link. */
    return mask != 0 ? mask : BAL_FAMILY_V4 | BAL_FAMILY_V6;
}

static int
link_serves(const struct link *l, int family)
{
    return family == AF_INET6 ? atomic_load_explicit(&l->has_v6, memory_order_relaxed)
                              : atomic_load_explicit(&l->has_v4, memory_order_relaxed);
}

/* Options that decide which way the packets leave: the device, then the source address
 * (TCP: with the port left to connect()). Returns 0 or an errno. */
static int
bind_to_link(os_sock fd, int family, int type, const struct link_src *src)
{
    if (src->ifname[0] != '\0' && os_can_bind_to_interface() &&
        !atomic_load(&bind_device_refused)) {
        int err = os_bind_to_interface(fd, family, src->ifname, src->ifindex);

        if (err == ENODEV)
            return ENODEV;
        if (err == EPERM && !atomic_exchange(&bind_device_refused, 1))
            log_warn("binding sockets to interfaces refused (%s): connections will only bind "
                     "source addresses, which Linux does not use to choose the interface. "
                     "Use Linux >= 5.7, or grant CAP_NET_RAW (setcap cap_net_raw+ep "
                     "dispatch-proxy), or set up policy routing (ip rule add from ADDR "
                     "table N)",
                     os_strerror(err));
    }
    /* Without it every bound socket reserves a port per source address whatever the
     * destination, and a few thousand connections per link run out of ports. */
    if (type == SOCK_STREAM)
        os_set_bind_no_port(fd);
    /* A proxy link reached through no chosen link has no source to bind. */
    if (src->addrlen != 0 && bind(fd, &src->addr.sa, src->addrlen) == -1)
        return os_errno();
    if (type == SOCK_STREAM) {
        os_set_nodelay(fd);
        sockopt_keepalive(fd);
    } else {
        os_set_udp_noreset(fd);
    }
    return 0;
}

os_sock
dialer_socket(struct link *l, int family, int type, int *err)
{
    struct link_src src;
    os_sock fd;

    /* The addresses come from the link watcher's copy: no getifaddrs per connection. */
    *err = link_source(l, family, &src);
    if (*err != 0)
        return OS_SOCK_INVALID;
    fd = os_socket(family, type, 0);
    if (fd == OS_SOCK_INVALID) {
        *err = os_errno();
        return OS_SOCK_INVALID;
    }
    *err = bind_to_link(fd, family, type, &src);
    if (*err != 0) {
        os_close(fd);
        return OS_SOCK_INVALID;
    }
    return fd;
}

/* ---- one attempt slot ---- */

static struct link *
slot_link(const struct dialer_attempt *a)
{
    return &a->d->bal->links[a->link];
}

/* Closes the slot's socket and timer (the slot keeps its link). */
static void
slot_close(struct dialer_attempt *a)
{
    struct dialer *d = a->d;

    loop_timer_stop(d->loop, &a->timer);
    if (a->io.fd != OS_SOCK_INVALID) {
        loop_io_close(&a->io);
        atomic_fetch_sub_explicit(&slot_link(a)->n_connecting, 1, memory_order_relaxed);
    }
}

/* The slot is done with its link. A trial it held gets its verdict: err != 0 failed
 * (the link's trial backoff doubles), 0 no verdict (released). */
static void
slot_leave(struct dialer_attempt *a, int err)
{
    struct dialer *d = a->d;

    if (a->link < 0)
        return;
    if (d->hooks != NULL && d->hooks->release != NULL)
        d->hooks->release(a);
    a->addrs_ready = 0;
    a->n_addrs = 0;
    if (a->trial) {
        if (err != 0)
            link_trial_failed(slot_link(a), err, loop_now(d->loop));
        else
            link_trial_release(slot_link(a));
        a->trial = 0;
    }
    d->tried |= UINT32_C(1) << a->link;
    a->link = -1;
}

static void
finish(struct dialer *d, os_sock fd, int err)
{
    d->finished = 1;
    loop_timer_stop(d->loop, &d->race_timer);
    for (int i = 0; i < 2; i++) {
        slot_close(&d->att[i]);
        slot_leave(&d->att[i], 0);
    }
    d->done(d, fd, err);
}

static void slot_advance(struct dialer_attempt *a);

/* A connect through a's link failed with err. Returns 1 when the whole dial is over. */
static int
attempt_failed(struct dialer_attempt *a, int err)
{
    struct dialer *d = a->d;
    struct link *l = slot_link(a);

    d->last_err = err;
    log_debug("#%llu attempt via %s failed: %s", (unsigned long long)d->id, l->label,
              errmap_text(err));
    if (d->pinned) {
        /* A probe: its owner judges the link. */
        finish(d, -1, err);
        return 1;
    }
    link_count_failure(l, err);
    if (errmap_is_final(err)) {
        /* The destination answered (refused, or an upstream proxy reported its failure)
         * through this link: the link works, and no other link will get a different
         * answer. */
        if (err == ECONNREFUSED || err <= DP_ERR_UPSTREAM_REP(1))
            link_note_success(l, loop_now(d->loop));
        finish(d, -1, err);
        return 1;
    }
    if (err == DP_ERR_TIMEOUT || err == ETIMEDOUT) {
        /* Maybe the link, maybe a silent destination: judged when another link connects. */
        d->slow |= UINT32_C(1) << a->link;
        a->addr_idx = a->n_addrs;
        if (a->trial)
            slot_leave(a, err);
    } else if (errmap_is_link_failure(err)) {
        link_note_failure(l, err, loop_now(d->loop));
        a->addr_idx = a->n_addrs;
        if (a->trial)
            slot_leave(a, err);
    }
    /* Anything else (host unreachable...): the link's next address, if any. */
    return 0;
}

static void io_cb(struct loop_io *io, unsigned events);
static void attempt_timer_cb(struct loop_timer *t);

/* Starts one connect to addrs[idx] through the slot's link. Returns 0 when under way, -1
 * when the link cannot serve that address's family, or an errno when it failed at once. */
static int
start_connect(struct dialer_attempt *a, unsigned idx)
{
    struct dialer *d = a->d;
    struct link *l = slot_link(a);
    const struct sockaddr_storage *dst = &a->addrs[idx];
    int family = dst->ss_family, err;
    os_sock fd;
    socklen_t dlen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

    if (!link_serves(l, family))
        return -1;
    fd = dialer_socket(l, family, SOCK_STREAM, &err);
    if (fd == OS_SOCK_INVALID)
        return err;
    if (os_connect(fd, (const struct sockaddr *)dst, dlen) == -1 && os_errno() != EINPROGRESS) {
        err = os_errno();
        os_close(fd);
        return err;
    }
    loop_io_init(&a->io, fd, io_cb);
    if (loop_io_set(d->loop, &a->io, LOOP_WRITE) == -1) {
        err = os_errno();
        a->io.fd = OS_SOCK_INVALID;
        os_close(fd);
        return err;
    }
    loop_timer_start(d->loop, &a->timer, d->timeout_ms);
    if (!d->pinned) /* probes are not connections */
        atomic_fetch_add_explicit(&l->n_connections, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->n_connecting, 1, memory_order_relaxed);
    a->conn_start_us = now_us();
    return 0;
}

static struct dialer_attempt *
other_slot(struct dialer_attempt *a)
{
    return a == &a->d->att[0] ? &a->d->att[1] : &a->d->att[0];
}

/* The addresses slot a's link connects to. Returns 1 when they are ready, 0 when the
 * slot waits for them (dialer_addrs_ready) or moved past its link. */
static int
slot_addrs(struct dialer_attempt *a)
{
    struct dialer *d = a->d;
    int err = 0;

    if (a->addrs_ready)
        return 1;
    if (d->hooks == NULL || d->hooks->addrs == NULL) {
        a->addrs = d->addrs;
        a->n_addrs = d->n_addrs;
        a->addrs_ready = 1;
        return 1;
    }
    switch (d->hooks->addrs(a, &err)) {
    case DIALER_READY:
        a->addrs_ready = 1;
        return 1;
    case DIALER_PENDING:
        return 0;
    case DIALER_FAILED:
        break;
    }
    /* This link cannot get there (the name did not resolve for it, or its upstream's
     * name did not): the next link may. Only a link failure counts against it. */
    d->last_err = err;
    log_debug("#%llu link %s cannot be used for this: %s", (unsigned long long)d->id,
              slot_link(a)->label, errmap_text(err));
    if (!d->pinned && errmap_is_link_failure(err))
        link_note_failure(slot_link(a), err, loop_now(d->loop));
    a->addrs_ready = 1;
    a->n_addrs = 0;
    a->addr_idx = 0;
    return 1;
}

/* Picks the next link for slot a, or returns -1 when none is left. */
static int
slot_pick(struct dialer_attempt *a)
{
    struct dialer *d = a->d;
    struct dialer_attempt *b = other_slot(a);
    struct balancer_req r = {
        .family_mask = family_mask(d),
        .exclude = d->tried | (b->link >= 0 ? UINT32_C(1) << b->link : 0),
        .now_ms = loop_now(d->loop),
        .affinity = d->affinity,
    };
    int k;

    if (d->pinned)
        k = (d->tried & (UINT32_C(1) << d->pin)) || b->link >= 0 ? -1 : (int)d->pin;
    else
        k = d->tried == UINT32_MAX ? -1 : balancer_choose(d->bal, &r);
    if (k < 0)
        return -1;
    a->link = k;
    a->trial = d->pinned ? 0 : r.trial;
    a->addr_idx = 0;
    a->addrs_ready = 0;
    a->n_addrs = 0;
    a->link_start_ms = loop_now(d->loop);
    if (a->trial)
        log_debug("#%llu trying down link %s (its one trial)", (unsigned long long)d->id,
                  d->bal->links[k].label);
    return k;
}

/* Moves slot a on: the next address of its link, else the next link, until a connect is
 * under way, the slot waits for addresses, or nothing is left for it. When both slots
 * are idle, the dial failed. */
static void
slot_advance(struct dialer_attempt *a)
{
    struct dialer *d = a->d;
    struct dialer_attempt *b = other_slot(a);

    while (!d->finished) {
        if (a->link >= 0 && !slot_addrs(a))
            return;
        if (d->finished)
            return;
        if (a->link >= 0 && a->addr_idx < a->n_addrs) {
            int err = start_connect(a, a->addr_idx++);

            if (err == 0) {
                /* Race a second link if this one is slow, unless one is racing already. */
                if (race_delay_ms > 0 && b->link < 0 && !d->pinned)
                    loop_timer_start(d->loop, &d->race_timer, race_delay_ms);
                return;
            }
            if (err < 0)
                continue; /* the link does not serve that address's family */
            if (d->hooks != NULL && d->hooks->connect_error != NULL)
                err = d->hooks->connect_error(a, err);
            if (attempt_failed(a, err))
                return;
            continue;
        }
        if (a->link >= 0)
            slot_leave(a, a->trial ? (d->last_err != 0 ? d->last_err : DP_ERR_TIMEOUT) : 0);
        if (slot_pick(a) < 0)
            break;
    }
    if (d->finished)
        return;
    if (b->link < 0)
        finish(d, -1, d->last_err != 0 ? d->last_err : DP_ERR_NO_LINK);
}

void
dialer_addrs_ready(struct dialer_attempt *a)
{
    if (!a->d->finished && a->link >= 0 && a->io.fd == OS_SOCK_INVALID)
        slot_advance(a);
}

/* a connected first: it wins, the other slot is closed. */
static void
slot_won(struct dialer_attempt *a)
{
    struct dialer *d = a->d;
    struct dialer_attempt *b = other_slot(a);
    struct link *l = slot_link(a);
    uint64_t now = loop_now(d->loop);
    os_sock fd = a->io.fd;

    loop_timer_stop(d->loop, &a->timer);
    loop_io_adopt(&d->out, &a->io);
    atomic_fetch_sub_explicit(&l->n_connecting, 1, memory_order_relaxed);
    if (d->pinned) {
        /* A probe: its owner judges the link. */
        d->link = a->link;
        d->finished = 1;
        d->done(d, fd, 0);
        return;
    }
    link_note_latency(l, now_us() - a->conn_start_us);
    link_note_success(l, now);
    a->trial = 0; /* the success was its verdict */
    if (b->link >= 0) {
        /* A link that had a head start and still lost is as slow as a timeout. */
        int lost = b->io.fd != OS_SOCK_INVALID && b->link_start_ms < a->link_start_ms;

        if (lost)
            d->slow |= UINT32_C(1) << b->link;
        log_debug("#%llu %s connected first; closing the attempt via %s", (unsigned long long)d->id,
                  l->label, slot_link(b)->label);
        slot_close(b);
        slot_leave(b, lost ? DP_ERR_TIMEOUT : 0);
    }
    /* Timeouts count against their links now that another link proved the destination
     * reachable: a silent destination never gets here. */
    for (unsigned i = 0; i < d->bal->n_links; i++)
        if ((d->slow & (UINT32_C(1) << i)) && (int)i != a->link)
            link_note_failure(&d->bal->links[i], DP_ERR_TIMEOUT, now);
    d->link = a->link;
    balancer_connected(d->bal, d->affinity, d->link, now);
    d->finished = 1;
    loop_timer_stop(d->loop, &d->race_timer);
    d->done(d, fd, 0);
}

static void
io_cb(struct loop_io *io, unsigned events)
{
    struct dialer_attempt *a = container_of(io, struct dialer_attempt, io);
    int err = 0;

    /* Writable without an error condition means connected (a failed connect always
     * raises an error event): only a failure needs SO_ERROR to learn why. */
    if ((events & LOOP_ERROR) || !(events & LOOP_WRITE)) {
        err = os_sock_error(io->fd);
        if (err == 0 && !(events & LOOP_WRITE))
            err = EINPROGRESS;
    }
    if (err == 0) {
        /* Connected; a proxy link's handshake comes first (timer still running). */
        enum dialer_step st = DIALER_READY;

        if (a->d->hooks != NULL && a->d->hooks->connected != NULL)
            st = a->d->hooks->connected(a, &err);
        if (st != DIALER_PENDING)
            dialer_handshake_done(a, st == DIALER_READY ? 0 : err);
        return;
    }
    if (err == EINPROGRESS)
        return;
    slot_close(a);
    if (a->d->hooks != NULL && a->d->hooks->connect_error != NULL)
        err = a->d->hooks->connect_error(a, err);
    if (!attempt_failed(a, err))
        slot_advance(a);
}

void
dialer_handshake_done(struct dialer_attempt *a, int err)
{
    if (err == 0) {
        slot_won(a);
        return;
    }
    slot_close(a);
    if (!attempt_failed(a, err))
        slot_advance(a);
}

static void
attempt_timer_cb(struct loop_timer *t)
{
    struct dialer_attempt *a = container_of(t, struct dialer_attempt, timer);
    int err = DP_ERR_TIMEOUT;

    if (a->d->hooks != NULL && a->d->hooks->connect_error != NULL)
        err = a->d->hooks->connect_error(a, err); /* before slot_close: it reads the step */
    slot_close(a);
    if (!attempt_failed(a, err))
        slot_advance(a);
}

/* The race delay passed with one attempt still connecting: start the other slot. */
static void
race_cb(struct loop_timer *t)
{
    struct dialer *d = container_of(t, struct dialer, race_timer);

    for (int i = 0; i < 2; i++) {
        struct dialer_attempt *a = &d->att[i], *b = &d->att[1 - i];

        if (a->link < 0 && b->link >= 0 && b->io.fd != OS_SOCK_INVALID) {
            log_debug("#%llu %s has not connected in %u ms: racing another link",
                      (unsigned long long)d->id, slot_link(b)->label, race_delay_ms);
            slot_advance(a);
            return;
        }
    }
}

static void
start_work(struct loop_timer *t)
{
    struct dialer *d = container_of(t, struct dialer, race_timer);

    d->race_timer.cb = race_cb;
    slot_advance(&d->att[0]);
}

void
dialer_start(struct dialer *d, struct loop *loop, struct balancer *bal, unsigned timeout_ms)
{
    d->loop = loop;
    d->bal = bal;
    d->timeout_ms = timeout_ms;
    d->tried = 0;
    d->slow = 0;
    d->link = -1;
    d->last_err = 0;
    d->finished = 0;
    loop_io_init(&d->out, -1, NULL);
    for (int i = 0; i < 2; i++) {
        struct dialer_attempt *a = &d->att[i];

        a->d = d;
        a->link = -1;
        a->trial = 0;
        a->addr_idx = 0;
        a->addrs_ready = 0;
        a->n_addrs = 0;
        loop_io_init(&a->io, -1, io_cb);
        loop_timer_init(&a->timer, attempt_timer_cb);
    }
    /* A zero-delay timer: done() never runs inside dialer_start, so callers need not
     * guard against re-entry. The same timer then serves as the race timer. */
    loop_timer_init(&d->race_timer, start_work);
    loop_timer_start(loop, &d->race_timer, 0);
}

void
dialer_take(struct dialer *d, struct loop_io *to)
{
    loop_io_adopt(to, &d->out);
}

void
dialer_cancel(struct dialer *d)
{
    if (d->loop == NULL)
        return;
    d->finished = 1;
    loop_timer_stop(d->loop, &d->race_timer);
    for (int i = 0; i < 2; i++) {
        slot_close(&d->att[i]);
        slot_leave(&d->att[i], 0);
    }
}
