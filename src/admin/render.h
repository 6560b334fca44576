/* The snapshot as text: JSON for the page and the API, Prometheus exposition format for
 * /metrics. Directions are as seen on the link: "out" is what the clients sent (leaving
 * through the link), "in" what came back through it. */
#ifndef DP_RENDER_H
#define DP_RENDER_H

#include "sbuf.h"
#include "status.h"

/* The whole status document: snapshot, each link's history (when history), recent state
 * changes, and the sessions c collected (NULL: no "sessions" member). */
void render_status_json(struct sbuf *b, const struct status *st, const struct status_snapshot *snap,
                        int history, const struct status_collect *c);

/* Only the links (GET /api/links). */
void render_links_json(struct sbuf *b, const struct status_snapshot *snap);

/* /metrics: text format 0.0.4, every name prefixed dispatch_proxy_. */
void render_metrics(struct sbuf *b, const struct status_snapshot *snap);

#endif
