/* SOCKS4 / SOCKS4a request parser and reply encoder.
 *
 * Same contract as the SOCKS5 parsers: the whole request received so far is handed in
 * from its first byte, every field is judged as soon as its byte has arrived, a strict
 * prefix of a valid request is PARSE_MORE, and out is written only on PARSE_DONE. */
#include "socks4.h"
#include "os.h"

#include <string.h>

#define REQ_FIXED_LEN 8 /* VN CD DSTPORT(2) DSTIP(4) */
#define HOST_MAX 255    /* struct target's host capacity, less its NUL */

/* SOCKS4a marks "the name follows" with DSTIP 0.0.0.x, x != 0. */
static int
is_4a(const uint8_t *ip)
{
    return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

/* Looks for the NUL that ends a field starting at buf[start], within max bytes of field.
 * Returns 1 and sets *field_len when found, 0 when more bytes may still end it, and -1
 * when the field is already longer than max. */
static int
find_field_end(const uint8_t *buf, size_t len, size_t start, size_t max, size_t *field_len)
{
    size_t have = len > start ? len - start : 0;
    size_t look = have < max + 1 ? have : max + 1;
    const uint8_t *nul = memchr(buf + start, '\0', look);

    if (nul != NULL) {
        *field_len = (size_t)(nul - (buf + start));
        return 1;
    }
    return have > max ? -1 : 0;
}

enum parse_status
socks4_parse_request(const uint8_t *buf, size_t len, size_t *consumed, struct socks4_request *out,
                     int *rep)
{
    size_t ulen = 0, hlen = 0, end;
    int r;

    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != SOCKS4_VERSION) {
        *rep = -1;
        return PARSE_ERROR;
    }
    if (len < 2)
        return PARSE_MORE;
    if (buf[1] != SOCKS4_CMD_CONNECT && buf[1] != SOCKS4_CMD_BIND) {
        *rep = SOCKS4_REP_REJECTED;
        return PARSE_ERROR;
    }
    if (len < REQ_FIXED_LEN)
        return PARSE_MORE;

    r = find_field_end(buf, len, REQ_FIXED_LEN, SOCKS4_USERID_MAX, &ulen);
    if (r <= 0) {
        if (r < 0)
            *rep = SOCKS4_REP_REJECTED;
        return r < 0 ? PARSE_ERROR : PARSE_MORE;
    }
    end = REQ_FIXED_LEN + ulen + 1;
    if (is_4a(buf + 4)) {
        r = find_field_end(buf, len, end, HOST_MAX, &hlen);
        if (r < 0 || (r > 0 && hlen == 0)) { /* too long, or empty: no name to resolve */
            *rep = SOCKS4_REP_REJECTED;
            return PARSE_ERROR;
        }
        if (r == 0)
            return PARSE_MORE;
    }

    memset(out, 0, sizeof(*out));
    out->cmd = buf[1];
    out->userid_len = ulen;
    out->target.port = (uint16_t)((buf[2] << 8) | buf[3]);
    if (is_4a(buf + 4)) {
        out->target.type = TARGET_DOMAIN;
        memcpy(out->target.host, buf + end, hlen);
        out->target.host[hlen] = '\0';
        end += hlen + 1;
    } else {
        out->target.type = TARGET_IPV4;
        memcpy(out->target.addr, buf + 4, 4);
    }
    *consumed = end;
    return PARSE_DONE;
}

size_t
socks4_write_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd)
{
    memset(out, 0, SOCKS4_REPLY_LEN);
    out[1] = rep;
    if (bnd != NULL && bnd->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, bnd, sizeof(sin));
        memcpy(out + 2, &sin.sin_port, 2);
        memcpy(out + 4, &sin.sin_addr, 4);
    }
    return SOCKS4_REPLY_LEN;
}
