/* SOCKS5 (RFC 1928) and RFC 1929 parsers and reply encoders.
 *
 * Every parser is handed the whole message received so far, from its first byte, and
 * decides each field as soon as the byte holding it has arrived: a byte that can never
 * begin a valid message is an error at once, and any strict prefix of a valid message
 * is PARSE_MORE. The out-parameter is written only on PARSE_DONE, so a caller may keep
 * re-parsing into the same struct without seeing half-filled results. */
#include "socks5.h"
#include "os.h"

#include <string.h>

#include "common.h"

/* A request's fixed part before ATYP DST.ADDR DST.PORT: VER CMD RSV. */
#define REQ_ADDR_OFF 3

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

enum parse_status
socks5_parse_greeting(const uint8_t *buf, size_t len, size_t *consumed, struct socks5_greeting *out)
{
    size_t need;

    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != SOCKS5_VERSION)
        return PARSE_ERROR;
    if (len < 2)
        return PARSE_MORE;
    need = 2 + (size_t)buf[1];
    if (len < need)
        return PARSE_MORE;

    out->offers_none = 0;
    out->offers_userpass = 0;
    for (size_t i = 2; i < need; i++) {
        if (buf[i] == SOCKS5_METHOD_NONE)
            out->offers_none = 1;
        else if (buf[i] == SOCKS5_METHOD_USERPASS)
            out->offers_userpass = 1;
    }
    *consumed = need;
    return PARSE_DONE;
}

/* Bytes inside UNAME/PASSWD are copied as they are (RFC 1929 allows any octet);
 * user_len/pass_len are the authoritative lengths, the trailing NUL is a convenience. */
enum parse_status
socks5_parse_auth(const uint8_t *buf, size_t len, size_t *consumed, struct socks5_auth *out)
{
    size_t ulen, plen;

    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != SOCKS5_AUTH_VERSION)
        return PARSE_ERROR;
    if (len < 2)
        return PARSE_MORE;
    ulen = buf[1];
    if (len < 2 + ulen + 1)
        return PARSE_MORE;
    plen = buf[2 + ulen];
    if (len < 3 + ulen + plen)
        return PARSE_MORE;

    memcpy(out->user, buf + 2, ulen);
    out->user[ulen] = '\0';
    out->user_len = ulen;
    memcpy(out->pass, buf + 3 + ulen, plen);
    out->pass[plen] = '\0';
    out->pass_len = plen;
    *consumed = 3 + ulen + plen;
    return PARSE_DONE;
}

/* A domain must become a C string, so an empty name or one holding a NUL is refused
 * (REP 1) as soon as the offending byte is seen. */
enum parse_status
socks5_parse_addr(const uint8_t *buf, size_t len, size_t *consumed, struct target *out, int *rep)
{
    size_t alen, have, dlen = 0;

    if (len < 1)
        return PARSE_MORE;
    switch (buf[0]) {
    case TARGET_IPV4:
        alen = 4;
        break;
    case TARGET_IPV6:
        alen = 16;
        break;
    case TARGET_DOMAIN:
        if (len < 2)
            return PARSE_MORE;
        dlen = buf[1];
        if (dlen == 0) {
            *rep = SOCKS5_REP_GENERAL;
            return PARSE_ERROR;
        }
        have = len - 2;
        if (memchr(buf + 2, '\0', have < dlen ? have : dlen) != NULL) {
            *rep = SOCKS5_REP_GENERAL;
            return PARSE_ERROR;
        }
        alen = 1 + dlen;
        break;
    default:
        *rep = SOCKS5_REP_ATYP_UNSUPPORTED;
        return PARSE_ERROR;
    }
    if (len < 1 + alen + 2)
        return PARSE_MORE;

    memset(out, 0, sizeof(*out));
    out->type = (enum target_type)buf[0];
    if (out->type == TARGET_DOMAIN) {
        memcpy(out->host, buf + 2, dlen);
        out->host[dlen] = '\0';
    } else {
        memcpy(out->addr, buf + 1, alen);
    }
    out->port = get_be16(buf + 1 + alen);
    *consumed = 1 + alen + 2;
    return PARSE_DONE;
}

enum parse_status
socks5_parse_request(const uint8_t *buf, size_t len, size_t *consumed, struct socks5_request *out,
                     int *rep)
{
    struct target t;
    size_t used = 0;
    enum parse_status st;

    if (len < 1)
        return PARSE_MORE;
    if (buf[0] != SOCKS5_VERSION) {
        *rep = -1;
        return PARSE_ERROR;
    }
    if (len < 2)
        return PARSE_MORE;
    if (buf[1] < SOCKS5_CMD_CONNECT || buf[1] > SOCKS5_CMD_UDP) {
        *rep = SOCKS5_REP_CMD_UNSUPPORTED;
        return PARSE_ERROR;
    }
    /* buf[2] is RSV: ignored, whatever its value. */
    if (len < REQ_ADDR_OFF)
        return PARSE_MORE;
    st = socks5_parse_addr(buf + REQ_ADDR_OFF, len - REQ_ADDR_OFF, &used, &t, rep);
    if (st != PARSE_DONE)
        return st;
    memset(out, 0, sizeof(*out));
    out->cmd = buf[1];
    out->target = t;
    *consumed = REQ_ADDR_OFF + used;
    return PARSE_DONE;
}

size_t
socks5_write_method(uint8_t *out, uint8_t method)
{
    out[0] = SOCKS5_VERSION;
    out[1] = method;
    return 2;
}

size_t
socks5_write_auth_status(uint8_t *out, int ok)
{
    out[0] = SOCKS5_AUTH_VERSION;
    out[1] = ok ? 0x00 : 0x01;
    return 2;
}

/* BND is what the client may use to learn our outgoing address, so a v4-mapped IPv6
 * address (a dual-stack socket that left over IPv4) is reported as the IPv4 it is.
 * Families other than AF_INET/AF_INET6 are reported like NULL: 0.0.0.0:0. */
size_t
socks5_write_addr(uint8_t *out, const struct sockaddr *sa)
{
    const uint8_t *addr = NULL;
    size_t alen = 4;
    uint8_t port[2] = {0, 0};
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(&sin, sa, sizeof(sin));
        addr = (const uint8_t *)&sin.sin_addr;
        memcpy(port, &sin.sin_port, 2);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        memcpy(&sin6, sa, sizeof(sin6));
        addr = (const uint8_t *)&sin6.sin6_addr;
        memcpy(port, &sin6.sin6_port, 2);
        if (dp_is_v4mapped(addr))
            addr += 12;
        else
            alen = 16;
    }

    out[0] = alen == 16 ? TARGET_IPV6 : TARGET_IPV4;
    if (addr != NULL)
        memcpy(out + 1, addr, alen);
    else
        memset(out + 1, 0, alen);
    memcpy(out + 1 + alen, port, 2);
    return 1 + alen + 2;
}

size_t
socks5_write_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd)
{
    out[0] = SOCKS5_VERSION;
    out[1] = rep;
    out[2] = 0x00;
    return 3 + socks5_write_addr(out + 3, bnd);
}
