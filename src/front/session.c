/* A client's life from accept to close. Protocol bytes are understood by the pure
 * parsers; this file only decides what happens next. */
#include "session.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "balancer.h"
#include "common.h"
#include "config.h"
#include "connector.h"
#include "errmap.h"
#include "http_proxy.h"
#include "link.h"
#include "log.h"
#include "server.h"
#include "socks4.h"
#include "socks5.h"
#include "target.h"
#include "udp.h"
#include "os.h"

#define HS_IN_MAX 2048 /* greeting + auth + request of SOCKS5 fit in ~1 KiB */
#define DRAIN_MS 2000  /* how long an error reply waits for the client's EOF */

enum proto { PROTO_UNKNOWN, PROTO_SOCKS5, PROTO_SOCKS4 };

struct handshake {
    struct session *session;
    enum proto proto;
    int denied;         /* the client's address is not in -allow: refuse its request */
    size_t in_len, pos; /* bytes received; bytes consumed by complete messages */
    struct target target;
    struct connector conn;
    uint8_t in[HS_IN_MAX];
};

static const char *const state_names[] = {
    [S_GREETING] = "greeting",
    [S_AUTH] = "auth",
    [S_REQUEST] = "request",
    [S_RESOLVING] = "resolving",
    [S_CONNECTING] = "connecting",
    [S_RELAY] = "relay",
    [S_DRAINING] = "draining",
    [S_CLOSED] = "closed",
    [S_UDP] = "udp",
};

static void
set_state(struct session *s, enum session_state st)
{
    if (log_threshold > LOG_DEBUG)
        log_msg(LOG_DEBUG, "#%llu %s -> %s", (unsigned long long)s->id, state_names[s->state],
                state_names[st]);
    s->state = st;
}

const char *
session_state_name(enum session_state st)
{
    return (unsigned)st < ARRAY_SIZE(state_names) ? state_names[st] : "?";
}

void
session_set_state(struct session *s, enum session_state st)
{
    set_state(s, st);
}

static struct access *
access_of(const struct session *s)
{
    return s->srv->sh->access;
}

static int
auth_required(const struct session *s)
{
    return access_of(s) != NULL && access_auth_required(access_of(s));
}

void
session_attach_link(struct session *s, struct link *link)
{
    s->link = link;
    atomic_fetch_add_explicit(&link->n_active, 1, memory_order_relaxed);
    s->relay.count_up = &link->bytes_up; /* live: the relay adds as bytes move */
    s->relay.count_down = &link->bytes_down;
}

void
session_release_link(struct session *s)
{
    if (s->link != NULL) {
        atomic_fetch_sub_explicit(&s->link->n_active, 1, memory_order_relaxed);
    }
    s->relay.count_up = s->relay.count_down = NULL;
    s->link = NULL;
}

static void
free_cb(struct loop_work *w)
{
    struct session *s = container_of(w, struct session, free_work);
    free(s);
}

static void
free_handshake(struct session *s)
{
    struct handshake *hs = s->hs;

    if (hs == NULL)
        return;
    connector_cancel(&hs->conn);
    free(hs);
    s->hs = NULL;
}

void
session_close(struct session *s)
{
    struct loop *loop = s->srv->loop;

    if (s->state == S_CLOSED)
        return;
    set_state(s, S_CLOSED);
    loop_timer_stop(loop, &s->timer);
    free_handshake(s);
    if (s->http != NULL)
        http_proxy_free(s);
    if (s->udp != NULL)
        udp_assoc_free(s);
    relay_stop(&s->relay);
    session_release_link(s);
    log_debug("#%llu closed (sent %llu B, received %llu B)", (unsigned long long)s->id,
              (unsigned long long)s->relay.up.bytes, (unsigned long long)s->relay.down.bytes);
    loop_io_close(&s->relay.client);
    loop_io_close(&s->relay.remote);
    server_session_removed(s->srv, s);
    /* Events for our fds may still be queued in this batch: free after it. */
    s->free_work.cb = free_cb;
    loop_defer(loop, &s->free_work);
}

/* Sends a short reply (handshake answers fit any fresh socket buffer). Returns 0 or -1. */
static int
send_reply(struct session *s, const void *buf, size_t len)
{
    ssize_t n = os_send(s->relay.client.fd, buf, len);
    return n == (ssize_t)len ? 0 : -1;
}

static void
drain_cb(struct loop_io *io, unsigned events)
{
    struct session *s = container_of(io, struct session, relay.client);
    char sink[512];
    ssize_t n;

    DP_UNUSED(events);
    if (s->state != S_DRAINING)
        return;
    n = os_recv(io->fd, sink, sizeof(sink));
    if (n == 0 || (n == -1 && !os_would_block(os_errno())))
        session_close(s);
}

/* After an error reply: stop writing, read until the client's EOF (or DRAIN_MS), then
 * close, so the reply is not destroyed by a RST for unread bytes. */
static void
fail_with_reply(struct session *s, const void *reply, size_t len)
{
    struct loop *loop = s->srv->loop;

    if (len > 0 && send_reply(s, reply, len) == -1) {
        session_close(s);
        return;
    }
    free_handshake(s);
    os_shutdown_write(s->relay.client.fd);
    set_state(s, S_DRAINING);
    s->relay.client.cb = drain_cb;
    if (loop_io_set(loop, &s->relay.client, LOOP_READ) == -1) {
        session_close(s);
        return;
    }
    loop_timer_start(loop, &s->timer, DRAIN_MS);
}

void
session_fail(struct session *s, const void *reply, size_t len)
{
    fail_with_reply(s, reply, len);
}

static void
socks5_fail(struct session *s, int rep)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    fail_with_reply(s, out, socks5_write_reply(out, (uint8_t)rep, NULL));
}

static void
socks4_fail(struct session *s)
{
    uint8_t out[SOCKS4_REPLY_LEN];
    fail_with_reply(s, out, socks4_write_reply(out, SOCKS4_REP_REJECTED, NULL));
}

/* A request failed for cause err (errno or DP_ERR_*): the client's protocol's answer. */
static void
request_fail(struct session *s, int err)
{
    if (s->hs != NULL && s->hs->proto == PROTO_SOCKS4)
        socks4_fail(s);
    else
        socks5_fail(s, errmap_socks5_rep(err));
}

static void
relay_done(struct relay *r, int err)
{
    struct session *s = container_of(r, struct session, relay);

    if (err != 0) {
        /* A reset or error on one side: pass it on as a reset to the other side. */
        log_debug("#%llu relay error: %s", (unsigned long long)s->id, os_strerror(err));
        if (s->relay.client.fd != OS_SOCK_INVALID)
            os_set_linger_rst(s->relay.client.fd);
        if (s->relay.remote.fd != OS_SOCK_INVALID)
            os_set_linger_rst(s->relay.remote.fd);
    }
    session_close(s);
}

/* How long a relay may stay quiet before it is closed: -idle-timeout always, and
 * -half-close-timeout once one side has finished (EOF read from it). 0: no limit. */
static uint64_t
relay_quiet_limit(const struct session *s, int *half_closed)
{
    const struct config *cfg = s->srv->sh->cfg;
    uint64_t limit = cfg->idle_timeout_ms, hc = cfg->half_close_timeout_ms;

    *half_closed = s->relay.up.eof || s->relay.down.eof;
    if (*half_closed && hc > 0 && (limit == 0 || hc < limit))
        limit = hc;
    return limit;
}

/* The relay's timer: the relay only stamps its activity, the timer re-arms for what is
 * left rather than touching the timer heap on every read. Until a side finishes, a
 * -half-close-timeout is checked at that period too (one timer event per period per
 * connection, nothing on the data path). */
static void
relay_timer_arm(struct session *s, uint64_t quiet)
{
    int half_closed;
    uint64_t limit = relay_quiet_limit(s, &half_closed);
    uint64_t hc = s->srv->sh->cfg->half_close_timeout_ms, wait;

    if (limit == 0 && hc == 0) {
        loop_timer_stop(s->srv->loop, &s->timer);
        return;
    }
    wait = limit > quiet ? limit - quiet : 0;
    if (!half_closed && hc > 0 && (limit == 0 || hc < wait))
        wait = hc; /* look again then: a side may have finished meanwhile */
    loop_timer_start(s->srv->loop, &s->timer, wait);
}

int
session_relay(struct session *s, const void *initial, size_t initial_len)
{
    loop_timer_stop(s->srv->loop, &s->timer);
    set_state(s, S_RELAY);
    relay_timer_arm(s, 0);
    s->relay.done = relay_done;
    /* relay_start copies the pipelined bytes before the caller's memory goes away. */
    if (relay_start(&s->relay, s->srv->loop, initial, initial_len) == -1) {
        session_close(s);
        return -1;
    }
    return 0;
}

static void
start_relay(struct session *s)
{
    struct handshake *hs = s->hs;

    if (session_relay(s, hs->in + hs->pos, hs->in_len - hs->pos) == 0) {
        s->hs = NULL;
        free(hs);
    }
}

static void
dial_done(struct connector *c, os_sock fd, int err)
{
    struct handshake *hs = container_of(c, struct handshake, conn);
    struct session *s = hs->session;
    struct sockaddr_storage bnd;
    uint8_t out[SOCKS5_REPLY_MAX];
    size_t out_len;

    if (fd == OS_SOCK_INVALID) {
        log_debug("#%llu connect failed: %s", (unsigned long long)s->id, errmap_text(err));
        if (s->srv->sh->cfg->tunnel)
            session_close(s); /* a tunnel has no way to say why */
        else
            request_fail(s, err);
        return;
    }
    connector_take(c, &s->relay.remote);
    session_attach_link(s, connector_link(c));
    if (connector_bound(c, fd, &bnd) == -1) {
        session_close(s);
        return;
    }
    if (log_threshold >= LOG_DEBUG) {
        char a[LOG_SOCKADDR_MAX];
        log_debug("#%llu connected via %s (bound %s)", (unsigned long long)s->id, s->link->label,
                  log_sockaddr(a, sizeof(a), (struct sockaddr *)&bnd));
    }
    if (s->srv->sh->cfg->tunnel) {
        /* The client's bytes, unchanged, from the first one. */
        start_relay(s);
        return;
    }
    if (hs->proto == PROTO_SOCKS4)
        out_len = socks4_write_reply(out, SOCKS4_REP_GRANTED, (struct sockaddr *)&bnd);
    else
        out_len = socks5_write_reply(out, SOCKS5_REP_OK, (struct sockaddr *)&bnd);
    if (send_reply(s, out, out_len) == -1) {
        session_close(s);
        return;
    }
    start_relay(s);
}

/* The request is complete (or, with -tunnel, the client connected): get a stream. */
static void
connect_target(struct session *s)
{
    struct handshake *hs = s->hs;
    const struct config *cfg = s->srv->sh->cfg;
    struct target *t = cfg->tunnel ? NULL : &hs->target;
    struct connector_env env = {
        .loop = s->srv->loop,
        .bal = s->srv->sh->bal,
        .resolver = s->srv->sh->resolver,
        .dns = s->srv->dns,
        .timeout_ms = cfg->connect_timeout_ms,
    };

    if (t != NULL && log_threshold >= LOG_DEBUG) {
        char name[300], a[INET6_ADDRSTRLEN];
        const char *shown = a;
        if (t->type == TARGET_DOMAIN)
            shown = log_escape(name, sizeof(name), t->host, strlen(t->host));
        else
            inet_ntop(t->type == TARGET_IPV4 ? AF_INET : AF_INET6, t->addr, a, sizeof(a));
        log_debug("#%llu CONNECT %s%s%s:%u", (unsigned long long)s->id,
                  t->type == TARGET_IPV6 ? "[" : "", shown, t->type == TARGET_IPV6 ? "]" : "",
                  t->port);
    }
    if (t != NULL)
        s->target = *t;
    set_state(s, S_CONNECTING);
    loop_timer_stop(s->srv->loop, &s->timer); /* the connector times its own steps */
    connector_start(&hs->conn, &env, t, s->relay.client.fd, s->id, dial_done);
}

/* Answers the greeting: username/password when -auth requires it (a denied client is
 * not asked for credentials: it gets REP 2 to its request), else "no authentication";
 * 05 FF when the client offered neither. Returns as socks5_step(). */
static int
socks5_choose_method(struct session *s, const struct socks5_greeting *g)
{
    uint8_t out[SOCKS5_REPLY_MAX];
    int want_auth = !s->hs->denied && auth_required(s);
    uint8_t method = SOCKS5_METHOD_REJECT;

    if (want_auth && g->offers_userpass)
        method = SOCKS5_METHOD_USERPASS;
    else if (!want_auth && g->offers_none)
        method = SOCKS5_METHOD_NONE;
    if (method == SOCKS5_METHOD_REJECT) {
        if (want_auth)
            log_debug("#%llu SOCKS5 client offers no username/password method; -auth "
                      "requires it",
                      (unsigned long long)s->id);
        fail_with_reply(s, out, socks5_write_method(out, SOCKS5_METHOD_REJECT));
        return 0;
    }
    if (send_reply(s, out, socks5_write_method(out, method)) == -1) {
        session_close(s);
        return 0;
    }
    set_state(s, method == SOCKS5_METHOD_USERPASS ? S_AUTH : S_REQUEST);
    return 1;
}

/* Parses the next SOCKS5 message in the buffer and acts on it. Returns 1 when a message
 * was consumed and another may follow in the buffer, 0 when more bytes are needed or the
 * session moved on (or closed). */
static int
socks5_step(struct session *s)
{
    struct handshake *hs = s->hs;
    const uint8_t *p = hs->in + hs->pos;
    size_t len = hs->in_len - hs->pos, used = 0;
    uint8_t out[SOCKS5_REPLY_MAX];
    enum parse_status st;

    if (s->state == S_GREETING) {
        struct socks5_greeting g;
        st = socks5_parse_greeting(p, len, &used, &g);
        if (st == PARSE_MORE)
            return 0;
        if (st == PARSE_ERROR) {
            session_close(s);
            return 0;
        }
        hs->pos += used;
        return socks5_choose_method(s, &g);
    }
    if (s->state == S_AUTH) {
        struct socks5_auth a;
        int ok;
        st = socks5_parse_auth(p, len, &used, &a);
        if (st == PARSE_MORE)
            return 0;
        if (st == PARSE_ERROR) {
            session_close(s);
            return 0;
        }
        hs->pos += used;
        /* Lengths, not strcmp: RFC 1929 fields may hold NUL bytes. */
        ok = access_check(access_of(s), (const uint8_t *)a.user, a.user_len,
                          (const uint8_t *)a.pass, a.pass_len);
        access_wipe(a.pass, sizeof(a.pass));
        if (!ok) {
            char name[300];
            log_debug("#%llu SOCKS5 authentication failed for user \"%s\"",
                      (unsigned long long)s->id,
                      log_escape(name, sizeof(name), a.user, a.user_len));
            fail_with_reply(s, out, socks5_write_auth_status(out, 0));
            return 0;
        }
        if (send_reply(s, out, socks5_write_auth_status(out, 1)) == -1) {
            session_close(s);
            return 0;
        }
        set_state(s, S_REQUEST);
        return 1;
    }
    if (s->state == S_REQUEST) {
        struct socks5_request req;
        int rep = SOCKS5_REP_GENERAL;
        st = socks5_parse_request(p, len, &used, &req, &rep);
        if (st == PARSE_MORE)
            return 0;
        if (st == PARSE_ERROR) {
            if (rep < 0)
                session_close(s);
            else
                socks5_fail(s, rep);
            return 0;
        }
        hs->pos += used;
        if (hs->denied) {
            socks5_fail(s, SOCKS5_REP_NOT_ALLOWED);
            return 0;
        }
        if (req.cmd == SOCKS5_CMD_UDP) {
            free_handshake(s); /* src/front/udp.c runs the session from here */
            udp_assoc_start(s, &req.target);
            return 0;
        }
        if (req.cmd != SOCKS5_CMD_CONNECT) {
            socks5_fail(s, SOCKS5_REP_CMD_UNSUPPORTED);
            return 0;
        }
        hs->target = req.target;
        connect_target(s);
        return 0;
    }
    return 0;
}

/* The one SOCKS4/4a message: the request. Same return convention as socks5_step. */
static int
socks4_step(struct session *s)
{
    static atomic_int warned;
    struct handshake *hs = s->hs;
    struct socks4_request req;
    size_t used = 0;
    int rep = SOCKS4_REP_REJECTED;
    enum parse_status st;

    st = socks4_parse_request(hs->in + hs->pos, hs->in_len - hs->pos, &used, &req, &rep);
    if (st == PARSE_MORE)
        return 0;
    if (st == PARSE_ERROR) {
        if (rep < 0)
            session_close(s);
        else
            socks4_fail(s);
        return 0;
    }
    hs->pos += used;
    if (hs->denied) {
        socks4_fail(s);
        return 0;
    }
    if (auth_required(s)) {
        /* SOCKS4 has no password field: it cannot pass -auth. Say so once plainly (the
         * usual cause is the Windows system proxy setting), then only with -v. */
        if (!atomic_exchange(&warned, 1))
            log_warn("refusing SOCKS4 clients: -auth is set and SOCKS4 cannot carry a "
                     "password; point them at SOCKS5 or HTTP with credentials instead");
        log_debug("#%llu SOCKS4 request refused: authentication required",
                  (unsigned long long)s->id);
        socks4_fail(s);
        return 0;
    }
    if (req.cmd != SOCKS4_CMD_CONNECT) {
        socks4_fail(s);
        return 0;
    }
    hs->target = req.target;
    connect_target(s);
    return 0;
}

/* HTTP from here on: src/http_proxy.c runs the session, starting from the bytes read. */
static void
start_http(struct session *s)
{
    struct handshake *hs = s->hs;
    int rc;

    loop_timer_stop(s->srv->loop, &s->timer);
    s->hs = NULL;
    rc = http_proxy_start(s, hs->in, hs->in_len, hs->denied);
    free(hs);
    if (rc == -1)
        session_close(s);
}

static void
handshake_cb(struct loop_io *io, unsigned events)
{
    struct session *s = container_of(io, struct session, relay.client);
    struct handshake *hs = s->hs;
    ssize_t n;

    DP_UNUSED(events);
    if (s->state == S_RESOLVING || s->state == S_CONNECTING) {
        /* The client's reading stays registered while its stream is dialed: the relay
         * wants it again next, so no remove + add pair with the poller per connection.
         * Only a client that sends before its answer comes here. EOF (or an error): it
         * went away, so the lookup or dial is cancelled now rather than finished for
         * nobody. Pipelined payload: stop watching (level-triggered, it would be
         * reported again at once); its bytes wait in the kernel until we relay. */
        uint8_t c;
        n = os_peek(io->fd, &c, 1);
        if (n == 0 || (n == -1 && !os_would_block(os_errno()))) {
            log_debug("#%llu client left during %s: aborting", (unsigned long long)s->id,
                      state_names[s->state]);
            session_close(s);
            return;
        }
        if (n > 0)
            loop_io_set(s->srv->loop, io, 0);
        return;
    }
    if (s->state != S_GREETING && s->state != S_AUTH && s->state != S_REQUEST)
        return;
    if (hs->in_len == sizeof(hs->in)) {
        /* A message longer than any valid one. */
        request_fail(s, ENOMEM);
        return;
    }
    n = os_recv(io->fd, hs->in + hs->in_len, sizeof(hs->in) - hs->in_len);
    if (n == 0 || (n == -1 && !os_would_block(os_errno()))) {
        session_close(s);
        return;
    }
    if (n == -1)
        return;
    hs->in_len += (size_t)n;
    if (hs->proto == PROTO_UNKNOWN) {
        uint8_t b = hs->in[0];
        if (b == SOCKS5_VERSION) {
            hs->proto = PROTO_SOCKS5;
            s->proto = SP_SOCKS5;
        } else if (b == SOCKS4_VERSION) {
            hs->proto = PROTO_SOCKS4;
            s->proto = SP_SOCKS4;
            set_state(s, S_REQUEST);
        } else if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')) {
            s->proto = SP_HTTP;
            start_http(s); /* a method name: GET, CONNECT, ... */
            return;
        } else {
            char first[8];
            log_debug("#%llu unknown protocol (first byte %s)", (unsigned long long)s->id,
                      log_escape(first, sizeof(first), (const char *)hs->in, 1));
            session_close(s);
            return;
        }
    }
    if (hs->proto == PROTO_SOCKS4)
        socks4_step(s);
    else
        while (hs->pos < hs->in_len && socks5_step(s))
            ;
}

static void
timer_cb(struct loop_timer *t)
{
    struct session *s = container_of(t, struct session, timer);

    if (s->state == S_DRAINING) {
        session_close(s);
        return;
    }
    if (s->state == S_RELAY) {
        int half_closed;
        uint64_t limit = relay_quiet_limit(s, &half_closed);
        uint64_t quiet = loop_now(s->srv->loop) - s->relay.last_active_ms;
        if (limit == 0 || quiet < limit) {
            relay_timer_arm(s, quiet);
            return;
        }
        log_debug("#%llu %s for %llu ms: closing", (unsigned long long)s->id,
                  half_closed ? "half-closed and quiet" : "idle", (unsigned long long)quiet);
        session_close(s);
        return;
    }
    log_debug("#%llu handshake timeout in state %s", (unsigned long long)s->id,
              state_names[s->state]);
    if (s->state == S_RESOLVING)
        request_fail(s, DP_ERR_RESOLVE);
    else
        session_close(s);
}

int
session_start(struct server *srv, os_sock fd, const struct sockaddr *peer)
{
    struct session *s = calloc(1, sizeof(*s));
    const struct config *cfg = srv->sh->cfg;

    if (s == NULL)
        goto err_close;
    s->hs = calloc(1, sizeof(*s->hs));
    if (s->hs == NULL)
        goto err_free;
    s->hs->session = s;
    s->srv = srv;
    s->id = atomic_fetch_add_explicit(&srv->sh->next_id, 1, memory_order_relaxed) + 1;
    s->state = S_GREETING;
    s->start_ms = loop_now(srv->loop);
    s->proto = cfg->tunnel ? SP_TUNNEL : SP_UNKNOWN;
    memcpy(&s->peer, peer,
           peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    {
        /* -allow is checked here, but the refusal waits for the first bytes: they say
         * which protocol's "not allowed" the client will understand. */
        if (srv->sh->access != NULL && !access_client_allowed(srv->sh->access, peer)) {
            s->hs->denied = 1;
            if (log_threshold >= LOG_DEBUG) {
                char a[LOG_SOCKADDR_MAX];
                log_debug("#%llu client %s is not in -allow: refusing it",
                          (unsigned long long)s->id, log_sockaddr(a, sizeof(a), peer));
            }
        }
    }
    relay_init(&s->relay);
    loop_io_init(&s->relay.client, fd, handshake_cb);
    loop_io_init(&s->relay.remote, OS_SOCK_INVALID, NULL);
    loop_timer_init(&s->timer, timer_cb);
    if (loop_io_set(srv->loop, &s->relay.client, LOOP_READ) == -1)
        goto err_hs;
    loop_timer_start(srv->loop, &s->timer, cfg->handshake_timeout_ms);
    server_session_added(srv, s);
    if (log_threshold >= LOG_DEBUG) {
        char a[LOG_SOCKADDR_MAX];
        log_debug("#%llu client %s", (unsigned long long)s->id, log_sockaddr(a, sizeof(a), peer));
    }
    if (cfg->tunnel) {
        /* -tunnel: no protocol; the client's bytes wait in the kernel until the stream to
         * the next upstream is there. A client outside -allow is just closed. */
        if (s->hs->denied) {
            session_close(s);
            return 0;
        }
        connect_target(s);
        return 0;
    }
    /* TCP_DEFER_ACCEPT handed the client over with its first bytes: read them now rather
     * than after another trip through the poller. */
    if (srv->read_at_accept)
        handshake_cb(&s->relay.client, LOOP_READ);
    return 0;

err_hs:
    free(s->hs);
err_free:
    free(s);
err_close:
    os_close(fd);
    return -1;
}
