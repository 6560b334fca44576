/* systemd's per-link DNS state lines (SERVERS=, DNS=), parsed without I/O (see resolved.h). */
#include "resolved.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decimal 1..max from s (all of it). Returns the value, or 0. */
static unsigned long
decimal(const char *s, unsigned long max)
{
    unsigned long v = 0;

    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        unsigned long d = (unsigned long)(*s - '0');

        if (*s < '0' || *s > '9' || v > (max - d) / 10) /* no wrap, whatever long's size */
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/* One entry (NUL-terminated, modified) into *out. 0, or -1 when it does not parse. */
static int
parse_entry(char *e, struct sockaddr_storage *out)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
    char *p, *addr = e;
    unsigned long port = 53, scope = 0;

    if ((p = strchr(e, '#')) != NULL) /* DoT server name: not ours to check */
        *p = '\0';
    if ((p = strchr(e, '%')) != NULL) {
        *p = '\0';
        if ((scope = decimal(p + 1, UINT32_MAX)) == 0)
            return -1;
    }
    if (*e == '[') { /* [v6]:port */
        addr = e + 1;
        if ((p = strchr(addr, ']')) == NULL || p[1] != ':' || (port = decimal(p + 2, 65535)) == 0)
            return -1;
        *p = '\0';
    } else if ((p = strchr(e, ':')) != NULL && strchr(p + 1, ':') == NULL) { /* v4:port */
        *p = '\0';
        if ((port = decimal(p + 1, 65535)) == 0)
            return -1;
    }
    memset(out, 0, sizeof(*out));
    if (scope == 0 && addr == e && inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        s6->sin6_scope_id = (uint32_t)scope;
        return 0;
    }
    return -1;
}

/* Port 853 is DNS-over-TLS: nothing there answers DNS in clear. */
static int
on_port_853(const struct sockaddr_storage *ss)
{
    uint16_t port = ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                             : ((const struct sockaddr_in6 *)ss)->sin6_port;

    return ntohs(port) == 853;
}

/* The line that starts with key: its value in [*v, *end). 1, or 0 when there is none. */
static int
find_line(const char *text, size_t len, const char *key, const char **v, const char **end)
{
    size_t klen = strlen(key), i = 0;

    while (i < len) {
        size_t e = i;

        while (e < len && text[e] != '\n')
            e++;
        if (e - i >= klen && memcmp(text + i, key, klen) == 0) {
            *v = text + i + klen;
            *end = text + e;
            return 1;
        }
        i = e + 1;
    }
    return 0;
}

/* 1 when the line key says "yes" (trailing blanks allowed). */
static int
says_yes(const char *text, size_t len, const char *key)
{
    const char *v, *end;

    if (!find_line(text, len, key, &v, &end))
        return 0;
    while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end - v == 3 && memcmp(v, "yes", 3) == 0;
}

int
resolved_parse_servers(const char *text, size_t len, const char *key, struct sockaddr_storage *out,
                       int max)
{
    const char *p, *end;
    int n = 0;

    if (says_yes(text, len, "DNSOVERTLS=") || says_yes(text, len, "DNS_OVER_TLS="))
        return -1;
    if (!find_line(text, len, key, &p, &end))
        return 0;
    while (p < end && n < max) {
        char entry[128];
        size_t k = 0;

        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r') {
            if (k < sizeof(entry) - 1)
                entry[k] = *p;
            k++, p++;
        }
        if (k == 0 || k >= sizeof(entry))
            continue; /* nothing left, or too long to be an address */
        entry[k] = '\0';
        if (parse_entry(entry, &out[n]) == 0 && !on_port_853(&out[n]))
            n++;
    }
    return n;
}
