/* SOCKS5 UDP associations: see udp.h for what they promise. */
#include "udp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "balancer.h"
#include "bufpool.h"
#include "common.h"
#include "config.h"
#include "dialer.h"
#include "dns_resolver.h"
#include "errmap.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "os.h"
#include "resolver.h"
#include "server.h"
#include "session.h"
#include "socks5.h"
#include "socks5_udp.h"
#include "sticky.h"

#define UDP_CHECK_MS 1000 /* how often an association looks at its link and idle time */
#define UDP_BATCH 64      /* datagrams per readiness event before other sockets get a turn */
#define UDP_NAMES 4       /* names remembered per association */
#define UDP_LOOKUPS 4     /* names looked up at once per association */
#define UDP_NAME_TTL_MS 60000u
#define UDP_NAME_FAIL_TTL_MS 5000u /* a name that did not resolve is not asked again soon */
/* The largest datagram that waits for its name; larger ones sent while the name is
 * looked up are dropped (DNS queries and QUIC's first packets, 1200 to 1500 bytes, fit). */
#define UDP_PENDING_MAX 2048
/* Room before a remote's payload for the header the reply gets. */
#define UDP_HEADROOM SOCKS5_UDP_HDR_IP_MAX

union udp_addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    struct sockaddr_storage ss;
};

struct udp_name {
    char host[256];
    uint64_t expires_ms;
    union udp_addr addr; /* port 0; AF_UNSPEC: the name did not resolve */
};

struct udp_assoc;

/* A name being looked up, and the one datagram that waits for it. */
struct udp_lookup {
    struct udp_assoc *a;
    struct resolve_req *resolve; /* -dns system: getaddrinfo on the resolver threads */
    struct dns_lookup *lookup;   /* else per-link DNS through the association's link */
    char host[256];
    uint16_t port;
    int has_pending;
    size_t len;
    uint8_t data[UDP_PENDING_MAX];
};

/* One outgoing socket, per address family, pinned to the association's link. */
struct udp_out {
    struct loop_io io;
    struct udp_assoc *a;
};

struct udp_assoc {
    LIST_ENTRY(udp_assoc) entry; /* in reg.all while registered */
    struct session *s;
    struct loop *loop;
    struct resolver *resolver; /* -dns system: getaddrinfo on the resolver threads */
    struct dns_resolver *dns;  /* else per-link DNS through the association's link */
    struct link *link;
    int registered, closed;
    int started_down; /* the link was down when picked (nothing better) and has not been up since */
    struct loop_io client; /* ours, on the address the client reached us at */
    struct udp_out out[2]; /* [0] IPv4, [1] IPv6: opened by the first datagram of each */
    struct loop_timer timer;
    union udp_addr peer; /* the control connection's client (v4-mapped as IPv4) */
    union udp_addr src;  /* locked: the IP:port of the client's first valid datagram */
    int locked;
    uint64_t idle_ms, last_ms;
    uint64_t n_up, n_down, n_dropped;
    /* Names: up to UDP_LOOKUPS different ones looked up at once, answers remembered. */
    struct udp_lookup lookups[UDP_LOOKUPS];
    struct udp_name names[UDP_NAMES];
    unsigned next_name;
    struct loop_work free_work;
};

/* Every thread's associations: the limits count them. */
static struct {
    pthread_mutex_t mu;
    LIST_HEAD(udp_list, udp_assoc) all;
    unsigned n;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

unsigned
udp_assoc_count(void)
{
    unsigned n;

    pthread_mutex_lock(&reg.mu);
    n = reg.n;
    pthread_mutex_unlock(&reg.mu);
    return n;
}

/* ---- addresses ---- */

static socklen_t
addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* A v4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as the IPv4 it
 * is, so that both sides of a comparison and every socket family agree. */
static void
unmap(union udp_addr *u)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};

    if (u->sa.sa_family != AF_INET6 || !dp_is_v4mapped(&u->v6.sin6_addr))
        return;
    v4.sin_port = u->v6.sin6_port;
    memcpy(&v4.sin_addr, (const uint8_t *)&u->v6.sin6_addr + 12, 4);
    memset(u, 0, sizeof(*u));
    u->v4 = v4;
}

static int
same_ip(const union udp_addr *a, const union udp_addr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return 0;
    if (a->sa.sa_family == AF_INET)
        return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
    return a->sa.sa_family == AF_INET6 &&
           memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof(a->v6.sin6_addr)) == 0;
}

static int
same_source(const union udp_addr *a, const union udp_addr *b)
{
    if (!same_ip(a, b))
        return 0;
    return a->sa.sa_family == AF_INET ? a->v4.sin_port == b->v4.sin_port
                                      : a->v6.sin6_port == b->v6.sin6_port;
}

static void
set_port(union udp_addr *u, uint16_t port)
{
    if (u->sa.sa_family == AF_INET)
        u->v4.sin_port = htons(port);
    else
        u->v6.sin6_port = htons(port);
}

/* ---- limits ---- */

/* Counts a in, unless that passes a limit: returns 0, or -1 (-udp-max reached) or -2
 * (-udp-max-client reached for its client's address). */
static int
registry_add(struct udp_assoc *a, unsigned max, unsigned max_client)
{
    struct udp_assoc *x;
    unsigned mine = 0;
    int rc = 0;

    pthread_mutex_lock(&reg.mu);
    if (reg.n >= max) {
        rc = -1;
    } else {
        LIST_FOREACH(x, &reg.all, entry)
        mine += same_ip(&x->peer, &a->peer);
        if (mine >= max_client) {
            rc = -2;
        } else {
            LIST_INSERT_HEAD(&reg.all, a, entry);
            reg.n++;
            a->registered = 1;
        }
    }
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

static void
registry_remove(struct udp_assoc *a)
{
    pthread_mutex_lock(&reg.mu);
    LIST_REMOVE(a, entry);
    reg.n--;
    pthread_mutex_unlock(&reg.mu);
    a->registered = 0;
}

/* ---- life ---- */

static void
free_cb(struct loop_work *w)
{
    free(container_of(w, struct udp_assoc, free_work));
}

/* Releases everything a holds (any part may not have been acquired yet). */
static void
assoc_close(struct udp_assoc *a)
{
    a->closed = 1;
    loop_timer_stop(a->loop, &a->timer);
    for (unsigned i = 0; i < UDP_LOOKUPS; i++) {
        struct udp_lookup *lk = &a->lookups[i];

        if (lk->resolve != NULL)
            resolver_cancel(lk->resolve);
        lk->resolve = NULL;
        if (lk->lookup != NULL)
            dns_lookup_cancel(lk->lookup);
        lk->lookup = NULL;
    }
    loop_io_close(&a->client);
    loop_io_close(&a->out[0].io);
    loop_io_close(&a->out[1].io);
    if (a->registered)
        registry_remove(a);
    if (a->link != NULL)
        atomic_fetch_sub_explicit(&a->link->udp_active, 1, memory_order_relaxed);
    a->link = NULL;
    /* Events for our sockets may still be queued in this batch: free after it. */
    a->free_work.cb = free_cb;
    loop_defer(a->loop, &a->free_work);
}

void
udp_assoc_free(struct session *s)
{
    struct udp_assoc *a = s->udp;

    s->udp = NULL;
    if (a == NULL)
        return;
    log_debug("#%llu UDP association closed (%llu datagrams out, %llu back, %llu dropped)",
              (unsigned long long)s->id, (unsigned long long)a->n_up, (unsigned long long)a->n_down,
              (unsigned long long)a->n_dropped);
    assoc_close(a);
}

/* A datagram is not relayed: counted, and said with -vv (one line per datagram). */
static void
drop(struct udp_assoc *a, const char *why, const union udp_addr *from)
{
    a->n_dropped++;
    if (log_threshold > LOG_DEBUG) {
        char f[LOG_SOCKADDR_MAX];
        log_msg(LOG_DEBUG, "#%llu UDP datagram dropped: %s%s%s", (unsigned long long)a->s->id, why,
                from != NULL ? " from " : "",
                from != NULL ? log_sockaddr(f, sizeof(f), &from->sa) : "");
    }
}

/* ---- remote to client ---- */

static void
remote_cb(struct loop_io *io, unsigned events)
{
    struct udp_out *o = container_of(io, struct udp_out, io);
    struct udp_assoc *a = o->a;
    struct buf *b;
    const size_t cap = BUFPOOL_BUF_SIZE - UDP_HEADROOM;

    DP_UNUSED(events);
    if (a->closed || (b = bufpool_get()) == NULL)
        return;
    for (int i = 0; i < UDP_BATCH; i++) {
        union udp_addr from;
        socklen_t flen = sizeof(from);
        uint8_t hdr[SOCKS5_UDP_HDR_IP_MAX], *start;
        size_t h;
        ssize_t n = os_recvfrom(io->fd, b->data + UDP_HEADROOM, cap, &from.sa, &flen);

        if (n == -1)
            break; /* EAGAIN; unconnected UDP sockets report no ICMP errors to wait for */
        if (!a->locked || (size_t)n == cap) {
            drop(a, a->locked ? "too large for a reply" : "no client yet", &from);
            continue;
        }
        unmap(&from);
        h = socks5_udp_write_from(hdr, &from.sa);
        start = b->data + UDP_HEADROOM - h;
        memcpy(start, hdr, h);
        if (os_sendto(a->client.fd, start, h + (size_t)n, &a->src.sa, addr_len(&a->src.sa)) == -1) {
            drop(a, os_strerror(os_errno()), &from);
            continue;
        }
        a->n_down++;
        atomic_fetch_add_explicit(&a->link->udp_dgrams_down, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->link->udp_bytes_down, (uint64_t)n, memory_order_relaxed);
        a->last_ms = loop_now(a->loop);
    }
    bufpool_put(b);
}

/* ---- client to remote ---- */

/* The socket for family, opened on the association's link at its first use. */
static os_sock
out_socket(struct udp_assoc *a, int family)
{
    struct udp_out *o = &a->out[family == AF_INET6];
    int err = 0;
    os_sock fd;

    if (o->io.fd != OS_SOCK_INVALID)
        return o->io.fd;
    fd = dialer_socket(a->link, family, SOCK_DGRAM, &err);
    if (fd == OS_SOCK_INVALID) {
        if (log_threshold >= LOG_DEBUG)
            log_debug("#%llu UDP: no IPv%c socket on link %s: %s", (unsigned long long)a->s->id,
                      family == AF_INET6 ? '6' : '4', a->link->label, errmap_text(err));
        return OS_SOCK_INVALID;
    }
    loop_io_init(&o->io, fd, remote_cb);
    if (loop_io_set(a->loop, &o->io, LOOP_READ) == -1) {
        loop_io_close(&o->io);
        return OS_SOCK_INVALID;
    }
    if (log_threshold >= LOG_DEBUG) {
        struct sockaddr_storage ss;
        socklen_t len;
        char f[LOG_SOCKADDR_MAX];

        if (os_getsockname(fd, &ss, &len) == 0)
            log_debug("#%llu UDP via %s from %s", (unsigned long long)a->s->id, a->link->label,
                      log_sockaddr(f, sizeof(f), (struct sockaddr *)&ss));
    }
    return fd;
}

static void
send_out(struct udp_assoc *a, const union udp_addr *dst, const uint8_t *p, size_t n)
{
    os_sock fd = out_socket(a, dst->sa.sa_family);

    if (fd == OS_SOCK_INVALID) {
        drop(a, "the link has no address of the destination's family", dst);
        return;
    }
    if (os_sendto(fd, p, n, &dst->sa, addr_len(&dst->sa)) == -1) {
        drop(a, os_strerror(os_errno()), dst);
        return;
    }
    a->n_up++;
    atomic_fetch_add_explicit(&a->link->udp_dgrams_up, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->link->udp_bytes_up, n, memory_order_relaxed);
}

static struct udp_name *
name_find(struct udp_assoc *a, const char *host)
{
    uint64_t now = loop_now(a->loop);

    for (unsigned i = 0; i < UDP_NAMES; i++)
        if (a->names[i].expires_ms > now && strcmp(a->names[i].host, host) == 0)
            return &a->names[i];
    return NULL;
}

/* Whether the association's link can send to sa's family now. */
static int
link_reaches(const struct udp_assoc *a, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return atomic_load_explicit(&a->link->has_v4, memory_order_relaxed);
    return sa->sa_family == AF_INET6 &&
           atomic_load_explicit(&a->link->has_v6, memory_order_relaxed);
}

/* The lookup in lk ended: sa is the address to use (NULL: none). Remembers it, frees
 * the slot and sends the datagram that waited for it. */
static void
name_resolved(struct udp_lookup *lk, const struct sockaddr *sa)
{
    struct udp_assoc *a = lk->a;
    struct udp_name *e = &a->names[a->next_name++ % UDP_NAMES];
    union udp_addr dst;

    memset(e, 0, sizeof(*e));
    snprintf(e->host, sizeof(e->host), "%s", lk->host);
    e->expires_ms = loop_now(a->loop) + (sa != NULL ? UDP_NAME_TTL_MS : UDP_NAME_FAIL_TTL_MS);
    if (sa != NULL) {
        memcpy(&e->addr, sa, addr_len(sa));
        unmap(&e->addr);
    }
    lk->host[0] = '\0';
    if (!lk->has_pending)
        return;
    lk->has_pending = 0;
    if (sa == NULL) {
        drop(a, "its name did not resolve to an address the link can reach", NULL);
        return;
    }
    dst = e->addr;
    set_port(&dst, lk->port);
    send_out(a, &dst, lk->data, lk->len);
}

static void
resolved_cb(void *arg, int err, const struct addrinfo *res)
{
    struct udp_lookup *lk = arg;
    const struct sockaddr *sa = NULL;

    lk->resolve = NULL;
    for (const struct addrinfo *r = err == 0 ? res : NULL; r != NULL && sa == NULL; r = r->ai_next)
        if (link_reaches(lk->a, r->ai_addr))
            sa = r->ai_addr;
    name_resolved(lk, sa);
}

static void
dns_cb(void *arg, int err, const struct sockaddr_storage *addrs, unsigned n, int link)
{
    struct udp_lookup *lk = arg;
    const struct sockaddr *sa = NULL;

    DP_UNUSED(link); /* whichever link's DNS answered, the datagrams keep their link */
    lk->lookup = NULL;
    for (unsigned i = 0; err == 0 && i < n && sa == NULL; i++)
        if (link_reaches(lk->a, (const struct sockaddr *)&addrs[i]))
            sa = (const struct sockaddr *)&addrs[i];
    name_resolved(lk, sa);
}

/* A datagram to a name not in the cache: it waits for the lookup of its name, made
 * through the association's link when per-link DNS is on. Different names are looked up
 * side by side (UDP_LOOKUPS at most); one datagram waits per name, later ones to a name
 * being looked up are dropped (no queue: the client's own retry follows the answer). */
static void
resolve_then_send(struct udp_assoc *a, const struct target *t, const uint8_t *p, size_t n)
{
    struct udp_lookup *lk = NULL;

    for (unsigned i = 0; i < UDP_LOOKUPS; i++) {
        struct udp_lookup *x = &a->lookups[i];

        if (x->resolve == NULL && x->lookup == NULL) {
            if (lk == NULL)
                lk = x;
        } else if (strcmp(x->host, t->host) == 0) {
            drop(a, "its name is being looked up for an earlier datagram", NULL);
            return;
        }
    }
    if (lk == NULL) {
        drop(a, "too many names being looked up", NULL);
        return;
    }
    snprintf(lk->host, sizeof(lk->host), "%s", t->host);
    lk->port = t->port;
    lk->has_pending = n <= sizeof(lk->data);
    if (lk->has_pending) {
        memcpy(lk->data, p, n);
        lk->len = n;
    } else {
        drop(a, "too large to wait for its name", NULL); /* the lookup still helps the next */
    }
    if (a->dns != NULL)
        lk->lookup = dns_lookup_start(a->dns, t->host, (int)a->link->index, AF_UNSPEC, dns_cb, lk);
    else
        lk->resolve = resolver_submit(a->resolver, a->loop, t->host, t->port,
                                      resolver_client_key(&a->peer.sa), resolved_cb, lk);
    if (lk->resolve == NULL && lk->lookup == NULL) {
        if (lk->has_pending)
            drop(a, "its lookup could not start (memory, or too many in flight)", NULL);
        lk->has_pending = 0;
        lk->host[0] = '\0';
    }
}

static void
from_client(struct udp_assoc *a, const uint8_t *d, size_t n, union udp_addr *from)
{
    struct target t;
    union udp_addr dst;
    size_t used = 0;
    int why = 0;

    unmap(from);
    if (!same_ip(from, &a->peer)) {
        drop(a, "not from the client's address", from);
        return;
    }
    if (a->locked && !same_source(from, &a->src)) {
        drop(a, "not from the client's first source port", from);
        return;
    }
    if (socks5_udp_parse(d, n, &used, &t, &why) != PARSE_DONE) {
        drop(a, socks5_udp_err_text(why), from);
        return;
    }
    if (!a->locked) {
        a->src = *from;
        a->locked = 1;
    }
    a->last_ms = loop_now(a->loop);
    memset(&dst, 0, sizeof(dst));
    if (t.type == TARGET_IPV4) {
        dst.v4.sin_family = AF_INET;
        memcpy(&dst.v4.sin_addr, t.addr, 4);
    } else if (t.type == TARGET_IPV6) {
        dst.v6.sin6_family = AF_INET6;
        memcpy(&dst.v6.sin6_addr, t.addr, 16);
        unmap(&dst);
    } else {
        const struct udp_name *e = name_find(a, t.host);
        if (e == NULL) {
            resolve_then_send(a, &t, d + used, n - used);
            return;
        }
        if (e->addr.sa.sa_family == AF_UNSPEC) {
            drop(a, "its name did not resolve", NULL);
            return;
        }
        dst = e->addr;
    }
    set_port(&dst, t.port);
    send_out(a, &dst, d + used, n - used);
}

static void
client_cb(struct loop_io *io, unsigned events)
{
    struct udp_assoc *a = container_of(io, struct udp_assoc, client);
    struct buf *b;

    DP_UNUSED(events);
    if (a->closed || (b = bufpool_get()) == NULL)
        return;
    for (int i = 0; i < UDP_BATCH && !a->closed; i++) {
        union udp_addr from;
        socklen_t flen = sizeof(from);
        ssize_t n = os_recvfrom(io->fd, b->data, BUFPOOL_BUF_SIZE, &from.sa, &flen);

        if (n == -1)
            break;
        from_client(a, b->data, (size_t)n, &from);
    }
    bufpool_put(b);
}

/* ---- the control connection and the timer ---- */

static void
control_cb(struct loop_io *io, unsigned events)
{
    struct session *s = container_of(io, struct session, relay.client);
    char sink[256];
    ssize_t n;

    DP_UNUSED(events);
    if (s->state != S_UDP)
        return;
    /* Nothing is expected here; whatever comes is read and ignored. */
    n = os_recv(io->fd, sink, sizeof(sink));
    if (n == 0 || (n == -1 && !os_would_block(os_errno()))) {
        log_debug("#%llu UDP association ends: its TCP connection closed",
                  (unsigned long long)s->id);
        session_close(s);
    }
}

static void
timer_cb(struct loop_timer *t)
{
    struct udp_assoc *a = container_of(t, struct udp_assoc, timer);
    uint64_t now = loop_now(a->loop), quiet = now - a->last_ms, next = UDP_CHECK_MS;

    if (a->closed)
        return;
    /* Picked while down (nothing better): kept, but once up, its next fall ends us. */
    if (a->started_down && link_state_of(a->link) != LINK_DOWN)
        a->started_down = 0;
    if (!a->started_down && link_state_of(a->link) == LINK_DOWN) {
        log_debug("#%llu UDP association ends: link %s is down (the client associates again)",
                  (unsigned long long)a->s->id, a->link->label);
        session_close(a->s);
        return;
    }
    if (a->idle_ms > 0) {
        if (quiet >= a->idle_ms) {
            log_debug("#%llu UDP association idle for %llu ms: closing",
                      (unsigned long long)a->s->id, (unsigned long long)quiet);
            session_close(a->s);
            return;
        }
        if (a->idle_ms - quiet < next)
            next = a->idle_ms - quiet;
    }
    loop_timer_start(a->loop, &a->timer, next);
}

/* ---- start ---- */

/* The link for a new association, chosen by the policy like a connection's, among the
 * links that carry UDP (not proxy links) and have a source address now. A down link's
 * trial is not spent on a datagram flow that gives no verdict. Returns 0, -1 when no
 * link can take it, -2 when no link carries UDP at all (only proxy links). */
static int
pick_link(struct session *s, struct udp_assoc *a)
{
    struct balancer *bal = s->srv->sh->bal;
    unsigned n = atomic_load(&bal->n_links);
    uint32_t exclude = 0, all = n >= 32 ? UINT32_MAX : (UINT32_C(1) << n) - 1;
    uint64_t now = loop_now(a->loop), affinity = 0;
    int fallback = -1;

    for (unsigned i = 0; i < n; i++)
        if (bal->links[i].spec.kind == LINK_PROXY)
            exclude |= UINT32_C(1) << i;
    if (exclude == all)
        return -2;
    if (balancer_wants_affinity(bal))
        affinity = sticky_key(&a->peer.sa, "", 0);
    for (;;) {
        struct balancer_req r = {
            .family_mask = BAL_FAMILY_V4 | BAL_FAMILY_V6,
            .exclude = exclude,
            .now_ms = now,
            .affinity = affinity,
        };
        struct link_src src;
        int k = balancer_choose(bal, &r);
        struct link *l;

        if (k < 0)
            break;
        l = &bal->links[k];
        if (r.trial)
            link_trial_release(l);
        exclude |= UINT32_C(1) << k;
        if (link_source(l, AF_INET, &src) != 0 && link_source(l, AF_INET6, &src) != 0)
            continue;
        if (link_state_of(l) == LINK_DOWN) {
            if (fallback < 0)
                fallback = k;
            continue;
        }
        fallback = k;
        break;
    }
    if (fallback < 0)
        return -1;
    a->link = &bal->links[fallback];
    a->started_down = link_state_of(a->link) == LINK_DOWN;
    atomic_fetch_add_explicit(&a->link->udp_active, 1, memory_order_relaxed);
    balancer_connected(bal, affinity, fallback, now);
    return 0;
}

/* Our socket for the client's datagrams, on the address the client reached us at (the
 * control connection's local address: never 0.0.0.0). bnd gets its address and port. */
static os_sock
client_socket(os_sock control, union udp_addr *bnd)
{
    socklen_t len;
    os_sock fd;

    if (os_getsockname(control, &bnd->ss, &len) == -1)
        return OS_SOCK_INVALID;
    unmap(bnd);
    set_port(bnd, 0);
    fd = os_socket(bnd->sa.sa_family, SOCK_DGRAM, 0);
    if (fd == OS_SOCK_INVALID)
        return OS_SOCK_INVALID;
    os_set_udp_noreset(fd);
    if (bind(fd, &bnd->sa, addr_len(&bnd->sa)) == -1 || os_getsockname(fd, &bnd->ss, &len) == -1) {
        os_close(fd);
        return OS_SOCK_INVALID;
    }
    return fd;
}

static void
refuse(struct session *s, int rep)
{
    uint8_t out[SOCKS5_REPLY_MAX];

    session_fail(s, out, socks5_write_reply(out, (uint8_t)rep, NULL));
}

/* Says why an association was refused: once as a warning (the operator may want to
 * raise the limit), then with -v. */
static void
refused_over_limit(struct session *s, const char *what, unsigned limit)
{
    static atomic_int warned;

    if (!atomic_exchange(&warned, 1))
        log_warn("refusing SOCKS5 UDP associations: %s %u reached (REP 1)", what, limit);
    else
        log_debug("#%llu UDP ASSOCIATE refused: %s %u reached", (unsigned long long)s->id, what,
                  limit);
}

void
udp_assoc_start(struct session *s, const struct target *hint)
{
    const struct config *cfg = s->srv->sh->cfg;
    struct udp_assoc *a;
    union udp_addr bnd;
    uint8_t out[SOCKS5_REPLY_MAX];
    size_t len;
    int rc;

    DP_UNUSED(hint);
    if (cfg->udp_max == 0) {
        refuse(s, SOCKS5_REP_CMD_UNSUPPORTED);
        return;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        refuse(s, SOCKS5_REP_GENERAL);
        return;
    }
    a->s = s;
    a->loop = s->srv->loop;
    a->resolver = s->srv->sh->resolver;
    a->dns = s->srv->dns;
    a->idle_ms = cfg->udp_timeout_ms;
    a->last_ms = loop_now(a->loop);
    loop_io_init(&a->client, OS_SOCK_INVALID, client_cb);
    for (int i = 0; i < 2; i++) {
        loop_io_init(&a->out[i].io, OS_SOCK_INVALID, remote_cb);
        a->out[i].a = a;
    }
    for (unsigned i = 0; i < UDP_LOOKUPS; i++)
        a->lookups[i].a = a;
    loop_timer_init(&a->timer, timer_cb);
    memcpy(&a->peer, &s->peer, sizeof(s->peer));
    unmap(&a->peer);

    rc = registry_add(a, cfg->udp_max, cfg->udp_max_client);
    if (rc != 0) {
        refused_over_limit(s, rc == -1 ? "-udp-max" : "-udp-max-client",
                           rc == -1 ? cfg->udp_max : cfg->udp_max_client);
        goto fail;
    }
    rc = pick_link(s, a);
    if (rc != 0) {
        log_debug("#%llu UDP ASSOCIATE refused: %s", (unsigned long long)s->id,
                  rc == -2 ? "proxy links carry no UDP" : "no link has an address now");
        assoc_close(a);
        refuse(s, rc == -2 ? SOCKS5_REP_CMD_UNSUPPORTED : SOCKS5_REP_NET_UNREACH);
        return;
    }
    a->client.fd = client_socket(s->relay.client.fd, &bnd);
    if (a->client.fd == OS_SOCK_INVALID || loop_io_set(a->loop, &a->client, LOOP_READ) == -1)
        goto fail;

    len = socks5_write_reply(out, SOCKS5_REP_OK, &bnd.sa);
    s->udp = a;
    session_set_state(s, S_UDP);
    loop_timer_stop(a->loop, &s->timer);
    s->relay.client.cb = control_cb;
    if (os_send(s->relay.client.fd, out, len) != (ssize_t)len ||
        loop_io_set(a->loop, &s->relay.client, LOOP_READ) == -1) {
        session_close(s);
        return;
    }
    loop_timer_start(a->loop, &a->timer, UDP_CHECK_MS);
    if (log_threshold >= LOG_DEBUG) {
        char b[LOG_SOCKADDR_MAX];
        log_debug("#%llu UDP ASSOCIATE: relay at %s, link %s", (unsigned long long)s->id,
                  log_sockaddr(b, sizeof(b), &bnd.sa), a->link->label);
    }
    return;

fail:
    assoc_close(a);
    refuse(s, SOCKS5_REP_GENERAL);
}
