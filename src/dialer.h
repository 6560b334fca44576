/* Making an outgoing connection leave by a link: pick the link (balancer), bind the
 * socket to the link's interface and source address, connect without blocking under a
 * per-attempt timer, and on a link-level failure try the next eligible link. */
#ifndef DP_DIALER_H
#define DP_DIALER_H

#include <netdb.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

#define DIALER_MAX_ADDRS 8

struct balancer;
struct link;

struct dialer {
    struct loop *loop;
    struct balancer *bal;
    struct loop_io io; /* the socket being connected */
    struct loop_timer timer;
    unsigned timeout_ms;
    struct sockaddr_storage addrs[DIALER_MAX_ADDRS];
    unsigned n_addrs;
    unsigned addr_idx; /* next address to try on the current link */
    uint32_t tried;    /* links already tried for this request (bit per link index) */
    int link;          /* index of the link being tried, -1 before the first pick */
    int last_err;      /* errno or DP_ERR_* of the last failed attempt */
    uint64_t id;       /* connection id for log lines */
    /* Called once: fd >= 0 connected through links[link]; or fd -1 and err. */
    void (*done)(struct dialer *d, int fd, int err);
};

/* Adds a candidate destination (AF_INET or AF_INET6, port set). Ignores extras. */
void dialer_add_addr(struct dialer *d, const struct sockaddr *sa);
/* Adds every address of a getaddrinfo() answer, in its order. */
void dialer_add_addrinfo(struct dialer *d, const struct addrinfo *res);

/* Starts dialing; done() is called later from the loop, never from inside this call. */
void dialer_start(struct dialer *d, struct loop *loop, struct balancer *bal, unsigned timeout_ms);

/* Stops an attempt in progress (closes its socket); done() will not be called. */
void dialer_cancel(struct dialer *d);

/* The link a finished dial went through (NULL before). */
struct link *dialer_link(const struct dialer *d);

/* Called once at start: whether SO_BINDTODEVICE will be used (0 when this build or
 * platform cannot). */
int dialer_binds_device(void);

#endif
