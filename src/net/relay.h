/* Moving bytes both ways between the client and the remote socket, with backpressure
 * (a side that cannot take more stops the other side being read) and half-close (EOF one
 * way becomes shutdown(SHUT_WR) on the other; the other direction keeps flowing).
 *
 * Where the platform has splice (OS_HAVE_SPLICE, Linux), bytes move through a pipe taken from a
 * per-thread pool only while bytes are in flight; elsewhere, or when no pipe can be had, through a
 * pooled buffer. Either way an idle connection holds nothing but its two sockets. */
#ifndef DP_RELAY_H
#define DP_RELAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bufpool.h"
#include "loop.h"

struct relay_half {
    struct buf *buf; /* held only while len > 0 */
    uint32_t off, len;
    int pipe[2];       /* held only while pipe_len > 0; -1 otherwise */
    uint32_t pipe_len; /* bytes spliced into the pipe, not yet out */
    uint8_t bulk;      /* a read filled a whole buffer: splice from now on */
    uint8_t eof;       /* the source side reached EOF */
    uint8_t shut;      /* shutdown(SHUT_WR) done on the destination side */
    uint64_t bytes;
};

struct relay {
    struct loop *loop;
    struct loop_io client;   /* client socket; the session uses it during the handshake too */
    struct loop_io remote;   /* outgoing socket */
    struct relay_half up;    /* client -> remote */
    struct relay_half down;  /* remote -> client */
    uint64_t last_active_ms; /* loop time of the last event: what the idle timeout checks */
    int use_splice;
    /* Optional live totals (the link's counters, read by -policy adaptive): bytes are
     * added as they move, once per event. NULL: not counted. */
    _Atomic uint64_t *count_up, *count_down;
    /* Called once when both directions are done (err 0) or one side failed (err errno). */
    void (*done)(struct relay *r, int err);
};

/* Globally chooses splice (where available) or copying for relays started afterwards. */
void relay_set_splice(int enabled);

/* Makes a relay safe to relay_stop() before relay_start() (session start-up). */
void relay_init(struct relay *r);

/* Takes over both fds' events. initial/initial_len: bytes the client sent after its
 * request (pipelined payload), sent to the remote first. Returns 0, or -1 (out of memory
 * or epoll failure: the caller closes). */
int relay_start(struct relay *r, struct loop *loop, const void *initial, size_t initial_len);

/* Releases buffers and pipes; the caller closes the fds (loop_io_close, which also
 * ends their events). */
void relay_stop(struct relay *r);

#endif
