/* The status listener (-status HOST:PORT, off by default): a small HTTP/1.1 server on
 * loop 0 for the status page (GET /), the JSON API (/api/status, /api/links, control by
 * POST /api/links/N/{drain,enable,ratio}) and Prometheus metrics (GET /metrics).
 *
 * Who may use it (docs/SECURITY.md): clients that -allow admits, with the -auth
 * credentials as HTTP Basic when -auth/-auth-file is set; every request must name this
 * host by an IP literal or "localhost" in Host (a DNS-rebound name is refused); a change
 * (POST) must carry Content-Type: application/json, which a web page on another origin
 * cannot send without a CORS preflight that this server never grants, and an Origin, if
 * present, equal to http://HOST. Each connection answers one request and closes. */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include <sys/queue.h>
#include <stdint.h>

#include "loop.h"
#include "os.h"

#define ADMIN_CONNS_MAX 32     /* status connections at once; more are closed at accept */
#define ADMIN_IN_MAX 16384     /* request head and body */
#define ADMIN_TIMEOUT_MS 10000 /* to send a request, and to take the answer */

struct status;
struct admin_conn;

struct admin {
    struct status *st;
    struct loop *loop;
    os_sock fd;
    struct loop_io io;
    uint16_t port; /* as bound (-status HOST:0 picks one) */
    unsigned n_conns;
    LIST_HEAD(admin_conn_list, admin_conn) conns;
};

/* Listens on host:port and serves on loop (loop 0, where st samples). Returns 0, or -1
 * with a one-line reason in err. Logs "Status page at http://HOST:PORT/". */
int admin_start(struct admin *a, struct status *st, struct loop *loop, const char *host,
                uint16_t port, char *err, size_t errlen);

/* Closes the listener and every connection. Call once the loops have stopped (before
 * they are freed). */
void admin_stop(struct admin *a);

#endif
