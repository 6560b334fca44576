/* systemd-resolved's per-link SERVERS= line, parsed without I/O (see resolved.h). */
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
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return 0;
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

int
resolved_parse_servers(const char *text, size_t len, struct sockaddr_storage *out, int max)
{
    static const char key[] = "SERVERS=";
    size_t i = 0;
    int n = 0;

    while (i < len) {
        size_t end = i;

        while (end < len && text[end] != '\n')
            end++;
        if (end - i >= sizeof(key) - 1 && memcmp(text + i, key, sizeof(key) - 1) == 0) {
            i += sizeof(key) - 1;
            while (i < end && n < max) {
                char entry[128];
                size_t k = 0;

                while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
                    i++;
                while (i < end && text[i] != ' ' && text[i] != '\t' && text[i] != '\r') {
                    if (k < sizeof(entry) - 1)
                        entry[k] = text[i];
                    k++, i++;
                }
                if (k == 0 || k >= sizeof(entry))
                    continue; /* nothing left, or too long to be an address */
                entry[k] = '\0';
                if (parse_entry(entry, &out[n]) == 0)
                    n++;
            }
            return n;
        }
        i = end + 1;
    }
    return n;
}
