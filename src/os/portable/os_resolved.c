/* Per-link DNS servers (portable POSIX build): resolv.conf has no per-interface
 * servers (macOS's per-interface resolvers are not read yet). */
#include "os.h"

int
os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max)
{
    (void)ifindex, (void)out, (void)max;
    return 0;
}
