#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "os.h"

#define LINE_MAX_LEN 1024 /* an auth-file line */

int
access_parse_cidr(const char *s, struct access_cidr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    unsigned long prefix;
    char *end;

    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix = 128;
    } else {
        return -1;
    }
    if (slash == NULL)
        return 0;
    if (slash[1] < '0' || slash[1] > '9')
        return -1;
    errno = 0;
    prefix = strtoul(slash + 1, &end, 10);
    if (errno != 0 || *end != '\0' || prefix > out->prefix)
        return -1;
    out->prefix = (unsigned)prefix;
    return 0;
}

static int
prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned bytes = prefix / 8, bits = prefix % 8;

    if (memcmp(a, b, bytes) != 0)
        return 0;
    if (bits == 0)
        return 1;
    return ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

int
access_client_allowed(const struct access *a, const struct sockaddr *sa)
{
    uint8_t addr[16];
    int family;

    if (a->n_allow == 0)
        return 1;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof(sin));
        memcpy(addr, &sin.sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof(sin6));
        memcpy(addr, &sin6.sin6_addr, 16);
        family = AF_INET6;
        if (dp_is_v4mapped(addr)) {
            memmove(addr, addr + 12, 4); /* a dual-stack socket's IPv4 client */
            family = AF_INET;
        }
    } else {
        return 0;
    }
    for (unsigned i = 0; i < a->n_allow; i++)
        if (a->allow[i].family == family &&
            prefix_match(addr, a->allow[i].addr, a->allow[i].prefix))
            return 1;
    return 0;
}

enum access_exposure
access_exposure(const struct sockaddr *sa)
{
    static const uint8_t zero[16];
    uint8_t a[16];

    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        if (memcmp(a, zero, 4) == 0)
            return ACCESS_EVERYWHERE;
        return a[0] == 127 ? ACCESS_LOOPBACK : ACCESS_ADDRESS;
    }
    if (sa->sa_family != AF_INET6)
        return ACCESS_ADDRESS;
    memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    if (memcmp(a, zero, 16) == 0)
        return ACCESS_EVERYWHERE;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return ACCESS_LOOPBACK;
    if (dp_is_v4mapped(a) && a[12] == 127)
        return ACCESS_LOOPBACK;
    return ACCESS_ADDRESS;
}

static struct sockaddr_storage self_addrs[ACCESS_SELF_MAX];
static unsigned n_self;

/* dst as AF_INET when it is an IPv4-mapped IPv6 address, else as it is. */
static void
self_normalise(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET6 && dp_is_v4mapped(&s6->sin6_addr)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        s4->sin_family = AF_INET;
        s4->sin_port = s6->sin6_port;
        memcpy(&s4->sin_addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
    } else if (sa->sa_family == AF_INET) {
        memcpy(out, sa, sizeof(struct sockaddr_in));
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, sa, sizeof(struct sockaddr_in6));
    }
}

static uint16_t
self_port(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                    : ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static int
self_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/* Whether addr is one of this host's: loopback, or an address a socket can bind to. */
static int
self_is_local(const struct sockaddr_storage *addr)
{
    struct sockaddr_storage probe = *addr;
    os_sock fd;
    int ok;

    if (access_exposure((const struct sockaddr *)addr) == ACCESS_LOOPBACK ||
        access_exposure((const struct sockaddr *)addr) == ACCESS_EVERYWHERE)
        return 1;
    if (probe.ss_family == AF_INET)
        ((struct sockaddr_in *)&probe)->sin_port = 0;
    else
        ((struct sockaddr_in6 *)&probe)->sin6_port = 0;
    fd = os_socket(probe.ss_family, SOCK_DGRAM, 0);
    if (fd == OS_SOCK_INVALID)
        return 0;
    ok = bind(fd, (struct sockaddr *)&probe,
              probe.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                         : sizeof(struct sockaddr_in6)) == 0;
    os_close(fd);
    return ok;
}

void
access_self_add(const struct sockaddr *bound)
{
    if (n_self < ACCESS_SELF_MAX)
        self_normalise(bound, &self_addrs[n_self++]);
}

int
access_is_self(const struct sockaddr *dst)
{
    struct sockaddr_storage d;
    int local = -1; /* not asked yet */

    self_normalise(dst, &d);
    if (d.ss_family != AF_INET && d.ss_family != AF_INET6)
        return 0;
    for (unsigned i = 0; i < n_self; i++) {
        const struct sockaddr_storage *l = &self_addrs[i];
        int wildcard = access_exposure((const struct sockaddr *)l) == ACCESS_EVERYWHERE;

        if (self_port(l) != self_port(&d))
            continue;
        if (access_exposure((const struct sockaddr *)&d) == ACCESS_EVERYWHERE)
            return 1; /* connect() to 0.0.0.0 or :: reaches this host */
        if (!wildcard && self_same_addr(l, &d))
            return 1;
        /* 0.0.0.0 takes IPv4 only; :: IPv6 only (listeners are IPV6_V6ONLY) */
        if (wildcard && l->ss_family == d.ss_family) {
            if (local == -1)
                local = self_is_local(&d);
            if (local)
                return 1;
        }
    }
    return 0;
}

int
access_parse_cred(const char *s, size_t len, struct access_cred *out)
{
    const char *colon = memchr(s, ':', len);
    size_t ulen, plen;

    if (colon == NULL)
        return -1;
    ulen = (size_t)(colon - s);
    plen = len - ulen - 1;
    if (ulen > ACCESS_FIELD_MAX || plen > ACCESS_FIELD_MAX)
        return -1;
    memset(out, 0, sizeof(*out));
    out->user_len = (uint8_t)ulen;
    out->pass_len = (uint8_t)plen;
    memcpy(out->user, s, ulen);
    memcpy(out->pass, colon + 1, plen);
    return 0;
}

/* Appends one credential to a growing table. Returns 0 or -1 (out of memory). */
static int
push_cred(struct access_cred **tab, size_t *n, size_t *cap, const struct access_cred *c)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct access_cred *t = realloc(*tab, ncap * sizeof(*t));
        if (t == NULL)
            return -1;
        *tab = t;
        *cap = ncap;
    }
    (*tab)[(*n)++] = *c;
    return 0;
}

void
access_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;

    for (size_t i = 0; i < n; i++)
        v[i] = 0;
}

static void
wipe_table(struct access_cred *tab, size_t n)
{
    if (tab == NULL)
        return;
    access_wipe(tab, n * sizeof(*tab));
    free(tab);
}

/* The -auth strings followed by the file's lines. Returns 0, or -1 with err set. */
static int
build_table(const struct access *a, struct access_cred **out, size_t *n_out, char *err,
            size_t errlen)
{
    struct access_cred *tab = NULL, c;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    FILE *f = NULL;
    int rc = -1;

    for (unsigned i = 0; i < a->n_auth_args; i++) {
        if (access_parse_cred(a->auth_args[i], strlen(a->auth_args[i]), &c) == -1) {
            snprintf(err, errlen, "-auth needs USER:PASSWORD (each at most %d bytes)",
                     ACCESS_FIELD_MAX);
            goto fail;
        }
        if (push_cred(&tab, &n, &cap, &c) == -1)
            goto oom;
    }
    if (a->auth_file != NULL) {
        f = fopen(a->auth_file, "re");
        if (f == NULL) {
            snprintf(err, errlen, "cannot read auth file %.200s: %s", a->auth_file,
                     strerror(errno));
            goto fail;
        }
        while ((got = getline(&line, &linecap, f)) != -1) {
            size_t len = (size_t)got;
            lineno++;
            if (len > 0 && line[len - 1] == '\n')
                len--;
            if (len > 0 && line[len - 1] == '\r')
                len--;
            if (len == 0 || line[0] == '#')
                continue;
            if (len > LINE_MAX_LEN || access_parse_cred(line, len, &c) == -1) {
                /* Never echo the line: it holds a password. */
                snprintf(err, errlen, "%.200s:%zu: expected USER:PASSWORD (each at most %d bytes)",
                         a->auth_file, lineno, ACCESS_FIELD_MAX);
                goto fail;
            }
            if (push_cred(&tab, &n, &cap, &c) == -1)
                goto oom;
        }
        if (ferror(f)) {
            snprintf(err, errlen, "cannot read auth file %.200s: %s", a->auth_file,
                     strerror(errno));
            goto fail;
        }
    }
    *out = tab;
    *n_out = n;
    tab = NULL; /* handed over: the cleanup below must not wipe it */
    rc = 0;
    goto done;

oom:
    snprintf(err, errlen, "out of memory");
fail: /* rc is -1 */
done:
    if (line != NULL) {
        access_wipe(line, linecap);
        free(line);
    }
    if (f != NULL)
        fclose(f);
    access_wipe(&c, sizeof(c));
    wipe_table(tab, n);
    return rc;
}

int
access_init(struct access *a, const struct access_cidr *allow, unsigned n_allow,
            const char *const *auth_args, unsigned n_auth_args, const char *auth_file, char *err,
            size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->allow = allow;
    a->n_allow = n_allow;
    a->auth_args = auth_args;
    a->n_auth_args = n_auth_args;
    a->auth_file = auth_file;
    if (build_table(a, &a->creds, &a->n_creds, err, errlen) == -1)
        return -1;
    if (pthread_rwlock_init(&a->lock, NULL) != 0) {
        wipe_table(a->creds, a->n_creds);
        a->creds = NULL;
        snprintf(err, errlen, "cannot create a lock");
        return -1;
    }
    return 0;
}

void
access_free(struct access *a)
{
    wipe_table(a->creds, a->n_creds);
    a->creds = NULL;
    a->n_creds = 0;
    pthread_rwlock_destroy(&a->lock);
}

int
access_reload(struct access *a, size_t *n_creds, char *err, size_t errlen)
{
    struct access_cred *tab, *old;
    size_t n, old_n;

    if (build_table(a, &tab, &n, err, errlen) == -1)
        return -1;
    pthread_rwlock_wrlock(&a->lock);
    old = a->creds;
    old_n = a->n_creds;
    a->creds = tab;
    a->n_creds = n;
    pthread_rwlock_unlock(&a->lock);
    wipe_table(old, old_n);
    if (n_creds != NULL)
        *n_creds = n;
    return 0;
}

int
access_auth_required(const struct access *a)
{
    return a->n_auth_args > 0 || a->auth_file != NULL;
}

int
access_ct_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    volatile uint8_t diff = (uint8_t)(a_len != b_len);

    for (size_t i = 0; i < b_len; i++)
        diff |= (uint8_t)((i < a_len ? a[i] : 0) ^ b[i]);
    return diff == 0;
}

int
access_check(struct access *a, const uint8_t *user, size_t user_len, const uint8_t *pass,
             size_t pass_len)
{
    int ok = 0;

    pthread_rwlock_rdlock(&a->lock);
    /* Every entry, no early exit: the time taken does not say which user matched. */
    for (size_t i = 0; i < a->n_creds; i++) {
        const struct access_cred *c = &a->creds[i];
        ok |= access_ct_equal(user, user_len, c->user, c->user_len) &
              access_ct_equal(pass, pass_len, c->pass, c->pass_len);
    }
    pthread_rwlock_unlock(&a->lock);
    return ok;
}
