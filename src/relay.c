#include "relay.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

static void
half_release(struct relay_half *h)
{
    bufpool_put(h->buf);
    h->buf = NULL;
    h->off = h->len = 0;
}

/* Moves what it can from src to dst for one direction: flush what is pending, then one
 * read (level-triggered events bring us back; one read per event keeps a fast connection
 * from starving the others). Returns 0, or an errno on a hard error. */
static int
half_pump(struct relay_half *h, int src, int dst)
{
    for (;;) {
        if (h->len > 0) {
            ssize_t n = send(dst, h->buf->data + h->off, h->len, MSG_NOSIGNAL);
            if (n == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return 0;
                return errno;
            }
            h->off += (uint32_t)n;
            h->len -= (uint32_t)n;
            h->bytes += (uint64_t)n;
            if (h->len > 0)
                return 0;
            half_release(h);
        }
        if (h->eof) {
            if (!h->shut) {
                h->shut = 1;
                if (shutdown(dst, SHUT_WR) == -1 && errno != ENOTCONN)
                    return errno;
            }
            return 0;
        }
        if (h->buf == NULL) {
            h->buf = bufpool_get();
            if (h->buf == NULL)
                return ENOMEM;
        }
        ssize_t n = recv(src, h->buf->data, BUFPOOL_BUF_SIZE, 0);
        if (n == 0) {
            h->eof = 1;
            half_release(h);
            continue;
        }
        if (n == -1) {
            half_release(h);
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            return errno;
        }
        h->off = 0;
        h->len = (uint32_t)n;
        /* Write it now: most of the time the destination takes it all and the buffer goes
         * straight back to the pool. Then stop: one read per event. */
        n = send(dst, h->buf->data, h->len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            return errno;
        }
        h->len -= (uint32_t)n;
        h->off = (uint32_t)n;
        h->bytes += (uint64_t)n;
        if (h->len == 0)
            half_release(h);
        return 0;
    }
}

/* Registers the events each socket needs now: read while its outgoing direction has
 * nothing pending, write while the other direction has bytes waiting for it. */
static int
update_interest(struct relay *r)
{
    unsigned c = 0, m = 0;

    if (!r->up.eof && r->up.len == 0)
        c |= LOOP_READ;
    if (r->up.len > 0)
        m |= LOOP_WRITE;
    if (!r->down.eof && r->down.len == 0)
        m |= LOOP_READ;
    if (r->down.len > 0)
        c |= LOOP_WRITE;
    if (loop_io_set(r->loop, &r->client, c) == -1 || loop_io_set(r->loop, &r->remote, m) == -1)
        return errno;
    return 0;
}

static void
pump(struct relay *r, int pump_up, int pump_down)
{
    int err = 0;

    r->last_active_ms = loop_now(r->loop);
    if (pump_up)
        err = half_pump(&r->up, r->client.fd, r->remote.fd);
    if (err == 0 && pump_down)
        err = half_pump(&r->down, r->remote.fd, r->client.fd);
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

int
relay_start(struct relay *r, struct loop *loop, const void *initial, size_t initial_len)
{
    r->loop = loop;
    r->last_active_ms = loop_now(loop);
    r->client.cb = client_cb;
    r->remote.cb = remote_cb;
    memset(&r->up, 0, sizeof(r->up));
    memset(&r->down, 0, sizeof(r->down));
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

void
relay_stop(struct relay *r)
{
    half_release(&r->up);
    half_release(&r->down);
    if (r->loop != NULL) {
        loop_io_stop(r->loop, &r->client);
        loop_io_stop(r->loop, &r->remote);
    }
}
