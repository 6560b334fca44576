/* Making an outgoing connection leave by a link: pick the link (balancer), bind the
 * socket to the link's interface and source address, connect without blocking under a
 * per-attempt timer, and on a link-level failure try the next eligible link.
 *
 * Racing: when the first link has not connected after the race delay (-race-delay), a
 * second attempt starts on the next eligible link; the first to connect wins and the
 * other is closed. At most two attempts are in flight; each keeps its own connect timer
 * and moves on to the next link when it fails. The caller sees an error only when every
 * eligible link failed (or the destination itself answered, e.g. refused).
 *
 * Health reports (link.h): link-level errors (no route, interface or address gone) count
 * against a link at once; a timeout, or losing a race after starting first, counts only
 * once another link has connected for the same request, so a silent destination does not
 * take every link down. */
#ifndef DP_DIALER_H
#define DP_DIALER_H

#include <stdint.h>

#include "os.h"

#include "loop.h"

#define DIALER_MAX_ADDRS 8
#define DIALER_RACE_DELAY_MS 1500 /* default for -race-delay */

struct balancer;
struct link;
struct target;
struct dialer;
struct dialer_attempt;

/* What the connector (connector.c) adds to a dial, as steps of each attempt. Without
 * hooks an attempt connects to the dialer's own addresses and wins once connected. */
enum dialer_step { DIALER_READY = 0, DIALER_PENDING = 1, DIALER_FAILED = 2 };
struct dialer_hooks {
    /* Where the attempt's link connects to: sets a->addrs/a->n_addrs (READY), or will
     * call dialer_addrs_ready() (PENDING), or cannot (FAILED, *err: the cause). */
    enum dialer_step (*addrs)(struct dialer_attempt *a, int *err);
    /* The socket connected: READY wins now; PENDING: a handshake runs on a->io and ends
     * with dialer_handshake_done(); FAILED: *err says why (as a failed connect). */
    enum dialer_step (*connected)(struct dialer_attempt *a, int *err);
    /* What a connect error (or the attempt's timeout, DP_ERR_TIMEOUT) means on this
     * attempt's link: a refused connect to an upstream proxy, or one silent before the
     * destination is even named, is the link's failure, not the destination's answer. */
    int (*connect_error)(struct dialer_attempt *a, int err);
    /* The attempt leaves its link (failed, lost, cancelled): drop its step state. */
    void (*release)(struct dialer_attempt *a);
};

/* One connect in flight (or the slot idle: link -1). */
struct dialer_attempt {
    struct dialer *d;
    struct loop_io io;       /* the socket being connected (-1: none) */
    struct loop_timer timer; /* -connect-timeout for this attempt, handshake included */
    int link;                /* link index, -1 when the slot is idle */
    const struct sockaddr_storage *addrs; /* where this link connects to */
    unsigned n_addrs;                     /* 0 until the addrs hook said READY */
    int addrs_ready;
    unsigned addr_idx;      /* next address to try on this link */
    int trial;              /* this link is down and this request holds its one trial */
    uint64_t link_start_ms; /* when this slot started on its link */
    uint64_t conn_start_us; /* when the current connect() started */
};

struct dialer {
    struct loop *loop;
    struct balancer *bal;
    struct dialer_attempt att[2]; /* [0] first, [1] the racer */
    struct loop_timer race_timer; /* also the zero-delay start */
    unsigned timeout_ms;
    struct sockaddr_storage addrs[DIALER_MAX_ADDRS];
    unsigned n_addrs;
    uint32_t tried;    /* links done for this request (bit per link index) */
    uint32_t slow;     /* links that timed out or lost a race: failures if another wins */
    int link;          /* the winner, -1 before */
    int last_err;      /* errno or DP_ERR_* of the last failed attempt */
    int finished;      /* done() called or cancelled */
    uint64_t affinity; /* sticky key, 0: none */
    uint64_t id;       /* connection id for log lines */
    const struct dialer_hooks *hooks; /* NULL: plain connects to addrs */
    int pinned; /* 1: link `pin` only, no racing, no health verdicts (probes) */
    unsigned pin;
    struct loop_io out; /* the connected socket, still registered, until dialer_take() */
    /* Called once: fd >= 0 connected through links[link]; or fd -1 and err. */
    void (*done)(struct dialer *d, os_sock fd, int err);
};

/* Inside done() with fd >= 0: moves the connected socket and its event registration to
 * to (saves removing and re-adding it); then set to->cb and loop_io_set(to, ...). */
void dialer_take(struct dialer *d, struct loop_io *to);

/* Adds a candidate destination (AF_INET or AF_INET6, port set). Ignores extras. */
void dialer_add_addr(struct dialer *d, const struct sockaddr *sa);
/* Adds the target when it is an IP literal and returns 1; returns 0 for a host name,
 * which must be resolved first (dialer_add_addrinfo). */
struct target;
int dialer_add_target(struct dialer *d, const struct target *t);
/* Adds every address of a getaddrinfo() answer, in its order. */
void dialer_add_addrinfo(struct dialer *d, const struct addrinfo *res);

/* For -policy sticky: the client (its socket's peer address) and the host it asked for
 * make the affinity key. Costs a getpeername() only when the policy uses it. */
void dialer_set_affinity(struct dialer *d, struct balancer *bal, os_sock client_fd,
                         const struct target *t);

/* Starts dialing; done() is called later from the loop, never from inside this call. */
void dialer_start(struct dialer *d, struct loop *loop, struct balancer *bal, unsigned timeout_ms);

/* From the hooks: the addresses of a PENDING attempt are known (or failed); the
 * handshake of a PENDING attempt ended (err 0: the stream is ready). */
void dialer_addrs_ready(struct dialer_attempt *a);
void dialer_handshake_done(struct dialer_attempt *a, int err);

/* Stops an attempt in progress (closes its sockets); done() will not be called. */
void dialer_cancel(struct dialer *d);

/* The link a finished dial went through (NULL before). */
struct link *dialer_link(const struct dialer *d);

/* Process-wide: the delay before a second link is raced (0: no racing). Set before the
 * loops start. */
void dialer_set_race_delay(unsigned ms);

/* A non-blocking socket of family and type (SOCK_STREAM, SOCK_DGRAM) that leaves by
 * link l: bound to its interface and its source address (port 0: any), as every outgoing
 * socket of the proxy is, connections, DNS queries and datagrams alike. Returns it, or
 * OS_SOCK_INVALID with *err an errno (EADDRNOTAVAIL: the link has no address of family). */
os_sock dialer_socket(struct link *l, int family, int type, int *err);

/* Called once at start: whether sockets will be bound to interfaces (0 when this build
 * or platform cannot). */
int dialer_binds_device(void);

#endif
