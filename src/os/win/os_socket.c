/* Winsock behind the seam: start-up, one WSAE* -> errno table, glibc's texts for those
 * errors, non-blocking non-inheritable sockets, options, egress pinning
 * (IP_UNICAST_IF / IPV6_UNICAST_IF) and the wake-up pair. */
#include "os.h"

#include <limits.h>
#include <mstcpip.h>
#include <mswsock.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "win.h"

/* os_set_errno stores its value with this bit (Windows reserves bit 29 for
 * application-defined codes), so os_errno() tells it from a Winsock code. */
#define OS_ERR_APP 0x20000000

/* The one mapping of Winsock (and the few Win32 codes Winsock returns) onto errno. */
static const struct {
    int wsa, err;
} wsa_map[] = {
    {WSAEINTR, EINTR},
    {WSAEBADF, EBADF},
    {WSAEACCES, EACCES},
    {WSAEFAULT, EFAULT},
    {WSAEINVAL, EINVAL},
    {WSAEMFILE, EMFILE},
    {WSAEWOULDBLOCK, EAGAIN},
    {WSAEINPROGRESS, EINPROGRESS},
    {WSAEALREADY, EALREADY},
    {WSAENOTSOCK, ENOTSOCK},
    {WSAEDESTADDRREQ, EDESTADDRREQ},
    {WSAEMSGSIZE, EMSGSIZE},
    {WSAEPROTOTYPE, EPROTOTYPE},
    {WSAENOPROTOOPT, ENOPROTOOPT},
    {WSAEPROTONOSUPPORT, EPROTONOSUPPORT},
    {WSAESOCKTNOSUPPORT, ESOCKTNOSUPPORT},
    {WSAEOPNOTSUPP, EOPNOTSUPP},
    {WSAEPFNOSUPPORT, EPFNOSUPPORT},
    {WSAEAFNOSUPPORT, EAFNOSUPPORT},
    {WSAEADDRINUSE, EADDRINUSE},
    {WSAEADDRNOTAVAIL, EADDRNOTAVAIL},
    {WSAENETDOWN, ENETDOWN},
    {WSAENETUNREACH, ENETUNREACH},
    {WSAENETRESET, ENETRESET},
    {WSAECONNABORTED, ECONNABORTED},
    {WSAECONNRESET, ECONNRESET},
    {WSAENOBUFS, ENOBUFS},
    {WSAEISCONN, EISCONN},
    {WSAENOTCONN, ENOTCONN},
    {WSAESHUTDOWN, ESHUTDOWN},
    {WSAETOOMANYREFS, ETOOMANYREFS},
    {WSAETIMEDOUT, ETIMEDOUT},
    {WSAECONNREFUSED, ECONNREFUSED},
    {WSAELOOP, ELOOP},
    {WSAENAMETOOLONG, ENAMETOOLONG},
    {WSAEHOSTDOWN, EHOSTDOWN},
    {WSAEHOSTUNREACH, EHOSTUNREACH},
    {WSAENOTEMPTY, ENOTEMPTY},
    {WSAEPROCLIM, EMFILE},
    {WSAEUSERS, EUSERS},
    {WSAEDQUOT, EDQUOT},
    {WSAESTALE, ESTALE},
    {WSAEREMOTE, EREMOTE},
    {WSASYSNOTREADY, ENETDOWN},
    {WSAVERNOTSUPPORTED, ENOSYS},
    {WSAEDISCON, ECONNRESET},
    {WSAECANCELLED, ECANCELED},
    {WSA_E_CANCELLED, ECANCELED},
    {WSA_INVALID_HANDLE, EBADF},
    {WSA_NOT_ENOUGH_MEMORY, ENOMEM},
    {WSA_INVALID_PARAMETER, EINVAL},
    {WSA_OPERATION_ABORTED, ECANCELED},
    {ERROR_NETNAME_DELETED, ECONNRESET},
    {ERROR_NOT_SUPPORTED, EOPNOTSUPP},
};

/* glibc's strerror texts, so logs and replies read the same on every platform. */
static const struct {
    int err;
    const char *text;
} err_text[] = {
    {EPERM, "Operation not permitted"},
    {ENOENT, "No such file or directory"},
    {EINTR, "Interrupted system call"},
    {EIO, "Input/output error"},
    {EBADF, "Bad file descriptor"},
    {EAGAIN, "Resource temporarily unavailable"},
    {ENOMEM, "Cannot allocate memory"},
    {EACCES, "Permission denied"},
    {EFAULT, "Bad address"},
    {EBUSY, "Device or resource busy"},
    {EEXIST, "File exists"},
    {ENODEV, "No such device"},
    {EINVAL, "Invalid argument"},
    {ENFILE, "Too many open files in system"},
    {EMFILE, "Too many open files"},
    {ENOSPC, "No space left on device"},
    {EPIPE, "Broken pipe"},
    {ERANGE, "Numerical result out of range"},
    {ENAMETOOLONG, "File name too long"},
    {ENOSYS, "Function not implemented"},
    {ENOTEMPTY, "Directory not empty"},
    {ELOOP, "Too many levels of symbolic links"},
    {EADDRINUSE, "Address already in use"},
    {EADDRNOTAVAIL, "Cannot assign requested address"},
    {EAFNOSUPPORT, "Address family not supported by protocol"},
    {EALREADY, "Operation already in progress"},
    {ECANCELED, "Operation canceled"},
    {ECONNABORTED, "Software caused connection abort"},
    {ECONNREFUSED, "Connection refused"},
    {ECONNRESET, "Connection reset by peer"},
    {EDESTADDRREQ, "Destination address required"},
    {EHOSTUNREACH, "No route to host"},
    {EINPROGRESS, "Operation now in progress"},
    {EISCONN, "Transport endpoint is already connected"},
    {EMSGSIZE, "Message too long"},
    {ENETDOWN, "Network is down"},
    {ENETRESET, "Network dropped connection on reset"},
    {ENETUNREACH, "Network is unreachable"},
    {ENOBUFS, "No buffer space available"},
    {ENOPROTOOPT, "Protocol not available"},
    {ENOTCONN, "Transport endpoint is not connected"},
    {ENOTSOCK, "Socket operation on non-socket"},
    {ENOTSUP, "Operation not supported"},
    {EOPNOTSUPP, "Operation not supported"},
    {EOVERFLOW, "Value too large for defined data type"},
    {EPROTO, "Protocol error"},
    {EPROTONOSUPPORT, "Protocol not supported"},
    {EPROTOTYPE, "Protocol wrong type for socket"},
    {ETIMEDOUT, "Connection timed out"},
    {EWOULDBLOCK, "Resource temporarily unavailable"},
    {EHOSTDOWN, "Host is down"},
    {ESHUTDOWN, "Cannot send after transport endpoint shutdown"},
    {ETOOMANYREFS, "Too many references: cannot splice"},
    {ESOCKTNOSUPPORT, "Socket type not supported"},
    {EPFNOSUPPORT, "Protocol family not supported"},
    {EUSERS, "Too many users"},
    {EDQUOT, "Disk quota exceeded"},
    {ESTALE, "Stale file handle"},
    {EREMOTE, "Object is remote"},
};

int
os_init(void)
{
    WSADATA wsa;

    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0 ? 0 : -1;
}

void
os_cleanup(void)
{
    WSACleanup();
}

static int
wsa_to_errno(int wsa)
{
    if (wsa < 0)
        return wsa; /* one of our own negative codes, passed through os_set_errno */
    if (wsa & OS_ERR_APP)
        return wsa & ~OS_ERR_APP;
    for (size_t i = 0; i < ARRAY_SIZE(wsa_map); i++)
        if (wsa_map[i].wsa == wsa)
            return wsa_map[i].err;
    return wsa; /* unknown: os_strerror says "Winsock error N" */
}

int
os_errno(void)
{
    return wsa_to_errno(WSAGetLastError());
}

void
os_set_errno(int err)
{
    WSASetLastError(err < 0 ? err : err | OS_ERR_APP);
    errno = err;
}

const char *
os_strerror(int err)
{
    static _Thread_local char buf[48];

    for (size_t i = 0; i < ARRAY_SIZE(err_text); i++)
        if (err_text[i].err == err)
            return err_text[i].text;
    if (err >= WSABASEERR)
        snprintf(buf, sizeof(buf), "Winsock error %d", err);
    else
        snprintf(buf, sizeof(buf), "Unknown error %d", err);
    return buf;
}

int
os_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Non-blocking, and not inherited by child processes. 0 or -1. */
static int
sock_setup(os_sock s)
{
    u_long one = 1;

    if (ioctlsocket(s, FIONBIO, &one) == SOCKET_ERROR)
        return -1;
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    return 0;
}

static os_sock
sock_setup_or_close(os_sock s)
{
    if (s != INVALID_SOCKET && sock_setup(s) == -1) {
        int err = WSAGetLastError();

        closesocket(s);
        WSASetLastError(err);
        return INVALID_SOCKET;
    }
    return s;
}

os_sock
os_socket(int family, int type, int protocol)
{
    /* WSA_FLAG_NO_HANDLE_INHERIT: Windows 7 SP1; without it, sock_setup clears the flag. */
    os_sock s = WSASocketW(family, type, protocol, NULL, 0,
                           WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);

    if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL)
        s = WSASocketW(family, type, protocol, NULL, 0, WSA_FLAG_OVERLAPPED);
    return sock_setup_or_close(s);
}

os_sock
os_accept(os_sock listener, struct sockaddr *peer, socklen_t *len)
{
    return sock_setup_or_close(accept(listener, peer, len));
}

int
os_close(os_sock s)
{
    return closesocket(s) == SOCKET_ERROR ? -1 : 0;
}

int
os_connect(os_sock s, const struct sockaddr *sa, socklen_t len)
{
    if (connect(s, sa, len) != SOCKET_ERROR)
        return 0;
    /* A non-blocking connect under way is WSAEWOULDBLOCK on Windows. */
    if (WSAGetLastError() == WSAEWOULDBLOCK)
        os_set_errno(EINPROGRESS);
    return -1;
}

/* Winsock counts in int. */
static int
clamp_len(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

ssize_t
os_send(os_sock s, const void *buf, size_t len)
{
    int n = send(s, buf, clamp_len(len), 0); /* no SIGPIPE on Windows */

    return n == SOCKET_ERROR ? -1 : n;
}

ssize_t
os_recv(os_sock s, void *buf, size_t len)
{
    int n = recv(s, buf, clamp_len(len), 0);

    return n == SOCKET_ERROR ? -1 : n;
}

ssize_t
os_peek(os_sock s, void *buf, size_t len)
{
    int n = recv(s, buf, clamp_len(len), MSG_PEEK);

    return n == SOCKET_ERROR ? -1 : n;
}

ssize_t
os_sendto(os_sock s, const void *buf, size_t len, const struct sockaddr *to, socklen_t tolen)
{
    int n = sendto(s, buf, clamp_len(len), 0, to, tolen);

    return n == SOCKET_ERROR ? -1 : n;
}

ssize_t
os_recvfrom(os_sock s, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen)
{
    int n = recvfrom(s, buf, clamp_len(len), 0, from, fromlen);

    /* A datagram larger than buf: POSIX truncates silently, Winsock fails the call. */
    if (n == SOCKET_ERROR && WSAGetLastError() == WSAEMSGSIZE)
        return clamp_len(len);
    return n == SOCKET_ERROR ? -1 : n;
}

int
os_shutdown_write(os_sock s)
{
    return shutdown(s, SD_SEND) == SOCKET_ERROR ? -1 : 0;
}

int
os_sock_error(os_sock s)
{
    int err = 0;
    int len = sizeof(err);

    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &len) == SOCKET_ERROR)
        return os_errno();
    return err == 0 ? 0 : wsa_to_errno(err);
}

int
os_getsockname(os_sock s, struct sockaddr_storage *ss, socklen_t *len)
{
    *len = sizeof(*ss);
    return getsockname(s, (struct sockaddr *)ss, len) == SOCKET_ERROR ? -1 : 0;
}

int
os_getpeername(os_sock s, struct sockaddr_storage *ss, socklen_t *len)
{
    *len = sizeof(*ss);
    return getpeername(s, (struct sockaddr *)ss, len) == SOCKET_ERROR ? -1 : 0;
}

void
os_set_nodelay(os_sock s)
{
    DWORD one = 1;

    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof(one));
}

#ifndef TCP_KEEPCNT
#define TCP_KEEPCNT 16 /* Windows 10 1703 */
#endif

void
os_set_keepalive(os_sock s, int idle_s, int intvl_s, int cnt)
{
    struct tcp_keepalive ka = {
        .onoff = 1,
        .keepalivetime = (ULONG)idle_s * 1000u,
        .keepaliveinterval = (ULONG)intvl_s * 1000u,
    };
    DWORD got = 0, dcnt = (DWORD)cnt;

    /* Every Windows since 2000; the probe count (10 by default) only since 10 1703. */
    WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof(ka), NULL, 0, &got, NULL, NULL);
    setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, (const char *)&dcnt, sizeof(dcnt));
}

void
os_set_linger_rst(os_sock s)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
}

int
os_set_listener_opts(os_sock s, int family, int reuseport)
{
    DWORD one = 1;

    /* SO_REUSEADDR on Windows would let another program bind our port and steal
     * connections; a listener there needs no help with TIME_WAIT. */
    setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&one, sizeof(one));
    if (reuseport) {
        /* Windows cannot spread one port's connections over several listeners: the
         * loops share one. */
        os_set_errno(ENOPROTOOPT);
        return -1;
    }
    return 0;
}

int
os_set_defer_accept(os_sock s, int seconds)
{
    DP_UNUSED(s), DP_UNUSED(seconds);
    os_set_errno(ENOPROTOOPT); /* no TCP_DEFER_ACCEPT; accept filters are not used */
    return -1;
}

void
os_set_bind_no_port(os_sock s)
{
#ifdef SO_REUSE_UNICASTPORT
    DWORD one = 1;

    /* Windows 10: the port is chosen at connect time, like IP_BIND_ADDRESS_NO_PORT. */
    setsockopt(s, SOL_SOCKET, SO_REUSE_UNICASTPORT, (const char *)&one, sizeof(one));
#else
    DP_UNUSED(s);
#endif
}

void
os_set_udp_noreset(os_sock s)
{
    BOOL off = FALSE;
    DWORD got = 0;

    /* Otherwise an ICMP port unreachable fails the next recvfrom with WSAECONNRESET. */
    WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof(off), NULL, 0, &got, NULL, NULL);
}

int
os_can_bind_to_interface(void)
{
#if defined(DP_DISABLE_BINDTODEVICE)
    return 0;
#else
    return 1;
#endif
}

/* IP_UNICAST_IF takes the IPv4 interface index in network byte order, IPV6_UNICAST_IF
 * in host order (both documented so). Set before connect, with the source bound too. */
int
os_bind_to_interface(os_sock s, int family, const char *ifname, unsigned ifindex)
{
    DWORD idx;
    int rc;

    DP_UNUSED(ifname);
    if (ifindex == 0)
        return ENODEV;
    if (family == AF_INET6) {
        idx = ifindex;
        rc = setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_IF, (const char *)&idx, sizeof(idx));
    } else {
        idx = htonl(ifindex);
        rc = setsockopt(s, IPPROTO_IP, IP_UNICAST_IF, (const char *)&idx, sizeof(idx));
    }
    return rc == SOCKET_ERROR ? os_errno() : 0;
}

/* ---- the loopback socket pair: wake-ups, console control, interface notes ---- */

int
win_socketpair(os_sock pair[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET}, peer, mine;
    int alen = sizeof(a), plen = sizeof(peer), mlen = sizeof(mine), err;
    os_sock lst, c = INVALID_SOCKET, acc = INVALID_SOCKET;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lst = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (lst == INVALID_SOCKET)
        return -1;
    if (bind(lst, (struct sockaddr *)&a, sizeof(a)) == SOCKET_ERROR ||
        getsockname(lst, (struct sockaddr *)&a, &alen) == SOCKET_ERROR ||
        listen(lst, 1) == SOCKET_ERROR)
        goto fail;
    c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (c == INVALID_SOCKET || connect(c, (struct sockaddr *)&a, sizeof(a)) == SOCKET_ERROR)
        goto fail;
    acc = accept(lst, (struct sockaddr *)&peer, &plen);
    if (acc == INVALID_SOCKET || getsockname(c, (struct sockaddr *)&mine, &mlen) == SOCKET_ERROR)
        goto fail;
    /* Another local program could have connected first: the peer must be our end. */
    if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr) {
        WSASetLastError(WSAECONNREFUSED);
        goto fail;
    }
    if (sock_setup(acc) == -1 || sock_setup(c) == -1)
        goto fail;
    os_set_nodelay(c);
    os_set_nodelay(acc);
    closesocket(lst);
    pair[0] = acc;
    pair[1] = c;
    return 0;
fail:
    err = WSAGetLastError();
    if (acc != INVALID_SOCKET)
        closesocket(acc);
    if (c != INVALID_SOCKET)
        closesocket(c);
    closesocket(lst);
    WSASetLastError(err);
    return -1;
}

int
os_wakeup_open(struct os_wakeup *w)
{
    os_sock pair[2];

    if (win_socketpair(pair) == -1)
        return -1;
    w->rd = pair[0];
    w->wr = pair[1];
    return 0;
}

void
os_wakeup_signal(struct os_wakeup *w)
{
    char c = 1;

    send(w->wr, &c, 1, 0); /* WSAEWOULDBLOCK: bytes are pending, the loop wakes anyway */
}

void
os_wakeup_drain(struct os_wakeup *w)
{
    char buf[64];

    while (recv(w->rd, buf, sizeof(buf), 0) > 0)
        ;
}

void
os_wakeup_close(struct os_wakeup *w)
{
    if (w->rd != INVALID_SOCKET)
        closesocket(w->rd);
    if (w->wr != INVALID_SOCKET)
        closesocket(w->wr);
    w->rd = w->wr = INVALID_SOCKET;
}
