/*
 * loadgen: the load generator and its far-end server for `make bench`.
 *
 *   loadgen server [-l HOST:PORT] [-threads N] [-lifetime SEC]
 *   loadgen tput   -t HOST:PORT [-socks HOST:PORT] -dir up|down [-streams N] [-time SEC]
 *                  [-warmup SEC] [-dev IFACE]
 *   loadgen rate   -t HOST:PORT [-socks HOST:PORT] [-clients C] [-time SEC] [-size B]
 *   loadgen hold   -t HOST:PORT [-socks HOST:PORT] [-n N] [-hold SEC] [-pid PID]
 *                  [-concurrency K]
 *
 * Every client mode talks either straight to the server (the baseline) or through a
 * SOCKS5 proxy (-socks), so the runner can compare the two on the same path. A client
 * prints one line "RESULT mode=... key=value ..." on stdout and exits 0 when every
 * byte was verified and nothing failed, 1 otherwise. The server prints "READY port".
 *
 * Wire protocol, after the (optional) SOCKS5 CONNECT, the client's first byte says:
 *   'U'  upload: the client sends pattern bytes until it shuts down its write side; the
 *        server verifies them and answers 8 bytes (little-endian count) + 1 status byte
 *        (1 = every byte matched), then closes.
 *   'D'  download: the server sends pattern bytes until the client goes away.
 *   'E'  echo: every following byte is echoed until EOF (held connections).
 *   'e'  one echo: the next byte is a length L, the L bytes after it are echoed, then
 *        the server closes first (so TIME_WAIT lands on the server side, not on the
 *        client's ephemeral ports: a connection-rate test must not exhaust them).
 * The pattern is periodic with a prime period, so a lost, duplicated or reordered
 * chunk shows up as a mismatch.
 *
 * Every load is bounded in time; the server also exits by itself after -lifetime.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define PAT_PERIOD 65521u       /* prime: no chunk size is a multiple of it */
#define IO_CHUNK (256u * 1024u) /* largest single read or write */
#define MAX_EVENTS 256
#define MAX_PAYLOAD 64

static uint8_t pat[PAT_PERIOD + IO_CHUNK];

static void
pat_init(void)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < PAT_PERIOD; i++) {
        x ^= x << 13; /* xorshift32: cheap, not periodic within the period */
        x ^= x >> 17;
        x ^= x << 5;
        pat[i] = (uint8_t)(x >> 24);
    }
    for (size_t i = 0; i < IO_CHUNK; i++)
        pat[PAT_PERIOD + i] = pat[i];
}

/* Pattern bytes for stream offset `off` (valid for up to IO_CHUNK bytes). */
static const uint8_t *
pat_at(uint64_t off)
{
    return pat + off % PAT_PERIOD;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static unsigned
nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur > 1u << 20)
        return 1u << 20;
    return (unsigned)rl.rlim_cur;
}

/* "1.2.3.4:80" or "[::1]:80" -> sockaddr; 0 on success. */
static int
parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon, *port;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        port = end + 2;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        port = colon + 1;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static uint16_t
sa_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void
set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---------------------------------------------------------------------------------- */
/* server                                                                               */

enum srv_mode { SM_NEW, SM_UP, SM_DOWN, SM_ECHO, SM_ONE_LEN, SM_ONE };

struct srv_conn {
    int fd;
    uint8_t mode;
    uint8_t bad;      /* upload: a byte did not match */
    uint8_t one_left; /* 'e': payload bytes still to echo */
    uint8_t want_out; /* EPOLLOUT is registered */
    uint64_t off;     /* pattern offset (upload received / download sent) */
    uint8_t *pend;    /* echo bytes the socket did not take yet */
    size_t pend_len;
};

struct srv {
    int lfd;
    struct srv_conn **conns; /* indexed by fd, shared by all threads (fds are unique) */
    unsigned nconns;
    uint64_t deadline;
};

static void
srv_close(struct srv_conn **conns, struct srv_conn *c)
{
    conns[c->fd] = NULL;
    close(c->fd);
    free(c->pend);
    free(c);
}

static int
srv_events(int ep, struct srv_conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.fd = c->fd};
    c->want_out = (ev & EPOLLOUT) != 0;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Sends echo bytes; keeps what the socket refuses. -1: the connection is dead. */
static int
srv_echo(int ep, struct srv_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    if (n > 0) {
        uint8_t *np = realloc(c->pend, c->pend_len + n);
        if (!np)
            return -1;
        memcpy(np + c->pend_len, p, n);
        c->pend = np;
        c->pend_len += n;
        /* Backpressure: stop reading until the peer takes what is pending. */
        if (srv_events(ep, c, EPOLLOUT) == -1)
            return -1;
    }
    return 0;
}

/* Feeds received bytes to the connection's mode. Returns -1 to close it. */
static int
srv_consume(int ep, struct srv_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        switch (c->mode) {
        case SM_NEW:
            if (p[0] == 'U') {
                c->mode = SM_UP;
            } else if (p[0] == 'D') {
                c->mode = SM_DOWN;
                if (srv_events(ep, c, EPOLLIN | EPOLLOUT) == -1)
                    return -1;
            } else if (p[0] == 'E') {
                c->mode = SM_ECHO;
            } else if (p[0] == 'e') {
                c->mode = SM_ONE_LEN;
            } else {
                return -1;
            }
            p++, n--;
            break;
        case SM_UP:
            if (memcmp(p, pat_at(c->off), n) != 0)
                c->bad = 1;
            c->off += n;
            return 0;
        case SM_DOWN:
            return 0; /* the client has nothing to say while downloading */
        case SM_ECHO:
            return srv_echo(ep, c, p, n);
        case SM_ONE_LEN:
            c->one_left = p[0];
            c->mode = SM_ONE;
            p++, n--;
            if (c->one_left == 0)
                return -1;
            break;
        case SM_ONE: {
            size_t k = n < c->one_left ? n : c->one_left;
            if (srv_echo(ep, c, p, k) == -1)
                return -1;
            c->one_left = (uint8_t)(c->one_left - k);
            p += k, n -= k;
            if (c->one_left == 0 && c->pend_len == 0)
                return -1; /* done: close first */
            if (n > 0)
                return -1; /* more than announced */
            break;
        }
        }
    }
    return 0;
}

static void
srv_readable(int ep, struct srv_conn **conns, struct srv_conn *c, uint8_t *buf)
{
    ssize_t r = recv(c->fd, buf, IO_CHUNK, 0);
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        if (r == 0 && c->mode == SM_UP) {
            uint8_t ack[9];
            for (int i = 0; i < 8; i++)
                ack[i] = (uint8_t)(c->off >> (8 * i));
            ack[8] = c->bad ? 0 : 1;
            send(c->fd, ack, sizeof(ack), MSG_NOSIGNAL);
        }
        srv_close(conns, c);
        return;
    }
    if (srv_consume(ep, c, buf, (size_t)r) == -1)
        srv_close(conns, c);
}

static void
srv_writable(int ep, struct srv_conn **conns, struct srv_conn *c)
{
    if (c->mode == SM_DOWN) {
        for (int i = 0; i < 4; i++) {
            ssize_t w = send(c->fd, pat_at(c->off), IO_CHUNK, MSG_NOSIGNAL);
            if (w == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return;
                srv_close(conns, c);
                return;
            }
            c->off += (uint64_t)w;
        }
        return;
    }
    while (c->pend_len > 0) {
        ssize_t w = send(c->fd, c->pend, c->pend_len, MSG_NOSIGNAL);
        if (w == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            srv_close(conns, c);
            return;
        }
        memmove(c->pend, c->pend + w, c->pend_len - (size_t)w);
        c->pend_len -= (size_t)w;
    }
    if (c->mode == SM_ONE && c->one_left == 0) {
        srv_close(conns, c);
        return;
    }
    if (srv_events(ep, c, EPOLLIN) == -1)
        srv_close(conns, c);
}

static void *
srv_thread(void *arg)
{
    struct srv *s = arg;
    struct epoll_event evs[MAX_EVENTS];
    uint8_t *buf = malloc(IO_CHUNK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep == -1 || !buf)
        die("server setup");
    struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = s->lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &le) == -1)
        die("epoll_ctl listener");
    while (now_ns() < s->deadline) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == s->lfd) {
                for (int k = 0; k < 64; k++) {
                    int cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd == -1)
                        break;
                    struct srv_conn *c = calloc(1, sizeof(*c));
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    if (!c || (unsigned)cfd >= s->nconns ||
                        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ce) == -1) {
                        free(c);
                        close(cfd);
                        continue;
                    }
                    set_nodelay(cfd);
                    c->fd = cfd;
                    s->conns[cfd] = c;
                }
                continue;
            }
            struct srv_conn *c = s->conns[fd];
            if (!c)
                continue;
            if (evs[i].events & EPOLLOUT) {
                srv_writable(ep, s->conns, c);
                if (!s->conns[fd])
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                /* While echo bytes wait, only EPOLLOUT is registered; EPOLLHUP/ERR
                 * still arrive and the read below reports the error. */
                srv_readable(ep, s->conns, c, buf);
            }
        }
    }
    return NULL;
}

static int
run_server(const char *listen_at, int threads, int lifetime)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct srv s = {0};
    if (parse_hostport(listen_at, &ss, &sl) == -1) {
        fprintf(stderr, "loadgen: bad -l %s\n", listen_at);
        return 2;
    }
    s.lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s.lfd == -1 || setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(s.lfd, (struct sockaddr *)&ss, sl) == -1 || listen(s.lfd, 4096) == -1)
        die("server listen");
    sl = sizeof(ss);
    if (getsockname(s.lfd, (struct sockaddr *)&ss, &sl) == -1)
        die("getsockname");
    s.nconns = nofile_limit();
    s.conns = calloc(s.nconns, sizeof(*s.conns));
    s.deadline = now_ns() + (uint64_t)lifetime * 1000000000u;
    if (!s.conns)
        die("calloc");
    printf("READY %u\n", sa_port(&ss));
    fflush(stdout);
    pthread_t tids[64];
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tids[i], NULL, srv_thread, &s) != 0)
            die("pthread_create");
    srv_thread(&s);
    for (int i = 1; i < threads; i++)
        pthread_join(tids[i], NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* client                                                                               */

enum cl_state {
    CS_IDLE,
    CS_CONNECTING,
    CS_METHOD, /* greeting sent, waiting for the method choice */
    CS_REPLY,  /* CONNECT sent, waiting for the reply */
    CS_READY,  /* relayed (or direct) and waiting for the test to start */
    CS_UP,
    CS_UPACK,
    CS_DOWN,
    CS_ECHO, /* payload sent, waiting for it back */
    CS_EOF,  /* 'e' answered, waiting for the server's close */
    CS_HELD,
    CS_DEAD,
};

enum cl_mode { MODE_TPUT_UP, MODE_TPUT_DOWN, MODE_RATE, MODE_HOLD };

struct cl_conn {
    int fd;
    uint8_t st;
    uint8_t have, need; /* bytes in `in` and bytes expected */
    uint8_t round;      /* hold: which round trip is in flight (1 or 2) */
    uint8_t in[MAX_PAYLOAD + 32];
    uint64_t off;
    uint64_t t0;
};

struct cl {
    enum cl_mode mode;
    struct sockaddr_storage target, socks;
    socklen_t target_len, socks_len;
    int use_socks;
    const char *dev;
    int ep;
    struct cl_conn *conns;
    unsigned n;
    uint8_t *rbuf;
    unsigned payload; /* echo payload size */
    uint64_t deadline;
    /* counters */
    unsigned ready, open_now, finished, dead;
    unsigned err_connect, err_socks, err_verify, err_eof;
    int last_errno, last_rep;
    /* rate */
    uint32_t *lat_us;
    size_t nlat, cap_lat;
    uint64_t cycles;
    /* tput */
    uint64_t t_start, t_warm, t_end;
    uint64_t bytes_at_warm, bytes_total, acked_bytes;
    uint64_t last_ack_ns;
    unsigned acks_ok;
    /* hold */
    unsigned held, survived, lost_while_holding;
};

static void
cl_set(struct cl *g, struct cl_conn *c, enum cl_state st, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)(c - g->conns)};
    c->st = (uint8_t)st;
    if (epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &e) == -1)
        die("epoll_ctl mod");
}

static void
cl_close(struct cl *g, struct cl_conn *c, enum cl_state st)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
        g->open_now--;
    }
    c->st = (uint8_t)st;
}

static int
cl_open(struct cl *g, struct cl_conn *c)
{
    const struct sockaddr_storage *to = g->use_socks ? &g->socks : &g->target;
    socklen_t tl = g->use_socks ? g->socks_len : g->target_len;
    c->fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->have = c->need = 0;
    c->off = 0;
    c->round = 1;
    c->t0 = now_ns();
    if (c->fd == -1) {
        g->err_connect++;
        g->dead++;
        g->last_errno = errno;
        c->st = CS_DEAD;
        return -1;
    }
    g->open_now++;
    set_nodelay(c->fd);
    if (g->dev &&
        setsockopt(c->fd, SOL_SOCKET, SO_BINDTODEVICE, g->dev, (socklen_t)strlen(g->dev)) == -1)
        die("SO_BINDTODEVICE");
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - g->conns)};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &e) == -1)
        die("epoll_ctl add");
    c->st = CS_CONNECTING;
    if (connect(c->fd, (const struct sockaddr *)to, tl) == -1 && errno != EINPROGRESS) {
        g->err_connect++;
        g->dead++;
        g->last_errno = errno;
        cl_close(g, c, CS_DEAD);
        return -1;
    }
    return 0;
}

/* Sends a short message whole (a fresh or idle socket always takes it). */
static int
cl_send_small(struct cl_conn *c, const void *p, size_t n)
{
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    return w == (ssize_t)n ? 0 : -1;
}

/* Reads up to c->need bytes into c->in. 1: complete, 0: need more, -1: EOF/error. */
static int
cl_fill(struct cl_conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->have, (size_t)(c->need - c->have), 0);
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (r <= 0)
        return -1;
    c->have = (uint8_t)(c->have + r);
    return c->have == c->need;
}

static void
cl_fail(struct cl *g, struct cl_conn *c, unsigned *counter)
{
    (*counter)++;
    g->dead++;
    if (errno)
        g->last_errno = errno;
    cl_close(g, c, CS_DEAD);
}

static void
echo_payload(uint8_t *p, unsigned n, uint32_t id, unsigned round)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(id * 7u + i * 13u + round * 101u + (id >> 8));
}

/* Handshake done: start what this mode does on a fresh connection. */
static void
cl_ready(struct cl *g, struct cl_conn *c)
{
    uint8_t msg[MAX_PAYLOAD + 2];
    uint32_t id = (uint32_t)(c - g->conns);
    switch (g->mode) {
    case MODE_TPUT_UP:
    case MODE_TPUT_DOWN:
        cl_set(g, c, CS_READY, EPOLLIN);
        g->ready++;
        return;
    case MODE_RATE:
        msg[0] = 'e';
        msg[1] = (uint8_t)g->payload;
        echo_payload(msg + 2, g->payload, id, 1);
        if (cl_send_small(c, msg, g->payload + 2) == -1)
            break;
        c->have = 0;
        c->need = (uint8_t)g->payload;
        cl_set(g, c, CS_ECHO, EPOLLIN);
        return;
    case MODE_HOLD:
        msg[0] = 'E';
        echo_payload(msg + 1, g->payload, id, 1);
        if (cl_send_small(c, msg, g->payload + 1) == -1)
            break;
        c->have = 0;
        c->need = (uint8_t)g->payload;
        cl_set(g, c, CS_ECHO, EPOLLIN);
        return;
    }
    cl_fail(g, c, &g->err_eof);
}

static void
cl_connected(struct cl *g, struct cl_conn *c)
{
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1 || err != 0) {
        errno = err;
        cl_fail(g, c, &g->err_connect);
        return;
    }
    if (!g->use_socks) {
        cl_ready(g, c);
        return;
    }
    static const uint8_t greeting[3] = {5, 1, 0};
    if (cl_send_small(c, greeting, sizeof(greeting)) == -1) {
        cl_fail(g, c, &g->err_socks);
        return;
    }
    c->have = 0;
    c->need = 2;
    cl_set(g, c, CS_METHOD, EPOLLIN);
}

static void
cl_socks_step(struct cl *g, struct cl_conn *c)
{
    errno = 0;
    int r = cl_fill(c);
    if (r == -1) {
        cl_fail(g, c, &g->err_socks);
        return;
    }
    if (r == 0)
        return;
    if (c->st == CS_METHOD) {
        if (c->in[0] != 5 || c->in[1] != 0) {
            cl_fail(g, c, &g->err_socks);
            return;
        }
        uint8_t req[22] = {5, 1, 0};
        size_t rl;
        if (g->target.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&g->target;
            req[3] = 4;
            memcpy(req + 4, &a->sin6_addr, 16);
            memcpy(req + 20, &a->sin6_port, 2);
            rl = 22;
        } else {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&g->target;
            req[3] = 1;
            memcpy(req + 4, &a->sin_addr, 4);
            memcpy(req + 8, &a->sin_port, 2);
            rl = 10;
        }
        if (cl_send_small(c, req, rl) == -1) {
            cl_fail(g, c, &g->err_socks);
            return;
        }
        c->have = 0;
        c->need = 5; /* enough to learn the address type */
        cl_set(g, c, CS_REPLY, EPOLLIN);
        return;
    }
    /* CS_REPLY */
    if (c->need == 5 && c->have == 5) {
        if (c->in[0] != 5 || c->in[1] != 0) {
            g->last_rep = c->in[1];
            cl_fail(g, c, &g->err_socks);
            return;
        }
        c->need = c->in[3] == 1 ? 10 : c->in[3] == 4 ? 22 : (uint8_t)(7 + c->in[4]);
        return; /* the rest is read on the next (level-triggered) event */
    }
    cl_ready(g, c);
}

static void
cl_echo_done(struct cl *g, struct cl_conn *c, uint64_t now)
{
    uint8_t want[MAX_PAYLOAD];
    uint32_t id = (uint32_t)(c - g->conns);
    echo_payload(want, g->payload, id, c->round);
    if (memcmp(want, c->in, g->payload) != 0) {
        cl_fail(g, c, &g->err_verify);
        return;
    }
    if (g->mode == MODE_RATE) {
        if (now <= g->deadline) {
            g->cycles++;
            if (g->nlat < g->cap_lat)
                g->lat_us[g->nlat++] = (uint32_t)((now - c->t0) / 1000u);
        }
        c->have = 0;
        c->need = 1;
        cl_set(g, c, CS_EOF, EPOLLIN);
        return;
    }
    if (c->round == 1)
        g->held++;
    else
        g->survived++;
    cl_set(g, c, CS_HELD, EPOLLIN);
}

static void
cl_down_read(struct cl *g, struct cl_conn *c)
{
    ssize_t r = recv(c->fd, g->rbuf, IO_CHUNK, 0);
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        cl_fail(g, c, &g->err_eof);
        return;
    }
    if (memcmp(g->rbuf, pat_at(c->off), (size_t)r) != 0) {
        cl_fail(g, c, &g->err_verify);
        return;
    }
    c->off += (uint64_t)r;
    g->bytes_total += (uint64_t)r;
}

static void
cl_up_write(struct cl *g, struct cl_conn *c, uint64_t now)
{
    if (now >= g->t_end) {
        shutdown(c->fd, SHUT_WR);
        c->have = 0;
        c->need = 9;
        cl_set(g, c, CS_UPACK, EPOLLIN);
        return;
    }
    for (int i = 0; i < 4; i++) {
        ssize_t w = send(c->fd, pat_at(c->off), IO_CHUNK, MSG_NOSIGNAL);
        if (w == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            cl_fail(g, c, &g->err_eof);
            return;
        }
        c->off += (uint64_t)w;
    }
}

static void
cl_up_ack(struct cl *g, struct cl_conn *c, uint64_t now)
{
    errno = 0;
    int r = cl_fill(c);
    if (r == 0)
        return;
    if (r == -1) {
        cl_fail(g, c, &g->err_eof);
        return;
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)c->in[i] << (8 * i);
    if (c->in[8] != 1 || n != c->off) {
        fprintf(stderr, "loadgen: upload stream %u: server saw %llu bytes (sent %llu), %s\n",
                (unsigned)(c - g->conns), (unsigned long long)n, (unsigned long long)c->off,
                c->in[8] == 1 ? "content ok" : "content MISMATCH");
        cl_fail(g, c, &g->err_verify);
        return;
    }
    g->acked_bytes += n;
    g->acks_ok++;
    g->last_ack_ns = now;
    cl_close(g, c, CS_IDLE);
}

static void
cl_event(struct cl *g, struct cl_conn *c, uint32_t ev, uint64_t now)
{
    switch (c->st) {
    case CS_CONNECTING:
        cl_connected(g, c);
        break;
    case CS_METHOD:
    case CS_REPLY:
        cl_socks_step(g, c);
        break;
    case CS_READY:
        /* Nothing should arrive before the test starts. */
        cl_fail(g, c, &g->err_eof);
        break;
    case CS_UP:
        if (ev & (EPOLLERR | EPOLLHUP)) {
            cl_fail(g, c, &g->err_eof);
            break;
        }
        cl_up_write(g, c, now);
        break;
    case CS_UPACK:
        cl_up_ack(g, c, now);
        break;
    case CS_DOWN:
        cl_down_read(g, c);
        break;
    case CS_ECHO: {
        errno = 0;
        int r = cl_fill(c);
        if (r == -1)
            cl_fail(g, c, &g->err_eof);
        else if (r == 1)
            cl_echo_done(g, c, now);
        break;
    }
    case CS_EOF: {
        uint8_t b;
        ssize_t r = recv(c->fd, &b, 1, 0);
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            break;
        if (r != 0) {
            cl_fail(g, c, &g->err_eof);
            break;
        }
        cl_close(g, c, CS_IDLE);
        g->finished++;
        break;
    }
    case CS_HELD: {
        /* An idle relayed connection must stay silent: anything here is a loss. */
        g->lost_while_holding++;
        errno = 0;
        cl_fail(g, c, &g->err_eof);
        break;
    }
    default:
        break;
    }
}

/* Runs the loop until `until` or until done() says so. */
static void
cl_loop(struct cl *g, uint64_t until, int (*done)(struct cl *), void (*tick)(struct cl *, uint64_t))
{
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        if (now >= until || (done && done(g)))
            return;
        if (tick)
            tick(g, now);
        int ms = (int)((until - now) / 1000000u) + 1;
        if (ms > 5)
            ms = 5;
        int n = epoll_wait(g->ep, evs, MAX_EVENTS, ms);
        if (n == -1 && errno != EINTR)
            die("epoll_wait");
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct cl_conn *c = &g->conns[evs[i].data.u32];
            if (c->fd != -1)
                cl_event(g, c, evs[i].events, now);
        }
    }
}

static int
cl_setup(struct cl *g, unsigned n)
{
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->conns = calloc(n, sizeof(*g->conns));
    g->rbuf = malloc(IO_CHUNK);
    if (g->ep == -1 || !g->conns || !g->rbuf)
        return -1;
    g->n = n;
    for (unsigned i = 0; i < n; i++)
        g->conns[i].fd = -1;
    return 0;
}

static const char *
cl_path(const struct cl *g)
{
    return g->use_socks ? "socks" : "direct";
}

static void
print_errors(const struct cl *g)
{
    printf(" err_connect=%u err_socks=%u err_verify=%u err_eof=%u", g->err_connect, g->err_socks,
           g->err_verify, g->err_eof);
    if (g->last_rep)
        printf(" last_rep=%d", g->last_rep);
    if (g->last_errno)
        printf(" last_errno=%d", g->last_errno);
}

/* --- throughput --- */

static int
all_ready_or_dead(struct cl *g)
{
    unsigned dead = 0;
    for (unsigned i = 0; i < g->n; i++)
        dead += g->conns[i].st == CS_DEAD;
    return g->ready + dead == g->n;
}

static int
tput_finished(struct cl *g)
{
    for (unsigned i = 0; i < g->n; i++)
        if (g->conns[i].st == CS_UP || g->conns[i].st == CS_UPACK)
            return 0;
    return 1;
}

static void
tput_tick(struct cl *g, uint64_t now)
{
    if (g->t_warm && now >= g->t_warm) {
        g->bytes_at_warm = g->bytes_total;
        g->t_warm = 0;
    }
}

static int
run_tput(struct cl *g, unsigned streams, double secs, double warmup)
{
    if (cl_setup(g, streams) == -1)
        die("setup");
    for (unsigned i = 0; i < streams; i++)
        cl_open(g, &g->conns[i]);
    cl_loop(g, now_ns() + 10000000000u, all_ready_or_dead, NULL);
    if (g->ready != streams) {
        printf("RESULT mode=tput dir=%s path=%s streams=%u ok=0 ready=%u",
               g->mode == MODE_TPUT_UP ? "up" : "down", cl_path(g), streams, g->ready);
        print_errors(g);
        printf("\n");
        return 1;
    }
    uint8_t hdr = g->mode == MODE_TPUT_UP ? 'U' : 'D';
    g->t_start = now_ns();
    g->t_end = g->t_start + (uint64_t)((warmup + secs) * 1e9);
    g->t_warm = warmup > 0 ? g->t_start + (uint64_t)(warmup * 1e9) : 0;
    for (unsigned i = 0; i < streams; i++) {
        struct cl_conn *c = &g->conns[i];
        if (cl_send_small(c, &hdr, 1) == -1) {
            cl_fail(g, c, &g->err_eof);
            continue;
        }
        if (hdr == 'U')
            cl_set(g, c, CS_UP, EPOLLOUT);
        else
            cl_set(g, c, CS_DOWN, EPOLLIN);
    }
    double elapsed;
    uint64_t bytes;
    if (hdr == 'D') {
        cl_loop(g, g->t_end, NULL, tput_tick);
        elapsed = secs;
        bytes = g->bytes_total - g->bytes_at_warm;
    } else {
        /* Upload: the figure is what the server confirmed, over the time to its ack. */
        cl_loop(g, g->t_end + 15000000000u, tput_finished, NULL);
        elapsed = g->last_ack_ns ? (double)(g->last_ack_ns - g->t_start) / 1e9 : 0;
        bytes = g->acked_bytes;
    }
    int ok = g->err_connect + g->err_socks + g->err_verify + g->err_eof == 0 &&
             (hdr == 'D' || g->acks_ok == streams);
    uint64_t minb = UINT64_MAX, maxb = 0;
    for (unsigned i = 0; i < streams; i++) {
        uint64_t b = g->conns[i].off;
        minb = b < minb ? b : minb;
        maxb = b > maxb ? b : maxb;
    }
    printf("RESULT mode=tput dir=%s path=%s streams=%u ok=%d bytes=%llu secs=%.3f "
           "mbytes_per_s=%.1f gbit_per_s=%.3f min_stream=%llu max_stream=%llu",
           hdr == 'U' ? "up" : "down", cl_path(g), streams, ok, (unsigned long long)bytes, elapsed,
           elapsed > 0 ? (double)bytes / elapsed / 1e6 : 0.0,
           elapsed > 0 ? (double)bytes * 8 / elapsed / 1e9 : 0.0, (unsigned long long)minb,
           (unsigned long long)maxb);
    print_errors(g);
    printf("\n");
    for (unsigned i = 0; i < streams; i++)
        if (g->conns[i].fd != -1)
            cl_close(g, &g->conns[i], CS_IDLE);
    return ok ? 0 : 1;
}

/* --- connection rate --- */

static void
rate_tick(struct cl *g, uint64_t now)
{
    if (now >= g->deadline)
        return;
    for (unsigned i = 0; i < g->n; i++) {
        struct cl_conn *c = &g->conns[i];
        if (c->st == CS_IDLE || c->st == CS_DEAD)
            cl_open(g, c);
    }
}

static int
rate_drained(struct cl *g)
{
    return now_ns() >= g->deadline && g->open_now == 0;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double
pct(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static int
run_rate(struct cl *g, unsigned clients, double secs)
{
    if (cl_setup(g, clients) == -1)
        die("setup");
    g->cap_lat = 4u << 20;
    g->lat_us = malloc(g->cap_lat * sizeof(*g->lat_us));
    if (!g->lat_us)
        die("malloc");
    uint64_t t0 = now_ns();
    g->deadline = t0 + (uint64_t)(secs * 1e9);
    cl_loop(g, g->deadline + 5000000000u, rate_drained, rate_tick);
    unsigned stuck = g->open_now;
    qsort(g->lat_us, g->nlat, sizeof(*g->lat_us), cmp_u32);
    unsigned errs = g->err_connect + g->err_socks + g->err_verify + g->err_eof;
    printf("RESULT mode=rate path=%s clients=%u ok=%d cycles=%llu secs=%.3f conn_per_s=%.0f "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f stuck=%u",
           cl_path(g), clients, errs == 0 && stuck == 0, (unsigned long long)g->cycles, secs,
           (double)g->cycles / secs, pct(g->lat_us, g->nlat, 0.50), pct(g->lat_us, g->nlat, 0.90),
           pct(g->lat_us, g->nlat, 0.99), g->nlat ? g->lat_us[g->nlat - 1] / 1000.0 : 0.0, stuck);
    print_errors(g);
    printf("\n");
    for (unsigned i = 0; i < g->n; i++)
        if (g->conns[i].fd != -1)
            cl_close(g, &g->conns[i], CS_IDLE);
    return errs == 0 && stuck == 0 ? 0 : 1;
}

/* --- held connections --- */

struct proc_mem {
    long rss_kb, anon_kb, hwm_kb, pss_kb, fds, procs;
};

static long
ppid_of(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
    long ppid;
    char st;
    if (!rp || sscanf(rp + 1, " %c %ld", &st, &ppid) != 2)
        return -1;
    return ppid;
}

/* Adds one process's memory and open fds to m. */
static void
add_proc_mem(long pid, struct proc_mem *m)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6))
            m->rss_kb += strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "RssAnon:", 8))
            m->anon_kb += strtol(line + 8, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6))
            m->hwm_kb += strtol(line + 6, NULL, 10);
    }
    fclose(f);
    m->procs++;
    /* Pss splits shared pages among the processes that map them, so it adds up across
     * a forking server where summed VmRSS would count its shared pages many times. */
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
    f = fopen(path, "r");
    if (f) {
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "Pss:", 4))
                m->pss_kb += strtol(line + 4, NULL, 10);
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            m->fds += de->d_name[0] != '.';
        closedir(d);
    }
}

/* Memory of `pid` and all its descendants (servers that fork, like danted). */
static void
read_proc_mem(int pid, struct proc_mem *m)
{
    long tree[4096];
    size_t nt = 0;
    memset(m, 0, sizeof(*m));
    if (pid <= 0) {
        m->rss_kb = m->anon_kb = m->hwm_kb = m->pss_kb = m->fds = -1;
        return;
    }
    tree[nt++] = pid;
    DIR *d = opendir("/proc");
    if (d) {
        /* Children have higher pids in practice, but walk until nothing is added. */
        struct dirent *de;
        long pids[32768], ppids[32768];
        size_t np = 0;
        while ((de = readdir(d)) && np < 32768) {
            char *end;
            long p = strtol(de->d_name, &end, 10);
            if (*end || p <= 0)
                continue;
            pids[np] = p;
            ppids[np++] = ppid_of(p);
        }
        closedir(d);
        for (size_t added = 1; added && nt < 4096;) {
            added = 0;
            for (size_t i = 0; i < np && nt < 4096; i++) {
                int in_tree = 0, parent_in = 0;
                for (size_t k = 0; k < nt; k++) {
                    in_tree |= tree[k] == pids[i];
                    parent_in |= tree[k] == ppids[i];
                }
                if (parent_in && !in_tree) {
                    tree[nt++] = pids[i];
                    added = 1;
                }
            }
        }
    }
    for (size_t k = 0; k < nt; k++)
        add_proc_mem(tree[k], m);
}

static unsigned hold_concurrency;
static unsigned hold_next;   /* connections opened so far */
static unsigned hold_round2; /* second round trips sent */
static unsigned dead_round1; /* connections dead before the second round */

static void
hold_tick(struct cl *g, uint64_t now)
{
    (void)now;
    /* Keep at most hold_concurrency handshakes in flight: a burst of 9 000 SYNs would
     * only measure the listen backlog. */
    unsigned inflight = hold_next - g->held - g->dead;
    while (hold_next < g->n && inflight < hold_concurrency) {
        cl_open(g, &g->conns[hold_next++]);
        inflight++;
    }
}

static int
hold_opened(struct cl *g)
{
    return hold_next == g->n && g->held + g->dead == g->n;
}

static int
hold_answered(struct cl *g)
{
    return g->survived + (g->dead - dead_round1) >= hold_round2;
}

static int
run_hold(struct cl *g, unsigned n, double hold_secs, int pid)
{
    struct proc_mem before, holding, after;
    if (cl_setup(g, n) == -1)
        die("setup");
    read_proc_mem(pid, &before);
    uint64_t t0 = now_ns();
    cl_loop(g, t0 + 120000000000u, hold_opened, hold_tick);
    double open_secs = (double)(now_ns() - t0) / 1e9;
    unsigned held = g->held;
    /* Hold: idle, but keep listening for anything the proxy might do to them. */
    cl_loop(g, now_ns() + (uint64_t)(hold_secs * 1e9), NULL, NULL);
    read_proc_mem(pid, &holding);
    /* Second round trip on every connection still held. */
    uint8_t msg[MAX_PAYLOAD];
    dead_round1 = g->dead;
    for (unsigned i = 0; i < n; i++) {
        struct cl_conn *c = &g->conns[i];
        if (c->st != CS_HELD)
            continue;
        c->round = 2;
        echo_payload(msg, g->payload, i, 2);
        hold_round2++;
        if (cl_send_small(c, msg, g->payload) == -1) {
            cl_fail(g, c, &g->err_eof);
            continue;
        }
        c->have = 0;
        c->need = (uint8_t)g->payload;
        c->st = CS_ECHO;
    }
    cl_loop(g, now_ns() + 60000000000u, hold_answered, NULL);
    read_proc_mem(pid, &after);
    /* One process: VmRSS, as /proc/PID/status reports it. Several (a forking server):
     * the sum of their Pss, the only per-process figure that adds up. */
    long delta_kb =
        holding.procs > 1 ? holding.pss_kb - before.pss_kb : holding.rss_kb - before.rss_kb;
    printf("RESULT mode=hold path=%s n=%u ok=%d held=%u survived=%u lost_while_holding=%u "
           "open_secs=%.2f rss_before_kb=%ld rss_hold_kb=%ld rss_after_kb=%ld "
           "anon_before_kb=%ld anon_hold_kb=%ld hwm_kb=%ld pss_before_kb=%ld pss_hold_kb=%ld "
           "fds_before=%ld fds_hold=%ld procs=%ld bytes_per_conn=%.0f",
           cl_path(g), n, g->survived == n, held, g->survived, g->lost_while_holding, open_secs,
           before.rss_kb, holding.rss_kb, after.rss_kb, before.anon_kb, holding.anon_kb,
           after.hwm_kb, before.pss_kb, holding.pss_kb, before.fds, holding.fds, holding.procs,
           pid > 0 && held ? (double)delta_kb * 1024.0 / held : -1.0);
    print_errors(g);
    printf("\n");
    fflush(stdout);
    for (unsigned i = 0; i < n; i++)
        if (g->conns[i].fd != -1)
            cl_close(g, &g->conns[i], CS_IDLE);
    return g->survived == n ? 0 : 1;
}

/* ---------------------------------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: loadgen server [-l HOST:PORT] [-threads N] [-lifetime SEC]\n"
            "       loadgen tput -t HOST:PORT [-socks HOST:PORT] -dir up|down [-streams N]\n"
            "                    [-time SEC] [-warmup SEC] [-dev IFACE]\n"
            "       loadgen rate -t HOST:PORT [-socks HOST:PORT] [-clients C] [-time SEC]\n"
            "                    [-size BYTES]\n"
            "       loadgen hold -t HOST:PORT [-socks HOST:PORT] [-n N] [-hold SEC]\n"
            "                    [-pid PROXY_PID] [-concurrency K]\n");
    exit(2);
}

static long
num_arg(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "loadgen: bad number %s (%ld..%ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static double
secs_arg(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= 0 && v <= 600)) {
        fprintf(stderr, "loadgen: bad duration %s (0..600 s)\n", s);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();
    pat_init();

    const char *cmd = argv[1];
    const char *listen_at = "127.0.0.1:0", *target = NULL, *socks = NULL, *dir = "down";
    struct cl g = {0};
    long threads = 1, lifetime = 900, streams = 1, clients = 32, size = 32, n = 9000, pid = 0;
    long conc = 200;
    double secs = 3, warmup = 0, hold_secs = 5;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(o, "-l"))
            listen_at = v;
        else if (!strcmp(o, "-threads"))
            threads = num_arg(v, 1, 64);
        else if (!strcmp(o, "-lifetime"))
            lifetime = num_arg(v, 1, 86400);
        else if (!strcmp(o, "-t"))
            target = v;
        else if (!strcmp(o, "-socks"))
            socks = v;
        else if (!strcmp(o, "-dir"))
            dir = v;
        else if (!strcmp(o, "-streams"))
            streams = num_arg(v, 1, 4096);
        else if (!strcmp(o, "-clients"))
            clients = num_arg(v, 1, 4096);
        else if (!strcmp(o, "-size"))
            size = num_arg(v, 1, MAX_PAYLOAD);
        else if (!strcmp(o, "-n"))
            n = num_arg(v, 1, 100000);
        else if (!strcmp(o, "-pid"))
            pid = num_arg(v, 0, INT_MAX);
        else if (!strcmp(o, "-concurrency"))
            conc = num_arg(v, 1, 100000);
        else if (!strcmp(o, "-time"))
            secs = secs_arg(v);
        else if (!strcmp(o, "-warmup"))
            warmup = secs_arg(v);
        else if (!strcmp(o, "-hold"))
            hold_secs = secs_arg(v);
        else if (!strcmp(o, "-dev"))
            g.dev = v;
        else
            usage();
    }
    if (!strcmp(cmd, "server"))
        return run_server(listen_at, (int)threads, (int)lifetime);
    if (!target || parse_hostport(target, &g.target, &g.target_len) == -1)
        usage();
    if (socks) {
        if (parse_hostport(socks, &g.socks, &g.socks_len) == -1)
            usage();
        g.use_socks = 1;
    }
    g.payload = (unsigned)size;
    if (!strcmp(cmd, "tput")) {
        if (strcmp(dir, "up") && strcmp(dir, "down"))
            usage();
        g.mode = !strcmp(dir, "up") ? MODE_TPUT_UP : MODE_TPUT_DOWN;
        return run_tput(&g, (unsigned)streams, secs, warmup);
    }
    if (!strcmp(cmd, "rate")) {
        g.mode = MODE_RATE;
        return run_rate(&g, (unsigned)clients, secs);
    }
    if (!strcmp(cmd, "hold")) {
        g.mode = MODE_HOLD;
        g.payload = 16;
        hold_concurrency = (unsigned)conc;
        return run_hold(&g, (unsigned)n, hold_secs, (int)pid);
    }
    usage();
    return 2;
}
