#include "errmap.h"

#include <errno.h>
#include <string.h>

#include "common.h"
#include "os.h"

struct errmap_entry {
    int err;
    unsigned char socks5_rep;
    short http_status;
    unsigned char link_failure; /* the link is at fault: back it off, try another */
    unsigned char final;        /* the destination answered: no other link will help */
    const char *text;
};

/* The one errno -> reply table. Anything not listed: REP 1, 502, try the next link. */
static const struct errmap_entry table[] = {
    {ENETUNREACH, 3, 502, 1, 0, "network unreachable"},
    {ENETDOWN, 3, 502, 1, 0, "network down"},
    {ENODEV, 3, 502, 1, 0, "interface gone"},
    {EADDRNOTAVAIL, 3, 502, 1, 0, "source address not available"},
    {EHOSTUNREACH, 4, 502, 0, 0, "host unreachable"},
    {EHOSTDOWN, 4, 502, 0, 0, "host down"},
    {DP_ERR_RESOLVE, 4, 502, 0, 1, "name not resolved"},
    {DP_ERR_DNS_FAILED, 4, 502, 0, 1, "no name server answered"},
    {DP_ERR_DNS_BUSY, 1, 502, 0, 1, "too many name lookups in flight"},
    {DP_ERR_DNS_LINK, 4, 502, 0, 0, "its name servers did not answer (another link's did)"},
    {ECONNREFUSED, 5, 502, 0, 1, "connection refused"},
    {ETIMEDOUT, 6, 504, 1, 0, "connection timed out"},
    {DP_ERR_TIMEOUT, 6, 504, 1, 0, "connection timed out"},
    {DP_ERR_NO_LINK, 3, 502, 0, 1, "no link serves that address family"},
    {DP_ERR_NOT_ALLOWED, 2, 403, 0, 1, "not allowed"},
    {EACCES, 2, 403, 0, 1, "not allowed"},
    {EPERM, 2, 403, 0, 1, "not allowed"},
    {DP_ERR_UPSTREAM, 1, 502, 1, 0, "upstream proxy failed the handshake"},
    {DP_ERR_UPSTREAM_AUTH, 1, 502, 1, 0, "upstream proxy refused our credentials"},
    {DP_ERR_UPSTREAM_NAME, 1, 502, 1, 0, "upstream proxy name not resolved"},
    {DP_ERR_UPSTREAM_DOWN, 1, 502, 1, 0, "upstream proxy unreachable"},
    {DP_ERR_UPSTREAM_REP(1), 1, 502, 0, 1, "upstream proxy: general failure"},
    {DP_ERR_UPSTREAM_REP(2), 2, 403, 0, 1, "upstream proxy: not allowed"},
    {DP_ERR_UPSTREAM_REP(3), 3, 502, 0, 1, "upstream proxy: network unreachable"},
    {DP_ERR_UPSTREAM_REP(4), 4, 502, 0, 1, "upstream proxy: host unreachable"},
    {DP_ERR_UPSTREAM_REP(5), 5, 502, 0, 1, "upstream proxy: connection refused"},
    {DP_ERR_UPSTREAM_REP(6), 6, 504, 0, 1, "upstream proxy: timed out"},
    {DP_ERR_UPSTREAM_REP(7), 7, 502, 0, 1, "upstream proxy: command not supported"},
    {DP_ERR_UPSTREAM_REP(8), 8, 502, 0, 1, "upstream proxy: address type not supported"},
};

static const struct errmap_entry *
lookup(int err)
{
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (table[i].err == err)
            return &table[i];
    return NULL;
}

int
errmap_socks5_rep(int err)
{
    const struct errmap_entry *e = lookup(err);
    return e != NULL ? e->socks5_rep : 1;
}

int
errmap_http_status(int err)
{
    const struct errmap_entry *e = lookup(err);
    return e != NULL ? e->http_status : 502;
}

int
errmap_is_link_failure(int err)
{
    const struct errmap_entry *e = lookup(err);
    return e != NULL && e->link_failure;
}

int
errmap_is_final(int err)
{
    const struct errmap_entry *e = lookup(err);
    return e != NULL && e->final;
}

const char *
errmap_text(int err)
{
    const struct errmap_entry *e = lookup(err);
    if (e != NULL)
        return e->text;
    return err > 0 ? os_strerror(err) : "failure";
}

enum errmap_class
errmap_class(int err)
{
    switch (err) {
    case DP_ERR_TIMEOUT:
    case ETIMEDOUT:
        return ERRC_TIMEOUT;
    case ECONNREFUSED:
        return ERRC_REFUSED;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EHOSTDOWN:
        return ERRC_UNREACHABLE;
    case ENETDOWN:
    case ENODEV:
    case EADDRNOTAVAIL:
        return ERRC_LINK_DOWN;
    case DP_ERR_UPSTREAM:
    case DP_ERR_UPSTREAM_AUTH:
    case DP_ERR_UPSTREAM_NAME:
    case DP_ERR_UPSTREAM_DOWN:
        return ERRC_UPSTREAM;
    default:
        if (err <= DP_ERR_UPSTREAM_REP(1) && err >= DP_ERR_UPSTREAM_REP(8))
            return ERRC_DESTINATION;
        return ERRC_OTHER;
    }
}

const char *
errmap_class_name(enum errmap_class c)
{
    static const char *const names[ERRC_COUNT] = {
        [ERRC_TIMEOUT] = "timeout",
        [ERRC_REFUSED] = "refused",
        [ERRC_UNREACHABLE] = "unreachable",
        [ERRC_LINK_DOWN] = "link_down",
        [ERRC_UPSTREAM] = "upstream",
        [ERRC_DESTINATION] = "destination",
        [ERRC_OTHER] = "other",
    };
    return (unsigned)c < ERRC_COUNT ? names[c] : "other";
}
