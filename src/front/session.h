/* One client's life: protocol handshake, resolving, dialing through a link, relaying,
 * and closing. States change only through set_state() (which traces them with -vv). */
#ifndef DP_SESSION_H
#define DP_SESSION_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "os.h"

#include "loop.h"
#include "relay.h"
#include "target.h"

struct server;
struct handshake;
struct http_proxy;
struct udp_assoc;
struct link;

enum session_state {
    S_GREETING,   /* waiting for the first message (protocol detected from byte 0) */
    S_AUTH,       /* SOCKS5 username/password sub-negotiation */
    S_REQUEST,    /* waiting for the CONNECT request */
    S_RESOLVING,  /* name lookup on the resolver threads */
    S_CONNECTING, /* dialer at work */
    S_RELAY,      /* bytes flowing both ways */
    S_UDP,        /* a SOCKS5 UDP association (src/front/udp.c) runs the session */
    S_DRAINING,   /* error reply sent: reading until EOF so the reply is not lost to a RST */
    S_CLOSED,
};

/* What the client speaks (for the status page). */
enum session_proto { SP_UNKNOWN = 0, SP_SOCKS5, SP_SOCKS4, SP_HTTP, SP_TUNNEL };

struct session {
    LIST_ENTRY(session) entry;
    struct server *srv;
    uint64_t id;
    enum session_state state;
    struct relay relay; /* holds the client and remote ios */
    struct loop_timer timer;
    struct handshake *hs;    /* NULL once relaying */
    struct http_proxy *http; /* HTTP proxy clients: src/http_proxy.c runs the session */
    struct udp_assoc *udp;   /* SOCKS5 UDP ASSOCIATE: src/front/udp.c runs the session */
    struct link *link;
    struct loop_work free_work;
    /* For the status snapshot, read on this session's loop only. */
    uint8_t proto;                /* enum session_proto */
    uint64_t start_ms;            /* loop time of the accept */
    struct sockaddr_storage peer; /* the client */
    struct target target;         /* asked for (HTTP: the current request's); type 0 none */
};

/* Takes ownership of an accepted client fd. Returns 0, or -1 (fd closed). */
/* peer: the client's address as accept() gave it. */
int session_start(struct server *srv, os_sock fd, const struct sockaddr *peer);

/* Closes at once (shutdown of the proxy). */
void session_close(struct session *s);

/* "greeting", "relay", ... */
const char *session_state_name(enum session_state st);

/* For protocol modules that run a session themselves (src/http_proxy.c). */
void session_set_state(struct session *s, enum session_state st);
/* Relays between the client and s->relay.remote.fd (connected), sending initial (bytes
 * the client already sent) first. Returns 0, or -1 when the session was closed. */
int session_relay(struct session *s, const void *initial, size_t initial_len);
/* Sends reply (len may be 0), then shuts down the write side and drains the client
 * until EOF before closing, so the reply is not lost to a RST. */
void session_fail(struct session *s, const void *reply, size_t len);
/* The session's outgoing connection now goes through link (counted as active). */
void session_attach_link(struct session *s, struct link *link);
/* Adds the connection's byte counts to its link and stops counting it as active (an HTTP
 * client moving to another origin); session_close does it for the last one. */
void session_release_link(struct session *s);

#endif
