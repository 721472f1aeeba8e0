/*
 * test_util.h - what the C test programs share: the allocation functions
 * behind volatile pointers, so the compiler can neither fold a malloc/free
 * pair away nor warn about the misuse a test commits on purpose, and a
 * xorshift64 generator for reproducible sizes and choices.
 *
 * Include after defining _GNU_SOURCE (reallocarray, memalign, pvalloc).
 */
#ifndef SWALLOC_TEST_UTIL_H
#define SWALLOC_TEST_UTIL_H

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#define TEST_UNUSED __attribute__((unused))

static void *(*volatile f_malloc)(size_t) TEST_UNUSED = malloc;
static void *(*volatile f_calloc)(size_t, size_t) TEST_UNUSED = calloc;
static void *(*volatile f_realloc)(void *, size_t) TEST_UNUSED = realloc;
static void *(*volatile f_reallocarray)(void *, size_t, size_t) TEST_UNUSED = reallocarray;
static void (*volatile f_free)(void *) TEST_UNUSED = free;
static int (*volatile f_posix_memalign)(void **, size_t, size_t) TEST_UNUSED = posix_memalign;
static void *(*volatile f_aligned_alloc)(size_t, size_t) TEST_UNUSED = aligned_alloc;
static void *(*volatile f_memalign)(size_t, size_t) TEST_UNUSED = memalign;
static void *(*volatile f_valloc)(size_t) TEST_UNUSED = valloc;
static void *(*volatile f_pvalloc)(size_t) TEST_UNUSED = pvalloc;

/* xorshift64: advances *s and returns the new state (never 0 from non-0). */
static inline TEST_UNUSED uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* An arena other than `home` for thread.arena, through `ctl` (mallctl):
 * the next one when there are several, else one made with arenas.create
 * (narenas defaults to the CPU count: one CPU, one automatic arena).
 * 0 on success, -1 when a control call fails. */
static inline TEST_UNUSED int test_other_arena(int (*ctl)(const char *, void *, size_t *, void *, size_t),
                                               unsigned home, unsigned *other)
{
    unsigned n = 0;
    size_t len = sizeof n;
    if (ctl("arenas.narenas", &n, &len, NULL, 0) != 0) return -1;
    if (n >= 2) {
        *other = (home + 1) % n;
        return 0;
    }
    len = sizeof *other;
    return ctl("arenas.create", other, &len, NULL, 0) == 0 ? 0 : -1;
}

#endif
