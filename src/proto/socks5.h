/* SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929):
 * pure parsers over the bytes received so far, and reply encoders. */
#ifndef DP_SOCKS5_H
#define DP_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

#include "parse.h"
#include "target.h"

#define SOCKS5_VERSION 0x05
#define SOCKS5_AUTH_VERSION 0x01

enum socks5_method {
    SOCKS5_METHOD_NONE = 0x00,
    SOCKS5_METHOD_USERPASS = 0x02,
    SOCKS5_METHOD_REJECT = 0xFF,
};

enum socks5_cmd { SOCKS5_CMD_CONNECT = 1, SOCKS5_CMD_BIND = 2, SOCKS5_CMD_UDP = 3 };

enum socks5_rep {
    SOCKS5_REP_OK = 0,
    SOCKS5_REP_GENERAL = 1,
    SOCKS5_REP_NOT_ALLOWED = 2,
    SOCKS5_REP_NET_UNREACH = 3,
    SOCKS5_REP_HOST_UNREACH = 4,
    SOCKS5_REP_REFUSED = 5,
    SOCKS5_REP_TTL_EXPIRED = 6,
    SOCKS5_REP_CMD_UNSUPPORTED = 7,
    SOCKS5_REP_ATYP_UNSUPPORTED = 8,
};

/* Greeting: VER NMETHODS METHODS... */
struct socks5_greeting {
    int offers_none;     /* client offered 0x00 */
    int offers_userpass; /* client offered 0x02 */
};

/* PARSE_ERROR only for VER != 5 (the caller closes without a reply).
 * NMETHODS == 0 parses as DONE with nothing offered (the caller answers 05 FF). */
enum parse_status socks5_parse_greeting(const uint8_t *buf, size_t len, size_t *consumed,
                                        struct socks5_greeting *out);

/* RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. Empty fields are accepted.
 * PARSE_ERROR for a sub-negotiation version other than 1. */
struct socks5_auth {
    char user[256]; /* NUL-terminated */
    char pass[256]; /* NUL-terminated */
    size_t user_len, pass_len;
};
enum parse_status socks5_parse_auth(const uint8_t *buf, size_t len, size_t *consumed,
                                    struct socks5_auth *out);

/* Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
 * On PARSE_ERROR *rep says what to answer: SOCKS5_REP_CMD_UNSUPPORTED,
 * SOCKS5_REP_ATYP_UNSUPPORTED, SOCKS5_REP_GENERAL (e.g. empty domain), or -1 when
 * VER != 5 (no reply can be trusted: close). On PARSE_DONE out->cmd tells the command
 * (the caller replies 7 to anything but CONNECT once the whole request is read). */
struct socks5_request {
    uint8_t cmd;
    struct target target;
};
enum parse_status socks5_parse_request(const uint8_t *buf, size_t len, size_t *consumed,
                                       struct socks5_request *out, int *rep);

/* The address part shared by requests and UDP datagrams (socks5_udp.h): ATYP DST.ADDR
 * DST.PORT. On PARSE_ERROR *rep is SOCKS5_REP_ATYP_UNSUPPORTED (unknown ATYP) or
 * SOCKS5_REP_GENERAL (empty domain, or a NUL in it); out is written only on PARSE_DONE. */
enum parse_status socks5_parse_addr(const uint8_t *buf, size_t len, size_t *consumed,
                                    struct target *out, int *rep);

/* Encoders. Each writes into out (at least SOCKS5_REPLY_MAX bytes) and returns the length. */
#define SOCKS5_REPLY_MAX 22
size_t socks5_write_method(uint8_t *out, uint8_t method);
size_t socks5_write_auth_status(uint8_t *out, int ok);
/* bnd: the outgoing socket's local address (AF_INET or AF_INET6), or NULL for 0.0.0.0:0 */
size_t socks5_write_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd);
/* ATYP ADDR PORT of sa (a v4-mapped IPv6 address as IPv4; NULL or another family as
 * 0.0.0.0:0): 7 or 19 bytes. */
size_t socks5_write_addr(uint8_t *out, const struct sockaddr *sa);

#endif
