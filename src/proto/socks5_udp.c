/* SOCKS5 UDP datagram headers. The address part is the request's (socks5_parse_addr),
 * so a name or address means the same in a CONNECT and in a datagram. */
#include "socks5_udp.h"

#include <string.h>

#include "socks5.h"

#define HDR_ADDR_OFF 3 /* RSV RSV FRAG, then ATYP */

enum parse_status
socks5_udp_parse(const uint8_t *buf, size_t len, size_t *consumed, struct target *out, int *why)
{
    size_t used = 0;
    int rep = 0;
    enum parse_status st;

    for (size_t i = 0; i < 2; i++) {
        if (len <= i)
            return PARSE_MORE;
        if (buf[i] != 0) {
            *why = SOCKS5_UDP_ERR_RSV;
            return PARSE_ERROR;
        }
    }
    if (len < 3)
        return PARSE_MORE;
    if (buf[2] != 0) {
        *why = SOCKS5_UDP_ERR_FRAG;
        return PARSE_ERROR;
    }
    st = socks5_parse_addr(buf + HDR_ADDR_OFF, len - HDR_ADDR_OFF, &used, out, &rep);
    if (st == PARSE_ERROR) {
        *why = rep == SOCKS5_REP_ATYP_UNSUPPORTED ? SOCKS5_UDP_ERR_ATYP : SOCKS5_UDP_ERR_DOMAIN;
        return PARSE_ERROR;
    }
    if (st == PARSE_DONE)
        *consumed = HDR_ADDR_OFF + used;
    return st;
}

const char *
socks5_udp_err_text(int why)
{
    switch (why) {
    case SOCKS5_UDP_ERR_RSV:
        return "RSV not zero";
    case SOCKS5_UDP_ERR_FRAG:
        return "FRAG not zero (fragments are dropped)";
    case SOCKS5_UDP_ERR_ATYP:
        return "unknown ATYP";
    case SOCKS5_UDP_ERR_DOMAIN:
        return "empty domain or NUL in it";
    default:
        return "truncated header";
    }
}

size_t
socks5_udp_write_from(uint8_t *out, const struct sockaddr *sa)
{
    out[0] = out[1] = out[2] = 0;
    return HDR_ADDR_OFF + socks5_write_addr(out + HDR_ADDR_OFF, sa);
}

size_t
socks5_udp_write_target(uint8_t *out, const struct target *t)
{
    uint8_t *p = out + HDR_ADDR_OFF;
    size_t alen = t->type == TARGET_IPV6 ? 16 : 4;

    out[0] = out[1] = out[2] = 0;
    *p++ = (uint8_t)t->type;
    if (t->type == TARGET_DOMAIN) {
        size_t n = strnlen(t->host, 255);
        *p++ = (uint8_t)n;
        memcpy(p, t->host, n);
        p += n;
    } else {
        memcpy(p, t->addr, alen);
        p += alen;
    }
    *p++ = (uint8_t)(t->port >> 8);
    *p++ = (uint8_t)(t->port & 0xff);
    return (size_t)(p - out);
}
