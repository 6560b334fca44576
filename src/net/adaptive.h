/* The arithmetic of -policy adaptive: what each link really delivers, and the weights
 * that follow from it. Pure: fed with counter samples, no clock or threads of its own.
 *
 * Delivery: the bytes a link moved (both ways) per second, sampled about once a second
 * while the link has active connections and moved at least ADAPTIVE_MIN_BYTES in the
 * interval (an idle keep-alive says nothing about capacity), smoothed by an EWMA. Links
 * that were never measured take their ratio as a prior: the measured links' rate per
 * unit of ratio, times their own ratio. Connect latency lowers a weight: each second of
 * latency above the best link's halves it (1 / (1 + extra s)). Every weight is kept at
 * ADAPTIVE_FLOOR of the largest at least, so a slow link still gets a few connections and
 * keeps being measured. */
#ifndef DP_ADAPTIVE_H
#define DP_ADAPTIVE_H

#include <stdint.h>

#include "link.h"

#define ADAPTIVE_ALPHA 0.3        /* EWMA weight of a new sample */
#define ADAPTIVE_MIN_BYTES 65536u /* a sample counts only if this much moved */
#define ADAPTIVE_FLOOR 0.05       /* least weight, as a fraction of the largest */
#define ADAPTIVE_SCALE 1000000u   /* the largest weight */

struct adaptive {
    unsigned n;
    double rate[LINK_MAX]; /* bytes/s, 0: not measured yet */
    uint64_t last_bytes[LINK_MAX];
    uint64_t last_ms;
    int primed; /* last_bytes/last_ms hold a sample */
};

void adaptive_init(struct adaptive *a, unsigned n);

/* One sample at now_ms: each link's byte total so far and its active connections. */
void adaptive_sample(struct adaptive *a, const uint64_t *bytes, const uint64_t *active,
                     uint64_t now_ms);

/* Weights (1..ADAPTIVE_SCALE) from the rates, the ratios (prior) and the connect latency
 * EWMAs in microseconds (0: unknown). */
void adaptive_weights(const struct adaptive *a, const unsigned *ratio, const uint32_t *latency_us,
                      uint32_t *weights);

#endif
