/* macOS's per-interface DNS resolvers as `scutil --dns` prints them, read without I/O.
 * After the general section comes "DNS configuration (for scoped queries)": one resolver
 * per interface that has DNS servers, the ones the system asks for a query scoped to
 * that interface:
 *
 *   resolver #1
 *     search domain[0] : lan
 *     nameserver[0] : 192.168.1.1
 *     nameserver[1] : fe80::1%en0
 *     if_index : 6 (en0)
 *     flags    : Scoped, Request A records
 *
 * ("port : N" when not 53). The general section's resolvers are left out: they are the
 * host's, not an interface's. */
#ifndef DP_SCUTIL_H
#define DP_SCUTIL_H

#include <stddef.h>

#include "os.h"

/* Fills up to max servers of the scoped resolvers bound to ifindex, in the order printed
 * (a scoped link-local IPv6 server gets ifindex as its scope). Lines that do not parse
 * are skipped. Returns how many (0: none for that interface). */
int scutil_scoped_servers(const char *text, size_t len, unsigned ifindex,
                          struct sockaddr_storage *out, int max);

#endif
