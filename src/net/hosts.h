/* The hosts file (/etc/hosts; Windows: ...\drivers\etc\hosts), read once at start-up and
 * asked before any DNS server, as the system's resolver does. "localhost" and every name
 * under ".localhost" (RFC 6761 6.3) always resolve to the loopback addresses here,
 * whatever the file says or lacks: such a lookup never leaves the host. */
#ifndef DP_HOSTS_H
#define DP_HOSTS_H

#include <stddef.h>

#include "dns.h"

#define HOSTS_FILE_MAX (8u * 1024 * 1024) /* larger files: the first 8 MiB are read */

struct hosts;

/* Parses a hosts file's text ("ADDRESS NAME [ALIAS...]" lines, # comments; lines with
 * an address that does not parse are skipped). Names compare without regard to case and
 * to a final dot. Returns a table (maybe empty), or NULL when out of memory. */
struct hosts *hosts_parse(const char *text, size_t len);
/* Reads path (a missing or unreadable file gives an empty table). NULL: out of memory. */
struct hosts *hosts_load(const char *path);
void hosts_free(struct hosts *h);
/* Entries read (for the start-up log line). */
size_t hosts_count(const struct hosts *h);

/* 1 when name is "localhost" or ends in ".localhost" (any case, final dot allowed). */
int hosts_is_localhost(const char *name);

/* The addresses of name for family (AF_INET, AF_INET6, or AF_UNSPEC: both, IPv4 first),
 * in file order, at most max. Returns how many (0: the file does not know the name); -1
 * never. localhost names give 127.0.0.1 and ::1. h may be NULL. */
unsigned hosts_lookup(const struct hosts *h, const char *name, int family, struct dns_addr *out,
                      unsigned max);

#endif
