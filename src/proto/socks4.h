/* SOCKS4 and SOCKS4a (the CONNECT request of the 1990s protocol, and its domain-name
 * extension): a pure parser over the bytes received so far, and the reply encoder. */
#ifndef DP_SOCKS4_H
#define DP_SOCKS4_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

#include "parse.h"
#include "target.h"

#define SOCKS4_VERSION 0x04

enum socks4_cmd { SOCKS4_CMD_CONNECT = 1, SOCKS4_CMD_BIND = 2 };

enum socks4_rep {
    SOCKS4_REP_GRANTED = 0x5A,
    SOCKS4_REP_REJECTED = 0x5B, /* rejected or failed: the only failure we send */
};

/* The USERID field is accepted and ignored (it is no secret: SOCKS4 carries no password),
 * but bounded like a SOCKS5 field so a client cannot make us buffer without end. */
#define SOCKS4_USERID_MAX 255

/* VN(4) CD DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x != 0].
 *
 * PARSE_DONE: out->cmd is the command (the caller rejects anything but CONNECT once the
 * whole request is read), out->target an IPv4 address or (4a) a host name.
 * PARSE_ERROR: *rep is SOCKS4_REP_REJECTED (unknown command, USERID or HOST too long,
 * empty HOST), or -1 when VN != 4 (nothing trustworthy to answer: close). */
struct socks4_request {
    uint8_t cmd;
    struct target target;
    size_t userid_len;
};
enum parse_status socks4_parse_request(const uint8_t *buf, size_t len, size_t *consumed,
                                       struct socks4_request *out, int *rep);

/* The 8-byte reply: VN=0, CD, DSTPORT, DSTIP. bnd: the outgoing socket's local address
 * when it is IPv4 (reported like SOCKS5's BND), else NULL for zeros. */
#define SOCKS4_REPLY_LEN 8
size_t socks4_write_reply(uint8_t *out, uint8_t rep, const struct sockaddr *bnd);

#endif
