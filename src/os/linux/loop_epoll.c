/* epoll backend for the loop (Linux). Level-triggered: callers change interest as their
 * buffers fill and drain, which keeps the relay's backpressure logic simple. */
#include "loop.h"

#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EPOLL_BATCH 256

struct loop_backend {
    int epfd;
    struct epoll_event events[EPOLL_BATCH];
    int batch_next, batch_n; /* events[batch_next..batch_n) wait for their callbacks */
};

/* A callback may close, stop or move another io whose event is further down the same
 * batch (a session closing its connect sockets when its client leaves): that event must
 * not reach the io (freed, perhaps) afterwards. */
static void
batch_drop(struct loop_backend *b, const struct loop_io *io)
{
    for (int i = b->batch_next; i < b->batch_n; i++)
        if (b->events[i].data.ptr == io)
            b->events[i].data.ptr = NULL;
}

struct loop_backend *
loop_backend_new(void)
{
    struct loop_backend *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd == -1) {
        free(b);
        return NULL;
    }
    return b;
}

void
loop_backend_free(struct loop_backend *b)
{
    if (b == NULL)
        return;
    close(b->epfd);
    free(b);
}

int
loop_backend_set(struct loop_backend *b, struct loop_io *io, unsigned want)
{
    struct epoll_event ev = {0};
    int op;

    /* Nothing wanted: remove it. A registered fd with no events would still report
     * EPOLLHUP/EPOLLERR, level-triggered, to a callback that is not listening. */
    if (want == 0) {
        if (io->registered)
            loop_backend_del(b, io);
        return 0;
    }
    ev.events =
        ((want & LOOP_READ) ? EPOLLIN | EPOLLRDHUP : 0) | ((want & LOOP_WRITE) ? EPOLLOUT : 0);
    ev.data.ptr = io;
    op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(b->epfd, op, io->fd, &ev) == -1)
        return -1;
    io->registered = 1;
    io->want = want;
    io->backend = b;
    return 0;
}

void
loop_backend_del(struct loop_backend *b, struct loop_io *io)
{
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = 0;
    io->want = 0;
    batch_drop(b, io);
}

void
loop_backend_forget(struct loop_backend *b, struct loop_io *io)
{
    batch_drop(b, io); /* close() removes the fd from the epoll set */
}

void
loop_backend_adopt(struct loop_backend *b, struct loop_io *to, struct loop_io *from)
{
    /* The event data is rewritten by the next loop_io_set (registered 2). An event of
     * this batch for `from` is dropped: level-triggered, it comes again for `to`. */
    DP_UNUSED(to);
    batch_drop(b, from);
}

int
loop_backend_wait(struct loop_backend *b, int timeout_ms, uint64_t *now_ms)
{
    int n = epoll_wait(b->epfd, b->events, EPOLL_BATCH, timeout_ms);

    if (n == -1)
        return errno == EINTR ? 0 : -1;
    if (timeout_ms != 0)
        *now_ms = loop_clock_ms();
    b->batch_n = n;
    for (int i = 0; i < n; i++) {
        struct loop_io *io = b->events[i].data.ptr;
        uint32_t e = b->events[i].events;
        unsigned ev = 0;

        b->batch_next = i + 1;
        if (io == NULL) /* closed or stopped by an earlier callback of this batch */
            continue;
        if (e & (EPOLLIN | EPOLLRDHUP))
            ev |= LOOP_READ;
        if (e & EPOLLOUT)
            ev |= LOOP_WRITE;
        if (e & (EPOLLERR | EPOLLHUP))
            ev |= LOOP_ERROR;
        io->cb(io, ev);
    }
    b->batch_next = b->batch_n = 0;
    return 0;
}
