/* Interface and address change notifications (Windows): NotifyIpInterfaceChange and
 * NotifyUnicastIpAddressChange call back on a system thread, which writes one byte into
 * a socket pair whose read end the loop watches. One watch per process. */
#include "os.h"

#include "common.h"
#include "win.h"

static struct {
    os_sock pair[2];
    HANDLE iface, addr;
} watch = {{INVALID_SOCKET, INVALID_SOCKET}, NULL, NULL};

static void
watch_note(void)
{
    char c = 1;

    send(watch.pair[1], &c, 1, 0); /* WSAEWOULDBLOCK: a note is pending already */
}

static VOID NETIOAPI_API_
iface_changed(PVOID ctx, PMIB_IPINTERFACE_ROW row, MIB_NOTIFICATION_TYPE type)
{
    DP_UNUSED(ctx), DP_UNUSED(row), DP_UNUSED(type);
    watch_note();
}

static VOID NETIOAPI_API_
addr_changed(PVOID ctx, PMIB_UNICASTIPADDRESS_ROW row, MIB_NOTIFICATION_TYPE type)
{
    DP_UNUSED(ctx), DP_UNUSED(row), DP_UNUSED(type);
    watch_note();
}

os_sock
os_ifwatch_open(void)
{
    if (win_socketpair(watch.pair) == -1)
        return OS_SOCK_INVALID;
    if (NotifyIpInterfaceChange(AF_UNSPEC, iface_changed, NULL, FALSE, &watch.iface) != NO_ERROR ||
        NotifyUnicastIpAddressChange(AF_UNSPEC, addr_changed, NULL, FALSE, &watch.addr) !=
            NO_ERROR) {
        os_ifwatch_close(watch.pair[0]);
        os_set_errno(ENOSYS);
        return OS_SOCK_INVALID;
    }
    return watch.pair[0];
}

int
os_ifwatch_drain(os_sock s)
{
    char buf[64];
    int changed = 0;

    for (;;) {
        int n = recv(s, buf, sizeof(buf), 0);

        if (n > 0) {
            changed = 1;
            continue;
        }
        if (n == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK)
            return changed;
        return -1; /* closed or failed: the caller re-reads periodically */
    }
}

void
os_ifwatch_close(os_sock s)
{
    DP_UNUSED(s);
    /* Cancelling waits for callbacks under way, so the pair is closed after. */
    if (watch.iface != NULL)
        CancelMibChangeNotify2(watch.iface);
    if (watch.addr != NULL)
        CancelMibChangeNotify2(watch.addr);
    watch.iface = watch.addr = NULL;
    for (int i = 0; i < 2; i++) {
        if (watch.pair[i] != INVALID_SOCKET)
            closesocket(watch.pair[i]);
        watch.pair[i] = INVALID_SOCKET;
    }
}
