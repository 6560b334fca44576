/* Per-link DNS servers (portable POSIX build: macOS, the BSDs): the scoped resolvers
 * macOS keeps for each interface, as `scutil --dns` prints them (parsed by
 * src/proto/scutil.c). The output is read once, at the first call (link_init makes it
 * at start-up, before the loops run): a link whose DNS changes later keeps the servers it
 * had at start until a restart. Where there is no scutil (the BSDs) the
 * output is empty, and no link has servers of its own: resolv.conf names the host's. */
#include "os.h"

#include <pthread.h>
#include <stdio.h>

#include "scutil.h"

#define SCUTIL_OUTPUT_MAX 65536

static pthread_once_t scutil_once = PTHREAD_ONCE_INIT;
static char scutil_text[SCUTIL_OUTPUT_MAX];
static size_t scutil_len;

static void
scutil_read(void)
{
    /* The system's scutil first (/usr/sbin), whatever PATH a service was given. */
    FILE *f = popen("PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH scutil --dns 2>/dev/null", "r");
    size_t got;

    if (f == NULL)
        return;
    while (scutil_len < sizeof(scutil_text) &&
           (got = fread(scutil_text + scutil_len, 1, sizeof(scutil_text) - scutil_len, f)) > 0)
        scutil_len += got;
    /* Output past the buffer is drained, so scutil never blocks on a full pipe. */
    while (fgetc(f) != EOF)
        ;
    pclose(f);
}

int
os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max)
{
    pthread_once(&scutil_once, scutil_read);
    return scutil_scoped_servers(scutil_text, scutil_len, ifindex, out, max);
}
