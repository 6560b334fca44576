/* Interfaces of this host: listing (-list), name <-> index, which interface owns an
 * address, an interface's current addresses, and which interfaces have a default route. */
#ifndef DP_IFACE_H
#define DP_IFACE_H

#include <stdio.h>

#include "os.h"

#define IFACE_ROUTES_MAX 64

/* Prints the seed tool's listing, with each interface's default gateway:
 *   --- Listing the available addresses for dispatching
 *   [+] wan1 (up), IPv4: 10.201.1.2, IPv6: fd01:1::2, gateway 10.201.1.1
 * Returns 0 or -1. */
int iface_list(FILE *out);

/* Finds the interface that has addr (struct in_addr / in6_addr by family). Fills ifname
 * (OS_IFNAME_MAX bytes) and *ifindex. Any 127.x.y.z belongs to the loopback interface (Linux
 * routes all of 127/8 there). Returns 0, or -1 if no interface has it. */
int iface_find_addr(int family, const void *addr, char *ifname, unsigned *ifindex);

/* Names of interfaces that are up, not loopback, and carry a default route (IPv4 or IPv6),
 * in the order of their index. Writes up to max names (OS_IFNAME_MAX each). Returns count. */
int iface_default_route_ifaces(char (*names)[OS_IFNAME_MAX], int max);

/* Address classes and names shared with link.c. */
int iface_v6_is_link_local(const struct in6_addr *a);
int iface_v4_is_link_local(const struct in_addr *a); /* 169.254/16 */
int iface_v4_is_loopback(const struct in_addr *a);   /* 127/8 */
/* The device an interface name designates: IPv4 alias labels ("eth0:1") leave by
 * their device ("eth0"). dev has OS_IFNAME_MAX bytes. */
void iface_device(const char *name, char dev[OS_IFNAME_MAX]);

#endif
