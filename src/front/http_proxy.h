/* A client that speaks HTTP to the proxy: CONNECT tunnels, and absolute-form requests
 * (GET http://host/path) forwarded one exchange at a time over keep-alive connections,
 * each new origin through a new dispatched upstream connection. */
#ifndef DP_HTTP_PROXY_H
#define DP_HTTP_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct session;

/* Takes over a session whose first byte looked like an HTTP method. in/len: the bytes
 * read so far (copied). denied: the client's address is not in -allow (its request gets
 * 403). Returns 0 (the session may have been closed already), or -1 when out of memory
 * (nothing taken over: the caller closes). */
int http_proxy_start(struct session *s, const uint8_t *in, size_t len, int denied);

/* Releases the HTTP state: events, timer, dial or lookup in progress, buffers, and the
 * upstream connection (session_close calls it; the client fd stays the session's). */
void http_proxy_free(struct session *s);

#endif
