/* The configured uplinks ("links"): what the user named, the addresses they have
 * now, and how healthy they are. */
#ifndef DP_LINK_H
#define DP_LINK_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_MAX 32

enum link_kind { LINK_ADDR4, LINK_ADDR6, LINK_IFACE };

/* One positional LINK[@RATIO] spec as parsed from the command line. */
struct link_spec {
    enum link_kind kind;
    char name[IF_NAMESIZE]; /* LINK_IFACE: the interface name */
    struct in_addr addr4;   /* LINK_ADDR4 */
    struct in6_addr addr6;  /* LINK_ADDR6 */
    unsigned ratio;         /* >= 1 */
};

/* Parses "LINK[@RATIO]" (LINK: IPv4, IPv6 bare or in brackets, or an interface name;
 * RATIO 1..1000, default 1). Returns 0, or -1 with a one-line reason in err
 * (e.g. `ratio "0" must be an integer from 1 to 1000`). Does not look at the host's
 * interfaces. */
int link_parse_spec(const char *spec, struct link_spec *out, char *err, size_t errlen);

struct link {
    struct link_spec spec;
    char label[64];           /* what logs show: the address or interface name as given */
    char ifname[IF_NAMESIZE]; /* interface the link leaves by ("" if unknown) */
    unsigned ifindex;
    /* Source addresses; has_v4/has_v6 say which families the link serves. For LINK_IFACE
     * they are refreshed by link_refresh(); for address links they are the spec's address. */
    int has_v4, has_v6;
    struct sockaddr_in src4;
    struct sockaddr_in6 src6;
    /* Health (issue 2: simple backoff). Monotonic milliseconds. */
    _Atomic uint64_t skip_until_ms;
    _Atomic unsigned fail_streak;
    /* Counters */
    _Atomic uint64_t n_connections, n_failures, n_active;
    _Atomic uint64_t bytes_up, bytes_down;
};

/* Resolves spec to the interface that owns the address (address links) or the
 * interface's current addresses (interface links). Returns 0, or -1 with a reason in err
 * (e.g. "10.1.2.3 is not an address of any interface on this host"). */
int link_init(struct link *l, const struct link_spec *spec, char *err, size_t errlen);

/* Re-reads an interface link's addresses (called at dial time); returns 0 when the
 * interface is up with an address of family (AF_UNSPEC: either), or -1. Address links:
 * returns 0 when the address is still on this host and of family, or -1. For interface links,
 * has_v4/has_v6 are set when an address of the family appears and never cleared (a
 * cleared flag would keep the balancer from ever offering, and so refreshing, the link
 * again): on -1 the caller must treat the link as unusable for this family. */
int link_refresh(struct link *l, int family);

/* Health: a link-level failure puts the link aside for a while (doubling backoff,
 * 1 s .. 30 s); a success clears it. Neither touches the counters. */
void link_note_failure(struct link *l, uint64_t now_ms);
void link_note_success(struct link *l);
int link_is_backed_off(const struct link *l, uint64_t now_ms);

#endif
