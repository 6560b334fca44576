/* What the Linux build of the POSIX seam (src/os/posix) may use beyond POSIX. Each
 * platform folder has its os_caps.h; the build picks the folder (Makefile OS_DIRS), so
 * src/os/posix tests these names, never the operating system. */
#ifndef DP_OS_CAPS_H
#define DP_OS_CAPS_H

#define OS_HAVE_SPLICE 1       /* splice(2): the zero-copy relay (os_splice.c) */
#define OS_HAVE_ACCEPT4 1      /* accept4 and SOCK_NONBLOCK | SOCK_CLOEXEC on socket() */
#define OS_HAVE_PIPE2 1        /* pipe2(O_NONBLOCK | O_CLOEXEC) */
#define OS_HAVE_DEFER_ACCEPT 1 /* TCP_DEFER_ACCEPT on listeners */
#define OS_REUSEPORT_SPREADS 1 /* SO_REUSEPORT spreads connections over the listeners */

#endif
