/* The configured uplinks: parsing LINK[@RATIO], resolving a link to its interface and
 * source addresses, re-reading them at dial time, and per-link health. */
#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "iface.h"

#define LINK_RATIO_MAX 1000ul
#define LINK_BACKOFF_MIN_MS 1000u
#define LINK_BACKOFF_MAX_MS 30000u

/* Copies s (len bytes) into dst as printable ASCII: '"', '\\' and anything outside
 * 0x20..0x7e are escaped, so an error message is always one clean line. Truncates. */
static void
link_escape(char *dst, size_t dstlen, const char *s, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c > 0x7e) {
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    if (dstlen > 0)
        dst[o < dstlen ? o : dstlen - 1] = '\0';
}

static int
link_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':';
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
static int
link_parse_link(const char *s, size_t len, struct link_spec *out, char *err, size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 2], q[96];
    size_t i, colons = 0, dots = 0, digits = 0;

    link_escape(q, sizeof(q), s, len);
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
    if (len >= IF_NAMESIZE) {
        snprintf(err, errlen, "interface name \"%s\" is longer than %d characters", q,
                 IF_NAMESIZE - 1);
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (!link_is_name_char(s[i])) {
            snprintf(err, errlen, "\"%s\" is not an IP address or interface name", q);
            return -1;
        }
    }
    if (s[0] == ':' || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
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

int
link_parse_spec(const char *spec, struct link_spec *out, char *err, size_t errlen)
{
    const char *at;
    size_t link_len;

    memset(out, 0, sizeof(*out));
    out->ratio = 1;
    if (spec == NULL) {
        snprintf(err, errlen, "empty link");
        return -1;
    }
    /* Neither an IPv6 literal nor an interface name contains '@', so the last '@' (if any)
     * starts the ratio and an earlier one makes LINK invalid. */
    at = strrchr(spec, '@');
    link_len = at != NULL ? (size_t)(at - spec) : strlen(spec);
    if (at != NULL && link_parse_ratio(at + 1, &out->ratio) == -1) {
        char q[48];

        link_escape(q, sizeof(q), at + 1, strlen(at + 1));
        snprintf(err, errlen, "ratio \"%s\" must be an integer from 1 to %lu", q, LINK_RATIO_MAX);
        return -1;
    }
    return link_parse_link(spec, link_len, out, err, errlen);
}

static int
link_v6_is_link_local(const struct in6_addr *a)
{
    return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

/* The device of an interface name: "eth0:1" (an IPv4 alias label) leaves by "eth0". */
static void
link_device(const char *name, char dev[IF_NAMESIZE])
{
    size_t n = strcspn(name, ":");

    memcpy(dev, name, n);
    dev[n] = '\0';
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
    l->src6.sin6_scope_id = link_v6_is_link_local(a) ? l->ifindex : 0;
}

/* An interface link's usable addresses now. An IPv6 link-local address alone does not
 * make the link serve IPv6: every interface has one, and a connection from it to the
 * internet fails, which would back the link off for IPv4 as well. */
static int
link_iface_addrs(const char *name, unsigned *ifindex, int *up, int *has4, struct in_addr *a4,
                 int *has6, struct in6_addr *a6)
{
    if (iface_addrs(name, ifindex, up, has4, a4, has6, a6) == -1)
        return -1;
    if (*has6 && link_v6_is_link_local(a6))
        *has6 = 0;
    return 0;
}

int
link_init(struct link *l, const struct link_spec *spec, char *err, size_t errlen)
{
    char text[INET6_ADDRSTRLEN];
    int up, has4, has6;
    struct in_addr a4;
    struct in6_addr a6;

    memset(l, 0, sizeof(*l));
    atomic_init(&l->skip_until_ms, 0);
    atomic_init(&l->fail_streak, 0);
    atomic_init(&l->n_connections, 0);
    atomic_init(&l->n_failures, 0);
    atomic_init(&l->n_active, 0);
    atomic_init(&l->bytes_up, 0);
    atomic_init(&l->bytes_down, 0);
    l->spec = *spec;

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
        if (iface_find_addr(family, addr, l->ifname, &l->ifindex) == -1) {
            snprintf(err, errlen, "%s is not an address of any interface on this host", text);
            return -1;
        }
        if (family == AF_INET) {
            l->has_v4 = 1;
            link_set_src4(l, &spec->addr4);
        } else {
            l->has_v6 = 1;
            link_set_src6(l, &spec->addr6);
        }
        return 0;
    }
    case LINK_IFACE:
        snprintf(l->label, sizeof(l->label), "%s", spec->name);
        /* A link may be down at start (cable, Wi-Fi, DHCP not done yet): accept it with
         * whatever addresses it has now; link_refresh() follows later changes. */
        if (link_iface_addrs(spec->name, &l->ifindex, &up, &has4, &a4, &has6, &a6) == -1) {
            snprintf(err, errlen, "no interface named %s", spec->name);
            return -1;
        }
        link_device(spec->name, l->ifname);
        if (has4) {
            l->has_v4 = 1;
            link_set_src4(l, &a4);
        }
        if (has6) {
            l->has_v6 = 1;
            link_set_src6(l, &a6);
        }
        return 0;
    }
    snprintf(err, errlen, "unknown link kind");
    return -1;
}

/* Interface links: has_v4/has_v6 are set when an address of the family appears and are
 * not cleared when it goes, because the balancer only offers (and so only refreshes)
 * links that serve the family: a cleared flag would retire the link for good. A missing
 * address makes this return -1 instead, so the caller fails over and backs the link off.
 *
 * Fields are written only when they change: in the steady state concurrent callers read
 * and never write. */
static int
link_refresh_iface(struct link *l, int family)
{
    unsigned ifindex;
    int up, has4, has6;
    struct in_addr a4;
    struct in6_addr a6;

    if (link_iface_addrs(l->spec.name, &ifindex, &up, &has4, &a4, &has6, &a6) == -1 || !up)
        return -1;
    if (ifindex != l->ifindex)
        l->ifindex = ifindex; /* the device was recreated (USB modem, VPN) */
    if (has4) {
        if (!l->has_v4 || memcmp(&l->src4.sin_addr, &a4, sizeof(a4)) != 0) {
            link_set_src4(l, &a4);
            l->has_v4 = 1;
        }
    }
    if (has6) {
        if (!l->has_v6 || memcmp(&l->src6.sin6_addr, &a6, sizeof(a6)) != 0) {
            link_set_src6(l, &a6);
            l->has_v6 = 1;
        }
    }
    if (family == AF_INET)
        return has4 ? 0 : -1;
    if (family == AF_INET6)
        return has6 ? 0 : -1;
    return has4 || has6 ? 0 : -1;
}

int
link_refresh(struct link *l, int family)
{
    char ifname[IF_NAMESIZE];
    unsigned ifindex;

    switch (l->spec.kind) {
    case LINK_IFACE:
        return link_refresh_iface(l, family);
    case LINK_ADDR4:
        if (family != AF_INET && family != AF_UNSPEC)
            return -1;
        return iface_find_addr(AF_INET, &l->spec.addr4, ifname, &ifindex);
    case LINK_ADDR6:
        if (family != AF_INET6 && family != AF_UNSPEC)
            return -1;
        return iface_find_addr(AF_INET6, &l->spec.addr6, ifname, &ifindex);
    }
    return -1;
}

void
link_note_failure(struct link *l, uint64_t now_ms)
{
    unsigned streak = atomic_fetch_add_explicit(&l->fail_streak, 1, memory_order_relaxed) + 1;
    uint64_t backoff = LINK_BACKOFF_MAX_MS;

    /* 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s. */
    if (streak >= 1 && streak <= 5)
        backoff = (uint64_t)LINK_BACKOFF_MIN_MS << (streak - 1);
    if (backoff > LINK_BACKOFF_MAX_MS)
        backoff = LINK_BACKOFF_MAX_MS;
    atomic_store_explicit(&l->skip_until_ms, now_ms + backoff, memory_order_relaxed);
}

void
link_note_success(struct link *l)
{
    atomic_store_explicit(&l->fail_streak, 0, memory_order_relaxed);
    atomic_store_explicit(&l->skip_until_ms, 0, memory_order_relaxed);
}

int
link_is_backed_off(const struct link *l, uint64_t now_ms)
{
    return now_ms < atomic_load_explicit(&l->skip_until_ms, memory_order_relaxed);
}
