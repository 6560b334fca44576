/* POSIX types behind the seam (src/os/os.h): a socket is a file descriptor. */
#ifndef DP_OS_TYPES_H
#define DP_OS_TYPES_H

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef int os_sock;
#define OS_SOCK_INVALID (-1)

#include "os_caps.h" /* this build's extras: OS_HAVE_SPLICE and others */

/* What to tell a user who started the proxy with administrative rights. */
#define OS_PRIVILEGED_ADVICE "running as root; -user NAME drops privileges once listening"

#endif
