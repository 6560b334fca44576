/* One client's life: protocol handshake, resolving, dialing through a link, relaying,
 * and closing. States change only through set_state() (which traces them with -vv). */
#ifndef DP_SESSION_H
#define DP_SESSION_H

#include <sys/queue.h>
#include <stdint.h>

#include "loop.h"
#include "relay.h"

struct server;
struct handshake;
struct link;

enum session_state {
    S_GREETING,   /* waiting for the first message (protocol detected from byte 0) */
    S_AUTH,       /* SOCKS5 username/password sub-negotiation */
    S_REQUEST,    /* waiting for the CONNECT request */
    S_RESOLVING,  /* name lookup on the resolver threads */
    S_CONNECTING, /* dialer at work */
    S_RELAY,      /* bytes flowing both ways */
    S_DRAINING,   /* error reply sent: reading until EOF so the reply is not lost to a RST */
    S_CLOSED,
};

struct session {
    LIST_ENTRY(session) entry;
    struct server *srv;
    uint64_t id;
    enum session_state state;
    struct relay relay; /* holds the client and remote ios */
    struct loop_timer timer;
    struct handshake *hs; /* NULL once relaying */
    struct link *link;
    struct loop_work free_work;
};

/* Takes ownership of an accepted client fd. Returns 0, or -1 (fd closed). */
int session_start(struct server *srv, int fd);

/* Closes at once (shutdown of the proxy). */
void session_close(struct session *s);

const char *session_state_name(enum session_state st);

#endif
