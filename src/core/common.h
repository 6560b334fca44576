/* Small helpers shared by every module. Self-contained. */
#ifndef DP_COMMON_H
#define DP_COMMON_H

#include <stddef.h>
#include <string.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DP_UNUSED(x) ((void)(x))

/* Whether the 16 bytes of an IPv6 address are an IPv4-mapped one (::ffff:a.b.c.d), as a
 * dual-stack socket sees an IPv4 peer. */
static inline int
dp_is_v4mapped(const void *addr16)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(addr16, prefix, sizeof(prefix)) == 0;
}

#endif
