/* Interface and address change notifications (Linux): a NETLINK_ROUTE socket joined to
 * the link and IPv4/IPv6 address groups. */
#include "os.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <unistd.h>

os_sock
os_ifwatch_open(void)
{
    struct sockaddr_nl sa;
    int fd, rcvbuf = 1 << 20;

    fd = os_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    if (fd == -1)
        return -1;
    /* A burst (a VPN coming up with many addresses) must not overflow the queue; if it
     * does anyway, ENOBUFS tells us and we re-read everything. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int
os_ifwatch_drain(os_sock fd)
{
    /* Aligned for struct nlmsghdr; 8 KiB holds several messages. */
    union {
        struct nlmsghdr h;
        char bytes[8192];
    } buf;
    int changed = 0;

    for (;;) {
        ssize_t n = recv(fd, &buf, sizeof(buf), 0);
        int len;

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return changed;
            if (errno == ENOBUFS) { /* lost some: assume the worst */
                changed = 1;
                continue;
            }
            return -1;
        }
        len = (int)n;
        for (struct nlmsghdr *h = &buf.h; NLMSG_OK(h, (unsigned)len); h = NLMSG_NEXT(h, len)) {
            switch (h->nlmsg_type) {
            case RTM_NEWLINK:
            case RTM_DELLINK:
            case RTM_NEWADDR:
            case RTM_DELADDR:
                changed = 1;
                break;
            default:
                break;
            }
        }
    }
}

void
os_ifwatch_close(os_sock fd)
{
    if (fd != -1)
        close(fd);
}
