/* systemd-resolved's per-link state files (/run/systemd/resolve/netif/<ifindex>), read
 * without I/O: the "SERVERS=" line names the DNS servers the system gave that link
 * (from networkd, NetworkManager or resolvectl). resolved writes each server as
 *
 *   1.2.3.4   1.2.3.4:5353   fe80::1%3   [2001:db8::1]:5353%3   9.9.9.9#dns.quad9.net
 *
 * (port when not 53, "%ifindex" for a scoped address, "#name" for DNS-over-TLS). */
#ifndef DP_RESOLVED_H
#define DP_RESOLVED_H

#include <stddef.h>

#include "os.h"

/* Fills up to max servers (port 53 when none is written) from the file's text, in file
 * order; entries that do not parse are skipped. Returns how many (0 without a SERVERS=
 * line or with an empty one). */
int resolved_parse_servers(const char *text, size_t len, struct sockaddr_storage *out, int max);

#endif
