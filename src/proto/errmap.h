/* What a failed connect means: which reply each protocol sends, and whether another
 * link should be tried. The one table lives in errmap.c. */
#ifndef DP_ERRMAP_H
#define DP_ERRMAP_H

/* Our own failure causes, alongside errno values (negative so they never collide). */
#define DP_ERR_TIMEOUT (-1)     /* our per-attempt connect timer fired */
#define DP_ERR_RESOLVE (-2)     /* the name did not resolve */
#define DP_ERR_NO_LINK (-3)     /* no link can serve the destination's address family */
#define DP_ERR_NOT_ALLOWED (-4) /* refused by policy */
/* Upstream proxy links (src/proto/upstream.h). The first two are the link's fault. */
#define DP_ERR_UPSTREAM (-5)      /* the upstream proxy broke the protocol or closed */
#define DP_ERR_UPSTREAM_AUTH (-6) /* the upstream proxy refused our credentials */
#define DP_ERR_UPSTREAM_NAME (-7) /* the upstream proxy's own name did not resolve */
#define DP_ERR_UPSTREAM_DOWN (-8) /* connecting to the upstream proxy failed (refused...) */
/* Per-link DNS (src/net/dns_resolver.h). */
#define DP_ERR_DNS_FAILED (-9) /* no name server answered, through any link */
#define DP_ERR_DNS_BUSY (-10)  /* too many lookups in flight */
#define DP_ERR_DNS_LINK (-11)  /* this link's DNS did not answer, another link's did */
/* The upstream reported that the destination failed, as SOCKS5 REP n (1..8): the
 * destination's answer, passed on; the link worked. */
#define DP_ERR_UPSTREAM_REP(n) (-100 - (n))

/* SOCKS5 REP for a failure cause (RFC 1928 section 6). */
int errmap_socks5_rep(int err);
/* HTTP status for a failure cause: 502 or 504 (timeouts). */
int errmap_http_status(int err);
/* 1 when the failure is the link's fault (interface down or gone, no route through it,
 * source address vanished, connect timed out): the link is put aside for a while. */
int errmap_is_link_failure(int err);
/* 1 when the destination itself answered (refused): do not try other links. */
int errmap_is_final(int err);
/* A short text for logs and HTTP bodies. */
const char *errmap_text(int err);

/* Failure classes for counters (status page, /metrics failures_total{reason}). */
enum errmap_class {
    ERRC_TIMEOUT,     /* connect timed out */
    ERRC_REFUSED,     /* the destination refused */
    ERRC_UNREACHABLE, /* network or host unreachable */
    ERRC_LINK_DOWN,   /* interface down or gone, source address not available */
    ERRC_UPSTREAM,    /* an upstream proxy failed, refused us or was unreachable */
    ERRC_DESTINATION, /* an upstream proxy reported the destination's failure */
    ERRC_OTHER,
    ERRC_COUNT
};
enum errmap_class errmap_class(int err);
/* "timeout", "refused", "unreachable", "link_down", "upstream", "destination", "other". */
const char *errmap_class_name(enum errmap_class c);

#endif
