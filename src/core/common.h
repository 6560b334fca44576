/* Small helpers shared by every module. Self-contained. */
#ifndef DP_COMMON_H
#define DP_COMMON_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DP_UNUSED(x) ((void)(x))

#endif
