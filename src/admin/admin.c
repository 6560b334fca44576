#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "balancer.h"
#include "common.h"
#include "http.h"
#include "log.h"
#include "page.h"
#include "render.h"
#include "sbuf.h"
#include "server.h"
#include "status.h"

#define ADMIN_BODY_MAX 4096
#define ADMIN_RATIO_MAX 1000 /* as on the command line */

struct admin_conn {
    LIST_ENTRY(admin_conn) entry;
    struct admin *a;
    struct loop_io io;
    struct loop_timer timer;
    struct sockaddr_storage peer;
    size_t in_len;
    struct sbuf out;
    size_t out_off;
    struct status_collect *collect; /* GET /api/status waiting for the loops */
    int history;
    char what[80]; /* "METHOD /path" for log lines (escaped) */
    struct loop_work free_work;
    int closed;
    uint8_t in[ADMIN_IN_MAX];
};

static void conn_close(struct admin_conn *c);

static void
free_cb(struct loop_work *w)
{
    struct admin_conn *c = container_of(w, struct admin_conn, free_work);

    sbuf_free(&c->out);
    free(c);
}

static void
conn_close(struct admin_conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    if (c->collect != NULL) {
        status_collect_cancel(c->collect);
        c->collect = NULL;
    }
    loop_timer_stop(c->a->loop, &c->timer);
    loop_io_close(&c->io);
    LIST_REMOVE(c, entry);
    c->a->n_conns--;
    c->free_work.cb = free_cb;
    loop_defer(c->a->loop, &c->free_work);
}

/* Sends what is left of c->out; closes when all is sent or the client is gone. */
static void
flush(struct admin_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = os_send(c->io.fd, c->out.p + c->out_off, c->out.len - c->out_off);

        if (n == -1) {
            if (os_would_block(os_errno()) && loop_io_set(c->a->loop, &c->io, LOOP_WRITE) == 0)
                return;
            break;
        }
        c->out_off += (size_t)n;
    }
    conn_close(c);
}

/* Queues a whole response (body may be NULL with len 0) and starts sending it. */
static void
respond(struct admin_conn *c, int status, const char *type, const char *extra, const char *body,
        size_t len)
{
    sbuf_printf(&c->out,
                "HTTP/1.1 %d %s\r\n"
                "Content-Type: %s\r\n"
                "Content-Length: %zu\r\n"
                "Cache-Control: no-store\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "X-Frame-Options: DENY\r\n"
                "Referrer-Policy: no-referrer\r\n"
                "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'; form-action 'none'; base-uri 'none'\r\n"
                "%s"
                "Connection: close\r\n\r\n",
                status, http_reason(status), type, len, extra != NULL ? extra : "");
    if (len > 0)
        sbuf_put(&c->out, body, len);
    if (c->out.oom) {
        conn_close(c);
        return;
    }
    loop_io_set(c->a->loop, &c->io, 0);
    flush(c);
}

static void
respond_sbuf(struct admin_conn *c, const char *type, struct sbuf *body)
{
    if (body->oom)
        respond(c, 500, "text/plain", NULL, "out of memory\n", 14);
    else
        respond(c, 200, type, NULL, body->p, body->len);
    sbuf_free(body);
}

/* {"error": text} with status. */
static void
respond_error(struct admin_conn *c, int status, const char *text, const char *extra)
{
    struct sbuf b;

    if (log_threshold >= LOG_DEBUG) {
        char who[LOG_SOCKADDR_MAX];
        log_debug("status: %s from %s refused: %d %s", c->what[0] ? c->what : "request",
                  log_sockaddr(who, sizeof(who), (void *)&c->peer), status, text);
    }
    sbuf_init(&b);
    sbuf_puts(&b, "{\"error\":");
    sbuf_json_str(&b, text);
    sbuf_puts(&b, "}\n");
    if (b.oom)
        conn_close(c);
    else
        respond(c, status, "application/json", extra, b.p, b.len);
    sbuf_free(&b);
}

/* ---- who may ask, and what ---- */

static int
span_is(const uint8_t *buf, struct http_span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(buf + s.off, lit, s.len) == 0;
}

/* The span starts with lit (lowercase ASCII), in any case. */
static int
span_starts_ci(const uint8_t *buf, struct http_span s, const char *lit)
{
    size_t n = strlen(lit);

    if (s.len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = buf[s.off + i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (uint8_t)lit[i])
            return 0;
    }
    return 1;
}

/* Host names this server answers to: an IP literal (v4, or v6 in brackets) or
 * "localhost", with an optional port. A name that only resolves here (DNS rebinding: an
 * attacker's name pointed at 127.0.0.1) is refused. */
static int
host_ok(const uint8_t *v, size_t len)
{
    char host[64];
    size_t hlen;
    uint8_t tmp[16];

    if (len == 0 || len >= sizeof(host))
        return 0;
    if (v[0] == '[') {
        const uint8_t *close = memchr(v, ']', len);
        if (close == NULL)
            return 0;
        hlen = (size_t)(close - v - 1);
        memcpy(host, v + 1, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET6, host, tmp) != 1)
            return 0;
        v = close + 1;
        len -= hlen + 2;
    } else {
        const uint8_t *colon = memchr(v, ':', len);
        hlen = colon != NULL ? (size_t)(colon - v) : len;
        memcpy(host, v, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET, host, tmp) != 1 && strcmp(host, "localhost") != 0)
            return 0;
        v += hlen;
        len -= hlen;
    }
    if (len == 0)
        return 1;
    if (v[0] != ':' || len < 2 || len > 6)
        return 0;
    for (size_t i = 1; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* -allow, then -auth as HTTP Basic. Returns 0, or the refusal's status (sent). */
static int
check_client(struct admin_conn *c, const uint8_t *buf, const struct http_request *req)
{
    struct access *acc = atomic_load(&c->a->st->sh->access);
    struct http_span v;
    uint8_t user[256], pass[256];
    size_t ulen = 0, plen = 0;
    int ok;

    if (acc != NULL && !access_client_allowed(acc, (const struct sockaddr *)&c->peer)) {
        respond_error(c, 403, "your address is not allowed (-allow)", NULL);
        return 403;
    }
    if (http_header_value(buf, &req->f, "host", &v) == -1 || !host_ok(buf + v.off, v.len)) {
        respond_error(c, 403,
                      "Host must be this server's IP address or localhost (DNS rebinding guard)",
                      NULL);
        return 403;
    }
    if (acc == NULL || !access_auth_required(acc))
        return 0;
    ok = http_header_value(buf, &req->f, "authorization", &v) == 0 &&
         http_basic_credentials(buf + v.off, v.len, user, &ulen, pass, &plen) == 0 &&
         access_check(acc, user, ulen, pass, plen);
    access_wipe(pass, sizeof(pass));
    if (!ok) {
        respond_error(
            c, 401, "credentials required (-auth)",
            "WWW-Authenticate: Basic realm=\"dispatch-proxy status\", charset=\"UTF-8\"\r\n");
        return 401;
    }
    return 0;
}

/* A change must not be something a page on another site can make the user's browser
 * send: POST with a JSON body type (not a "simple" request: needs a CORS preflight,
 * which is never granted) and, when the browser says where it comes from, our origin. */
static int
check_change(struct admin_conn *c, const uint8_t *buf, const struct http_request *req)
{
    struct http_span ct, origin, host;
    const char *why = NULL;

    if (http_header_value(buf, &req->f, "content-type", &ct) == -1 ||
        !span_starts_ci(buf, ct, "application/json") ||
        (ct.len > 16 && buf[ct.off + 16] != ';' && buf[ct.off + 16] != ' '))
        why = "a change needs Content-Type: application/json";
    else if (http_header_value(buf, &req->f, "origin", &origin) == 0) {
        (void)http_header_value(buf, &req->f, "host", &host);
        if (origin.len != 7 + host.len || memcmp(buf + origin.off, "http://", 7) != 0 ||
            memcmp(buf + origin.off + 7, buf + host.off, host.len) != 0)
            why = "cross-origin request refused";
    }
    if (why == NULL)
        return 0;
    respond_error(c, 403, why, NULL);
    return 403;
}

/* ---- the routes ---- */

static void
collected(struct status_collect *col, void *arg)
{
    struct admin_conn *c = arg;
    struct status_snapshot *snap = malloc(sizeof(*snap));
    struct sbuf b;

    c->collect = NULL;
    sbuf_init(&b);
    if (snap == NULL) {
        status_collect_free(col);
        respond_error(c, 500, "out of memory", NULL);
        return;
    }
    status_snapshot(c->a->st, snap);
    render_status_json(&b, c->a->st, snap, c->history, col);
    free(snap);
    status_collect_free(col);
    respond_sbuf(c, "application/json", &b);
}

static void
get_snapshot_doc(struct admin_conn *c, int metrics)
{
    struct status_snapshot *snap = malloc(sizeof(*snap));
    struct sbuf b;

    if (snap == NULL) {
        respond_error(c, 500, "out of memory", NULL);
        return;
    }
    sbuf_init(&b);
    status_snapshot(c->a->st, snap);
    if (metrics)
        render_metrics(&b, snap);
    else
        render_links_json(&b, snap);
    free(snap);
    respond_sbuf(c, metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", &b);
}

/* The value of "ratio" in a small JSON object such as {"ratio": 3}. Returns it, or -1. */
static long
json_ratio(const uint8_t *body, size_t len)
{
    char tmp[ADMIN_BODY_MAX + 1], *p, *end;
    long v;

    memcpy(tmp, body, len);
    tmp[len] = '\0';
    p = strstr(tmp, "\"ratio\"");
    if (p == NULL)
        return -1;
    p += 7;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p++ != ':')
        return -1;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    v = strtol(p, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (errno != 0 || v > ADMIN_RATIO_MAX || (*end != ',' && *end != '}'))
        return -1; /* 3.5, 3x, 1e3: not a ratio */
    return v;
}

/* POST /api/links/N/{drain,enable,ratio}. */
static void
post_link(struct admin_conn *c, const char *rest, const uint8_t *body, size_t blen)
{
    struct status *st = c->a->st;
    char *end, who[LOG_SOCKADDR_MAX], name[OS_IFNAME_MAX * 4 + 1];
    unsigned long i;
    long ratio;
    unsigned before;
    struct link *l;
    struct sbuf b;

    errno = 0;
    i = strtoul(rest, &end, 10);
    if (rest[0] < '0' || rest[0] > '9' || errno != 0 || *end != '/' ||
        i >= atomic_load(&st->bal->n_links)) {
        respond_error(c, 404, "no such link", NULL);
        return;
    }
    l = &st->links[i];
    end++;
    if (strcmp(end, "drain") == 0)
        ratio = 0;
    else if (strcmp(end, "enable") == 0)
        ratio = l->spec.ratio;
    else if (strcmp(end, "ratio") == 0) {
        ratio = json_ratio(body, blen);
        if (ratio < 1) {
            respond_error(c, 400, "body must be {\"ratio\": N} with N from 1 to 1000", NULL);
            return;
        }
    } else {
        respond_error(c, 404, "no such action (drain, enable, ratio)", NULL);
        return;
    }
    before = i < balancer_sched(st->bal)->n_links ? balancer_sched(st->bal)->ratio[i] : 0;
    if (balancer_set_ratio(st->bal, (unsigned)i, (unsigned)ratio) == -1) {
        respond_error(c, 409,
                      ratio == 0 ? "it is the last link taking connections"
                                 : "the ratios would add up to more than the schedule holds",
                      NULL);
        return;
    }
    if (ratio > 0)
        l->spec.ratio = (unsigned)ratio; /* loop 0, like reload: what enable restores */
    status_ratio_changed(st, (unsigned)i, before, (unsigned)ratio);
    log_sockaddr(who, sizeof(who), (void *)&c->peer);
    log_escape(name, sizeof(name), l->label, strlen(l->label));
    if (ratio == 0)
        log_info("status API (%s): link %s drained: no new connections", who, name);
    else
        log_info("status API (%s): link %s takes new connections at ratio %ld", who, name, ratio);
    sbuf_init(&b);
    sbuf_printf(&b, "{\"ok\":true,\"link\":%lu,\"ratio\":%ld,\"draining\":%s}\n", i, ratio,
                ratio == 0 ? "true" : "false");
    respond_sbuf(c, "application/json", &b);
}

static void
route(struct admin_conn *c, const uint8_t *buf, const struct http_request *req, const uint8_t *body,
      size_t blen)
{
    char path[256];
    char *query;
    int get = span_is(buf, req->method, "GET"), post = span_is(buf, req->method, "POST");

    if (req->path.len >= sizeof(path)) {
        respond_error(c, 404, "not found", NULL);
        return;
    }
    memcpy(path, buf + req->path.off, req->path.len);
    path[req->path.len] = '\0';
    {
        char m[16], p[60];
        snprintf(c->what, sizeof(c->what), "%s %s",
                 log_escape(m, sizeof(m), (const char *)buf + req->method.off, req->method.len),
                 log_escape(p, sizeof(p), path, strlen(path)));
    }
    query = strchr(path, '?');
    if (query != NULL)
        *query++ = '\0';
    if (check_client(c, buf, req) != 0)
        return;
    if (strncmp(path, "/api/links/", 11) == 0 && path[11] != '\0') {
        if (!post) {
            respond_error(c, 405, "use POST", "Allow: POST\r\n");
            return;
        }
        if (check_change(c, buf, req) == 0)
            post_link(c, path + 11, body, blen);
        return;
    }
    if (!get) {
        respond_error(c, 405, "use GET", "Allow: GET\r\n");
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        respond(c, 200, "text/html; charset=utf-8", NULL, admin_page_html, admin_page_len);
    } else if (strcmp(path, "/metrics") == 0) {
        get_snapshot_doc(c, 1);
    } else if (strcmp(path, "/api/links") == 0) {
        get_snapshot_doc(c, 0);
    } else if (strcmp(path, "/api/status") == 0) {
        c->history = query == NULL || strstr(query, "history=0") == NULL;
        loop_io_set(c->a->loop, &c->io, 0);
        c->collect = status_collect_sessions(c->a->st, collected, c);
        if (c->collect == NULL)
            respond_error(c, 500, "out of memory", NULL);
    } else {
        respond_error(c, 404, "not found", NULL);
    }
}

/* ---- connections ---- */

static void
conn_cb(struct loop_io *io, unsigned events)
{
    struct admin_conn *c = container_of(io, struct admin_conn, io);
    struct http_request *req;
    enum parse_status st;
    size_t used = 0, blen = 0;
    int status = 400;
    ssize_t n;

    DP_UNUSED(events);
    if (c->closed)
        return;
    if (c->out.len > 0) {
        flush(c);
        return;
    }
    if (c->collect != NULL)
        return;
    n = os_recv(io->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n == 0 || (n == -1 && !os_would_block(os_errno()))) {
        conn_close(c);
        return;
    }
    if (n == -1)
        return;
    c->in_len += (size_t)n;
    req = malloc(sizeof(*req));
    if (req == NULL) {
        conn_close(c);
        return;
    }
    st = http_parse_origin_request(c->in, c->in_len, &used, req, &status);
    if (st == PARSE_MORE && c->in_len == sizeof(c->in)) {
        st = PARSE_ERROR;
        status = 431;
    }
    if (st == PARSE_DONE) {
        if (req->f.body == HTTP_BODY_CHUNKED || req->f.content_length > ADMIN_BODY_MAX) {
            st = PARSE_ERROR;
            status = 413;
        } else {
            blen = (size_t)req->f.content_length;
            if (c->in_len - used < blen)
                st = PARSE_MORE; /* the body is on its way */
        }
    }
    if (st == PARSE_ERROR)
        respond_error(c, status, http_reason(status), NULL);
    else if (st == PARSE_DONE)
        route(c, c->in, req, c->in + used, blen);
    free(req);
}

static void
timer_cb(struct loop_timer *t)
{
    conn_close(container_of(t, struct admin_conn, timer));
}

static void
accept_cb(struct loop_io *io, unsigned events)
{
    struct admin *a = container_of(io, struct admin, io);

    DP_UNUSED(events);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        os_sock fd = os_accept(io->fd, (struct sockaddr *)&peer, &plen);
        struct admin_conn *c;

        if (fd == OS_SOCK_INVALID)
            return;
        if (a->n_conns >= ADMIN_CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
            os_close(fd);
            continue;
        }
        c->a = a;
        c->peer = peer;
        sbuf_init(&c->out);
        loop_io_init(&c->io, fd, conn_cb);
        loop_timer_init(&c->timer, timer_cb);
        if (loop_io_set(a->loop, &c->io, LOOP_READ) == -1) {
            os_close(fd);
            free(c);
            continue;
        }
        LIST_INSERT_HEAD(&a->conns, c, entry);
        a->n_conns++;
        loop_timer_start(a->loop, &c->timer, ADMIN_TIMEOUT_MS);
    }
}

int
admin_start(struct admin *a, struct status *st, struct loop *loop, const char *host, uint16_t port,
            char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char shown[LOG_SOCKADDR_MAX];

    memset(a, 0, sizeof(*a));
    LIST_INIT(&a->conns);
    a->st = st;
    a->loop = loop;
    a->fd = server_listen(host, port, 0, NULL);
    if (a->fd == OS_SOCK_INVALID) {
        snprintf(err, errlen, "cannot listen on %s:%u for -status: %s", host, port,
                 os_strerror(os_errno()));
        return -1;
    }
    loop_io_init(&a->io, a->fd, accept_cb);
    if (loop_io_set(loop, &a->io, LOOP_READ) == -1) {
        snprintf(err, errlen, "-status: %s", os_strerror(os_errno()));
        os_close(a->fd);
        a->fd = OS_SOCK_INVALID;
        return -1;
    }
    os_getsockname(a->fd, &ss, &len);
    a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    log_info("Status page at http://%s/", log_sockaddr(shown, sizeof(shown), (void *)&ss));
    return 0;
}

void
admin_stop(struct admin *a)
{
    if (a->loop == NULL)
        return;
    while (!LIST_EMPTY(&a->conns)) {
        struct admin_conn *c = LIST_FIRST(&a->conns);

        if (c->collect != NULL) {
            status_collect_orphan(c->collect);
            c->collect = NULL;
        }
        conn_close(c);
    }
    if (a->fd != OS_SOCK_INVALID) {
        loop_io_close(&a->io);
        a->fd = OS_SOCK_INVALID;
    }
    a->loop = NULL;
}
