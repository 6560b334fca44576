#include "netlink.h"

#include <errno.h>

#if defined(__has_include)
#if __has_include(<linux/rtnetlink.h>)
#define HAVE_NETLINK 1
#endif
#endif

#ifdef HAVE_NETLINK
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
netlink_open(void)
{
    struct sockaddr_nl sa;
    int fd, rcvbuf = 1 << 20;

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
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
netlink_drain(int fd)
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

#else /* no netlink: the caller polls */

int
netlink_open(void)
{
    errno = ENOSYS;
    return -1;
}

int
netlink_drain(int fd)
{
    (void)fd;
    return 0;
}

#endif
