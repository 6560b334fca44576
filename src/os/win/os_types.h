/* Windows types behind the seam (src/os/os.h): a socket is a Winsock SOCKET, errors are
 * the POSIX names of mingw-w64's <errno.h> (os_errno() maps WSAE* codes onto them).
 *
 * Built with _WIN32_WINNT 0x0A00 (Windows 10): WSAPoll, IP_UNICAST_IF,
 * NotifyIpInterfaceChange and BCryptGenRandom are all Vista and later; Windows 10 2004 is
 * the first whose WSAPoll reports a failed non-blocking connect (see README, Windows). */
#ifndef DP_OS_TYPES_H
#define DP_OS_TYPES_H

/* Before any system header: ws2tcpip.h and iphlpapi.h want winsock2.h before windows.h. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <errno.h>
#include <stdio.h>
#include <sys/types.h>

typedef SOCKET os_sock;
#define OS_SOCK_INVALID INVALID_SOCKET

#define OS_HAVE_SPLICE 0

/* The loop's poll backend (src/os/loop_poll.c) takes WSAPoll: the same struct pollfd
 * and POLLIN / POLLOUT / POLLHUP / POLLERR, a SOCKET in fd. */
#define OS_POLL WSAPoll

/* errno names mingw-w64 lacks but the portable code (errmap.c) and the WSAE* mapping use;
 * values above mingw's own (they end at EWOULDBLOCK, 140). */
#ifndef EHOSTDOWN
#define EHOSTDOWN 160
#endif
#ifndef ESHUTDOWN
#define ESHUTDOWN 161
#endif
#ifndef ETOOMANYREFS
#define ETOOMANYREFS 162
#endif
#ifndef ESOCKTNOSUPPORT
#define ESOCKTNOSUPPORT 163
#endif
#ifndef EPFNOSUPPORT
#define EPFNOSUPPORT 164
#endif
#ifndef EUSERS
#define EUSERS 165
#endif
#ifndef EDQUOT
#define EDQUOT 166
#endif
#ifndef ESTALE
#define ESTALE 167
#endif
#ifndef EREMOTE
#define EREMOTE 168
#endif

/* POSIX's getline(3), which the msvcrt lacks (src/os/win/os_compat.c). */
ssize_t getline(char **lineptr, size_t *n, FILE *stream);

/* What to tell a user who started the proxy with administrative rights. */
#define OS_PRIVILEGED_ADVICE                                                                       \
    "running as administrator (elevated): the proxy needs no administrator rights; start it "      \
    "from a normal console"

#endif
