/* Balancer: the smooth weighted round robin schedule, exact ratios per cycle, family and
 * exclude filtering, backoff. Links are built by hand: no interface is looked at. */
#include <pthread.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "log.h"
#include "unit.h"

#define V4 BAL_FAMILY_V4
#define V6 BAL_FAMILY_V6
#define NOW 1000000u

static struct link links[LINK_MAX];
static struct balancer bal;

/* Sets up n links with the given ratios; all dual-stack and healthy. */
static int
setup(unsigned n, const unsigned *ratios)
{
    for (unsigned i = 0; i < LINK_MAX; i++) {
        struct link_spec spec = {.kind = LINK_IFACE, .ratio = i < n ? ratios[i] : 1};

        snprintf(spec.name, sizeof(spec.name), "l%u", i);
        link_reset(&links[i], &spec);
        links[i].index = i;
        links[i].has_v4 = 1;
        links[i].has_v6 = 1;
    }
    return balancer_init(&bal, links, n);
}

/* Picks count links and writes them as letters ('a' = link 0) into out. */
static void
pick_string(char *out, unsigned count, unsigned family_mask, uint32_t exclude, uint64_t now)
{
    for (unsigned i = 0; i < count; i++) {
        int k = balancer_pick(&bal, family_mask, exclude, now);

        out[i] = k < 0 ? '-' : (char)('a' + k);
    }
    out[count] = '\0';
}

TEST(one_to_one_alternates)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    ASSERT_EQ(balancer_sched(&bal)->n_slots, 2);
    pick_string(got, 6, V4, 0, NOW);
    ASSERT_STR_EQ(got, "ababab");
}

TEST(three_to_two_is_a_b_a_b_a)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    ASSERT_EQ(balancer_sched(&bal)->n_slots, 5);
    pick_string(got, 10, V4, 0, NOW);
    ASSERT_STR_EQ(got, "ababaababa");
}

TEST(five_one_one_is_nginx_sequence)
{
    char got[16];

    ASSERT_EQ(setup(3, (unsigned[]){5, 1, 1}), 0);
    pick_string(got, 7, V4, 0, NOW);
    ASSERT_STR_EQ(got, "aabacaa");
}

TEST(single_link_is_always_picked)
{
    ASSERT_EQ(setup(1, (unsigned[]){1}), 0);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(balancer_pick(&bal, V4 | V6, 0, NOW), 0);
}

TEST(ten_three_seven_sequence)
{
    char got[32];

    ASSERT_EQ(setup(3, (unsigned[]){10, 3, 7}), 0);
    pick_string(got, 20, V4, 0, NOW);
    ASSERT_STR_EQ(got, "acabcaacabcacaacbaca");
}

/* Over every window of sum(ratios) picks starting at a cycle boundary, each link is
 * picked exactly ratio times, and within a cycle no link runs a whole pick ahead of or
 * behind its exact share (the "smooth" part). */
static void
check_cycles(unsigned n, const unsigned *ratios, unsigned cycles)
{
    unsigned total = 0;

    ASSERT_EQ(setup(n, ratios), 0);
    for (unsigned i = 0; i < n; i++)
        total += ratios[i];
    ASSERT_EQ(balancer_sched(&bal)->n_slots, total);
    for (unsigned c = 0; c < cycles; c++) {
        unsigned count[LINK_MAX] = {0};

        for (unsigned t = 1; t <= total; t++) {
            int k = balancer_pick(&bal, V4, 0, NOW);

            ASSERT(k >= 0 && (unsigned)k < n);
            count[k]++;
            for (unsigned i = 0; i < n; i++) {
                /* |count - t * ratio / total| < 1, in integers */
                long long d = (long long)count[i] * total - (long long)t * ratios[i];

                if (d < 0)
                    d = -d;
                if (d >= (long long)total)
                    UNIT_FAIL("cycle %u step %u: link %u has %u picks, share %.2f", c, t, i,
                              count[i], (double)t * ratios[i] / total);
            }
        }
        for (unsigned i = 0; i < n; i++)
            if (count[i] != ratios[i])
                UNIT_FAIL("cycle %u: link %u picked %u times, ratio %u", c, i, count[i], ratios[i]);
    }
}

TEST(exact_counts_per_cycle_1_1)
{
    check_cycles(2, (unsigned[]){1, 1}, 50);
}

TEST(exact_counts_per_cycle_3_2)
{
    check_cycles(2, (unsigned[]){3, 2}, 50);
}

TEST(exact_counts_per_cycle_5_1_1)
{
    check_cycles(3, (unsigned[]){5, 1, 1}, 50);
}

TEST(exact_counts_per_cycle_10_3_7)
{
    check_cycles(3, (unsigned[]){10, 3, 7}, 50);
}

TEST(exact_counts_per_cycle_1000_1)
{
    check_cycles(2, (unsigned[]){1000, 1}, 5);
}

TEST(exact_counts_per_cycle_32_links)
{
    unsigned ratios[LINK_MAX];

    for (unsigned i = 0; i < LINK_MAX; i++)
        ratios[i] = i % 7 + 1;
    check_cycles(LINK_MAX, ratios, 20);
}

TEST(schedule_up_to_max_slots_is_accepted)
{
    ASSERT_EQ(setup(5, (unsigned[]){1000, 1000, 1000, 1000, 96}), 0);
    ASSERT_EQ(balancer_sched(&bal)->n_slots, BALANCER_MAX_SLOTS);
}

TEST(schedule_over_max_slots_is_refused)
{
    ASSERT_EQ(setup(5, (unsigned[]){1000, 1000, 1000, 1000, 97}), -1);
    ASSERT_EQ(balancer_pick(&bal, V4 | V6, 0, NOW), -1);
}

TEST(no_links_or_zero_ratio_is_refused)
{
    ASSERT_EQ(setup(0, (unsigned[]){1}), -1);
    ASSERT_EQ(setup(2, (unsigned[]){1, 0}), -1);
    ASSERT_EQ(balancer_init(&bal, links, LINK_MAX + 1), -1);
}

TEST(v6_destination_never_goes_to_v4_only_link)
{
    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    links[0].has_v6 = 0; /* a: IPv4 only */
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(balancer_pick(&bal, V6, 0, NOW), 1);
}

TEST(v4_destination_never_goes_to_v6_only_link)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    links[1].has_v4 = 0;
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 0);
}

TEST(either_family_mask_uses_all_links)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    links[0].has_v6 = 0;
    links[1].has_v4 = 0;
    pick_string(got, 5, V4 | V6, 0, NOW);
    ASSERT_STR_EQ(got, "ababa");
}

TEST(no_link_of_the_family_gives_minus_one)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    links[0].has_v6 = 0;
    links[1].has_v6 = 0;
    ASSERT_EQ(balancer_pick(&bal, V6, 0, NOW), -1);
    ASSERT_EQ(balancer_pick(&bal, 0, 0, NOW), -1);
}

/* When a link cannot serve a family, the others keep their ratios among themselves:
 * with a b c at 1:1:1 and a v4-only, v6 goes 1:1 to b and c (not 2:1). */
TEST(filtered_links_keep_ratios_among_themselves)
{
    unsigned count[3] = {0};

    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    links[0].has_v6 = 0;
    for (int i = 0; i < 600; i++) {
        int k = balancer_pick(&bal, V6, 0, NOW);

        ASSERT(k == 1 || k == 2);
        count[k]++;
    }
    ASSERT_EQ(count[1], 300);
    ASSERT_EQ(count[2], 300);
}

TEST(filtered_ratios_hold_for_unequal_weights)
{
    unsigned count[3] = {0};

    ASSERT_EQ(setup(3, (unsigned[]){4, 3, 1}), 0);
    links[0].has_v6 = 0;
    for (int i = 0; i < 4000; i++) /* a multiple of both 8 and 4 */
        count[balancer_pick(&bal, V6, 0, NOW)]++;
    ASSERT_EQ(count[0], 0);
    ASSERT_EQ(count[1], 3000);
    ASSERT_EQ(count[2], 1000);
}

TEST(exclude_mask_skips_links)
{
    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    for (int i = 0; i < 300; i++)
        ASSERT_EQ(balancer_pick(&bal, V4, 1u << 0 | 1u << 2, NOW), 1);
    for (int i = 0; i < 300; i++)
        ASSERT(balancer_pick(&bal, V4, 1u << 1, NOW) != 1);
}

TEST(exclude_all_gives_minus_one)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    ASSERT_EQ(balancer_pick(&bal, V4 | V6, 3, NOW), -1);
}

TEST(exclude_works_for_link_31)
{
    unsigned ratios[LINK_MAX];

    for (unsigned i = 0; i < LINK_MAX; i++)
        ratios[i] = 1;
    ASSERT_EQ(setup(LINK_MAX, ratios), 0);
    for (int i = 0; i < 320; i++)
        ASSERT(balancer_pick(&bal, V4, UINT32_C(1) << 31, NOW) != 31);
    ASSERT_EQ(balancer_pick(&bal, V4, ~UINT32_C(1), NOW), 0);
}

TEST(backed_off_link_is_skipped_until_backoff_ends)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    link_note_failure(&links[0], ENETUNREACH, NOW); /* 1 s */
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW + 999), 1);
    /* At NOW + 1000 the backoff is over: back to a b a b. */
    unsigned count[2] = {0};
    for (int i = 0; i < 100; i++)
        count[balancer_pick(&bal, V4, 0, NOW + 1000)]++;
    ASSERT_EQ(count[0], 50);
    ASSERT_EQ(count[1], 50);
}

TEST(backed_off_link_returns_after_success)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    link_note_failure(&links[1], ENETUNREACH, NOW);
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 0);
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 0);
    link_note_success(&links[1], 0);
    unsigned seen_b = 0;
    for (int i = 0; i < 4; i++)
        seen_b += balancer_pick(&bal, V4, 0, NOW) == 1;
    ASSERT_EQ(seen_b, 2);
}

TEST(healthy_links_share_a_backed_off_links_turns_by_ratio)
{
    unsigned count[3] = {0};

    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    link_note_failure(&links[0], ENETUNREACH, NOW);
    for (int i = 0; i < 600; i++)
        count[balancer_pick(&bal, V4, 0, NOW)]++;
    ASSERT_EQ(count[0], 0);
    ASSERT_EQ(count[1], 300);
    ASSERT_EQ(count[2], 300);
}

TEST(all_backed_off_still_picks_in_schedule_order)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    link_note_failure(&links[0], ENETUNREACH, NOW);
    link_note_failure(&links[1], ENETUNREACH, NOW);
    pick_string(got, 10, V4, 0, NOW);
    ASSERT_STR_EQ(got, "ababaababa");
}

TEST(all_eligible_backed_off_falls_back_to_eligible_only)
{
    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    links[2].has_v6 = 0; /* c cannot serve v6 and is healthy */
    link_note_failure(&links[0], ENETUNREACH, NOW);
    link_note_failure(&links[1], ENETUNREACH, NOW);
    for (int i = 0; i < 100; i++) {
        int k = balancer_pick(&bal, V6, 0, NOW);

        ASSERT(k == 0 || k == 1);
    }
    /* Excluded links stay excluded even in the fallback. */
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(balancer_pick(&bal, V6, 1u << 0, NOW), 1);
    ASSERT_EQ(balancer_pick(&bal, V6, 1u << 0 | 1u << 1, NOW), -1);
}

/* ---- health: down links ---- */

static void
make_down(unsigned i, uint64_t now)
{
    links[i].fail_threshold = 1;
    link_note_failure(&links[i], ENETUNREACH, now);
}

TEST(down_link_is_skipped_and_the_others_keep_their_ratios)
{
    unsigned count[3] = {0};

    ASSERT_EQ(setup(3, (unsigned[]){3, 1, 2}), 0);
    links[1].trials = 0; /* as with -probe: no real connection retries it */
    make_down(1, NOW);
    for (int i = 0; i < 5000; i++)
        count[balancer_pick(&bal, V4, 0, NOW + 100000)]++;
    ASSERT_EQ(count[1], 0);
    ASSERT_EQ(count[0], 3000);
    ASSERT_EQ(count[2], 2000);
}

TEST(all_down_links_are_still_tried)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    links[0].trials = links[1].trials = 0;
    make_down(0, NOW);
    make_down(1, NOW);
    pick_string(got, 4, V4, 0, NOW);
    ASSERT_STR_EQ(got, "abab");
}

TEST(down_link_gets_exactly_one_trial_when_due)
{
    struct balancer_req r = {.family_mask = V4, .now_ms = NOW + 1000};
    unsigned trials = 0, count[2] = {0};

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    make_down(0, NOW);
    for (int i = 0; i < 100; i++) {
        int k = balancer_choose(&bal, &r);

        count[k]++;
        trials += r.trial;
        if (r.trial)
            ASSERT_EQ(k, 0);
    }
    ASSERT_EQ(trials, 1);
    ASSERT_EQ(count[0], 1);
    ASSERT_EQ(count[1], 99);
    link_note_success(&links[0], NOW + 1100); /* the trial worked */
    for (int i = 0; i < 100; i++)
        count[balancer_choose(&bal, &r)]++;
    ASSERT_EQ(count[0], 51);
}

TEST(no_trial_before_it_is_due)
{
    struct balancer_req r = {.family_mask = V4, .now_ms = NOW + 999};

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    make_down(0, NOW);
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(balancer_choose(&bal, &r), 1);
        ASSERT_EQ(r.trial, 0);
    }
}

TEST(suspect_links_are_preferred_to_down_ones)
{
    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    links[0].trials = 0;
    make_down(0, NOW);
    link_note_failure(&links[1], ENETUNREACH, NOW); /* suspect, resting */
    link_note_failure(&links[2], ENETUNREACH, NOW);
    for (int i = 0; i < 100; i++)
        ASSERT(balancer_pick(&bal, V4, 0, NOW) != 0);
}

/* ---- lc ---- */

TEST(lc_picks_the_least_loaded_link)
{
    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    balancer_set_policy(&bal, POLICY_LC, 0, 0);
    atomic_store(&links[0].n_active, 5);
    atomic_store(&links[1].n_active, 2);
    atomic_store(&links[2].n_active, 3);
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 1);
    atomic_store(&links[1].n_connecting, 2); /* connecting counts too: 4 */
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 2);
    balancer_destroy(&bal);
}

TEST(lc_divides_load_by_ratio)
{
    ASSERT_EQ(setup(2, (unsigned[]){3, 1}), 0);
    balancer_set_policy(&bal, POLICY_LC, 0, 0);
    atomic_store(&links[0].n_active, 5); /* 5/3 < 2/1 */
    atomic_store(&links[1].n_active, 2);
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 0);
    atomic_store(&links[0].n_active, 7); /* 7/3 > 2/1 */
    ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 1);
    balancer_destroy(&bal);
}

/* Long connections piling up: lc keeps the links' loads in the ratio. */
TEST(lc_spreads_concurrent_connections_by_ratio)
{
    ASSERT_EQ(setup(2, (unsigned[]){3, 1}), 0);
    balancer_set_policy(&bal, POLICY_LC, 0, 0);
    for (int i = 0; i < 400; i++) {
        int k = balancer_pick(&bal, V4, 0, NOW);
        atomic_fetch_add(&links[k].n_active, 1);
    }
    ASSERT_EQ(atomic_load(&links[0].n_active), 300);
    ASSERT_EQ(atomic_load(&links[1].n_active), 100);
    balancer_destroy(&bal);
}

TEST(lc_ties_follow_the_wrr_schedule)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    balancer_set_policy(&bal, POLICY_LC, 0, 0);
    pick_string(got, 10, V4, 0, NOW); /* nothing ever active: all ties */
    ASSERT_STR_EQ(got, "ababaababa");
    balancer_destroy(&bal);
}

TEST(lc_skips_down_links)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    balancer_set_policy(&bal, POLICY_LC, 0, 0);
    links[0].trials = 0;
    make_down(0, NOW);
    atomic_store(&links[1].n_active, 100);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(balancer_pick(&bal, V4, 0, NOW), 1);
    balancer_destroy(&bal);
}

/* ---- sticky ---- */

static int
choose_with(uint64_t affinity, uint32_t exclude, uint64_t now)
{
    struct balancer_req r = {
        .family_mask = V4, .exclude = exclude, .now_ms = now, .affinity = affinity};
    int k = balancer_choose(&bal, &r);

    if (k >= 0)
        balancer_connected(&bal, affinity, k, now);
    return k;
}

TEST(sticky_same_pair_same_link_new_pairs_by_wrr)
{
    unsigned count[3] = {0};

    ASSERT_EQ(setup(3, (unsigned[]){1, 1, 1}), 0);
    ASSERT_EQ(balancer_set_policy(&bal, POLICY_STICKY, 600000, 1024), 0);
    ASSERT(balancer_wants_affinity(&bal));
    for (uint64_t pair = 1; pair <= 30; pair++) {
        int first = choose_with(pair * 7919, 0, NOW);

        count[first]++;
        for (int i = 0; i < 5; i++)
            ASSERT_EQ(choose_with(pair * 7919, 0, NOW + 10), first);
    }
    ASSERT_EQ(count[0], 10);
    ASSERT_EQ(count[1], 10);
    ASSERT_EQ(count[2], 10);
    balancer_destroy(&bal);
}

TEST(sticky_falls_back_when_the_link_is_down_and_sticks_to_the_new_one)
{
    int first, second;

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    ASSERT_EQ(balancer_set_policy(&bal, POLICY_STICKY, 600000, 1024), 0);
    first = choose_with(42, 0, NOW);
    links[first].trials = 0;
    make_down((unsigned)first, NOW);
    second = choose_with(42, 0, NOW + 1);
    ASSERT(second != first);
    link_note_success(&links[first], NOW + 2); /* back up: the pair stays where it went */
    ASSERT_EQ(choose_with(42, 0, NOW + 3), second);
    balancer_destroy(&bal);
}

TEST(sticky_expires_after_ttl)
{
    unsigned moved = 0;

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    ASSERT_EQ(balancer_set_policy(&bal, POLICY_STICKY, 1000, 1024), 0);
    /* After the TTL a pair is new again: wrr decides, so about half of them move. */
    for (uint64_t pair = 1; pair <= 20; pair++) {
        int a = choose_with(pair, 0, NOW);
        ASSERT_EQ(choose_with(pair, 0, NOW + 999), a);
        moved += choose_with(pair, 0, NOW + 999 + 1000 + pair) != a;
    }
    ASSERT(moved > 0);
    balancer_destroy(&bal);
}

TEST(sticky_respects_exclude_for_failover)
{
    int first;

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    ASSERT_EQ(balancer_set_policy(&bal, POLICY_STICKY, 600000, 1024), 0);
    first = choose_with(77, 0, NOW);
    ASSERT_EQ(choose_with(77, UINT32_C(1) << first, NOW), 1 - first);
    balancer_destroy(&bal);
}

/* ---- adaptive ---- */

TEST(adaptive_without_weights_behaves_like_lc_on_ratios)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){3, 2}), 0);
    balancer_set_policy(&bal, POLICY_ADAPTIVE, 0, 0);
    pick_string(got, 10, V4, 0, NOW);
    ASSERT_STR_EQ(got, "ababaababa");
    balancer_destroy(&bal);
}

TEST(adaptive_weights_steer_concurrent_connections)
{
    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    balancer_set_policy(&bal, POLICY_ADAPTIVE, 0, 0);
    balancer_set_weights(&bal, (uint32_t[]){900000, 300000}); /* measured 30 : 10 */
    for (int i = 0; i < 400; i++) {
        int k = balancer_pick(&bal, V4, 0, NOW);
        atomic_fetch_add(&links[k].n_active, 1);
    }
    ASSERT_EQ(atomic_load(&links[0].n_active), 300);
    ASSERT_EQ(atomic_load(&links[1].n_active), 100);
    balancer_destroy(&bal);
}

TEST(adaptive_sequential_picks_follow_the_weights)
{
    unsigned count[2] = {0};

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    balancer_set_policy(&bal, POLICY_ADAPTIVE, 0, 0);
    balancer_set_weights(&bal, (uint32_t[]){750000, 250000});
    for (int i = 0; i < 400; i++)
        count[balancer_pick(&bal, V4, 0, NOW)]++;
    ASSERT_EQ(count[0], 300);
    ASSERT_EQ(count[1], 100);
    balancer_destroy(&bal);
}

TEST(policy_names_parse)
{
    ASSERT_EQ(balancer_policy_parse("wrr"), POLICY_WRR);
    ASSERT_EQ(balancer_policy_parse("lc"), POLICY_LC);
    ASSERT_EQ(balancer_policy_parse("sticky"), POLICY_STICKY);
    ASSERT_EQ(balancer_policy_parse("ADAPTIVE"), POLICY_ADAPTIVE);
    ASSERT_EQ(balancer_policy_parse("random"), -1);
    ASSERT_STR_EQ(balancer_policy_name(POLICY_LC), "lc");
}

/* Several threads share one counter: over a whole number of cycles, the ratio is exact
 * process-wide whatever the interleaving. */
#define THREADS 4
#define PICKS_PER_THREAD 25000 /* 4 * 25000 = 100000 = 5000 cycles of 20 */

static _Atomic unsigned thread_count[3];

static void *
pick_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < PICKS_PER_THREAD; i++) {
        int k = balancer_pick(&bal, V4, 0, NOW);

        if (k >= 0 && k < 3)
            atomic_fetch_add(&thread_count[k], 1);
    }
    return NULL;
}

TEST(ratio_is_exact_across_threads)
{
    pthread_t t[THREADS];

    ASSERT_EQ(setup(3, (unsigned[]){10, 3, 7}), 0);
    for (int i = 0; i < 3; i++)
        atomic_store(&thread_count[i], 0);
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, pick_thread, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    ASSERT_EQ(atomic_load(&thread_count[0]), 50000);
    ASSERT_EQ(atomic_load(&thread_count[1]), 15000);
    ASSERT_EQ(atomic_load(&thread_count[2]), 35000);
}

/* A reload: a new ratio applies to the next picks, a link set to 0 drains (never picked
 * again, even when asked by policy lc), a link past the old count joins; a schedule with
 * nothing active or too many slots is refused and the old one stays. */
TEST(reconfigure_changes_ratios_drains_and_adds)
{
    char got[16];

    ASSERT_EQ(setup(2, (unsigned[]){1, 1}), 0);
    pick_string(got, 4, V4, 0, NOW);
    ASSERT_STR_EQ(got, "abab");
    ASSERT_EQ(balancer_reconfigure(&bal, 2, (unsigned[]){3, 2}), 0);
    ASSERT_EQ(balancer_sched(&bal)->n_slots, 5);
    atomic_store(&bal.seq, 0);
    pick_string(got, 10, V4, 0, NOW);
    ASSERT_STR_EQ(got, "ababaababa");
    ASSERT_EQ(balancer_reconfigure(&bal, 3, (unsigned[]){0, 1, 1}), 0); /* a drains, c joins */
    ASSERT_EQ(atomic_load(&bal.n_links), 3);
    pick_string(got, 6, V4, 0, NOW);
    ASSERT(strchr(got, 'a') == NULL);
    ASSERT(strchr(got, 'b') != NULL && strchr(got, 'c') != NULL);
    ASSERT_EQ(balancer_set_policy(&bal, POLICY_LC, 1000, 16), 0);
    pick_string(got, 6, V4, 0, NOW);
    ASSERT(strchr(got, 'a') == NULL);
    ASSERT_EQ(balancer_reconfigure(&bal, 3, (unsigned[]){0, 0, 0}), -1);
    ASSERT_EQ(balancer_reconfigure(&bal, 2, (unsigned[]){BALANCER_MAX_SLOTS, 1}), -1);
    ASSERT_EQ(balancer_sched(&bal)->n_slots, 2);
    ASSERT_EQ(balancer_pick(&bal, V4, UINT32_C(1) << 1 | UINT32_C(1) << 2, NOW), -1);
    /* One link at a time (the status API's drain / ratio): the others keep theirs. */
    ASSERT_EQ(balancer_set_ratio(&bal, 0, 2), 0); /* a comes back, ratio 2 */
    ASSERT_EQ(balancer_sched(&bal)->n_slots, 4);
    ASSERT_EQ(balancer_sched(&bal)->ratio[1], 1);
    ASSERT_EQ(balancer_set_ratio(&bal, 1, 0), 0); /* b drains */
    pick_string(got, 6, V4, 0, NOW);
    ASSERT(strchr(got, 'b') == NULL);
    ASSERT_EQ(balancer_set_ratio(&bal, 3, 1), -1); /* no such link */
    ASSERT_EQ(balancer_set_ratio(&bal, 0, 0), 0);
    ASSERT_EQ(balancer_set_ratio(&bal, 2, 0), -1); /* would leave nothing active */
    ASSERT_EQ(balancer_sched(&bal)->active, UINT32_C(1) << 2);
    balancer_destroy(&bal);
}

int
main(void)
{
    log_threshold = LOG_ERROR; /* link transitions log */
    RUN(reconfigure_changes_ratios_drains_and_adds);
    RUN(one_to_one_alternates);
    RUN(three_to_two_is_a_b_a_b_a);
    RUN(five_one_one_is_nginx_sequence);
    RUN(single_link_is_always_picked);
    RUN(ten_three_seven_sequence);
    RUN(exact_counts_per_cycle_1_1);
    RUN(exact_counts_per_cycle_3_2);
    RUN(exact_counts_per_cycle_5_1_1);
    RUN(exact_counts_per_cycle_10_3_7);
    RUN(exact_counts_per_cycle_1000_1);
    RUN(exact_counts_per_cycle_32_links);
    RUN(schedule_up_to_max_slots_is_accepted);
    RUN(schedule_over_max_slots_is_refused);
    RUN(no_links_or_zero_ratio_is_refused);
    RUN(v6_destination_never_goes_to_v4_only_link);
    RUN(v4_destination_never_goes_to_v6_only_link);
    RUN(either_family_mask_uses_all_links);
    RUN(no_link_of_the_family_gives_minus_one);
    RUN(filtered_links_keep_ratios_among_themselves);
    RUN(filtered_ratios_hold_for_unequal_weights);
    RUN(exclude_mask_skips_links);
    RUN(exclude_all_gives_minus_one);
    RUN(exclude_works_for_link_31);
    RUN(backed_off_link_is_skipped_until_backoff_ends);
    RUN(backed_off_link_returns_after_success);
    RUN(healthy_links_share_a_backed_off_links_turns_by_ratio);
    RUN(all_backed_off_still_picks_in_schedule_order);
    RUN(all_eligible_backed_off_falls_back_to_eligible_only);
    RUN(ratio_is_exact_across_threads);
    RUN(down_link_is_skipped_and_the_others_keep_their_ratios);
    RUN(all_down_links_are_still_tried);
    RUN(down_link_gets_exactly_one_trial_when_due);
    RUN(no_trial_before_it_is_due);
    RUN(suspect_links_are_preferred_to_down_ones);
    RUN(lc_picks_the_least_loaded_link);
    RUN(lc_divides_load_by_ratio);
    RUN(lc_spreads_concurrent_connections_by_ratio);
    RUN(lc_ties_follow_the_wrr_schedule);
    RUN(lc_skips_down_links);
    RUN(sticky_same_pair_same_link_new_pairs_by_wrr);
    RUN(sticky_falls_back_when_the_link_is_down_and_sticks_to_the_new_one);
    RUN(sticky_expires_after_ttl);
    RUN(sticky_respects_exclude_for_failover);
    RUN(adaptive_without_weights_behaves_like_lc_on_ratios);
    RUN(adaptive_weights_steer_concurrent_connections);
    RUN(adaptive_sequential_picks_follow_the_weights);
    RUN(policy_names_parse);
    UNIT_MAIN_END("balancer");
}
