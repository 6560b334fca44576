/* Short-connection churn through a SOCKS5 proxy, for test_faults.py.
 *
 *     churn PROXY_PORT ECHO_PORT COUNT WORKERS
 *
 * WORKERS threads share COUNT connections. Each connection, one after another in its
 * thread: connect to 127.0.0.1:PROXY_PORT, send greeting + CONNECT 127.0.0.1:ECHO_PORT +
 * 8 payload bytes in one write, read 05 00, a 10-byte REP 0 reply and the 8 bytes echoed,
 * half-close, read to EOF, close. Prints "ok N failed M" and, if any failed, the first
 * failure; exits 0 only when none failed. Built by the test with `cc -O2 -pthread`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static unsigned short proxy_port, echo_port;
static atomic_long next_conn, n_ok, n_failed;
static long total;
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

static void
fail(long i, const char *what, int err)
{
    atomic_fetch_add(&n_failed, 1);
    pthread_mutex_lock(&first_lock);
    if (first_error[0] == '\0')
        snprintf(first_error, sizeof(first_error), "connection %ld: %s: %s", i, what,
                 err ? strerror(err) : "unexpected bytes or early EOF");
    pthread_mutex_unlock(&first_lock);
}

/* Reads exactly n bytes; 0, or an errno (0 given as EPIPE for an early EOF). */
static int
read_exact(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r == 0)
            return EPIPE;
        if (r == -1) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        got += (size_t)r;
    }
    return 0;
}

static void
one(long i)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(proxy_port)};
    struct timeval tv = {.tv_sec = 10};
    unsigned char msg[3 + 10 + 8], got[2 + 10 + 8], rest[64];
    int fd, err;
    ssize_t r;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fail(i, "socket", errno);
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        fail(i, "connect", errno);
        goto out;
    }
    memcpy(msg,
           "\x05\x01\x00"
           "\x05\x01\x00\x01"
           "\x7f\x00\x00\x01",
           11);
    msg[11] = (unsigned char)(echo_port >> 8);
    msg[12] = (unsigned char)echo_port;
    {
        char tag[16];
        snprintf(tag, sizeof(tag), "%08ld", i % 100000000);
        memcpy(msg + 13, tag, 8);
    }
    if (send(fd, msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg)) {
        fail(i, "send", errno);
        goto out;
    }
    if ((err = read_exact(fd, got, sizeof(got))) != 0) {
        fail(i, "read reply and echo", err == EPIPE ? 0 : err);
        goto out;
    }
    if (memcmp(got, "\x05\x00\x05\x00\x00\x01", 6) != 0 || memcmp(got + 12, msg + 13, 8) != 0) {
        fail(i, "reply or echo", 0);
        goto out;
    }
    shutdown(fd, SHUT_WR);
    while ((r = recv(fd, rest, sizeof(rest), 0)) > 0 || (r == -1 && errno == EINTR))
        ;
    if (r == -1) {
        fail(i, "read EOF", errno);
        goto out;
    }
    atomic_fetch_add(&n_ok, 1);
out:
    close(fd);
}

static void *
worker(void *arg)
{
    long i;
    (void)arg;
    while ((i = atomic_fetch_add(&next_conn, 1)) < total)
        one(i);
    return NULL;
}

int
main(int argc, char **argv)
{
    pthread_t th[64];
    int workers;

    if (argc != 5) {
        fprintf(stderr, "usage: churn PROXY_PORT ECHO_PORT COUNT WORKERS\n");
        return 2;
    }
    proxy_port = (unsigned short)strtoul(argv[1], NULL, 10);
    echo_port = (unsigned short)strtoul(argv[2], NULL, 10);
    total = strtol(argv[3], NULL, 10);
    workers = (int)strtol(argv[4], NULL, 10);
    if (workers < 1 || workers > 64)
        workers = 4;
    for (int w = 0; w < workers; w++)
        pthread_create(&th[w], NULL, worker, NULL);
    for (int w = 0; w < workers; w++)
        pthread_join(th[w], NULL);
    printf("ok %ld failed %ld\n", atomic_load(&n_ok), atomic_load(&n_failed));
    if (first_error[0] != '\0')
        printf("first failure: %s\n", first_error);
    return atomic_load(&n_failed) == 0 ? 0 : 1;
}
