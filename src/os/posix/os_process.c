/* POSIX process services behind the seam: signals through a waiting thread, the file
 * limit, privilege drop, CPUs, randomness and the resolver files. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- signals: one thread sigwait()s and writes one byte per signal to a pipe ---- */

static struct {
    sigset_t set;
    int pipe[2];
    pthread_t thread;
    int started;
    volatile sig_atomic_t last;
} sig = {.pipe = {-1, -1}};

static void *
os_signal_thread(void *arg)
{
    (void)arg;
    for (;;) {
        int signo = 0;
        char c;

        if (sigwait(&sig.set, &signo) != 0)
            continue;
        c = (char)signo;
        if (write(sig.pipe[1], &c, 1) == -1 && errno == EBADF)
            return NULL; /* closed: we are shutting down */
    }
}

os_sock
os_signals_open(void)
{
    struct os_wakeup w;

    /* Ignored rather than blocked: a write to a closed socket must fail with EPIPE in
     * every thread (macOS has no MSG_NOSIGNAL for some calls). */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sig.set);
    sigaddset(&sig.set, SIGINT);
    sigaddset(&sig.set, SIGTERM);
    sigaddset(&sig.set, SIGHUP);
    /* Blocked here, so in every thread started after us; only our thread takes them. */
    if (pthread_sigmask(SIG_BLOCK, &sig.set, NULL) != 0)
        return OS_SOCK_INVALID;
    if (os_wakeup_open(&w) == -1)
        return OS_SOCK_INVALID;
    sig.pipe[0] = w.rd;
    sig.pipe[1] = w.wr;
    if (pthread_create(&sig.thread, NULL, os_signal_thread, NULL) != 0) {
        os_wakeup_close(&w);
        return OS_SOCK_INVALID;
    }
    pthread_detach(sig.thread);
    sig.started = 1;
    return sig.pipe[0];
}

enum os_signal
os_signals_read(os_sock s)
{
    char c;

    if (read(s, &c, 1) != 1)
        return OS_SIGNAL_NONE;
    sig.last = (unsigned char)c;
    return c == SIGHUP ? OS_SIGNAL_RELOAD : OS_SIGNAL_STOP;
}

void
os_signals_close(os_sock s)
{
    /* The waiting thread stays blocked in sigwait (detached); the process is ending.
     * Only the read end is closed: the thread must never write to a reused fd. */
    (void)s;
}

const char *
os_signals_last_name(void)
{
    switch (sig.last) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "a signal";
    }
}

/* ---- process ---- */

unsigned long
os_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (unsigned long)rl.rlim_cur;
}

int
os_is_privileged(void)
{
    return geteuid() == 0;
}

int
os_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    if (geteuid() != 0) {
        snprintf(err, errlen, "-user needs the proxy to be started as root");
        return -1;
    }
    pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "-user: no user named \"%s\"", user);
        return -1;
    }
    if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
        snprintf(err, errlen, "-user %s: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) != -1) {
        snprintf(err, errlen, "-user %s: root could be regained; refusing to run", user);
        return -1;
    }
    return 0;
}

unsigned
os_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1u : (unsigned)n;
}

int
os_random(void *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd == -1)
        return -1;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

const char *
os_hosts_path(void)
{
    return "/etc/hosts";
}

/* The nameserver lines of a resolv.conf. Returns how many, or -1. */
static int
nameservers(const char *path, struct sockaddr_storage *out, int max)
{
    FILE *f = fopen(path, "r");
    char line[512], addr[128];
    int n = 0;

    if (f == NULL)
        return -1;
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n];
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n];
        char *pct;

        if (sscanf(line, " nameserver %127s", addr) != 1)
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        pct = strchr(addr, '%'); /* fe80::1%eth0 */
        if (pct != NULL) {
            *pct = '\0';
            s6->sin6_scope_id = os_if_index(pct + 1);
        }
        if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            s4->sin_port = htons(53);
            n++;
        } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons(53);
            n++;
        }
    }
    fclose(f);
    return n;
}

/* 127.0.0.53 and .54: systemd-resolved's stubs, which a socket pinned to a link cannot
 * reach. */
static int
is_resolved_stub(const struct sockaddr_storage *ss)
{
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    uint32_t a = ntohl(s4->sin_addr.s_addr);

    return ss->ss_family == AF_INET && (a == 0x7f000035u || a == 0x7f000036u);
}

int
os_dns_servers(struct sockaddr_storage *out, int max)
{
    int n = nameservers("/etc/resolv.conf", out, max), stubs = 0, up;

    for (int i = 0; i < n; i++)
        stubs += is_resolved_stub(&out[i]);
    /* Only resolved's stub: ask what it forwards to (resolved keeps that list here). */
    if (n > 0 && stubs == n && (up = nameservers("/run/systemd/resolve/resolv.conf", out, max)) > 0)
        return up;
    if (n > 0 && stubs == n)
        nameservers("/etc/resolv.conf", out, max); /* put the stub back */
    return n;
}

int
os_dns_search(char (*out)[OS_DNS_DOMAIN_MAX], int max, unsigned *ndots)
{
    FILE *f = fopen("/etc/resolv.conf", "r");
    char line[1024];
    int n = 0;

    *ndots = 1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *tok, *save = NULL;
        int search = 0, domain = 0;
        unsigned v;

        tok = strtok_r(p, " \t\r\n", &save);
        if (tok == NULL)
            continue;
        if (strcmp(tok, "options") == 0) {
            while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL)
                if (sscanf(tok, "ndots:%u", &v) == 1)
                    *ndots = v > 15 ? 15 : v; /* glibc caps it at 15 */
            continue;
        }
        search = strcmp(tok, "search") == 0;
        domain = strcmp(tok, "domain") == 0;
        if (!search && !domain)
            continue;
        n = 0; /* the last search or domain line wins, as in glibc */
        while (n < max && (tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
            size_t len = strlen(tok);

            if (len > 0 && tok[len - 1] == '.')
                tok[--len] = '\0';
            if (len == 0 || len >= OS_DNS_DOMAIN_MAX)
                continue;
            memcpy(out[n], tok, len + 1);
            n++;
            if (domain)
                break;
        }
    }
    fclose(f);
    return n;
}
