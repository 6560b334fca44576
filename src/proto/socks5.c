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

/* Fixed part of a request before DST.ADDR: VER CMD RSV ATYP. */
#define REQ_HDR_LEN 4

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
socks5_parse_request(const uint8_t *buf, size_t len, size_t *consumed, struct socks5_request *out,
                     int *rep)
{
    size_t alen, have, dlen = 0;

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
    if (len < REQ_HDR_LEN)
        return PARSE_MORE;

    switch (buf[3]) {
    case TARGET_IPV4:
        alen = 4;
        break;
    case TARGET_IPV6:
        alen = 16;
        break;
    case TARGET_DOMAIN:
        if (len < REQ_HDR_LEN + 1)
            return PARSE_MORE;
        dlen = buf[REQ_HDR_LEN];
        if (dlen == 0) {
            *rep = SOCKS5_REP_GENERAL;
            return PARSE_ERROR;
        }
        have = len - (REQ_HDR_LEN + 1);
        if (memchr(buf + REQ_HDR_LEN + 1, '\0', have < dlen ? have : dlen) != NULL) {
            *rep = SOCKS5_REP_GENERAL;
            return PARSE_ERROR;
        }
        alen = 1 + dlen;
        break;
    default:
        *rep = SOCKS5_REP_ATYP_UNSUPPORTED;
        return PARSE_ERROR;
    }
    if (len < REQ_HDR_LEN + alen + 2)
        return PARSE_MORE;

    memset(out, 0, sizeof(*out));
    out->cmd = buf[1];
    out->target.type = (enum target_type)buf[3];
    if (out->target.type == TARGET_DOMAIN) {
        memcpy(out->target.host, buf + REQ_HDR_LEN + 1, dlen);
        out->target.host[dlen] = '\0';
    } else {
        memcpy(out->target.addr, buf + REQ_HDR_LEN, alen);
    }
    out->target.port = get_be16(buf + REQ_HDR_LEN + alen);
    *consumed = REQ_HDR_LEN + alen + 2;
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

static int
is_v4_mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* BND is what the client may use to learn our outgoing address, so a v4-mapped IPv6
 * address (a dual-stack socket that left over IPv4) is reported as the IPv4 it is.
 * Families other than AF_INET/AF_INET6 are reported like NULL: 0.0.0.0:0. */
size_t
socks5_write_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd)
{
    const uint8_t *addr = NULL;
    size_t alen = 4;
    uint8_t port[2] = {0, 0};
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    out[0] = SOCKS5_VERSION;
    out[1] = rep;
    out[2] = 0x00;

    if (bnd != NULL && bnd->sa_family == AF_INET) {
        memcpy(&sin, bnd, sizeof(sin));
        addr = (const uint8_t *)&sin.sin_addr;
        memcpy(port, &sin.sin_port, 2);
    } else if (bnd != NULL && bnd->sa_family == AF_INET6) {
        memcpy(&sin6, bnd, sizeof(sin6));
        addr = (const uint8_t *)&sin6.sin6_addr;
        memcpy(port, &sin6.sin6_port, 2);
        if (is_v4_mapped(addr))
            addr += 12;
        else
            alen = 16;
    }

    out[3] = alen == 16 ? TARGET_IPV6 : TARGET_IPV4;
    if (addr != NULL)
        memcpy(out + 4, addr, alen);
    else
        memset(out + 4, 0, alen);
    memcpy(out + 4 + alen, port, 2);
    return 4 + alen + 2;
}
