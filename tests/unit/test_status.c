/* The status snapshot and its renderings: rates sampled each second into the history,
 * state changes noted, shares, the -v line, /metrics and JSON text. Links and counters
 * are set by hand; no loop runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "errmap.h"
#include "link.h"
#include "log.h"
#include "render.h"
#include "sbuf.h"
#include "server.h"
#include "status.h"
#include "unit.h"

#define T0 1000000u

static struct link links[2];
static struct balancer bal;
static struct shared sh;
static struct status st;

static void
setup(unsigned ratio_a, unsigned ratio_b)
{
    struct link_spec a = {.kind = LINK_ADDR4, .ratio = ratio_a};
    struct link_spec b = {.kind = LINK_IFACE, .name = "wan2", .ratio = ratio_b};

    link_reset(&links[0], &a);
    link_reset(&links[1], &b);
    snprintf(links[0].label, sizeof(links[0].label), "10.0.0.2");
    snprintf(links[1].label, sizeof(links[1].label), "wan\"2");
    links[0].index = 0;
    links[1].index = 1;
    memset(&bal, 0, sizeof(bal));
    balancer_init(&bal, links, 2);
    memset(&sh, 0, sizeof(sh));
    status_init(&st, links, &bal, &sh, NULL, 0);
}

static void
teardown(void)
{
    balancer_destroy(&bal);
    link_destroy(&links[0]);
    link_destroy(&links[1]);
}

TEST(rates_are_bytes_per_second_between_samples_and_fill_the_history)
{
    struct status_sample h[STATUS_HISTORY];
    struct status_snapshot *snap = malloc(sizeof(*snap));

    setup(1, 1);
    status_sample_now(&st, T0);
    atomic_store(&links[0].bytes_down, 4000000);
    atomic_store(&links[0].bytes_up, 1000);
    atomic_store(&links[0].n_active, 3);
    status_sample_now(&st, T0 + 2000); /* two seconds: half of it per second */
    status_snapshot(&st, snap);
    ASSERT(snap->links[0].rate_down == 2000000.0);
    ASSERT(snap->links[0].rate_up == 500.0);
    ASSERT(snap->links[1].rate_down == 0.0);
    ASSERT(snap->totals.rate_down == 2000000.0);
    ASSERT_EQ(status_history(&st, 0, h), 2);
    ASSERT_EQ(h[0].down, 0);
    ASSERT_EQ(h[1].down, 2000000);
    ASSERT_EQ(h[1].active, 3);
    ASSERT_EQ(h[1].state, LINK_UP);
    free(snap);
    teardown();
}

TEST(history_keeps_the_last_five_minutes_oldest_first)
{
    struct status_sample h[STATUS_HISTORY];

    setup(1, 1);
    for (unsigned s = 0; s < STATUS_HISTORY + 10; s++) {
        atomic_store(&links[1].bytes_down, (uint64_t)s * (s + 1) / 2); /* s bytes in second s */
        status_sample_now(&st, T0 + s * 1000);
    }
    ASSERT_EQ(status_history(&st, 1, h), STATUS_HISTORY);
    ASSERT_EQ(h[0].down, 10);
    ASSERT_EQ(h[STATUS_HISTORY - 1].down, STATUS_HISTORY + 9);
    teardown();
}

TEST(state_and_ratio_changes_are_noted)
{
    setup(1, 1);
    status_sample_now(&st, T0);
    link_note_failure(&links[1], ENETUNREACH, T0);
    status_sample_now(&st, T0 + 1000);
    ASSERT_EQ(st.n_events, 1);
    ASSERT_EQ(st.events[0].link, 1);
    ASSERT_EQ(st.events[0].from, LINK_UP);
    ASSERT_EQ(st.events[0].to, LINK_SUSPECT);
    ASSERT_STR_EQ(st.events[0].why, "network unreachable");
    status_sample_now(&st, T0 + 2000);
    ASSERT_EQ(st.n_events, 1); /* no change, no event */
    balancer_set_ratio(&bal, 0, 0);
    status_sample_now(&st, T0 + 3000);
    ASSERT_EQ(st.n_events, 2);
    ASSERT_EQ(st.events[1].is_ratio, 1);
    ASSERT_EQ(st.events[1].link, 0);
    ASSERT_EQ(st.events[1].ratio_from, 1);
    ASSERT_EQ(st.events[1].ratio_to, 0);
    teardown();
}

TEST(shares_compare_what_each_link_received_with_its_ratio)
{
    struct status_snapshot *snap = malloc(sizeof(*snap));

    setup(3, 1);
    atomic_store(&links[0].n_connections, 6);
    atomic_store(&links[1].n_connections, 4);
    atomic_store(&links[0].bytes_down, 300);
    atomic_store(&links[1].bytes_down, 100);
    status_snapshot(&st, snap);
    ASSERT(snap->links[0].ratio_share == 0.75);
    ASSERT(snap->links[0].conn_share == 0.6);
    ASSERT(snap->links[1].byte_share == 0.25);
    ASSERT_EQ(snap->links[0].ratio, 3);
    ASSERT_STR_EQ(snap->links[1].kind, "interface");
    balancer_set_ratio(&bal, 1, 0); /* drained: ratio 0 in force, 1 configured */
    status_snapshot(&st, snap);
    ASSERT_EQ(snap->links[1].ratio, 0);
    ASSERT_EQ(snap->links[1].ratio_config, 1);
    ASSERT(snap->links[0].ratio_share == 1.0);
    free(snap);
    teardown();
}

TEST(v_line_names_state_reason_and_counters)
{
    struct status_snapshot *snap = malloc(sizeof(*snap));
    char line[600];

    setup(1, 1);
    link_note_failure(&links[0], ENETUNREACH, T0);
    link_note_failure(&links[0], ENETUNREACH, T0);
    link_note_failure(&links[0], ENETUNREACH, T0);
    link_count_failure(&links[0], ENETUNREACH);
    status_snapshot(&st, snap);
    status_link_line(&snap->links[0], line, sizeof(line));
    ASSERT(strstr(line, "10.0.0.2 down since ") == line);
    ASSERT(strstr(line, "(network unreachable, 3 failures in a row): 0 active, 0 connecting, "
                        "0 connections, 1 failed") != NULL);
    free(snap);
    teardown();
}

TEST(metrics_text_has_per_link_counters_and_a_cumulative_histogram)
{
    struct status_snapshot *snap = malloc(sizeof(*snap));
    struct sbuf b;

    setup(1, 1);
    atomic_store(&links[0].bytes_down, 12345);
    link_note_latency(&links[0], 800);     /* le 0.001 */
    link_note_latency(&links[0], 30000);   /* le 0.05 */
    link_note_latency(&links[0], 9000000); /* le 10.0 */
    link_count_failure(&links[0], DP_ERR_TIMEOUT);
    link_count_failure(&links[0], DP_ERR_UPSTREAM_AUTH);
    status_snapshot(&st, snap);
    sbuf_init(&b);
    render_metrics(&b, snap);
    ASSERT(!b.oom);
    ASSERT(strstr(b.p, "dispatch_proxy_link_bytes_total{link=\"10.0.0.2\",direction=\"in\"} "
                       "12345\n") != NULL);
    ASSERT(strstr(b.p, "dispatch_proxy_link_up{link=\"wan\\\"2\"} 1\n") != NULL);
    ASSERT(strstr(b.p, "_bucket{link=\"10.0.0.2\",le=\"0.001\"} 1\n") != NULL);
    ASSERT(strstr(b.p, "_bucket{link=\"10.0.0.2\",le=\"0.05\"} 2\n") != NULL);
    ASSERT(strstr(b.p, "_bucket{link=\"10.0.0.2\",le=\"10.0\"} 3\n") != NULL);
    ASSERT(strstr(b.p, "_bucket{link=\"10.0.0.2\",le=\"+Inf\"} 3\n") != NULL);
    ASSERT(strstr(b.p, "dispatch_proxy_link_connect_seconds_count{link=\"10.0.0.2\"} 3\n") != NULL);
    ASSERT(strstr(b.p, "failures_total{link=\"10.0.0.2\",reason=\"timeout\"} 1\n") != NULL);
    ASSERT(strstr(b.p, "failures_total{link=\"10.0.0.2\",reason=\"upstream\"} 1\n") != NULL);
    ASSERT(strstr(b.p, "# TYPE dispatch_proxy_link_connect_seconds histogram\n") != NULL);
    sbuf_free(&b);
    free(snap);
    teardown();
}

TEST(json_strings_are_escaped_whatever_they_hold)
{
    struct sbuf b;

    sbuf_init(&b);
    sbuf_json_str(&b, "a\"b\\c\n\x01<\xff");
    ASSERT_STR_EQ(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\\u003c\\u00ff\"");
    sbuf_free(&b);
}

int
main(void)
{
    log_threshold = LOG_ERROR;
    RUN(rates_are_bytes_per_second_between_samples_and_fill_the_history);
    RUN(history_keeps_the_last_five_minutes_oldest_first);
    RUN(state_and_ratio_changes_are_noted);
    RUN(shares_compare_what_each_link_received_with_its_ratio);
    RUN(v_line_names_state_reason_and_counters);
    RUN(metrics_text_has_per_link_counters_and_a_cumulative_histogram);
    RUN(json_strings_are_escaped_whatever_they_hold);
    UNIT_MAIN_END("status");
}
