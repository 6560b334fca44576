/* `scutil --dns`'s scoped resolvers, parsed without I/O (see scutil.h). */
#include "scutil.h"

#include <stdint.h>
#include <string.h>

#define SCOPED_HEADER "DNS configuration (for scoped queries)"
#define BLOCK_SERVERS 8

/* One resolver block as it is read. */
struct block {
    unsigned ifindex;
    unsigned long port;
    int n;
    struct sockaddr_storage servers[BLOCK_SERVERS];
};

/* Decimal 1..max from [s, end) with nothing after it but a space or a '('. Returns the
 * value, or 0. */
static unsigned long
decimal(const char *s, const char *end, unsigned long max)
{
    unsigned long v = 0;
    const char *p = s;

    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned long d = (unsigned long)(*p - '0');

        if (v > (max - d) / 10) /* no wrap, whatever long's size */
            return 0;
        v = v * 10 + d;
    }
    if (p == s || (p < end && *p != ' ' && *p != '('))
        return 0;
    return v;
}

/* "nameserver[i] : ADDR" value [v, end) into *out. 0, or -1 when it does not parse. */
static int
parse_server(const char *v, const char *end, struct sockaddr_storage *out)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
    char addr[INET6_ADDRSTRLEN + 1];
    size_t n = (size_t)(end - v);
    const char *pct = memchr(v, '%', n);

    if (pct != NULL)
        n = (size_t)(pct - v); /* fe80::1%en0: the scope is the resolver's interface */
    if (n == 0 || n >= sizeof(addr))
        return -1;
    memcpy(addr, v, n);
    addr[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (pct == NULL && inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

/* Appends a finished block's servers to out when it is ifindex's. */
static void
flush(const struct block *b, unsigned ifindex, struct sockaddr_storage *out, int max, int *n)
{
    if (b->ifindex != ifindex || b->ifindex == 0)
        return;
    for (int i = 0; i < b->n && *n < max; i++) {
        struct sockaddr_storage *s = &out[(*n)++];
        uint16_t port = htons((uint16_t)(b->port ? b->port : 53));

        *s = b->servers[i];
        if (s->ss_family == AF_INET) {
            ((struct sockaddr_in *)s)->sin_port = port;
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)s;

            s6->sin6_port = port;
            if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
                s6->sin6_scope_id = ifindex;
        }
    }
}

int
scutil_scoped_servers(const char *text, size_t len, unsigned ifindex, struct sockaddr_storage *out,
                      int max)
{
    const char *p = text, *end = text + len;
    struct block b;
    int scoped = 0, in_block = 0, n = 0;

    memset(&b, 0, sizeof(b));
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *line = p, *lend, *colon;
        size_t klen;

        if (eol == NULL)
            eol = end;
        p = eol + 1;
        lend = eol;
        while (lend > line && (lend[-1] == '\r' || lend[-1] == ' '))
            lend--;
        while (line < lend && (*line == ' ' || *line == '\t'))
            line++;
        if ((size_t)(lend - line) >= sizeof("DNS configuration") - 1 &&
            memcmp(line, "DNS configuration", sizeof("DNS configuration") - 1) == 0) {
            if (in_block)
                flush(&b, ifindex, out, max, &n);
            in_block = 0;
            scoped = (size_t)(lend - line) == sizeof(SCOPED_HEADER) - 1 &&
                     memcmp(line, SCOPED_HEADER, sizeof(SCOPED_HEADER) - 1) == 0;
            continue;
        }
        if (!scoped)
            continue;
        if ((size_t)(lend - line) >= 9 && memcmp(line, "resolver ", 9) == 0) {
            if (in_block)
                flush(&b, ifindex, out, max, &n);
            memset(&b, 0, sizeof(b));
            in_block = 1;
            continue;
        }
        if (!in_block || (colon = memchr(line, ':', (size_t)(lend - line))) == NULL)
            continue;
        klen = (size_t)(colon - line);
        while (klen > 0 && line[klen - 1] == ' ')
            klen--;
        if (colon + 1 < lend && colon[1] == ' ')
            colon++;
        colon++; /* the value */
        if (klen > 11 && memcmp(line, "nameserver[", 11) == 0 && line[klen - 1] == ']') {
            if (b.n < BLOCK_SERVERS && parse_server(colon, lend, &b.servers[b.n]) == 0)
                b.n++;
        } else if (klen == 8 && memcmp(line, "if_index", 8) == 0) {
            b.ifindex = (unsigned)decimal(colon, lend, UINT32_MAX);
        } else if (klen == 4 && memcmp(line, "port", 4) == 0) {
            b.port = decimal(colon, lend, 65535);
        }
    }
    if (in_block)
        flush(&b, ifindex, out, max, &n);
    return n;
}
