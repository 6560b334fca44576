#include "relay.h"

#include <errno.h>
#include <string.h>

#include "common.h"
#include "os.h"

static int splice_enabled = OS_HAVE_SPLICE;

void
relay_set_splice(int enabled)
{
    splice_enabled = OS_HAVE_SPLICE && enabled;
}

#define RELAY_BURST 4

static int
would_block(int err)
{
    return os_would_block(err);
}

static void
half_release_buf(struct relay_half *h)
{
    bufpool_put(h->buf);
    h->buf = NULL;
    h->off = h->len = 0;
}

/* Sends what the buffer holds. Returns 0 when empty (buffer released), EAGAIN when the
 * destination is full, or an errno. */
static int
flush_buf(struct relay_half *h, os_sock dst)
{
    while (h->len > 0) {
        ssize_t n = os_send(dst, h->buf->data + h->off, h->len);
        if (n == -1)
            return would_block(os_errno()) ? EAGAIN : os_errno();
        h->off += (uint32_t)n;
        h->len -= (uint32_t)n;
        h->bytes += (uint64_t)n;
    }
    half_release_buf(h);
    return 0;
}

#if OS_HAVE_SPLICE
/* Same for the pipe: empties it into dst, then gives it back to the pool. */
static int
flush_pipe(struct relay_half *h, int dst)
{
    while (h->pipe_len > 0) {
        ssize_t n = os_splice(h->pipe[0], dst, h->pipe_len);
        if (n == -1)
            return would_block(os_errno()) ? EAGAIN : os_errno();
        h->pipe_len -= (uint32_t)n;
        h->bytes += (uint64_t)n;
    }
    os_pipe_put(h->pipe);
    return 0;
}

/* One splice from src into a pooled pipe and on to dst. Returns 0, EAGAIN when src had
 * nothing, another errno, or -1 when no pipe could be had (the caller copies instead). */
static int
splice_once(struct relay_half *h, os_sock src, os_sock dst, int *full)
{
    ssize_t n;

    if (h->pipe[0] == -1 && os_pipe_get(h->pipe) == -1)
        return -1;
    n = os_splice(src, h->pipe[1], OS_SPLICE_CHUNK);
    if (n == 0) {
        h->eof = 1;
        os_pipe_put(h->pipe);
        return 0;
    }
    if (n == -1) {
        int err = os_errno();
        os_pipe_put(h->pipe); /* nothing went in: still empty */
        return would_block(err) ? EAGAIN : err;
    }
    h->pipe_len = (uint32_t)n;
    *full = h->pipe_len == OS_SPLICE_CHUNK;
    n = flush_pipe(h, dst);
    return n == EAGAIN ? 0 : (int)n;
}
#endif

/* One copy through a pooled buffer. Returns 0, EAGAIN when src had nothing, or an errno. */
static int
copy_once(struct relay_half *h, os_sock src, os_sock dst, int *full)
{
    ssize_t n;
    int err;

    if (h->buf == NULL) {
        h->buf = bufpool_get();
        if (h->buf == NULL)
            return ENOMEM;
    }
    n = os_recv(src, h->buf->data, BUFPOOL_BUF_SIZE);
    if (n == 0) {
        h->eof = 1;
        half_release_buf(h);
        return 0;
    }
    if (n == -1) {
        err = os_errno();
        half_release_buf(h);
        return would_block(err) ? EAGAIN : err;
    }
    h->off = 0;
    h->len = (uint32_t)n;
    *full = h->len == BUFPOOL_BUF_SIZE;
    /* Write it now: most of the time the destination takes it all and the buffer goes
     * straight back to the pool. */
    err = flush_buf(h, dst);
    return err == EAGAIN ? 0 : err;
}

static int
pending(const struct relay_half *h)
{
    return h->len > 0 || h->pipe_len > 0;
}

/* Moves what it can for one direction: flush what is pending, pass EOF on, then read
 * and forward. Returns 0, or an errno on a hard error. */
static int
half_pump(struct relay_half *h, const struct relay_half *other, os_sock src, os_sock dst,
          int use_splice)
{
    int err;

    if (h->len > 0 && (err = flush_buf(h, dst)) != 0)
        return err == EAGAIN ? 0 : err;
#if OS_HAVE_SPLICE
    if (h->pipe_len > 0 && (err = flush_pipe(h, dst)) != 0)
        return err == EAGAIN ? 0 : err;
#endif
    /* Another read in the same event only after a read that filled the whole chunk (so
     * more is likely waiting): bulk transfers make fewer trips through the poller, small
     * exchanges make no read that is bound to find nothing. Bounded, so one connection
     * cannot starve the others; level-triggered events bring us back for the rest. */
    for (int i = 0, full = 1; i < RELAY_BURST && full && !h->eof && !pending(h); i++) {
        full = 0;
#if OS_HAVE_SPLICE
        /* Small exchanges are cheaper with recv/send than through a pipe (two splices
         * and the pipe's bookkeeping); a direction turns to splice once a read fills a
         * whole buffer, the mark of a bulk transfer. */
        err = use_splice && h->bulk ? splice_once(h, src, dst, &full) : -1;
        if (err == -1) {
            err = copy_once(h, src, dst, &full);
            h->bulk |= full;
        }
#else
        DP_UNUSED(use_splice);
        err = copy_once(h, src, dst, &full);
#endif
        if (err == EAGAIN)
            break;
        if (err != 0)
            return err;
    }
    if (h->eof && h->len == 0 && h->pipe_len == 0 && !h->shut) {
        h->shut = 1;
        /* The last direction to finish needs no shutdown: both sockets are about to be
         * closed, and close() sends the FIN (their receive sides are drained to EOF, so
         * it is a FIN, not a RST). */
        if (!other->shut && os_shutdown_write(dst) == -1 && os_errno() != ENOTCONN)
            return os_errno();
    }
    return 0;
}

/* Registers the events each socket needs now: read while its outgoing direction has
 * nothing pending, write while the other direction has bytes waiting for it. */
static int
update_interest(struct relay *r)
{
    unsigned c = 0, m = 0;

    if (!r->up.eof && !pending(&r->up))
        c |= LOOP_READ;
    if (pending(&r->up))
        m |= LOOP_WRITE;
    if (!r->down.eof && !pending(&r->down))
        m |= LOOP_READ;
    if (pending(&r->down))
        c |= LOOP_WRITE;
    if (loop_io_set(r->loop, &r->client, c) == -1 || loop_io_set(r->loop, &r->remote, m) == -1)
        return os_errno();
    return 0;
}

static void
pump(struct relay *r, int pump_up, int pump_down)
{
    int err = 0;
    uint64_t up0 = r->up.bytes, down0 = r->down.bytes;

    r->last_active_ms = loop_now(r->loop);
    if (pump_up)
        err = half_pump(&r->up, &r->down, r->client.fd, r->remote.fd, r->use_splice);
    if (err == 0 && pump_down)
        err = half_pump(&r->down, &r->up, r->remote.fd, r->client.fd, r->use_splice);
    if (r->count_up != NULL && r->up.bytes != up0)
        atomic_fetch_add_explicit(r->count_up, r->up.bytes - up0, memory_order_relaxed);
    if (r->count_down != NULL && r->down.bytes != down0)
        atomic_fetch_add_explicit(r->count_down, r->down.bytes - down0, memory_order_relaxed);
    if (err == 0 && r->up.shut && r->down.shut) {
        r->done(r, 0);
        return;
    }
    if (err == 0)
        err = update_interest(r);
    if (err != 0)
        r->done(r, err);
}

static void
client_cb(struct loop_io *io, unsigned events)
{
    struct relay *r = container_of(io, struct relay, client);
    /* client readable -> up; client writable -> down */
    pump(r, (events & (LOOP_READ | LOOP_ERROR)) != 0, (events & (LOOP_WRITE | LOOP_ERROR)) != 0);
}

static void
remote_cb(struct loop_io *io, unsigned events)
{
    struct relay *r = container_of(io, struct relay, remote);
    pump(r, (events & (LOOP_WRITE | LOOP_ERROR)) != 0, (events & (LOOP_READ | LOOP_ERROR)) != 0);
}

static void
half_init(struct relay_half *h)
{
    memset(h, 0, sizeof(*h));
    h->pipe[0] = h->pipe[1] = -1;
}

void
relay_init(struct relay *r)
{
    half_init(&r->up);
    half_init(&r->down);
}

int
relay_start(struct relay *r, struct loop *loop, const void *initial, size_t initial_len)
{
    r->loop = loop;
    r->last_active_ms = loop_now(loop);
    r->use_splice = splice_enabled;
    r->client.cb = client_cb;
    r->remote.cb = remote_cb;
    half_init(&r->up);
    half_init(&r->down);
    if (initial_len > 0) {
        r->up.buf = bufpool_get();
        if (r->up.buf == NULL)
            return -1;
        memcpy(r->up.buf->data, initial, initial_len);
        r->up.len = (uint32_t)initial_len;
        /* Sent when the remote reports writable, which a fresh connection is at once. */
    }
    return update_interest(r) == 0 ? 0 : -1;
}

static void
half_stop(struct relay_half *h)
{
    half_release_buf(h);
#if OS_HAVE_SPLICE
    if (h->pipe_len > 0)
        os_pipe_discard(h->pipe); /* bytes still inside: do not hand it to another */
    else if (h->pipe[0] != -1)
        os_pipe_put(h->pipe);
#endif
    h->pipe_len = 0;
}

void
relay_stop(struct relay *r)
{
    half_stop(&r->up);
    half_stop(&r->down);
}
