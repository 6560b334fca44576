/* Windows interfaces behind the seam: one GetAdaptersAddresses snapshot gives the
 * adapters by friendly name ("Wi-Fi", "Ethernet 2"), their index, state, unicast
 * addresses, gateways (the default routes) and DNS servers. */
#include "os.h"

#include <stdlib.h>
#include <string.h>

#include "win.h"

#define GAA_FLAGS (GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_INCLUDE_GATEWAYS)

void
win_utf8(const wchar_t *w, char *out, size_t outlen)
{
    int n;

    out[0] = '\0';
    if (w == NULL || outlen == 0)
        return;
    n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)outlen, NULL, NULL);
    if (n == 0) { /* too long: cut at a character boundary */
        int need = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
        char *tmp = need > 0 ? malloc((size_t)need) : NULL;
        size_t keep;

        if (tmp == NULL)
            return;
        WideCharToMultiByte(CP_UTF8, 0, w, -1, tmp, need, NULL, NULL);
        keep = outlen - 1;
        while (keep > 0 && ((unsigned char)tmp[keep] & 0xC0) == 0x80)
            keep--;
        memcpy(out, tmp, keep);
        out[keep] = '\0';
        free(tmp);
    }
}

/* The adapters with flags, in one malloc'ed list; NULL with os_errno() on failure. */
static IP_ADAPTER_ADDRESSES *
adapters_read(ULONG flags)
{
    ULONG size = 16384;

    for (int tries = 0; tries < 4; tries++) {
        IP_ADAPTER_ADDRESSES *all = malloc(size);
        ULONG rc;

        if (all == NULL)
            break;
        rc = GetAdaptersAddresses(AF_UNSPEC, flags, NULL, all, &size);
        if (rc == NO_ERROR)
            return all;
        free(all);
        if (rc == ERROR_NO_DATA) { /* no adapter at all: the callers see an empty list */
            os_set_errno(ENODEV);
            return NULL;
        }
        if (rc != ERROR_BUFFER_OVERFLOW) {
            os_set_errno(rc == ERROR_NOT_ENOUGH_MEMORY ? ENOMEM : EIO);
            return NULL;
        }
    }
    os_set_errno(ENOMEM);
    return NULL;
}

static unsigned
adapter_index(const IP_ADAPTER_ADDRESSES *a)
{
    return a->IfIndex != 0 ? a->IfIndex : a->Ipv6IfIndex;
}

static void
copy_sockaddr(struct sockaddr_storage *dst, const SOCKET_ADDRESS *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->lpSockaddr == NULL || src->iSockaddrLength <= 0 ||
        (size_t)src->iSockaddrLength > sizeof(*dst))
        return;
    if (src->lpSockaddr->sa_family != AF_INET && src->lpSockaddr->sa_family != AF_INET6)
        return;
    memcpy(dst, src->lpSockaddr, (size_t)src->iSockaddrLength);
}

int
os_ifaddrs_read(struct os_ifaddrs *list)
{
    IP_ADAPTER_ADDRESSES *all, *a;
    size_t n = 0;

    list->v = NULL;
    list->n = 0;
    all = adapters_read(GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER);
    if (all == NULL)
        return os_errno() == ENODEV ? 0 : -1;
    for (a = all; a != NULL; a = a->Next) {
        size_t k = 0;

        for (IP_ADAPTER_UNICAST_ADDRESS *u = a->FirstUnicastAddress; u != NULL; u = u->Next)
            k++;
        n += k ? k : 1;
    }
    list->v = calloc(n ? n : 1, sizeof(*list->v));
    if (list->v == NULL) {
        free(all);
        os_set_errno(ENOMEM);
        return -1;
    }
    for (a = all; a != NULL; a = a->Next) {
        struct os_ifaddr proto = {0};
        IP_ADAPTER_UNICAST_ADDRESS *u = a->FirstUnicastAddress;

        win_utf8(a->FriendlyName, proto.name, sizeof(proto.name));
        if (proto.name[0] == '\0')
            snprintf(proto.name, sizeof(proto.name), "%s", a->AdapterName);
        memcpy(proto.device, proto.name, sizeof(proto.device));
        proto.index = adapter_index(a);
        proto.flags = (a->OperStatus == IfOperStatusUp ? OS_IF_UP : 0) |
                      (a->IfType == IF_TYPE_SOFTWARE_LOOPBACK ? OS_IF_LOOPBACK : 0);
        proto.addr.ss_family = AF_UNSPEC;
        do {
            struct os_ifaddr *e = &list->v[list->n];

            *e = proto;
            if (u != NULL) {
                copy_sockaddr(&e->addr, &u->Address); /* link-local: with its scope id */
                u = u->Next;
            }
            list->n++;
        } while (u != NULL);
    }
    free(all);
    return 0;
}

void
os_ifaddrs_free(struct os_ifaddrs *list)
{
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

unsigned
os_if_index(const char *name)
{
    IP_ADAPTER_ADDRESSES *all = adapters_read(GAA_FLAGS | GAA_FLAG_SKIP_DNS_SERVER);
    unsigned idx = 0;

    if (all == NULL)
        return 0;
    for (IP_ADAPTER_ADDRESSES *a = all; a != NULL && idx == 0; a = a->Next) {
        char friendly[OS_IFNAME_MAX];

        win_utf8(a->FriendlyName, friendly, sizeof(friendly));
        if (strcmp(friendly, name) == 0 || strcmp(a->AdapterName, name) == 0)
            idx = adapter_index(a);
    }
    free(all);
    return idx;
}

/* Windows keeps the default gateways with the adapters: each one of an adapter that is
 * up stands for a default route through it. */
int
os_default_routes(struct os_route *out, int max)
{
    IP_ADAPTER_ADDRESSES *all = adapters_read(GAA_FLAGS | GAA_FLAG_SKIP_DNS_SERVER);
    int n = 0;

    if (all == NULL)
        return os_errno() == ENODEV ? 0 : -1;
    for (IP_ADAPTER_ADDRESSES *a = all; a != NULL; a = a->Next) {
        if (a->OperStatus != IfOperStatusUp)
            continue;
        for (IP_ADAPTER_GATEWAY_ADDRESS_LH *g = a->FirstGatewayAddress; g != NULL && n < max;
             g = g->Next) {
            memset(&out[n], 0, sizeof(out[n]));
            copy_sockaddr(&out[n].gateway, &g->Address);
            if (out[n].gateway.ss_family == AF_UNSPEC)
                continue;
            out[n].family = out[n].gateway.ss_family;
            out[n].ifindex = out[n].family == AF_INET6 && a->Ipv6IfIndex != 0 ? a->Ipv6IfIndex
                                                                              : adapter_index(a);
            n++;
        }
    }
    free(all);
    return n;
}

/* Adds a's DNS servers to out[n..max), skipping ones already there; returns the new n. */
static int
dns_of(const IP_ADAPTER_ADDRESSES *a, struct sockaddr_storage *out, int n, int max)
{
    for (IP_ADAPTER_DNS_SERVER_ADDRESS *d = a->FirstDnsServerAddress; d != NULL && n < max;
         d = d->Next) {
        struct sockaddr_storage ss;
        int dup = 0;

        copy_sockaddr(&ss, &d->Address);
        if (ss.ss_family == AF_UNSPEC)
            continue;
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = htons(53);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(53);
        for (int i = 0; i < n && !dup; i++)
            dup = memcmp(&out[i], &ss, sizeof(ss)) == 0;
        if (!dup)
            out[n++] = ss;
    }
    return n;
}

int
os_iface_dns_servers(unsigned ifindex, struct sockaddr_storage *out, int max)
{
    IP_ADAPTER_ADDRESSES *all =
        adapters_read(GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_UNICAST);
    int n = 0;

    if (all == NULL)
        return os_errno() == ENODEV ? 0 : -1;
    for (IP_ADAPTER_ADDRESSES *a = all; a != NULL; a = a->Next)
        if (adapter_index(a) == ifindex || a->Ipv6IfIndex == ifindex)
            n = dns_of(a, out, n, max);
    free(all);
    return n;
}

int
os_dns_servers(struct sockaddr_storage *out, int max)
{
    IP_ADAPTER_ADDRESSES *all =
        adapters_read(GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_UNICAST);
    int n = 0;

    if (all == NULL)
        return os_errno() == ENODEV ? 0 : -1;
    for (IP_ADAPTER_ADDRESSES *a = all; a != NULL; a = a->Next)
        if (a->OperStatus == IfOperStatusUp)
            n = dns_of(a, out, n, max);
    free(all);
    return n;
}

/* Adds domain d (UTF-8, a final dot dropped) to out unless empty or already there. */
static int
search_add(char (*out)[OS_DNS_DOMAIN_MAX], int n, int max, const char *d)
{
    size_t len = strlen(d);

    if (len > 0 && d[len - 1] == '.')
        len--;
    if (len == 0 || len >= OS_DNS_DOMAIN_MAX || n >= max)
        return n;
    for (int i = 0; i < n; i++)
        if (strncmp(out[i], d, len) == 0 && out[i][len] == '\0')
            return n;
    memcpy(out[n], d, len);
    out[n][len] = '\0';
    return n + 1;
}

/* Windows: the primary DNS suffix (GetNetworkParams), then each connected adapter's
 * connection-specific suffix and its suffix search list, as the DNS client appends them.
 * ndots is 1: Windows tries a dotted name as given first, like resolv.conf's default. */
int
os_dns_search(char (*out)[OS_DNS_DOMAIN_MAX], int max, unsigned *ndots)
{
    IP_ADAPTER_ADDRESSES *all;
    ULONG size = 0;
    int n = 0;

    *ndots = 1;
    if (GetNetworkParams(NULL, &size) == ERROR_BUFFER_OVERFLOW && size > 0) {
        FIXED_INFO *fi = malloc(size);

        if (fi != NULL && GetNetworkParams(fi, &size) == NO_ERROR)
            n = search_add(out, n, max, fi->DomainName);
        free(fi);
    }
    all = adapters_read(GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_UNICAST |
                        GAA_FLAG_SKIP_DNS_SERVER);
    if (all == NULL)
        return os_errno() == ENODEV ? n : -1;
    for (IP_ADAPTER_ADDRESSES *a = all; a != NULL; a = a->Next) {
        char d[OS_DNS_DOMAIN_MAX];

        if (a->OperStatus != IfOperStatusUp)
            continue;
        win_utf8(a->DnsSuffix, d, sizeof(d));
        n = search_add(out, n, max, d);
        for (IP_ADAPTER_DNS_SUFFIX *s = a->FirstDnsSuffix; s != NULL; s = s->Next) {
            win_utf8(s->String, d, sizeof(d));
            n = search_add(out, n, max, d);
        }
    }
    free(all);
    return n;
}
