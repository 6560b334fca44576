#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sbuf_init(struct sbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void
sbuf_free(struct sbuf *b)
{
    free(b->p);
    sbuf_init(b);
}

static int
reserve(struct sbuf *b, size_t more)
{
    size_t cap = b->cap != 0 ? b->cap : 4096;
    char *p;

    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    while (cap < b->len + more + 1)
        cap *= 2;
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
sbuf_put(struct sbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) == -1)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (reserve(b, 256) == -1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        if (reserve(b, (size_t)n) == -1)
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void
sbuf_json_str(struct sbuf *b, const char *s)
{
    sbuf_put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sbuf_put(b, e, 2);
        } else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&') {
            sbuf_printf(b, "\\u%04x", c);
        } else {
            sbuf_put(b, (const char *)&c, 1);
        }
    }
    sbuf_put(b, "\"", 1);
}
