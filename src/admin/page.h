/* The status page served at GET / (page.c). */
#ifndef DP_PAGE_H
#define DP_PAGE_H

#include <stddef.h>

extern const char admin_page_html[];
extern const size_t admin_page_len;

#endif
