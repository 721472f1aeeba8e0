/*
 * overflow_pairs.h - (n, m) pairs whose product n * m no allocation can
 * have: it overflows size_t (most wrap to small, plausible sizes) or
 * exceeds PTRDIFF_MAX. calloc(n, m) and reallocarray(p, n, m) must fail
 * with ENOMEM for each. Shared by malloc_checks.h and differential.c.
 */
#ifndef SWALLOC_OVERFLOW_PAIRS_H
#define SWALLOC_OVERFLOW_PAIRS_H

#include <stddef.h>
#include <stdint.h>

static const size_t overflow_pairs[][2] __attribute__((unused)) = {
    {SIZE_MAX / 2 + 1, 2},
    {2, SIZE_MAX / 2 + 1},
    {(size_t)1 << 32, (size_t)1 << 32},       /* wraps to 0 */
    {((size_t)1 << 32) + 1, (size_t)1 << 32}, /* wraps to 4 GiB */
    {(size_t)1 << 33, ((size_t)1 << 31) + 1}, /* wraps to 8 GiB */
    {((size_t)1 << 60) + 1, 16},              /* wraps to 16 */
    {16, ((size_t)1 << 60) + 3},              /* wraps to 48 */
    {SIZE_MAX, SIZE_MAX},                     /* wraps to 1 */
    {SIZE_MAX, 2},
    {65537, 281470681808896ull},              /* wraps to 65536 */
    {(size_t)PTRDIFF_MAX / 2 + 1, 2},         /* = PTRDIFF_MAX+1, no wrap */
    {(size_t)1 << 31, (size_t)1 << 31},       /* 2^62: no wrap, impossible */
};
#define OVERFLOW_PAIRS (sizeof overflow_pairs / sizeof overflow_pairs[0])

#endif
