/* Everything the command line decides, read-only once the proxy runs. */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdint.h>

#include "link.h"

struct config {
    char listen_host[64];
    uint16_t listen_port;
    struct link_spec links[LINK_MAX];
    unsigned n_links;
    int list;         /* -list: print interfaces and exit */
    int verbosity;    /* 0 normal, 1 -v, 2 -vv; -1 -quiet */
    unsigned connect_timeout_ms;
    unsigned handshake_timeout_ms;
    unsigned idle_timeout_ms; /* 0: relayed connections never time out while idle */
    unsigned max_clients;     /* 0: derived from RLIMIT_NOFILE at start */
    unsigned threads;         /* event loops; 0: number of CPUs */
    int no_splice;            /* -no-splice: copy through buffers even where splice works */
    char user[64];            /* -user: drop root privileges to this user after start-up */
};

#endif
