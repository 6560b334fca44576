/* One listener and its event loop (one per thread): accepting, limits, and the list of
 * live sessions. Shared across servers: the config, links, balancer and resolver. */
#ifndef DP_SERVER_H
#define DP_SERVER_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

#include "loop.h"
#include "session.h"

struct access;
struct config;
struct balancer;
struct resolver;
struct dns_settings;
struct dns_resolver;

/* What every server thread shares. */
struct shared {
    /* The configuration and the access rules in force: immutable snapshots that a reload
     * (SIGHUP) replaces whole; read them at connection start. Old ones stay until exit. */
    const struct config *_Atomic cfg;
    struct balancer *bal;
    struct resolver *resolver;
    const struct dns_settings *dns; /* per-link DNS; NULL: -dns system (getaddrinfo) */
    struct access *_Atomic access;  /* -allow, -auth: who may use the proxy */
    _Atomic unsigned n_clients;     /* live sessions, all threads */
    _Atomic uint64_t next_id;
    _Atomic uint64_t n_accepted, n_refused_full;
};

/* Who a loop's listening socket belongs to. */
enum server_listener {
    SERVER_LISTENER_OWN,    /* this loop's alone (SO_REUSEPORT, or one loop): closed at stop */
    SERVER_LISTENER_OWNER,  /* shared with other loops, this one closes it (at destroy) */
    SERVER_LISTENER_SHARED, /* shared, another loop's: only watched, never closed here */
};

struct server {
    struct loop *loop;
    struct shared *sh;
    struct dns_resolver *dns; /* this loop's per-link resolver, NULL with -dns system */
    os_sock listen_fd;
    enum server_listener listener;
    int read_at_accept; /* the listener defers accept until data: read at once */
    struct loop_io listen_io;
    struct loop_timer accept_pause; /* EMFILE back-off, max-clients wait */
    struct loop_work stop_work;
    LIST_HEAD(session_list, session) sessions;
    int stopping;
    int accept_failing; /* out of fds or memory: said once, until accepting works again */
};

/* Opens a listening socket on host:port (SO_REUSEPORT when reuseport; ENOPROTOOPT where
 * the platform cannot spread connections over several listeners that way). defer_accept:
 * the kernel hands a connection over only once the client has sent something (Linux
 * TCP_DEFER_ACCEPT; nowhere else): *defer_accept is cleared where that did not happen
 * (NULL: not wanted). Returns the fd or OS_SOCK_INVALID with os_errno(). */
os_sock server_listen(const char *host, uint16_t port, int reuseport, int *defer_accept);

/* Prepares a server on an already listening fd. A listener shared by several loops is
 * watched by each (each accepts from it; a loop that finds nothing moves on) and closed by
 * its SERVER_LISTENER_OWNER in server_destroy, once every loop has stopped watching it.
 * Returns 0 or -1. */
int server_init(struct server *srv, struct shared *sh, os_sock listen_fd,
                enum server_listener listener);
/* Runs the server's loop until server_stop. */
int server_run(struct server *srv);
/* Thread-safe: asks the server to stop accepting (closing a listener of its own), close its
 * sessions and return from run. */
void server_stop(struct server *srv);
void server_destroy(struct server *srv);

/* Session bookkeeping (session.c) */
void server_session_added(struct server *srv, struct session *s);
void server_session_removed(struct server *srv, struct session *s);

#endif
