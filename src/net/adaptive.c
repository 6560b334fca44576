#include "adaptive.h"

#include <string.h>

void
adaptive_init(struct adaptive *a, unsigned n)
{
    memset(a, 0, sizeof(*a));
    a->n = n > LINK_MAX ? LINK_MAX : n;
}

void
adaptive_sample(struct adaptive *a, const uint64_t *bytes, const uint64_t *active, uint64_t now_ms)
{
    double dt;

    if (a->primed && now_ms <= a->last_ms)
        return;
    dt = a->primed ? (double)(now_ms - a->last_ms) / 1000.0 : 0;
    for (unsigned i = 0; i < a->n; i++) {
        uint64_t moved = bytes[i] - a->last_bytes[i];

        if (a->primed && active[i] > 0 && moved >= ADAPTIVE_MIN_BYTES) {
            double sample = (double)moved / dt;

            a->rate[i] =
                a->rate[i] == 0 ? sample : a->rate[i] + ADAPTIVE_ALPHA * (sample - a->rate[i]);
        }
        a->last_bytes[i] = bytes[i];
    }
    a->last_ms = now_ms;
    a->primed = 1;
}

void
adaptive_weights(const struct adaptive *a, const unsigned *ratio, const uint32_t *latency_us,
                 uint32_t *weights)
{
    double w[LINK_MAX], per_ratio = 0, measured_ratio = 0, max = 0;
    uint32_t best_lat = 0;

    for (unsigned i = 0; i < a->n; i++) {
        if (a->rate[i] > 0) {
            per_ratio += a->rate[i];
            measured_ratio += ratio[i];
        }
        if (latency_us[i] != 0 && (best_lat == 0 || latency_us[i] < best_lat))
            best_lat = latency_us[i];
    }
    /* The prior, in the measured links' units: their rate per unit of ratio. */
    per_ratio = measured_ratio > 0 ? per_ratio / measured_ratio : 1;
    for (unsigned i = 0; i < a->n; i++) {
        w[i] = a->rate[i] > 0 ? a->rate[i] : per_ratio * ratio[i];
        if (latency_us[i] != 0 && best_lat != 0)
            w[i] /= 1.0 + (double)(latency_us[i] - best_lat) / 1e6;
        if (w[i] > max)
            max = w[i];
    }
    for (unsigned i = 0; i < a->n; i++) {
        double v = max > 0 ? w[i] / max : 1;

        if (v < ADAPTIVE_FLOOR)
            v = ADAPTIVE_FLOOR;
        weights[i] = (uint32_t)(v * ADAPTIVE_SCALE + 0.5);
        if (weights[i] == 0)
            weights[i] = 1;
    }
}
