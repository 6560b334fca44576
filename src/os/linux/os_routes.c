/* Default routes (Linux): /proc/net/route and /proc/net/ipv6_route. */
#include "os.h"

#include <stdio.h>
#include <string.h>

/* Route flags (linux/route.h, linux/ipv6_route.h). */
#define RTF_UP_ 0x0001u
#define RTF_GATEWAY_ 0x0002u
#define RTF_REJECT_ 0x0200u

/* "Iface Destination Gateway Flags RefCnt Use Metric Mask ...", hex, network order. */
static int
os_routes_v4(struct os_route *out, int n, int max)
{
    FILE *f = fopen("/proc/net/route", "r");
    char line[512], name[64];
    unsigned long dest, gw, flags, mask;

    if (f == NULL)
        return n;
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%63s %lx %lx %lx %*d %*d %*d %lx", name, &dest, &gw, &flags, &mask) != 5)
            continue; /* the header line, or something we do not understand */
        if (dest != 0 || mask != 0 || !(flags & RTF_UP_) || (flags & RTF_REJECT_))
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].ifindex = if_nametoindex(name);
        out[n].family = AF_INET;
        if (flags & RTF_GATEWAY_) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n].gateway;

            s4->sin_family = AF_INET;
            s4->sin_addr.s_addr = (in_addr_t)gw; /* already in network order */
        }
        if (out[n].ifindex != 0)
            n++;
    }
    fclose(f);
    return n;
}

/* "dest plen src slen nexthop metric refcnt use flags dev", hex. */
static int
os_routes_v6(struct os_route *out, int n, int max)
{
    FILE *f = fopen("/proc/net/ipv6_route", "r");
    char line[512], dest[33], hop[33], name[64];
    unsigned plen;
    unsigned long flags;

    if (f == NULL)
        return n; /* IPv6 disabled */
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%32s %x %*s %*s %32s %*s %*s %*s %lx %63s", dest, &plen, hop, &flags,
                   name) != 5)
            continue;
        if (plen != 0 || strspn(dest, "0") != 32 || !(flags & RTF_UP_) || (flags & RTF_REJECT_))
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].ifindex = if_nametoindex(name);
        out[n].family = AF_INET6;
        if (strspn(hop, "0") != 32) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n].gateway;

            s6->sin6_family = AF_INET6;
            for (int i = 0; i < 16; i++) {
                unsigned byte;

                if (sscanf(hop + 2 * i, "%2x", &byte) != 1)
                    break;
                s6->sin6_addr.s6_addr[i] = (unsigned char)byte;
            }
            s6->sin6_scope_id = out[n].ifindex;
        }
        if (out[n].ifindex != 0)
            n++;
    }
    fclose(f);
    return n;
}

int
os_default_routes(struct os_route *out, int max)
{
    return os_routes_v6(out, os_routes_v4(out, 0, max), max);
}
