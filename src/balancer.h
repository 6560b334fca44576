/* Choosing a link for a new connection: smooth weighted round robin.
 *
 * The schedule is precomputed (length = sum of ratios, at most BALANCER_MAX_SLOTS) with the
 * "smooth" interleaving (3:2 -> a b a b a), and one atomic counter walks it, so the
 * ratio holds exactly process-wide even with several loop threads. */
#ifndef DP_BALANCER_H
#define DP_BALANCER_H

#include <stdatomic.h>
#include <stdint.h>

#include "link.h"

#define BALANCER_MAX_SLOTS 4096

struct balancer {
    struct link *links;
    unsigned n_links;
    uint8_t schedule[BALANCER_MAX_SLOTS]; /* link indices */
    unsigned n_slots;
    _Atomic uint64_t seq;
};

/* Returns 0, or -1 when the ratios add up to more than BALANCER_MAX_SLOTS. */
int balancer_init(struct balancer *b, struct link *links, unsigned n_links);

/* Family eligibility masks. */
#define BAL_FAMILY_V4 1u
#define BAL_FAMILY_V6 2u

/* Picks the next link that serves one of the families in family_mask (a link serves v4
 * if it has_v4, etc.) and whose index bit is clear in exclude. Links in backoff are
 * skipped while any other eligible link is not in backoff. Returns the link index, or -1
 * if none is eligible. */
int balancer_pick(struct balancer *b, unsigned family_mask, uint32_t exclude, uint64_t now_ms);

#endif
