/* SOCKS5 UDP datagrams (RFC 1928 §7): the header every datagram between a client and
 * its UDP relay carries, parsed and built without I/O.
 *
 *   +-----+------+------+----------+----------+----------+
 *   | RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
 *   |  2  |  1   |  1   | Variable |    2     | Variable |
 *   +-----+------+------+----------+----------+----------+
 *
 * A datagram is complete as received, so a prefix of a valid header (PARSE_MORE) is a
 * truncated datagram to the caller, like an error: it is dropped. */
#ifndef DP_SOCKS5_UDP_H
#define DP_SOCKS5_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"

#include "parse.h"
#include "target.h"

#define SOCKS5_UDP_HDR_MIN 8                 /* a one-byte name */
#define SOCKS5_UDP_HDR_MAX (4 + 1 + 255 + 2) /* a 255-byte domain */
#define SOCKS5_UDP_HDR_IP_MAX 22             /* IPv6: the longest header a reply carries */

/* Why a datagram's header is refused (PARSE_ERROR). */
enum socks5_udp_err {
    SOCKS5_UDP_ERR_RSV = 1, /* RSV is not X'0000' */
    SOCKS5_UDP_ERR_FRAG,    /* FRAG != 0: fragments are not reassembled (RFC 1928 §7: drop) */
    SOCKS5_UDP_ERR_ATYP,    /* ATYP not 1, 3 or 4 */
    SOCKS5_UDP_ERR_DOMAIN,  /* an empty domain, or a NUL inside it */
};

/* Parses the header at the start of a datagram. PARSE_DONE: *consumed is the header's
 * length (the payload starts there, and may be empty) and out the destination;
 * PARSE_ERROR: *why is an enum socks5_udp_err, decided as soon as the offending byte is
 * seen; PARSE_MORE: a strict prefix of a header. out is written only on PARSE_DONE. */
enum parse_status socks5_udp_parse(const uint8_t *buf, size_t len, size_t *consumed,
                                   struct target *out, int *why);

/* "RSV not zero", "FRAG not zero (fragments are dropped)", ... for logs. */
const char *socks5_udp_err_text(int why);

/* The header of a reply from sa (AF_INET, or AF_INET6 with a v4-mapped address written
 * as the IPv4 it is): 10 or 22 bytes into out (SOCKS5_UDP_HDR_IP_MAX). Any other family
 * is written as 0.0.0.0:0. */
size_t socks5_udp_write_from(uint8_t *out, const struct sockaddr *sa);

/* The header a client sends to reach t (a domain up to 255 bytes): into out
 * (SOCKS5_UDP_HDR_MAX bytes); returns its length. */
size_t socks5_udp_write_target(uint8_t *out, const struct target *t);

#endif
