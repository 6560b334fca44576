/* Name resolution off the loop thread: getaddrinfo() runs on a small pool of threads and
 * each answer is posted back to the loop that asked.
 *
 * Bounded and fair, so that no burst of lookups (a server that never answers) can stall
 * everyone else's: at most RESOLVER_QUEUE_MAX lookups queued or running; one client (its
 * key) at most RESOLVER_PER_CLIENT queued and half the threads running; a cancelled
 * lookup leaves the queue at once; literals, "localhost" and names in the hosts file are
 * answered without the queue. Stopping never waits for a lookup in progress. */
#ifndef DP_RESOLVER_H
#define DP_RESOLVER_H

#include <stdint.h>

#include "os.h"

#define RESOLVER_QUEUE_MAX 256 /* lookups queued or running, all clients */
#define RESOLVER_PER_CLIENT 16 /* lookups of one client queued or running */

struct loop;
struct resolver;
struct resolve_req;

/* Called on the requesting loop's thread. err is 0 or an EAI_* code. res (may be NULL) is
 * valid during the call only: the resolver frees it afterwards. */
typedef void (*resolve_cb)(void *arg, int err, const struct addrinfo *res);

struct resolver *resolver_new(unsigned n_threads);
/* Stops the threads without waiting for lookups in progress (their threads end when
 * getaddrinfo returns); requests still queued are dropped without a callback. */
void resolver_free(struct resolver *r);

/* Looks host up (TCP, any family) for the client key (0: no client, such as an upstream
 * proxy's name: only the global bound applies). Returns a handle, or NULL with os_errno()
 * EAGAIN when the queue (or this client's share) is full, ENOMEM when out of memory. The
 * callback is never called from inside this call. */
struct resolve_req *resolver_submit(struct resolver *r, struct loop *loop, const char *host,
                                    uint16_t port, uint64_t key, resolve_cb cb, void *arg);

/* Loop thread only: the callback will not be called; a queued lookup leaves the queue. */
void resolver_cancel(struct resolve_req *req);

/* A client key from its address (0 when sa is NULL or not IPv4/IPv6). */
uint64_t resolver_client_key(const struct sockaddr *sa);

#endif
