/* A test runner small enough to read in a minute.
 *
 * A test file defines functions with TEST(name) and lists them in main() with
 * RUN(name); UNIT_MAIN_END prints "N passed, N failed" and sets the exit status.
 * ASSERT_* print both values and the line, then abandon the current test. */
#ifndef DP_UNIT_H
#define DP_UNIT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed, unit_current_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        unit_current_failed = 0;                                                                   \
        test_##name();                                                                             \
        if (unit_current_failed) {                                                                 \
            unit_failed++;                                                                         \
            printf("FAIL %s\n", #name);                                                            \
        } else {                                                                                   \
            unit_passed++;                                                                         \
        }                                                                                          \
    } while (0)

#define UNIT_FAIL(...)                                                                             \
    do {                                                                                           \
        printf("  %s:%d: ", __FILE__, __LINE__);                                                   \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        unit_current_failed = 1;                                                                   \
        return;                                                                                    \
    } while (0)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            UNIT_FAIL("assertion failed: %s", #cond);                                              \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        intmax_t unit_a_ = (intmax_t)(a), unit_b_ = (intmax_t)(b);                                 \
        if (unit_a_ != unit_b_)                                                                    \
            UNIT_FAIL("%s == %s: %jd != %jd", #a, #b, unit_a_, unit_b_);                           \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *unit_a_ = (a), *unit_b_ = (b);                                                 \
        if (strcmp(unit_a_, unit_b_) != 0)                                                         \
            UNIT_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, unit_a_, unit_b_);                     \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            printf("  %s:%d: %s != %s over %zu bytes\n    got:", __FILE__, __LINE__, #a, #b,       \
                   (size_t)(n));                                                                   \
            for (size_t unit_i_ = 0; unit_i_ < (size_t)(n); unit_i_++)                             \
                printf(" %02x", ((const unsigned char *)(a))[unit_i_]);                            \
            printf("\n    exp:");                                                                  \
            for (size_t unit_i_ = 0; unit_i_ < (size_t)(n); unit_i_++)                             \
                printf(" %02x", ((const unsigned char *)(b))[unit_i_]);                            \
            printf("\n");                                                                          \
            unit_current_failed = 1;                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define UNIT_MAIN_END(suite)                                                                       \
    do {                                                                                           \
        printf("%s: %d passed, %d failed\n", (suite), unit_passed, unit_failed);                   \
        return unit_failed ? 1 : 0;                                                                \
    } while (0)

#endif
