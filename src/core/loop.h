/* One event loop per thread: readiness events on sockets, timers, and work posted from
 * other threads. The OS-specific part lives in a backend chosen by the build
 * (src/os/linux/loop_epoll.c, src/os/loop_poll.c for other POSIX systems and Windows). */
#ifndef DP_LOOP_H
#define DP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

#define LOOP_READ 1u
#define LOOP_WRITE 2u
#define LOOP_ERROR 4u /* error or hang-up: the callback should try the I/O and see */

struct loop;

struct loop_io {
    os_sock fd;
    unsigned want;                /* LOOP_READ | LOOP_WRITE currently registered */
    int registered;               /* 0 no, 1 yes, 2 yes but the event data must be rewritten */
    unsigned slot;                /* the backend's own bookkeeping (poll: position in its array) */
    struct loop_backend *backend; /* while registered: the close hook needs it */
    void (*cb)(struct loop_io *io, unsigned events);
};

struct loop_timer {
    uint64_t when_ms;
    size_t heap_index; /* SIZE_MAX when not armed */
    void (*cb)(struct loop_timer *t);
};

/* Work posted from another thread; run on the loop's thread. */
struct loop_work {
    struct loop_work *next;
    void (*cb)(struct loop_work *w);
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Runs until loop_stop(). Returns 0, or -1 if the backend failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l); /* loop thread only; loop_post() a work item from others */

/* Milliseconds of CLOCK_MONOTONIC, cached at the start of each iteration. */
uint64_t loop_now(const struct loop *l);
uint64_t loop_clock_ms(void);

void loop_io_init(struct loop_io *io, os_sock fd, void (*cb)(struct loop_io *, unsigned));
/* Sets the events watched for io (0 removes it from the backend). Returns 0 or -1. */
int loop_io_set(struct loop *l, struct loop_io *io, unsigned want);
/* Removes io from the backend (the fd stays open). */
void loop_io_stop(struct loop *l, struct loop_io *io);
/* Closes io's socket, which also ends its registration (with epoll, one syscall). */
void loop_io_close(struct loop_io *io);
/* Moves a registered fd from one io to another (a connected socket passing from the
 * dialer to the relay) without unregistering it; the caller sets to->cb and then
 * loop_io_set(to, ...) to say which events it wants. */
void loop_io_adopt(struct loop_io *to, struct loop_io *from);

void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *));
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t after_ms);
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/* Thread-safe: queue w to run on l's thread, and wake it. */
void loop_post(struct loop *l, struct loop_work *w);

/* Loop thread only: run w once the current batch of events and timers is done. Objects
 * that own an io free themselves this way, so a later event of the same batch never
 * touches freed memory (its callback must still check that the object is closed). */
void loop_defer(struct loop *l, struct loop_work *w);

/* Backend interface: one file per poller, chosen by the build. A backend sets
 * io->registered, io->want and io->backend; it may use io->slot. Callbacks of one batch
 * may close or adopt any io, including ones the batch still has to report: the backend
 * must keep calling through the pointers it collected (objects are freed only through
 * loop_defer, and callbacks check their own state), never through a moved slot. */
struct loop_backend;
struct loop_backend *loop_backend_new(void);
void loop_backend_free(struct loop_backend *b);
/* Registers io for want (0 removes it). */
int loop_backend_set(struct loop_backend *b, struct loop_io *io, unsigned want);
void loop_backend_del(struct loop_backend *b, struct loop_io *io);
/* io's socket is about to be closed (epoll: nothing to do, close removes it). */
void loop_backend_forget(struct loop_backend *b, struct loop_io *io);
/* to takes over from's registration (from's fields are cleared by the caller). */
void loop_backend_adopt(struct loop_backend *b, struct loop_io *to, struct loop_io *from);
/* Waits up to timeout_ms (-1: forever), refreshes *now_ms once the wait is over (so
 * timers armed by the callbacks count from now, not from before the wait), then calls each
 * ready io's callback. */
int loop_backend_wait(struct loop_backend *b, int timeout_ms, uint64_t *now_ms);

#endif
