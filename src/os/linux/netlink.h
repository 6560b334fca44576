/* Interface and address change notifications from the kernel (Linux: a NETLINK_ROUTE
 * socket joined to the link and IPv4/IPv6 address groups). Where there is no such thing,
 * netlink_open() fails with ENOSYS and the caller re-reads interfaces periodically. */
#ifndef DP_NETLINK_H
#define DP_NETLINK_H

/* A non-blocking socket to watch for readability, or -1 with errno set. */
int netlink_open(void);

/* Reads every pending notification. Returns 1 when an interface or address changed (or
 * notifications were lost, so anything may have), 0 when nothing relevant arrived, -1 on
 * a socket error other than EAGAIN. */
int netlink_drain(int fd);

#endif
