/* Windows process services behind the seam: console control events (Ctrl-C,
 * Ctrl-Break, closing the console, logoff, shutdown) as "signals", limits, privileges,
 * CPUs, randomness and the hosts file. */
#include "os.h"

#include <bcrypt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "win.h"

/* ---- console control: the handler runs on a thread of its own and writes one byte per
 * event into a socket pair the main loop watches ---- */

/* Windows ends the process once the handler of a close, logoff or shutdown event returns
 * (and anyway after about 5 s for a close): it waits this long for the cleanup. */
#define CTRL_CLOSE_WAIT_MS 4500

static struct {
    os_sock pair[2];
    HANDLE done; /* set by os_signals_close: cleanup finished, a close handler may return */
    volatile LONG open;
    volatile LONG last;
} ctl = {{INVALID_SOCKET, INVALID_SOCKET}, NULL, 0, -1};

static BOOL WINAPI
ctl_handler(DWORD type)
{
    char c = (char)type;

    if (!InterlockedCompareExchange(&ctl.open, 1, 1))
        return FALSE; /* not ours (yet, or any more): the default handler ends us */
    send(ctl.pair[1], &c, 1, 0);
    switch (type) {
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        WaitForSingleObject(ctl.done, CTRL_CLOSE_WAIT_MS);
        return TRUE;
    default:
        return TRUE;
    }
}

os_sock
os_signals_open(void)
{
    if (win_socketpair(ctl.pair) == -1)
        return OS_SOCK_INVALID;
    ctl.done = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (ctl.done == NULL) {
        closesocket(ctl.pair[0]);
        closesocket(ctl.pair[1]);
        os_set_errno(ENOMEM);
        return OS_SOCK_INVALID;
    }
    InterlockedExchange(&ctl.open, 1);
    if (!SetConsoleCtrlHandler(ctl_handler, TRUE)) {
        InterlockedExchange(&ctl.open, 0);
        closesocket(ctl.pair[0]);
        closesocket(ctl.pair[1]);
        CloseHandle(ctl.done);
        os_set_errno(EINVAL);
        return OS_SOCK_INVALID;
    }
    return ctl.pair[0];
}

enum os_signal
os_signals_read(os_sock s)
{
    char c;

    if (recv(s, &c, 1, 0) != 1)
        return OS_SIGNAL_NONE;
    InterlockedExchange(&ctl.last, (unsigned char)c);
    return OS_SIGNAL_STOP; /* Windows has no reload signal: the status API reloads */
}

void
os_signals_close(os_sock s)
{
    DP_UNUSED(s);
    /* The handler stays installed (removing it races with a handler running now) but
     * passes further events to the default handler; the pair stays open for it. */
    InterlockedExchange(&ctl.open, 0);
    if (ctl.done != NULL)
        SetEvent(ctl.done);
}

const char *
os_signals_last_name(void)
{
    switch (ctl.last) {
    case CTRL_C_EVENT:
        return "Ctrl-C";
    case CTRL_BREAK_EVENT:
        return "Ctrl-Break";
    case CTRL_CLOSE_EVENT:
        return "console close";
    case CTRL_LOGOFF_EVENT:
        return "logoff";
    case CTRL_SHUTDOWN_EVENT:
        return "system shutdown";
    default:
        return "a console event";
    }
}

/* ---- process ---- */

/* Windows has no per-process socket limit short of memory; WSAPoll costs O(sockets) per
 * wait, so the default -max-clients derived from this stays moderate (about 8000). */
unsigned long
os_raise_fd_limit(void)
{
    return 16384;
}

int
os_is_privileged(void)
{
    HANDLE tok;
    TOKEN_ELEVATION el = {0};
    DWORD len = 0;
    int elevated = 0;

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
        return 0;
    if (GetTokenInformation(tok, TokenElevation, &el, sizeof(el), &len))
        elevated = el.TokenIsElevated != 0;
    CloseHandle(tok);
    return elevated;
}

int
os_drop_privileges(const char *user, char *err, size_t errlen)
{
    DP_UNUSED(user);
    snprintf(err, errlen,
             "-user is not available on Windows: start the proxy as the user it should run as "
             "(it needs no administrator rights)");
    return -1;
}

unsigned
os_cpu_count(void)
{
    SYSTEM_INFO si;

    GetSystemInfo(&si);
    return si.dwNumberOfProcessors < 1 ? 1u : (unsigned)si.dwNumberOfProcessors;
}

int
os_random(void *buf, size_t len)
{
    while (len > 0) {
        ULONG n = len > 0x10000000u ? 0x10000000u : (ULONG)len;

        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, buf, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
            os_set_errno(EIO);
            return -1;
        }
        buf = (char *)buf + n;
        len -= n;
    }
    return 0;
}

const char *
os_hosts_path(void)
{
    static char path[MAX_PATH + 32];

    if (path[0] == '\0') {
        char sys[MAX_PATH];
        UINT n = GetSystemDirectoryA(sys, sizeof(sys));

        if (n == 0 || n >= sizeof(sys))
            snprintf(sys, sizeof(sys), "C:\\Windows\\System32");
        snprintf(path, sizeof(path), "%s\\drivers\\etc\\hosts", sys);
    }
    return path;
}
