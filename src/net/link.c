/* The configured uplinks: parsing LINK[@RATIO], resolving a link to its interface and
 * source addresses, following them as the host changes, and per-link health. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_resolver.h"
#include "errmap.h"
#include "iface.h"
#include "link_url.h"
#include "log.h"
#include "os.h"

#define LINK_RATIO_MAX 1000ul
#define LINK_BACKOFF_MIN_MS 1000u
#define LINK_BACKOFF_MAX_MS 30000u

const uint32_t link_lat_bounds_us[LINK_LAT_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

static int
link_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == ' ' || c == '(' || c == ')' || c == '*' ||
           c == '#' || c == '&' || c == '+' || c == ',' || (unsigned char)c >= 0x80;
}

/* RATIO: a decimal integer 1..LINK_RATIO_MAX, nothing else (no sign, space or suffix). */
static int
link_parse_ratio(const char *s, unsigned *ratio)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -1; /* strtoul would accept "", " 3", "+3" and "-1" */
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < 1 || v > LINK_RATIO_MAX)
        return -1;
    *ratio = (unsigned)v;
    return 0;
}

/* LINK: an IPv4 literal, an IPv6 literal (bare or in brackets) or an interface name. */
int
link_parse_link(const char *s, size_t len, struct link_spec *out, char *err, size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 2], q[96];
    size_t i, colons = 0, dots = 0, digits = 0;

    log_escape(q, sizeof(q), s, len);
    if (len == 0) {
        snprintf(err, errlen, "\"\" is not an IP address or interface name");
        return -1;
    }
    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(buf))
            goto bad_bracket;
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        if (inet_pton(AF_INET6, buf, &out->addr6) != 1)
            goto bad_bracket;
        out->kind = LINK_ADDR6;
        return 0;
    }
    if (len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (inet_pton(AF_INET, buf, &out->addr4) == 1) {
            out->kind = LINK_ADDR4;
            return 0;
        }
        if (inet_pton(AF_INET6, buf, &out->addr6) == 1) {
            out->kind = LINK_ADDR6;
            return 0;
        }
    }
    for (i = 0; i < len; i++) {
        if (s[i] == ':')
            colons++;
        if (s[i] == '.')
            dots++;
        else if (s[i] >= '0' && s[i] <= '9')
            digits++;
    }
    /* Interface alias labels carry one colon ("eth0:1"); more is a mistyped IPv6. */
    if (colons >= 2) {
        snprintf(err, errlen, "\"%s\" is not a valid IPv6 address", q);
        return -1;
    }
    if (dots > 0 && digits > 0 && dots + digits == len) {
        snprintf(err, errlen, "\"%s\" is not a valid IPv4 address", q);
        return -1;
    }
    if (len >= OS_IFNAME_MAX) {
        snprintf(err, errlen, "interface name \"%s\" is longer than %d characters", q,
                 OS_IFNAME_MAX - 1);
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (!link_is_name_char(s[i])) {
            snprintf(err, errlen, "\"%s\" is not an IP address or interface name", q);
            return -1;
        }
    }
    if (s[0] == ':' || s[0] == ' ' || s[len - 1] == ' ' || (len == 1 && s[0] == '.') ||
        (len == 2 && s[0] == '.' && s[1] == '.')) {
        snprintf(err, errlen, "\"%s\" is not an IP address or interface name", q);
        return -1;
    }
    out->kind = LINK_IFACE;
    memcpy(out->name, s, len);
    out->name[len] = '\0';
    return 0;

bad_bracket:
    snprintf(err, errlen, "\"%s\" is not a bracketed IPv6 address", q);
    return -1;
}

/* A local link's options, from the '/' on: only "/dns=ADDR[,ADDR...]", each ADDR an IP,
 * IPv4:PORT or [IPv6]:PORT (as -dns takes them, without LINK=), at most
 * DNS_SERVERS_MAX. 0, or -1 with a one-line reason in err. */
static int
link_parse_dns_option(const char *opt, struct link_spec *out, char *err, size_t errlen)
{
    struct dns_server_spec items[DNS_SERVERS_MAX];
    const char *v;
    size_t len;
    char q[80], why[200];

    if (strncmp(opt, "/dns=", 5) != 0) {
        log_escape(q, sizeof(q), opt, strlen(opt));
        snprintf(err, errlen, "unknown link option \"%s\" (LINK[@RATIO][/dns=ADDR[,ADDR]])", q);
        return -1;
    }
    v = opt + 5;
    len = strlen(v);
    log_escape(q, sizeof(q), v, len);
    if (len == 0 || len >= sizeof(out->dns) || strchr(v, '=') != NULL || strcmp(v, "system") == 0 ||
        strcmp(v, "auto") == 0 ||
        dns_parse_servers(v, items, DNS_SERVERS_MAX, why, sizeof(why)) <= 0) {
        snprintf(err, errlen,
                 "/dns=%s: give this link's name servers, 1 to %d of IP, IPv4:PORT or "
                 "[IPv6]:PORT, comma-separated",
                 q, DNS_SERVERS_MAX);
        return -1;
    }
    memcpy(out->dns, v, len + 1);
    return 0;
}

int
link_parse_spec(const char *spec, struct link_spec *out, char *err, size_t errlen)
{
    const char *at, *slash;
    char head[2 * OS_IFNAME_MAX + 16];
    size_t link_len, head_len;

    memset(out, 0, sizeof(*out));
    out->ratio = 1;
    if (spec == NULL) {
        snprintf(err, errlen, "empty link");
        return -1;
    }
    if (strstr(spec, "://") != NULL)
        return link_parse_url(spec, out, err, errlen);
    /* No link name or address holds a '/': one starts the options. */
    if ((slash = strchr(spec, '/')) != NULL) {
        if (link_parse_dns_option(slash, out, err, errlen) == -1)
            return -1;
        head_len = (size_t)(slash - spec);
    } else {
        head_len = strlen(spec);
    }
    if (head_len >= sizeof(head)) {
        snprintf(err, errlen, "link is longer than %zu characters", sizeof(head) - 1);
        return -1;
    }
    memcpy(head, spec, head_len);
    head[head_len] = '\0';
    /* Neither an IPv6 literal nor an interface name contains '@', so the last '@' (if any)
     * starts the ratio and an earlier one makes LINK invalid. */
    at = strrchr(head, '@');
    link_len = at != NULL ? (size_t)(at - head) : head_len;
    if (at != NULL && link_parse_ratio(at + 1, &out->ratio) == -1) {
        char q[48];

        log_escape(q, sizeof(q), at + 1, strlen(at + 1));
        snprintf(err, errlen, "ratio \"%s\" must be an integer from 1 to %lu", q, LINK_RATIO_MAX);
        return -1;
    }
    return link_parse_link(head, link_len, out, err, errlen);
}

static void
link_set_src4(struct link *l, const struct in_addr *a)
{
    l->src4.sin_family = AF_INET;
    l->src4.sin_port = 0;
    l->src4.sin_addr = *a;
}

static void
link_set_src6(struct link *l, const struct in6_addr *a)
{
    l->src6.sin6_family = AF_INET6;
    l->src6.sin6_port = 0;
    l->src6.sin6_addr = *a;
    /* A link-local source means nothing without its interface. */
    l->src6.sin6_scope_id = iface_v6_is_link_local(a) ? l->ifindex : 0;
}

void
link_reset(struct link *l, const struct link_spec *spec)
{
    memset(l, 0, sizeof(*l));
    l->spec = *spec;
    pthread_mutex_init(&l->mu, NULL);
    atomic_init(&l->has_v4, 0);
    atomic_init(&l->has_v6, 0);
    atomic_init(&l->absent, 0);
    atomic_init(&l->state, LINK_UP);
    atomic_init(&l->fail_streak, 0);
    atomic_init(&l->skip_until_ms, 0);
    atomic_init(&l->next_trial_ms, 0);
    atomic_init(&l->trial_backoff_ms, 0);
    atomic_init(&l->trial_busy, 0);
    atomic_init(&l->n_connections, 0);
    atomic_init(&l->n_failures, 0);
    atomic_init(&l->n_active, 0);
    atomic_init(&l->n_connecting, 0);
    atomic_init(&l->bytes_up, 0);
    atomic_init(&l->bytes_down, 0);
    atomic_init(&l->udp_active, 0);
    atomic_init(&l->udp_dgrams_up, 0);
    atomic_init(&l->udp_dgrams_down, 0);
    atomic_init(&l->udp_bytes_up, 0);
    atomic_init(&l->udp_bytes_down, 0);
    atomic_init(&l->connect_us, 0);
    for (unsigned i = 0; i < ERRC_COUNT; i++)
        atomic_init(&l->fail_by[i], 0);
    for (unsigned i = 0; i <= LINK_LAT_BUCKETS; i++)
        atomic_init(&l->lat_count[i], 0);
    atomic_init(&l->lat_sum_us, 0);
    l->fail_threshold = LINK_FAIL_THRESHOLD;
    l->trials = 1;
}

void
link_destroy(struct link *l)
{
    pthread_mutex_destroy(&l->mu);
}

/* ---- what the host says about a link: one os_ifaddrs snapshot ---- */

/* What the link leaves by on this host: its own kind, or for a proxy link the local link
 * it is reached through (LINK_PROXY: none chosen, nothing to watch). */
static enum link_kind
link_local_kind(const struct link *l)
{
    if (l->spec.kind != LINK_PROXY)
        return l->spec.kind;
    return l->spec.up.has_via ? l->spec.via_kind : LINK_PROXY;
}

struct link_view {
    int exists, up;
    int has4, has6;
    struct in_addr a4;
    struct in6_addr a6;
    char ifname[OS_IFNAME_MAX];
    unsigned ifindex;
};

/* An interface link: its flags and preferred addresses. The address in use is kept while
 * the interface still has it (no flapping between several addresses); otherwise a global
 * address beats a link-local one. An IPv6 link-local address alone does not make the link
 * serve IPv6: every interface has one, and a connection from it to the internet fails. */
static void
link_view_iface(const struct link *l, const struct os_ifaddrs *list, struct link_view *v)
{
    int r4 = 0, r6 = 0; /* 0 none, 1 link-local, 2 global, 3 the one in use */

    for (size_t i = 0; i < list->n; i++) {
        const struct os_ifaddr *e = &list->v[i];

        if (strcmp(e->name, l->spec.name) != 0)
            continue;
        if (!v->exists) {
            snprintf(v->ifname, sizeof(v->ifname), "%s", e->device);
            v->ifindex = e->index;
        }
        v->exists = 1;
        if (e->flags & OS_IF_UP)
            v->up = 1;
        if (e->addr.ss_family == AF_INET) {
            const struct in_addr *a = &((const struct sockaddr_in *)&e->addr)->sin_addr;
            int r = iface_v4_is_link_local(a) ? 1 : 2;

            if (atomic_load_explicit(&l->has_v4, memory_order_relaxed) &&
                memcmp(a, &l->src4.sin_addr, sizeof(*a)) == 0)
                r = 3;
            if (r > r4) {
                r4 = r;
                v->a4 = *a;
            }
        } else if (e->addr.ss_family == AF_INET6) {
            const struct in6_addr *a = &((const struct sockaddr_in6 *)&e->addr)->sin6_addr;
            int r = iface_v6_is_link_local(a) ? 0 : 2;

            if (r > 0 && atomic_load_explicit(&l->has_v6, memory_order_relaxed) &&
                memcmp(a, &l->src6.sin6_addr, sizeof(*a)) == 0)
                r = 3;
            if (r > r6) {
                r6 = r;
                v->a6 = *a;
            }
        }
    }
    v->has4 = r4 > 0;
    v->has6 = r6 > 0;
}

/* An address link: which interface has the address now, and is it up. Linux routes the
 * whole of 127/8 to the loopback device although only 127.0.0.1 is assigned, and a socket
 * may bind any of those addresses: they belong to the loopback interface. */
static void
link_view_addr(const struct link *l, const struct os_ifaddrs *list, struct link_view *v)
{
    const struct os_ifaddr *found = NULL, *loopback = NULL;
    int v4 = link_local_kind(l) == LINK_ADDR4;

    for (size_t i = 0; i < list->n && found == NULL; i++) {
        const struct os_ifaddr *e = &list->v[i];

        if (v4 && e->addr.ss_family == AF_INET) {
            const struct in_addr *a = &((const struct sockaddr_in *)&e->addr)->sin_addr;

            if (memcmp(a, &l->spec.addr4, sizeof(*a)) == 0)
                found = e;
            else if (loopback == NULL && (e->flags & OS_IF_LOOPBACK) && iface_v4_is_loopback(a))
                loopback = e;
        } else if (!v4 && e->addr.ss_family == AF_INET6) {
            const struct in6_addr *a = &((const struct sockaddr_in6 *)&e->addr)->sin6_addr;

            if (memcmp(a, &l->spec.addr6, sizeof(*a)) == 0)
                found = e;
        }
    }
    if (found == NULL && v4 && iface_v4_is_loopback(&l->spec.addr4))
        found = loopback;
    if (found == NULL)
        return;
    v->exists = 1;
    v->up = (found->flags & OS_IF_UP) != 0;
    v->has4 = v4;
    v->has6 = !v4;
    v->a4 = l->spec.addr4;
    v->a6 = l->spec.addr6;
    snprintf(v->ifname, sizeof(v->ifname), "%s", found->device);
    v->ifindex = found->index;
}

/* Why a link with this view cannot be used, or 0. */
static int
link_view_absence(const struct link *l, const struct link_view *v)
{
    if (link_local_kind(l) != LINK_IFACE)
        return !v->exists ? EADDRNOTAVAIL : !v->up ? ENETDOWN : 0;
    if (!v->exists)
        return ENODEV;
    if (!v->up)
        return ENETDOWN;
    return v->has4 || v->has6 ? 0 : EADDRNOTAVAIL;
}

static void link_set_absent_locked(struct link *l, int err, uint64_t now_ms);

/* Applies a view: addresses (written only when they change, so that in the steady state
 * the lock is the only shared write), families, presence. */
static void
link_apply_view(struct link *l, const struct link_view *v, uint64_t now_ms)
{
    int absent = link_view_absence(l, v);

    pthread_mutex_lock(&l->mu);
    if (v->ifname[0] != '\0' && strcmp(v->ifname, l->ifname) != 0)
        memcpy(l->ifname, v->ifname, sizeof(l->ifname));
    /* The device may have been recreated with a new index. */
    if (v->exists && v->ifindex != 0 && v->ifindex != l->ifindex)
        l->ifindex = v->ifindex;
    if (v->has4 && (!atomic_load_explicit(&l->has_v4, memory_order_relaxed) ||
                    memcmp(&l->src4.sin_addr, &v->a4, sizeof(v->a4)) != 0))
        link_set_src4(l, &v->a4);
    if (v->has6 && (!atomic_load_explicit(&l->has_v6, memory_order_relaxed) ||
                    memcmp(&l->src6.sin6_addr, &v->a6, sizeof(v->a6)) != 0 ||
                    (iface_v6_is_link_local(&v->a6) && l->src6.sin6_scope_id != l->ifindex)))
        link_set_src6(l, &v->a6);
    if (l->spec.kind == LINK_PROXY) {
        /* A proxy link carries destinations of either family whatever way it leaves. */
        atomic_store_explicit(&l->has_v4, 1, memory_order_relaxed);
        atomic_store_explicit(&l->has_v6, 1, memory_order_relaxed);
    } else if (l->spec.kind == LINK_IFACE) {
        /* An address link keeps serving its family: while its address is gone it is down,
         * and still tried when every link is down. An interface link that lost only its
         * IPv4 address keeps serving IPv6 destinations and is skipped for IPv4 ones. */
        if (v->exists) {
            atomic_store_explicit(&l->has_v4, v->has4, memory_order_relaxed);
            atomic_store_explicit(&l->has_v6, v->has6, memory_order_relaxed);
        }
    } else {
        atomic_store_explicit(&l->has_v4, l->spec.kind == LINK_ADDR4, memory_order_relaxed);
        atomic_store_explicit(&l->has_v6, l->spec.kind == LINK_ADDR6, memory_order_relaxed);
    }
    link_set_absent_locked(l, absent, now_ms);
    pthread_mutex_unlock(&l->mu);
}

static void
link_view_of(const struct link *l, const struct os_ifaddrs *list, struct link_view *v)
{
    memset(v, 0, sizeof(*v));
    if (link_local_kind(l) == LINK_IFACE)
        link_view_iface(l, list, v);
    else
        link_view_addr(l, list, v);
}

static int
link_usable_for(struct link *l, int family)
{
    int has4 = atomic_load_explicit(&l->has_v4, memory_order_relaxed);
    int has6 = atomic_load_explicit(&l->has_v6, memory_order_relaxed);

    if (atomic_load_explicit(&l->absent, memory_order_relaxed) != 0)
        return -1;
    if (family == AF_INET)
        return has4 ? 0 : -1;
    if (family == AF_INET6)
        return has6 ? 0 : -1;
    return has4 || has6 ? 0 : -1;
}

/* The system's DNS servers for the link's interface, read again with the interfaces (on
 * loop 0 or before the loops start: os_iface_dns_servers may be slow, see os.h). */
static void
link_read_sys_dns(struct link *l)
{
    struct sockaddr_storage ss[LINK_DNS_SERVERS_MAX];
    unsigned ifindex;
    int n = 0, changed;

    if (link_local_kind(l) == LINK_PROXY)
        return;
    pthread_mutex_lock(&l->mu);
    ifindex = l->ifindex;
    pthread_mutex_unlock(&l->mu);
    if (ifindex != 0 && (n = os_iface_dns_servers(ifindex, ss, LINK_DNS_SERVERS_MAX)) == -1)
        return; /* could not read: keep what was known */
    pthread_mutex_lock(&l->mu);
    changed = l->sys_dns_read && ((unsigned)n != l->n_sys_dns ||
                                  memcmp(l->sys_dns, ss, (size_t)n * sizeof(ss[0])) != 0);
    l->n_sys_dns = (unsigned)n;
    memcpy(l->sys_dns, ss, l->n_sys_dns * sizeof(ss[0]));
    l->sys_dns_read = 1;
    pthread_mutex_unlock(&l->mu);
    if (changed) {
        char list[LINK_DNS_SERVERS_MAX * LOG_SOCKADDR_MAX];

        log_info("link %s: the system's DNS servers for its interface are now %s", l->label,
                 log_sockaddr_list(list, sizeof(list), ss, (unsigned)n));
    }
}

void
link_reread_sys_dns(struct link *links, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        link_read_sys_dns(&links[i]);
}

unsigned
link_sys_dns(struct link *l, struct sockaddr_storage *out, unsigned max)
{
    unsigned n;

    pthread_mutex_lock(&l->mu);
    n = l->n_sys_dns < max ? l->n_sys_dns : max;
    memcpy(out, l->sys_dns, n * sizeof(out[0]));
    pthread_mutex_unlock(&l->mu);
    return n;
}

int
link_refresh(struct link *l, int family, uint64_t now_ms)
{
    struct os_ifaddrs list;
    struct link_view v;

    if (link_local_kind(l) == LINK_PROXY)
        return link_usable_for(l, family);
    if (os_ifaddrs_read(&list) == -1)
        return -1;
    link_view_of(l, &list, &v);
    os_ifaddrs_free(&list);
    link_apply_view(l, &v, now_ms);
    link_read_sys_dns(l);
    return link_usable_for(l, family);
}

int
link_refresh_all(struct link *links, unsigned n, uint64_t now_ms)
{
    struct os_ifaddrs list;

    if (os_ifaddrs_read(&list) == -1)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        struct link_view v;

        if (link_local_kind(&links[i]) == LINK_PROXY)
            continue;
        link_view_of(&links[i], &list, &v);
        link_apply_view(&links[i], &v, now_ms);
    }
    os_ifaddrs_free(&list);
    link_reread_sys_dns(links, n);
    return 0;
}

int
link_init(struct link *l, const struct link_spec *spec, char *err, size_t errlen)
{
    char text[INET6_ADDRSTRLEN];
    struct os_ifaddrs list;
    struct link_view v;

    link_reset(l, spec);
    switch (spec->kind) {
    case LINK_ADDR4:
    case LINK_ADDR6: {
        int family = spec->kind == LINK_ADDR4 ? AF_INET : AF_INET6;
        const void *addr =
            spec->kind == LINK_ADDR4 ? (const void *)&spec->addr4 : (const void *)&spec->addr6;

        if (inet_ntop(family, addr, text, sizeof(text)) == NULL) {
            snprintf(err, errlen, "cannot format the address");
            return -1;
        }
        snprintf(l->label, sizeof(l->label), "%s", text);
        break;
    }
    case LINK_IFACE:
        snprintf(l->label, sizeof(l->label), "%s", spec->name);
        break;
    case LINK_PROXY:
        link_proxy_label(spec, l->label, sizeof(l->label));
        if (spec->up.auth_file[0] != '\0' && link_read_auth_file(&l->spec, err, errlen) == -1)
            return -1;
        atomic_store_explicit(&l->has_v4, 1, memory_order_relaxed);
        atomic_store_explicit(&l->has_v6, 1, memory_order_relaxed);
        if (!spec->up.has_via)
            return 0;
        if (spec->via_kind != LINK_IFACE &&
            inet_ntop(spec->via_kind == LINK_ADDR4 ? AF_INET : AF_INET6,
                      spec->via_kind == LINK_ADDR4 ? (const void *)&spec->addr4
                                                   : (const void *)&spec->addr6,
                      text, sizeof(text)) == NULL) {
            snprintf(err, errlen, "cannot format the address");
            return -1;
        }
        break;
    default:
        snprintf(err, errlen, "unknown link kind");
        return -1;
    }
    if (os_ifaddrs_read(&list) == -1) {
        snprintf(err, errlen, "cannot read the interfaces: %s", os_strerror(os_errno()));
        return -1;
    }
    link_view_of(l, &list, &v);
    os_ifaddrs_free(&list);
    /* A link must exist at start (a typo is better refused at once); an interface may be
     * down (cable, Wi-Fi, DHCP not done yet): it starts down and comes up when it does. */
    if (!v.exists) {
        if (link_local_kind(l) == LINK_IFACE)
            snprintf(err, errlen, "no interface named %s", spec->name);
        else
            snprintf(err, errlen, "%s is not an address of any interface on this host", text);
        return -1;
    }
    {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts); /* the loops' clock (loop_clock_ms) */
        link_apply_view(l, &v, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    }
    link_read_sys_dns(l);
    return 0;
}

static atomic_int refresh_requested;

void
link_request_refresh(void)
{
    atomic_store_explicit(&refresh_requested, 1, memory_order_relaxed);
}

int
link_refresh_requested(void)
{
    return atomic_exchange_explicit(&refresh_requested, 0, memory_order_relaxed);
}

int
link_source(struct link *l, int family, struct link_src *out)
{
    int err = 0;

    if (link_local_kind(l) == LINK_PROXY) {
        /* Reached through no chosen link: the host's routing picks, nothing to bind. */
        memset(out, 0, sizeof(*out));
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    err = atomic_load_explicit(&l->absent, memory_order_relaxed);
    if (err == EADDRNOTAVAIL || err == 0) {
        int proxy = l->spec.kind == LINK_PROXY; /* has_v4/has_v6 speak of destinations */

        err = 0;
        if (family == AF_INET &&
            (proxy || atomic_load_explicit(&l->has_v4, memory_order_relaxed)) &&
            l->src4.sin_family == AF_INET) {
            out->addr.v4 = l->src4;
            out->addrlen = sizeof(l->src4);
        } else if (family == AF_INET6 &&
                   (proxy || atomic_load_explicit(&l->has_v6, memory_order_relaxed)) &&
                   l->src6.sin6_family == AF_INET6) {
            out->addr.v6 = l->src6;
            out->addrlen = sizeof(l->src6);
        } else {
            err = EADDRNOTAVAIL;
        }
        /* An address link whose address is gone: binding would fail the same way. */
        if (atomic_load_explicit(&l->absent, memory_order_relaxed) == EADDRNOTAVAIL)
            err = EADDRNOTAVAIL;
    }
    memcpy(out->ifname, l->ifname, sizeof(out->ifname));
    out->ifindex = l->ifindex;
    pthread_mutex_unlock(&l->mu);
    if (err != 0)
        link_request_refresh(); /* maybe our copy is what is stale */
    return err;
}

/* ---- health ---- */

const char *
link_state_name(enum link_state st)
{
    switch (st) {
    case LINK_UP:
        return "up";
    case LINK_SUSPECT:
        return "suspect";
    case LINK_DOWN:
        return "down";
    }
    return "?";
}

/* Why a link is absent reads better than the errno's own text. */
const char *
link_why(const struct link *l, int err)
{
    if (atomic_load_explicit(&l->absent, memory_order_relaxed) == err) {
        switch (err) {
        case ENODEV:
            return "interface gone";
        case ENETDOWN:
            return "interface down";
        case EADDRNOTAVAIL:
            return link_local_kind(l) == LINK_IFACE ? "no address" : "address gone";
        }
    }
    return errmap_text(err);
}

static unsigned
link_threshold(const struct link *l)
{
    return l->fail_threshold != 0 ? l->fail_threshold : LINK_FAIL_THRESHOLD;
}

/* The one place a link's state changes (mu held); logs the transition. */
static void
link_set_state_locked(struct link *l, enum link_state st, uint64_t now_ms)
{
    enum link_state old = link_state_of(l);
    char name[80];

    if (old == st)
        return;
    log_escape(name, sizeof(name), l->label, strlen(l->label));
    atomic_store_explicit(&l->state, st, memory_order_relaxed);
    if (st == LINK_DOWN) {
        log_warn("link %s down: %s", name, link_why(l, l->reason));
        atomic_store_explicit(&l->trial_backoff_ms, LINK_TRIAL_MIN_MS, memory_order_relaxed);
        atomic_store_explicit(&l->next_trial_ms, now_ms + LINK_TRIAL_MIN_MS, memory_order_relaxed);
    } else if (old == LINK_DOWN) {
        log_info("link %s up again (down for %llu s)", name,
                 (unsigned long long)(now_ms - l->since_ms + 500) / 1000);
    } else if (st == LINK_SUSPECT) {
        log_debug("link %s suspect: %s (%u of %u failures before down)", name,
                  link_why(l, l->reason),
                  atomic_load_explicit(&l->fail_streak, memory_order_relaxed), link_threshold(l));
    } else {
        log_debug("link %s up", name);
    }
    l->since_ms = now_ms;
}

enum link_state
link_note_failure(struct link *l, int err, uint64_t now_ms)
{
    enum link_state st;
    unsigned streak;
    uint64_t backoff = LINK_BACKOFF_MAX_MS;

    pthread_mutex_lock(&l->mu);
    streak = atomic_fetch_add_explicit(&l->fail_streak, 1, memory_order_relaxed) + 1;
    l->reason = err;
    /* Suspect: aside for 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s. */
    if (streak <= 5)
        backoff = (uint64_t)LINK_BACKOFF_MIN_MS << (streak - 1);
    if (backoff > LINK_BACKOFF_MAX_MS)
        backoff = LINK_BACKOFF_MAX_MS;
    atomic_store_explicit(&l->skip_until_ms, now_ms + backoff, memory_order_relaxed);
    st = link_state_of(l);
    if (st != LINK_DOWN)
        link_set_state_locked(l, streak >= link_threshold(l) ? LINK_DOWN : LINK_SUSPECT, now_ms);
    st = link_state_of(l);
    pthread_mutex_unlock(&l->mu);
    return st;
}

void
link_note_success(struct link *l, uint64_t now_ms)
{
    /* The common case, every connection on a healthy link: nothing to write. */
    if (link_state_of(l) == LINK_UP &&
        atomic_load_explicit(&l->fail_streak, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&l->trial_busy, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&l->mu);
    atomic_store_explicit(&l->fail_streak, 0, memory_order_relaxed);
    atomic_store_explicit(&l->skip_until_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&l->trial_busy, 0, memory_order_relaxed);
    /* A connection that worked through a link the watcher calls absent: the snapshot is
     * older than the connection; the next one will say. */
    if (atomic_load_explicit(&l->absent, memory_order_relaxed) == 0)
        link_set_state_locked(l, LINK_UP, now_ms);
    pthread_mutex_unlock(&l->mu);
}

static void
link_set_absent_locked(struct link *l, int err, uint64_t now_ms)
{
    int old = atomic_load_explicit(&l->absent, memory_order_relaxed);

    if (old == err)
        return;
    atomic_store_explicit(&l->absent, err, memory_order_relaxed);
    if (err != 0) {
        l->reason = err;
        if (link_state_of(l) == LINK_DOWN) {
            char name[80];
            log_warn("link %s: %s", log_escape(name, sizeof(name), l->label, strlen(l->label)),
                     link_why(l, err));
        }
        link_set_state_locked(l, LINK_DOWN, now_ms);
        return;
    }
    /* Back (interface up again, address reappeared): a fresh start. */
    atomic_store_explicit(&l->fail_streak, 0, memory_order_relaxed);
    atomic_store_explicit(&l->skip_until_ms, 0, memory_order_relaxed);
    link_set_state_locked(l, LINK_UP, now_ms);
}

void
link_set_absent(struct link *l, int err, uint64_t now_ms)
{
    pthread_mutex_lock(&l->mu);
    link_set_absent_locked(l, err, now_ms);
    pthread_mutex_unlock(&l->mu);
}

int
link_trial_claim(struct link *l, uint64_t now_ms)
{
    int expected = 0;

    if (!l->trials || link_state_of(l) != LINK_DOWN ||
        atomic_load_explicit(&l->absent, memory_order_relaxed) != 0 ||
        now_ms < atomic_load_explicit(&l->next_trial_ms, memory_order_relaxed))
        return 0;
    return atomic_compare_exchange_strong(&l->trial_busy, &expected, 1);
}

void
link_trial_failed(struct link *l, int err, uint64_t now_ms)
{
    unsigned backoff;
    char name[80];

    pthread_mutex_lock(&l->mu);
    backoff = atomic_load_explicit(&l->trial_backoff_ms, memory_order_relaxed) * 2;
    if (backoff < LINK_TRIAL_MIN_MS)
        backoff = LINK_TRIAL_MIN_MS;
    if (backoff > LINK_TRIAL_MAX_MS)
        backoff = LINK_TRIAL_MAX_MS;
    atomic_store_explicit(&l->trial_backoff_ms, backoff, memory_order_relaxed);
    atomic_store_explicit(&l->next_trial_ms, now_ms + backoff, memory_order_relaxed);
    l->reason = err;
    atomic_store_explicit(&l->trial_busy, 0, memory_order_relaxed);
    pthread_mutex_unlock(&l->mu);
    log_debug("link %s still down (%s); next trial in %u s",
              log_escape(name, sizeof(name), l->label, strlen(l->label)), errmap_text(err),
              backoff / 1000);
}

void
link_trial_release(struct link *l)
{
    atomic_store_explicit(&l->trial_busy, 0, memory_order_relaxed);
}

void
link_note_latency(struct link *l, uint64_t us)
{
    uint32_t old = atomic_load_explicit(&l->connect_us, memory_order_relaxed);
    uint64_t v = old == 0 ? us : (3 * (uint64_t)old + us) / 4;

    unsigned b = 0;

    /* Concurrent samples may overwrite each other: an average can afford that. */
    atomic_store_explicit(&l->connect_us, v > UINT32_MAX ? UINT32_MAX : (uint32_t)v,
                          memory_order_relaxed);
    while (b < LINK_LAT_BUCKETS && us > link_lat_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&l->lat_count[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->lat_sum_us, us, memory_order_relaxed);
}

void
link_count_failure(struct link *l, int err)
{
    atomic_fetch_add_explicit(&l->n_failures, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->fail_by[errmap_class(err)], 1, memory_order_relaxed);
}
