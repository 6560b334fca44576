/* The sticky table: (client IP, destination host) -> link, for a TTL after last use.
 *
 * Bounded: a fixed number of entries chosen at creation, in 4-way sets; a new pair
 * replaces an expired entry of its set, or else the one used longest ago. One mutex:
 * this runs once per connection set-up, never on the data path. */
#ifndef DP_STICKY_H
#define DP_STICKY_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

struct sticky;

/* capacity: entries (rounded up to a power of two, at least 4). NULL if out of memory. */
struct sticky *sticky_new(unsigned capacity, uint64_t ttl_ms);
void sticky_free(struct sticky *t);

/* The link remembered for key, or -1 (none, or expired). A hit extends the TTL. */
int sticky_get(struct sticky *t, uint64_t key, uint64_t now_ms);
/* Remembers key -> link for the TTL from now. */
void sticky_put(struct sticky *t, uint64_t key, int link, uint64_t now_ms);
/* Entries alive at now_ms, and the table's fixed size. */
unsigned sticky_count(struct sticky *t, uint64_t now_ms);
unsigned sticky_capacity(const struct sticky *t);

/* A key for the client's IP (its port ignored) and the destination host as the client
 * named it (a name, compared without case, or the raw address bytes). Never 0. */
uint64_t sticky_key(const struct sockaddr *client, const void *host, size_t host_len);

#endif
