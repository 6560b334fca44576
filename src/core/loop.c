/* Loop logic written once: timers in a binary min-heap, cross-thread posts through an
 * eventfd-like wake-up, and the run loop. Readiness comes from the backend file. */
#include "loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

struct loop {
    struct loop_backend *backend;
    uint64_t now_ms;
    int stopping;
    struct loop_timer **heap;
    size_t heap_len, heap_cap;
    /* posts */
    pthread_mutex_t post_lock;
    struct loop_work *post_head, *post_tail;
    int wake_pending;
    struct os_wakeup wake; /* its read end is watched by the loop */
    struct loop_io wake_io;
    struct loop_work *deferred;
};

uint64_t
loop_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
loop_now(const struct loop *l)
{
    return l->now_ms;
}

/* Runs every posted work item; the wake pipe is drained first so a post racing with us
 * writes a fresh wake-up. */
static void
wake_cb(struct loop_io *io, unsigned events)
{
    struct loop *l = container_of(io, struct loop, wake_io);
    struct loop_work *w;

    DP_UNUSED(events);
    os_wakeup_drain(&l->wake);
    pthread_mutex_lock(&l->post_lock);
    w = l->post_head;
    l->post_head = l->post_tail = NULL;
    l->wake_pending = 0;
    pthread_mutex_unlock(&l->post_lock);
    while (w != NULL) {
        struct loop_work *next = w->next;
        w->cb(w);
        w = next;
    }
}

static void run_deferred(struct loop *l);

struct loop *
loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->backend = loop_backend_new();
    if (l->backend == NULL)
        goto err_free;
    if (os_wakeup_open(&l->wake) == -1)
        goto err_backend;
    pthread_mutex_init(&l->post_lock, NULL);
    loop_io_init(&l->wake_io, l->wake.rd, wake_cb);
    if (loop_io_set(l, &l->wake_io, LOOP_READ) == -1)
        goto err_pipe;
    l->now_ms = loop_clock_ms();
    return l;

err_pipe:
    os_wakeup_close(&l->wake);
err_backend:
    loop_backend_free(l->backend);
err_free:
    free(l);
    return NULL;
}

void
loop_free(struct loop *l)
{
    if (l == NULL)
        return;
    /* Work posted after the loop stopped (late resolver answers) still owns memory. */
    wake_cb(&l->wake_io, 0);
    run_deferred(l);
    loop_io_stop(l, &l->wake_io);
    os_wakeup_close(&l->wake);
    loop_backend_free(l->backend);
    pthread_mutex_destroy(&l->post_lock);
    free(l->heap);
    free(l);
}

void
loop_io_init(struct loop_io *io, os_sock fd, void (*cb)(struct loop_io *, unsigned))
{
    io->fd = fd;
    io->want = 0;
    io->registered = 0;
    io->slot = 0;
    io->backend = NULL;
    io->cb = cb;
}

int
loop_io_set(struct loop *l, struct loop_io *io, unsigned want)
{
    if (io->registered == 1 && io->want == want)
        return 0;
    return loop_backend_set(l->backend, io, want);
}

void
loop_io_stop(struct loop *l, struct loop_io *io)
{
    if (io->registered)
        loop_backend_del(l->backend, io);
}

void
loop_io_close(struct loop_io *io)
{
    /* With epoll, close() drops the fd by itself (we never dup these fds): no DEL; a
     * poll backend takes it out of its array here. */
    if (io->registered)
        loop_backend_forget(io->backend, io);
    io->registered = 0;
    io->want = 0;
    io->backend = NULL;
    if (io->fd != OS_SOCK_INVALID)
        os_close(io->fd);
    io->fd = OS_SOCK_INVALID;
}

void
loop_io_adopt(struct loop_io *to, struct loop_io *from)
{
    to->fd = from->fd;
    to->want = from->want;
    to->slot = from->slot;
    to->backend = from->backend;
    /* Still registered, but with from's address as its event data: the next
     * loop_io_set() must rewrite it even if the events stay the same. */
    to->registered = from->registered ? 2 : 0;
    if (from->registered)
        loop_backend_adopt(from->backend, to, from);
    from->fd = OS_SOCK_INVALID;
    from->registered = 0;
    from->want = 0;
    from->backend = NULL;
}

/* ---- timers: binary min-heap on when_ms ---- */

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void
heap_up(struct loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->when_ms <= l->heap[i]->when_ms)
            break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void
heap_down(struct loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->heap_len && l->heap[left]->when_ms < l->heap[min]->when_ms)
            min = left;
        if (right < l->heap_len && l->heap[right]->when_ms < l->heap[min]->when_ms)
            min = right;
        if (min == i)
            break;
        heap_swap(l, i, min);
        i = min;
    }
}

void
loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *))
{
    t->when_ms = 0;
    t->heap_index = SIZE_MAX;
    t->cb = cb;
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    size_t i = t->heap_index;

    if (i == SIZE_MAX)
        return;
    t->heap_index = SIZE_MAX;
    l->heap_len--;
    if (i == l->heap_len)
        return;
    l->heap[i] = l->heap[l->heap_len];
    l->heap[i]->heap_index = i;
    heap_up(l, i);
    heap_down(l, l->heap[i]->heap_index);
}

void
loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t after_ms)
{
    loop_timer_stop(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 256;
        struct loop_timer **heap = realloc(l->heap, cap * sizeof(*heap));
        if (heap == NULL)
            abort(); /* timers are how clients get unstuck; no way to run without them */
        l->heap = heap;
        l->heap_cap = cap;
    }
    t->when_ms = l->now_ms + after_ms;
    t->heap_index = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_index);
}

static void
run_timers(struct loop *l)
{
    while (l->heap_len > 0 && l->heap[0]->when_ms <= l->now_ms) {
        struct loop_timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->cb(t);
    }
}

void
loop_post(struct loop *l, struct loop_work *w)
{
    int wake;

    w->next = NULL;
    pthread_mutex_lock(&l->post_lock);
    if (l->post_tail != NULL)
        l->post_tail->next = w;
    else
        l->post_head = w;
    l->post_tail = w;
    wake = !l->wake_pending;
    l->wake_pending = 1;
    pthread_mutex_unlock(&l->post_lock);
    if (wake)
        os_wakeup_signal(&l->wake);
}

void
loop_defer(struct loop *l, struct loop_work *w)
{
    w->next = l->deferred;
    l->deferred = w;
}

static void
run_deferred(struct loop *l)
{
    while (l->deferred != NULL) {
        struct loop_work *w = l->deferred;
        l->deferred = w->next;
        w->cb(w);
    }
}

void
loop_stop(struct loop *l)
{
    l->stopping = 1;
}

int
loop_run(struct loop *l)
{
    while (!l->stopping) {
        int timeout = -1;

        l->now_ms = loop_clock_ms();
        run_timers(l);
        run_deferred(l);
        if (l->stopping)
            break;
        if (l->heap_len > 0) {
            uint64_t due = l->heap[0]->when_ms;
            timeout = due <= l->now_ms ? 0 : (int)(due - l->now_ms);
        }
        if (loop_backend_wait(l->backend, timeout, &l->now_ms) == -1)
            return -1;
        run_deferred(l);
    }
    return 0;
}
