/* Relay buffers, pooled per thread: a connection holds one only while bytes it read are
 * still waiting to be written, so an idle connection holds none. */
#ifndef DP_BUFPOOL_H
#define DP_BUFPOOL_H

#include <stddef.h>

#define BUFPOOL_BUF_SIZE 65536u
#define BUFPOOL_MAX_FREE 64u /* free buffers kept per thread; more go back to malloc */

struct buf {
    struct buf *next; /* free list link */
    unsigned char data[BUFPOOL_BUF_SIZE];
};

/* Returns a buffer, or NULL when memory is exhausted. */
struct buf *bufpool_get(void);
void bufpool_put(struct buf *b);
/* Frees this thread's idle buffers. */
void bufpool_trim(void);

#endif
