/* libFuzzer harness for the system's per-link DNS server lists: systemd-resolved's state
 * file (src/proto/resolved.c) and macOS's `scutil --dns` (src/proto/scutil.c).
 *
 * Byte 0 is the interface index asked of scutil's text (0..255); the rest is the text.
 * Invariants: each returns 0..max (the state files: or -1 for a DNS-over-TLS-only link,
 * whatever max); no server on port 853; every server is IPv4 or IPv6 with a port; a smaller
 * max gives the first entries of the larger answer; a link-local IPv6 scutil server is
 * scoped to the interface asked. Both parse a copy that ends where its allocation ends. */
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "resolved.h"
#include "scutil.h"

#define MAX 8

static void
check(const struct sockaddr_storage *v, int n)
{
    FUZZ_CHECK(n >= 0 && n <= MAX);
    for (int i = 0; i < n; i++) {
        if (v[i].ss_family == AF_INET)
            FUZZ_CHECK(((const struct sockaddr_in *)&v[i])->sin_port != 0);
        else
            FUZZ_CHECK(v[i].ss_family == AF_INET6 &&
                       ((const struct sockaddr_in6 *)&v[i])->sin6_port != 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage a[MAX], b[MAX];
    unsigned ifindex;
    char *text;
    size_t len;
    int n, m;

    if (size < 1)
        return 0;
    ifindex = data[0];
    len = size - 1;
    text = malloc(len ? len : 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, len);

    for (int k = 0; k < 2; k++) {
        const char *key = k ? "DNS=" : "SERVERS=";

        n = resolved_parse_servers(text, len, key, a, MAX);
        if (n == -1) /* DNS-over-TLS only: the same for any max */
            FUZZ_CHECK(resolved_parse_servers(text, len, key, b, 2) == -1);
        if (n == -1)
            continue;
        check(a, n);
        for (int i = 0; i < n; i++) /* never the DNS-over-TLS port */
            FUZZ_CHECK(ntohs(a[i].ss_family == AF_INET
                                 ? ((struct sockaddr_in *)&a[i])->sin_port
                                 : ((struct sockaddr_in6 *)&a[i])->sin6_port) != 853);
        m = resolved_parse_servers(text, len, key, b, 2);
        FUZZ_CHECK(m == (n < 2 ? n : 2) && memcmp(a, b, (size_t)m * sizeof(a[0])) == 0);
    }

    n = scutil_scoped_servers(text, len, ifindex, a, MAX);
    check(a, n);
    FUZZ_CHECK(ifindex != 0 || n == 0);
    for (int i = 0; i < n; i++)
        if (a[i].ss_family == AF_INET6 &&
            IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)&a[i])->sin6_addr))
            FUZZ_CHECK(((struct sockaddr_in6 *)&a[i])->sin6_scope_id == ifindex);
    m = scutil_scoped_servers(text, len, ifindex, b, 2);
    FUZZ_CHECK(m == (n < 2 ? n : 2) && memcmp(a, b, (size_t)m * sizeof(a[0])) == 0);
    free(text);
    return 0;
}
