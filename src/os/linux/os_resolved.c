/* Per-link DNS servers (Linux), from systemd's per-link state (src/proto/resolved.c):
 * - systemd-resolved's /run/systemd/resolve/netif/<ifindex>, SERVERS=: the servers
 *   NetworkManager or resolvectl gave the link over resolved's D-Bus API;
 * - else systemd-networkd's /run/systemd/netif/links/<ifindex>, DNS=: for a link
 *   networkd manages, resolved keeps no file of its own and takes networkd's servers.
 * Without either (no systemd, or a link nobody gave servers) there is none: resolv.conf
 * names the host's servers, not a link's. The files are systemd's own ("do not parse"),
 * but these lines have kept one format since systemd 229; the D-Bus/varlink API would
 * need a library or a client of our own on the loop for what reading a small tmpfs file
 * gives.
 *
 * The ifindex in the file's name is one of resolved's network namespace: a proxy in
 * another one (ip netns exec, a container sharing /run) would read some other interface's
 * servers. The files are not believed when this process is in a namespace that PID 1
 * (where resolved runs) is not in, or in one that "ip netns add" named (/run/netns/NAME):
 * the first needs the right to look at PID 1 (root, usually), the second does not. */
#include "os.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "resolved.h"

static pthread_once_t netns_once = PTHREAD_ONCE_INIT;
static int netns_is_resolveds;

static int
same_file(const struct stat *a, const char *path)
{
    struct stat b;

    return stat(path, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

static void
netns_check(void)
{
    struct stat self, init;
    struct dirent *e;
    DIR *d;

    netns_is_resolveds = 1;
    if (stat("/proc/self/ns/net", &self) == -1)
        return; /* no /proc: nothing to tell by */
    if (stat("/proc/1/ns/net", &init) == 0 &&
        (self.st_dev != init.st_dev || self.st_ino != init.st_ino)) {
        netns_is_resolveds = 0;
        return;
    }
    if ((d = opendir("/run/netns")) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[300];

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/run/netns/%s", e->d_name);
        if (same_file(&self, path)) {
            netns_is_resolveds = 0;
            break;
        }
    }
    closedir(d);
}

/* The servers the state file at path gives under key; -1: the link is DNS-over-TLS only. */
static int
servers_in(const char *path, const char *key, struct sockaddr_storage *out, int max)
{
    char text[4096];
    size_t len;
    FILE *f;

    if ((f = fopen(path, "r")) == NULL)
        return 0;
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    return resolved_parse_servers(text, len, key, out, max);
}

int
os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max)
{
    char path[64];
    int n;

    pthread_once(&netns_once, netns_check);
    if (!netns_is_resolveds)
        return 0;
    snprintf(path, sizeof(path), "/run/systemd/resolve/netif/%u", ifindex);
    if ((n = servers_in(path, "SERVERS=", out, max)) == 0) {
        snprintf(path, sizeof(path), "/run/systemd/netif/links/%u", ifindex);
        n = servers_in(path, "DNS=", out, max);
    }
    return n > 0 ? n : 0; /* DNS-over-TLS only: none to ask in clear */
}
