/* The client side of the protocols spoken to upstream proxies: SOCKS5 (RFC 1928) with
 * username/password (RFC 1929), SOCKS4a, and HTTP CONNECT. Encoders for what we send and
 * pure parsers (parse.h) for what the upstream answers; no I/O.
 *
 * What an answer means is decided here too, as a failure cause for errmap.c:
 * - the upstream broke the protocol (garbage, wrong version): DP_ERR_UPSTREAM;
 * - the upstream refused our credentials (or offers no method we can use): DP_ERR_UPSTREAM_AUTH;
 * both are the link's fault (try the next link, count against this one);
 * - the upstream reports that the destination failed (REP 1..8, SOCKS4 91, HTTP non-2xx
 *   other than 401 and 407): DP_ERR_UPSTREAM_REP(rep), the destination's answer, passed to the
 * client. */
#ifndef DP_UPSTREAM_H
#define DP_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "target.h"

/* Longest message we send: an HTTP CONNECT with a 255-byte host and 255-byte
 * credentials in base64 fits, as does a SOCKS5 auth request (513 bytes). */
#define UPSTREAM_REQ_MAX 1280
/* Longest answer we accept: a CONNECT response head over this is garbage to us. */
#define UPSTREAM_REPLY_MAX 2048
#define UPSTREAM_CRED_MAX 255 /* RFC 1929 field limit; also ours for HTTP */

/* ---- SOCKS5 ---- */

/* Greeting: 05 01 00, or 05 02 00 02 when we hold credentials. Returns its length. */
size_t upstream_socks5_greeting(uint8_t *out, int with_auth);

/* Method selection: VER METHOD. PARSE_ERROR when VER != 5. On DONE *method is the byte. */
enum parse_status upstream_socks5_parse_method(const uint8_t *buf, size_t len, size_t *consumed,
                                               int *method);

/* RFC 1929 request. Returns its length, or 0 when a field is over 255 bytes or cap is
 * too small. */
size_t upstream_socks5_auth(uint8_t *out, size_t cap, const char *user, size_t ulen,
                            const char *pass, size_t plen);

/* RFC 1929 status: VER STATUS. PARSE_ERROR when VER is not 1 (5 is accepted too: some
 * servers echo the SOCKS version). On DONE *ok is 1 for status 0. */
enum parse_status upstream_socks5_parse_auth_status(const uint8_t *buf, size_t len,
                                                    size_t *consumed, int *ok);

/* CONNECT request for t. Returns its length, or 0 when cap is too small or a domain is
 * empty. */
size_t upstream_socks5_connect(uint8_t *out, size_t cap, const struct target *t);

/* Reply: VER REP RSV ATYP BND.ADDR BND.PORT. PARSE_ERROR when VER != 5, ATYP is not 1, 3
 * or 4, or a domain BND is empty. On DONE *rep is REP and *bnd the bound address (a
 * domain BND is kept as TARGET_DOMAIN). */
enum parse_status upstream_socks5_parse_reply(const uint8_t *buf, size_t len, size_t *consumed,
                                              int *rep, struct target *bnd);

/* ---- SOCKS4a ---- */

/* CONNECT for t (IPv4 literal, or a name as SOCKS4a), USERID user (may be empty).
 * Returns its length, or 0 for an IPv6 target (SOCKS4 cannot carry one), an empty
 * name, or a cap too small. */
size_t upstream_socks4_connect(uint8_t *out, size_t cap, const struct target *t, const char *user,
                               size_t ulen);

/* Reply: VN CD DSTPORT DSTIP (8 bytes). PARSE_ERROR when VN is not 0 (4 is accepted:
 * some servers send it) or CD is not 90..93. On DONE *cd is CD and *bnd the IPv4 BND. */
enum parse_status upstream_socks4_parse_reply(const uint8_t *buf, size_t len, size_t *consumed,
                                              int *cd, struct target *bnd);

/* ---- HTTP CONNECT ---- */

/* "CONNECT host:port HTTP/1.1" with Host and, when user is not NULL, Proxy-Authorization:
 * Basic. Returns its length, or 0 when it does not fit. */
size_t upstream_http_connect(uint8_t *out, size_t cap, const struct target *t, const char *user,
                             size_t ulen, const char *pass, size_t plen);

/* The response head. DONE with *status once the head is complete (for 2xx *consumed is
 * its length: later bytes are the tunnel's) or, for any other status, once the status
 * line is (the caller drops the connection anyway). PARSE_ERROR when the status line is
 * not "HTTP/1.x NNN", the head is malformed, or it passes UPSTREAM_REPLY_MAX. */
enum parse_status upstream_http_parse_connect(const uint8_t *buf, size_t len, size_t *consumed,
                                              int *status);

/* ---- meaning ---- */

/* The failure cause for an answer: 0 for success, else DP_ERR_UPSTREAM_AUTH or
 * DP_ERR_UPSTREAM_REP(n) (errmap.h). */
int upstream_socks5_method_err(int method, int have_auth);
int upstream_socks5_rep_err(int rep);
int upstream_socks4_cd_err(int cd);
int upstream_http_status_err(int status);

#endif
