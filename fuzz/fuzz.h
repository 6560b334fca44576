/* Shared by the libFuzzer harnesses: the entry point's prototype and an invariant check
 * that says which invariant broke before aborting (libFuzzer then saves the input). */
#ifndef DP_FUZZ_H
#define DP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* True when s is NUL-terminated within n bytes. */
static inline int
fuzz_terminated(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            return 1;
    return 0;
}

/* Out-parameters are filled with this before a parse, to check which ones it wrote. */
#define FUZZ_SENTINEL 0xA5

/* True when the n bytes at p all still hold FUZZ_SENTINEL. */
static inline int
fuzz_all_sentinel(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != FUZZ_SENTINEL)
            return 0;
    return 1;
}

/* Copies msg[0..len) so that it ends exactly where the scratch allocation (cap bytes)
 * ends: a parser reading one byte past len reads past the allocation, which ASan sees. */
static inline uint8_t *
fuzz_at_end(uint8_t *scratch, size_t cap, const uint8_t *msg, size_t len)
{
    uint8_t *buf = scratch + cap - len;

    FUZZ_CHECK(len <= cap);
    memmove(buf, msg, len);
    return buf;
}

#endif
