/* SOCKS5 UDP ASSOCIATE (RFC 1928 §7): a SOCKS5 session whose request is UDP ASSOCIATE
 * becomes an association. The client sends datagrams (each with the header of
 * socks5_udp.h) to a UDP socket of ours on the address it reached us at; each goes out
 * by the association's one link, chosen by the policy like a connection, from one
 * socket per address family bound to that link's device and source address (one stable
 * source for NAT bindings and QUIC); answers come back wrapped with the remote's address.
 *
 * Who may send: only the control connection's client IP; the first valid datagram's
 * IP:port is then the only source accepted (the request's DST is a hint, often
 * 0.0.0.0:0, and is not trusted). FRAG != 0 is dropped. The association ends when its
 * TCP control connection closes, after -udp-timeout without a datagram either way, or
 * when its link goes down (the control connection is closed: the client associates
 * again and gets a working link). Limits: -udp-max in all, -udp-max-client per client
 * address; over them the request gets REP 1.
 *
 * No allocation per datagram: datagrams are read into one buffer of the thread's pool
 * (bufpool) and relayed from it; a datagram to a name not yet resolved waits in one of
 * the association's few lookup slots (one datagram per name, different names side by
 * side) while its name is looked up (a small cache per association keeps the answers). */
#ifndef DP_UDP_H
#define DP_UDP_H

struct session;
struct target;

/* Takes over s after a UDP ASSOCIATE request (its handshake freed, the method
 * negotiation done): replies REP 0 with the relay's address and port, or an error reply
 * (then s drains and closes). hint: the request's DST (logged only). */
void udp_assoc_start(struct session *s, const struct target *hint);

/* session_close's part: closes the association's sockets, cancels its lookup, gives its
 * counts back; memory goes after the loop's current batch. */
void udp_assoc_free(struct session *s);

/* Associations open now, every thread. */
unsigned udp_assoc_count(void);

#endif
