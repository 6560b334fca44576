/* The platform seam: everything that differs between Linux, the other POSIX systems
 * (macOS, the BSDs) and Windows sits behind these declarations. Portable code (src/core,
 * src/proto, src/net, src/front, src/admin, src/main.c) includes this header instead of
 * <sys/socket.h>, <netinet/in.h>, <unistd.h> or <winsock2.h>, holds sockets as os_sock,
 * and reads the cause of a failed call from os_errno(), never from errno.
 *
 * Implementations: src/os/posix (every POSIX system), src/os/linux (epoll, netlink,
 * /proc routes, splice), src/os/win (Winsock, IP Helper, console control). The build
 * picks the folders; os_types.h comes from the chosen platform folder and defines
 * os_sock, OS_SOCK_INVALID and the OS_HAVE_* capabilities.
 *
 * Errors: a function documented as "0 or -1" leaves an errno value in os_errno() on
 * failure. Winsock's WSAE* codes are mapped to the same POSIX names (EAGAIN for "would
 * block", EINPROGRESS for a connect under way, ECONNREFUSED, ...), so callers and the
 * single errno -> reply table (errmap.c) see one error set on every platform. */
#ifndef DP_OS_H
#define DP_OS_H

#include <stddef.h>
#include <stdint.h>

#include "os_types.h"

/* Once at start-up (Winsock's WSAStartup; POSIX: nothing) and at exit. 0 or -1. */
int os_init(void);
void os_cleanup(void);

/* ---- errors ---- */

/* The cause of the last failed call of this thread, as an errno value. */
int os_errno(void);
void os_set_errno(int err);
/* Human text for an errno value, identical on every platform ("Connection refused"). */
const char *os_strerror(int err);
/* err means "try again later" (EAGAIN, EWOULDBLOCK or EINTR). */
int os_would_block(int err);

/* ---- sockets ---- */

/* A non-blocking, close-on-exec socket (SOCK_NONBLOCK | SOCK_CLOEXEC where the system has
 * them, fcntl / ioctlsocket otherwise). OS_SOCK_INVALID on failure. */
os_sock os_socket(int family, int type, int protocol);
/* Accepts one connection as a non-blocking, close-on-exec socket; fills peer/len when not
 * NULL. OS_SOCK_INVALID on failure (EAGAIN: none pending). */
os_sock os_accept(os_sock listener, struct sockaddr *peer, socklen_t *len);
/* Closes s (which also removes it from every poller). 0 or -1. */
int os_close(os_sock s);
/* connect(2) for a non-blocking socket: 0 when connected at once, -1 with EINPROGRESS
 * while the connection is under way, -1 with another error when it failed at once. */
int os_connect(os_sock s, const struct sockaddr *sa, socklen_t len);
/* send/recv that never raise SIGPIPE. -1 with os_errno() on failure. */
ssize_t os_send(os_sock s, const void *buf, size_t len);
ssize_t os_recv(os_sock s, void *buf, size_t len);
ssize_t os_sendto(os_sock s, const void *buf, size_t len, const struct sockaddr *to,
                  socklen_t tolen);
ssize_t os_recvfrom(os_sock s, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen);
/* Looks at what is queued without taking it (MSG_PEEK). */
ssize_t os_peek(os_sock s, void *buf, size_t len);
/* Sends a FIN after what is queued. 0 or -1 (ENOTCONN when the peer already left). */
int os_shutdown_write(os_sock s);
/* The pending error of a socket (SO_ERROR) as an errno value; 0 when none. */
int os_sock_error(os_sock s);
int os_getsockname(os_sock s, struct sockaddr_storage *ss, socklen_t *len);
int os_getpeername(os_sock s, struct sockaddr_storage *ss, socklen_t *len);

/* Options, best effort unless a result is returned. */
void os_set_nodelay(os_sock s);
/* TCP keepalive: first probe after idle_s, then every intvl_s, give up after cnt. */
void os_set_keepalive(os_sock s, int idle_s, int intvl_s, int cnt);
/* Closing sends RST instead of FIN (SO_LINGER 0). */
void os_set_linger_rst(os_sock s);
/* A listener: address reuse, and per-loop sharing (SO_REUSEPORT) when reuseport is set;
 * v6only for AF_INET6 listeners. Returns 0 or -1 (only reuseport can fail: ENOPROTOOPT
 * where the kernel would not spread connections over several listeners; the loops then
 * share one listener). */
int os_set_listener_opts(os_sock s, int family, int reuseport);
/* A listener hands a connection to accept() only once the client has sent data, or after
 * about seconds of silence (Linux TCP_DEFER_ACCEPT): the first read right after accept
 * then finds the client's first message, with no wake-up in between. Returns 0, or -1
 * where the platform has no such option (Windows; the BSDs' accept filters are not used):
 * then nothing changed. */
int os_set_defer_accept(os_sock s, int seconds);
/* Let bind(addr:0) leave the port to connect() (IP_BIND_ADDRESS_NO_PORT), so that many
 * connections from one source address do not exhaust the ephemeral ports. */
void os_set_bind_no_port(os_sock s);
/* UDP: stop ICMP port-unreachable from failing later recvfrom calls (Windows). */
void os_set_udp_noreset(os_sock s);

/* Pins an outgoing socket to an interface so that its packets leave by it, whatever the
 * routing table says: SO_BINDTODEVICE (Linux), IP_BOUND_IF / IPV6_BOUND_IF (macOS),
 * IP_UNICAST_IF / IPV6_UNICAST_IF (Windows). ifname is the device name where the system
 * binds by name, ifindex its index where it binds by index. Returns 0, or an errno value:
 * EPERM when the system refuses us, ENOPROTOOPT when this platform cannot pin at all
 * (the caller then relies on the source address alone). */
int os_bind_to_interface(os_sock s, int family, const char *ifname, unsigned ifindex);
/* 1 when os_bind_to_interface can pin sockets on this build. */
int os_can_bind_to_interface(void);

/* ---- wake-up: another thread wakes a loop ---- */

struct os_wakeup {
    os_sock rd; /* watch for readability */
    os_sock wr;
};

/* 0 or -1. */
int os_wakeup_open(struct os_wakeup *w);
/* Any thread: makes rd readable (cheap when already signalled). */
void os_wakeup_signal(struct os_wakeup *w);
/* Loop thread: consumes every pending signal. */
void os_wakeup_drain(struct os_wakeup *w);
void os_wakeup_close(struct os_wakeup *w);

/* ---- signals and console control ---- */

enum os_signal {
    OS_SIGNAL_NONE = 0,
    OS_SIGNAL_STOP,   /* SIGINT, SIGTERM; Ctrl-C, Ctrl-Break, console close */
    OS_SIGNAL_RELOAD, /* SIGHUP; nothing on Windows (the status API reloads there) */
};

/* Starts catching the signals above; each one that arrives makes the returned socket
 * readable. Call before any other thread starts (POSIX blocks the signals in every thread
 * and waits for them in one of its own). OS_SOCK_INVALID on failure. */
os_sock os_signals_open(void);
/* Reads the next caught signal from s, or OS_SIGNAL_NONE when none is pending. */
enum os_signal os_signals_read(os_sock s);
/* Stops catching; on Windows, lets a console-close handler waiting for cleanup return. */
void os_signals_close(os_sock s);
/* A name for the log: "SIGTERM", "Ctrl-C", ... of the last signal read. */
const char *os_signals_last_name(void);

/* ---- interfaces ---- */

#define OS_IFNAME_MAX 128 /* Windows friendly names are longer than IF_NAMESIZE */

#define OS_IF_UP 1u /* administratively up and running (carrier, OperStatus up) */
#define OS_IF_LOOPBACK 2u

/* One address of one interface, as getifaddrs(3) lists them; an interface without any
 * address appears once with addr.ss_family == AF_UNSPEC. */
struct os_ifaddr {
    char name[OS_IFNAME_MAX];   /* what users type: "eth0", "eth0:1" (alias), "Wi-Fi" */
    char device[OS_IFNAME_MAX]; /* what binding takes: "eth0"; Windows: the friendly name */
    unsigned index;
    unsigned flags; /* OS_IF_* */
    struct sockaddr_storage addr;
};

struct os_ifaddrs {
    struct os_ifaddr *v;
    size_t n;
};

/* One snapshot of every interface and address. 0 or -1; free with os_ifaddrs_free. */
int os_ifaddrs_read(struct os_ifaddrs *list);
void os_ifaddrs_free(struct os_ifaddrs *list);

/* A default route: which interface, which family, through which gateway. */
struct os_route {
    unsigned ifindex;
    int family;
    struct sockaddr_storage gateway; /* AF_UNSPEC when the route has no gateway */
};
/* Fills up to max default routes. Returns how many, or -1. */
int os_default_routes(struct os_route *out, int max);

/* The DNS servers the system assigns to interface ifindex (Windows: the adapter's;
 * Linux: systemd-resolved's for that link; macOS: the interface's scoped resolver, from
 * `scutil --dns`; elsewhere: none per interface, 0). Returns how many, or -1. May be slow
 * (Windows reads every adapter; macOS runs scutil at the first call): the links read it
 * with the interfaces, at start-up and on loop 0's refreshes, never per lookup. */
int os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max);
/* The system's resolvers as a whole (resolv.conf nameservers, or when it names only
 * systemd-resolved's stub 127.0.0.53/54, the servers resolved forwards to; Windows: every
 * adapter's). Returns how many, or -1. */
int os_dns_servers(struct sockaddr_storage *out, int max);

/* The search list and ndots as the system's resolver applies them (resolv.conf "search"
 * or "domain", "options ndots:N"; Windows: the primary DNS suffix and the suffix search
 * list). Fills up to max domains (without a final dot) of OS_DNS_DOMAIN_MAX bytes and
 * *ndots (1 when unset). Returns how many domains, or -1 (*ndots still set). */
#define OS_DNS_DOMAIN_MAX 255
int os_dns_search(char (*out)[OS_DNS_DOMAIN_MAX], int max, unsigned *ndots);

/* The index of an interface by its name (device or friendly name); 0 when none. */
unsigned os_if_index(const char *name);

/* Interface watching: a socket that becomes readable when interfaces or addresses change
 * (netlink on Linux, a route socket on BSD, NotifyIpInterfaceChange on Windows), or
 * OS_SOCK_INVALID with ENOSYS where there is none: the caller then re-reads periodically. */
os_sock os_ifwatch_open(void);
/* Consumes pending notifications. 1: something changed (or notes were lost), 0: nothing
 * relevant, -1: the watch failed (the caller falls back to periodic reads). */
int os_ifwatch_drain(os_sock s);
void os_ifwatch_close(os_sock s);

/* ---- process ---- */

/* Raises the open-file limit as far as allowed; returns the limit now (0: unknown). */
unsigned long os_raise_fd_limit(void);
/* 1 when running with administrative rights (root; Windows: elevated), else 0. */
int os_is_privileged(void);
/* -user: gives up root for good. 0, or -1 with a one-line reason in err. */
int os_drop_privileges(const char *user, char *err, size_t errlen);
/* Online CPUs (at least 1). */
unsigned os_cpu_count(void);
/* Fills buf with len random bytes (getrandom / BCryptGenRandom). 0 or -1. */
int os_random(void *buf, size_t len);
/* Path of the hosts file ("/etc/hosts"; Windows: ...\drivers\etc\hosts). */
const char *os_hosts_path(void);

/* ---- splice: the zero-copy relay path (OS_HAVE_SPLICE) ---- */

#if OS_HAVE_SPLICE
/* A pipe pair from this thread's pool (fds[0] read end, fds[1] write end). 0 or -1. */
int os_pipe_get(int fds[2]);
/* Returns an empty pipe to the pool. */
void os_pipe_put(int fds[2]);
/* Closes a pipe that may still hold bytes. */
void os_pipe_discard(int fds[2]);
/* Closes this thread's idle pipes. */
void os_pipe_trim(void);
/* Moves up to len bytes from socket or pipe in to socket or pipe out without copying;
 * bytes moved, 0 at EOF, or -1 with os_errno(). */
ssize_t os_splice(int in, int out, size_t len);
#define OS_SPLICE_CHUNK 262144
#endif

#endif
