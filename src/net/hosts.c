#include "hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

struct hosts_entry {
    const char *name; /* lowercase, no final dot; points into names */
    unsigned seq;     /* file order, to keep it among equal names */
    struct dns_addr addr;
};

struct hosts {
    struct hosts_entry *v; /* sorted by name, then seq */
    size_t n;
    char *names;
};

static int
cmp_entry(const void *a, const void *b)
{
    const struct hosts_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Lowercases name[0..len) without a final dot into out (size outlen). 0 or -1 (too long
 * or empty). */
static int
fold(const char *name, size_t len, char *out, size_t outlen)
{
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len >= outlen)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[len] = '\0';
    return 0;
}

static int
parse_addr(const char *s, struct dns_addr *a)
{
    char buf[64];
    size_t len = strcspn(s, "%"); /* fe80::1%eth0: the scope is dropped */

    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, buf, a->addr) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, a->addr) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -1;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits one line (comment removed) into fields; returns how many (at most max). */
static size_t
fields(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        while (is_space(*p))
            p++;
        if (*p == '\0' || n == max)
            return n;
        f[n++] = p;
        while (*p != '\0' && !is_space(*p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
}

struct hosts *
hosts_parse(const char *text, size_t len)
{
    struct hosts *h = calloc(1, sizeof(*h));
    char *copy = malloc(len + 1), *line, *next;
    size_t cap = 0, names_len = 0;

    if (h == NULL || copy == NULL)
        goto fail;
    memcpy(copy, text, len);
    copy[len] = '\0';
    /* The names are kept in a buffer as large as the text: they are parts of it. */
    h->names = malloc(len + 1);
    if (h->names == NULL)
        goto fail;
    for (line = copy; line != NULL; line = next) {
        char *f[64];
        size_t nf;
        struct dns_addr a;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        line[strcspn(line, "#")] = '\0';
        nf = fields(line, f, sizeof(f) / sizeof(f[0]));
        if (nf < 2 || parse_addr(f[0], &a) == -1)
            continue;
        for (size_t i = 1; i < nf; i++) {
            size_t nl = strlen(f[i]);

            if (fold(f[i], nl, h->names + names_len, len + 1 - names_len) == -1)
                continue;
            if (h->n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct hosts_entry *nv = realloc(h->v, ncap * sizeof(*nv));

                if (nv == NULL)
                    goto fail;
                h->v = nv;
                cap = ncap;
            }
            h->v[h->n].name = h->names + names_len; /* fixed up below if names moves */
            h->v[h->n].seq = (unsigned)h->n;
            h->v[h->n].addr = a;
            h->n++;
            names_len += strlen(h->names + names_len) + 1;
        }
    }
    free(copy);
    if (h->n > 0)
        qsort(h->v, h->n, sizeof(h->v[0]), cmp_entry);
    return h;
fail:
    free(copy);
    hosts_free(h);
    return NULL;
}

struct hosts *
hosts_load(const char *path)
{
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    char *text = NULL;
    size_t len = 0;
    struct hosts *h;

    if (f != NULL) {
        text = malloc(HOSTS_FILE_MAX);
        if (text != NULL)
            len = fread(text, 1, HOSTS_FILE_MAX, f);
        fclose(f);
    }
    h = hosts_parse(text != NULL ? text : "", len);
    free(text);
    return h;
}

void
hosts_free(struct hosts *h)
{
    if (h == NULL)
        return;
    free(h->v);
    free(h->names);
    free(h);
}

size_t
hosts_count(const struct hosts *h)
{
    return h != NULL ? h->n : 0;
}

int
hosts_is_localhost(const char *name)
{
    char folded[DNS_NAME_WIRE_MAX + 1];
    size_t n;

    if (fold(name, strlen(name), folded, sizeof(folded)) == -1)
        return 0;
    n = strlen(folded);
    return strcmp(folded, "localhost") == 0 ||
           (n > 10 && strcmp(folded + n - 10, ".localhost") == 0);
}

static unsigned
add(struct dns_addr *out, unsigned n, unsigned max, const struct dns_addr *a)
{
    for (unsigned i = 0; i < n; i++)
        if (out[i].family == a->family && memcmp(out[i].addr, a->addr, 16) == 0)
            return n;
    if (n < max)
        out[n++] = *a;
    return n;
}

unsigned
hosts_lookup(const struct hosts *h, const char *name, int family, struct dns_addr *out,
             unsigned max)
{
    char folded[DNS_NAME_WIRE_MAX + 1];
    struct hosts_entry key = {.name = folded, .seq = 0};
    unsigned n = 0;

    if (hosts_is_localhost(name)) {
        struct dns_addr v4 = {.family = AF_INET, .addr = {127, 0, 0, 1}};
        struct dns_addr v6 = {.family = AF_INET6, .addr = {[15] = 1}};

        if (family != AF_INET6)
            n = add(out, n, max, &v4);
        if (family != AF_INET)
            n = add(out, n, max, &v6);
        return n;
    }
    if (h == NULL || h->n == 0 || fold(name, strlen(name), folded, sizeof(folded)) == -1)
        return 0;
    /* The first entry of the name: a binary search for (name, seq 0). */
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (cmp_entry(&h->v[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0 ? AF_INET : AF_INET6;

        if (family != AF_UNSPEC && family != want)
            continue;
        for (size_t i = lo; i < h->n && strcmp(h->v[i].name, folded) == 0; i++)
            if (h->v[i].addr.family == want)
                n = add(out, n, max, &h->v[i].addr);
    }
    return n;
}
