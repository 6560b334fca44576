/* Shared by the libFuzzer harnesses: the entry point's prototype and an invariant check
 * that says which invariant broke before aborting (libFuzzer then saves the input). */
#ifndef DP_FUZZ_H
#define DP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
