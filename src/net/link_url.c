/* Proxy and tunnel links on the command line:
 *   SCHEME://[USER[:PASS]@]HOST:PORT[@RATIO][/via=LINK][/auth-file=PATH]
 *   HOST:PORT[@RATIO][/via=LINK]                        (-tunnel operands)
 * Credentials are percent-decoded and never copied into an error message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "link_url.h"
#include "log.h"
#include "os.h"

#define RATIO_MAX 1000ul

static const struct {
    const char *name;
    enum link_scheme scheme;
} schemes[] = {
    {"socks5", LINK_SCHEME_SOCKS5},   {"socks5h", LINK_SCHEME_SOCKS5H},
    {"socks4a", LINK_SCHEME_SOCKS4A}, {"socks4", LINK_SCHEME_SOCKS4A},
    {"http", LINK_SCHEME_HTTP},
};

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes, NUL added). Returns the length, or -1
 * for a bad escape, a NUL byte, or a result over cap - 1 bytes. */
static long
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '%') {
            int hi;

            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            if (hi < 0 || hexval(s[i + 2]) < 0)
                return -1;
            c = (char)(hi * 16 + hexval(s[i + 2]));
            i += 2;
            if (c == '\0')
                return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

static int
parse_ratio(const char *s, size_t n, unsigned *ratio)
{
    unsigned long v = 0;

    if (n == 0 || n > 4)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > RATIO_MAX)
        return -1;
    *ratio = (unsigned)v;
    return 0;
}

static int
all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* A host name as the upstream will be asked for it: letters, digits, '.', '-', '_'. */
static int
host_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= LINK_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* HOST:PORT (HOST a name, IPv4 or [IPv6]) into up. */
static int
parse_hostport(const char *s, size_t n, struct link_upstream *up, char *err, size_t errlen)
{
    const char *host = s, *colon;
    size_t hlen;
    char q[96], buf[LINK_HOST_MAX];
    unsigned long port = 0;

    log_escape(q, sizeof(q), s, n);
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (close == NULL || close + 1 == s + n || close[1] != ':') {
            snprintf(err, errlen, "\"%s\" is not [IPv6]:PORT", q);
            return -1;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (colon == NULL) {
            snprintf(err, errlen, "\"%s\" has no :PORT", q);
            return -1;
        }
        hlen = (size_t)(colon - s);
    }
    {
        const char *p = colon + 1;
        size_t plen = (size_t)(s + n - p);

        if (!all_digits(p, plen) || plen > 5) {
            snprintf(err, errlen, "port in \"%s\" must be a number from 1 to 65535", q);
            return -1;
        }
        for (size_t i = 0; i < plen; i++)
            port = port * 10 + (unsigned long)(p[i] - '0');
        if (port < 1 || port > 65535) {
            snprintf(err, errlen, "port in \"%s\" must be a number from 1 to 65535", q);
            return -1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(buf)) {
        snprintf(err, errlen, "\"%s\" has no valid host", q);
        return -1;
    }
    memcpy(buf, host, hlen);
    buf[hlen] = '\0';
    up->port = (uint16_t)port;
    memset(&up->addr, 0, sizeof(up->addr));
    if (inet_pton(AF_INET6, buf, &up->addr.v6.sin6_addr) == 1) {
        up->addr.v6.sin6_family = AF_INET6;
        up->addr.v6.sin6_port = htons(up->port);
        up->literal = 1;
    } else if (s[0] == '[') {
        snprintf(err, errlen, "\"%s\" is not a bracketed IPv6 address", q);
        return -1;
    } else if (inet_pton(AF_INET, buf, &up->addr.v4.sin_addr) == 1) {
        up->addr.v4.sin_family = AF_INET;
        up->addr.v4.sin_port = htons(up->port);
        up->literal = 1;
    } else if (!host_name_ok(buf, hlen)) {
        snprintf(err, errlen, "\"%s\" is not a host name or IP address", q);
        return -1;
    }
    memcpy(up->host, buf, hlen + 1);
    return 0;
}

/* The "/via=LINK" and "/auth-file=PATH" options after the authority. */
static int
parse_options(const char *s, struct link_spec *out, int allow_auth_file, char *err, size_t errlen)
{
    while (*s == '/') {
        const char *opt = s + 1, *next = strchr(opt, '/');
        size_t n = next != NULL ? (size_t)(next - opt) : strlen(opt);
        char q[96];

        if (strncmp(opt, "via=", 4) == 0) {
            struct link_spec via;

            if (out->up.has_via) {
                snprintf(err, errlen, "/via given twice");
                return -1;
            }
            memset(&via, 0, sizeof(via));
            if (link_parse_link(opt + 4, n - 4, &via, err, errlen) == -1)
                return -1;
            out->via_kind = via.kind;
            memcpy(out->name, via.name, sizeof(out->name));
            out->addr4 = via.addr4;
            out->addr6 = via.addr6;
            out->up.has_via = 1;
            s = opt + n;
            continue;
        }
        if (allow_auth_file && strncmp(opt, "auth-file=", 10) == 0) {
            /* The path is the rest: it may hold slashes. */
            const char *path = opt + 10;
            size_t plen = strlen(path);

            if (plen == 0 || plen >= sizeof(out->up.auth_file)) {
                snprintf(err, errlen, "/auth-file needs a path (at most %d bytes)",
                         LINK_PATH_MAX - 1);
                return -1;
            }
            if (out->up.has_auth) {
                snprintf(err, errlen, "credentials both in the URL and in /auth-file");
                return -1;
            }
            memcpy(out->up.auth_file, path, plen + 1);
            return 0;
        }
        log_escape(q, sizeof(q), opt, n);
        snprintf(err, errlen, "unknown option \"/%s\" (/via=LINK%s)", q,
                 allow_auth_file ? " or /auth-file=PATH" : "");
        return -1;
    }
    if (*s != '\0') {
        snprintf(err, errlen, "unexpected text after the port");
        return -1;
    }
    return 0;
}

/* HOST:PORT[@RATIO] then options, from s (authority first, options from the first '/'). */
static int
parse_tail(const char *s, size_t alen, struct link_spec *out, int allow_auth_file, char *err,
           size_t errlen)
{
    const char *at = NULL, *opts = s + alen;

    for (size_t i = 0; i < alen; i++)
        if (s[i] == '@')
            at = s + i;
    if (at != NULL) {
        size_t rn = (size_t)(s + alen - at - 1);
        char q[48];

        if (parse_ratio(at + 1, rn, &out->ratio) == -1) {
            log_escape(q, sizeof(q), at + 1, rn);
            snprintf(err, errlen, "ratio \"%s\" must be an integer from 1 to %lu", q, RATIO_MAX);
            return -1;
        }
        alen = (size_t)(at - s);
    }
    if (parse_hostport(s, alen, &out->up, err, errlen) == -1)
        return -1;
    return parse_options(opts, out, allow_auth_file, err, errlen);
}

int
link_parse_url(const char *spec, struct link_spec *out, char *err, size_t errlen)
{
    const char *sep = strstr(spec, "://"), *auth = sep + 3, *slash, *at = NULL, *hp;
    size_t slen = (size_t)(sep - spec), alen;
    char q[48];

    out->kind = LINK_PROXY;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strlen(schemes[i].name) == slen && strncmp(schemes[i].name, spec, slen) == 0)
            out->up.scheme = schemes[i].scheme;
    if (out->up.scheme == LINK_SCHEME_NONE) {
        log_escape(q, sizeof(q), spec, slen);
        snprintf(err, errlen, "unknown scheme \"%s\" (socks5, socks5h, socks4a or http)", q);
        return -1;
    }
    slash = strchr(auth, '/');
    alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
    /* USER:PASS@ ends at the last '@' that is not the ratio's. */
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (at != NULL && all_digits(at + 1, (size_t)(auth + alen - at - 1))) {
        const char *prev = NULL;

        for (const char *p = auth; p < at; p++)
            if (*p == '@')
                prev = p;
        at = prev;
    }
    hp = auth;
    if (at != NULL) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        size_t ulen = colon != NULL ? (size_t)(colon - auth) : (size_t)(at - auth);
        long u, p = 0;

        u = pct_decode(auth, ulen, out->up.user, sizeof(out->up.user));
        if (u >= 0 && colon != NULL)
            p = pct_decode(colon + 1, (size_t)(at - colon - 1), out->up.pass, sizeof(out->up.pass));
        if (u < 0 || p < 0) {
            snprintf(err, errlen,
                     "bad credentials: user and password must be at most 255 bytes each, "
                     "percent-encoded (%%40 for @, %%3A for :, %%2F for /), no %%00");
            memset(out->up.pass, 0, sizeof(out->up.pass));
            return -1;
        }
        out->up.user_len = (size_t)u;
        out->up.pass_len = (size_t)p;
        out->up.has_auth = 1;
        if (out->up.scheme == LINK_SCHEME_SOCKS4A && colon != NULL) {
            snprintf(err, errlen, "socks4a carries a user name but no password");
            return -1;
        }
        hp = at + 1;
    }
    return parse_tail(hp, (size_t)(auth + alen - hp), out, 1, err, errlen);
}

int
link_parse_tunnel(const char *spec, struct link_spec *out, char *err, size_t errlen)
{
    const char *slash;

    memset(out, 0, sizeof(*out));
    out->ratio = 1;
    out->kind = LINK_PROXY;
    out->up.scheme = LINK_SCHEME_TUNNEL;
    if (spec == NULL || spec[0] == '\0') {
        snprintf(err, errlen, "empty tunnel (HOST:PORT[@RATIO])");
        return -1;
    }
    if (strstr(spec, "://") != NULL) {
        snprintf(err, errlen, "-tunnel takes HOST:PORT[@RATIO], not a URL");
        return -1;
    }
    slash = strchr(spec, '/');
    return parse_tail(spec, slash != NULL ? (size_t)(slash - spec) : strlen(spec), out, 0, err,
                      errlen);
}

const char *
link_redact(const char *spec, char *out, size_t outlen)
{
    const char *sep = strstr(spec, "://"), *auth, *end, *at = NULL, *colon;

    if (outlen == 0)
        return out;
    if (sep == NULL) {
        snprintf(out, outlen, "%s", spec);
        return out;
    }
    auth = sep + 3;
    end = strchr(auth, '/');
    if (end == NULL)
        end = auth + strlen(auth);
    for (const char *p = auth; p < end; p++)
        if (*p == '@' && !all_digits(p + 1, (size_t)(end - p - 1)))
            at = p;
    colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL) {
        snprintf(out, outlen, "%s", spec);
        return out;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - spec), spec, at);
    return out;
}

int
link_read_auth_file(struct link_spec *spec, char *err, size_t errlen)
{
    FILE *f = fopen(spec->up.auth_file, "r");
    char line[2 * LINK_CRED_MAX + 4];
    int rc = -1;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", spec->up.auth_file, strerror(errno));
        return -1;
    }
    snprintf(err, errlen, "%s holds no USER:PASS line", spec->up.auth_file);
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strcspn(line, "\r\n");
        char *colon;

        line[n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        colon = strchr(line, ':');
        if (colon == NULL || (size_t)(colon - line) >= LINK_CRED_MAX ||
            strlen(colon + 1) >= LINK_CRED_MAX) {
            snprintf(err, errlen, "%s: the first line must be USER:PASS (each at most 255 bytes)",
                     spec->up.auth_file);
            break;
        }
        *colon = '\0';
        spec->up.user_len = (size_t)(colon - line);
        memcpy(spec->up.user, line, spec->up.user_len + 1);
        spec->up.pass_len = strlen(colon + 1);
        memcpy(spec->up.pass, colon + 1, spec->up.pass_len + 1);
        spec->up.has_auth = 1;
        rc = 0;
        break;
    }
    memset(line, 0, sizeof(line));
    fclose(f);
    return rc;
}

void
link_proxy_label(const struct link_spec *spec, char *out, size_t outlen)
{
    const struct link_upstream *up = &spec->up;
    const char *scheme = "";
    int v6 = up->literal && up->addr.sa.sa_family == AF_INET6;

    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (schemes[i].scheme == up->scheme) {
            scheme = schemes[i].name;
            break;
        }
    snprintf(out, outlen, "%s%s%s%.255s%s:%u", scheme, scheme[0] ? "://" : "", v6 ? "[" : "",
             up->host, v6 ? "]" : "", up->port);
}
