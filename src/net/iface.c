/* Interfaces of this host, read with getifaddrs(3) and /proc/net (Linux).
 *
 * Every function takes a fresh getifaddrs() snapshot: addresses change under us (DHCP,
 * links going up and down) and nothing here caches them. */
#include "iface.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Flags of /proc/net/route and /proc/net/ipv6_route (linux/route.h, linux/ipv6_route.h). */
#define IFACE_RTF_UP 0x0001u
#define IFACE_RTF_REJECT 0x0200u

/* The device an interface name designates: getifaddrs reports IPv4 alias labels as
 * "eth0:1", and the device (for if_nametoindex, SO_BINDTODEVICE) is "eth0". */
void
iface_device(const char *name, char dev[IF_NAMESIZE])
{
    size_t n = strcspn(name, ":");

    if (n >= IF_NAMESIZE)
        n = IF_NAMESIZE - 1;
    memcpy(dev, name, n);
    dev[n] = '\0';
}

/* Interface names are at most IF_NAMESIZE - 1 bytes (the kernel's limit too). */
static void
iface_copy_name(char dst[IF_NAMESIZE], const char *src)
{
    size_t n = strnlen(src, IF_NAMESIZE - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static unsigned
iface_index(const char *name)
{
    char dev[IF_NAMESIZE];

    iface_device(name, dev);
    return if_nametoindex(dev);
}

static int
iface_is_up(unsigned flags)
{
    return (flags & IFF_UP) && (flags & IFF_RUNNING);
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
    struct ifaddrs *ifa_list, *ifa;
    const struct ifaddrs *found = NULL, *loopback = NULL;
    int rc = -1;

    if (family != AF_INET && family != AF_INET6)
        return -1;
    if (getifaddrs(&ifa_list) == -1)
        return -1;
    for (ifa = ifa_list; ifa != NULL && found == NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != family)
            continue;
        if (family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)ifa->ifa_addr;

            if (memcmp(&sin->sin_addr, addr, sizeof(sin->sin_addr)) == 0)
                found = ifa;
            else if (loopback == NULL && (ifa->ifa_flags & IFF_LOOPBACK) &&
                     iface_v4_is_loopback(&sin->sin_addr))
                loopback = ifa;
        } else {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(void *)ifa->ifa_addr;

            if (memcmp(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr)) == 0)
                found = ifa;
        }
    }
    /* Linux routes the whole of 127.0.0.0/8 to the loopback device ("local 127.0.0.0/8
     * dev lo" in the local table) although only 127.0.0.1 is assigned, and a socket may
     * bind any of those addresses: they belong to the loopback interface. */
    if (found == NULL && family == AF_INET && iface_v4_is_loopback(addr))
        found = loopback;
    if (found != NULL) {
        iface_device(found->ifa_name, ifname);
        *ifindex = if_nametoindex(ifname);
        rc = *ifindex != 0 ? 0 : -1;
    }
    freeifaddrs(ifa_list);
    return rc;
}

/* One line of -list: a name as getifaddrs reports it, and its device index for ordering. */
struct iface_entry {
    char name[IF_NAMESIZE];
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
iface_print_family(FILE *out, const struct ifaddrs *ifa_list, const char *name, int family)
{
    const struct ifaddrs *ifa;
    char text[INET6_ADDRSTRLEN];
    int first = 1;

    for (ifa = ifa_list; ifa != NULL; ifa = ifa->ifa_next) {
        const void *addr;

        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != family ||
            strcmp(ifa->ifa_name, name) != 0)
            continue;
        if (family == AF_INET)
            addr = &((const struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr;
        else
            addr = &((const struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr;
        if (inet_ntop(family, addr, text, sizeof(text)) == NULL)
            continue;
        fprintf(out, "%s%s", first ? (family == AF_INET ? ", IPv4: " : ", IPv6: ") : ", ", text);
        first = 0;
    }
}

int
iface_list(FILE *out)
{
    struct ifaddrs *ifa_list, *ifa;
    struct iface_entry *entries = NULL;
    size_t n = 0, cap = 0, i;
    int rc = -1;

    if (getifaddrs(&ifa_list) == -1)
        return -1;
    for (ifa = ifa_list; ifa != NULL; ifa = ifa->ifa_next) {
        for (i = 0; i < n; i++)
            if (strcmp(entries[i].name, ifa->ifa_name) == 0)
                break;
        if (i < n) {
            entries[i].flags |= ifa->ifa_flags;
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct iface_entry *grown = realloc(entries, ncap * sizeof(*entries));

            if (grown == NULL)
                goto exit_free;
            entries = grown;
            cap = ncap;
        }
        iface_copy_name(entries[n].name, ifa->ifa_name);
        entries[n].index = iface_index(ifa->ifa_name);
        entries[n].flags = ifa->ifa_flags;
        n++;
    }
    if (n > 1)
        qsort(entries, n, sizeof(*entries), iface_entry_cmp);

    fprintf(out, "--- Listing the available addresses for dispatching\n");
    for (i = 0; i < n; i++) {
        fprintf(out, "[+] %s (%s)", entries[i].name, iface_is_up(entries[i].flags) ? "up" : "down");
        iface_print_family(out, ifa_list, entries[i].name, AF_INET);
        iface_print_family(out, ifa_list, entries[i].name, AF_INET6);
        fprintf(out, "\n");
    }
    rc = fflush(out) == EOF ? -1 : 0;
exit_free:
    free(entries);
    freeifaddrs(ifa_list);
    return rc;
}

/* Adds name to names[] (at most max) unless present. Returns the new count. */
static int
iface_add_name(char (*names)[16], int count, int max, const char *name)
{
    int i;

    if (strlen(name) >= IF_NAMESIZE)
        return count;
    for (i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return count;
    if (count >= max)
        return count;
    iface_copy_name(names[count], name);
    return count + 1;
}

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask ...", hex. */
static int
iface_default_v4(char (*names)[16], int count, int max)
{
    FILE *f = fopen("/proc/net/route", "re");
    char line[512], name[64];
    unsigned long dest, flags, mask;

    if (f == NULL)
        return count;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%63s %lx %*x %lx %*d %*d %*d %lx", name, &dest, &flags, &mask) != 4)
            continue; /* the header line, or something we do not understand */
        if (dest == 0 && mask == 0 && (flags & IFACE_RTF_UP) && !(flags & IFACE_RTF_REJECT))
            count = iface_add_name(names, count, max, name);
    }
    fclose(f);
    return count;
}

/* /proc/net/ipv6_route: "dest plen src slen nexthop metric refcnt use flags dev", hex. */
static int
iface_default_v6(char (*names)[16], int count, int max)
{
    FILE *f = fopen("/proc/net/ipv6_route", "re");
    char line[512], dest[33], name[64];
    unsigned plen;
    unsigned long flags;

    if (f == NULL)
        return count; /* IPv6 disabled */
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%32s %x %*s %*s %*s %*s %*s %*s %lx %63s", dest, &plen, &flags, name) !=
            4)
            continue;
        if (plen == 0 && strspn(dest, "0") == 32 && (flags & IFACE_RTF_UP) &&
            !(flags & IFACE_RTF_REJECT))
            count = iface_add_name(names, count, max, name);
    }
    fclose(f);
    return count;
}

int
iface_default_route_ifaces(char (*names)[16], int max)
{
    /* Every route line may name any device: collect the names, then keep the devices that
     * are up and not loopback, sorted by index, and only then cut to max. */
    char cand[64][16];
    struct iface_entry kept[64];
    struct ifaddrs *ifa_list, *ifa;
    int n_cand, n_kept = 0, i;

    if (max <= 0)
        return 0;
    n_cand = iface_default_v4(cand, 0, (int)(sizeof(cand) / sizeof(cand[0])));
    n_cand = iface_default_v6(cand, n_cand, (int)(sizeof(cand) / sizeof(cand[0])));
    if (n_cand == 0 || getifaddrs(&ifa_list) == -1)
        return 0;
    for (i = 0; i < n_cand; i++) {
        unsigned flags = 0;
        int seen = 0;

        for (ifa = ifa_list; ifa != NULL; ifa = ifa->ifa_next) {
            if (strcmp(ifa->ifa_name, cand[i]) == 0) {
                flags |= ifa->ifa_flags;
                seen = 1;
            }
        }
        if (!seen || !iface_is_up(flags) || (flags & IFF_LOOPBACK))
            continue;
        iface_copy_name(kept[n_kept].name, cand[i]);
        kept[n_kept].index = iface_index(cand[i]);
        kept[n_kept].flags = flags;
        n_kept++;
    }
    freeifaddrs(ifa_list);
    if (n_kept > 1)
        qsort(kept, (size_t)n_kept, sizeof(kept[0]), iface_entry_cmp);
    if (n_kept > max)
        n_kept = max;
    for (i = 0; i < n_kept; i++)
        iface_copy_name(names[i], kept[i].name);
    return n_kept;
}
