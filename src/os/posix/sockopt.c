#include "sockopt.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

void
sockopt_keepalive(int fd)
{
    int one = 1, idle = SOCKOPT_KEEPIDLE_S, intvl = SOCKOPT_KEEPINTVL_S, cnt = SOCKOPT_KEEPCNT;

    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_KEEPIDLE
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#else
    (void)idle;
    (void)intvl;
    (void)cnt;
#endif
}
