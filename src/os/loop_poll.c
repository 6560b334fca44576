/* poll backend for the loop: any POSIX system (the PORTABLE build, macOS, the BSDs) and
 * Windows, where WSAPoll takes the same struct pollfd (os_types.h names it OS_POLL).
 *
 * One pollfd array with the io that owns each entry beside it; io->slot is the entry's
 * position, so set and del are O(1) (del moves the last entry into the hole). The wait
 * is O(registered sockets), which is what poll costs anywhere.
 *
 * Ready ios are collected before any callback runs: callbacks add, remove and adopt ios,
 * which moves entries around the array. A collected io that a callback of the same batch
 * removed or closed is skipped (its io stays valid memory until loop_defer frees it);
 * events are level-triggered, so one skipped for an adopted io comes back next wait.
 *
 * Hang-ups: Windows reports a peer's orderly close (FIN) as POLLHUP, often without
 * POLLIN; POSIX reports POLLHUP once both directions are closed. Either way the socket
 * reads EOF, so POLLHUP is LOOP_READ, never LOOP_ERROR (which the HTTP front end takes
 * as a failed connection). WSAPoll refuses (WSAEINVAL) a request holding POLLERR or
 * POLLHUP: only POLLIN / POLLOUT are asked for, the others are reported regardless. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>

#include "common.h"

#ifndef OS_POLL
#include <poll.h>
#define OS_POLL poll
#endif

#define POLL_MIN_CAP 64

struct poll_ready {
    struct loop_io *io;
    short revents;
};

struct loop_backend {
    struct pollfd *fds;
    struct loop_io **ios;     /* ios[i] owns fds[i] */
    struct poll_ready *ready; /* one batch's ready ios, as many as fds can hold */
    size_t n, cap;
    size_t batch_next, batch_n; /* ready[batch_next..batch_n) wait for their callbacks */
};

/* A callback may close, stop or move another io further down the same batch (a session
 * closing its connect sockets when its client leaves, then freeing them): its entry is
 * dropped, never read again. Level-triggered: a moved fd's readiness comes again. */
static void
batch_drop(struct loop_backend *b, const struct loop_io *io)
{
    for (size_t i = b->batch_next; i < b->batch_n; i++)
        if (b->ready[i].io == io)
            b->ready[i].io = NULL;
}

struct loop_backend *
loop_backend_new(void)
{
    struct loop_backend *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->cap = POLL_MIN_CAP;
    b->fds = calloc(b->cap, sizeof(*b->fds));
    b->ios = calloc(b->cap, sizeof(*b->ios));
    b->ready = calloc(b->cap, sizeof(*b->ready));
    if (b->fds == NULL || b->ios == NULL || b->ready == NULL) {
        loop_backend_free(b);
        return NULL;
    }
    return b;
}

void
loop_backend_free(struct loop_backend *b)
{
    if (b == NULL)
        return;
    free(b->fds);
    free(b->ios);
    free(b->ready);
    free(b);
}

/* Room for one more entry. 0 or -1 (ENOMEM); the arrays only grow. */
static int
poll_grow(struct loop_backend *b)
{
    size_t cap = b->cap * 2;
    struct pollfd *fds;
    struct loop_io **ios;
    struct poll_ready *ready;

    if (b->n < b->cap)
        return 0;
    fds = realloc(b->fds, cap * sizeof(*fds));
    if (fds == NULL)
        goto oom;
    b->fds = fds;
    ios = realloc(b->ios, cap * sizeof(*ios));
    if (ios == NULL)
        goto oom;
    b->ios = ios;
    ready = realloc(b->ready, cap * sizeof(*ready));
    if (ready == NULL)
        goto oom;
    b->ready = ready;
    b->cap = cap;
    return 0;
oom:
    errno = ENOMEM;
    return -1;
}

int
loop_backend_set(struct loop_backend *b, struct loop_io *io, unsigned want)
{
    short events = (short)(((want & LOOP_READ) ? POLLIN : 0) | ((want & LOOP_WRITE) ? POLLOUT : 0));

    /* Nothing wanted: remove it, or poll would still report hang-ups and errors to a
     * callback that is not listening. */
    if (want == 0) {
        if (io->registered)
            loop_backend_del(b, io);
        return 0;
    }
    if (!io->registered) {
        if (poll_grow(b) == -1)
            return -1;
        io->slot = (unsigned)b->n++;
    }
    b->fds[io->slot].fd = io->fd;
    b->fds[io->slot].events = events;
    b->fds[io->slot].revents = 0;
    b->ios[io->slot] = io; /* registered == 2: an adopted io takes its entry over */
    io->registered = 1;
    io->want = want;
    io->backend = b;
    return 0;
}

void
loop_backend_del(struct loop_backend *b, struct loop_io *io)
{
    size_t i = io->slot, last = b->n - 1;

    if (i != last) {
        b->fds[i] = b->fds[last];
        b->ios[i] = b->ios[last];
        b->ios[i]->slot = (unsigned)i;
    }
    b->n--;
    io->registered = 0;
    io->want = 0;
    batch_drop(b, io);
}

void
loop_backend_forget(struct loop_backend *b, struct loop_io *io)
{
    loop_backend_del(b, io); /* closing does not take a socket out of a pollfd array */
}

void
loop_backend_adopt(struct loop_backend *b, struct loop_io *to, struct loop_io *from)
{
    b->ios[to->slot] = to; /* to->slot was copied from from->slot */
    batch_drop(b, from);
}

int
loop_backend_wait(struct loop_backend *b, int timeout_ms, uint64_t *now_ms)
{
    size_t n_ready = 0;
    int n = OS_POLL(b->fds, (unsigned long)b->n, timeout_ms);

    if (n < 0) {
        int err = os_errno();

        return err == EINTR || err == EAGAIN ? 0 : -1;
    }
    if (timeout_ms != 0)
        *now_ms = loop_clock_ms();
    for (size_t i = 0; i < b->n && n_ready < (size_t)n; i++) {
        if (b->fds[i].revents == 0)
            continue;
        b->ready[n_ready].io = b->ios[i];
        b->ready[n_ready].revents = b->fds[i].revents;
        n_ready++;
    }
    b->batch_n = n_ready;
    for (size_t i = 0; i < n_ready; i++) {
        struct loop_io *io = b->ready[i].io;
        short e = b->ready[i].revents;
        unsigned ev = 0;

        b->batch_next = i + 1;
        if (io == NULL) /* removed, closed or moved by a callback of this batch */
            continue;
        if (e & (POLLIN | POLLHUP))
            ev |= LOOP_READ;
        if (e & POLLOUT)
            ev |= LOOP_WRITE;
        if (e & (POLLERR | POLLNVAL))
            ev |= LOOP_ERROR;
        io->cb(io, ev);
    }
    b->batch_next = b->batch_n = 0;
    return 0;
}
