/* What a POSIX system without Linux's extras (macOS, the BSDs; the PORTABLE build proves
 * these paths on Linux) may use beyond POSIX: nothing. macOS and most BSDs accept
 * SO_REUSEPORT but hand every connection to one socket, so the loops share one listener
 * (FreeBSD's SO_REUSEPORT_LB would spread them; not used by this build). */
#ifndef DP_OS_CAPS_H
#define DP_OS_CAPS_H

#define OS_HAVE_SPLICE 0
#define OS_HAVE_ACCEPT4 0
#define OS_HAVE_PIPE2 0
#define OS_HAVE_DEFER_ACCEPT 0
#define OS_REUSEPORT_SPREADS 0

#endif
