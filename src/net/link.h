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

#include "os.h"

#define LINK_MAX 32

enum link_kind { LINK_ADDR4, LINK_ADDR6, LINK_IFACE };

/* One positional LINK[@RATIO] spec as parsed from the command line. */
struct link_spec {
    enum link_kind kind;
    char name[OS_IFNAME_MAX]; /* LINK_IFACE: the interface name */
    struct in_addr addr4;     /* LINK_ADDR4 */
    struct in6_addr addr6;    /* LINK_ADDR6 */
    unsigned ratio;           /* >= 1 */
};

/* Parses "LINK[@RATIO]" (LINK: IPv4, IPv6 bare or in brackets, or an interface name;
 * RATIO 1..1000, default 1). Returns 0, or -1 with a one-line reason in err
 * (e.g. `ratio "0" must be an integer from 1 to 1000`). Does not look at the host's
 * interfaces. */
int link_parse_spec(const char *spec, struct link_spec *out, char *err, size_t errlen);

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

    pthread_mutex_t mu;         /* guards the fields up to `reason` below, and health transitions */
    char ifname[OS_IFNAME_MAX]; /* interface the link leaves by ("" if unknown) */
    unsigned ifindex;
    struct sockaddr_in src4;
    struct sockaddr_in6 src6;
    int reason;        /* errno / DP_ERR_* of the last failure, or why it is absent */
    uint64_t since_ms; /* monotonic time of the last state change */

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
    _Atomic uint32_t connect_us;           /* connect latency EWMA (us), 0: none yet */
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

/* Asks the link watcher to re-read the interfaces soon (a connection found an address
 * missing); and the watcher's check-and-clear. Thread-safe. */
void link_request_refresh(void);
int link_refresh_requested(void);

/* Copies where a connection of family through l must leave from. Returns 0, or an errno
 * for an attempt that cannot start: EADDRNOTAVAIL (no address of that family now),
 * ENETDOWN/ENODEV (interface down or gone). */
int link_source(struct link *l, int family, struct link_src *out);

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

/* Connect latency sample (us): EWMA with weight 1/4. */
void link_note_latency(struct link *l, uint64_t us);

/* Text for the state ("up", "suspect", "down"). */
const char *link_state_name(enum link_state st);

/* One line for -v status output: "wan2 down since 13:37:20 (network unreachable), 3
 * failures, 12 active, 4.1 MB/s". rate_bps: the caller's measured rate (0: omitted). */
void link_describe(struct link *l, uint64_t now_ms, double rate_bps, char *out, size_t outlen);

#endif
