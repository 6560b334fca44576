/* Policies over the links; see balancer.h.
 *
 * Smooth weighted round robin over a precomputed schedule: with every link usable, pick
 * number s takes schedule[s % n_slots], so any n_slots consecutive picks give each link
 * exactly its ratio. When some links cannot serve a pick (wrong family, excluded, down or
 * backed off), pick s takes the (s % m)-th usable slot of the schedule, m being the usable
 * links' ratio sum: the usable links then keep their ratios among themselves, and their
 * smooth order. (Walking forward from s % n_slots to the next usable slot would hand every
 * slot of a missing link to whichever link follows it in the schedule: with 1:1:1 and one
 * link down, 2:1 instead of 1:1.) */
#include "balancer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sticky.h"

static const char *const policy_names[] = {
    [POLICY_WRR] = "wrr",
    [POLICY_LC] = "lc",
    [POLICY_STICKY] = "sticky",
    [POLICY_ADAPTIVE] = "adaptive",
};

int
balancer_policy_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
        if (strcasecmp(name, policy_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *
balancer_policy_name(enum balancer_policy policy)
{
    return (unsigned)policy < sizeof(policy_names) / sizeof(policy_names[0]) ? policy_names[policy]
                                                                             : "?";
}

/* nginx's smooth WRR: every step each link gains its weight, the richest is chosen
 * (first on ties) and pays the total. After total steps every link has been chosen
 * exactly weight times and all credits are back at zero. Returns -1 when the ratios add
 * up to nothing or to more than BALANCER_MAX_SLOTS. */
static int
build_sched(struct bal_sched *s, unsigned n_links, const unsigned *ratio)
{
    long current[LINK_MAX];
    unsigned total = 0, i, slot;

    if (n_links == 0 || n_links > LINK_MAX)
        return -1;
    s->n_links = n_links;
    s->active = 0;
    for (i = 0; i < n_links; i++) {
        if (ratio[i] > BALANCER_MAX_SLOTS - total)
            return -1;
        s->ratio[i] = ratio[i];
        total += ratio[i];
        current[i] = 0;
        if (ratio[i] > 0)
            s->active |= UINT32_C(1) << i;
    }
    if (total == 0)
        return -1;
    for (slot = 0; slot < total; slot++) {
        unsigned best = 0;

        for (i = 0; i < n_links; i++) {
            current[i] += (long)ratio[i];
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= (long)total;
        s->schedule[slot] = (uint8_t)best;
    }
    s->n_slots = total;
    s->retired = NULL;
    return 0;
}

int
balancer_init(struct balancer *b, struct link *links, unsigned n_links)
{
    unsigned ratio[LINK_MAX];

    memset(&b->first, 0, sizeof(b->first));
    b->links = links;
    atomic_init(&b->n_links, 0);
    atomic_init(&b->policy, POLICY_WRR);
    atomic_init(&b->sticky, NULL);
    atomic_init(&b->sched, &b->first);
    atomic_init(&b->seq, 0);
    for (unsigned i = 0; i < LINK_MAX; i++) {
        atomic_init(&b->weight[i], 0);
        b->credit[i] = 0;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->reconf_mu, NULL);
    if (n_links == 0 || n_links > LINK_MAX)
        return -1;
    for (unsigned i = 0; i < n_links; i++) {
        if (links[i].spec.ratio == 0)
            return -1;
        ratio[i] = links[i].spec.ratio;
    }
    if (build_sched(&b->first, n_links, ratio) == -1) {
        b->first.n_slots = 0;
        return -1;
    }
    atomic_store(&b->n_links, n_links);
    return 0;
}

static int
reconfigure_locked(struct balancer *b, unsigned n_links, const unsigned *ratio)
{
    struct bal_sched *s = malloc(sizeof(*s));

    if (s == NULL)
        return -1;
    if (build_sched(s, n_links, ratio) == -1) {
        free(s);
        return -1;
    }
    if (n_links > atomic_load(&b->n_links))
        atomic_store(&b->n_links, n_links);
    s->retired = atomic_exchange(&b->sched, s);
    return 0;
}

int
balancer_reconfigure(struct balancer *b, unsigned n_links, const unsigned *ratio)
{
    int rc;

    pthread_mutex_lock(&b->reconf_mu);
    rc = reconfigure_locked(b, n_links, ratio);
    pthread_mutex_unlock(&b->reconf_mu);
    return rc;
}

int
balancer_set_ratio(struct balancer *b, unsigned link, unsigned ratio)
{
    unsigned r[LINK_MAX];
    const struct bal_sched *cur;
    int rc = -1;

    pthread_mutex_lock(&b->reconf_mu);
    cur = balancer_sched(b);
    if (link < cur->n_links) {
        memcpy(r, cur->ratio, sizeof(r));
        r[link] = ratio;
        rc = reconfigure_locked(b, cur->n_links, r);
    }
    pthread_mutex_unlock(&b->reconf_mu);
    return rc;
}

const struct bal_sched *
balancer_sched(struct balancer *b)
{
    return atomic_load_explicit(&b->sched, memory_order_acquire);
}

int
balancer_set_policy(struct balancer *b, enum balancer_policy policy, uint64_t sticky_ttl_ms,
                    unsigned sticky_entries)
{
    if (policy == POLICY_STICKY && atomic_load(&b->sticky) == NULL) {
        struct sticky *st = sticky_new(sticky_entries, sticky_ttl_ms);
        if (st == NULL)
            return -1;
        atomic_store(&b->sticky, st);
    }
    atomic_store(&b->policy, (int)policy);
    return 0;
}

void
balancer_destroy(struct balancer *b)
{
    struct bal_sched *s = atomic_load(&b->sched);

    sticky_free(atomic_load(&b->sticky));
    atomic_store(&b->sticky, NULL);
    while (s != NULL && s != &b->first) {
        struct bal_sched *older = s->retired;
        free(s);
        s = older;
    }
    atomic_store(&b->sched, &b->first);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->reconf_mu);
}

static int
balancer_serves(const struct link *l, unsigned family_mask)
{
    return ((family_mask & BAL_FAMILY_V4) &&
            atomic_load_explicit(&l->has_v4, memory_order_relaxed)) ||
           ((family_mask & BAL_FAMILY_V6) &&
            atomic_load_explicit(&l->has_v6, memory_order_relaxed));
}

/* Smooth wrr restricted to the links in use (see the top of the file). */
static int
wrr_pick(struct balancer *b, const struct bal_sched *sc, uint32_t use)
{
    uint64_t s = atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed);
    unsigned m = 0, k;

    if (use == sc->active)
        return sc->schedule[s % sc->n_slots];
    for (unsigned i = 0; i < sc->n_links; i++)
        if (use & (UINT32_C(1) << i))
            m += sc->ratio[i];
    if (m == 0)
        return -1;
    k = (unsigned)(s % m);
    for (unsigned i = 0; i < sc->n_slots; i++) {
        if (use & (UINT32_C(1) << sc->schedule[i])) {
            if (k == 0)
                return sc->schedule[i];
            k--;
        }
    }
    return -1; /* not reached: the schedule holds each link exactly ratio times */
}

static uint64_t
link_load(const struct link *l)
{
    return atomic_load_explicit(&l->n_active, memory_order_relaxed) +
           atomic_load_explicit(&l->n_connecting, memory_order_relaxed);
}

static uint64_t
adaptive_weight(struct balancer *b, const struct bal_sched *sc, unsigned i)
{
    uint32_t w = atomic_load_explicit(&b->weight[i], memory_order_relaxed);
    return w != 0 ? w : sc->ratio[i];
}

/* nginx's smooth wrr over live weights, among the tied links: ties in adaptive mode are
 * usually "nothing in flight anywhere", and then the split should follow the weights. */
static int
adaptive_tie_pick(struct balancer *b, const struct bal_sched *sc, uint32_t tied)
{
    int64_t total = 0;
    int best = -1;

    pthread_mutex_lock(&b->mu);
    for (unsigned i = 0; i < sc->n_links; i++) {
        if (!(tied & (UINT32_C(1) << i)))
            continue;
        int64_t w = (int64_t)adaptive_weight(b, sc, i);
        total += w;
        b->credit[i] += w;
        if (best < 0 || b->credit[i] > b->credit[best])
            best = (int)i;
    }
    if (best >= 0)
        b->credit[best] -= total;
    pthread_mutex_unlock(&b->mu);
    return best;
}

/* Weighted least connections: the least load/weight; the ties by wrr (lc: the ratios'
 * schedule, adaptive: the live weights). load_i/w_i < load_j/w_j <=> load_i*w_j < load_j*w_i. */
static int
lc_pick(struct balancer *b, const struct bal_sched *sc, uint32_t use, int adaptive)
{
    uint64_t best_load = 0, best_w = 1;
    uint32_t tied = 0;

    for (unsigned i = 0; i < sc->n_links; i++) {
        if (!(use & (UINT32_C(1) << i)))
            continue;
        uint64_t load = link_load(&b->links[i]);
        uint64_t w = adaptive ? adaptive_weight(b, sc, i) : sc->ratio[i];
        if (tied == 0 || load * best_w < best_load * w) {
            tied = UINT32_C(1) << i;
            best_load = load;
            best_w = w;
        } else if (load * best_w == best_load * w) {
            tied |= UINT32_C(1) << i;
        }
    }
    if (tied == 0)
        return -1;
    if ((tied & (tied - 1)) == 0) {
        for (unsigned i = 0; i < sc->n_links; i++)
            if (tied == UINT32_C(1) << i)
                return (int)i;
    }
    return adaptive ? adaptive_tie_pick(b, sc, tied) : wrr_pick(b, sc, tied);
}

int
balancer_choose(struct balancer *b, struct balancer_req *r)
{
    const struct bal_sched *sc = balancer_sched(b);
    uint32_t eligible = 0, ready = 0, alive = 0, use;
    struct sticky *st_table;
    int k;

    r->trial = 0;
    if (sc->n_slots == 0)
        return -1;
    for (unsigned i = 0; i < sc->n_links; i++) {
        struct link *l = &b->links[i];
        enum link_state st;

        /* Draining links (removed by a reload) take no new connection. */
        if (!(sc->active & (UINT32_C(1) << i)) || (r->exclude & (UINT32_C(1) << i)) ||
            !balancer_serves(l, r->family_mask))
            continue;
        eligible |= UINT32_C(1) << i;
        st = link_state_of(l);
        if (st == LINK_DOWN) {
            /* Its one real connection, when due (claimed: no other loop gets it). */
            if (link_trial_claim(l, r->now_ms)) {
                r->trial = 1;
                return (int)i;
            }
            continue;
        }
        alive |= UINT32_C(1) << i;
        if (!link_is_backed_off(l, r->now_ms))
            ready |= UINT32_C(1) << i;
    }
    /* Health reorders, it never refuses: resting links, then down ones, when nothing else. */
    use = ready != 0 ? ready : alive != 0 ? alive : eligible;
    if (use == 0)
        return -1;

    switch (atomic_load_explicit(&b->policy, memory_order_relaxed)) {
    case POLICY_STICKY:
        st_table = atomic_load(&b->sticky);
        if (r->affinity != 0 && st_table != NULL) {
            k = sticky_get(st_table, r->affinity, r->now_ms);
            if (k >= 0 && (unsigned)k < sc->n_links && (use & (UINT32_C(1) << k)))
                return k;
        }
        return wrr_pick(b, sc, use);
    case POLICY_LC:
        return lc_pick(b, sc, use, 0);
    case POLICY_ADAPTIVE:
        return lc_pick(b, sc, use, 1);
    case POLICY_WRR:
    default:
        return wrr_pick(b, sc, use);
    }
}

int
balancer_pick(struct balancer *b, unsigned family_mask, uint32_t exclude, uint64_t now_ms)
{
    struct balancer_req r = {.family_mask = family_mask, .exclude = exclude, .now_ms = now_ms};
    int k = balancer_choose(b, &r);

    if (r.trial) /* this interface has no way to report the outcome: give the trial back */
        link_trial_release(&b->links[k]);
    return k;
}

void
balancer_connected(struct balancer *b, uint64_t affinity, int link, uint64_t now_ms)
{
    struct sticky *st = atomic_load(&b->sticky);

    if (atomic_load_explicit(&b->policy, memory_order_relaxed) == POLICY_STICKY && st != NULL &&
        affinity != 0 && link >= 0)
        sticky_put(st, affinity, link, now_ms);
}

int
balancer_wants_affinity(struct balancer *b)
{
    return atomic_load_explicit(&b->policy, memory_order_relaxed) == POLICY_STICKY;
}

void
balancer_set_weights(struct balancer *b, const uint32_t *weights)
{
    unsigned n = atomic_load(&b->n_links);

    for (unsigned i = 0; i < n; i++)
        atomic_store_explicit(&b->weight[i], weights[i], memory_order_relaxed);
}
