/* Interfaces of this host, from the platform's snapshot (os_ifaddrs_read: getifaddrs on
 * POSIX, GetAdaptersAddresses on Windows) and default routes (os_default_routes).
 *
 * Every function takes a fresh snapshot: addresses change under us (DHCP, links going up
 * and down) and nothing here caches them. */
#include "iface.h"

#include <stdlib.h>
#include <string.h>

#include "os.h"

/* The device an interface name designates: IPv4 alias labels ("eth0:1") leave by their
 * device ("eth0"). */
void
iface_device(const char *name, char dev[OS_IFNAME_MAX])
{
    size_t n = strcspn(name, ":");

    if (n >= OS_IFNAME_MAX)
        n = OS_IFNAME_MAX - 1;
    memcpy(dev, name, n);
    dev[n] = '\0';
}

static void
iface_copy_name(char dst[OS_IFNAME_MAX], const char *src)
{
    size_t n = strnlen(src, OS_IFNAME_MAX - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

int
iface_v6_is_link_local(const struct in6_addr *a)
{
    return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

int
iface_v4_is_link_local(const struct in_addr *a)
{
    return (ntohl(a->s_addr) & 0xffff0000u) == 0xa9fe0000u; /* 169.254/16 */
}

int
iface_v4_is_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

int
iface_find_addr(int family, const void *addr, char *ifname, unsigned *ifindex)
{
    struct os_ifaddrs list;
    const struct os_ifaddr *found = NULL, *loopback = NULL;
    int rc = -1;

    if (family != AF_INET && family != AF_INET6)
        return -1;
    if (os_ifaddrs_read(&list) == -1)
        return -1;
    for (size_t i = 0; i < list.n && found == NULL; i++) {
        const struct os_ifaddr *e = &list.v[i];

        if (e->addr.ss_family != family)
            continue;
        if (family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)&e->addr;

            if (memcmp(&sin->sin_addr, addr, sizeof(sin->sin_addr)) == 0)
                found = e;
            else if (loopback == NULL && (e->flags & OS_IF_LOOPBACK) &&
                     iface_v4_is_loopback(&sin->sin_addr))
                loopback = e;
        } else {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&e->addr;

            if (memcmp(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr)) == 0)
                found = e;
        }
    }
    /* Linux routes the whole of 127.0.0.0/8 to the loopback device ("local 127.0.0.0/8
     * dev lo" in the local table) although only 127.0.0.1 is assigned, and a socket may
     * bind any of those addresses: they belong to the loopback interface. */
    if (found == NULL && family == AF_INET && iface_v4_is_loopback(addr))
        found = loopback;
    if (found != NULL) {
        iface_copy_name(ifname, found->device);
        *ifindex = found->index;
        rc = *ifindex != 0 ? 0 : -1;
    }
    os_ifaddrs_free(&list);
    return rc;
}

/* One line of -list: a name as the system reports it, and its index for ordering. */
struct iface_entry {
    char name[OS_IFNAME_MAX];
    unsigned index;
    unsigned flags;
};

static int
iface_entry_cmp(const void *a, const void *b)
{
    const struct iface_entry *x = a, *y = b;

    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Prints ", IPv4: a, b" (or IPv6) for every address of family on interface name. */
static void
iface_print_family(FILE *out, const struct os_ifaddrs *list, const char *name, int family)
{
    char text[INET6_ADDRSTRLEN];
    int first = 1;

    for (size_t i = 0; i < list->n; i++) {
        const struct os_ifaddr *e = &list->v[i];
        const void *addr;

        if (e->addr.ss_family != family || strcmp(e->name, name) != 0)
            continue;
        if (family == AF_INET)
            addr = &((const struct sockaddr_in *)&e->addr)->sin_addr;
        else
            addr = &((const struct sockaddr_in6 *)&e->addr)->sin6_addr;
        if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
            continue;
        fprintf(out, "%s%s", first ? (family == AF_INET ? ", IPv4: " : ", IPv6: ") : ", ", text);
        first = 0;
    }
}

/* Prints ", gateway a" for each default route through interface index. */
static void
iface_print_gateways(FILE *out, const struct os_route *routes, int n_routes, unsigned index)
{
    char text[INET6_ADDRSTRLEN];

    for (int i = 0; i < n_routes; i++) {
        const struct os_route *r = &routes[i];
        const void *addr;

        if (r->ifindex != index || r->gateway.ss_family == AF_UNSPEC)
            continue;
        if (r->gateway.ss_family == AF_INET)
            addr = &((const struct sockaddr_in *)&r->gateway)->sin_addr;
        else
            addr = &((const struct sockaddr_in6 *)&r->gateway)->sin6_addr;
        if (inet_ntop(r->gateway.ss_family, addr, text, sizeof(text)) != NULL)
            fprintf(out, ", gateway %s", text);
    }
}

int
iface_list(FILE *out)
{
    struct os_ifaddrs list;
    struct os_route routes[IFACE_ROUTES_MAX];
    struct iface_entry *entries;
    size_t n = 0, i, j;
    int n_routes, rc = -1;

    if (os_ifaddrs_read(&list) == -1)
        return -1;
    n_routes = os_default_routes(routes, IFACE_ROUTES_MAX);
    if (n_routes < 0)
        n_routes = 0;
    entries = calloc(list.n ? list.n : 1, sizeof(*entries));
    if (entries == NULL)
        goto exit_free;
    for (i = 0; i < list.n; i++) {
        for (j = 0; j < n; j++)
            if (strcmp(entries[j].name, list.v[i].name) == 0)
                break;
        if (j < n) {
            entries[j].flags |= list.v[i].flags;
            continue;
        }
        iface_copy_name(entries[n].name, list.v[i].name);
        entries[n].index = list.v[i].index;
        entries[n].flags = list.v[i].flags;
        n++;
    }
    if (n > 1)
        qsort(entries, n, sizeof(*entries), iface_entry_cmp);

    fprintf(out, "--- Listing the available addresses for dispatching\n");
    for (i = 0; i < n; i++) {
        fprintf(out, "[+] %s (%s)", entries[i].name, entries[i].flags & OS_IF_UP ? "up" : "down");
        iface_print_family(out, &list, entries[i].name, AF_INET);
        iface_print_family(out, &list, entries[i].name, AF_INET6);
        /* Alias labels ("eth0:1") share their device's routes: print them once. */
        if (strchr(entries[i].name, ':') == NULL)
            iface_print_gateways(out, routes, n_routes, entries[i].index);
        fprintf(out, "\n");
    }
    rc = fflush(out) == EOF ? -1 : 0;
exit_free:
    free(entries);
    os_ifaddrs_free(&list);
    return rc;
}

int
iface_default_route_ifaces(char (*names)[OS_IFNAME_MAX], int max)
{
    /* Keep the interfaces with a default route that are up and not loopback, sorted by
     * index, and only then cut to max. */
    struct os_route routes[IFACE_ROUTES_MAX];
    struct iface_entry kept[IFACE_ROUTES_MAX];
    struct os_ifaddrs list;
    int n_routes, n_kept = 0;

    if (max <= 0)
        return 0;
    n_routes = os_default_routes(routes, IFACE_ROUTES_MAX);
    if (n_routes <= 0 || os_ifaddrs_read(&list) == -1)
        return 0;
    for (int r = 0; r < n_routes; r++) {
        const struct os_ifaddr *dev = NULL;
        unsigned flags = 0;
        int dup = 0;

        for (int k = 0; k < n_kept; k++)
            dup |= kept[k].index == routes[r].ifindex;
        for (size_t i = 0; i < list.n && !dup; i++) {
            if (list.v[i].index != routes[r].ifindex)
                continue;
            flags |= list.v[i].flags;
            if (dev == NULL || strcmp(list.v[i].name, list.v[i].device) == 0)
                dev = &list.v[i]; /* the device's own name, not an alias label */
        }
        if (dup || dev == NULL || !(flags & OS_IF_UP) || (flags & OS_IF_LOOPBACK))
            continue;
        iface_copy_name(kept[n_kept].name, dev->device);
        kept[n_kept].index = routes[r].ifindex;
        kept[n_kept].flags = flags;
        n_kept++;
    }
    os_ifaddrs_free(&list);
    if (n_kept > 1)
        qsort(kept, (size_t)n_kept, sizeof(kept[0]), iface_entry_cmp);
    if (n_kept > max)
        n_kept = max;
    for (int i = 0; i < n_kept; i++)
        iface_copy_name(names[i], kept[i].name);
    return n_kept;
}
