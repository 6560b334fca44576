/* -policy adaptive arithmetic: delivery samples, EWMA, the ratio prior, the latency
 * penalty and the floor. */
#include <string.h>

#include "adaptive.h"
#include "unit.h"

#define MB 1000000ull

static struct adaptive ad;

/* Feeds one second per step: rates[i] bytes/s through link i (0: idle, no connection). */
static void
run_seconds(unsigned n, const uint64_t *rates, unsigned seconds, uint64_t *t, uint64_t *bytes)
{
    uint64_t active[LINK_MAX] = {0};

    for (unsigned i = 0; i < n; i++)
        active[i] = rates[i] > 0;
    for (unsigned s = 0; s < seconds; s++) {
        for (unsigned i = 0; i < n; i++)
            bytes[i] += rates[i];
        *t += 1000;
        adaptive_sample(&ad, bytes, active, *t);
    }
}

static void
weights_of(unsigned n, const unsigned *ratio, const uint32_t *lat, uint32_t *w)
{
    adaptive_weights(&ad, ratio, lat, w);
    (void)n;
}

TEST(unmeasured_weights_are_the_ratios)
{
    uint32_t w[2], lat[2] = {0, 0};

    adaptive_init(&ad, 2);
    weights_of(2, (unsigned[]){3, 1}, lat, w);
    ASSERT_EQ(w[0], ADAPTIVE_SCALE);
    ASSERT_EQ(w[1], ADAPTIVE_SCALE / 3); /* 333333.3 rounds down */
}

TEST(measured_rates_become_the_weights)
{
    uint64_t t = 0, bytes[2] = {0, 0};
    uint32_t w[2], lat[2] = {0, 0};

    adaptive_init(&ad, 2);
    adaptive_sample(&ad, bytes, (uint64_t[]){0, 0}, t);
    run_seconds(2, (uint64_t[]){30 * MB / 8, 10 * MB / 8}, 5, &t, bytes);
    ASSERT_EQ((uint64_t)(ad.rate[0] + 0.5), 30 * MB / 8);
    ASSERT_EQ((uint64_t)(ad.rate[1] + 0.5), 10 * MB / 8);
    weights_of(2, (unsigned[]){1, 1}, lat, w); /* the 1:1 prior is overruled */
    ASSERT_EQ(w[0], ADAPTIVE_SCALE);
    ASSERT_EQ(w[1], ADAPTIVE_SCALE / 3);
}

TEST(rate_is_an_ewma)
{
    uint64_t t = 0, bytes[1] = {0};

    adaptive_init(&ad, 1);
    adaptive_sample(&ad, bytes, (uint64_t[]){0}, t);
    run_seconds(1, (uint64_t[]){1000000}, 1, &t, bytes);
    ASSERT_EQ((uint64_t)ad.rate[0], 1000000);
    run_seconds(1, (uint64_t[]){2000000}, 1, &t, bytes);
    /* 1 MB/s + 0.3 * (2 - 1) MB/s */
    ASSERT_EQ((uint64_t)(ad.rate[0] + 0.5), 1300000);
}

TEST(idle_intervals_do_not_lower_the_rate)
{
    uint64_t t = 0, bytes[2] = {0, 0};

    adaptive_init(&ad, 2);
    adaptive_sample(&ad, bytes, (uint64_t[]){0, 0}, t);
    run_seconds(2, (uint64_t[]){4 * MB, 4 * MB}, 3, &t, bytes);
    run_seconds(2, (uint64_t[]){4 * MB, 0}, 10, &t, bytes); /* link 1 idle: no sample */
    ASSERT_EQ((uint64_t)(ad.rate[1] + 0.5), 4 * MB);
}

TEST(tiny_trickles_are_not_samples)
{
    uint64_t t = 0, bytes[1] = {0}, active[1] = {1};

    adaptive_init(&ad, 1);
    adaptive_sample(&ad, bytes, active, t);
    bytes[0] += 1000; /* a keep-alive's worth */
    adaptive_sample(&ad, bytes, active, t + 1000);
    ASSERT(ad.rate[0] == 0);
}

TEST(unmeasured_link_takes_the_measured_rate_per_ratio_as_prior)
{
    uint64_t t = 0, bytes[3] = {0, 0, 0};
    uint32_t w[3], lat[3] = {0, 0, 0};

    adaptive_init(&ad, 3);
    adaptive_sample(&ad, bytes, (uint64_t[]){0, 0, 0}, t);
    run_seconds(3, (uint64_t[]){2 * MB, 0, 0}, 4, &t, bytes); /* only link 0 measured */
    weights_of(3, (unsigned[]){2, 1, 4}, lat, w);
    /* 1 MB/s per unit of ratio: link 1 -> 1 MB/s, link 2 -> 4 MB/s (the largest). */
    ASSERT_EQ(w[2], ADAPTIVE_SCALE);
    ASSERT_EQ(w[0], ADAPTIVE_SCALE / 2);
    ASSERT_EQ(w[1], ADAPTIVE_SCALE / 4);
}

TEST(each_second_of_extra_latency_halves_a_weight)
{
    uint32_t w[2];

    adaptive_init(&ad, 2);
    weights_of(2, (unsigned[]){1, 1}, (uint32_t[]){20000, 1020000}, w);
    ASSERT_EQ(w[0], ADAPTIVE_SCALE);
    ASSERT_EQ(w[1], ADAPTIVE_SCALE / 2);
}

TEST(weights_never_drop_below_the_floor)
{
    uint64_t t = 0, bytes[2] = {0, 0};
    uint32_t w[2], lat[2] = {0, 0};

    adaptive_init(&ad, 2);
    adaptive_sample(&ad, bytes, (uint64_t[]){0, 0}, t);
    run_seconds(2, (uint64_t[]){100 * MB, 100000}, 5, &t, bytes);
    weights_of(2, (unsigned[]){1, 1}, lat, w);
    ASSERT_EQ(w[0], ADAPTIVE_SCALE);
    ASSERT_EQ(w[1], (uint32_t)(ADAPTIVE_FLOOR * ADAPTIVE_SCALE + 0.5));
}

int
main(void)
{
    RUN(unmeasured_weights_are_the_ratios);
    RUN(measured_rates_become_the_weights);
    RUN(rate_is_an_ewma);
    RUN(idle_intervals_do_not_lower_the_rate);
    RUN(tiny_trickles_are_not_samples);
    RUN(unmeasured_link_takes_the_measured_rate_per_ratio_as_prior);
    RUN(each_second_of_extra_latency_halves_a_weight);
    RUN(weights_never_drop_below_the_floor);
    UNIT_MAIN_END("adaptive");
}
