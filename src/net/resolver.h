/* Name resolution off the loop thread: getaddrinfo() runs on a small pool of threads and
 * each answer is posted back to the loop that asked. */
#ifndef DP_RESOLVER_H
#define DP_RESOLVER_H

#include <stdint.h>

#include "os.h"

struct loop;
struct resolver;
struct resolve_req;

/* Called on the requesting loop's thread. err is 0 or an EAI_* code. res (may be NULL) is
 * owned by the callee, who frees it with freeaddrinfo(). */
typedef void (*resolve_cb)(void *arg, int err, struct addrinfo *res);

struct resolver *resolver_new(unsigned n_threads);
/* Stops the threads; requests still queued are dropped without a callback. */
void resolver_free(struct resolver *r);

/* Queues a lookup of host (TCP, any family). Returns a handle, or NULL when out of memory. */
struct resolve_req *resolver_submit(struct resolver *r, struct loop *loop, const char *host,
                                    uint16_t port, resolve_cb cb, void *arg);

/* Loop thread only: the callback will not be called; the request frees itself. */
void resolver_cancel(struct resolve_req *req);

#endif
