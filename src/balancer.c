/* Smooth weighted round robin over a precomputed schedule.
 *
 * With every link eligible, pick number s takes schedule[s % n_slots], so any n_slots
 * consecutive picks give each link exactly its ratio. When some links cannot serve a
 * pick (wrong family, excluded, backed off), pick s takes the (s % m)-th eligible slot of
 * the schedule, m being the eligible links' ratio sum: the eligible links then keep their
 * ratios among themselves, and their smooth order. (Walking forward from s % n_slots
 * to the next eligible slot would hand every slot of a missing link to whichever link
 * follows it in the schedule: with 1:1:1 and one link down, 2:1 instead of 1:1.) */
#include "balancer.h"

#include <string.h>

int
balancer_init(struct balancer *b, struct link *links, unsigned n_links)
{
    long current[LINK_MAX];
    unsigned total = 0, i, slot;

    memset(b->schedule, 0, sizeof(b->schedule));
    b->links = links;
    b->n_links = 0;
    b->n_slots = 0;
    atomic_init(&b->seq, 0);
    if (n_links == 0 || n_links > LINK_MAX)
        return -1;
    for (i = 0; i < n_links; i++) {
        if (links[i].spec.ratio == 0 || links[i].spec.ratio > BALANCER_MAX_SLOTS - total)
            return -1;
        total += links[i].spec.ratio;
        current[i] = 0;
    }
    /* nginx's smooth WRR: every step each link gains its weight, the richest is chosen
     * (first on ties) and pays the total. After total steps every link has been chosen
     * exactly weight times and all credits are back at zero. */
    for (slot = 0; slot < total; slot++) {
        unsigned best = 0;

        for (i = 0; i < n_links; i++) {
            current[i] += (long)links[i].spec.ratio;
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= (long)total;
        b->schedule[slot] = (uint8_t)best;
    }
    b->n_links = n_links;
    b->n_slots = total;
    return 0;
}

static int
balancer_serves(const struct link *l, unsigned family_mask)
{
    return ((family_mask & BAL_FAMILY_V4) && l->has_v4) ||
           ((family_mask & BAL_FAMILY_V6) && l->has_v6);
}

int
balancer_pick(struct balancer *b, unsigned family_mask, uint32_t exclude, uint64_t now_ms)
{
    uint32_t eligible = 0, ready = 0, use;
    unsigned i, m = 0, k;
    uint64_t s;

    if (b->n_slots == 0)
        return -1;
    for (i = 0; i < b->n_links; i++) {
        const struct link *l = &b->links[i];

        if ((exclude & (UINT32_C(1) << i)) || !balancer_serves(l, family_mask))
            continue;
        eligible |= UINT32_C(1) << i;
        if (!link_is_backed_off(l, now_ms))
            ready |= UINT32_C(1) << i;
    }
    /* Backoff reorders, it never refuses: if every eligible link is resting, use them. */
    use = ready != 0 ? ready : eligible;
    if (use == 0)
        return -1;

    s = atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed);
    if (b->n_links == 32 ? use == UINT32_MAX : use == (UINT32_C(1) << b->n_links) - 1)
        return b->schedule[s % b->n_slots];

    for (i = 0; i < b->n_links; i++)
        if (use & (UINT32_C(1) << i))
            m += b->links[i].spec.ratio;
    k = (unsigned)(s % m);
    for (i = 0; i < b->n_slots; i++) {
        if (use & (UINT32_C(1) << b->schedule[i])) {
            if (k == 0)
                return b->schedule[i];
            k--;
        }
    }
    return -1; /* not reached: the schedule holds each link exactly ratio times */
}
