/* Per-link DNS servers (Linux): systemd-resolved's state file for the link,
 * /run/systemd/resolve/netif/<ifindex>, whose SERVERS= line lists the servers networkd,
 * NetworkManager or resolvectl gave that link. Without resolved (or for a link it was
 * given no servers for) there is none: resolv.conf names the host's servers, not a
 * link's. The file is resolved's own ("do not parse"), but its SERVERS= line has kept
 * one format since systemd 229; the D-Bus/varlink API would need a library or a client
 * of our own on the loop for what one read at start-up gives. */
#include "os.h"

#include <stdio.h>

#include "resolved.h"

int
os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max)
{
    char path[64], text[4096];
    size_t len;
    FILE *f;

    snprintf(path, sizeof(path), "/run/systemd/resolve/netif/%u", ifindex);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    return resolved_parse_servers(text, len, out, max);
}
