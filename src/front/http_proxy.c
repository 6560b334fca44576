/* HTTP proxy sessions: CONNECT tunnels and forwarded absolute-form requests.
 *
 * A forwarding connection carries one exchange at a time. The request head is parsed
 * (src/http.c), checked (-allow, -auth), rewritten to origin-form without hop-by-hop
 * fields and sent to an upstream connection for its origin: the open one when the origin
 * is the same and the server allowed reuse, else a new one through the dialer, so each
 * new origin is dispatched over the links like any other connection. The request body and
 * then the response are passed on with their framing tracked (Content-Length, chunked,
 * until close), which is how we know where the next request starts. Pipelined requests
 * wait, unread, until the exchange before them is done.
 *
 * Buffers come from the pool and are held only while bytes wait in them; reads stop
 * while the other side has not taken what was read (backpressure), so a connection holds
 * at most one buffer per direction plus a rewritten head. */
#include "http_proxy.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "bufpool.h"
#include "common.h"
#include "config.h"
#include "connector.h"
#include "errmap.h"
#include "http.h"
#include "link.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "target.h"
#include "os.h"

#define KEEPALIVE_IDLE_MS 60000 /* a client connection may wait this long between requests */
#define BUF_CAP BUFPOOL_BUF_SIZE

enum up_phase {
    UP_HEAD,    /* reading the next request head from the client */
    UP_DIALING, /* resolving and connecting the upstream for it */
    UP_BODY,    /* sending the rewritten head and the request body upstream */
    UP_DONE,    /* request sent: the response is still coming */
};

enum down_phase {
    DOWN_IDLE, /* no response expected */
    DOWN_HEAD, /* reading the response head (1xx interim ones are passed on) */
    DOWN_BODY, /* passing the response body on */
    DOWN_DONE,
};

/* Bytes read from one socket for the other: [off, scan) belong to the current message and
 * may be sent; [scan, len) are not looked at yet, or belong to the next message. */
struct inbuf {
    struct buf *b;
    uint32_t off, scan, len;
    uint32_t head_seen; /* bytes from off that a head parser already answered MORE to */
};

/* Bytes we made (a rewritten head) waiting to be sent. */
struct outbuf {
    struct buf *b;
    uint32_t off, len;
};

struct http_proxy {
    struct session *s;
    struct loop *loop;
    struct loop_timer timer;  /* head / keep-alive / lookup / idle, by phase */
    struct inbuf cin, uin;    /* read from the client; from the upstream */
    struct outbuf uout, cout; /* to send to the upstream; to the client */
    enum up_phase up;
    enum down_phase down;
    struct http_body req_body, resp_body;
    int req_is_head;   /* the response will have no body */
    int client_keep;   /* the client connection outlives this exchange */
    int upstream_keep; /* the upstream connection may carry another request */
    int upstream_eof;
    int is_connect;
    int denied; /* client address not in -allow */
    uint64_t last_active_ms;
    struct target target; /* of the request being served */
    struct target origin; /* where the open upstream connection goes */
    int have_origin;
    struct connector conn;
};

static void advance(struct http_proxy *hp);

static unsigned long long
id_of(const struct http_proxy *hp)
{
    return (unsigned long long)hp->s->id;
}

static int
pending_out(const struct outbuf *o)
{
    return o->off < o->len;
}

static void
inbuf_release(struct inbuf *ib)
{
    bufpool_put(ib->b);
    ib->b = NULL;
    ib->off = ib->scan = ib->len = 0;
    ib->head_seen = 0;
}

static void
outbuf_release(struct outbuf *ob)
{
    bufpool_put(ob->b);
    ob->b = NULL;
    ob->off = ob->len = 0;
}

/* One recv into ib, making room first. Returns the byte count, 0 at EOF, -1 when the
 * socket has nothing now, -2 on an error (os_errno() set). */
static ssize_t
inbuf_read(struct inbuf *ib, os_sock fd)
{
    ssize_t n;

    if (ib->b == NULL && (ib->b = bufpool_get()) == NULL) {
        os_set_errno(ENOMEM);
        return -2;
    }
    if (ib->off == ib->len) {
        ib->off = ib->scan = ib->len = 0;
    } else if (ib->len == BUF_CAP && ib->off > 0) {
        memmove(ib->b->data, ib->b->data + ib->off, ib->len - ib->off);
        ib->scan -= ib->off;
        ib->len -= ib->off;
        ib->off = 0;
    }
    if (ib->len == BUF_CAP)
        return -1;
    n = os_recv(fd, ib->b->data + ib->len, BUF_CAP - ib->len);
    if (n > 0)
        ib->len += (uint32_t)n;
    if (n == -1)
        return os_would_block(os_errno()) ? -1 : -2;
    return n;
}

/* Counts bytes sent to the upstream (up) or the client, for the log line and, live, for
 * the link (the relay does the same for tunnels). */
static void
count(struct http_proxy *hp, int up, ssize_t n)
{
    struct relay *r = &hp->s->relay;
    _Atomic uint64_t *live = up ? r->count_up : r->count_down;

    if (n <= 0)
        return;
    if (up)
        r->up.bytes += (uint64_t)n;
    else
        r->down.bytes += (uint64_t)n;
    if (live != NULL)
        atomic_fetch_add_explicit(live, (uint64_t)n, memory_order_relaxed);
}

/* Sends what it can. Returns the byte count (0 when the socket is full), or -1 on error. */
static ssize_t
send_some(os_sock fd, const uint8_t *p, size_t n)
{
    ssize_t r = os_send(fd, p, n);

    if (r == -1 && os_would_block(os_errno()))
        return 0;
    return r;
}

static void
close_upstream(struct http_proxy *hp)
{
    struct session *s = hp->s;

    loop_io_close(&s->relay.remote);
    session_release_link(s);
    hp->have_origin = hp->upstream_eof = hp->upstream_keep = 0;
    inbuf_release(&hp->uin);
    outbuf_release(&hp->uout);
}

/* Stops and frees everything HTTP; keep_upstream leaves the upstream socket to the
 * session (a CONNECT tunnel). The client fd always stays the session's. */
static void
detach(struct http_proxy *hp, int keep_upstream)
{
    struct session *s = hp->s;

    s->http = NULL;
    loop_timer_stop(hp->loop, &hp->timer);
    connector_cancel(&hp->conn);
    if (!keep_upstream)
        close_upstream(hp);
    loop_io_stop(hp->loop, &s->relay.client);
    inbuf_release(&hp->cin);
    inbuf_release(&hp->uin);
    outbuf_release(&hp->uout);
    outbuf_release(&hp->cout);
    free(hp);
}

void
http_proxy_free(struct session *s)
{
    if (s->http != NULL)
        detach(s->http, 0);
}

/* Ends the session with an error response of ours, when one can still be sent (nothing
 * of a response has gone to the client yet), else by closing. hp is gone afterwards. */
static void
http_error(struct http_proxy *hp, int status, const char *text)
{
    struct session *s = hp->s;
    int started = hp->down == DOWN_BODY || hp->down == DOWN_DONE;
    char out[640];
    size_t n = 0;

    log_debug("#%llu HTTP %d: %s", id_of(hp), status, text);
    if (!started)
        n = http_write_error(out, sizeof(out), status, text);
    detach(hp, 0);
    if (started)
        session_close(s);
    else
        session_fail(s, out, n);
}

/* The client asked for (or the exchange forces) the end of the connection: half-close
 * and let the session drain the client. */
static void
finish(struct http_proxy *hp)
{
    struct session *s = hp->s;

    detach(hp, 0);
    session_fail(s, NULL, 0);
}

static const char *
request_error_text(int status)
{
    switch (status) {
    case 431:
        return "request head too large";
    case 505:
        return "only HTTP/1.0 and HTTP/1.1 are spoken here";
    }
    return "malformed request (this proxy takes \"CONNECT host:port\" and "
           "\"GET http://host/path\" requests)";
}

/* ---- dialing ---------------------------------------------------------------------- */

static int
same_target(const struct target *a, const struct target *b)
{
    if (a->type != b->type || a->port != b->port)
        return 0;
    if (a->type == TARGET_DOMAIN)
        return strcasecmp(a->host, b->host) == 0;
    return memcmp(a->addr, b->addr, a->type == TARGET_IPV4 ? 4 : 16) == 0;
}

/* The open upstream connection can take this request: same origin, the server allowed
 * another request, and it has not closed in the meantime (the common race with a server's
 * keep-alive timeout, caught here rather than as a 502). */
static int
upstream_reusable(struct http_proxy *hp, const struct target *t)
{
    os_sock fd = hp->s->relay.remote.fd;
    uint8_t c;

    if (fd == OS_SOCK_INVALID || !hp->have_origin || !hp->upstream_keep || hp->upstream_eof ||
        !same_target(&hp->origin, t))
        return 0;
    return os_peek(fd, &c, 1) == -1 && os_would_block(os_errno());
}

static void
start_idle_timer(struct http_proxy *hp)
{
    unsigned idle = hp->s->srv->sh->cfg->idle_timeout_ms;

    if (idle > 0)
        loop_timer_start(hp->loop, &hp->timer, idle);
    else
        loop_timer_stop(hp->loop, &hp->timer);
}

static void upstream_cb(struct loop_io *io, unsigned events);

static void
connect_established(struct http_proxy *hp)
{
    struct session *s = hp->s;
    struct inbuf cin = hp->cin;
    static const char ok[] = HTTP_CONNECT_OK;

    hp->cin.b = NULL;
    if (os_send(s->relay.client.fd, ok, sizeof(ok) - 1) != (ssize_t)sizeof(ok) - 1) {
        bufpool_put(cin.b);
        session_close(s);
        return;
    }
    detach(hp, 1);
    /* Bytes the client sent after the CONNECT head (a TLS hello) go first. */
    session_relay(s, cin.b != NULL ? cin.b->data + cin.off : NULL, cin.len - cin.off);
    bufpool_put(cin.b);
}

static void
dial_done(struct connector *c, os_sock fd, int err)
{
    struct http_proxy *hp = container_of(c, struct http_proxy, conn);
    struct session *s = hp->s;

    if (fd == OS_SOCK_INVALID) {
        http_error(hp, errmap_http_status(err), errmap_text(err));
        return;
    }
    connector_take(c, &s->relay.remote);
    s->relay.remote.cb = upstream_cb;
    session_attach_link(s, connector_link(c));
    log_debug("#%llu connected via %s", id_of(hp), s->link->label);
    if (hp->is_connect) {
        connect_established(hp);
        return;
    }
    hp->origin = hp->target;
    hp->have_origin = 1;
    hp->upstream_keep = 1;
    hp->upstream_eof = 0;
    hp->up = UP_BODY;
    session_set_state(s, S_RELAY);
    start_idle_timer(hp);
    advance(hp);
}

/* Opens a new upstream connection to hp->target. Returns 0 (the connector reports
 * later). */
static int
start_connect(struct http_proxy *hp)
{
    struct session *s = hp->s;
    struct connector_env env = {
        .loop = hp->loop,
        .bal = s->srv->sh->bal,
        .resolver = s->srv->sh->resolver,
        .dns = s->srv->dns,
        .timeout_ms = s->srv->sh->cfg->connect_timeout_ms,
    };

    connector_cancel(&hp->conn); /* the last dial's leftovers, if any, before reuse */
    hp->up = UP_DIALING;
    session_set_state(s, S_CONNECTING);
    loop_timer_stop(hp->loop, &hp->timer); /* the connector times its own steps */
    connector_start(&hp->conn, &env, &hp->target, s->relay.client.fd, s->id, dial_done);
    return 0;
}

/* ---- requests --------------------------------------------------------------------- */

static int
authorized(struct http_proxy *hp, const uint8_t *head, const struct http_request *req)
{
    struct access *acc = hp->s->srv->sh->access;
    uint8_t user[256], pass[256];
    size_t ulen = 0, plen = 0;
    int ok;

    if (acc == NULL || !access_auth_required(acc))
        return 1;
    if (!req->has_proxy_auth) {
        log_debug("#%llu HTTP request without Proxy-Authorization", id_of(hp));
        return 0;
    }
    if (http_basic_credentials(head + req->proxy_auth.off, req->proxy_auth.len, user, &ulen, pass,
                               &plen) == -1) {
        log_debug("#%llu HTTP Proxy-Authorization is not Basic user:password", id_of(hp));
        return 0;
    }
    ok = access_check(acc, user, ulen, pass, plen);
    access_wipe(pass, sizeof(pass));
    if (!ok) {
        char name[300];
        log_debug("#%llu HTTP authentication failed for user \"%s\"", id_of(hp),
                  log_escape(name, sizeof(name), (const char *)user, ulen));
    }
    return ok;
}

static void
log_request(struct http_proxy *hp, const uint8_t *head, const struct http_request *req)
{
    char method[40], host[300], a[INET6_ADDRSTRLEN];
    const struct target *t = &req->target;
    const char *shown = a;

    if (log_threshold < LOG_DEBUG)
        return;
    log_escape(method, sizeof(method), (const char *)head + req->method.off, req->method.len);
    if (t->type == TARGET_DOMAIN)
        shown = log_escape(host, sizeof(host), t->host, strlen(t->host));
    else
        inet_ntop(t->type == TARGET_IPV4 ? AF_INET : AF_INET6, t->addr, a, sizeof(a));
    log_debug("#%llu HTTP %s %s%s%s:%u", id_of(hp), method, t->type == TARGET_IPV6 ? "[" : "",
              shown, t->type == TARGET_IPV6 ? "]" : "", t->port);
}

/* A complete request head of used bytes at cin.off. Returns 1, 0, or -1 (session ended). */
static int
handle_request(struct http_proxy *hp, const struct http_request *req, size_t used)
{
    const uint8_t *head = hp->cin.b->data + hp->cin.off;
    size_t n;
    int reuse;

    loop_timer_stop(hp->loop, &hp->timer);
    if (hp->denied) {
        http_error(hp, 403, "your address is not allowed to use this proxy");
        return -1;
    }
    if (!authorized(hp, head, req)) {
        http_error(hp, 407, "proxy authentication required");
        return -1;
    }
    log_request(hp, head, req);
    hp->target = req->target;
    hp->s->target = req->target; /* the status page shows the current request's */
    if (req->is_connect) {
        close_upstream(hp);
        hp->is_connect = 1;
        hp->cin.off += (uint32_t)used;
        hp->cin.scan = hp->cin.off;
        return start_connect(hp) == -1 ? -1 : 0;
    }
    reuse = upstream_reusable(hp, &req->target);
    if (!reuse)
        close_upstream(hp); /* a new origin, or a spent connection: dial a new one */
    if (hp->uout.b == NULL && (hp->uout.b = bufpool_get()) == NULL) {
        session_close(hp->s);
        return -1;
    }
    n = http_write_request_head(hp->uout.b->data, BUF_CAP, head, req);
    if (n == 0) {
        http_error(hp, 431, "request head too large");
        return -1;
    }
    hp->uout.off = 0;
    hp->uout.len = (uint32_t)n;
    hp->cin.off += (uint32_t)used;
    hp->cin.scan = hp->cin.off;
    http_body_init(&hp->req_body, req->f.body, req->f.content_length);
    hp->req_is_head = req->is_head;
    hp->client_keep = req->keep_alive;
    hp->down = DOWN_HEAD;
    if (!reuse)
        return start_connect(hp) == -1 ? -1 : 1;
    hp->up = UP_BODY;
    session_set_state(hp->s, S_RELAY);
    start_idle_timer(hp);
    return 1;
}

/* Whether a head parser could answer anything new: its verdict changes only at a line
 * end or at the size limit, so a head sent in small pieces is parsed once per line (and
 * once at its first bytes), not once per piece; a slow sender costs linear time. */
static int
head_worth_parsing(const struct inbuf *ib)
{
    uint32_t have = ib->len - ib->off;

    if (ib->head_seen == 0)
        return have > 0;
    if (have <= ib->head_seen)
        return 0;
    if (have >= HTTP_HEAD_MAX)
        return 1;
    return memchr(ib->b->data + ib->off + ib->head_seen, '\n', have - ib->head_seen) != NULL;
}

static int
step_parse_request(struct http_proxy *hp)
{
    struct http_request req;
    size_t used = 0;
    int status = 400;
    enum parse_status st;

    if (hp->up != UP_HEAD || hp->cin.b == NULL || !head_worth_parsing(&hp->cin))
        return 0;
    st = http_parse_request(hp->cin.b->data + hp->cin.off, hp->cin.len - hp->cin.off, &used, &req,
                            &status);
    if (st == PARSE_MORE) {
        hp->cin.head_seen = hp->cin.len - hp->cin.off;
        return 0;
    }
    hp->cin.head_seen = 0;
    if (st == PARSE_ERROR) {
        http_error(hp, status, request_error_text(status));
        return -1;
    }
    return handle_request(hp, &req, used);
}

/* The server stopped taking the request (closed or reset): no more of it can be sent, but
 * a response it sent first may still be read. */
static void
upstream_write_failed(struct http_proxy *hp)
{
    log_debug("#%llu upstream stopped taking the request: %s", id_of(hp), os_strerror(os_errno()));
    hp->up = UP_DONE;
    hp->client_keep = 0;
    hp->upstream_keep = 0;
    hp->cin.off = hp->cin.scan = hp->cin.len; /* the rest of this request is dropped */
}

static int
step_upstream_send(struct http_proxy *hp)
{
    os_sock fd = hp->s->relay.remote.fd;
    int progress = 0;
    struct inbuf *c = &hp->cin;
    ssize_t r;

    if (hp->up != UP_BODY)
        return 0;
    if (pending_out(&hp->uout)) {
        r = send_some(fd, hp->uout.b->data + hp->uout.off, hp->uout.len - hp->uout.off);
        if (r == -1) {
            upstream_write_failed(hp);
            return 1;
        }
        hp->uout.off += (uint32_t)r;
        count(hp, 1, r);
        if (pending_out(&hp->uout))
            return r > 0;
        outbuf_release(&hp->uout);
        progress = 1;
    }
    if (!hp->req_body.done && c->scan < c->len) {
        size_t used = 0;
        if (http_body_feed(&hp->req_body, c->b->data + c->scan, c->len - c->scan, &used) ==
            PARSE_ERROR) {
            http_error(hp, 400, "malformed chunked request body");
            return -1;
        }
        c->scan += (uint32_t)used;
        progress = 1;
    }
    if (c->off < c->scan) {
        r = send_some(fd, c->b->data + c->off, c->scan - c->off);
        if (r == -1) {
            upstream_write_failed(hp);
            return 1;
        }
        c->off += (uint32_t)r;
        count(hp, 1, r);
        progress |= r > 0;
    }
    if (c->off == c->scan && hp->req_body.done) {
        hp->up = UP_DONE;
        progress = 1;
    }
    return progress;
}

/* ---- responses -------------------------------------------------------------------- */

static int
step_parse_response(struct http_proxy *hp)
{
    struct http_response resp;
    struct inbuf *u = &hp->uin;
    size_t used = 0, n;
    enum parse_status st = PARSE_MORE;
    int keep;

    if (hp->down != DOWN_HEAD || pending_out(&hp->cout))
        return 0;
    if (u->b != NULL && u->off < u->len) {
        if (!head_worth_parsing(u) && !hp->upstream_eof)
            return 0;
        st = http_parse_response(u->b->data + u->off, u->len - u->off, &used, hp->req_is_head,
                                 &resp);
        u->head_seen = st == PARSE_MORE ? u->len - u->off : 0;
    }
    if (st == PARSE_MORE) {
        if (!hp->upstream_eof)
            return 0;
        http_error(hp, 502, "the server closed the connection without a complete response");
        return -1;
    }
    if (st == PARSE_ERROR) {
        http_error(hp, 502, "malformed response head from the server");
        return -1;
    }
    if (resp.status == 101) {
        http_error(hp, 502,
                   "the server switched protocols, which forwarding does not carry "
                   "(use CONNECT)");
        return -1;
    }
    if (hp->cout.b == NULL && (hp->cout.b = bufpool_get()) == NULL) {
        session_close(hp->s);
        return -1;
    }
    keep = hp->client_keep && resp.f.body != HTTP_BODY_CLOSE;
    n = http_write_response_head(hp->cout.b->data, BUF_CAP, u->b->data + u->off, &resp, keep);
    if (n == 0) {
        http_error(hp, 502, "response head too large");
        return -1;
    }
    hp->cout.off = 0;
    hp->cout.len = (uint32_t)n;
    u->off += (uint32_t)used;
    u->scan = u->off;
    if (resp.status < 200)
        return 1; /* interim (100 Continue): the final head follows */
    hp->client_keep = keep;
    hp->upstream_keep = resp.keep_alive;
    http_body_init(&hp->resp_body, resp.f.body, resp.f.content_length);
    hp->down = DOWN_BODY;
    return 1;
}

static int
step_client_send(struct http_proxy *hp)
{
    struct session *s = hp->s;
    struct inbuf *u = &hp->uin;
    int progress = 0;
    ssize_t r;

    if (pending_out(&hp->cout)) {
        r = send_some(s->relay.client.fd, hp->cout.b->data + hp->cout.off,
                      hp->cout.len - hp->cout.off);
        if (r == -1) {
            session_close(s);
            return -1;
        }
        hp->cout.off += (uint32_t)r;
        count(hp, 0, r);
        if (pending_out(&hp->cout))
            return r > 0;
        outbuf_release(&hp->cout);
        progress = 1;
    }
    if (hp->down != DOWN_BODY)
        return progress;
    if (!hp->resp_body.done && u->b != NULL && u->scan < u->len) {
        size_t used = 0;
        if (http_body_feed(&hp->resp_body, u->b->data + u->scan, u->len - u->scan, &used) ==
            PARSE_ERROR) {
            log_debug("#%llu malformed chunked response body", id_of(hp));
            session_close(s);
            return -1;
        }
        u->scan += (uint32_t)used;
        progress = 1;
    }
    if (u->off < u->scan) {
        r = send_some(s->relay.client.fd, u->b->data + u->off, u->scan - u->off);
        if (r == -1) {
            session_close(s);
            return -1;
        }
        u->off += (uint32_t)r;
        count(hp, 0, r);
        progress |= r > 0;
    }
    if (u->off == u->scan) {
        if (hp->resp_body.done) {
            hp->down = DOWN_DONE;
            progress = 1;
        } else if (hp->upstream_eof && hp->resp_body.kind == HTTP_BODY_CLOSE) {
            hp->down = DOWN_DONE; /* the close was the end of the body */
            hp->client_keep = hp->upstream_keep = 0;
            progress = 1;
        } else if (hp->upstream_eof) {
            log_debug("#%llu the server closed before the end of the response", id_of(hp));
            session_close(s);
            return -1;
        }
    }
    return progress;
}

/* The response is through: keep both connections for the next request, or end. */
static int
step_complete(struct http_proxy *hp)
{
    if (hp->down != DOWN_DONE || pending_out(&hp->cout))
        return 0;
    if (hp->up != UP_DONE) /* the response ended before the request: cannot resync */
        hp->client_keep = hp->upstream_keep = 0;
    if (!hp->upstream_keep || hp->upstream_eof || hp->uin.off < hp->uin.len)
        close_upstream(hp);
    if (!hp->client_keep) {
        finish(hp);
        return -1;
    }
    hp->up = UP_HEAD;
    hp->down = DOWN_IDLE;
    if (hp->uin.off == hp->uin.len)
        inbuf_release(&hp->uin);
    if (hp->cin.off == hp->cin.len)
        inbuf_release(&hp->cin);
    session_set_state(hp->s, S_REQUEST);
    loop_timer_start(hp->loop, &hp->timer, KEEPALIVE_IDLE_MS);
    return 1;
}

/* ---- reading ---------------------------------------------------------------------- */

/* Whether a read into ib can take anything: a socket is watched for reading only then,
 * because with level-triggered events one we do not read is reported again at once, and
 * the loop would spin without progress (a 100 Continue flood to a client that does not
 * read filled the upstream buffer that way). */
static int
inbuf_has_room(const struct inbuf *ib)
{
    return ib->b == NULL || ib->len < BUF_CAP || ib->off > 0;
}

/* The client is read while its request head or body is wanted, and also while the
 * request is dialed or its response awaited: then what comes is the next pipelined
 * request (kept, bounded by the buffer) or the client's EOF, which ends the session at
 * once instead of leaving it to wait for a response nobody will read. */
static int
want_client_read(const struct http_proxy *hp)
{
    if (!inbuf_has_room(&hp->cin))
        return 0;
    if (hp->up == UP_BODY && !hp->req_body.done)
        return hp->cin.off == hp->cin.len;
    return 1;
}

static int
want_upstream_read(const struct http_proxy *hp)
{
    if (hp->s->relay.remote.fd == OS_SOCK_INVALID || hp->upstream_eof || hp->up == UP_DIALING)
        return 0;
    switch (hp->down) {
    case DOWN_IDLE: /* an idle keep-alive connection: notice when the server closes it */
    case DOWN_HEAD:
        return inbuf_has_room(&hp->uin);
    case DOWN_BODY:
        return !hp->resp_body.done && hp->uin.off == hp->uin.len;
    case DOWN_DONE:
        break;
    }
    return 0;
}

static int
step_client_read(struct http_proxy *hp)
{
    ssize_t n = inbuf_read(&hp->cin, hp->s->relay.client.fd);

    if (n > 0)
        return 1;
    if (n == -1)
        return 0;
    if (n == 0 && hp->up == UP_HEAD && hp->cin.off == hp->cin.len)
        log_debug("#%llu client closed its connection", id_of(hp));
    else if (n == 0 && (hp->up == UP_DIALING || hp->up == UP_DONE))
        log_debug("#%llu client left while its request was pending: aborting it", id_of(hp));
    else
        log_debug("#%llu client %s in the middle of a request", id_of(hp),
                  n == 0 ? "closed" : os_strerror(os_errno()));
    session_close(hp->s);
    return -1;
}

static int
step_upstream_read(struct http_proxy *hp)
{
    ssize_t n = inbuf_read(&hp->uin, hp->s->relay.remote.fd);

    if (n == -1)
        return 0;
    if (hp->down == DOWN_IDLE) {
        /* Nothing was asked: EOF, an error or stray bytes all end this connection. */
        close_upstream(hp);
        return 1;
    }
    if (n == -2) {
        if (hp->down == DOWN_HEAD)
            http_error(hp, 502, errmap_text(os_errno()));
        else
            session_close(hp->s);
        return -1;
    }
    if (n == 0)
        hp->upstream_eof = 1;
    return 1;
}

/* ---- the loop --------------------------------------------------------------------- */

static void
update_interest(struct http_proxy *hp)
{
    struct session *s = hp->s;
    unsigned c = 0, u = 0;

    if (want_client_read(hp))
        c |= LOOP_READ;
    if (pending_out(&hp->cout) || (hp->down == DOWN_BODY && hp->uin.off < hp->uin.scan))
        c |= LOOP_WRITE;
    if (want_upstream_read(hp))
        u |= LOOP_READ;
    if (hp->up == UP_BODY && (pending_out(&hp->uout) || hp->cin.off < hp->cin.scan))
        u |= LOOP_WRITE;
    if (loop_io_set(hp->loop, &s->relay.client, c) == -1 ||
        (s->relay.remote.fd != OS_SOCK_INVALID && loop_io_set(hp->loop, &s->relay.remote, u) == -1))
        session_close(s);
}

/* Does everything that can be done without blocking, reading each socket at most once
 * (one read per event keeps a busy connection from starving the others). */
static void
advance(struct http_proxy *hp)
{
    int read_client = 0, read_upstream = 0;

    for (;;) {
        int r, progress = 0;

        if ((r = step_parse_request(hp)) < 0)
            return;
        progress |= r;
        if ((r = step_upstream_send(hp)) < 0)
            return;
        progress |= r;
        if ((r = step_parse_response(hp)) < 0)
            return;
        progress |= r;
        if ((r = step_client_send(hp)) < 0)
            return;
        progress |= r;
        if ((r = step_complete(hp)) < 0)
            return;
        progress |= r;
        if (!progress && !read_client && want_client_read(hp)) {
            read_client = 1;
            if ((r = step_client_read(hp)) < 0)
                return;
            progress |= r;
        }
        if (!progress && !read_upstream && want_upstream_read(hp)) {
            read_upstream = 1;
            if ((r = step_upstream_read(hp)) < 0)
                return;
            progress |= r;
        }
        if (!progress)
            break;
    }
    update_interest(hp);
}

static void
client_cb(struct loop_io *io, unsigned events)
{
    struct session *s = container_of(io, struct session, relay.client);
    struct http_proxy *hp = s->http;

    if (hp == NULL || s->state == S_CLOSED)
        return;
    hp->last_active_ms = loop_now(hp->loop);
    if (events & LOOP_ERROR) {
        log_debug("#%llu client connection failed", id_of(hp));
        session_close(s);
        return;
    }
    advance(hp);
}

static void
upstream_cb(struct loop_io *io, unsigned events)
{
    struct session *s = container_of(io, struct session, relay.remote);
    struct http_proxy *hp = s->http;

    if (hp == NULL || s->state == S_CLOSED)
        return;
    hp->last_active_ms = loop_now(hp->loop);
    if (events & LOOP_ERROR) {
        int err = os_sock_error(io->fd);

        if (hp->down == DOWN_IDLE) {
            close_upstream(hp);
        } else if (hp->down == DOWN_HEAD) {
            http_error(hp, 502, errmap_text(err != 0 ? err : ECONNRESET));
            return;
        } else {
            session_close(s);
            return;
        }
    }
    advance(hp);
}

static void
timer_cb(struct loop_timer *t)
{
    struct http_proxy *hp = container_of(t, struct http_proxy, timer);
    uint64_t idle = hp->s->srv->sh->cfg->idle_timeout_ms, quiet;

    if (hp->up == UP_HEAD) {
        log_debug("#%llu no complete request in time: closing", id_of(hp));
        session_close(hp->s);
        return;
    }
    if (idle == 0)
        return;
    quiet = loop_now(hp->loop) - hp->last_active_ms;
    if (quiet < idle) {
        loop_timer_start(hp->loop, &hp->timer, idle - quiet);
        return;
    }
    log_debug("#%llu idle for %llu ms: closing", id_of(hp), (unsigned long long)quiet);
    session_close(hp->s);
}

int
http_proxy_start(struct session *s, const uint8_t *in, size_t len, int denied)
{
    struct http_proxy *hp = calloc(1, sizeof(*hp));

    if (hp == NULL)
        return -1;
    hp->cin.b = bufpool_get();
    if (hp->cin.b == NULL || len > BUF_CAP) {
        bufpool_put(hp->cin.b);
        free(hp);
        return -1;
    }
    memcpy(hp->cin.b->data, in, len);
    hp->cin.len = (uint32_t)len;
    hp->s = s;
    hp->loop = s->srv->loop;
    hp->denied = denied;
    hp->up = UP_HEAD;
    hp->down = DOWN_IDLE;
    hp->last_active_ms = loop_now(hp->loop);
    loop_timer_init(&hp->timer, timer_cb);
    s->http = hp;
    s->relay.client.cb = client_cb;
    session_set_state(s, S_REQUEST);
    loop_timer_start(hp->loop, &hp->timer, s->srv->sh->cfg->handshake_timeout_ms);
    advance(hp);
    return 0;
}
