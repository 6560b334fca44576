/* Link health: the up/suspect/down state machine, trials of down links without probes,
 * presence (interface or address gone), and the lock-free source copy. Links are built
 * by hand: no interface is looked at. */
#include "os.h" /* sockets and addresses on every platform */
#include <errno.h>
#include <string.h>

#include "errmap.h"
#include "link.h"
#include "log.h"
#include "unit.h"

#define T0 1000000u

static struct link l;

static void
setup(unsigned threshold)
{
    struct link_spec spec = {.kind = LINK_IFACE, .name = "wan9", .ratio = 1};

    link_reset(&l, &spec);
    snprintf(l.label, sizeof(l.label), "wan9");
    l.fail_threshold = threshold;
    l.has_v4 = 1;
    l.src4.sin_family = AF_INET;
    inet_pton(AF_INET, "10.9.0.2", &l.src4.sin_addr);
    snprintf(l.ifname, sizeof(l.ifname), "wan9");
}

TEST(new_link_is_up)
{
    setup(3);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
    ASSERT_EQ(link_is_backed_off(&l, T0), 0);
}

TEST(one_failure_makes_it_suspect_and_skipped_for_a_second)
{
    setup(3);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0), LINK_SUSPECT);
    ASSERT_EQ(link_is_backed_off(&l, T0 + 999), 1);
    ASSERT_EQ(link_is_backed_off(&l, T0 + 1000), 0);
    ASSERT_EQ(l.reason, ENETUNREACH);
}

TEST(threshold_failures_in_a_row_make_it_down)
{
    setup(3);
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0 + 10), LINK_SUSPECT);
    ASSERT_EQ(link_note_failure(&l, ENETDOWN, T0 + 20), LINK_DOWN);
    ASSERT_EQ(l.reason, ENETDOWN);
    ASSERT_EQ(l.since_ms, T0 + 20);
}

TEST(threshold_is_configurable)
{
    setup(1);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0), LINK_DOWN);
    setup(5);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0), LINK_SUSPECT);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0), LINK_DOWN);
}

TEST(zero_threshold_means_the_default_3)
{
    setup(0);
    link_note_failure(&l, ENETUNREACH, T0);
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_state_of(&l), LINK_SUSPECT);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0), LINK_DOWN);
}

TEST(success_clears_the_streak_so_failures_must_be_in_a_row)
{
    setup(3);
    link_note_failure(&l, ENETUNREACH, T0);
    link_note_failure(&l, ENETUNREACH, T0);
    link_note_success(&l, T0 + 1);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
    ASSERT_EQ(atomic_load(&l.fail_streak), 0);
    ASSERT_EQ(link_is_backed_off(&l, T0 + 2), 0);
    ASSERT_EQ(link_note_failure(&l, ENETUNREACH, T0 + 3), LINK_SUSPECT);
}

TEST(success_brings_a_down_link_up)
{
    setup(1);
    link_note_failure(&l, DP_ERR_TIMEOUT, T0);
    ASSERT_EQ(link_state_of(&l), LINK_DOWN);
    link_note_success(&l, T0 + 5000);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
    ASSERT_EQ(l.since_ms, T0 + 5000);
}

TEST(down_link_trial_comes_after_one_second_and_only_once)
{
    setup(1);
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 999), 0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 1000), 1);
    ASSERT_EQ(link_trial_claim(&l, T0 + 1000), 0); /* one connection at a time */
    ASSERT_EQ(link_trial_claim(&l, T0 + 5000), 0);
}

TEST(failed_trials_back_off_doubling_to_60s)
{
    static const unsigned expect_s[] = {2, 4, 8, 16, 32, 60, 60};
    uint64_t now = T0;

    setup(1);
    link_note_failure(&l, ENETUNREACH, now);
    now += 1000;
    for (unsigned i = 0; i < sizeof(expect_s) / sizeof(expect_s[0]); i++) {
        ASSERT_EQ(link_trial_claim(&l, now), 1);
        link_trial_failed(&l, DP_ERR_TIMEOUT, now);
        ASSERT_EQ(link_state_of(&l), LINK_DOWN);
        ASSERT_EQ(link_trial_claim(&l, now + expect_s[i] * 1000 - 1), 0);
        now += expect_s[i] * 1000;
    }
    ASSERT_EQ(link_trial_claim(&l, now), 1);
}

TEST(released_trial_can_be_claimed_again_at_once)
{
    setup(1);
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 1000), 1);
    link_trial_release(&l); /* the client went away: no verdict */
    ASSERT_EQ(link_trial_claim(&l, T0 + 1000), 1);
}

TEST(successful_trial_brings_the_link_up_and_ends_trials)
{
    setup(1);
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 1000), 1);
    link_note_success(&l, T0 + 1010);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
    ASSERT_EQ(atomic_load(&l.trial_busy), 0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 99000), 0); /* up links have no trials */
}

TEST(no_trials_when_probing)
{
    setup(1);
    l.trials = 0;
    link_note_failure(&l, ENETUNREACH, T0);
    ASSERT_EQ(link_trial_claim(&l, T0 + 100000), 0);
}

TEST(absent_link_is_down_at_once_and_up_when_back)
{
    setup(3);
    link_set_absent(&l, ENETDOWN, T0);
    ASSERT_EQ(link_state_of(&l), LINK_DOWN);
    ASSERT_EQ(l.reason, ENETDOWN);
    /* No trials for a link that is not there: the watcher brings it back. */
    ASSERT_EQ(link_trial_claim(&l, T0 + 100000), 0);
    link_set_absent(&l, 0, T0 + 3000);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
    ASSERT_EQ(atomic_load(&l.fail_streak), 0);
}

TEST(coming_back_clears_a_failure_down_too)
{
    setup(1);
    link_note_failure(&l, ENETUNREACH, T0);
    link_set_absent(&l, ENETDOWN, T0 + 1);
    link_set_absent(&l, 0, T0 + 2);
    ASSERT_EQ(link_state_of(&l), LINK_UP);
}

TEST(success_does_not_override_absence)
{
    setup(3);
    link_set_absent(&l, EADDRNOTAVAIL, T0);
    link_note_success(&l, T0 + 1);
    ASSERT_EQ(link_state_of(&l), LINK_DOWN);
}

TEST(source_copy_has_address_and_device)
{
    struct link_src src;
    char text[INET_ADDRSTRLEN];

    setup(3);
    ASSERT_EQ(link_source(&l, AF_INET, &src), 0);
    ASSERT_EQ(src.addrlen, sizeof(struct sockaddr_in));
    inet_ntop(AF_INET, &src.addr.v4.sin_addr, text, sizeof(text));
    ASSERT_STR_EQ(text, "10.9.0.2");
    ASSERT_STR_EQ(src.ifname, "wan9");
}

TEST(source_fails_for_a_missing_family_or_absent_link)
{
    struct link_src src;

    setup(3);
    ASSERT_EQ(link_source(&l, AF_INET6, &src), EADDRNOTAVAIL);
    link_set_absent(&l, ENETDOWN, T0);
    ASSERT_EQ(link_source(&l, AF_INET, &src), ENETDOWN);
    link_set_absent(&l, EADDRNOTAVAIL, T0);
    ASSERT_EQ(link_source(&l, AF_INET, &src), EADDRNOTAVAIL);
    link_set_absent(&l, 0, T0);
    ASSERT_EQ(link_source(&l, AF_INET, &src), 0);
    (void)link_refresh_requested(); /* the failures asked for a re-read */
}

TEST(failed_source_asks_for_a_reread)
{
    struct link_src src;

    setup(3);
    (void)link_refresh_requested();
    ASSERT_EQ(link_refresh_requested(), 0);
    ASSERT_EQ(link_source(&l, AF_INET6, &src), EADDRNOTAVAIL);
    ASSERT_EQ(link_refresh_requested(), 1);
    ASSERT_EQ(link_refresh_requested(), 0);
}

int
main(void)
{
    log_threshold = LOG_ERROR; /* transitions log; keep the test output to results */
    RUN(new_link_is_up);
    RUN(one_failure_makes_it_suspect_and_skipped_for_a_second);
    RUN(threshold_failures_in_a_row_make_it_down);
    RUN(threshold_is_configurable);
    RUN(zero_threshold_means_the_default_3);
    RUN(success_clears_the_streak_so_failures_must_be_in_a_row);
    RUN(success_brings_a_down_link_up);
    RUN(down_link_trial_comes_after_one_second_and_only_once);
    RUN(failed_trials_back_off_doubling_to_60s);
    RUN(released_trial_can_be_claimed_again_at_once);
    RUN(successful_trial_brings_the_link_up_and_ends_trials);
    RUN(no_trials_when_probing);
    RUN(absent_link_is_down_at_once_and_up_when_back);
    RUN(coming_back_clears_a_failure_down_too);
    RUN(success_does_not_override_absence);
    RUN(source_copy_has_address_and_device);
    RUN(source_fails_for_a_missing_family_or_absent_link);
    RUN(failed_source_asks_for_a_reread);
    UNIT_MAIN_END("health");
}
