/*
 * malloc_checks.h - black-box check groups for a malloc implementation,
 * shared by api_conformance.c (standard names, possibly LD_PRELOADed) and
 * dlopen_api.c (swalloc_* twins resolved with dlsym).
 *
 * The allocator under test is reached only through the f_* function
 * pointers below; the including program sets them before calling
 * run_group(). Every group asserts glibc 2.36 semantics (see the comments at
 * each check for the places where glibc versions differ).
 *
 * Output conventions: "ok <group>", "FAIL <group>: detail", "info <group>:
 * ...", "SKIP ...".
 */
#ifndef MALLOC_CHECKS_H
#define MALLOC_CHECKS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "overflow_pairs.h"

/* The allocator under test. Set these before running any group. They are
 * volatile so the compiler cannot elide or fold malloc/free pairs. */
static void *(*volatile f_malloc)(size_t);
static void *(*volatile f_calloc)(size_t, size_t);
static void *(*volatile f_realloc)(void *, size_t);
static void *(*volatile f_reallocarray)(void *, size_t, size_t);
static void (*volatile f_free)(void *);
static int (*volatile f_posix_memalign)(void **, size_t, size_t);
static void *(*volatile f_aligned_alloc)(size_t, size_t);
static void *(*volatile f_memalign)(size_t, size_t);
static void *(*volatile f_valloc)(size_t);
static void *(*volatile f_pvalloc)(size_t);
static size_t (*volatile f_usable)(void *);
/* C23; may be NULL (the free_sized group then prints SKIP). */
static void (*volatile f_free_sized)(void *, size_t);
static void (*volatile f_free_aligned_sized)(void *, size_t, size_t);

static const char *g_name = "?";
static int g_fail;
static size_t g_page;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            g_fail++;                                                        \
            if (g_fail <= 10) {                                              \
                printf("FAIL %s: ", g_name);                                 \
                printf(__VA_ARGS__);                                         \
                printf(" [line %d]\n", __LINE__);                            \
                fflush(stdout);                                              \
            }                                                                \
        }                                                                    \
    } while (0)

#define INFO(...)                                                            \
    do {                                                                     \
        printf("info %s: ", g_name);                                         \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
    } while (0)

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static inline uint64_t pat_word(uint64_t seed, size_t i)
{
    uint64_t x = seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull);
    x ^= x >> 29;
    return x;
}

/* Fill n bytes with a pattern derived from seed. */
static void fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    size_t w = n / 8, i;
    for (i = 0; i < w; i++) {
        uint64_t v = pat_word(seed, i);
        memcpy(c + i * 8, &v, 8);
    }
    if (n % 8) {
        uint64_t v = pat_word(seed, w);
        memcpy(c + w * 8, &v, n % 8);
    }
}

/* Returns index of first mismatching byte, or (size_t)-1 if all match. */
static size_t verify(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    size_t w = n / 8, i;
    for (i = 0; i < w; i++) {
        uint64_t v = pat_word(seed, i), got;
        memcpy(&got, c + i * 8, 8);
        if (got != v) {
            for (size_t b = 0; b < 8; b++)
                if (c[i * 8 + b] != ((unsigned char *)&v)[b])
                    return i * 8 + b;
        }
    }
    if (n % 8) {
        uint64_t v = pat_word(seed, w);
        for (size_t b = 0; b < n % 8; b++)
            if (c[w * 8 + b] != ((unsigned char *)&v)[b])
                return w * 8 + b;
    }
    return (size_t)-1;
}

/* Returns index of first non-zero byte or (size_t)-1. */
static size_t first_nonzero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, c + i, 8);
        if (v)
            break;
    }
    for (; i < n; i++)
        if (c[i])
            return i;
    return (size_t)-1;
}

static int is_aligned(const void *p, size_t a)
{
    return a == 0 || ((uintptr_t)p & (a - 1)) == 0;
}

static size_t next_pow2(size_t a)
{
    size_t r = 1;
    while (r < a)
        r <<= 1;
    return r;
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (long)(g_page / 1024);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Sizes that no allocator can satisfy on x86_64 (user VA is 128 TiB). */
static const size_t impossible_sizes[] = {
    (size_t)1 << 48,
    (size_t)1 << 56,
    (size_t)1 << 62,
    (size_t)PTRDIFF_MAX - 4096,
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1,
    (size_t)PTRDIFF_MAX + 4096,
    SIZE_MAX / 4 * 3,
    SIZE_MAX - (1u << 20),
    SIZE_MAX - 4096,
    SIZE_MAX - 64,
    SIZE_MAX - 16,
    SIZE_MAX - 1,
    SIZE_MAX,
};
#define N_IMPOSSIBLE (sizeof impossible_sizes / sizeof impossible_sizes[0])

/* ---------------------------------------------------------------------- */
/* check groups                                                            */

static void t_malloc0(void)
{
    enum { N = 256 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = f_malloc(0);
        CHECK(p[i] != NULL, "malloc(0) returned NULL (iteration %d)", i);
    }
    void *s[N];
    memcpy(s, p, sizeof s);
    qsort(s, N, sizeof s[0], cmp_ptr);
    for (int i = 1; i < N; i++)
        CHECK(s[i] == NULL || s[i] != s[i - 1], "malloc(0) returned duplicate pointer %p", s[i]);
    for (int i = 0; i < N; i++)
        f_free(p[i]);

    /* glibc returns a unique non-NULL pointer for all zero-size requests. */
    void *q;
    q = f_calloc(0, 0);
    CHECK(q != NULL, "calloc(0,0) returned NULL");
    f_free(q);
    q = f_calloc(0, 100);
    CHECK(q != NULL, "calloc(0,100) returned NULL");
    f_free(q);
    q = f_calloc(100, 0);
    CHECK(q != NULL, "calloc(100,0) returned NULL");
    f_free(q);
    q = f_realloc(NULL, 0);
    CHECK(q != NULL, "realloc(NULL,0) returned NULL (glibc: acts as malloc(0))");
    f_free(q);
    q = f_reallocarray(NULL, 0, 0);
    CHECK(q != NULL, "reallocarray(NULL,0,0) returned NULL");
    f_free(q);
    q = f_memalign(64, 0);
    CHECK(q != NULL && is_aligned(q, 64), "memalign(64,0) = %p", q);
    f_free(q);
    q = f_aligned_alloc(64, 0);
    CHECK(q != NULL && is_aligned(q, 64), "aligned_alloc(64,0) = %p", q);
    f_free(q);
    q = (void *)1;
    int r = f_posix_memalign(&q, 64, 0);
    CHECK(r == 0 && q != NULL && is_aligned(q, 64), "posix_memalign(&p,64,0) = %d, %p", r, q);
    if (r == 0)
        f_free(q);
    q = f_valloc(0);
    CHECK(q != NULL && is_aligned(q, g_page), "valloc(0) = %p", q);
    f_free(q);
    q = f_pvalloc(0);
    CHECK(q != NULL && is_aligned(q, g_page), "pvalloc(0) = %p", q);
    f_free(q);
}

static void t_overflow(void)
{
    int pm_enomem_sets_errno = 0;
    void *q;
    int r;
    unsigned char *live = f_malloc(100);
    CHECK(live != NULL, "malloc(100) failed");
    if (!live)
        return;
    fill(live, 100, 77);

    for (size_t i = 0; i < N_IMPOSSIBLE; i++) {
        size_t s = impossible_sizes[i];
#define EXPECT_NOMEM(expr, what)                                              \
    do {                                                                      \
        errno = 0;                                                            \
        q = (expr);                                                           \
        int e_ = errno;                                                       \
        CHECK(q == NULL && e_ == ENOMEM, "%s(%#zx) = %p errno=%d (want NULL, ENOMEM)", \
              what, s, q, e_);                                                \
        if (q)                                                                \
            f_free(q);                                                        \
    } while (0)
        EXPECT_NOMEM(f_malloc(s), "malloc");
        EXPECT_NOMEM(f_calloc(1, s), "calloc(1,.)");
        EXPECT_NOMEM(f_calloc(s, 1), "calloc(.,1)");
        EXPECT_NOMEM(f_realloc(NULL, s), "realloc(NULL,.)");
        EXPECT_NOMEM(f_realloc(live, s), "realloc(live,.)");
        EXPECT_NOMEM(f_reallocarray(live, s, 1), "reallocarray(live,.,1)");
        EXPECT_NOMEM(f_reallocarray(live, 1, s), "reallocarray(live,1,.)");
        EXPECT_NOMEM(f_reallocarray(NULL, s, 1), "reallocarray(NULL,.,1)");
        EXPECT_NOMEM(f_aligned_alloc(64, s), "aligned_alloc(64,.)");
        EXPECT_NOMEM(f_memalign(64, s), "memalign(64,.)");
        EXPECT_NOMEM(f_memalign(1 << 20, s), "memalign(1MiB,.)");
        EXPECT_NOMEM(f_valloc(s), "valloc");
        EXPECT_NOMEM(f_pvalloc(s), "pvalloc");
        CHECK(verify(live, 100, 77) == (size_t)-1, "failed realloc/reallocarray of %#zx corrupted the original block", s);

        size_t aligns[] = {8, 64, 4096, 1 << 20};
        for (size_t a = 0; a < 4; a++) {
            q = (void *)0x5a5a;
            errno = 1234;
            r = f_posix_memalign(&q, aligns[a], s);
            int e = errno;
            CHECK(r == ENOMEM, "posix_memalign(&p,%zu,%#zx) = %d (want ENOMEM=%d)", aligns[a], s, r, ENOMEM);
            /* POSIX: the error is reported through the return value. glibc
             * 2.36 nevertheless leaves errno == ENOMEM after an ENOMEM
             * failure (its _mid_memalign sets it), so accept "unchanged" or
             * ENOMEM, and report which one happened. */
            CHECK(e == 1234 || e == ENOMEM, "posix_memalign(&p,%zu,%#zx) changed errno to %d", aligns[a], s, e);
            if (e == ENOMEM)
                pm_enomem_sets_errno++;
            CHECK(q == (void *)0x5a5a, "posix_memalign(&p,%zu,%#zx) failed but modified *memptr (%p)", aligns[a], s, q);
            if (r == 0 && q != (void *)0x5a5a)
                f_free(q);
        }
    }
    CHECK(verify(live, 100, 77) == (size_t)-1, "original block corrupted");

    /* calloc / reallocarray multiplication overflow, including products
     * that wrap to small values (overflow_pairs.h). */
    for (size_t i = 0; i < OVERFLOW_PAIRS; i++) {
        size_t n = overflow_pairs[i][0], m = overflow_pairs[i][1];
        errno = 0;
        q = f_calloc(n, m);
        int e = errno;
        CHECK(q == NULL && e == ENOMEM, "calloc(%#zx,%#zx) = %p errno=%d (want NULL, ENOMEM)", n, m, q, e);
        if (q)
            f_free(q);
        errno = 0;
        q = f_reallocarray(live, n, m);
        e = errno;
        CHECK(q == NULL && e == ENOMEM, "reallocarray(p,%#zx,%#zx) = %p errno=%d (want NULL, ENOMEM)", n, m, q, e);
        if (q) {
            live = q; /* the old block was freed by the successful call */
            fill(live, 100, 77);
        }
        errno = 0;
        q = f_reallocarray(NULL, n, m);
        e = errno;
        CHECK(q == NULL && e == ENOMEM, "reallocarray(NULL,%#zx,%#zx) = %p errno=%d", n, m, q, e);
        if (q)
            f_free(q);
    }
    CHECK(verify(live, 100, 77) == (size_t)-1, "original block corrupted by failed reallocarray");

    /* Alignment larger than SIZE_MAX/2+1 -> EINVAL in every glibc version. */
    errno = 0;
    q = f_memalign(SIZE_MAX, 64);
    r = errno;
    CHECK(q == NULL && r == EINVAL, "memalign(SIZE_MAX,64) = %p errno=%d (want NULL, EINVAL)", q, r);
    errno = 0;
    q = f_aligned_alloc(SIZE_MAX, 64);
    r = errno;
    CHECK(q == NULL && r == EINVAL, "aligned_alloc(SIZE_MAX,64) = %p errno=%d (want NULL, EINVAL)", q, r);
    /* A power-of-two alignment of 2^63 can never be satisfied. glibc returns
     * ENOMEM; accept EINVAL too. */
    q = (void *)0x5a5a;
    errno = 1234;
    r = f_posix_memalign(&q, (size_t)1 << 63, 64);
    CHECK((r == ENOMEM || r == EINVAL) && (errno == 1234 || errno == r) && q == (void *)0x5a5a,
          "posix_memalign(&p,1<<63,64) = %d errno=%d p=%p", r, errno, q);
    errno = 0;
    q = f_memalign((size_t)1 << 63, 64);
    r = errno;
    CHECK(q == NULL && (r == ENOMEM || r == EINVAL), "memalign(1<<63,64) = %p errno=%d", q, r);
    if (pm_enomem_sets_errno)
        INFO("posix_memalign ENOMEM failures set errno=ENOMEM in %d cases (glibc 2.36 does so too; "
             "leaving errno untouched is also accepted)", pm_enomem_sets_errno);
    else
        INFO("posix_memalign ENOMEM failures left errno untouched");
    f_free(live);
}

static void t_calloc_zero(void)
{
    static const struct { size_t size; int count; } cases[] = {
        {24, 4000}, {1000, 1000}, {100 << 10, 48}, {8 << 20, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t sz = cases[c].size;
        int cnt = cases[c].count;
        void **v = f_malloc(sizeof(void *) * cnt);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < cnt; i++) {
                v[i] = f_malloc(sz);
                CHECK(v[i] != NULL, "malloc(%zu) failed", sz);
                if (v[i])
                    memset(v[i], 0xAA, sz);
            }
            /* free in an order that depends on the round */
            for (int i = 0; i < cnt; i++) {
                int j = round == 1 ? cnt - 1 - i : i;
                f_free(v[j]);
            }
            for (int i = 0; i < cnt; i++) {
                /* alternate the way the size is split into n*m */
                if (i % 3 == 0)
                    v[i] = f_calloc(1, sz);
                else if (i % 3 == 1)
                    v[i] = f_calloc(sz, 1);
                else
                    v[i] = f_calloc(sz / 8, 8);
                CHECK(v[i] != NULL, "calloc for %zu bytes failed", sz);
                if (v[i]) {
                    size_t nz = first_nonzero(v[i], sz);
                    CHECK(nz == (size_t)-1, "calloc(%zu bytes) round %d block %d: byte %zu is %#x, not 0",
                          sz, round, i, nz, nz == (size_t)-1 ? 0 : ((unsigned char *)v[i])[nz]);
                    memset(v[i], 0x55, sz); /* dirty again for the next round */
                }
            }
            for (int i = 0; i < cnt; i++)
                f_free(v[i]);
        }
        f_free(v);
    }

    /* random sizes: dirty a pool, free it, calloc random sizes */
    enum { P = 2000 };
    void *pool[P];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < P; i++) {
            size_t sz = 1 + rnd() % (round == 3 ? 300000 : 5000);
            pool[i] = f_malloc(sz);
            if (pool[i])
                memset(pool[i], 0xAA, sz);
        }
        for (int i = 0; i < P; i++)
            f_free(pool[i]);
        for (int i = 0; i < P; i++) {
            size_t sz = 1 + rnd() % (round == 3 ? 300000 : 5000);
            pool[i] = f_calloc(1, sz);
            CHECK(pool[i] != NULL, "calloc(1,%zu) failed", sz);
            if (pool[i]) {
                size_t nz = first_nonzero(pool[i], sz);
                CHECK(nz == (size_t)-1, "calloc(1,%zu) byte %zu not zero", sz, nz);
                memset(pool[i], 0xAA, sz);
            }
        }
        for (int i = 0; i < P; i++)
            f_free(pool[i]);
    }

    /* calloc after realloc-shrink of dirty memory */
    for (int i = 0; i < 200; i++) {
        size_t big = 1000 + rnd() % 200000;
        unsigned char *p = f_malloc(big);
        memset(p, 0xAA, big);
        p = f_realloc(p, big / 3 + 1);
        void *z = f_calloc(1, big - big / 3);
        size_t nz = first_nonzero(z, big - big / 3);
        CHECK(nz == (size_t)-1, "calloc after realloc shrink: byte %zu not zero", nz);
        f_free(z);
        f_free(p);
    }
}

static size_t realloc_sizes[200];
static int n_realloc_sizes;

static void build_realloc_sizes(void)
{
    n_realloc_sizes = 0;
    realloc_sizes[n_realloc_sizes++] = 1;
    for (int k = 3; k <= 24; k++) {
        size_t s = (size_t)1 << k;
        realloc_sizes[n_realloc_sizes++] = s - 1;
        realloc_sizes[n_realloc_sizes++] = s;
        realloc_sizes[n_realloc_sizes++] = s + 1;
        if (k < 24)
            realloc_sizes[n_realloc_sizes++] = s + s / 2 + 3;
    }
}

static void t_realloc(void)
{
    /* realloc(NULL, n) == malloc(n) */
    size_t ns[] = {0, 1, 100, 4000, 100000, 5 << 20};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        unsigned char *p = f_realloc(NULL, ns[i]);
        CHECK(p != NULL, "realloc(NULL,%zu) returned NULL", ns[i]);
        if (!p)
            continue;
        CHECK(f_usable(p) >= ns[i], "usable(realloc(NULL,%zu)) = %zu", ns[i], f_usable(p));
        memset(p, 0x11, ns[i]);
        f_free(p);
    }

    /* grow / shrink preserves content, with and without blockers that
     * prevent in-place growth. */
    build_realloc_sizes();
    for (int pass = 0; pass < 2; pass++) {
        void *blockers[200];
        int nb = 0;
        uint64_t seed = 1000 + pass;
        size_t cur = realloc_sizes[0];
        unsigned char *p = f_malloc(cur);
        fill(p, cur, seed);
        /* up, then down */
        for (int step = 1; step < 2 * n_realloc_sizes - 1; step++) {
            int idx = step < n_realloc_sizes ? step : 2 * n_realloc_sizes - 2 - step;
            size_t ns2 = realloc_sizes[idx];
            unsigned char *q = f_realloc(p, ns2);
            CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", cur, ns2);
            if (!q) {
                f_free(p);
                p = NULL;
                break;
            }
            size_t keep = cur < ns2 ? cur : ns2;
            size_t bad = verify(q, keep, seed);
            CHECK(bad == (size_t)-1, "pass %d: realloc(%zu -> %zu) lost content at byte %zu", pass, cur, ns2, bad);
            CHECK(f_usable(q) >= ns2, "usable after realloc to %zu is %zu", ns2, f_usable(q));
            seed = seed * 31 + step;
            fill(q, ns2, seed);
            p = q;
            cur = ns2;
            if (pass == 1 && nb < 200) {
                blockers[nb] = f_malloc(ns2 < 4096 ? 16 : 64);
                nb++;
            }
        }
        f_free(p);
        for (int i = 0; i < nb; i++)
            f_free(blockers[i]);
    }

    /* many random realloc chains interleaved */
    enum { C = 64 };
    unsigned char *ch[C];
    size_t sz[C];
    uint64_t sd[C];
    for (int i = 0; i < C; i++) {
        sz[i] = 1 + rnd() % 3000;
        sd[i] = rnd();
        ch[i] = f_malloc(sz[i]);
        fill(ch[i], sz[i], sd[i]);
    }
    for (int it = 0; it < 20000; it++) {
        int i = rnd() % C;
        size_t nsz = (rnd() % 16 == 0) ? 1 + rnd() % 300000 : 1 + rnd() % 3000;
        unsigned char *q = f_realloc(ch[i], nsz);
        CHECK(q != NULL, "realloc(%zu -> %zu) NULL", sz[i], nsz);
        if (!q)
            continue;
        size_t keep = sz[i] < nsz ? sz[i] : nsz;
        size_t bad = verify(q, keep, sd[i]);
        CHECK(bad == (size_t)-1, "random realloc %zu -> %zu lost content at byte %zu", sz[i], nsz, bad);
        ch[i] = q;
        sz[i] = nsz;
        sd[i] = rnd();
        fill(q, nsz, sd[i]);
    }
    for (int i = 0; i < C; i++) {
        CHECK(verify(ch[i], sz[i], sd[i]) == (size_t)-1, "chain %d corrupted", i);
        f_free(ch[i]);
    }

    /* realloc between two small sizes writes nothing past the new block:
     * of a run of blocks of the new size, the one with the nearest run
     * block above it is freed, so that a LIFO cache hands it out next and
     * realloc moves the old block into it; the run is checked after the
     * move, for every pair of sizes. (swalloc moves a block between small
     * classes with inline 16-byte copies, sized by the smaller region;
     * sized by the old region instead, this check fails.) */
    {
        static const size_t small[] = {1, 5, 8, 9, 16, 17, 24, 31, 32, 40, 48, 63, 64, 65, 80, 100, 128, 129,
                                       192, 255, 256, 320, 384, 448, 512, 700, 1024, 1500, 2048, 3000, 4096};
        enum { N = sizeof small / sizeof small[0], RUN = 256 };
        static unsigned char *run[RUN];
        for (int a = 0; a < N; a++) {
            for (int b = 0; b < N; b++) {
                size_t from = small[a], to = small[b];
                for (int i = 0; i < RUN; i++) {
                    run[i] = f_malloc(to);
                    fill(run[i], to, 7000 + i);
                }
                int victim = 0;
                uintptr_t best = UINTPTR_MAX;
                for (int i = 0; i < RUN; i++) {
                    for (int j = 0; j < RUN; j++) {
                        uintptr_t gap = (uintptr_t)run[j] - (uintptr_t)run[i];
                        if (run[j] > run[i] && gap < best) {
                            best = gap;
                            victim = i;
                        }
                    }
                }
                unsigned char *p = f_malloc(from);
                fill(p, from, 99);
                f_free(run[victim]);
                run[victim] = NULL;
                unsigned char *q = f_realloc(p, to);
                CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", from, to);
                if (q) {
                    size_t keep = from < to ? from : to;
                    CHECK(verify(q, keep, 99) == (size_t)-1, "realloc(%zu -> %zu) lost content", from, to);
                }
                for (int i = 0; i < RUN; i++) {
                    if (!run[i])
                        continue;
                    size_t bad = verify(run[i], to, 7000 + i);
                    CHECK(bad == (size_t)-1, "realloc(%zu -> %zu) wrote into a neighbouring %zu-byte block (byte %zu)",
                          from, to, to, bad);
                    f_free(run[i]);
                }
                f_free(q ? q : p);
            }
        }
    }

    /* realloc of aligned blocks keeps content */
    size_t al[] = {64, 4096, 65536, 1 << 21};
    for (size_t i = 0; i < 4; i++) {
        void *v = NULL;
        int r = f_posix_memalign(&v, al[i], 1000);
        CHECK(r == 0 && v && is_aligned(v, al[i]), "posix_memalign(%zu,1000) = %d %p", al[i], r, v);
        if (r)
            continue;
        fill(v, 1000, 5 + i);
        unsigned char *q = f_realloc(v, 200000);
        CHECK(q && verify(q, 1000, 5 + i) == (size_t)-1, "realloc of %zu-aligned block (grow) lost content", al[i]);
        if (!q)
            continue;
        q = f_realloc(q, 10);
        CHECK(q && verify(q, 10, 5 + i) == (size_t)-1, "realloc of %zu-aligned block (shrink) lost content", al[i]);
        f_free(q);
    }

    /* reallocarray basics */
    unsigned char *ra = f_reallocarray(NULL, 10, 10);
    CHECK(ra && f_usable(ra) >= 100, "reallocarray(NULL,10,10) = %p", (void *)ra);
    if (ra) {
        fill(ra, 100, 9);
        unsigned char *rb = f_reallocarray(ra, 1000, 100);
        CHECK(rb && verify(rb, 100, 9) == (size_t)-1, "reallocarray grow lost content");
        f_free(rb ? rb : ra);
    }
}

/* realloc(p, 0): glibc frees p and returns NULL. Verify the NULL, and that
 * p really is freed (no leak: RSS must not grow by the total). */
static void t_realloc_zero(void)
{
    size_t ns[] = {1, 24, 1000, 100000, 8 << 20};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        void *p = f_malloc(ns[i]);
        memset(p, 1, ns[i]);
        errno = 0;
        void *q = f_realloc(p, 0);
        CHECK(q == NULL, "realloc(p[%zu], 0) returned %p (glibc frees p and returns NULL)", ns[i], q);
        if (q)
            f_free(q);
        /* p must not be touched any more */
    }
    void *a = NULL;
    f_posix_memalign(&a, 4096, 5000);
    void *q = f_realloc(a, 0);
    CHECK(q == NULL, "realloc(aligned, 0) returned %p", q);
    if (q)
        f_free(q);

    long before = rss_kib();
    enum { ITER = 60000, SZ = 8192 };
    for (int i = 0; i < ITER; i++) {
        void *p = f_malloc(SZ);
        if (!p) {
            CHECK(0, "malloc(%d) failed at iteration %d", SZ, i);
            break;
        }
        memset(p, (unsigned char)i, SZ);
        q = f_realloc(p, 0);
        if (q) {
            CHECK(0, "realloc(p,0) returned non-NULL");
            f_free(q);
        }
    }
    long after = rss_kib();
    /* leaking would cost ITER*SZ = 480 MB */
    CHECK(after - before < 128 * 1024, "RSS grew by %ld KiB over %d x realloc(malloc(%d),0): realloc(p,0) leaks",
          after - before, ITER, SZ);
}

static void t_posix_memalign_errors(void)
{
    static const size_t bad[] = {0, 1, 2, 3, 4, 5, 6, 7, 12, 20, 24, 48, 100, 1000,
                                 3 * 4096, (1 << 20) + 8, SIZE_MAX / 2, SIZE_MAX, SIZE_MAX - 7};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t sizes[] = {0, 16, 4096};
        for (int s = 0; s < 3; s++) {
            void *p = (void *)0x1234;
            errno = 1234;
            int r = f_posix_memalign(&p, bad[i], sizes[s]);
            int e = errno;
            CHECK(r == EINVAL, "posix_memalign(&p,%zu,%zu) = %d (want EINVAL=%d)", bad[i], sizes[s], r, EINVAL);
            CHECK(e == 1234, "posix_memalign(&p,%zu,%zu) modified errno (%d)", bad[i], sizes[s], e);
            CHECK(p == (void *)0x1234, "posix_memalign(&p,%zu,%zu) failed but modified *memptr", bad[i], sizes[s]);
            if (r == 0 && p != (void *)0x1234)
                f_free(p);
        }
    }
    /* success must not modify errno either */
    for (size_t a = sizeof(void *); a <= (1 << 22); a <<= 1) {
        size_t sizes[] = {1, 100, 5000, 300000};
        for (int s = 0; s < 4; s++) {
            void *p = NULL;
            errno = 1234;
            int r = f_posix_memalign(&p, a, sizes[s]);
            int e = errno;
            CHECK(r == 0 && p != NULL, "posix_memalign(&p,%zu,%zu) = %d", a, sizes[s], r);
            CHECK(e == 1234, "successful posix_memalign(&p,%zu,%zu) modified errno (%d)", a, sizes[s], e);
            if (r == 0) {
                CHECK(is_aligned(p, a), "posix_memalign(&p,%zu,%zu) = %p misaligned", a, sizes[s], p);
                f_free(p);
            }
        }
    }
}

typedef void *(*alloc_fn)(size_t align, size_t size, int *err);

static void *via_posix_memalign(size_t a, size_t n, int *err)
{
    void *p = NULL;
    *err = f_posix_memalign(&p, a, n);
    return *err ? NULL : p;
}
static void *via_aligned_alloc(size_t a, size_t n, int *err)
{
    errno = 0;
    void *p = f_aligned_alloc(a, n);
    *err = errno;
    return p;
}
static void *via_memalign(size_t a, size_t n, int *err)
{
    errno = 0;
    void *p = f_memalign(a, n);
    *err = errno;
    return p;
}

/* The three aligned allocation functions, for the groups that try each. */
static const struct { const char *name; alloc_fn fn; } aligned_fns[] = {
    {"posix_memalign", via_posix_memalign},
    {"aligned_alloc", via_aligned_alloc},
    {"memalign", via_memalign},
};

static void t_aligned_pow2(void)
{
    for (int f = 0; f < 3; f++) {
        for (int k = 3; k <= 30; k++) {
            size_t a = (size_t)1 << k;
            size_t sizes[] = {1, 100, a + 1};
            for (int s = 0; s < 3; s++) {
                size_t n = sizes[s];
                int err = 0;
                unsigned char *p = aligned_fns[f].fn(a, n, &err);
                CHECK(p != NULL, "%s(align=%zu, size=%zu) returned NULL (err %d)", aligned_fns[f].name, a, n, err);
                if (!p)
                    continue;
                CHECK(is_aligned(p, a), "%s(align=%zu, size=%zu) = %p not aligned", aligned_fns[f].name, a, n, (void *)p);
                size_t u = f_usable(p);
                CHECK(u >= n, "%s(align=%zu, size=%zu): usable %zu < size", aligned_fns[f].name, a, n, u);
                p[0] = 0x5a;
                p[n - 1] = 0xa5;
                if (n > 1)
                    CHECK(p[0] == 0x5a, "write of first byte lost");
                f_free(p);
            }
        }
        /* many simultaneously live aligned blocks must not overlap */
        for (size_t a = 16; a <= 65536; a <<= 2) {
            enum { L = 24 };
            unsigned char *v[L];
            size_t n[L];
            for (int i = 0; i < L; i++) {
                int err;
                n[i] = 1 + rnd() % (a * 2);
                v[i] = aligned_fns[f].fn(a, n[i], &err);
                CHECK(v[i] && is_aligned(v[i], a), "%s(%zu,%zu) = %p", aligned_fns[f].name, a, n[i], (void *)v[i]);
                if (v[i])
                    fill(v[i], n[i], a * 100 + i);
            }
            for (int i = 0; i < L; i++) {
                if (!v[i])
                    continue;
                CHECK(verify(v[i], n[i], a * 100 + i) == (size_t)-1,
                      "%s: live aligned block %d (align %zu, size %zu) corrupted", aligned_fns[f].name, i, a, n[i]);
                f_free(v[i]);
            }
        }
    }
}

/* Every size up to 16 KiB (every small size class, both sides of each
 * class boundary, all of 4096..4400 one by one) at every alignment from 8
 * to 4096, three blocks live at a time (so not only a slab's first
 * region): aligned, usable size at least the request, first and last byte
 * writable. swalloc's 4368-byte class is a multiple of 16 only, so an
 * aligned request there must go to another class; a build without that
 * rule returned the second of three posix_memalign(32, 4097) blocks 16
 * bytes off. */
static void t_aligned_size_sweep(void)
{
    for (int f = 0; f < 3; f++) {
        for (size_t a = 8; a <= 4096; a <<= 1) {
            int bad = 0;
            for (size_t n = 1; n <= 16384 && bad < 3; n += (n >= 4090 && n <= 4400) ? 1 : 13) {
                unsigned char *v[3];
                for (int i = 0; i < 3; i++) {
                    int err = 0;
                    unsigned char *p = v[i] = aligned_fns[f].fn(a, n, &err);
                    CHECK(p != NULL, "%s(align=%zu, size=%zu) returned NULL (err %d)", aligned_fns[f].name, a, n, err);
                    if (!p) { bad++; continue; }
                    if (!is_aligned(p, a)) bad++;
                    CHECK(is_aligned(p, a), "%s(align=%zu, size=%zu) = %p not aligned", aligned_fns[f].name, a, n, (void *)p);
                    CHECK(f_usable(p) >= n, "%s(align=%zu, size=%zu): usable %zu < size", aligned_fns[f].name, a, n, f_usable(p));
                    p[0] = 0x5a;
                    p[n - 1] = 0xa5;
                }
                for (int i = 0; i < 3; i++) f_free(v[i]);
            }
        }
    }
}

static void t_aligned_alloc_odd(void)
{
    /* aligned_alloc with an alignment that is not a power of two:
     * glibc <= 2.37 treats it like memalign (rounds up to a power of two),
     * glibc >= 2.38 returns NULL/EINVAL. Accept both, print which. */
    static const size_t odd[] = {0, 1, 3, 24, 48, 100, 4097};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t a = odd[i];
        errno = 0;
        unsigned char *p = f_aligned_alloc(a, 64);
        int e = errno;
        if (p == NULL) {
            CHECK(e == EINVAL, "aligned_alloc(%zu,64) = NULL with errno %d (want EINVAL)", a, e);
            INFO("aligned_alloc(%zu,64) -> NULL, EINVAL (glibc >= 2.38 style)", a);
        } else {
            CHECK(is_aligned(p, next_pow2(a)), "aligned_alloc(%zu,64) = %p not aligned to %zu", a, (void *)p, next_pow2(a));
            CHECK(f_usable(p) >= 64, "aligned_alloc(%zu,64) usable %zu", a, f_usable(p));
            memset(p, 0x33, 64);
            if (a != 0 && (a & (a - 1)) == 0)
                INFO("aligned_alloc(%zu,64) -> valid pointer (power-of-two alignment)", a);
            else
                INFO("aligned_alloc(%zu,64) -> %s pointer (glibc 2.36 style: alignment rounded up to %zu)", a,
                     is_aligned(p, next_pow2(a)) ? "aligned" : "MISALIGNED", next_pow2(a));
            f_free(p);
        }
    }
}

static void t_memalign_npot(void)
{
    static const size_t odd[] = {0, 1, 2, 3, 5, 12, 24, 48, 100, 1000, 4097, 12345, 100000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t a = odd[i], want = next_pow2(a ? a : 1);
        errno = 0;
        unsigned char *p = f_memalign(a, 64);
        int e = errno;
        CHECK(p != NULL, "memalign(%zu,64) returned NULL errno=%d (glibc rounds alignment up)", a, e);
        if (!p)
            continue;
        CHECK(is_aligned(p, want), "memalign(%zu,64) = %p not aligned to %zu", a, (void *)p, want);
        CHECK(f_usable(p) >= 64, "memalign(%zu,64) usable %zu", a, f_usable(p));
        memset(p, 0x44, 64);
        f_free(p);
    }
}

static void t_valloc_pvalloc(void)
{
    size_t pg = g_page;
    size_t vs[] = {0, 1, 100, pg - 1, pg, pg + 1, 5 * pg, (1 << 20) + 3, 10 << 20};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        unsigned char *p = f_valloc(vs[i]);
        CHECK(p != NULL, "valloc(%zu) returned NULL", vs[i]);
        if (!p)
            continue;
        CHECK(is_aligned(p, pg), "valloc(%zu) = %p not page aligned", vs[i], (void *)p);
        CHECK(f_usable(p) >= vs[i], "valloc(%zu) usable %zu", vs[i], f_usable(p));
        memset(p, 0x66, vs[i]);
        f_free(p);
    }
    size_t ps[] = {1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, (1 << 20) + 3};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        unsigned char *p = f_pvalloc(ps[i]);
        CHECK(p != NULL, "pvalloc(%zu) returned NULL", ps[i]);
        if (!p)
            continue;
        size_t want = round_up(ps[i], pg);
        CHECK(is_aligned(p, pg), "pvalloc(%zu) = %p not page aligned", ps[i], (void *)p);
        CHECK(f_usable(p) >= want, "pvalloc(%zu) usable %zu < %zu (size must be rounded up to pages)", ps[i],
              f_usable(p), want);
        memset(p, 0x77, want);
        f_free(p);
    }
    unsigned char *p1 = f_pvalloc(1);
    CHECK(p1 && f_usable(p1) >= pg, "malloc_usable_size(pvalloc(1)) = %zu < page size %zu", p1 ? f_usable(p1) : 0, pg);
    f_free(p1);
}

static size_t waste_bound(size_t n)
{
    size_t b = n + n / 4 + 16;
    if (b < 32)
        b = 32;
    if (n >= 4096 && round_up(n, g_page) > b)
        b = round_up(n, g_page);
    return b;
}

static void t_usable_size(void)
{
    CHECK(f_usable(NULL) == 0, "malloc_usable_size(NULL) = %zu", f_usable(NULL));

    enum { W = 64 };
    struct { unsigned char *p; size_t u; unsigned char tag; } win[W];
    memset(win, 0, sizeof win);
    int wi = 0, over = 0;
    size_t n = 1;
    while (n <= ((size_t)64 << 20)) {
        unsigned char *p = f_malloc(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        if (p) {
            size_t u = f_usable(p);
            CHECK(u >= n, "malloc_usable_size(malloc(%zu)) = %zu < requested", n, u);
            if (u > waste_bound(n)) {
                over++;
                CHECK(0, "malloc_usable_size(malloc(%zu)) = %zu > bound %zu (>25%% internal waste)", n, u,
                      waste_bound(n));
            }
            unsigned char tag = (unsigned char)(n * 7 + 1);
            memset(p, tag, u); /* the whole usable size must be writable */
            if (win[wi].p) {
                size_t nz = (size_t)-1;
                for (size_t k = 0; k < win[wi].u; k++)
                    if (win[wi].p[k] != win[wi].tag) {
                        nz = k;
                        break;
                    }
                CHECK(nz == (size_t)-1, "usable area of a block (usable %zu) overwritten at byte %zu by a neighbour",
                      win[wi].u, nz);
                f_free(win[wi].p);
            }
            win[wi].p = p;
            win[wi].u = u;
            win[wi].tag = tag;
            wi = (wi + 1) % W;
        }
        if (n < 4200)
            n += 1;
        else if (n < (1 << 20))
            n += 1 + n / 61;
        else
            n += 1 + n / 7;
    }
    for (int i = 0; i < W; i++)
        f_free(win[i].p);

    /* usable size of calloc / realloc / aligned blocks */
    for (int i = 0; i < 2000; i++) {
        size_t s = 1 + rnd() % 100000;
        void *c = f_calloc(1, s);
        CHECK(c && f_usable(c) >= s, "usable(calloc(1,%zu)) too small", s);
        size_t s2 = 1 + rnd() % 100000;
        c = f_realloc(c, s2);
        CHECK(c && f_usable(c) >= s2, "usable(realloc(.,%zu)) too small", s2);
        f_free(c);
        void *a = f_memalign(256, s);
        CHECK(a && f_usable(a) >= s, "usable(memalign(256,%zu)) too small", s);
        f_free(a);
    }
}

static void t_free_errno(void)
{
    errno = 4321;
    f_free(NULL);
    CHECK(errno == 4321, "free(NULL) changed errno to %d", errno);

    struct { const char *what; void *p; } v[16];
    int n = 0;
    v[n].what = "malloc(24)"; v[n++].p = f_malloc(24);
    v[n].what = "malloc(1000)"; v[n++].p = f_malloc(1000);
    v[n].what = "malloc(100KiB)"; v[n++].p = f_malloc(100 << 10);
    v[n].what = "malloc(8MiB)"; v[n++].p = f_malloc(8 << 20);
    v[n].what = "malloc(64MiB)"; v[n++].p = f_malloc(64 << 20);
    v[n].what = "calloc(1,200KiB)"; v[n++].p = f_calloc(1, 200 << 10);
    v[n].what = "memalign(4096,100)"; v[n++].p = f_memalign(4096, 100);
    v[n].what = "valloc(5000)"; v[n++].p = f_valloc(5000);
    v[n].what = "aligned_alloc(1MiB,3MiB)"; v[n++].p = f_aligned_alloc(1 << 20, 3 << 20);
    v[n].what = "realloc(malloc(10),50000)"; v[n++].p = f_realloc(f_malloc(10), 50000);
    for (int i = 0; i < n; i++) {
        CHECK(v[i].p != NULL, "%s returned NULL", v[i].what);
        if (!v[i].p)
            continue;
        memset(v[i].p, 0xAA, 24);
        errno = 4321;
        f_free(v[i].p);
        int e = errno;
        CHECK(e == 4321, "free(%s) changed errno to %d", v[i].what, e);
    }
    /* bulk frees (may trigger cache flushes / trimming / munmap inside free) */
    size_t sizes[] = {16, 200, 3000, 65536, 300000, 2 << 20};
    for (int s = 0; s < 6; s++) {
        int cnt = sizes[s] >= 300000 ? 64 : 4000;
        void **arr = f_malloc(sizeof(void *) * cnt);
        for (int i = 0; i < cnt; i++) {
            arr[i] = f_malloc(sizes[s]);
            if (arr[i])
                memset(arr[i], 1, sizes[s] < 4096 ? sizes[s] : 4096);
        }
        int bad = 0;
        for (int i = 0; i < cnt; i++) {
            errno = 4321;
            f_free(arr[i]);
            if (errno != 4321)
                bad++;
        }
        CHECK(bad == 0, "%d of %d frees of %zu-byte blocks changed errno", bad, cnt, sizes[s]);
        f_free(arr);
    }
}

static void t_free_sized(void)
{
    void (*fs)(void *, size_t) = f_free_sized;
    void (*fas)(void *, size_t, size_t) = f_free_aligned_sized;
    if (!fs)
        printf("SKIP free_sized: not provided by the allocator under test (glibc 2.36 has none)\n");
    if (!fas)
        printf("SKIP free_aligned_sized: not provided by the allocator under test (glibc 2.36 has none)\n");
    if (fs) {
        errno = 4321;
        fs(NULL, 0);
        fs(NULL, 100);
        CHECK(errno == 4321, "free_sized(NULL,.) changed errno");
        for (int i = 0; i < 20000; i++) {
            size_t n = (i % 100 == 0) ? 1 + rnd() % (4 << 20) : 1 + rnd() % 70000;
            void *p;
            int how = i % 3;
            if (how == 0)
                p = f_malloc(n);
            else if (how == 1)
                p = f_calloc(1, n);
            else {
                p = f_malloc(1 + rnd() % 1000);
                p = f_realloc(p, n);
            }
            CHECK(p != NULL, "allocation of %zu failed", n);
            if (!p)
                continue;
            memset(p, 0xAB, n < 256 ? n : 256);
            errno = 4321;
            fs(p, n);
            CHECK(errno == 4321, "free_sized(p,%zu) changed errno to %d", n, errno);
        }
    }
    if (fas) {
        errno = 4321;
        fas(NULL, 64, 0);
        CHECK(errno == 4321, "free_aligned_sized(NULL,.) changed errno");
        for (int i = 0; i < 5000; i++) {
            size_t a = (size_t)1 << (3 + rnd() % 18);
            size_t n = 1 + rnd() % 70000;
            void *p = f_aligned_alloc(a, n);
            CHECK(p && is_aligned(p, a), "aligned_alloc(%zu,%zu) = %p", a, n, p);
            if (!p)
                continue;
            memset(p, 0xCD, n < 256 ? n : 256);
            errno = 4321;
            fas(p, a, n);
            CHECK(errno == 4321, "free_aligned_sized changed errno to %d", errno);
        }
    }
}

/* Random model check: 200k operations over a slot table, every block filled
 * with a pattern derived from (id) and checked before it is freed/realloced. */
static void t_model(void)
{
    enum { SLOTS = 2048, OPS = 200000 };
    static struct { unsigned char *p; size_t n; uint64_t id; size_t align; } s[SLOTS];
    memset(s, 0, sizeof s);
    uint64_t next_id = 1;
    rng_state = 0x1234567887654321ull;
    for (int op = 0; op < OPS; op++) {
        int i = rnd() % SLOTS;
        uint64_t r = rnd();
        size_t n;
        if (r % 2000 == 0)
            n = (1 << 20) + rnd() % (4 << 20); /* 1..5 MiB */
        else
            n = 1 + rnd() % ((size_t)1 << (1 + rnd() % 17)); /* log-uniform 1..65536 */
        if (n > 70000 && n < (1 << 20))
            n = 70000;
        int kind = (r >> 16) % 100;
        if (s[i].p) {
            size_t bad = verify(s[i].p, s[i].n, s[i].id);
            CHECK(bad == (size_t)-1, "op %d: block id %llu (size %zu, align %zu) corrupted at byte %zu", op,
                  (unsigned long long)s[i].id, s[i].n, s[i].align, bad);
            if (s[i].align)
                CHECK(is_aligned(s[i].p, s[i].align), "aligned block moved?");
            if (kind < 35) {
                unsigned char *q = f_realloc(s[i].p, n);
                CHECK(q != NULL, "op %d: realloc(%zu -> %zu) NULL", op, s[i].n, n);
                if (!q)
                    continue;
                size_t keep = s[i].n < n ? s[i].n : n;
                bad = verify(q, keep, s[i].id);
                CHECK(bad == (size_t)-1, "op %d: realloc(%zu -> %zu) lost content at byte %zu", op, s[i].n, n, bad);
                CHECK(f_usable(q) >= n, "op %d: usable after realloc %zu < %zu", op, f_usable(q), n);
                s[i].p = q;
                s[i].n = n;
                s[i].id = next_id++;
                s[i].align = 0;
                fill(q, n, s[i].id);
            } else {
                f_free(s[i].p);
                s[i].p = NULL;
            }
        } else {
            unsigned char *q = NULL;
            size_t align = 0;
            if (kind < 50) {
                q = f_malloc(n);
            } else if (kind < 70) {
                q = (n % 4 == 0 && (r >> 40) % 2) ? f_calloc(n / 4, 4) : ((r >> 41) % 2 ? f_calloc(n, 1) : f_calloc(1, n));
                if (q) {
                    size_t nz = first_nonzero(q, n);
                    CHECK(nz == (size_t)-1, "op %d: calloc(%zu) byte %zu not zero", op, n, nz);
                }
            } else if (kind < 80) {
                q = f_realloc(NULL, n);
            } else {
                align = (size_t)1 << (3 + rnd() % 10); /* 8 .. 4096 */
                void *v = NULL;
                int e = f_posix_memalign(&v, align, n);
                CHECK(e == 0, "op %d: posix_memalign(%zu,%zu) = %d", op, align, n, e);
                q = e ? NULL : v;
                if (q)
                    CHECK(is_aligned(q, align), "op %d: posix_memalign(%zu) misaligned %p", op, align, (void *)q);
            }
            CHECK(q != NULL, "op %d: allocation of %zu failed", op, n);
            if (!q)
                continue;
            CHECK(f_usable(q) >= n, "op %d: usable %zu < %zu", op, f_usable(q), n);
            s[i].p = q;
            s[i].n = n;
            s[i].id = next_id++;
            s[i].align = align;
            fill(q, n, s[i].id);
        }
        if (g_fail > 20)
            break;
    }
    for (int i = 0; i < SLOTS; i++) {
        if (!s[i].p)
            continue;
        size_t bad = verify(s[i].p, s[i].n, s[i].id);
        CHECK(bad == (size_t)-1, "final: block id %llu corrupted at %zu", (unsigned long long)s[i].id, bad);
        f_free(s[i].p);
    }
}

/* ---------------------------------------------------------------------- */

/* ---------------------------------------------------------------------- */
/* group runner                                                            */

struct check_group {
    const char *name;
    void (*fn)(void);
};

static const struct check_group common_groups[] = {
    {"malloc0", t_malloc0},
    {"overflow_enomem", t_overflow},
    {"calloc_zero", t_calloc_zero},
    {"realloc", t_realloc},
    {"realloc_zero", t_realloc_zero},
    {"posix_memalign_errors", t_posix_memalign_errors},
    {"aligned_pow2", t_aligned_pow2},
    {"aligned_size_sweep", t_aligned_size_sweep},
    {"aligned_alloc_odd", t_aligned_alloc_odd},
    {"memalign_npot", t_memalign_npot},
    {"valloc_pvalloc", t_valloc_pvalloc},
    {"usable_size", t_usable_size},
    {"free_errno", t_free_errno},
    {"free_sized", t_free_sized},
    {"model_random", t_model},
};
#define N_COMMON_GROUPS (sizeof common_groups / sizeof common_groups[0])

/* Runs one group, in a forked child unless API_NOFORK=1 (so that a crash is
 * reported as a failure of that group and the others still run).
 * Returns 1 if the group passed. */
static int run_group(const struct check_group *grp)
{
    static int nofork = -1;
    if (nofork < 0) {
        const char *e = getenv("API_NOFORK");
        nofork = e && *e && strcmp(e, "0") != 0;
        g_page = (size_t)sysconf(_SC_PAGESIZE);
    }
    g_name = grp->name;
    g_fail = 0;
    if (nofork) {
        grp->fn();
        if (g_fail > 10)
            printf("FAIL %s: ... %d failures in total\n", g_name, g_fail);
        if (g_fail)
            return 0;
        printf("ok %s\n", g_name);
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL %s: fork failed: %s\n", g_name, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        alarm(120);
        grp->fn();
        if (g_fail > 10)
            printf("FAIL %s: ... %d failures in total\n", g_name, g_fail);
        fflush(stdout);
        _exit(g_fail ? 1 : 0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok %s\n", g_name);
        return 1;
    }
    if (WIFSIGNALED(st))
        printf("FAIL %s: crashed with signal %d (%s)%s\n", g_name, WTERMSIG(st), strsignal(WTERMSIG(st)),
               WTERMSIG(st) == SIGALRM ? " - timeout/hang" : "");
    else if (WEXITSTATUS(st) != 1)
        printf("FAIL %s: exited with status %d\n", g_name, WEXITSTATUS(st));
    return 0;
}

/* Runs the groups of `groups` whose name contains `only` (all when NULL),
 * adding them to *ran; returns how many failed. */
static int run_groups(const struct check_group *groups, size_t n, const char *only, int *ran)
{
    int failed = 0;
    for (size_t g = 0; g < n; g++) {
        if (only && !strstr(groups[g].name, only))
            continue;
        (*ran)++;
        if (!run_group(&groups[g]))
            failed++;
    }
    return failed;
}

#endif /* MALLOC_CHECKS_H */
