#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "link.h"

/* Numbers in JSON: finite, a few decimals. */
static void
num(struct sbuf *b, double v)
{
    if (!(v == v) || v > 1e300 || v < -1e300)
        v = 0;
    if (v >= 1e6 || v <= -1e6)
        sbuf_printf(b, "%.0f", v); /* rates in bytes/s: whole bytes, no exponent */
    else
        sbuf_printf(b, "%.6g", v);
}

static void
link_json(struct sbuf *b, const struct status_link *l)
{
    uint64_t cum = 0;

    sbuf_printf(b, "{\"index\":%u,\"label\":", l->index);
    sbuf_json_str(b, l->label);
    sbuf_puts(b, ",\"kind\":");
    sbuf_json_str(b, l->kind);
    sbuf_printf(b, ",\"state\":\"%s\",\"why\":", link_state_name((enum link_state)l->state));
    sbuf_json_str(b, l->why);
    sbuf_printf(b,
                ",\"since\":%lld,\"ratio\":%u,\"ratio_config\":%u,\"draining\":%s,"
                "\"ratio_share\":",
                (long long)l->since_s, l->ratio, l->ratio_config, l->ratio == 0 ? "true" : "false");
    num(b, l->ratio_share);
    sbuf_puts(b, ",\"conn_share\":");
    num(b, l->conn_share);
    sbuf_puts(b, ",\"byte_share\":");
    num(b, l->byte_share);
    sbuf_printf(b,
                ",\"fail_streak\":%u,\"connections\":%llu,\"failures\":%llu,\"active\":%llu,"
                "\"connecting\":%llu,\"failures_by\":{",
                l->fail_streak, (unsigned long long)l->connections, (unsigned long long)l->failures,
                (unsigned long long)l->active, (unsigned long long)l->connecting);
    for (unsigned k = 0; k < ERRC_COUNT; k++)
        sbuf_printf(b, "%s\"%s\":%llu", k ? "," : "", errmap_class_name((enum errmap_class)k),
                    (unsigned long long)l->fail_by[k]);
    sbuf_printf(b, "},\"bytes_out\":%llu,\"bytes_in\":%llu,", (unsigned long long)l->bytes_up,
                (unsigned long long)l->bytes_down);
    sbuf_printf(b,
                "\"udp\":{\"associations\":%llu,\"datagrams_out\":%llu,\"datagrams_in\":%llu,"
                "\"bytes_out\":%llu,\"bytes_in\":%llu},\"rate_out\":",
                (unsigned long long)l->udp_active, (unsigned long long)l->udp_dgrams_up,
                (unsigned long long)l->udp_dgrams_down, (unsigned long long)l->udp_bytes_up,
                (unsigned long long)l->udp_bytes_down);
    num(b, l->rate_up);
    sbuf_puts(b, ",\"rate_in\":");
    num(b, l->rate_down);
    sbuf_puts(b, ",\"connect_ms\":");
    num(b, l->connect_us / 1000.0);
    sbuf_puts(b, ",\"latency\":{\"buckets\":[");
    for (unsigned k = 0; k <= LINK_LAT_BUCKETS; k++) {
        cum += l->lat_count[k];
        if (k < LINK_LAT_BUCKETS)
            sbuf_printf(b, "%s[%g,%llu]", k ? "," : "", link_lat_bounds_us[k] / 1e6,
                        (unsigned long long)cum);
        else
            sbuf_printf(b, ",[\"+Inf\",%llu]", (unsigned long long)cum);
    }
    sbuf_printf(b, "],\"count\":%llu,\"sum_s\":", (unsigned long long)cum);
    num(b, l->lat_sum_us / 1e6);
    sbuf_puts(b, "},\"weight\":");
    if (l->weight >= 0)
        num(b, l->weight);
    else
        sbuf_puts(b, "null");
    /* the object stays open: the caller may add members, then closes it */
}

static void
totals_json(struct sbuf *b, const struct status_snapshot *snap)
{
    const struct status_totals *t = &snap->totals;

    sbuf_printf(b,
                "\"totals\":{\"accepted\":%llu,\"refused_full\":%llu,\"clients\":%llu,"
                "\"connections\":%llu,\"failures\":%llu,\"active\":%llu,\"bytes_out\":%llu,"
                "\"bytes_in\":%llu,\"rate_out\":",
                (unsigned long long)t->accepted, (unsigned long long)t->refused_full,
                (unsigned long long)t->clients, (unsigned long long)t->connections,
                (unsigned long long)t->failures, (unsigned long long)t->active,
                (unsigned long long)t->bytes_up, (unsigned long long)t->bytes_down);
    num(b, t->rate_up);
    sbuf_puts(b, ",\"rate_in\":");
    num(b, t->rate_down);
    sbuf_puts(b, "}");
}

static void
history_json(struct sbuf *b, const struct status *st, unsigned i)
{
    static struct status_sample h[STATUS_HISTORY]; /* loop 0 only */
    size_t n = status_history(st, i, h);
    static const char *const keys[] = {"out", "in", "active", "state", "ratio"};

    sbuf_puts(b, ",\"history\":{");
    for (unsigned k = 0; k < ARRAY_SIZE(keys); k++) {
        sbuf_printf(b, "%s\"%s\":[", k ? "," : "", keys[k]);
        for (size_t j = 0; j < n; j++) {
            unsigned long v = k == 0   ? h[j].up
                              : k == 1 ? h[j].down
                              : k == 2 ? h[j].active
                              : k == 3 ? h[j].state
                                       : h[j].ratio;
            sbuf_printf(b, "%s%lu", j ? "," : "", v);
        }
        sbuf_puts(b, "]");
    }
    sbuf_puts(b, "}");
}

void
render_links_json(struct sbuf *b, const struct status_snapshot *snap)
{
    sbuf_puts(b, "{\"links\":[");
    for (unsigned i = 0; i < snap->n_links; i++) {
        if (i)
            sbuf_puts(b, ",");
        link_json(b, &snap->links[i]);
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "]}\n");
}

void
render_status_json(struct sbuf *b, const struct status *st, const struct status_snapshot *snap,
                   int history, const struct status_collect *c)
{
    uint64_t first;

    sbuf_printf(b, "{\"version\":\"%s\",\"time\":%lld,\"uptime_s\":", DP_VERSION,
                (long long)snap->wall_s);
    num(b, snap->uptime_ms / 1000.0);
    sbuf_puts(b, ",\"policy\":");
    sbuf_json_str(b, snap->policy);
    sbuf_printf(b, ",\"sample_s\":1,\"history_s\":%d,", STATUS_HISTORY);
    totals_json(b, snap);
    sbuf_puts(b, ",\"links\":[");
    for (unsigned i = 0; i < snap->n_links; i++) {
        if (i)
            sbuf_puts(b, ",");
        link_json(b, &snap->links[i]);
        if (history)
            history_json(b, st, i);
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "],\"events\":[");
    first = st->n_events > STATUS_EVENTS ? st->n_events - STATUS_EVENTS : 0;
    for (uint64_t k = first; k < st->n_events; k++) {
        const struct status_event *e = &st->events[k % STATUS_EVENTS];

        sbuf_printf(b, "%s{\"time\":%lld,\"link\":%u,", k > first ? "," : "", (long long)e->wall_s,
                    e->link);
        if (e->is_ratio) {
            sbuf_printf(b, "\"ratio_from\":%u,\"ratio_to\":%u}", e->ratio_from, e->ratio_to);
            continue;
        }
        sbuf_printf(
            b, "\"from\":\"%s\",\"to\":\"%s\",\"why\":", link_state_name((enum link_state)e->from),
            link_state_name((enum link_state)e->to));
        sbuf_json_str(b, e->why);
        sbuf_puts(b, "}");
    }
    sbuf_puts(b, "]");
    if (c != NULL) {
        size_t total = 0, listed = 0;

        for (unsigned p = 0; p < c->n_parts; p++)
            total += c->parts[p].total;
        sbuf_printf(b, ",\"sessions\":{\"total\":%zu,\"list\":[", total);
        for (unsigned p = 0; p < c->n_parts; p++)
            for (size_t k = 0; k < c->parts[p].n; k++) {
                const struct status_session *s = &c->parts[p].v[k];
                sbuf_printf(b, "%s{\"id\":%llu,\"client\":", listed++ ? "," : "",
                            (unsigned long long)s->id);
                sbuf_json_str(b, s->client);
                sbuf_printf(b, ",\"proto\":\"%s\",\"state\":\"%s\",\"target\":", s->proto,
                            s->state);
                sbuf_json_str(b, s->target);
                sbuf_printf(b,
                            ",\"link\":%d,\"bytes_out\":%llu,\"bytes_in\":%llu,\"age_s\":", s->link,
                            (unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down);
                num(b, s->age_ms / 1000.0);
                sbuf_puts(b, "}");
            }
        sbuf_printf(b, "],\"listed\":%zu}", listed);
    }
    sbuf_puts(b, "}\n");
}

/* ---- Prometheus ---- */

/* A label value: backslash, double quote and line feed escaped. */
static void
label(struct sbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            sbuf_put(b, "\\", 1);
        if (*s == '\n')
            sbuf_puts(b, "\\n");
        else
            sbuf_put(b, s, 1);
    }
}

static void
head(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP dispatch_proxy_%s %s\n# TYPE dispatch_proxy_%s %s\n", name, help, name,
                type);
}

/* One sample per link: name{link="..."} value. */
static void
per_link(struct sbuf *b, const struct status_snapshot *snap, const char *name, const char *type,
         const char *help, int which)
{
    head(b, name, type, help);
    for (unsigned i = 0; i < snap->n_links; i++) {
        const struct status_link *l = &snap->links[i];
        unsigned long long v = 0;

        switch (which) {
        case 0:
            v = l->state == LINK_UP;
            break;
        case 1:
            v = l->active;
            break;
        case 2:
            v = l->connecting;
            break;
        case 3:
            v = l->connections;
            break;
        case 4:
            v = l->ratio;
            break;
        }
        sbuf_printf(b, "dispatch_proxy_%s{link=\"", name);
        label(b, l->label);
        sbuf_printf(b, "\"} %llu\n", v);
    }
}

void
render_metrics(struct sbuf *b, const struct status_snapshot *snap)
{
    const struct status_totals *t = &snap->totals;

    per_link(b, snap, "link_up", "gauge", "1 when the link is up, 0 when suspect or down.", 0);
    per_link(b, snap, "link_active", "gauge", "Relayed connections open through the link.", 1);
    per_link(b, snap, "link_connecting", "gauge", "Connects under way through the link.", 2);
    per_link(b, snap, "link_connections_total", "counter", "Connection attempts through the link.",
             3);
    per_link(b, snap, "link_ratio", "gauge", "The link's ratio in force (0: drained).", 4);
    head(b, "link_bytes_total", "counter",
         "Bytes relayed through the link: out = sent by clients, in = received for them.");
    for (unsigned i = 0; i < snap->n_links; i++) {
        const struct status_link *l = &snap->links[i];
        for (int d = 0; d < 2; d++) {
            sbuf_puts(b, "dispatch_proxy_link_bytes_total{link=\"");
            label(b, l->label);
            sbuf_printf(b, "\",direction=\"%s\"} %llu\n", d ? "in" : "out",
                        (unsigned long long)(d ? l->bytes_down : l->bytes_up));
        }
    }
    head(b, "link_udp_associations", "gauge", "SOCKS5 UDP associations open through the link.");
    for (unsigned i = 0; i < snap->n_links; i++) {
        sbuf_puts(b, "dispatch_proxy_link_udp_associations{link=\"");
        label(b, snap->links[i].label);
        sbuf_printf(b, "\"} %llu\n", (unsigned long long)snap->links[i].udp_active);
    }
    head(b, "link_udp_datagrams_total", "counter",
         "UDP datagrams relayed through the link: out = sent by clients, in = received for them.");
    for (unsigned i = 0; i < snap->n_links; i++) {
        const struct status_link *l = &snap->links[i];
        for (int d = 0; d < 2; d++) {
            sbuf_puts(b, "dispatch_proxy_link_udp_datagrams_total{link=\"");
            label(b, l->label);
            sbuf_printf(b, "\",direction=\"%s\"} %llu\n", d ? "in" : "out",
                        (unsigned long long)(d ? l->udp_dgrams_down : l->udp_dgrams_up));
        }
    }
    head(b, "link_failures_total", "counter", "Failed connection attempts through the link.");
    for (unsigned i = 0; i < snap->n_links; i++)
        for (unsigned k = 0; k < ERRC_COUNT; k++) {
            sbuf_puts(b, "dispatch_proxy_link_failures_total{link=\"");
            label(b, snap->links[i].label);
            sbuf_printf(b, "\",reason=\"%s\"} %llu\n", errmap_class_name((enum errmap_class)k),
                        (unsigned long long)snap->links[i].fail_by[k]);
        }
    head(b, "link_connect_seconds", "histogram", "Time to connect through the link.");
    for (unsigned i = 0; i < snap->n_links; i++) {
        const struct status_link *l = &snap->links[i];
        uint64_t cum = 0;

        for (unsigned k = 0; k <= LINK_LAT_BUCKETS; k++) {
            cum += l->lat_count[k];
            sbuf_puts(b, "dispatch_proxy_link_connect_seconds_bucket{link=\"");
            label(b, l->label);
            if (k < LINK_LAT_BUCKETS && link_lat_bounds_us[k] % 1000000 == 0)
                sbuf_printf(b, "\",le=\"%.1f\"} %llu\n", link_lat_bounds_us[k] / 1e6,
                            (unsigned long long)cum); /* "10.0", as client libraries write */
            else if (k < LINK_LAT_BUCKETS)
                sbuf_printf(b, "\",le=\"%g\"} %llu\n", link_lat_bounds_us[k] / 1e6,
                            (unsigned long long)cum);
            else
                sbuf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        sbuf_puts(b, "dispatch_proxy_link_connect_seconds_sum{link=\"");
        label(b, l->label);
        sbuf_printf(b, "\"} %.6f\n", l->lat_sum_us / 1e6);
        sbuf_puts(b, "dispatch_proxy_link_connect_seconds_count{link=\"");
        label(b, l->label);
        sbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    head(b, "clients", "gauge", "Client connections open now.");
    sbuf_printf(b, "dispatch_proxy_clients %llu\n", (unsigned long long)t->clients);
    head(b, "accepted_total", "counter", "Client connections accepted.");
    sbuf_printf(b, "dispatch_proxy_accepted_total %llu\n", (unsigned long long)t->accepted);
    head(b, "refused_full_total", "counter", "Clients refused at -max-clients.");
    sbuf_printf(b, "dispatch_proxy_refused_full_total %llu\n", (unsigned long long)t->refused_full);
    head(b, "uptime_seconds", "gauge", "Seconds since start.");
    sbuf_printf(b, "dispatch_proxy_uptime_seconds %.3f\n", snap->uptime_ms / 1000.0);
}
