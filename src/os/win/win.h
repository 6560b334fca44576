/* Helpers shared by the Windows files of the seam (src/os/win); not part of os.h. */
#ifndef DP_OS_WIN_H
#define DP_OS_WIN_H

#include "os.h"

/* A connected pair of non-blocking, non-inheritable loopback TCP sockets: Windows has no
 * pipe a socket poller can watch, so wake-ups, signals and interface notifications go
 * through one of these. 0 or -1 (os_errno() set). */
int win_socketpair(os_sock pair[2]);
/* UTF-16 to UTF-8 into out (always terminated, cut at a character boundary). */
void win_utf8(const wchar_t *w, char *out, size_t outlen);

#endif
