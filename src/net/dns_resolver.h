/* Per-link DNS: names looked up through the link their connection will take.
 *
 * Our own small resolver rather than c-ares. c-ares (Debian libc-ares-dev) would do the
 * protocol work and can pin its sockets to a device, but the Windows build is a static
 * mingw-w64 .exe and Debian ships no mingw c-ares: it would have to be vendored, which
 * this project does not do (Debian packages only, nothing vendored), and a resolver only
 * on some platforms would make -dns mean different things on each. What we need of DNS
 * is small (A and AAAA, CNAME chains, TTLs, TC -> TCP), its parser is pure and fuzzed
 * (src/proto/dns.c), and the sockets go through the very code that pins every other
 * outgoing socket to its link (dialer_socket), which c-ares would bypass.
 *
 * How a lookup runs (all on the caller's event loop, never blocking it):
 * - the hosts file first (hosts.h; "localhost" never leaves the host), then the cache;
 * - else the search list as the system applies it (names with fewer dots than ndots try
 *   the search domains first; a final dot means none);
 * - A and AAAA are asked in parallel, each over its own UDP socket (a random source port
 *   per query) bound to the link like a connection, to the link's servers in turn; a
 *   truncated answer is asked again over TCP through the same link;
 * - if the link's servers fail (SERVFAIL, REFUSED, ICMP) or have not answered within
 *   race_ms, another link's servers are asked too; the first link to answer wins and is
 *   reported, so the connection can move to the link whose DNS works;
 * - answers are cached per (name, family, link) within [min_ttl, max_ttl], one cache for
 *   every loop (DNS_CACHE_ENTRIES, the oldest entry reused first); NXDOMAIN and
 *   "no such record" are cached for the SOA's negative TTL (RFC 2308) or neg_ttl;
 * - at most max_lookups per loop are in flight; more fail at once (DP_ERR_DNS_BUSY).
 *
 * Servers per link: the link's own from -dns LINK=ADDR, else -dns ADDR,..., else what
 * the system assigns to the link's interface (os_iface_dns_servers), else the system's
 * (resolv.conf; when it names only systemd-resolved's stub, the servers resolved
 * forwards to). Any other loopback server (a local stub such as dnsmasq) cannot be
 * reached through a link: it is asked unpinned, and the stub chooses the way out (said
 * once in the log).
 *
 * The default (-dns auto): this resolver when the system names each link's own servers
 * (os_iface_dns_servers: Windows adapters, systemd-resolved's per-link servers), else
 * getaddrinfo (-dns system). Without them resolv.conf names servers for the host as a
 * whole, often a router only one link can reach: asking it through every link would
 * cost a 1 s race on the other links and drag connections to the router's link. So
 * there the user says which servers each link may ask (-dns ADDR, LINK=ADDR). */
#ifndef DP_DNS_RESOLVER_H
#define DP_DNS_RESOLVER_H

#include <stdint.h>

#include "dns.h"
#include "link.h"
#include "loop.h"
#include "os.h"

struct hosts;
struct dns_cache;

#define DNS_SERVERS_MAX LINK_DNS_SERVERS_MAX /* servers per link, and given globally */
#define DNS_SEARCH_MAX 6                     /* search domains (glibc's old limit) */
#define DNS_CANDIDATES_MAX (DNS_SEARCH_MAX + 1)
#define DNS_SPEC_MAX 16    /* items in a -dns value */
#define DNS_TRY_MS 1000    /* one server's time to answer before the next is asked */
#define DNS_RACE_MS 1000   /* before another link's DNS is asked */
#define DNS_MIN_TTL_S 5    /* cached answers live at least this long... */
#define DNS_MAX_TTL_S 3600 /* ... and at most this long */
#define DNS_NEG_TTL_S 30   /* a negative answer without an SOA */
#define DNS_NEG_MAX_TTL_S 300
#define DNS_CACHE_ENTRIES 4096 /* for the process */
#define DNS_MAX_LOOKUPS 128    /* in flight per event loop (each holds up to 4 sockets) */

/* One item of a -dns value: a server, for one link (link[0] != 0) or for all. */
struct dns_server_spec {
    char link[OS_IFNAME_MAX];
    struct sockaddr_storage addr; /* port 53 unless given */
};

/* Parses a -dns value: "auto", "system", or ADDR[,ADDR...] where each ADDR is [LINK=]IP,
 * [LINK=]IPv4:PORT or [LINK=][IPv6]:PORT. Returns the number of items (0 for "auto" and
 * "system"), or -1 with a one-line reason in err. */
int dns_parse_servers(const char *text, struct dns_server_spec *out, unsigned max, char *err,
                      size_t errlen);

/* The names to ask for name, in order, as wire names: with a final dot only the name;
 * else, when it has at least ndots dots, the name then name.DOMAIN for each search
 * domain; else the search domains first and the name last. Candidates too long for DNS
 * are left out. Returns how many (0: name itself is not a valid DNS name). */
unsigned dns_candidates(const char *name, const char (*search)[DNS_NAME_WIRE_MAX],
                        unsigned n_search, unsigned ndots, uint8_t (*out)[DNS_NAME_WIRE_MAX]);

/* What every loop's resolver reads: set up once before the loops start, never changed
 * (a reload keeps it: -dns takes a restart). */
struct dns_settings {
    struct sockaddr_storage global[DNS_SERVERS_MAX]; /* -dns ADDR */
    unsigned n_global;
    struct sockaddr_storage per_link[LINK_MAX][DNS_SERVERS_MAX]; /* -dns LINK=ADDR */
    unsigned n_per_link[LINK_MAX];
    struct sockaddr_storage system[DNS_SERVERS_MAX]; /* resolv.conf */
    unsigned n_system;
    char search[DNS_SEARCH_MAX][DNS_NAME_WIRE_MAX];
    unsigned n_search, ndots;
    struct hosts *hosts;
    struct dns_cache *cache; /* shared by every loop (its own lock) */
    unsigned try_ms, race_ms;
    unsigned max_lookups;
};

/* Fills s from the parsed -dns items, the system's servers and search list, and the
 * hosts file; logs what it will use. links: the configured links (items naming another
 * link are refused). Returns 0, or -1 with a one-line reason in err. */
int dns_settings_init(struct dns_settings *s, const struct dns_server_spec *items, unsigned n,
                      const struct link *links, unsigned n_links, char *err, size_t errlen);
void dns_settings_free(struct dns_settings *s);

struct dns_resolver;
struct dns_lookup;

/* The answer: err 0 with n >= 1 addresses (port 0; IPv4 first), or err DP_ERR_RESOLVE
 * (no such name, or no address of that family), DP_ERR_DNS_FAILED (no server answered
 * through any link), DP_ERR_DNS_BUSY. link: the link whose DNS answered (-1: the hosts
 * file or an error). Called on the loop, never from inside dns_lookup_start. */
typedef void (*dns_lookup_cb)(void *arg, int err, const struct sockaddr_storage *addrs, unsigned n,
                              int link);

/* One per event loop. links: the balancer's (read for sources and states). */
struct dns_resolver *dns_resolver_new(struct loop *loop, struct link *links,
                                      _Atomic unsigned *n_links, const struct dns_settings *s);
/* Every lookup must have ended or been cancelled. */
void dns_resolver_free(struct dns_resolver *r);

/* Looks up name (AF_INET, AF_INET6 or AF_UNSPEC: both) through link (an index into links).
 * Returns a handle for dns_lookup_cancel, or NULL when out of memory. */
struct dns_lookup *dns_lookup_start(struct dns_resolver *r, const char *name, int link, int family,
                                    dns_lookup_cb cb, void *arg);
/* The callback will not be called; sockets and timers are released now. */
void dns_lookup_cancel(struct dns_lookup *lk);

/* Counters of this loop's resolver (tests and the log). */
struct dns_stats {
    uint64_t lookups, cache_hits, hosts_hits, queries_udp, queries_tcp, races, busy;
};
void dns_resolver_stats(const struct dns_resolver *r, struct dns_stats *out);

#endif
