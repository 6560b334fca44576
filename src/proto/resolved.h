/* systemd's per-link DNS state, read without I/O. Two files say which servers a link has:
 *
 * - systemd-resolved's /run/systemd/resolve/netif/<ifindex>, line "SERVERS=", for links
 *   given servers over its D-Bus API (NetworkManager, resolvectl dns);
 * - systemd-networkd's /run/systemd/netif/links/<ifindex>, line "DNS=", for the links it
 *   manages (resolved writes no file of its own for those).
 *
 * Both write each server as
 *
 *   1.2.3.4   1.2.3.4:5353   fe80::1%3   [2001:db8::1]:5353%3   9.9.9.9#dns.quad9.net
 *
 * (port when not 53, "%ifindex" for a scoped address, "#name" for DNS-over-TLS). */
#ifndef DP_RESOLVED_H
#define DP_RESOLVED_H

#include <stddef.h>

#include "os.h"

/* Fills up to max servers (port 53 when none is written) from the value of the line that
 * starts with key ("SERVERS=" or "DNS="), in file order; entries that do not parse, and
 * those on port 853 (DNS-over-TLS only), are skipped. Returns how many (0 without the
 * line, or with an empty one), or -1 for a link set to DNS-over-TLS only ("DNSOVERTLS=yes"
 * from resolved, "DNS_OVER_TLS=yes" from networkd): its servers must not be asked in
 * clear. */
int resolved_parse_servers(const char *text, size_t len, const char *key,
                           struct sockaddr_storage *out, int max);

#endif
