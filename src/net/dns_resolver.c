#include "dns_resolver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dialer.h"
#include "errmap.h"
#include "hosts.h"
#include "log.h"

/* ---- pure helpers: the -dns value and the search list ---- */

static int
parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* One server address: IP, IPv4:PORT or [IPv6]:PORT. 0 or -1. */
static int
parse_server(const char *s, struct sockaddr_storage *ss)
{
    char host[64];
    const char *port = NULL, *end;
    uint16_t p = DNS_PORT;
    struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;
    size_t len;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return -1;
        len = (size_t)(end - s - 1);
        if (end[1] == ':')
            port = end + 2;
        s++;
    } else {
        end = strchr(s, ':');
        len = strlen(s);
        if (end != NULL && strchr(end + 1, ':') == NULL) { /* IPv4:PORT */
            len = (size_t)(end - s);
            port = end + 1;
        }
    }
    if (len == 0 || len >= sizeof(host))
        return -1;
    memcpy(host, s, len);
    host[len] = '\0';
    if (port != NULL && parse_port(port, &p) == -1)
        return -1;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(p);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(p);
        return 0;
    }
    return -1;
}

int
dns_parse_servers(const char *text, struct dns_server_spec *out, unsigned max, char *err,
                  size_t errlen)
{
    unsigned n = 0;
    const char *p = text;

    if (strcmp(text, "system") == 0 || strcmp(text, "auto") == 0)
        return 0;
    for (;;) {
        const char *comma = strchr(p, ','), *eq;
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[OS_IFNAME_MAX + 80];
        struct dns_server_spec *sp = &out[n];

        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errlen, "-dns: %s server in \"%.80s\"", len ? "too long a" : "empty",
                     text);
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "-dns: more than %u servers", max);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        memset(sp, 0, sizeof(*sp));
        eq = strchr(item, '=');
        if (eq != NULL) {
            size_t ll = (size_t)(eq - item);

            if (ll == 0 || ll >= sizeof(sp->link)) {
                snprintf(err, errlen, "-dns: bad link name in \"%.80s\"", item);
                return -1;
            }
            memcpy(sp->link, item, ll);
            sp->link[ll] = '\0';
        }
        if (parse_server(eq != NULL ? eq + 1 : item, &sp->addr) == -1) {
            snprintf(err, errlen,
                     "-dns: \"%.80s\" is not a server address (IP, IPv4:PORT, [IPv6]:PORT, "
                     "optionally LINK=... first, or \"system\")",
                     item);
            return -1;
        }
        n++;
        if (comma == NULL)
            return (int)n;
        p = comma + 1;
    }
}

static size_t
count_dots(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '.';
    return n;
}

/* name + "." + domain as a wire name into out; 0 when too long. */
static size_t
join(const char *name, const char *domain, uint8_t *out)
{
    char buf[2 * DNS_NAME_WIRE_MAX + 2];

    if (snprintf(buf, sizeof(buf), "%s.%s", name, domain) >= (int)sizeof(buf))
        return 0;
    return dns_name_to_wire(buf, out);
}

unsigned
dns_candidates(const char *name, const char (*search)[DNS_NAME_WIRE_MAX], unsigned n_search,
               unsigned ndots, uint8_t (*out)[DNS_NAME_WIRE_MAX])
{
    size_t len = strlen(name);
    unsigned n = 0;
    int first;

    if (dns_name_to_wire(name, out[0]) == 0)
        return 0;
    if (len > 0 && name[len - 1] == '.')
        return 1; /* absolute: no search */
    if (n_search > DNS_SEARCH_MAX)
        n_search = DNS_SEARCH_MAX;
    first = count_dots(name) >= ndots;
    if (first)
        n = 1; /* out[0] holds the name itself */
    else
        memcpy(out[DNS_CANDIDATES_MAX - 1], out[0], DNS_NAME_WIRE_MAX);
    for (unsigned i = 0; i < n_search; i++)
        if (join(name, search[i], out[n]) > 0)
            n++;
    if (!first)
        memcpy(out[n++], out[DNS_CANDIDATES_MAX - 1], DNS_NAME_WIRE_MAX);
    return n;
}

/* ---- settings ---- */

static struct dns_cache *cache_new(void);
static void cache_free(struct dns_cache *c);

static int
is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ((const uint8_t *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr)[0] ==
               127;
    if (ss->ss_family == AF_INET6) {
        static const uint8_t lo[16] = {[15] = 1};

        return memcmp(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, lo, 16) == 0;
    }
    return 0;
}

int
dns_settings_init(struct dns_settings *s, const struct dns_server_spec *items, unsigned n,
                  const struct link *links, unsigned n_links, char *err, size_t errlen)
{
    char buf[512];
    int k;

    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < n; i++) {
        const struct dns_server_spec *it = &items[i];
        unsigned l;

        if (it->link[0] == '\0') {
            if (s->n_global == DNS_SERVERS_MAX)
                goto too_many;
            s->global[s->n_global++] = it->addr;
            continue;
        }
        for (l = 0; l < n_links; l++)
            if (strcmp(links[l].label, it->link) == 0)
                break;
        if (l == n_links) {
            snprintf(err, errlen, "-dns: no link named \"%s\"", it->link);
            return -1;
        }
        if (s->n_per_link[l] == DNS_SERVERS_MAX)
            goto too_many;
        s->per_link[l][s->n_per_link[l]++] = it->addr;
    }
    k = os_dns_servers(s->system, DNS_SERVERS_MAX);
    s->n_system = k > 0 ? (unsigned)k : 0;
    k = os_dns_search(s->search, DNS_SEARCH_MAX, &s->ndots);
    s->n_search = k > 0 ? (unsigned)k : 0;
    s->hosts = hosts_load(os_hosts_path());
    s->cache = cache_new();
    if (s->hosts == NULL || s->cache == NULL) {
        dns_settings_free(s);
        snprintf(err, errlen, "-dns: out of memory");
        return -1;
    }
    s->try_ms = DNS_TRY_MS;
    s->race_ms = DNS_RACE_MS;
    s->max_lookups = DNS_MAX_LOOKUPS;

    log_sockaddr_list(buf, sizeof(buf), s->global, s->n_global);
    log_info("DNS: per-link resolver; servers %s%s; %zu names from %s", buf,
             s->n_global ? "" : " (links without their own use the system's)",
             hosts_count(s->hosts), os_hosts_path());
    for (unsigned l = 0; l < n_links; l++)
        if (s->n_per_link[l] > 0) {
            log_sockaddr_list(buf, sizeof(buf), s->per_link[l], s->n_per_link[l]);
            log_info("DNS: link %s asks %s", links[l].label, buf);
        }
    if (s->n_global == 0) {
        int stub = 0;

        log_sockaddr_list(buf, sizeof(buf), s->system, s->n_system);
        for (unsigned i = 0; i < s->n_system; i++)
            stub |= is_loopback(&s->system[i]);
        log_info("DNS: the system's servers: %s", buf);
        if (stub)
            log_info("DNS: the system's resolver is a local stub (%s): lookups through it "
                     "cannot be pinned to a link, the stub chooses the way out. Give -dns "
                     "ADDR (or LINK=ADDR) to ask servers through the links",
                     buf);
    }
    return 0;
too_many:
    snprintf(err, errlen, "-dns: more than %d servers for one link", DNS_SERVERS_MAX);
    return -1;
}

void
dns_settings_free(struct dns_settings *s)
{
    hosts_free(s->hosts);
    s->hosts = NULL;
    cache_free(s->cache);
    s->cache = NULL;
}

/* ---- the engine ---- */

enum q_state { Q_IDLE, Q_UDP, Q_TCP_CONNECT, Q_TCP_READ, Q_DONE };
enum q_outcome { QO_NONE, QO_POS, QO_NXDOMAIN, QO_NODATA, QO_FAIL };

#define TCP_ANSWER_MAX (2 + DNS_MSG_MAX)

struct dns_path;

/* One question (A or AAAA) of one candidate name through one link. */
struct dns_q {
    struct dns_path *path;
    struct loop_io io;
    struct loop_timer timer;
    uint16_t qtype, id;
    unsigned server, tries;
    enum q_state st;
    enum q_outcome outcome;
    uint32_t ttl;
    unsigned n_addrs;
    struct dns_addr addrs[DNS_MAX_ADDRS];
    size_t qlen;
    uint8_t query[2 + DNS_QUERY_MAX]; /* [0..1]: the length, for TCP */
    uint8_t *tcp;                     /* the TCP answer being read */
    size_t tcp_len;
};

/* The lookup through one link. */
struct dns_path {
    struct dns_lookup *lk;
    int link; /* -1: idle */
    unsigned cand;
    struct sockaddr_storage servers[DNS_SERVERS_MAX];
    unsigned n_servers;
    struct dns_q q[2]; /* A, AAAA */
};

struct dns_lookup {
    struct dns_resolver *r;
    struct dns_lookup *prev, *next;
    dns_lookup_cb cb;
    void *arg;
    int family, link;
    char name[DNS_NAME_WIRE_MAX + 1];
    uint8_t cand[DNS_CANDIDATES_MAX][DNS_NAME_WIRE_MAX];
    unsigned n_cand;
    struct dns_path path[2];
    uint32_t tried; /* links asked (bit per index) */
    struct loop_timer race_timer;
    struct loop_timer deliver_timer;
    int done, err, answer_link;
    unsigned n_out;
    struct sockaddr_storage out[DNS_MAX_ADDRS * 2];
};

struct cache_entry {
    uint64_t expires_ms; /* 0: free */
    int32_t next;        /* bucket chain, -1 ends */
    uint32_t hash;
    int family, link, err;
    unsigned n;
    struct dns_addr addrs[DNS_MAX_ADDRS * 2];
    char name[DNS_NAME_WIRE_MAX + 1];
};

struct dns_cache {
    pthread_mutex_t mu;
    struct cache_entry *v;
    int32_t *buckets;
    unsigned cursor; /* the next entry to reuse (oldest first) */
};

struct dns_resolver {
    struct loop *loop;
    struct link *links;
    _Atomic unsigned *n_links;
    const struct dns_settings *s;
    struct dns_lookup *lookups; /* in flight */
    unsigned n_lookups;
    struct dns_stats st;
};

/* -- the cache: DNS_CACHE_ENTRIES entries for every loop, reused oldest first -- */

static struct dns_cache *
cache_new(void)
{
    struct dns_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->v = calloc(DNS_CACHE_ENTRIES, sizeof(c->v[0]));
    c->buckets = malloc(DNS_CACHE_ENTRIES * sizeof(c->buckets[0]));
    if (c->v == NULL || c->buckets == NULL) {
        free(c->v);
        free(c->buckets);
        free(c);
        return NULL;
    }
    for (unsigned i = 0; i < DNS_CACHE_ENTRIES; i++)
        c->buckets[i] = -1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void
cache_free(struct dns_cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->v);
    free(c->buckets);
    free(c);
}

static uint32_t
hash_key(const char *name, int family, int link)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *name != '\0'; name++)
        h = (h ^ (uint8_t)*name) * 16777619u;
    h = (h ^ (uint32_t)family) * 16777619u;
    return (h ^ (uint32_t)link) * 16777619u;
}

/* Under c->mu. */
static struct cache_entry *
cache_find(struct dns_cache *c, const char *name, int family, int link, uint32_t h)
{
    for (int32_t i = c->buckets[h % DNS_CACHE_ENTRIES]; i >= 0; i = c->v[i].next) {
        struct cache_entry *e = &c->v[i];

        if (e->hash == h && e->family == family && e->link == link && strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

/* Under c->mu. */
static void
cache_unlink(struct dns_cache *c, struct cache_entry *e)
{
    int32_t *pp = &c->buckets[e->hash % DNS_CACHE_ENTRIES];
    int32_t idx = (int32_t)(e - c->v);

    while (*pp >= 0 && *pp != idx)
        pp = &c->v[*pp].next;
    if (*pp == idx)
        *pp = e->next;
    e->expires_ms = 0;
}

static void
cache_put(struct dns_resolver *r, const struct dns_lookup *lk, int err, uint32_t ttl_s,
          const struct dns_addr *addrs, unsigned n)
{
    struct dns_cache *c = r->s->cache;
    uint32_t h = hash_key(lk->name, lk->family, lk->link);
    struct cache_entry *e;

    pthread_mutex_lock(&c->mu);
    e = cache_find(c, lk->name, lk->family, lk->link, h);
    if (e != NULL) {
        cache_unlink(c, e);
    } else {
        e = &c->v[c->cursor];
        c->cursor = (c->cursor + 1) % DNS_CACHE_ENTRIES;
        if (e->expires_ms != 0)
            cache_unlink(c, e);
    }
    if (n > ARRAY_SIZE(e->addrs))
        n = ARRAY_SIZE(e->addrs);
    e->expires_ms = loop_now(r->loop) + (uint64_t)ttl_s * 1000u;
    e->hash = h;
    e->family = lk->family;
    e->link = lk->link;
    e->err = err;
    e->n = n;
    if (n > 0)
        memcpy(e->addrs, addrs, n * sizeof(addrs[0]));
    snprintf(e->name, sizeof(e->name), "%s", lk->name);
    e->next = c->buckets[h % DNS_CACHE_ENTRIES];
    c->buckets[h % DNS_CACHE_ENTRIES] = (int32_t)(e - c->v);
    pthread_mutex_unlock(&c->mu);
}

/* Copies a live entry for lk's key into out/n/err/link. 1 when found. */
static int
cache_get(struct dns_resolver *r, const struct dns_lookup *lk, struct dns_addr *out, unsigned *n,
          int *err, int *link)
{
    struct dns_cache *c = r->s->cache;
    uint32_t h = hash_key(lk->name, lk->family, lk->link);
    struct cache_entry *e;
    int found = 0;

    pthread_mutex_lock(&c->mu);
    e = cache_find(c, lk->name, lk->family, lk->link, h);
    if (e != NULL && e->expires_ms <= loop_now(r->loop)) {
        cache_unlink(c, e);
        e = NULL;
    }
    if (e != NULL) {
        memcpy(out, e->addrs, e->n * sizeof(out[0]));
        *n = e->n;
        *err = e->err;
        *link = e->link;
        found = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

static uint32_t
clamp_ttl(uint32_t ttl, int negative)
{
    if (ttl == DNS_TTL_UNKNOWN)
        return negative ? DNS_NEG_TTL_S : DNS_MIN_TTL_S;
    if (ttl < DNS_MIN_TTL_S)
        return DNS_MIN_TTL_S;
    if (ttl > (negative ? DNS_NEG_MAX_TTL_S : DNS_MAX_TTL_S))
        return negative ? DNS_NEG_MAX_TTL_S : DNS_MAX_TTL_S;
    return ttl;
}

/* -- delivery -- */

static void
to_sockaddr(const struct dns_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, a->addr, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, a->addr, 16);
    }
}

static void
lookup_free(struct dns_lookup *lk)
{
    struct dns_resolver *r = lk->r;

    if (lk->prev != NULL)
        lk->prev->next = lk->next;
    else
        r->lookups = lk->next;
    if (lk->next != NULL)
        lk->next->prev = lk->prev;
    r->n_lookups--;
    free(lk);
}

static void
deliver_cb(struct loop_timer *t)
{
    struct dns_lookup *lk = container_of(t, struct dns_lookup, deliver_timer);

    lk->cb(lk->arg, lk->err, lk->out, lk->n_out, lk->answer_link);
    lookup_free(lk);
}

static void path_stop(struct dns_path *p);

/* The lookup has its answer: everything stops, the callback runs from the loop. */
static void
lookup_finish(struct dns_lookup *lk, int err, const struct dns_addr *addrs, unsigned n, int link)
{
    lk->done = 1;
    lk->err = err;
    lk->answer_link = link;
    lk->n_out = 0;
    for (unsigned i = 0; i < n && lk->n_out < ARRAY_SIZE(lk->out); i++)
        to_sockaddr(&addrs[i], &lk->out[lk->n_out++]);
    loop_timer_stop(lk->r->loop, &lk->race_timer);
    path_stop(&lk->path[0]);
    path_stop(&lk->path[1]);
    loop_timer_start(lk->r->loop, &lk->deliver_timer, 0);
}

/* -- one question -- */

static void q_send(struct dns_q *q);
static void path_check(struct dns_path *p);

static void
q_close(struct dns_q *q)
{
    struct loop *loop = q->path->lk->r->loop;

    loop_timer_stop(loop, &q->timer);
    if (q->io.fd != OS_SOCK_INVALID)
        loop_io_close(&q->io);
    free(q->tcp);
    q->tcp = NULL;
    q->tcp_len = 0;
}

static void
q_done(struct dns_q *q, enum q_outcome o)
{
    q_close(q);
    q->st = Q_DONE;
    q->outcome = o;
    path_check(q->path);
}

static unsigned
q_max_tries(const struct dns_q *q)
{
    return q->path->n_servers < 1 ? 2 : 2 * q->path->n_servers;
}

/* This server failed or did not answer: the next one (round robin), until the tries
 * run out. */
static void
q_next_server(struct dns_q *q)
{
    q_close(q);
    if (++q->tries >= q_max_tries(q)) {
        q_done(q, QO_FAIL);
        return;
    }
    q->server = (q->server + 1) % q->path->n_servers;
    q_send(q);
}

static void
q_timer_cb(struct loop_timer *t)
{
    q_next_server(container_of(t, struct dns_q, timer));
}

/* An answer arrived (UDP or TCP): what it means for this question. */
static void
q_answer(struct dns_q *q, const uint8_t *msg, size_t len, int over_tcp)
{
    struct dns_path *p = q->path;
    struct dns_answer a;
    int rc = dns_parse_answer(msg, len, q->id, p->lk->cand[p->cand], q->qtype, &a);

    if (rc == -DNS_E_ID || rc == -DNS_E_QUESTION) {
        if (over_tcp)
            q_next_server(q);
        return; /* UDP: not ours (late, or spoofed): keep waiting */
    }
    if (rc < 0) {
        log_debug("DNS answer for %s via %s unusable: %s", p->lk->name,
                  p->lk->r->links[p->link].label, dns_error_text(rc));
        q_next_server(q);
        return;
    }
    if (a.truncated) {
        if (over_tcp) {
            q_next_server(q);
            return;
        }
        q_close(q);
        q->st = Q_TCP_CONNECT;
        q_send(q);
        return;
    }
    if (a.rcode == DNS_RCODE_NXDOMAIN) {
        q->ttl = a.ttl;
        q_done(q, QO_NXDOMAIN);
    } else if (a.rcode != DNS_RCODE_NOERROR) {
        q_next_server(q); /* SERVFAIL, REFUSED...: another server may know */
    } else if (a.n_addrs == 0) {
        q->ttl = a.ttl;
        q_done(q, QO_NODATA);
    } else {
        q->ttl = a.ttl;
        q->n_addrs = a.n_addrs;
        memcpy(q->addrs, a.addrs, a.n_addrs * sizeof(a.addrs[0]));
        q_done(q, QO_POS);
    }
}

static void
q_udp_cb(struct loop_io *io, unsigned events)
{
    struct dns_q *q = container_of(io, struct dns_q, io);
    uint8_t buf[4096];

    DP_UNUSED(events);
    while (q->st == Q_UDP) {
        ssize_t n = os_recv(io->fd, buf, sizeof(buf));

        if (n == -1 && os_would_block(os_errno()))
            return;
        if (n == -1) {
            q_next_server(q); /* ICMP unreachable, typically */
            return;
        }
        q_answer(q, buf, (size_t)n, 0);
    }
}

static void
q_tcp_cb(struct loop_io *io, unsigned events)
{
    struct dns_q *q = container_of(io, struct dns_q, io);
    struct loop *loop = q->path->lk->r->loop;

    DP_UNUSED(events);
    if (q->st == Q_TCP_CONNECT) {
        int err = os_sock_error(io->fd);

        if (err != 0 || os_send(io->fd, q->query, q->qlen + 2) != (ssize_t)(q->qlen + 2)) {
            q_next_server(q);
            return;
        }
        q->st = Q_TCP_READ;
        if (loop_io_set(loop, io, LOOP_READ) == -1)
            q_next_server(q);
        return;
    }
    for (;;) {
        size_t want = q->tcp_len < 2 ? 2 : 2 + (((size_t)q->tcp[0] << 8) | q->tcp[1]);
        ssize_t n;

        if (q->tcp_len == want && want > 2) {
            q_answer(q, q->tcp + 2, want - 2, 1);
            return;
        }
        n = os_recv(io->fd, q->tcp + q->tcp_len, want - q->tcp_len);
        if (n == -1 && os_would_block(os_errno()))
            return;
        if (n <= 0) {
            q_next_server(q);
            return;
        }
        q->tcp_len += (size_t)n;
    }
}

/* A socket to server leaving by the path's link (a loopback server: unpinned). */
static os_sock
q_socket(struct dns_q *q, const struct sockaddr_storage *server, int type, int *err)
{
    struct dns_path *p = q->path;
    struct dns_resolver *r = p->lk->r;
    os_sock fd;

    if (!is_loopback(server))
        return dialer_socket(&r->links[p->link], server->ss_family, type, err);
    fd = os_socket(server->ss_family, type, 0);
    *err = fd == OS_SOCK_INVALID ? os_errno() : 0;
    return fd;
}

/* Asks the current server (UDP, or TCP when st says so) with a fresh ID. */
static void
q_send(struct dns_q *q)
{
    struct dns_path *p = q->path;
    struct dns_resolver *r = p->lk->r;
    const struct sockaddr_storage *server = &p->servers[q->server];
    socklen_t slen =
        server->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int tcp = q->st == Q_TCP_CONNECT, err = 0;
    os_sock fd;

    if (os_random(&q->id, sizeof(q->id)) == -1)
        q->id = (uint16_t)(loop_clock_ms() * 2654435761u >> 16);
    q->qlen = dns_build_query(q->query + 2, sizeof(q->query) - 2, q->id, p->lk->cand[p->cand],
                              q->qtype, 1);
    q->query[0] = (uint8_t)(q->qlen >> 8);
    q->query[1] = (uint8_t)q->qlen;
    fd = q_socket(q, server, tcp ? SOCK_STREAM : SOCK_DGRAM, &err);
    if (fd == OS_SOCK_INVALID) {
        log_debug("DNS socket via %s failed: %s", r->links[p->link].label, errmap_text(err));
        goto next;
    }
    loop_io_init(&q->io, fd, tcp ? q_tcp_cb : q_udp_cb);
    if (tcp) {
        q->tcp = malloc(TCP_ANSWER_MAX);
        if (q->tcp == NULL)
            goto next;
        q->tcp_len = 0;
        if (os_connect(fd, (const struct sockaddr *)server, slen) == -1 &&
            os_errno() != EINPROGRESS)
            goto next;
        if (loop_io_set(r->loop, &q->io, LOOP_WRITE) == -1)
            goto next;
        r->st.queries_tcp++;
        loop_timer_start(r->loop, &q->timer, 2 * (uint64_t)r->s->try_ms);
        return;
    }
    q->st = Q_UDP;
    /* Connected: the kernel drops datagrams from anyone but the server. */
    if (os_connect(fd, (const struct sockaddr *)server, slen) == -1 ||
        os_send(fd, q->query + 2, q->qlen) != (ssize_t)q->qlen ||
        loop_io_set(r->loop, &q->io, LOOP_READ) == -1)
        goto next;
    r->st.queries_udp++;
    loop_timer_start(r->loop, &q->timer, r->s->try_ms);
    return;
next:
    /* Counts as a try; the timer (not recursion) moves on, so a link without any usable
     * server cannot spin here. */
    if (q->io.fd != OS_SOCK_INVALID)
        loop_io_close(&q->io);
    q->io.fd = OS_SOCK_INVALID;
    free(q->tcp);
    q->tcp = NULL;
    loop_timer_start(r->loop, &q->timer, 0);
}

static void
q_start(struct dns_q *q)
{
    q->server = 0;
    q->tries = 0;
    q->outcome = QO_NONE;
    q->n_addrs = 0;
    q->ttl = DNS_TTL_UNKNOWN;
    q->st = Q_UDP;
    q_send(q);
}

/* -- one path: the lookup through one link -- */

static int
path_wants(const struct dns_path *p, int i)
{
    int family = p->lk->family;

    return i == 0 ? family != AF_INET6 : family != AF_INET;
}

static void
path_stop(struct dns_path *p)
{
    if (p->link < 0)
        return;
    for (int i = 0; i < 2; i++) {
        q_close(&p->q[i]);
        p->q[i].st = Q_IDLE;
    }
    p->link = -1;
}

static void
path_ask(struct dns_path *p)
{
    for (int i = 0; i < 2; i++) {
        p->q[i].st = Q_IDLE;
        p->q[i].outcome = QO_NONE;
    }
    for (int i = 0; i < 2; i++)
        if (path_wants(p, i))
            q_start(&p->q[i]);
}

static unsigned
servers_for(struct dns_resolver *r, int link, struct sockaddr_storage *out)
{
    const struct dns_settings *s = r->s;
    unsigned n;

    if (s->n_per_link[link] > 0) {
        memcpy(out, s->per_link[link], s->n_per_link[link] * sizeof(out[0]));
        return s->n_per_link[link];
    }
    if (s->n_global > 0) {
        memcpy(out, s->global, s->n_global * sizeof(out[0]));
        return s->n_global;
    }
    if ((n = link_sys_dns(&r->links[link], out, DNS_SERVERS_MAX)) > 0)
        return n;
    memcpy(out, s->system, s->n_system * sizeof(out[0]));
    return s->n_system;
}

/* Starts the lookup through link in path slot p. 0, or -1 when the link has no server. */
static int
path_start(struct dns_lookup *lk, struct dns_path *p, int link)
{
    lk->tried |= UINT32_C(1) << link;
    p->n_servers = servers_for(lk->r, link, p->servers);
    if (p->n_servers == 0)
        return -1;
    p->link = link;
    p->cand = 0;
    path_ask(p);
    return 0;
}

static int
link_usable(struct dns_resolver *r, unsigned k)
{
    const struct link *l = &r->links[k];

    return l->spec.kind != LINK_PROXY && atomic_load(&l->absent) == 0 &&
           atomic_load(&l->state) != LINK_DOWN;
}

/* Asks through another link in an idle slot. 0 when one started, -1 when none is left. */
static int
race_next(struct dns_lookup *lk)
{
    struct dns_resolver *r = lk->r;
    unsigned n = atomic_load(r->n_links);
    struct dns_path *p = lk->path[0].link < 0 ? &lk->path[0] : &lk->path[1];

    if (p->link >= 0)
        return -1; /* both slots busy */
    for (unsigned i = 1; i <= n; i++) {
        unsigned k = ((unsigned)(lk->link < 0 ? 0 : lk->link) + i) % n;

        if (lk->tried & (UINT32_C(1) << k) || !link_usable(r, k))
            continue;
        if (path_start(lk, p, (int)k) == 0) {
            r->st.races++;
            log_debug("DNS %s: asking through %s too", lk->name, r->links[k].label);
            return 0;
        }
    }
    return -1;
}

static void
race_timer_cb(struct loop_timer *t)
{
    struct dns_lookup *lk = container_of(t, struct dns_lookup, race_timer);

    if (!lk->done)
        race_next(lk);
}

static void
path_positive(struct dns_path *p)
{
    struct dns_lookup *lk = p->lk;
    struct dns_addr all[DNS_MAX_ADDRS * 2];
    unsigned n = 0;
    uint32_t ttl = DNS_TTL_UNKNOWN;

    for (int i = 0; i < 2; i++)
        if (p->q[i].st == Q_DONE && p->q[i].outcome == QO_POS) {
            memcpy(all + n, p->q[i].addrs, p->q[i].n_addrs * sizeof(all[0]));
            n += p->q[i].n_addrs;
            ttl = p->q[i].ttl < ttl ? p->q[i].ttl : ttl;
        }
    cache_put(lk->r, lk, 0, clamp_ttl(ttl, 0), all, n);
    log_debug("DNS %s via %s: %u addresses (TTL %u)", lk->name, lk->r->links[p->link].label, n,
              (unsigned)ttl);
    lookup_finish(lk, 0, all, n, p->link);
}

static void
path_negative(struct dns_path *p)
{
    struct dns_lookup *lk = p->lk;
    uint32_t ttl = DNS_TTL_UNKNOWN;

    for (int i = 0; i < 2; i++)
        if (p->q[i].st == Q_DONE && p->q[i].ttl < ttl)
            ttl = p->q[i].ttl;
    cache_put(lk->r, lk, DP_ERR_RESOLVE, clamp_ttl(ttl, 1), NULL, 0);
    log_debug("DNS %s via %s: no such name or no address", lk->name, lk->r->links[p->link].label);
    lookup_finish(lk, DP_ERR_RESOLVE, NULL, 0, p->link);
}

/* A question of p ended: decide when the path knows enough. */
static void
path_check(struct dns_path *p)
{
    struct dns_lookup *lk = p->lk;
    int pending = 0, pos = 0, nx = 0, fail = 0;

    for (int i = 0; i < 2; i++) {
        const struct dns_q *q = &p->q[i];

        if (!path_wants(p, i))
            continue;
        if (q->st != Q_DONE)
            pending = 1;
        else if (q->outcome == QO_POS)
            pos = 1;
        else if (q->outcome == QO_NXDOMAIN)
            nx = 1;
        else if (q->outcome == QO_FAIL)
            fail = 1;
    }
    if (pending && !nx)
        return;
    if (pos) {
        path_positive(p);
        return;
    }
    if (!fail || nx) {
        /* This candidate has no address: the next one in the search list. */
        for (int i = 0; i < 2; i++)
            q_close(&p->q[i]);
        if (++p->cand < lk->n_cand) {
            path_ask(p);
            return;
        }
        path_negative(p);
        return;
    }
    /* The link's servers failed. */
    log_debug("DNS %s via %s: no server answered", lk->name, lk->r->links[p->link].label);
    path_stop(p);
    if (lk->path[0].link >= 0 || lk->path[1].link >= 0)
        return; /* the other link may still answer */
    if (race_next(lk) == -1)
        lookup_finish(lk, DP_ERR_DNS_FAILED, NULL, 0, -1);
}

/* -- the API -- */

struct dns_resolver *
dns_resolver_new(struct loop *loop, struct link *links, _Atomic unsigned *n_links,
                 const struct dns_settings *s)
{
    struct dns_resolver *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->links = links;
    r->n_links = n_links;
    r->s = s;
    return r;
}

void
dns_resolver_free(struct dns_resolver *r)
{
    if (r == NULL)
        return;
    while (r->lookups != NULL) {
        struct dns_lookup *lk = r->lookups;

        loop_timer_stop(r->loop, &lk->deliver_timer);
        dns_lookup_cancel(lk);
    }
    free(r);
}

static void
init_q(struct dns_path *p, struct dns_q *q, uint16_t qtype)
{
    q->path = p;
    q->qtype = qtype;
    q->st = Q_IDLE;
    loop_io_init(&q->io, OS_SOCK_INVALID, NULL);
    loop_timer_init(&q->timer, q_timer_cb);
}

/* Answers from the hosts file or the cache, if they know the name. 1 when answered. */
static int
answer_locally(struct dns_lookup *lk)
{
    struct dns_resolver *r = lk->r;
    struct dns_addr a[DNS_MAX_ADDRS * 2];
    unsigned n = hosts_lookup(r->s->hosts, lk->name, lk->family, a, ARRAY_SIZE(a));
    int err = 0, link = -1;

    if (n > 0 || hosts_is_localhost(lk->name)) {
        r->st.hosts_hits++;
        lookup_finish(lk, n > 0 ? 0 : DP_ERR_RESOLVE, a, n, lk->link);
        return 1;
    }
    if (!cache_get(r, lk, a, &n, &err, &link))
        return 0;
    r->st.cache_hits++;
    lookup_finish(lk, err, a, n, link);
    return 1;
}

struct dns_lookup *
dns_lookup_start(struct dns_resolver *r, const char *name, int link, int family, dns_lookup_cb cb,
                 void *arg)
{
    struct dns_lookup *lk = calloc(1, sizeof(*lk));
    unsigned n_links = atomic_load(r->n_links);

    if (lk == NULL)
        return NULL;
    lk->r = r;
    lk->cb = cb;
    lk->arg = arg;
    lk->family = family;
    lk->link = link >= 0 && (unsigned)link < n_links ? link : -1;
    lk->answer_link = -1;
    for (size_t i = 0; name[i] != '\0' && i + 1 < sizeof(lk->name); i++)
        lk->name[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    loop_timer_init(&lk->race_timer, race_timer_cb);
    loop_timer_init(&lk->deliver_timer, deliver_cb);
    for (int i = 0; i < 2; i++) {
        lk->path[i].lk = lk;
        lk->path[i].link = -1;
        init_q(&lk->path[i], &lk->path[i].q[0], DNS_TYPE_A);
        init_q(&lk->path[i], &lk->path[i].q[1], DNS_TYPE_AAAA);
    }
    lk->next = r->lookups;
    if (r->lookups != NULL)
        r->lookups->prev = lk;
    r->lookups = lk;
    r->n_lookups++;
    r->st.lookups++;

    if (strlen(name) >= sizeof(lk->name)) {
        lookup_finish(lk, DP_ERR_RESOLVE, NULL, 0, -1);
        return lk;
    }
    if (answer_locally(lk))
        return lk;
    if (r->n_lookups > r->s->max_lookups) {
        r->st.busy++;
        lookup_finish(lk, DP_ERR_DNS_BUSY, NULL, 0, -1);
        return lk;
    }
    lk->n_cand = dns_candidates(lk->name, r->s->search, r->s->n_search, r->s->ndots, lk->cand);
    if (lk->n_cand == 0) {
        lookup_finish(lk, DP_ERR_RESOLVE, NULL, 0, -1);
        return lk;
    }
    if (lk->link < 0 || path_start(lk, &lk->path[0], lk->link) == -1) {
        if (race_next(lk) == -1)
            lookup_finish(lk, DP_ERR_DNS_FAILED, NULL, 0, -1);
        return lk;
    }
    if (n_links > 1 && r->s->race_ms > 0)
        loop_timer_start(r->loop, &lk->race_timer, r->s->race_ms);
    return lk;
}

void
dns_lookup_cancel(struct dns_lookup *lk)
{
    struct loop *loop = lk->r->loop;

    loop_timer_stop(loop, &lk->race_timer);
    loop_timer_stop(loop, &lk->deliver_timer);
    path_stop(&lk->path[0]);
    path_stop(&lk->path[1]);
    lookup_free(lk);
}

void
dns_resolver_stats(const struct dns_resolver *r, struct dns_stats *out)
{
    *out = r->st;
}
