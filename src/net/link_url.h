/* Between link.c and link_url.c: the two halves of link spec parsing. */
#ifndef DP_LINK_URL_H
#define DP_LINK_URL_H

#include <stddef.h>

#include "link.h"

/* A local link: IPv4, IPv6 (bare or in brackets) or an interface name, len bytes of s. */
int link_parse_link(const char *s, size_t len, struct link_spec *out, char *err, size_t errlen);

/* SCHEME://... (link.h). */
int link_parse_url(const char *spec, struct link_spec *out, char *err, size_t errlen);

#endif
