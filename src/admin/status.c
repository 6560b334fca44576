#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balancer.h"
#include "common.h"
#include "config.h"
#include "server.h"
#include "session.h"

#define STATUS_TICK_MS 1000

static int64_t
wall_now(void)
{
    return (int64_t)time(NULL);
}

void
status_init(struct status *st, struct link *links, struct balancer *bal, struct shared *sh,
            struct server *servers, unsigned n_servers)
{
    memset(st, 0, sizeof(*st));
    st->links = links;
    st->bal = bal;
    st->sh = sh;
    st->servers = servers;
    st->n_servers = n_servers; /* last_state: LINK_UP (0); last_ratio: 0, a link added */
}

static unsigned
n_links_of(const struct status *st)
{
    return atomic_load_explicit(&st->bal->n_links, memory_order_acquire);
}

static void
note_event(struct status *st, unsigned i, int from, int to, int64_t wall)
{
    struct status_event *e = &st->events[st->n_events % STATUS_EVENTS];
    struct link *l = &st->links[i];

    memset(e, 0, sizeof(*e));
    e->wall_s = wall;
    e->link = i;
    e->from = (uint8_t)from;
    e->to = (uint8_t)to;
    e->why[0] = '\0';
    if (to != LINK_UP) {
        int reason;

        pthread_mutex_lock(&l->mu);
        reason = l->reason;
        pthread_mutex_unlock(&l->mu);
        snprintf(e->why, sizeof(e->why), "%s", link_why(l, reason));
    }
    st->n_events++;
}

static void
note_ratio(struct status *st, unsigned i, unsigned from, unsigned to, int64_t wall)
{
    struct status_event *e = &st->events[st->n_events % STATUS_EVENTS];

    memset(e, 0, sizeof(*e));
    e->wall_s = wall;
    e->link = i;
    e->is_ratio = 1;
    e->ratio_from = from;
    e->ratio_to = to;
    st->n_events++;
}

void
status_ratio_changed(struct status *st, unsigned i, unsigned from, unsigned to)
{
    if (from != to)
        note_ratio(st, i, from, to, wall_now());
    st->last_ratio[i] = to;
}

void
status_sample_now(struct status *st, uint64_t now_ms)
{
    const struct bal_sched *sc = balancer_sched(st->bal);
    unsigned n = n_links_of(st), slot = (unsigned)(st->seconds % STATUS_HISTORY);
    double dt = st->last_sample_ms != 0 && now_ms > st->last_sample_ms
                    ? (double)(now_ms - st->last_sample_ms) / 1000.0
                    : 1.0;
    int64_t wall = wall_now();
    int changed = 0;

    for (unsigned i = 0; i < n; i++) {
        struct link *l = &st->links[i];
        uint64_t up = atomic_load_explicit(&l->bytes_up, memory_order_relaxed);
        uint64_t down = atomic_load_explicit(&l->bytes_down, memory_order_relaxed);
        uint64_t active = atomic_load_explicit(&l->n_active, memory_order_relaxed);
        int state = (int)link_state_of(l);
        unsigned ratio = i < sc->n_links ? sc->ratio[i] : 0;
        struct status_sample *s = &st->hist[i][slot];

        st->rate_up[i] = st->last_sample_ms != 0 ? (double)(up - st->last_up[i]) / dt : 0;
        st->rate_down[i] = st->last_sample_ms != 0 ? (double)(down - st->last_down[i]) / dt : 0;
        st->last_up[i] = up;
        st->last_down[i] = down;
        s->up = st->rate_up[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)st->rate_up[i];
        s->down = st->rate_down[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)st->rate_down[i];
        s->active = active > UINT32_MAX ? UINT32_MAX : (uint32_t)active;
        s->state = (uint8_t)state;
        s->ratio = ratio > UINT16_MAX ? UINT16_MAX : (uint16_t)ratio;
        if (st->seconds > 0 && ratio != st->last_ratio[i])
            note_ratio(st, i, st->last_ratio[i], ratio, wall);
        st->last_ratio[i] = ratio;
        if (state != st->last_state[i]) {
            note_event(st, i, st->last_state[i], state, wall);
            st->last_state[i] = state;
            changed = 1;
        }
    }
    /* Links added by a reload start with an empty history. */
    for (unsigned i = n; i < LINK_MAX; i++)
        memset(&st->hist[i][slot], 0, sizeof(st->hist[i][slot]));
    st->seconds++;
    st->last_sample_ms = now_ms;
    if (st->log_lines && (changed || now_ms - st->last_log_ms >= STATUS_LOG_MS)) {
        st->last_log_ms = now_ms;
        status_log_lines(st, LOG_DEBUG);
    }
}

static void
tick_cb(struct loop_timer *t)
{
    struct status *st = container_of(t, struct status, tick);

    status_sample_now(st, loop_now(st->loop));
    loop_timer_start(st->loop, &st->tick, STATUS_TICK_MS);
}

void
status_start(struct status *st, struct loop *loop, int log_lines)
{
    st->loop = loop;
    st->log_lines = log_lines;
    st->start_ms = loop_now(loop);
    st->start_wall = wall_now();
    st->last_log_ms = st->start_ms - STATUS_LOG_MS; /* the lines once at start */
    loop_timer_init(&st->tick, tick_cb);
    status_sample_now(st, st->start_ms);
    loop_timer_start(loop, &st->tick, STATUS_TICK_MS);
}

void
status_stop(struct status *st)
{
    if (st->loop == NULL)
        return;
    loop_timer_stop(st->loop, &st->tick);
    st->loop = NULL;
}

static const char *
link_kind_name(const struct link *l)
{
    switch (l->spec.kind) {
    case LINK_ADDR4:
    case LINK_ADDR6:
        return "address";
    case LINK_IFACE:
        return "interface";
    case LINK_PROXY:
        return l->spec.up.scheme == LINK_SCHEME_TUNNEL ? "tunnel" : "proxy";
    }
    return "?";
}

static double
share(uint64_t part, uint64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0;
}

void
status_snapshot(struct status *st, struct status_snapshot *snap)
{
    const struct bal_sched *sc = balancer_sched(st->bal);
    unsigned n = n_links_of(st), ratio_sum = 0;
    uint64_t now = st->loop != NULL ? loop_now(st->loop) : loop_clock_ms();
    int adaptive = atomic_load(&st->bal->policy) == POLICY_ADAPTIVE;
    uint64_t wsum = 0, bytes_all = 0;
    struct status_totals *t = &snap->totals;

    memset(snap, 0, sizeof(*snap));
    snap->wall_s = wall_now();
    snap->uptime_ms = now - st->start_ms;
    snap->policy = balancer_policy_name((enum balancer_policy)atomic_load(&st->bal->policy));
    snap->n_links = n;
    for (unsigned i = 0; i < n && i < sc->n_links; i++)
        ratio_sum += sc->ratio[i];
    for (unsigned i = 0; i < n; i++)
        wsum += atomic_load_explicit(&st->bal->weight[i], memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        struct link *l = &st->links[i];
        struct status_link *o = &snap->links[i];
        uint64_t since_ms;
        int reason;

        o->index = i;
        snprintf(o->label, sizeof(o->label), "%s", l->label);
        o->kind = link_kind_name(l);
        pthread_mutex_lock(&l->mu);
        since_ms = l->since_ms;
        reason = l->reason;
        pthread_mutex_unlock(&l->mu);
        o->state = (int)link_state_of(l);
        if (o->state != LINK_UP)
            snprintf(o->why, sizeof(o->why), "%s", link_why(l, reason));
        if (since_ms != 0 && now >= since_ms)
            o->since_s = snap->wall_s - (int64_t)((now - since_ms) / 1000);
        o->ratio = i < sc->n_links ? sc->ratio[i] : 0;
        o->ratio_config = l->spec.ratio;
        o->ratio_share = share(o->ratio, ratio_sum);
        o->fail_streak = atomic_load_explicit(&l->fail_streak, memory_order_relaxed);
        o->connections = atomic_load_explicit(&l->n_connections, memory_order_relaxed);
        o->failures = atomic_load_explicit(&l->n_failures, memory_order_relaxed);
        o->active = atomic_load_explicit(&l->n_active, memory_order_relaxed);
        o->connecting = atomic_load_explicit(&l->n_connecting, memory_order_relaxed);
        for (unsigned k = 0; k < ERRC_COUNT; k++)
            o->fail_by[k] = atomic_load_explicit(&l->fail_by[k], memory_order_relaxed);
        o->bytes_up = atomic_load_explicit(&l->bytes_up, memory_order_relaxed);
        o->bytes_down = atomic_load_explicit(&l->bytes_down, memory_order_relaxed);
        o->udp_active = atomic_load_explicit(&l->udp_active, memory_order_relaxed);
        o->udp_dgrams_up = atomic_load_explicit(&l->udp_dgrams_up, memory_order_relaxed);
        o->udp_dgrams_down = atomic_load_explicit(&l->udp_dgrams_down, memory_order_relaxed);
        o->udp_bytes_up = atomic_load_explicit(&l->udp_bytes_up, memory_order_relaxed);
        o->udp_bytes_down = atomic_load_explicit(&l->udp_bytes_down, memory_order_relaxed);
        o->rate_up = st->rate_up[i];
        o->rate_down = st->rate_down[i];
        o->connect_us = atomic_load_explicit(&l->connect_us, memory_order_relaxed);
        for (unsigned k = 0; k <= LINK_LAT_BUCKETS; k++)
            o->lat_count[k] = atomic_load_explicit(&l->lat_count[k], memory_order_relaxed);
        o->lat_sum_us = atomic_load_explicit(&l->lat_sum_us, memory_order_relaxed);
        o->weight = -1;
        if (adaptive && wsum > 0)
            o->weight = 100.0 *
                        (double)atomic_load_explicit(&st->bal->weight[i], memory_order_relaxed) /
                        (double)wsum;
        t->connections += o->connections;
        t->failures += o->failures;
        t->active += o->active;
        t->bytes_up += o->bytes_up;
        t->bytes_down += o->bytes_down;
        t->rate_up += o->rate_up;
        t->rate_down += o->rate_down;
    }
    bytes_all = t->bytes_up + t->bytes_down;
    for (unsigned i = 0; i < n; i++) {
        struct status_link *o = &snap->links[i];
        o->conn_share = share(o->connections, t->connections);
        o->byte_share = share(o->bytes_up + o->bytes_down, bytes_all);
    }
    t->accepted = atomic_load_explicit(&st->sh->n_accepted, memory_order_relaxed);
    t->refused_full = atomic_load_explicit(&st->sh->n_refused_full, memory_order_relaxed);
    t->clients = atomic_load_explicit(&st->sh->n_clients, memory_order_relaxed);
}

void
status_link_line(const struct status_link *l, char *out, size_t outlen)
{
    char name[OS_IFNAME_MAX * 4 + 1], since[16] = "start", extra[128] = "";
    size_t m = 0;
    int n;

    if (l->since_s != 0) {
        time_t t = (time_t)l->since_s;
        struct tm tm;

        localtime_r(&t, &tm);
        strftime(since, sizeof(since), "%H:%M:%S", &tm);
    }
    if (l->connect_us != 0)
        m += (size_t)snprintf(extra, sizeof(extra), ", connect %.1f ms", l->connect_us / 1000.0);
    if ((l->rate_up > 0 || l->rate_down > 0) && m < sizeof(extra))
        m += (size_t)snprintf(extra + m, sizeof(extra) - m, ", in %.2f Mbit/s, out %.2f Mbit/s",
                              l->rate_down * 8 / 1e6, l->rate_up * 8 / 1e6);
    if (l->weight >= 0 && m < sizeof(extra))
        snprintf(extra + m, sizeof(extra) - m, ", weight %.0f%%", l->weight);
    n = snprintf(
        out, outlen, "%s %s since %s%s", log_escape(name, sizeof(name), l->label, strlen(l->label)),
        link_state_name((enum link_state)l->state), since, l->ratio == 0 ? " (drained)" : "");
    if (n < 0 || (size_t)n >= outlen)
        return;
    if (l->state != LINK_UP)
        n += snprintf(out + n, outlen - (size_t)n, " (%s, %u failures in a row)", l->why,
                      l->fail_streak);
    if (n < 0 || (size_t)n >= outlen)
        return;
    snprintf(out + n, outlen - (size_t)n,
             ": %llu active, %llu connecting, %llu connections, %llu failed%s",
             (unsigned long long)l->active, (unsigned long long)l->connecting,
             (unsigned long long)l->connections, (unsigned long long)l->failures, extra);
}

void
status_log_lines(struct status *st, int level)
{
    struct status_snapshot *snap;

    if ((int)log_threshold < level)
        return;
    snap = malloc(sizeof(*snap));
    if (snap == NULL)
        return;
    status_snapshot(st, snap);
    for (unsigned i = 0; i < snap->n_links; i++) {
        char line[600];

        status_link_line(&snap->links[i], line, sizeof(line));
        log_msg((enum log_level)level, "link status: %s", line);
    }
    free(snap);
}

size_t
status_history(const struct status *st, unsigned i, struct status_sample *out)
{
    uint64_t have = st->seconds < STATUS_HISTORY ? st->seconds : STATUS_HISTORY;

    for (uint64_t k = 0; k < have; k++)
        out[k] = st->hist[i][(st->seconds - have + k) % STATUS_HISTORY];
    return (size_t)have;
}

/* ---- live sessions ---- */

static const char *
proto_name(uint8_t p)
{
    static const char *const names[] = {
        [SP_UNKNOWN] = "?", [SP_SOCKS5] = "socks5", [SP_SOCKS4] = "socks4",
        [SP_HTTP] = "http", [SP_TUNNEL] = "tunnel",
    };
    return p < ARRAY_SIZE(names) ? names[p] : "?";
}

static void
target_text(const struct target *t, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN] = "", name[300];

    switch (t->type) {
    case TARGET_IPV4:
        inet_ntop(AF_INET, t->addr, a, sizeof(a));
        snprintf(out, outlen, "%s:%u", a, t->port);
        break;
    case TARGET_IPV6:
        inet_ntop(AF_INET6, t->addr, a, sizeof(a));
        snprintf(out, outlen, "[%s]:%u", a, t->port);
        break;
    case TARGET_DOMAIN:
        snprintf(out, outlen, "%s:%u", log_escape(name, sizeof(name), t->host, strlen(t->host)),
                 t->port);
        break;
    default:
        out[0] = '\0';
    }
}

static void
collect_done_cb(struct loop_work *w)
{
    struct status_collect *c = container_of(w, struct status_collect, done_work);

    if (c->cb == NULL) {
        status_collect_free(c);
        return;
    }
    c->cb(c, c->arg);
}

/* On the part's own loop: copy its sessions. */
static void
collect_part_cb(struct loop_work *w)
{
    struct status_collect_part *p = container_of(w, struct status_collect_part, work);
    struct status_collect *c = p->c;
    uint64_t now = loop_now(p->srv->loop);
    struct session *s;

    LIST_FOREACH(s, &p->srv->sessions, entry)
    {
        struct status_session *o;

        p->total++;
        if (p->n == p->cap || s->state == S_CLOSED)
            continue;
        o = &p->v[p->n++];
        o->id = s->id;
        log_sockaddr(o->client, sizeof(o->client), (const struct sockaddr *)&s->peer);
        o->proto = proto_name(s->proto);
        o->state = session_state_name(s->state);
        target_text(&s->target, o->target, sizeof(o->target));
        o->link = s->link != NULL ? (int)s->link->index : -1;
        o->bytes_up = s->relay.up.bytes;
        o->bytes_down = s->relay.down.bytes;
        o->age_ms = now >= s->start_ms ? now - s->start_ms : 0;
    }
    if (atomic_fetch_sub(&c->pending, 1) == 1) {
        if (c->home != NULL)
            loop_post(c->home, &c->done_work);
        else
            status_collect_free(c); /* orphaned at shutdown: no one waits */
    }
}

struct status_collect *
status_collect_sessions(struct status *st, status_collect_cb cb, void *arg)
{
    size_t n = st->n_servers, cap;
    struct status_collect *c = calloc(1, sizeof(*c) + n * sizeof(c->parts[0]));

    if (c == NULL)
        return NULL;
    c->home = st->loop;
    c->cb = cb;
    c->arg = arg;
    c->n_parts = (unsigned)n;
    c->done_work.cb = collect_done_cb;
    atomic_init(&c->pending, (unsigned)n);
    /* Room for the sessions open now (and a few more), STATUS_SESSIONS_PER_LOOP at most. */
    cap = atomic_load_explicit(&st->sh->n_clients, memory_order_relaxed) + 16;
    if (cap > STATUS_SESSIONS_PER_LOOP)
        cap = STATUS_SESSIONS_PER_LOOP;
    for (size_t i = 0; i < n; i++) {
        c->parts[i].cap = cap;
        c->parts[i].v = calloc(cap, sizeof(struct status_session));
        if (c->parts[i].v == NULL) {
            status_collect_free(c);
            return NULL;
        }
        c->parts[i].c = c;
        c->parts[i].srv = &st->servers[i];
        c->parts[i].work.cb = collect_part_cb;
    }
    for (size_t i = 0; i < n; i++)
        loop_post(st->servers[i].loop, &c->parts[i].work);
    return c;
}

void
status_collect_cancel(struct status_collect *c)
{
    c->cb = NULL;
}

void
status_collect_orphan(struct status_collect *c)
{
    c->cb = NULL;
    c->home = NULL;
}

void
status_collect_free(struct status_collect *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n_parts; i++)
        free(c->parts[i].v);
    free(c);
}
