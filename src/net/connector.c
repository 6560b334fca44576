#include "connector.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "access.h"
#include "balancer.h"
#include "common.h"
#include "dns_resolver.h"
#include "errmap.h"
#include "link.h"
#include "log.h"
#include "os.h"
#include "resolver.h"

/* Handshake steps of one attempt through a proxy link. */
enum hs_step { HS_NONE, HS_S5_METHOD, HS_S5_AUTH, HS_S5_REPLY, HS_S4_REPLY, HS_HTTP_REPLY };

static struct connector *
conn_of(struct dialer_attempt *a)
{
    return container_of(a->d, struct connector, dialer);
}

static struct connector_slot *
slot_of(struct dialer_attempt *a)
{
    return &conn_of(a)->slot[a == &a->d->att[0] ? 0 : 1];
}

static struct link *
link_of(struct dialer_attempt *a)
{
    return &a->d->bal->links[a->link];
}

static int
is_proxy(const struct link *l)
{
    return l->spec.kind == LINK_PROXY;
}

/* The resolve step for an upstream proxy's name: the system resolver (getaddrinfo on
 * the thread pool), answered on the loop by cb. */
static struct resolve_req *
connector_resolve(struct connector *c, const char *name, uint16_t port, resolve_cb cb, void *arg)
{
    if (c->res_timer.heap_index == SIZE_MAX) /* not running yet */
        loop_timer_start(c->env.loop, &c->res_timer, c->env.timeout_ms);
    return resolver_submit(c->env.resolver, c->env.loop, name, port, 0, cb, arg);
}

/* The resolver's key for this connection's client (0: none, or its address unknown). */
static uint64_t
client_key(const struct connector *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (c->client_fd == OS_SOCK_INVALID || os_getpeername(c->client_fd, &ss, &len) == -1)
        return 0;
    return resolver_client_key((const struct sockaddr *)&ss);
}

static void target_resolved(void *arg, int err, const struct addrinfo *res);
static void target_dns_answer(void *arg, int err, const struct sockaddr_storage *addrs, unsigned n,
                              int link);

/* The resolve step for the target's name, for a connection through link: per-link DNS
 * (the query leaves by that link; dns_resolver.h), or the system resolver with -dns
 * system. 0 when under way, -1 when it could not start. */
static int
resolve_target(struct connector *c, int link)
{
    if (c->res_timer.heap_index == SIZE_MAX)
        loop_timer_start(c->env.loop, &c->res_timer, c->env.timeout_ms);
    if (c->env.dns != NULL) {
        c->dns_asked = link;
        c->lookup =
            dns_lookup_start(c->env.dns, c->target.host, link, AF_UNSPEC, target_dns_answer, c);
        return c->lookup != NULL ? 0 : -1;
    }
    c->resolve = resolver_submit(c->env.resolver, c->env.loop, c->target.host, c->target.port,
                                 client_key(c), target_resolved, c);
    return c->resolve != NULL ? 0 : -1;
}

/* Stops the target's lookup, if one runs. */
static void
cancel_target_lookup(struct connector *c)
{
    if (c->resolve != NULL)
        resolver_cancel(c->resolve);
    c->resolve = NULL;
    if (c->lookup != NULL)
        dns_lookup_cancel(c->lookup);
    c->lookup = NULL;
}

/* The dialer finished: report, unless slots are being resumed (then after the loop that
 * resumes them, as the last thing it does: done() may free c). */
static void
dial_done(struct dialer *d, os_sock fd, int err)
{
    struct connector *c = container_of(d, struct connector, dialer);

    loop_timer_stop(c->env.loop, &c->res_timer);
    if (c->resuming) {
        c->deferred = 1;
        c->deferred_fd = fd;
        c->deferred_err = err;
        return;
    }
    c->done(c, fd, err);
}

/* Lets the slots that waited for the target's addresses go on. */
static void
resume_waiting(struct connector *c)
{
    c->resuming = 1;
    for (int i = 0; i < 2; i++) {
        if (c->slot[i].waiting) {
            c->slot[i].waiting = 0;
            dialer_addrs_ready(&c->dialer.att[i]);
        }
    }
    c->resuming = 0;
    if (c->deferred) {
        c->deferred = 0;
        c->done(c, c->deferred_fd, c->deferred_err);
    }
}

static void
target_resolved(void *arg, int err, const struct addrinfo *res)
{
    struct connector *c = arg;

    c->resolve = NULL;
    if (err != 0 || res == NULL) {
        char name[300];
        log_debug("#%llu cannot resolve %s: %s", (unsigned long long)c->id,
                  log_escape(name, sizeof(name), c->target.host, strlen(c->target.host)),
                  gai_strerror(err));
        c->res = RES_FAILED;
        c->res_err = DP_ERR_RESOLVE;
    } else {
        dialer_add_addrinfo(&c->dialer, res);
        c->res = RES_DONE;
    }
    resume_waiting(c);
}

/* Per-link DNS answered: the addresses (port 0), and the link whose DNS gave them. When
 * that is not the link asked first, that link's DNS failed or was slow: the connection
 * moves to a link whose DNS works (hook_addrs). */
static void
target_dns_answer(void *arg, int err, const struct sockaddr_storage *addrs, unsigned n, int link)
{
    struct connector *c = arg;

    c->lookup = NULL;
    if (err != 0 || n == 0) {
        char name[300];

        log_debug("#%llu cannot resolve %s: %s", (unsigned long long)c->id,
                  log_escape(name, sizeof(name), c->target.host, strlen(c->target.host)),
                  errmap_text(err != 0 ? err : DP_ERR_RESOLVE));
        c->res = RES_FAILED;
        c->res_err = err != 0 ? err : DP_ERR_RESOLVE;
    } else {
        for (unsigned i = 0; i < n; i++) {
            struct sockaddr_storage ss = addrs[i];

            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)(void *)&ss)->sin_port = htons(c->target.port);
            else
                ((struct sockaddr_in6 *)(void *)&ss)->sin6_port = htons(c->target.port);
            dialer_add_addr(&c->dialer, (const struct sockaddr *)&ss);
        }
        if (link >= 0 && c->dns_asked >= 0 && link != c->dns_asked && c->dns_asked < 32)
            c->dns_skip |= UINT32_C(1) << c->dns_asked;
        c->res = RES_DONE;
    }
    resume_waiting(c);
}

static void
upstream_resolved(void *arg, int err, const struct addrinfo *res)
{
    struct dialer_attempt *a = arg;
    struct connector_slot *cs = slot_of(a);

    cs->resolve = NULL;
    cs->res = RES_FAILED;
    if (err == 0)
        for (const struct addrinfo *ai = res; ai != NULL && cs->n_addrs < ARRAY_SIZE(cs->addrs);
             ai = ai->ai_next)
            if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
                memcpy(&cs->addrs[cs->n_addrs++], ai->ai_addr, ai->ai_addrlen);
                cs->res = RES_DONE;
            }
    dialer_addrs_ready(a);
}

/* Every lookup of this connection took too long. */
static void
res_timer_cb(struct loop_timer *t)
{
    struct connector *c = container_of(t, struct connector, res_timer);

    if (c->resolve != NULL || c->lookup != NULL) {
        cancel_target_lookup(c);
        c->res = RES_FAILED;
        c->res_err = DP_ERR_RESOLVE;
    }
    for (int i = 0; i < 2; i++) {
        struct connector_slot *cs = &c->slot[i];

        if (cs->resolve != NULL) {
            resolver_cancel(cs->resolve);
            cs->resolve = NULL;
            cs->res = RES_FAILED;
            cs->waiting = 1; /* resumed below, to see the failure */
        }
    }
    resume_waiting(c);
}

/* ---- hooks: where an attempt connects to ---- */

/* Whether any of the addresses is one of the proxy's own listeners (checked after name
 * resolution, whatever form the client used: a name, a wildcard's local address,
 * IPv4-mapped IPv6). */
static int
any_self(const struct sockaddr_storage *addrs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (access_is_self((const struct sockaddr *)&addrs[i]))
            return 1;
    return 0;
}

static enum dialer_step
hook_addrs(struct dialer_attempt *a, int *err)
{
    struct connector *c = conn_of(a);
    struct connector_slot *cs = slot_of(a);
    struct link *l = link_of(a);
    const struct link_upstream *up = &l->spec.up;
    int local_names = !is_proxy(l) || up->scheme == LINK_SCHEME_SOCKS5;

    if (!c->has_target && !(is_proxy(l) && up->scheme == LINK_SCHEME_TUNNEL)) {
        *err = DP_ERR_NO_LINK; /* -tunnel sessions need tunnel links */
        return DIALER_FAILED;
    }
    if (c->has_target && up->scheme == LINK_SCHEME_TUNNEL && is_proxy(l)) {
        *err = DP_ERR_NO_LINK;
        return DIALER_FAILED;
    }
    if (c->has_target && local_names && c->target.type == TARGET_DOMAIN) {
        if (c->res == RES_NONE) {
            c->res = RES_PENDING;
            if (resolve_target(c, a->link) == -1) {
                c->res = RES_FAILED; /* EAGAIN: the resolver's queue or our share is full */
                c->res_err = os_errno() == EAGAIN ? DP_ERR_DNS_BUSY : DP_ERR_RESOLVE;
            }
        }
        if (c->res == RES_PENDING) {
            cs->waiting = 1;
            return DIALER_PENDING;
        }
        if (c->res == RES_FAILED || c->dialer.n_addrs == 0) {
            *err = c->res == RES_FAILED && c->res_err != 0 ? c->res_err : DP_ERR_RESOLVE;
            return DIALER_FAILED;
        }
        if (a->link < 32 && (c->dns_skip & (UINT32_C(1) << a->link))) {
            *err = DP_ERR_DNS_LINK;
            return DIALER_FAILED;
        }
    }
    if (!is_proxy(l)) {
        if (any_self(c->dialer.addrs, c->dialer.n_addrs)) {
            *err = DP_ERR_NOT_ALLOWED;
            return DIALER_FAILED;
        }
        a->addrs = c->dialer.addrs;
        a->n_addrs = c->dialer.n_addrs;
        return DIALER_READY;
    }
    if (up->literal) {
        memset(&cs->addrs[0], 0, sizeof(cs->addrs[0]));
        memcpy(&cs->addrs[0], &up->addr,
               up->addr.sa.sa_family == AF_INET ? sizeof(up->addr.v4) : sizeof(up->addr.v6));
        cs->n_addrs = 1;
        cs->res = RES_DONE;
    } else if (cs->res == RES_NONE) {
        /* Names are looked up again for every connection (as the seed's -tunnel does). */
        cs->res = RES_PENDING;
        cs->n_addrs = 0;
        cs->resolve = connector_resolve(c, up->host, up->port, upstream_resolved, a);
        if (cs->resolve == NULL)
            cs->res = RES_FAILED;
    }
    if (cs->res == RES_PENDING)
        return DIALER_PENDING;
    if (cs->res == RES_FAILED) {
        *err = DP_ERR_UPSTREAM_NAME;
        return DIALER_FAILED;
    }
    if (any_self(cs->addrs, cs->n_addrs)) { /* an upstream that is this proxy: a loop */
        *err = DP_ERR_NOT_ALLOWED;
        return DIALER_FAILED;
    }
    a->addrs = cs->addrs;
    a->n_addrs = cs->n_addrs;
    return DIALER_READY;
}

static void
hook_release(struct dialer_attempt *a)
{
    struct connector_slot *cs = slot_of(a);

    if (cs->resolve != NULL)
        resolver_cancel(cs->resolve);
    cs->resolve = NULL;
    cs->res = RES_NONE;
    cs->n_addrs = 0;
    cs->waiting = 0;
    cs->step = HS_NONE;
    cs->in_len = 0;
}

/* ---- hooks: the upstream handshake ---- */

/* Sends one handshake message whole (a fresh socket's buffer takes it). Returns 0 or a
 * failure cause. */
static int
hs_send(struct dialer_attempt *a, const uint8_t *msg, size_t len)
{
    ssize_t n;

    if (len == 0)
        return DP_ERR_UPSTREAM;
    n = os_send(a->io.fd, msg, len);
    return n == (ssize_t)len ? 0 : DP_ERR_UPSTREAM;
}

/* What the request through this link names: for socks5:// the address looked up here,
 * else the target as the client gave it. */
static void
request_target(struct connector *c, const struct link *l, struct target *t)
{
    *t = c->target;
    if (l->spec.up.scheme == LINK_SCHEME_SOCKS5 && t->type == TARGET_DOMAIN &&
        c->dialer.n_addrs > 0) {
        const struct sockaddr_storage *ss = &c->dialer.addrs[0];

        memset(t, 0, sizeof(*t));
        t->port = c->target.port;
        if (ss->ss_family == AF_INET) {
            t->type = TARGET_IPV4;
            memcpy(t->addr, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
        } else {
            t->type = TARGET_IPV6;
            memcpy(t->addr, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
        }
    }
}

static int
send_connect(struct dialer_attempt *a)
{
    struct connector *c = conn_of(a);
    struct connector_slot *cs = slot_of(a);
    const struct link_upstream *up = &link_of(a)->spec.up;
    uint8_t msg[UPSTREAM_REQ_MAX];
    struct target t;
    size_t n = 0;
    int rc;

    request_target(c, link_of(a), &t);
    switch (up->scheme) {
    case LINK_SCHEME_SOCKS5:
    case LINK_SCHEME_SOCKS5H:
        n = upstream_socks5_connect(msg, sizeof(msg), &t);
        cs->step = HS_S5_REPLY;
        break;
    case LINK_SCHEME_SOCKS4A:
        n = upstream_socks4_connect(msg, sizeof(msg), &t, up->user, up->user_len);
        if (n == 0 && t.type == TARGET_IPV6)
            return EAFNOSUPPORT; /* not this link's fault: another link may carry it */
        cs->step = HS_S4_REPLY;
        break;
    case LINK_SCHEME_HTTP:
        n = upstream_http_connect(msg, sizeof(msg), &t, up->has_auth ? up->user : NULL,
                                  up->user_len, up->pass, up->pass_len);
        cs->step = HS_HTTP_REPLY;
        break;
    default:
        return DP_ERR_UPSTREAM;
    }
    if (n == 0)
        return EINVAL; /* a name no upstream request can carry */
    rc = hs_send(a, msg, n);
    memset(msg, 0, n); /* may hold credentials */
    return rc;
}

/* One complete answer (parsed as step) is in cs->in. Returns 0 when the handshake goes
 * on (next message sent), 1 when it succeeded, or a failure cause. */
static int
hs_answer(struct dialer_attempt *a, enum parse_status st, int code, const struct target *bnd)
{
    struct connector *c = conn_of(a);
    struct connector_slot *cs = slot_of(a);
    const struct link_upstream *up = &link_of(a)->spec.up;
    int err;

    if (st == PARSE_ERROR)
        return DP_ERR_UPSTREAM;
    switch (cs->step) {
    case HS_S5_METHOD:
        err = upstream_socks5_method_err(code, up->has_auth);
        if (err != 0)
            return err;
        if (code == 0x02) {
            uint8_t msg[UPSTREAM_REQ_MAX];
            size_t n = upstream_socks5_auth(msg, sizeof(msg), up->user, up->user_len, up->pass,
                                            up->pass_len);

            cs->step = HS_S5_AUTH;
            err = hs_send(a, msg, n);
            memset(msg, 0, sizeof(msg));
            return err;
        }
        return send_connect(a);
    case HS_S5_AUTH:
        return code ? send_connect(a) : DP_ERR_UPSTREAM_AUTH;
    case HS_S5_REPLY:
        err = upstream_socks5_rep_err(code);
        break;
    case HS_S4_REPLY:
        err = upstream_socks4_cd_err(code);
        break;
    case HS_HTTP_REPLY:
        err = upstream_http_status_err(code);
        break;
    default:
        return DP_ERR_UPSTREAM;
    }
    if (err != 0)
        return err;
    if (bnd != NULL) {
        c->bnd = *bnd;
        c->has_bnd = 1;
    } else {
        memset(&c->bnd, 0, sizeof(c->bnd));
        c->has_bnd = 1; /* HTTP reports nothing: 0.0.0.0:0 */
    }
    return 1;
}

static enum parse_status
hs_parse(struct connector_slot *cs, size_t len, size_t *used, int *code, struct target *bnd,
         int *has_bnd)
{
    *has_bnd = 0;
    switch (cs->step) {
    case HS_S5_METHOD:
        return upstream_socks5_parse_method(cs->in, len, used, code);
    case HS_S5_AUTH:
        return upstream_socks5_parse_auth_status(cs->in, len, used, code);
    case HS_S5_REPLY:
        *has_bnd = 1;
        return upstream_socks5_parse_reply(cs->in, len, used, code, bnd);
    case HS_S4_REPLY:
        *has_bnd = 1;
        return upstream_socks4_parse_reply(cs->in, len, used, code, bnd);
    default:
        return upstream_http_parse_connect(cs->in, len, used, code);
    }
}

/* The upstream's answers. Bytes are peeked and only those of the current answer are
 * taken, so whatever the far end sends after it stays in the socket for the relay. */
static void
hs_io_cb(struct loop_io *io, unsigned events)
{
    struct dialer_attempt *a = container_of(io, struct dialer_attempt, io);
    struct connector_slot *cs = slot_of(a);

    DP_UNUSED(events);
    for (;;) {
        size_t used = 0;
        int code = 0, has_bnd = 0, rc;
        struct target bnd;
        enum parse_status st;
        ssize_t n = os_peek(io->fd, cs->in + cs->in_len, sizeof(cs->in) - cs->in_len);

        if (n == -1 && os_would_block(os_errno()))
            return;
        if (n <= 0) {
            /* Closed or reset mid-handshake: the upstream failed, not the destination. */
            dialer_handshake_done(a, DP_ERR_UPSTREAM);
            return;
        }
        st = hs_parse(cs, cs->in_len + (size_t)n, &used, &code, &bnd, &has_bnd);
        if (st == PARSE_MORE) {
            if (os_recv(io->fd, cs->in + cs->in_len, (size_t)n) != n ||
                cs->in_len + (size_t)n >= sizeof(cs->in)) {
                dialer_handshake_done(a, DP_ERR_UPSTREAM);
                return;
            }
            cs->in_len += (size_t)n;
            continue;
        }
        if (st == PARSE_DONE) {
            size_t take = used - cs->in_len;

            if (os_recv(io->fd, cs->in + cs->in_len, take) != (ssize_t)take) {
                dialer_handshake_done(a, DP_ERR_UPSTREAM);
                return;
            }
        }
        cs->in_len = 0;
        rc = hs_answer(a, st, code, has_bnd ? &bnd : NULL);
        if (rc == 0)
            continue; /* the next answer may be there already */
        dialer_handshake_done(a, rc == 1 ? 0 : rc);
        return;
    }
}

static enum dialer_step
hook_connected(struct dialer_attempt *a, int *err)
{
    struct connector *c = conn_of(a);
    struct connector_slot *cs = slot_of(a);
    struct link *l = link_of(a);
    const struct link_upstream *up = &l->spec.up;

    c->has_bnd = 0;
    if (!is_proxy(l) || up->scheme == LINK_SCHEME_TUNNEL)
        return DIALER_READY;
    cs->in_len = 0;
    if (up->scheme == LINK_SCHEME_SOCKS5 || up->scheme == LINK_SCHEME_SOCKS5H) {
        uint8_t msg[4];

        cs->step = HS_S5_METHOD;
        *err = hs_send(a, msg, upstream_socks5_greeting(msg, up->has_auth));
    } else {
        *err = send_connect(a);
    }
    if (*err != 0)
        return DIALER_FAILED;
    a->io.cb = hs_io_cb;
    if (loop_io_set(c->env.loop, &a->io, LOOP_READ) == -1) {
        *err = os_errno();
        return DIALER_FAILED;
    }
    return DIALER_PENDING;
}

/* A connect to an upstream proxy (or tunnel end) that fails says the upstream is down
 * or unreachable: the link's failure, whatever the errno. A timeout while the upstream
 * works on the destination stays a timeout (judged against the other links: the
 * destination may be the silent one), and failures of the local link stay themselves. */
static int
hook_connect_error(struct dialer_attempt *a, int err)
{
    enum hs_step step = (enum hs_step)slot_of(a)->step;

    if (!is_proxy(link_of(a)))
        return err;
    /* Silent in the SOCKS5 greeting or authentication: nothing about the destination
     * has been asked yet, so it is the upstream's failure alone. */
    if (err == DP_ERR_TIMEOUT && (step == HS_S5_METHOD || step == HS_S5_AUTH))
        return DP_ERR_UPSTREAM;
    if (err == ETIMEDOUT || err == DP_ERR_TIMEOUT || errmap_is_link_failure(err))
        return err;
    return DP_ERR_UPSTREAM_DOWN;
}

static const struct dialer_hooks hooks = {
    .addrs = hook_addrs,
    .connected = hook_connected,
    .connect_error = hook_connect_error,
    .release = hook_release,
};

/* ---- the API ---- */

static void
setup(struct connector *c, const struct connector_env *env, uint64_t id, connector_done_fn done)
{
    memset(c, 0, sizeof(*c));
    c->env = *env;
    c->dns_asked = -1;
    c->client_fd = OS_SOCK_INVALID;
    c->id = id;
    c->done = done;
    c->dialer.id = id;
    c->dialer.done = dial_done;
    c->dialer.hooks = &hooks;
    loop_timer_init(&c->res_timer, res_timer_cb);
}

void
connector_start(struct connector *c, const struct connector_env *env, const struct target *t,
                os_sock client_fd, uint64_t id, connector_done_fn done)
{
    setup(c, env, id, done);
    c->client_fd = client_fd;
    if (t != NULL) {
        c->target = *t;
        c->has_target = 1;
        if (dialer_add_target(&c->dialer, t))
            c->res = RES_DONE;
        if (client_fd != OS_SOCK_INVALID)
            dialer_set_affinity(&c->dialer, env->bal, client_fd, t);
    } else if (client_fd != OS_SOCK_INVALID) {
        /* -tunnel: no destination is known, so -policy sticky keeps a client on one
         * upstream (the key is its address alone). */
        static const struct target none = {.type = TARGET_DOMAIN};

        dialer_set_affinity(&c->dialer, env->bal, client_fd, &none);
    }
    dialer_start(&c->dialer, env->loop, env->bal, env->timeout_ms);
}

void
connector_probe(struct connector *c, const struct connector_env *env, unsigned link,
                const struct sockaddr *dst, connector_done_fn done)
{
    setup(c, env, 0, done);
    c->has_target = !(env->bal->links[link].spec.kind == LINK_PROXY &&
                      env->bal->links[link].spec.up.scheme == LINK_SCHEME_TUNNEL);
    if (c->has_target) {
        c->target.type = dst->sa_family == AF_INET6 ? TARGET_IPV6 : TARGET_IPV4;
        if (dst->sa_family == AF_INET6) {
            memcpy(c->target.addr, &((const struct sockaddr_in6 *)(const void *)dst)->sin6_addr,
                   16);
            c->target.port = ntohs(((const struct sockaddr_in6 *)(const void *)dst)->sin6_port);
        } else {
            memcpy(c->target.addr, &((const struct sockaddr_in *)(const void *)dst)->sin_addr, 4);
            c->target.port = ntohs(((const struct sockaddr_in *)(const void *)dst)->sin_port);
        }
        dialer_add_addr(&c->dialer, dst);
        c->res = RES_DONE;
    }
    c->dialer.pinned = 1;
    c->dialer.pin = link;
    dialer_start(&c->dialer, env->loop, env->bal, env->timeout_ms);
}

void
connector_cancel(struct connector *c)
{
    if (c->env.loop == NULL)
        return;
    loop_timer_stop(c->env.loop, &c->res_timer);
    cancel_target_lookup(c);
    dialer_cancel(&c->dialer); /* releases the slots: their lookups too */
}

void
connector_take(struct connector *c, struct loop_io *to)
{
    dialer_take(&c->dialer, to);
}

struct link *
connector_link(const struct connector *c)
{
    return dialer_link(&c->dialer);
}

int
connector_bound(const struct connector *c, os_sock fd, struct sockaddr_storage *out)
{
    socklen_t len = sizeof(*out);

    memset(out, 0, sizeof(*out));
    if (!c->has_bnd)
        return os_getsockname(fd, out, &len) == -1 ? -1 : 0;
    if (c->bnd.type == TARGET_IPV4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)out;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(c->bnd.port);
        memcpy(&sin->sin_addr, c->bnd.addr, 4);
    } else if (c->bnd.type == TARGET_IPV6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)out;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(c->bnd.port);
        memcpy(&sin6->sin6_addr, c->bnd.addr, 16);
    }
    /* A domain BND (or none, from HTTP) cannot be a SOCKS4 address: AF_UNSPEC, zeros. */
    return 0;
}
