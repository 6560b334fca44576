/* The configured uplinks ("links"): what the user named, the addresses they have
 * now, and how healthy they are.
 *
 * Threads: every event loop reads links (link_source(), the health and counter atomics)
 * and reports connect outcomes (link_note_*); only the link watcher (health.c, on server
 * 0's loop) re-reads addresses. A per-link mutex guards the addresses and the health
 * transitions; the hot paths (picking, a success on a healthy link) take no lock. */
#ifndef DP_LINK_H
#define DP_LINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "errmap.h"
#include "os.h"

#define LINK_MAX 32

/* Connect latency histogram: upper bounds in microseconds (Prometheus "le" buckets), the
 * last bucket counting everything slower. */
#define LINK_LAT_BUCKETS 12
extern const uint32_t link_lat_bounds_us[LINK_LAT_BUCKETS];

/* LINK_PROXY: an upstream proxy (or, in -tunnel mode, a plain TCP upstream) that the
 * connection is handed to. */
enum link_kind { LINK_ADDR4, LINK_ADDR6, LINK_IFACE, LINK_PROXY };

enum link_scheme {
    LINK_SCHEME_NONE = 0,
    LINK_SCHEME_TUNNEL,  /* -tunnel HOST:PORT: bytes piped unchanged */
    LINK_SCHEME_SOCKS5,  /* socks5://: names resolved here, addresses sent */
    LINK_SCHEME_SOCKS5H, /* socks5h://: names sent, never resolved here */
    LINK_SCHEME_SOCKS4A, /* socks4a:// */
    LINK_SCHEME_HTTP,    /* http://: CONNECT */
};

#define LINK_HOST_MAX 256 /* upstream host name, NUL included */
#define LINK_CRED_MAX 256 /* user or password (255 bytes, RFC 1929), NUL included */
#define LINK_PATH_MAX 256
#define LINK_DNS_MAX 256       /* "/dns=" value: up to LINK_DNS_SERVERS_MAX servers */
#define LINK_DNS_SERVERS_MAX 4 /* name servers per link (DNS_SERVERS_MAX) */

/* An upstream proxy link's far end. Credentials never appear in logs or messages. */
struct link_upstream {
    enum link_scheme scheme;
    char host[LINK_HOST_MAX]; /* a name, or an IP literal without brackets */
    uint16_t port;
    int literal; /* host is an IP literal: addr holds it (port set) */
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    int has_auth; /* user/pass given (in the URL or from auth_file at link_init) */
    char user[LINK_CRED_MAX], pass[LINK_CRED_MAX];
    size_t user_len, pass_len;
    char auth_file[LINK_PATH_MAX]; /* "/auth-file=PATH": read at link_init, "" none */
    int has_via;                   /* "/via=LINK": reached through this local link */
};

/* One positional spec as parsed from the command line. */
struct link_spec {
    enum link_kind kind;
    char name[OS_IFNAME_MAX]; /* LINK_IFACE: the interface name */
    struct in_addr addr4;     /* LINK_ADDR4 */
    struct in6_addr addr6;    /* LINK_ADDR6 */
    unsigned ratio;           /* >= 1 */
    /* LINK_PROXY: the upstream; with has_via, via_kind and the fields above name the
     * local link it is reached through. */
    enum link_kind via_kind;
    struct link_upstream up;
    /* A local link's "/dns=ADDR[,ADDR...]": its own name servers as written ("" none),
     * each an IP, IPv4:PORT or [IPv6]:PORT (checked here, used by -dns's resolver). */
    char dns[LINK_DNS_MAX];
};

/* Parses "LINK[@RATIO][/dns=ADDR[,ADDR...]]" (LINK: IPv4, IPv6 bare or in brackets, or
 * an interface name; RATIO 1..1000, default 1; ADDR the link's own name servers, at most
 * 4), or a proxy link (link_url.c):
 *   SCHEME://[USER[:PASS]@]HOST:PORT[@RATIO][/via=LINK][/auth-file=PATH]
 * SCHEME socks5, socks5h, socks4a or http; USER and PASS percent-decoded, 255 bytes at
 * most. Returns 0, or -1 with a one-line reason in err (e.g. `ratio "0" must be an
 * integer from 1 to 1000`), which never holds the password. Does not look at the host's
 * interfaces or files. */
int link_parse_spec(const char *spec, struct link_spec *out, char *err, size_t errlen);

/* -tunnel operands: "HOST:PORT[@RATIO][/via=LINK]" (HOST a name, IPv4, or [IPv6]). */
int link_parse_tunnel(const char *spec, struct link_spec *out, char *err, size_t errlen);

/* Copies spec for a message with any password replaced by "***". Returns out. */
const char *link_redact(const char *spec, char *out, size_t outlen);

/* Reads "USER:PASS" (the first line that is not empty or a # comment) from
 * spec->up.auth_file into spec->up. Returns 0, or -1 with a reason in err. */
int link_read_auth_file(struct link_spec *spec, char *err, size_t errlen);

/* The label of a proxy link: "socks5://host:port" ([v6] in brackets), "host:port" for a
 * tunnel; no credentials. */
void link_proxy_label(const struct link_spec *spec, char *out, size_t outlen);

/* Health. up: used normally. suspect: failed lately, skipped for a short backoff, used
 * again afterwards. down: failed LINK_FAIL_THRESHOLD times in a row (or its interface or
 * address is gone); not used while another link is usable, until a probe, a one-connection
 * trial or the interface coming back brings it up. */
enum link_state { LINK_UP = 0, LINK_SUSPECT = 1, LINK_DOWN = 2 };

#define LINK_FAIL_THRESHOLD 3    /* default for -fail-threshold */
#define LINK_TRIAL_MIN_MS 1000u  /* without -probe: first trial of a down link after 1 s */
#define LINK_TRIAL_MAX_MS 60000u /* ... doubling to 60 s */

/* Where a connection through the link leaves from: a copy, safe to use without a lock. */
struct link_src {
    char ifname[OS_IFNAME_MAX]; /* "" when unknown: no device binding */
    unsigned ifindex;
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
    socklen_t addrlen;
};

struct link {
    struct link_spec spec;
    char label[OS_IFNAME_MAX]; /* what logs show: the address or interface name as given */
    unsigned index;            /* position in the links array (set by the caller) */

    pthread_mutex_t mu; /* guards the fields up to n_sys_dns below, and health transitions */
    char ifname[OS_IFNAME_MAX]; /* interface the link leaves by ("" if unknown) */
    unsigned ifindex;
    struct sockaddr_in src4;
    struct sockaddr_in6 src6;
    int reason;        /* errno / DP_ERR_* of the last failure, or why it is absent */
    uint64_t since_ms; /* monotonic time of the last state change */
    /* The DNS servers the system assigns to the link's interface (os_iface_dns_servers),
     * read with the interfaces (link_init, link_refresh*, link_reread_sys_dns; on macOS
     * the system's answer itself is read once), never per lookup. */
    struct sockaddr_storage sys_dns[LINK_DNS_SERVERS_MAX];
    unsigned n_sys_dns;
    int sys_dns_read; /* read once: a change after that is logged */

    /* Families served now (read by the balancer without the lock). Interface links lose a
     * family when its address goes; address links always serve their one family. */
    _Atomic int has_v4, has_v6;
    /* 0, or why the link cannot be used at all: ENODEV (no such interface), ENETDOWN
     * (interface down or no carrier), EADDRNOTAVAIL (address gone). Such a link is down. */
    _Atomic int absent;
    _Atomic int state;              /* enum link_state */
    _Atomic unsigned fail_streak;   /* link-level failures in a row */
    _Atomic uint64_t skip_until_ms; /* suspect: left aside until then */
    /* Down without probes: one real connection may try the link at next_trial_ms. */
    _Atomic uint64_t next_trial_ms;
    _Atomic unsigned trial_backoff_ms;
    _Atomic int trial_busy;

    /* Settings (written once before the loops start). */
    unsigned fail_threshold; /* 0: LINK_FAIL_THRESHOLD */
    int trials;              /* 1: down links are retried by real connections (no -probe) */

    /* Counters */
    _Atomic uint64_t n_connections, n_failures, n_active, n_connecting;
    _Atomic uint64_t bytes_up, bytes_down; /* live: the relay adds as bytes move */
    /* UDP associations (src/front/udp.c): open now; datagrams and payload bytes relayed
     * each way (up: client to remote). */
    _Atomic uint64_t udp_active, udp_dgrams_up, udp_dgrams_down, udp_bytes_up, udp_bytes_down;
    _Atomic uint32_t connect_us;                      /* connect latency EWMA (us), 0: none yet */
    _Atomic uint64_t fail_by[ERRC_COUNT];             /* n_failures by errmap_class */
    _Atomic uint64_t lat_count[LINK_LAT_BUCKETS + 1]; /* connects per latency bucket */
    _Atomic uint64_t lat_sum_us;
};

/* Resolves spec to the interface that owns the address (address links) or the
 * interface's current addresses (interface links). Returns 0, or -1 with a reason in err
 * (e.g. "10.1.2.3 is not an address of any interface on this host"). */
int link_init(struct link *l, const struct link_spec *spec, char *err, size_t errlen);

/* Sets up the lock, health and counters of a link whose spec (and addresses) the caller
 * fills by hand: what link_init does before it looks at the host. Tests use it. */
void link_reset(struct link *l, const struct link_spec *spec);

/* Releases the lock. */
void link_destroy(struct link *l);

/* Re-reads one link's interface and addresses from the host (one getifaddrs). Returns 0
 * when the link can now carry a connection of family (AF_UNSPEC: of either family), or -1.
 * Updates has_v4/has_v6, the source addresses and the link's presence (a link whose
 * interface went down or whose address vanished goes down; when it comes back, up). */
int link_refresh(struct link *l, int family, uint64_t now_ms);

/* The same for every link from one snapshot of the host's interfaces. Returns 0, or -1
 * when the interfaces cannot be read (nothing changed then). */
int link_refresh_all(struct link *links, unsigned n, uint64_t now_ms);

/* Reads the system's DNS servers of every local link's interface again (link_sys_dns);
 * a read that fails keeps what was known. May be slow (os_iface_dns_servers): loop 0
 * calls it, on the refreshes and for a while after an interface changes, since the
 * servers often arrive after the address (DHCP, then resolved). */
void link_reread_sys_dns(struct link *links, unsigned n);

/* Asks the link watcher to re-read the interfaces soon (a connection found an address
 * missing); and the watcher's check-and-clear. Thread-safe. */
void link_request_refresh(void);
int link_refresh_requested(void);

/* Copies where a connection of family through l must leave from. Returns 0, or an errno
 * for an attempt that cannot start: EADDRNOTAVAIL (no address of that family now),
 * ENETDOWN/ENODEV (interface down or gone). */
int link_source(struct link *l, int family, struct link_src *out);

/* The DNS servers the system assigns to the link's interface as last read (Windows: the
 * adapter's; Linux: systemd-resolved's; macOS: the scoped resolver's): up to max copied
 * to out. Returns how many (0: none known, or a proxy link). */
unsigned link_sys_dns(struct link *l, struct sockaddr_storage *out, unsigned max);

/* Health transitions (thread-safe). Each logs a state change: "[WARN] link wan2 down:
 * network unreachable", "[INFO] link wan2 up again".
 *
 * link_note_failure: one link-level failure (err: errno or DP_ERR_*). The first makes the
 * link suspect and skipped for a backoff (1 s doubling, 30 s at most); fail_threshold in a
 * row make it down. Returns the new state.
 * link_note_success: a connection through the link worked (or the destination answered
 * through it): up, streak cleared, any trial released. Lock-free when already up. */
enum link_state link_note_failure(struct link *l, int err, uint64_t now_ms);
void link_note_success(struct link *l, uint64_t now_ms);

/* Presence, from the watcher: err 0 (interface up with an address) or why it is absent.
 * Absent -> down at once; present again after absence -> up. */
void link_set_absent(struct link *l, int err, uint64_t now_ms);

/* Without probes, a down link is retried by letting exactly one real connection try it
 * once its trial time has come (1 s after going down, doubling to 60 s). Claim returns 1
 * when the caller won that one connection; it must then report the outcome with
 * link_note_success(), link_trial_failed() (backoff doubles) or link_trial_release()
 * (cancelled: no verdict, the next connection may try at once). */
int link_trial_claim(struct link *l, uint64_t now_ms);
void link_trial_failed(struct link *l, int err, uint64_t now_ms);
void link_trial_release(struct link *l);

/* Lock-free views for the balancer. */
static inline enum link_state
link_state_of(const struct link *l)
{
    return (enum link_state)atomic_load_explicit(&l->state, memory_order_relaxed);
}

static inline int
link_is_backed_off(const struct link *l, uint64_t now_ms)
{
    return now_ms < atomic_load_explicit(&l->skip_until_ms, memory_order_relaxed);
}

/* Connect latency sample (us): EWMA with weight 1/4, and the histogram. */
void link_note_latency(struct link *l, uint64_t us);

/* A connection attempt through l failed with err: n_failures and its class (lock-free). */
void link_count_failure(struct link *l, int err);

/* Text for the state ("up", "suspect", "down"). */
const char *link_state_name(enum link_state st);

/* Why the link is not up (or what failed last): the reason's text, naming the interface
 * for ENODEV/ENETDOWN. */
const char *link_why(const struct link *l, int err);

#endif
