#include "sockopt.h"

void
sockopt_keepalive(os_sock s)
{
    os_set_keepalive(s, SOCKOPT_KEEPIDLE_S, SOCKOPT_KEEPINTVL_S, SOCKOPT_KEEPCNT);
}
