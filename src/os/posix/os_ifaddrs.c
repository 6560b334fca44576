/* POSIX interfaces behind the seam: getifaddrs(3) flattened into one snapshot. */
#include "os.h"

#include <ifaddrs.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The device a name designates: getifaddrs reports IPv4 alias labels as "eth0:1", and
 * the device (for if_nametoindex, SO_BINDTODEVICE) is "eth0". */
static void
os_device_of(const char *name, char dev[OS_IFNAME_MAX])
{
    size_t n = strcspn(name, ":");

    if (n >= OS_IFNAME_MAX)
        n = OS_IFNAME_MAX - 1;
    memcpy(dev, name, n);
    dev[n] = '\0';
}

unsigned
os_if_index(const char *name)
{
    char dev[OS_IFNAME_MAX];

    os_device_of(name, dev);
    return if_nametoindex(dev);
}

int
os_ifaddrs_read(struct os_ifaddrs *list)
{
    struct ifaddrs *all, *ifa;
    size_t n = 0;

    list->v = NULL;
    list->n = 0;
    if (getifaddrs(&all) == -1)
        return -1;
    for (ifa = all; ifa != NULL; ifa = ifa->ifa_next)
        n++;
    list->v = calloc(n ? n : 1, sizeof(*list->v));
    if (list->v == NULL) {
        freeifaddrs(all);
        return -1;
    }
    for (ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
        struct os_ifaddr *e = &list->v[list->n];
        int family = ifa->ifa_addr != NULL ? ifa->ifa_addr->sa_family : AF_UNSPEC;

        /* Link-layer entries (AF_PACKET, AF_LINK) stand for "this interface exists". */
        if (family != AF_INET && family != AF_INET6)
            family = AF_UNSPEC;
        snprintf(e->name, sizeof(e->name), "%s", ifa->ifa_name);
        os_device_of(ifa->ifa_name, e->device);
        e->index = if_nametoindex(e->device);
        e->flags = ((ifa->ifa_flags & IFF_UP) && (ifa->ifa_flags & IFF_RUNNING) ? OS_IF_UP : 0) |
                   (ifa->ifa_flags & IFF_LOOPBACK ? OS_IF_LOOPBACK : 0);
        if (family == AF_INET)
            memcpy(&e->addr, ifa->ifa_addr, sizeof(struct sockaddr_in));
        else if (family == AF_INET6)
            memcpy(&e->addr, ifa->ifa_addr, sizeof(struct sockaddr_in6));
        else
            e->addr.ss_family = AF_UNSPEC;
        list->n++;
    }
    freeifaddrs(all);
    return 0;
}

void
os_ifaddrs_free(struct os_ifaddrs *list)
{
    free(list->v);
    list->v = NULL;
    list->n = 0;
}
