/* Status as data: one snapshot of the links, the totals and the live sessions, which the
 * -v status lines, the status page, the JSON API and /metrics all render.
 *
 * Threads and cost. A struct status lives on loop 0 (server 0's, like the link watcher).
 * Link counters are the atomics the data path already bumps (link.h); nothing is added
 * to a relay's work. Once a second a timer on loop 0 samples them into per-link rings
 * (bytes each way, active connections, state) and notes state changes. Live sessions stay
 * in their loop's own list (server.h), touched by no other thread: a collection posts a
 * work item to each loop, which copies its sessions, and the last loop to finish posts
 * the result back to loop 0. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "errmap.h"
#include "link.h"
#include "log.h"
#include "loop.h"

#define STATUS_HISTORY 300           /* seconds of per-link history (5 minutes) */
#define STATUS_EVENTS 64             /* link state changes remembered */
#define STATUS_SESSIONS_PER_LOOP 500 /* live sessions listed per loop (all are counted) */
#define STATUS_LOG_MS 60000          /* -v: status lines at least this often */

struct balancer;
struct server;
struct shared;

struct status_link {
    unsigned index;
    char label[OS_IFNAME_MAX];
    const char *kind;      /* "address", "interface", "proxy", "tunnel" */
    int state;             /* enum link_state */
    char why[80];          /* when not up: why ("interface down"); "" when up */
    int64_t since_s;       /* wall clock (Unix seconds) of the last state change, 0 at start */
    unsigned ratio;        /* in force: 0 while drained */
    unsigned ratio_config; /* configured: what "enable" restores */
    double ratio_share;    /* ratio / sum of the ratios in force */
    double conn_share;     /* connections / all links' connections (0 when none yet) */
    double byte_share;     /* bytes both ways / all links' bytes */
    unsigned fail_streak;
    uint64_t connections, failures, active, connecting;
    uint64_t fail_by[ERRC_COUNT];
    uint64_t bytes_up, bytes_down;
    /* SOCKS5 UDP associations open now; datagrams and payload bytes relayed each way */
    uint64_t udp_active, udp_dgrams_up, udp_dgrams_down, udp_bytes_up, udp_bytes_down;
    double rate_up, rate_down; /* bytes/s over the last sampled second */
    uint32_t connect_us;       /* latency EWMA, 0: none yet */
    uint64_t lat_count[LINK_LAT_BUCKETS + 1], lat_sum_us;
    double weight; /* -policy adaptive: this link's weight in % (-1: not adaptive) */
};

struct status_totals {
    uint64_t accepted, refused_full, clients;
    uint64_t connections, failures, active;
    uint64_t bytes_up, bytes_down;
    double rate_up, rate_down;
};

struct status_snapshot {
    int64_t wall_s; /* Unix seconds when taken */
    uint64_t uptime_ms;
    const char *policy;
    unsigned n_links;
    struct status_link links[LINK_MAX];
    struct status_totals totals;
};

/* One second of one link's history. */
struct status_sample {
    uint32_t up, down; /* bytes/s */
    uint32_t active;
    uint16_t ratio; /* in force: 0 while drained */
    uint8_t state;
};

/* A link's state changed (from/to: enum link_state, why), or its ratio in force did
 * (drain, enable, a new ratio from the API or a reload). */
struct status_event {
    int64_t wall_s;
    unsigned link;
    uint8_t is_ratio;
    uint8_t from, to; /* states */
    unsigned ratio_from, ratio_to;
    char why[80];
};

struct status_session {
    uint64_t id;
    char client[LOG_SOCKADDR_MAX];
    const char *proto; /* "socks5", "socks4", "http", "tunnel", "?" */
    const char *state; /* "relay", "connecting", ... */
    char target[300];  /* host:port as asked, escaped like a log line; "" not yet */
    int link;          /* index, -1: none */
    uint64_t bytes_up, bytes_down, age_ms;
};

struct status {
    struct link *links;
    struct balancer *bal;
    struct shared *sh;
    struct server *servers;
    unsigned n_servers;
    struct loop *loop; /* loop 0 */
    struct loop_timer tick;
    uint64_t start_ms;
    int64_t start_wall;
    int log_lines; /* -v: status lines on a change and every STATUS_LOG_MS */
    uint64_t last_log_ms;
    /* Sampling (loop 0 only). */
    uint64_t last_sample_ms;
    uint64_t seconds; /* samples taken; the ring holds the last min(seconds, HISTORY) */
    uint64_t last_up[LINK_MAX], last_down[LINK_MAX];
    double rate_up[LINK_MAX], rate_down[LINK_MAX];
    int last_state[LINK_MAX];
    unsigned last_ratio[LINK_MAX];
    struct status_sample hist[LINK_MAX][STATUS_HISTORY];
    struct status_event events[STATUS_EVENTS];
    uint64_t n_events;
};

/* Sets st up (nothing runs yet). */
void status_init(struct status *st, struct link *links, struct balancer *bal, struct shared *sh,
                 struct server *servers, unsigned n_servers);
/* Starts sampling on loop (loop 0). log_lines: print -v status lines. */
void status_start(struct status *st, struct loop *loop, int log_lines);
void status_stop(struct status *st);

/* Takes one sample now (the timer's work; tests call it with their own clock). */
void status_sample_now(struct status *st, uint64_t now_ms);

/* Link i's ratio in force went from one value to another (the API, on loop 0): noted at
 * once, however soon it changes again. Changes made elsewhere (a reload) are noted by the
 * next sample. */
void status_ratio_changed(struct status *st, unsigned i, unsigned from, unsigned to);

/* Fills snap from the counters (any thread for the atomics; rates, ratios and weights
 * are read as loop 0 keeps them, so call it there). */
void status_snapshot(struct status *st, struct status_snapshot *snap);

/* One -v line for a link: "wan2 down since 13:37:20 (network unreachable, 3 failures in
 * a row): 0 active, 0 connecting, 12 connections, 3 failed, connect 1.2 ms, in 4.10
 * Mbit/s, out 0.20 Mbit/s". */
void status_link_line(const struct status_link *l, char *out, size_t outlen);

/* Logs every link's line at level. */
void status_log_lines(struct status *st, int level);

/* History of link i, oldest first: up to STATUS_HISTORY samples copied into out.
 * Returns how many. */
size_t status_history(const struct status *st, unsigned i, struct status_sample *out);

/* ---- live sessions ---- */

struct status_collect;
typedef void (*status_collect_cb)(struct status_collect *c, void *arg);

struct status_collect_part {
    struct loop_work work;
    struct status_collect *c;
    struct server *srv;
    struct status_session *v; /* cap slots (STATUS_SESSIONS_PER_LOOP at most) */
    size_t cap, n, total;
};

struct status_collect {
    struct loop_work done_work;
    struct loop *home; /* loop 0; NULL once orphaned */
    _Atomic unsigned pending;
    status_collect_cb cb; /* NULL once cancelled: the result is dropped */
    void *arg;
    uint64_t now_ms; /* loop 0's clock when asked: ages are taken on each loop */
    unsigned n_parts;
    struct status_collect_part parts[];
};

/* Asks every loop for its sessions; cb(c, arg) runs on loop 0 once all answered, and then
 * the caller reads c->parts and frees c with status_collect_free. Returns c, or NULL (out
 * of memory). */
struct status_collect *status_collect_sessions(struct status *st, status_collect_cb cb, void *arg);
/* The caller no longer wants the answer (its connection closed): c frees itself when the
 * loops are done with it. */
void status_collect_cancel(struct status_collect *c);
/* At shutdown, once every loop thread has returned (their queued work runs when the loops
 * are freed, on the caller's thread): whoever finishes last frees c. */
void status_collect_orphan(struct status_collect *c);
void status_collect_free(struct status_collect *c);

#endif
