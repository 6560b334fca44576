/* Client side of SOCKS5, SOCKS4a and HTTP CONNECT towards an upstream proxy.
 *
 * Parsers follow parse.h: handed everything received so far, they decide each field as
 * soon as its byte is there, write their out-parameters only on PARSE_DONE, and never
 * read past len. */
#include "upstream.h"

#include <stdio.h>
#include <string.h>

#include "errmap.h"
#include "http.h"

#define S5_VER 0x05
#define S5_AUTH_VER 0x01

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

size_t
upstream_socks5_greeting(uint8_t *out, int with_auth)
{
    out[0] = S5_VER;
    if (!with_auth) {
        out[1] = 1;
        out[2] = 0x00;
        return 3;
    }
    out[1] = 2;
    out[2] = 0x00;
    out[3] = 0x02;
    return 4;
}

enum parse_status
upstream_socks5_parse_method(const uint8_t *buf, size_t len, size_t *consumed, int *method)
{
    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != S5_VER)
        return PARSE_ERROR;
    if (len < 2)
        return PARSE_MORE;
    *method = buf[1];
    *consumed = 2;
    return PARSE_DONE;
}

size_t
upstream_socks5_auth(uint8_t *out, size_t cap, const char *user, size_t ulen, const char *pass,
                     size_t plen)
{
    if (ulen > UPSTREAM_CRED_MAX || plen > UPSTREAM_CRED_MAX || cap < 3 + ulen + plen)
        return 0;
    out[0] = S5_AUTH_VER;
    out[1] = (uint8_t)ulen;
    memcpy(out + 2, user, ulen);
    out[2 + ulen] = (uint8_t)plen;
    memcpy(out + 3 + ulen, pass, plen);
    return 3 + ulen + plen;
}

enum parse_status
upstream_socks5_parse_auth_status(const uint8_t *buf, size_t len, size_t *consumed, int *ok)
{
    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != S5_AUTH_VER && buf[0] != S5_VER)
        return PARSE_ERROR;
    if (len < 2)
        return PARSE_MORE;
    *ok = buf[1] == 0x00;
    *consumed = 2;
    return PARSE_DONE;
}

size_t
upstream_socks5_connect(uint8_t *out, size_t cap, const struct target *t)
{
    size_t n = 4;

    if (cap < 4 + 1 + 255 + 2)
        return 0;
    out[0] = S5_VER;
    out[1] = 0x01; /* CONNECT */
    out[2] = 0x00;
    out[3] = (uint8_t)t->type;
    switch (t->type) {
    case TARGET_IPV4:
        memcpy(out + n, t->addr, 4);
        n += 4;
        break;
    case TARGET_IPV6:
        memcpy(out + n, t->addr, 16);
        n += 16;
        break;
    case TARGET_DOMAIN: {
        size_t hl = strnlen(t->host, sizeof(t->host));
        if (hl == 0 || hl > 255)
            return 0;
        out[n++] = (uint8_t)hl;
        memcpy(out + n, t->host, hl);
        n += hl;
        break;
    }
    default:
        return 0;
    }
    put_be16(out + n, t->port);
    return n + 2;
}

enum parse_status
upstream_socks5_parse_reply(const uint8_t *buf, size_t len, size_t *consumed, int *rep,
                            struct target *bnd)
{
    size_t alen;

    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != S5_VER)
        return PARSE_ERROR;
    if (len < 4)
        return PARSE_MORE;
    switch (buf[3]) {
    case TARGET_IPV4:
        alen = 4;
        break;
    case TARGET_IPV6:
        alen = 16;
        break;
    case TARGET_DOMAIN:
        if (len < 5)
            return PARSE_MORE;
        if (buf[4] == 0)
            return PARSE_ERROR;
        alen = 1 + (size_t)buf[4];
        break;
    default:
        return PARSE_ERROR;
    }
    if (len < 4 + alen + 2)
        return PARSE_MORE;
    memset(bnd, 0, sizeof(*bnd));
    bnd->type = (enum target_type)buf[3];
    if (bnd->type == TARGET_DOMAIN) {
        /* Kept for logs only; a NUL inside ends the name early, which is harmless. */
        memcpy(bnd->host, buf + 5, alen - 1);
        bnd->host[alen - 1] = '\0';
    } else {
        memcpy(bnd->addr, buf + 4, alen);
    }
    bnd->port = get_be16(buf + 4 + alen);
    *rep = buf[1];
    *consumed = 4 + alen + 2;
    return PARSE_DONE;
}

size_t
upstream_socks4_connect(uint8_t *out, size_t cap, const struct target *t, const char *user,
                        size_t ulen)
{
    size_t n = 8, hl = 0;

    if (t->type == TARGET_IPV6 || ulen > UPSTREAM_CRED_MAX || memchr(user, 0, ulen) != NULL)
        return 0;
    if (t->type == TARGET_DOMAIN) {
        hl = strnlen(t->host, sizeof(t->host));
        if (hl == 0 || hl > 255)
            return 0;
    }
    if (cap < 8 + ulen + 1 + hl + 1)
        return 0;
    out[0] = 0x04;
    out[1] = 0x01; /* CONNECT */
    put_be16(out + 2, t->port);
    if (t->type == TARGET_IPV4) {
        memcpy(out + 4, t->addr, 4);
    } else {
        /* SOCKS4a: 0.0.0.x with x != 0 says "the name follows". */
        out[4] = out[5] = out[6] = 0;
        out[7] = 1;
    }
    memcpy(out + n, user, ulen);
    n += ulen;
    out[n++] = 0;
    if (t->type == TARGET_DOMAIN) {
        memcpy(out + n, t->host, hl);
        n += hl;
        out[n++] = 0;
    }
    return n;
}

enum parse_status
upstream_socks4_parse_reply(const uint8_t *buf, size_t len, size_t *consumed, int *cd,
                            struct target *bnd)
{
    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != 0x00 && buf[0] != 0x04)
        return PARSE_ERROR;
    if (len < 2)
        return PARSE_MORE;
    if (buf[1] < 90 || buf[1] > 93)
        return PARSE_ERROR;
    if (len < 8)
        return PARSE_MORE;
    memset(bnd, 0, sizeof(*bnd));
    bnd->type = TARGET_IPV4;
    bnd->port = get_be16(buf + 2);
    memcpy(bnd->addr, buf + 4, 4);
    *cd = buf[1];
    *consumed = 8;
    return PARSE_DONE;
}

static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    return o;
}

/* Appends s (n bytes) to out at *pos within cap. Returns -1 when it does not fit. */
static int
put(uint8_t *out, size_t cap, size_t *pos, const void *s, size_t n)
{
    if (cap - *pos < n)
        return -1;
    memcpy(out + *pos, s, n);
    *pos += n;
    return 0;
}

/* host:port as HTTP writes an authority: IPv6 literals in brackets. */
static int
put_authority(uint8_t *out, size_t cap, size_t *pos, const struct target *t)
{
    char a[300];
    int n;

    if (t->type == TARGET_DOMAIN) {
        n = snprintf(a, sizeof(a), "%.255s:%u", t->host, t->port);
    } else if (t->type == TARGET_IPV4) {
        n = snprintf(a, sizeof(a), "%u.%u.%u.%u:%u", t->addr[0], t->addr[1], t->addr[2], t->addr[3],
                     t->port);
    } else {
        /* Uncompressed groups: valid, and needs no inet_ntop. */
        n = snprintf(a, sizeof(a), "[%x:%x:%x:%x:%x:%x:%x:%x]:%u", get_be16(t->addr),
                     get_be16(t->addr + 2), get_be16(t->addr + 4), get_be16(t->addr + 6),
                     get_be16(t->addr + 8), get_be16(t->addr + 10), get_be16(t->addr + 12),
                     get_be16(t->addr + 14), t->port);
    }
    if (n < 0 || (size_t)n >= sizeof(a))
        return -1;
    return put(out, cap, pos, a, (size_t)n);
}

size_t
upstream_http_connect(uint8_t *out, size_t cap, const struct target *t, const char *user,
                      size_t ulen, const char *pass, size_t plen)
{
    size_t pos = 0;

    if (t->type == TARGET_DOMAIN) {
        /* The name goes into a request line: no byte that could end or split it. */
        for (const char *p = t->host; *p != '\0'; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return 0;
        if (t->host[0] == '\0')
            return 0;
    }
    if (put(out, cap, &pos, "CONNECT ", 8) || put_authority(out, cap, &pos, t) ||
        put(out, cap, &pos, " HTTP/1.1\r\nHost: ", 17) || put_authority(out, cap, &pos, t) ||
        put(out, cap, &pos, "\r\n", 2))
        return 0;
    if (user != NULL) {
        uint8_t plain[2 * UPSTREAM_CRED_MAX + 1];
        char b64[((sizeof(plain) + 2) / 3) * 4];
        size_t bn;

        if (ulen > UPSTREAM_CRED_MAX || plen > UPSTREAM_CRED_MAX)
            return 0;
        memcpy(plain, user, ulen);
        plain[ulen] = ':';
        memcpy(plain + ulen + 1, pass, plen);
        bn = b64_encode(plain, ulen + 1 + plen, b64);
        memset(plain, 0, sizeof(plain));
        if (put(out, cap, &pos, "Proxy-Authorization: Basic ", 27) ||
            put(out, cap, &pos, b64, bn) || put(out, cap, &pos, "\r\n", 2)) {
            memset(b64, 0, sizeof(b64));
            return 0;
        }
        memset(b64, 0, sizeof(b64));
    }
    if (put(out, cap, &pos, "\r\n", 2))
        return 0;
    return pos;
}

enum parse_status
upstream_http_parse_connect(const uint8_t *buf, size_t len, size_t *consumed, int *status)
{
    static const char proto[] = "HTTP/1.";
    const uint8_t *eol;
    size_t line, plen = sizeof(proto) - 1;
    int code;

    /* Decide the status line's bytes as they come: garbage fails at its first byte. */
    for (size_t i = 0; i < len && i < plen; i++)
        if (buf[i] != (uint8_t)proto[i])
            return PARSE_ERROR;
    if (len > plen && buf[plen] != '0' && buf[plen] != '1')
        return PARSE_ERROR;
    if (len > plen + 1 && buf[plen + 1] != ' ')
        return PARSE_ERROR;
    for (size_t i = plen + 2; i < len && i < plen + 5; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return PARSE_ERROR;
    if (len > plen + 5 && buf[plen + 5] != ' ' && buf[plen + 5] != '\r' && buf[plen + 5] != '\n')
        return PARSE_ERROR;
    eol = memchr(buf, '\n', len < UPSTREAM_REPLY_MAX ? len : UPSTREAM_REPLY_MAX);
    if (eol == NULL)
        return len >= UPSTREAM_REPLY_MAX ? PARSE_ERROR : PARSE_MORE;
    line = (size_t)(eol - buf) + 1;
    if (line < plen + 6)
        return PARSE_ERROR;
    code = (buf[plen + 2] - '0') * 100 + (buf[plen + 3] - '0') * 10 + (buf[plen + 4] - '0');
    if (code < 100)
        return PARSE_ERROR;
    if (code < 200 || code > 299) {
        /* 1xx has no place before a CONNECT's answer here: treat it like any refusal. */
        *status = code;
        *consumed = line;
        return PARSE_DONE;
    }
    {
        struct http_response r;
        size_t used = 0, n = len < UPSTREAM_REPLY_MAX ? len : UPSTREAM_REPLY_MAX;
        enum parse_status st = http_parse_response(buf, n, &used, 1, &r);

        if (st == PARSE_MORE)
            return len >= UPSTREAM_REPLY_MAX ? PARSE_ERROR : PARSE_MORE;
        if (st == PARSE_ERROR)
            return PARSE_ERROR;
        *status = code;
        *consumed = used;
        return PARSE_DONE;
    }
}

int
upstream_socks5_method_err(int method, int have_auth)
{
    if (method == 0x00)
        return 0;
    if (method == 0x02)
        return have_auth ? 0 : DP_ERR_UPSTREAM_AUTH;
    if (method == 0xFF)
        return DP_ERR_UPSTREAM_AUTH; /* none of our methods (it wants credentials) */
    return DP_ERR_UPSTREAM;          /* a method we did not offer */
}

int
upstream_socks5_rep_err(int rep)
{
    if (rep == 0)
        return 0;
    if (rep < 1 || rep > 8)
        rep = 1;
    return DP_ERR_UPSTREAM_REP(rep);
}

int
upstream_socks4_cd_err(int cd)
{
    if (cd == 90)
        return 0;
    if (cd == 91)
        return DP_ERR_UPSTREAM_REP(5); /* "rejected or failed": most often refused */
    return DP_ERR_UPSTREAM_AUTH;       /* 92, 93: identd checks we cannot pass */
}

int
upstream_http_status_err(int status)
{
    if (status >= 200 && status <= 299)
        return 0;
    switch (status) {
    case 401: /* what tinyproxy answers to wrong credentials */
    case 407:
        return DP_ERR_UPSTREAM_AUTH;
    case 403:
        return DP_ERR_UPSTREAM_REP(2);
    case 404:
        return DP_ERR_UPSTREAM_REP(4); /* some proxies: name not found */
    case 504:
        return DP_ERR_UPSTREAM_REP(6);
    }
    /* 500, 502, 503...: the proxy could not open the tunnel. Refused is the nearest
     * SOCKS5 answer; HTTP clients get 502 either way. */
    return DP_ERR_UPSTREAM_REP(5);
}
