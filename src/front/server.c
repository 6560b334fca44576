#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "balancer.h"
#include "common.h"
#include "config.h"
#include "dns_resolver.h"
#include "log.h"
#include "os.h"
#include "sockopt.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100 /* after EMFILE/ENFILE or max-clients: wait, never spin */
/* TCP_DEFER_ACCEPT: a client silent this long is handed over anyway (then the handshake
 * timeout runs). Every client of ours speaks first, so its first bytes come with it. */
#define DEFER_ACCEPT_S 1

os_sock
server_listen(const char *host, uint16_t port, int reuseport, int *defer_accept)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[8];
    os_sock fd = OS_SOCK_INVALID;
    int err;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    err = getaddrinfo(host, portstr, &hints, &res);
    if (err != 0) {
        os_set_errno(EADDRNOTAVAIL);
        return OS_SOCK_INVALID;
    }
    fd = os_socket(res->ai_family, SOCK_STREAM, 0);
    if (fd == OS_SOCK_INVALID)
        goto fail;
    /* SO_REUSEPORT where each loop has its own listener; a platform without it shares
     * one listener between the loops (the caller falls back). */
    if (os_set_listener_opts(fd, res->ai_family, reuseport) == -1)
        goto fail;
    if (defer_accept != NULL && *defer_accept && os_set_defer_accept(fd, DEFER_ACCEPT_S) == -1)
        *defer_accept = 0;
    /* Accepted sockets inherit these on Linux: keepalive finds vanished clients, and no
     * Nagle delay on handshake replies. */
    sockopt_keepalive(fd);
    os_set_nodelay(fd);
    if (bind(fd, res->ai_addr, (socklen_t)res->ai_addrlen) == -1)
        goto fail;
    if (listen(fd, 4096) == -1)
        goto fail;
    freeaddrinfo(res);
    return fd;

fail:
    err = os_errno();
    if (fd != OS_SOCK_INVALID)
        os_close(fd);
    freeaddrinfo(res);
    os_set_errno(err);
    return OS_SOCK_INVALID;
}

static void accept_cb(struct loop_io *io, unsigned events);

static void
resume_accept(struct loop_timer *t)
{
    struct server *srv = container_of(t, struct server, accept_pause);
    if (!srv->stopping)
        loop_io_set(srv->loop, &srv->listen_io, LOOP_READ);
}

static void
pause_accept(struct server *srv)
{
    loop_io_set(srv->loop, &srv->listen_io, 0);
    loop_timer_start(srv->loop, &srv->accept_pause, ACCEPT_PAUSE_MS);
}

static void
accept_cb(struct loop_io *io, unsigned events)
{
    struct server *srv = container_of(io, struct server, listen_io);
    const struct config *cfg = srv->sh->cfg;

    DP_UNUSED(events);
    for (int i = 0; i < ACCEPT_BATCH && !srv->stopping; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        os_sock fd = os_accept(io->fd, (struct sockaddr *)&peer, &plen);

        if (fd == OS_SOCK_INVALID) {
            int err = os_errno();

            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                if (!srv->accept_failing)
                    log_warn("accept: %s; new connections wait (retrying every %d ms)",
                             os_strerror(err), ACCEPT_PAUSE_MS);
                srv->accept_failing = 1;
                pause_accept(srv);
            }
            /* EAGAIN: drained; ECONNABORTED and the like: the client is gone already. */
            return;
        }
        if (srv->accept_failing) {
            srv->accept_failing = 0;
            log_info("accepting new connections again");
        }
        atomic_fetch_add_explicit(&srv->sh->n_accepted, 1, memory_order_relaxed);
        if (atomic_load_explicit(&srv->sh->n_clients, memory_order_relaxed) >= cfg->max_clients) {
            /* Refuse cleanly: the client sees a close, the others keep working. */
            atomic_fetch_add_explicit(&srv->sh->n_refused_full, 1, memory_order_relaxed);
            log_debug("refusing a client: %u clients already (-max-clients)", cfg->max_clients);
            os_close(fd);
            continue;
        }
        session_start(srv, fd, (struct sockaddr *)&peer);
    }
}

void
server_session_added(struct server *srv, struct session *s)
{
    LIST_INSERT_HEAD(&srv->sessions, s, entry);
    atomic_fetch_add_explicit(&srv->sh->n_clients, 1, memory_order_relaxed);
}

void
server_session_removed(struct server *srv, struct session *s)
{
    LIST_REMOVE(s, entry);
    atomic_fetch_sub_explicit(&srv->sh->n_clients, 1, memory_order_relaxed);
}

static void
stop_cb(struct loop_work *w)
{
    struct server *srv = container_of(w, struct server, stop_work);

    srv->stopping = 1;
    loop_timer_stop(srv->loop, &srv->accept_pause);
    if (srv->listen_fd != OS_SOCK_INVALID) {
        loop_io_stop(srv->loop, &srv->listen_io);
        /* A shared listener may still be watched by another loop (poll or WSAPoll on a
         * closed socket is undefined): its owner closes it in server_destroy. */
        if (srv->listener == SERVER_LISTENER_OWN)
            os_close(srv->listen_fd);
        if (srv->listener != SERVER_LISTENER_OWNER)
            srv->listen_fd = OS_SOCK_INVALID;
    }
    while (!LIST_EMPTY(&srv->sessions))
        session_close(LIST_FIRST(&srv->sessions));
    loop_stop(srv->loop);
}

int
server_init(struct server *srv, struct shared *sh, os_sock listen_fd, enum server_listener listener)
{
    memset(srv, 0, sizeof(*srv));
    srv->sh = sh;
    srv->listen_fd = listen_fd;
    srv->listener = listener;
    LIST_INIT(&srv->sessions);
    srv->loop = loop_new();
    if (srv->loop == NULL)
        return -1;
    if (sh->dns != NULL) {
        srv->dns = dns_resolver_new(srv->loop, sh->bal->links, &sh->bal->n_links, sh->dns);
        if (srv->dns == NULL) {
            loop_free(srv->loop);
            srv->loop = NULL;
            return -1;
        }
    }
    loop_io_init(&srv->listen_io, listen_fd, accept_cb);
    loop_timer_init(&srv->accept_pause, resume_accept);
    srv->stop_work.cb = stop_cb;
    if (loop_io_set(srv->loop, &srv->listen_io, LOOP_READ) == -1) {
        dns_resolver_free(srv->dns);
        srv->dns = NULL;
        loop_free(srv->loop);
        srv->loop = NULL;
        return -1;
    }
    return 0;
}

int
server_run(struct server *srv)
{
    return loop_run(srv->loop);
}

void
server_stop(struct server *srv)
{
    loop_post(srv->loop, &srv->stop_work);
}

void
server_destroy(struct server *srv)
{
    if (srv->listen_fd != OS_SOCK_INVALID && srv->listener != SERVER_LISTENER_SHARED) {
        os_close(srv->listen_fd);
        srv->listen_fd = OS_SOCK_INVALID;
    }
    dns_resolver_free(srv->dns);
    srv->dns = NULL;
    loop_free(srv->loop);
    srv->loop = NULL;
}
