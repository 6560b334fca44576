/* Choosing a link for a new connection, under a policy:
 *
 *   wrr       smooth weighted round robin over the ratios (the default). The schedule is
 *             precomputed (length = sum of ratios, at most BALANCER_MAX_SLOTS) with the
 *             "smooth" interleaving (3:2 -> a b a b a), and one atomic counter walks it, so
 *             the ratio holds exactly process-wide even with several loop threads.
 *   lc        weighted least connections: the link with the fewest (active + connecting)
 *             connections per unit of ratio; ties go by the wrr schedule.
 *   sticky    the same client IP and destination host leave by the same link for a TTL
 *             after their last connection (bounded table); new pairs are spread by wrr.
 *   adaptive  weighted least connections whose weights follow each link's measured
 *             delivery (balancer_set_weights, fed by health.c); ties by smooth wrr over
 *             those weights. Until measured, the ratios are the weights.
 *
 * Every policy sees only the links it may use now: serving the destination's family,
 * not excluded by the caller, and healthy (not down, not in a suspect backoff). When that
 * leaves nothing, suspect links are used, then down ones: health reorders, it never
 * refuses. A down link whose one-connection trial is due (no -probe) is handed out once. */
#ifndef DP_BALANCER_H
#define DP_BALANCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "link.h"

#define BALANCER_MAX_SLOTS 4096
#define BALANCER_STICKY_ENTRIES 16384 /* client+host pairs remembered by -policy sticky */

enum balancer_policy { POLICY_WRR = 0, POLICY_LC, POLICY_STICKY, POLICY_ADAPTIVE };

struct sticky;

/* What the picks follow: which links take new connections and the wrr schedule over them.
 * Immutable once published; a reload (balancer_reconfigure) publishes a new one and keeps
 * the old one until balancer_destroy, so a pick that loaded it can finish with it. */
struct bal_sched {
    unsigned n_links;                     /* links [0, n_links) exist */
    uint32_t active;                      /* those that take new connections (others drain) */
    unsigned ratio[LINK_MAX];             /* 0: draining */
    unsigned n_slots;                     /* sum of the active ratios */
    uint8_t schedule[BALANCER_MAX_SLOTS]; /* link indices */
    struct bal_sched *retired;            /* the one this replaced (freed at destroy) */
};

struct balancer {
    struct link *links;
    _Atomic unsigned n_links; /* links that exist (only grows: removed links drain) */
    _Atomic int policy;       /* enum balancer_policy */
    _Atomic(struct bal_sched *) sched;
    struct bal_sched first;    /* the one balancer_init builds (no allocation) */
    pthread_mutex_t reconf_mu; /* one reconfiguration at a time (reload, API) */
    _Atomic uint64_t seq;
    _Atomic(struct sticky *) sticky; /* POLICY_STICKY (kept once made) */
    /* POLICY_ADAPTIVE: current weights (0: none yet, use the ratio), and the smooth-wrr
     * credits that break ties between equally loaded links (under mu). */
    _Atomic uint32_t weight[LINK_MAX];
    pthread_mutex_t mu;
    int64_t credit[LINK_MAX];
};

/* Sets up wrr over links. Returns 0, or -1 when the ratios add up to more than
 * BALANCER_MAX_SLOTS (or there are no links). */
int balancer_init(struct balancer *b, struct link *links, unsigned n_links);

/* A reload: links [0, n_links) exist (links the caller set up past the old count are
 * new); ratio[i] is link i's new ratio, 0 to drain it (no new connections; established
 * ones are the caller's to leave alone). Builds and publishes a new schedule; picks
 * already under way finish on the old one. Thread-safe. Returns 0, or
 * -1 (nothing changed) when no link is active, the ratios add up to more than
 * BALANCER_MAX_SLOTS, or out of memory. */
int balancer_reconfigure(struct balancer *b, unsigned n_links, const unsigned *ratio);

/* One link's ratio changed (0: drain it; >0: use it again), the others kept as they are
 * in force: for a runtime control such as the status API. Thread-safe. Returns 0, or -1
 * (nothing changed) as balancer_reconfigure, or for an index out of range. */
int balancer_set_ratio(struct balancer *b, unsigned link, unsigned ratio);

/* The schedule in force (for tests and status). */
const struct bal_sched *balancer_sched(struct balancer *b);

/* Switches the policy (at start, or on reload: safe while picks run). sticky_ttl_ms and
 * sticky_entries matter for POLICY_STICKY only. Returns 0, or -1 (out of memory). */
int balancer_set_policy(struct balancer *b, enum balancer_policy policy, uint64_t sticky_ttl_ms,
                        unsigned sticky_entries);
void balancer_destroy(struct balancer *b);

/* "wrr" -> POLICY_WRR...; -1 for an unknown name. */
int balancer_policy_parse(const char *name);
const char *balancer_policy_name(enum balancer_policy policy);

/* Family eligibility masks. */
#define BAL_FAMILY_V4 1u
#define BAL_FAMILY_V6 2u

struct balancer_req {
    unsigned family_mask; /* BAL_FAMILY_*: a link serves v4 if has_v4, etc. */
    uint32_t exclude;     /* links not to pick (bit per index): tried or in use already */
    uint64_t now_ms;
    uint64_t affinity; /* POLICY_STICKY: sticky_key() of client and host; 0: none */
    int trial;         /* out: 1 when the pick claimed a down link's trial (see link.h) */
};

/* Picks a link for r. Returns its index, or -1 when no link serves the family (or all
 * are excluded). */
int balancer_choose(struct balancer *b, struct balancer_req *r);

/* balancer_choose without affinity or trials: the seed's interface, kept for tests. */
int balancer_pick(struct balancer *b, unsigned family_mask, uint32_t exclude, uint64_t now_ms);

/* A connection with this affinity went out by link: sticky remembers it. */
void balancer_connected(struct balancer *b, uint64_t affinity, int link, uint64_t now_ms);

/* 1 when picks use an affinity (the caller then computes sticky_key per connection). */
int balancer_wants_affinity(struct balancer *b);

/* POLICY_ADAPTIVE: new weights, one per link (any scale; 0 = use the ratio). */
void balancer_set_weights(struct balancer *b, const uint32_t *weights);

#endif
