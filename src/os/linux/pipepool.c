#include "pipepool.h"

#include <fcntl.h>
#include <unistd.h>

static _Thread_local int free_fds[PIPEPOOL_MAX_FREE][2];
static _Thread_local unsigned n_free;

int
pipepool_get(int fds[2])
{
    if (n_free > 0) {
        n_free--;
        fds[0] = free_fds[n_free][0];
        fds[1] = free_fds[n_free][1];
        return 0;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
        fds[0] = fds[1] = -1;
        return -1;
    }
    /* Fewer, larger splices. Best effort: past the per-user pipe quota the kernel keeps
     * the default 64 KiB, and splicing simply moves less per call. */
    fcntl(fds[1], F_SETPIPE_SZ, PIPEPOOL_PIPE_SIZE);
    return 0;
}

void
pipepool_discard(int fds[2])
{
    if (fds[0] != -1)
        close(fds[0]);
    if (fds[1] != -1)
        close(fds[1]);
    fds[0] = fds[1] = -1;
}

void
pipepool_put(int fds[2])
{
    if (fds[0] == -1)
        return;
    if (n_free >= PIPEPOOL_MAX_FREE) {
        pipepool_discard(fds);
        return;
    }
    free_fds[n_free][0] = fds[0];
    free_fds[n_free][1] = fds[1];
    n_free++;
    fds[0] = fds[1] = -1;
}

void
pipepool_trim(void)
{
    while (n_free > 0) {
        n_free--;
        close(free_fds[n_free][0]);
        close(free_fds[n_free][1]);
    }
}
