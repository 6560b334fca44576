/* POSIX sockets behind the seam: non-blocking, close-on-exec sockets (with fcntl
 * fallbacks where SOCK_NONBLOCK / accept4 are missing), errors as errno. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* macOS has no MSG_NOSIGNAL: SO_NOSIGPIPE is set on each socket instead. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#define OS_NEED_NOSIGPIPE 1
#endif

int
os_init(void)
{
    return 0;
}

void
os_cleanup(void)
{
}

int
os_errno(void)
{
    return errno;
}

void
os_set_errno(int err)
{
    errno = err;
}

const char *
os_strerror(int err)
{
    return strerror(err);
}

int
os_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Non-blocking and close-on-exec by fcntl, for systems without the socket() flags. */
static int
os_fd_setup(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
        return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
        return -1;
#ifdef OS_NEED_NOSIGPIPE
    {
        int one = 1;

        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
    }
#endif
    return 0;
}

static os_sock
os_fd_setup_or_close(int fd)
{
    if (fd != -1 && os_fd_setup(fd) == -1) {
        int err = errno;

        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

os_sock
os_socket(int family, int type, int protocol)
{
#if OS_HAVE_ACCEPT4
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

    if (fd != -1 || errno != EINVAL)
        return fd;
#endif
    return os_fd_setup_or_close(socket(family, type, protocol));
}

os_sock
os_accept(os_sock listener, struct sockaddr *peer, socklen_t *len)
{
#if OS_HAVE_ACCEPT4
    return accept4(listener, peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    return os_fd_setup_or_close(accept(listener, peer, len));
#endif
}

int
os_close(os_sock s)
{
    return close(s);
}

int
os_connect(os_sock s, const struct sockaddr *sa, socklen_t len)
{
    int rc;

    do
        rc = connect(s, sa, len);
    while (rc == -1 && errno == EINTR);
    return rc;
}

ssize_t
os_send(os_sock s, const void *buf, size_t len)
{
    return send(s, buf, len, MSG_NOSIGNAL);
}

ssize_t
os_recv(os_sock s, void *buf, size_t len)
{
    return recv(s, buf, len, 0);
}

ssize_t
os_peek(os_sock s, void *buf, size_t len)
{
    return recv(s, buf, len, MSG_PEEK);
}

ssize_t
os_sendto(os_sock s, const void *buf, size_t len, const struct sockaddr *to, socklen_t tolen)
{
    return sendto(s, buf, len, MSG_NOSIGNAL, to, tolen);
}

ssize_t
os_recvfrom(os_sock s, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen)
{
    return recvfrom(s, buf, len, 0, from, fromlen);
}

int
os_shutdown_write(os_sock s)
{
    return shutdown(s, SHUT_WR);
}

int
os_sock_error(os_sock s)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        return errno;
    return err;
}

int
os_getsockname(os_sock s, struct sockaddr_storage *ss, socklen_t *len)
{
    *len = sizeof(*ss);
    return getsockname(s, (struct sockaddr *)ss, len);
}

int
os_getpeername(os_sock s, struct sockaddr_storage *ss, socklen_t *len)
{
    *len = sizeof(*ss);
    return getpeername(s, (struct sockaddr *)ss, len);
}

void
os_set_nodelay(os_sock s)
{
    int one = 1;

    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
os_set_keepalive(os_sock s, int idle_s, int intvl_s, int cnt)
{
    int one = 1;

    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#if defined(TCP_KEEPIDLE)
    setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
#elif defined(TCP_KEEPALIVE) /* macOS */
    setsockopt(s, IPPROTO_TCP, TCP_KEEPALIVE, &idle_s, sizeof(idle_s));
#endif
#if defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
    setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl_s, sizeof(intvl_s));
    setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#endif
    (void)idle_s;
    (void)intvl_s;
    (void)cnt;
}

void
os_set_linger_rst(os_sock s)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int
os_set_listener_opts(os_sock s, int family, int reuseport)
{
    int one = 1;

    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (reuseport) {
        /* Only where the kernel spreads new connections over the listeners: Linux's
         * SO_REUSEPORT, FreeBSD's SO_REUSEPORT_LB. macOS and the other BSDs accept
         * SO_REUSEPORT but hand every connection to one socket, so the loops share one
         * listener there instead (as the PORTABLE build does, to prove that path). */
#if OS_REUSEPORT_SPREADS
        return setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#else
        errno = ENOPROTOOPT;
        return -1;
#endif
    }
    return 0;
}

int
os_set_defer_accept(os_sock s, int seconds)
{
#if OS_HAVE_DEFER_ACCEPT
    return setsockopt(s, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds));
#else
    (void)s, (void)seconds;
    errno = ENOPROTOOPT;
    return -1;
#endif
}

void
os_set_bind_no_port(os_sock s)
{
#ifdef IP_BIND_ADDRESS_NO_PORT
    int one = 1;

    setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#else
    (void)s;
#endif
}

void
os_set_udp_noreset(os_sock s)
{
    (void)s; /* POSIX reports ICMP errors only on connected UDP sockets */
}

/* DP_DISABLE_BINDTODEVICE (make NOBIND=1) builds a proxy that only binds source
 * addresses: the namespace lab must catch it sending through the wrong uplink. */
int
os_can_bind_to_interface(void)
{
#if defined(DP_DISABLE_BINDTODEVICE)
    return 0;
#elif defined(SO_BINDTODEVICE) || defined(IP_BOUND_IF)
    return 1;
#else
    return 0;
#endif
}

int
os_bind_to_interface(os_sock s, int family, const char *ifname, unsigned ifindex)
{
#if defined(DP_DISABLE_BINDTODEVICE)
    (void)s, (void)family, (void)ifname, (void)ifindex;
    return ENOPROTOOPT;
#elif defined(SO_BINDTODEVICE)
    (void)family, (void)ifindex;
    if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) == -1)
        return errno;
    return 0;
#elif defined(IP_BOUND_IF)
    int idx = (int)ifindex, rc;

    (void)ifname;
    if (family == AF_INET6)
        rc = setsockopt(s, IPPROTO_IPV6, IPV6_BOUND_IF, &idx, sizeof(idx));
    else
        rc = setsockopt(s, IPPROTO_IP, IP_BOUND_IF, &idx, sizeof(idx));
    return rc == -1 ? errno : 0;
#else
    (void)s, (void)family, (void)ifname, (void)ifindex;
    return ENOPROTOOPT;
#endif
}

int
os_wakeup_open(struct os_wakeup *w)
{
    int fds[2];

#if OS_HAVE_PIPE2
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
        return -1;
#else
    if (pipe(fds) == -1)
        return -1;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);

        if (fl == -1 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) == -1 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1) {
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    }
#endif
    w->rd = fds[0];
    w->wr = fds[1];
    return 0;
}

void
os_wakeup_signal(struct os_wakeup *w)
{
    char c = 1;
    ssize_t n;

    do /* a full pipe (EAGAIN) already wakes the loop */
        n = write(w->wr, &c, 1);
    while (n == -1 && errno == EINTR);
}

void
os_wakeup_drain(struct os_wakeup *w)
{
    char buf[64];

    while (read(w->rd, buf, sizeof(buf)) > 0)
        ;
}

void
os_wakeup_close(struct os_wakeup *w)
{
    if (w->rd != -1)
        close(w->rd);
    if (w->wr != -1)
        close(w->wr);
    w->rd = w->wr = -1;
}
