/* Socket options set the same way on both sides of the proxy. */
#ifndef DP_SOCKOPT_H
#define DP_SOCKOPT_H

#include "os.h"

#define SOCKOPT_KEEPIDLE_S 60  /* idle time before the first keepalive probe */
#define SOCKOPT_KEEPINTVL_S 10 /* between probes */
#define SOCKOPT_KEEPCNT 6      /* unanswered probes before the peer is declared gone */

/* TCP keepalive with the timers above: a peer that vanished without a FIN (NAT timeout,
 * a dropped uplink) is noticed in about two minutes instead of never. Best effort. */
void sockopt_keepalive(os_sock s);

#endif
