/* A growing text buffer for the admin responses (JSON, metrics): never on the data path.
 * An allocation failure sets oom and later appends do nothing, so a caller checks once. */
#ifndef DP_SBUF_H
#define DP_SBUF_H

#include <stddef.h>

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_put(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included (control characters and non-ASCII bytes escaped
 * as \u00XX, so the output is valid JSON whatever s holds). */
void sbuf_json_str(struct sbuf *b, const char *s);

#endif
