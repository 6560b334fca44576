/* Pipe pairs for the splice relay, pooled per thread. A relay direction holds a pipe only
 * while bytes sit in it, so idle connections cost no fds beyond their two sockets. */
#ifndef DP_PIPEPOOL_H
#define DP_PIPEPOOL_H

#define PIPEPOOL_MAX_FREE 32u /* idle pipe pairs kept per thread (2 fds each) */
/* 64 pages: under the default per-user pipe quota (16384 pages) for 256 pipes in flight
 * at once; past the quota the kernel hands out one-page pipes. 64 KiB, 256 KiB and 1 MiB
 * measured alike on loopback (bench/), so the smaller quota footprint wins. */
#define PIPEPOOL_PIPE_SIZE 262144

/* Fills fds[0] (read end) and fds[1] (write end). Returns 0, or -1 when no pipe can be
 * had (fds exhausted): the caller copies through a buffer instead. */
int pipepool_get(int fds[2]);
/* Returns an EMPTY pipe to the pool (or closes it when the pool is full). */
void pipepool_put(int fds[2]);
/* Closes a pipe that may still hold bytes. */
void pipepool_discard(int fds[2]);
/* Closes this thread's idle pipes. */
void pipepool_trim(void);

#endif
