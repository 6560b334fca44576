#include "resolver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "hosts.h"
#include "loop.h"
#include "sticky.h"

#define HOSTS_ADDRS 4 /* addresses answered from the hosts file */

enum req_state { REQ_QUEUED, REQ_RUNNING, REQ_POSTED };

struct resolve_req {
    struct loop_work work; /* posted back to the loop */
    struct resolve_req *next;
    struct resolver *r;
    struct loop *loop;
    resolve_cb cb;
    void *arg;
    uint64_t key;
    enum req_state state; /* under r->lock */
    int cancelled;        /* written and read on the loop thread only */
    int err;
    struct addrinfo *res;
    int res_gai; /* res came from getaddrinfo (else it points into ai[] below) */
    struct addrinfo ai[HOSTS_ADDRS];
    struct sockaddr_storage sa[HOSTS_ADDRS];
    char port[8];
    char host[256];
};

struct worker {
    struct resolver *r;
    uint64_t key; /* of the lookup it runs; 0 when idle or keyless */
    int busy;
};

struct resolver {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct resolve_req *head, *tail; /* queued, oldest first */
    unsigned n_pending;              /* queued + running */
    unsigned refs;                   /* the owner and each live thread */
    unsigned per_client_threads;     /* running lookups one client may hold */
    int stopping;
    struct hosts *hosts;
    unsigned n_threads;
    struct worker workers[];
};

static void
req_free(struct resolve_req *req)
{
    if (req->res_gai && req->res != NULL)
        freeaddrinfo(req->res);
    free(req);
}

static void
deliver(struct loop_work *w)
{
    struct resolve_req *req = container_of(w, struct resolve_req, work);

    if (!req->cancelled)
        req->cb(req->arg, req->err, req->res);
    req_free(req);
}

static void
resolver_destroy(struct resolver *r)
{
    hosts_free(r->hosts);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Drops one reference (lock held); frees r after the unlock when it was the last. */
static void
unref_unlock(struct resolver *r)
{
    int last = --r->refs == 0;

    pthread_mutex_unlock(&r->lock);
    if (last)
        resolver_destroy(r);
}

static unsigned
running_for(const struct resolver *r, uint64_t key)
{
    unsigned n = 0;

    for (unsigned i = 0; i < r->n_threads; i++)
        n += r->workers[i].busy && r->workers[i].key == key;
    return n;
}

/* The oldest queued lookup whose client holds fewer than its share of the threads,
 * unlinked; NULL when none may run now. Lock held. */
static struct resolve_req *
take_next(struct resolver *r)
{
    struct resolve_req *prev = NULL;

    for (struct resolve_req *q = r->head; q != NULL; prev = q, q = q->next) {
        if (q->key != 0 && running_for(r, q->key) >= r->per_client_threads)
            continue;
        if (prev != NULL)
            prev->next = q->next;
        else
            r->head = q->next;
        if (r->tail == q)
            r->tail = prev;
        q->next = NULL;
        return q;
    }
    return NULL;
}

static void *
worker_main(void *arg)
{
    struct worker *wk = arg;
    struct resolver *r = wk->r;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct resolve_req *req = NULL;
        struct addrinfo hints = {0};

        while (!r->stopping && (req = take_next(r)) == NULL)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stopping)
            break;
        req->state = REQ_RUNNING;
        wk->busy = 1;
        wk->key = req->key;
        pthread_mutex_unlock(&r->lock);

        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        hints.ai_flags = AI_NUMERICSERV;
        req->err = getaddrinfo(req->host, req->port, &hints, &req->res);
        if (req->err != 0)
            req->res = NULL;
        req->res_gai = 1;

        pthread_mutex_lock(&r->lock);
        wk->busy = 0;
        wk->key = 0;
        r->n_pending--;
        if (r->stopping) { /* nobody waits for it any more */
            req_free(req);
            break;
        }
        req->state = REQ_POSTED;
        loop_post(req->loop, &req->work);
        pthread_cond_broadcast(&r->cond); /* a client's share may have freed up */
    }
    unref_unlock(r);
    return NULL;
}

struct resolver *
resolver_new(unsigned n_threads)
{
    struct resolver *r = calloc(1, sizeof(*r) + n_threads * sizeof(struct worker));
    pthread_attr_t attr;

    if (r == NULL)
        return NULL;
    r->hosts = hosts_load(os_hosts_path());
    if (r->hosts == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->per_client_threads = n_threads / 2 > 0 ? n_threads / 2 : 1;
    r->refs = 1;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < n_threads; i++) {
        pthread_t t;

        r->workers[i].r = r;
        if (pthread_create(&t, &attr, worker_main, &r->workers[i]) != 0)
            break;
        r->n_threads++;
        r->refs++;
    }
    pthread_mutex_unlock(&r->lock);
    pthread_attr_destroy(&attr);
    if (r->n_threads == 0) {
        resolver_destroy(r);
        return NULL;
    }
    return r;
}

void
resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    while (r->head != NULL) {
        struct resolve_req *next = r->head->next;
        req_free(r->head);
        r->head = next;
    }
    r->tail = NULL;
    pthread_cond_broadcast(&r->cond);
    unref_unlock(r); /* threads in getaddrinfo drop theirs when it returns */
}

/* Literals and hosts-file names (localhost included): the answer without a thread. 1 when
 * answered (req->res set, maybe with an error), 0 when the name needs a lookup. */
static int
answer_at_once(struct resolver *r, struct resolve_req *req, uint16_t port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct dns_addr a[HOSTS_ADDRS];
    unsigned n;

    if (getaddrinfo(req->host, req->port, &hints, &req->res) == 0) { /* never blocks */
        req->res_gai = 1;
        return 1;
    }
    req->res = NULL;
    n = hosts_lookup(r->hosts, req->host, AF_UNSPEC, a, HOSTS_ADDRS);
    if (n == 0)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        struct addrinfo *ai = &req->ai[i];

        memset(&req->sa[i], 0, sizeof(req->sa[i]));
        if (a[i].family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&req->sa[i];
            s4->sin_family = AF_INET;
            s4->sin_port = htons(port);
            memcpy(&s4->sin_addr, a[i].addr, 4);
            ai->ai_addrlen = sizeof(*s4);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&req->sa[i];
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons(port);
            memcpy(&s6->sin6_addr, a[i].addr, 16);
            ai->ai_addrlen = sizeof(*s6);
        }
        ai->ai_family = a[i].family;
        ai->ai_socktype = SOCK_STREAM;
        ai->ai_protocol = IPPROTO_TCP;
        ai->ai_addr = (struct sockaddr *)&req->sa[i];
        ai->ai_next = i + 1 < n ? &req->ai[i + 1] : NULL;
    }
    req->res = &req->ai[0];
    return 1;
}

/* Lookups of key queued or running. Lock held. */
static unsigned
pending_for(const struct resolver *r, uint64_t key)
{
    unsigned n = running_for(r, key);

    for (const struct resolve_req *q = r->head; q != NULL; q = q->next)
        n += q->key == key;
    return n;
}

struct resolve_req *
resolver_submit(struct resolver *r, struct loop *loop, const char *host, uint16_t port,
                uint64_t key, resolve_cb cb, void *arg)
{
    struct resolve_req *req = calloc(1, sizeof(*req));

    if (req == NULL) {
        os_set_errno(ENOMEM);
        return NULL;
    }
    req->work.cb = deliver;
    req->r = r;
    req->loop = loop;
    req->cb = cb;
    req->arg = arg;
    req->key = key;
    snprintf(req->port, sizeof(req->port), "%u", (unsigned)port);
    snprintf(req->host, sizeof(req->host), "%s", host);
    if (answer_at_once(r, req, port)) {
        req->state = REQ_POSTED;
        loop_post(loop, &req->work);
        return req;
    }
    pthread_mutex_lock(&r->lock);
    if (r->n_pending >= RESOLVER_QUEUE_MAX ||
        (key != 0 && pending_for(r, key) >= RESOLVER_PER_CLIENT)) {
        pthread_mutex_unlock(&r->lock);
        free(req);
        os_set_errno(EAGAIN);
        return NULL;
    }
    req->state = REQ_QUEUED;
    r->n_pending++;
    if (r->tail != NULL)
        r->tail->next = req;
    else
        r->head = req;
    r->tail = req;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return req;
}

void
resolver_cancel(struct resolve_req *req)
{
    struct resolver *r = req->r;

    pthread_mutex_lock(&r->lock);
    if (req->state == REQ_QUEUED) {
        struct resolve_req *prev = NULL;

        for (struct resolve_req *q = r->head; q != NULL; prev = q, q = q->next)
            if (q == req) {
                if (prev != NULL)
                    prev->next = q->next;
                else
                    r->head = q->next;
                if (r->tail == q)
                    r->tail = prev;
                break;
            }
        r->n_pending--;
        pthread_mutex_unlock(&r->lock);
        req_free(req);
        return;
    }
    pthread_mutex_unlock(&r->lock);
    req->cancelled = 1; /* running or posted: dropped when it is delivered */
}

uint64_t
resolver_client_key(const struct sockaddr *sa)
{
    /* The sticky policy's key of the client's address alone (never 0). */
    if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return 0;
    return sticky_key(sa, NULL, 0);
}
