/* What a client asked to reach: an IP literal or a host name, and a port. */
#ifndef DP_TARGET_H
#define DP_TARGET_H

#include <stdint.h>

enum target_type { TARGET_IPV4 = 1, TARGET_DOMAIN = 3, TARGET_IPV6 = 4 };

struct target {
    enum target_type type;
    uint16_t port;    /* host byte order */
    uint8_t addr[16]; /* network order; 4 bytes used for IPv4 */
    char host[256];   /* NUL-terminated, TARGET_DOMAIN only, at most 255 bytes */
};

#endif
