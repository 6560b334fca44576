#include "resolver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "loop.h"

struct resolve_req {
    struct loop_work work; /* posted back to the loop */
    struct resolve_req *next;
    struct loop *loop;
    resolve_cb cb;
    void *arg;
    int cancelled; /* written and read on the loop thread only */
    int err;
    struct addrinfo *res;
    char port[8];
    char host[256];
};

struct resolver {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct resolve_req *head, *tail;
    int stopping;
    unsigned n_threads;
    pthread_t threads[];
};

static void
deliver(struct loop_work *w)
{
    struct resolve_req *req = container_of(w, struct resolve_req, work);

    if (req->cancelled) {
        if (req->res != NULL)
            freeaddrinfo(req->res);
    } else {
        req->cb(req->arg, req->err, req->res);
    }
    free(req);
}

static void *
worker(void *arg)
{
    struct resolver *r = arg;

    for (;;) {
        struct resolve_req *req;
        struct addrinfo hints = {0};

        pthread_mutex_lock(&r->lock);
        while (r->head == NULL && !r->stopping)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stopping) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
        req = r->head;
        r->head = req->next;
        if (r->head == NULL)
            r->tail = NULL;
        pthread_mutex_unlock(&r->lock);

        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        hints.ai_flags = AI_NUMERICSERV;
        req->err = getaddrinfo(req->host, req->port, &hints, &req->res);
        if (req->err != 0)
            req->res = NULL;
        loop_post(req->loop, &req->work);
    }
}

struct resolver *
resolver_new(unsigned n_threads)
{
    struct resolver *r = calloc(1, sizeof(*r) + n_threads * sizeof(pthread_t));

    if (r == NULL)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    for (unsigned i = 0; i < n_threads; i++) {
        if (pthread_create(&r->threads[i], NULL, worker, r) != 0)
            break;
        r->n_threads++;
    }
    if (r->n_threads == 0) {
        free(r);
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
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    while (r->head != NULL) {
        struct resolve_req *next = r->head->next;
        free(r->head);
        r->head = next;
    }
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct resolve_req *
resolver_submit(struct resolver *r, struct loop *loop, const char *host, uint16_t port,
                resolve_cb cb, void *arg)
{
    struct resolve_req *req = calloc(1, sizeof(*req));

    if (req == NULL)
        return NULL;
    req->work.cb = deliver;
    req->loop = loop;
    req->cb = cb;
    req->arg = arg;
    snprintf(req->port, sizeof(req->port), "%u", (unsigned)port);
    snprintf(req->host, sizeof(req->host), "%s", host);
    pthread_mutex_lock(&r->lock);
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
    req->cancelled = 1;
}
