/*
 * differential.c - randomized differential test of the C allocation API:
 * the same pseudo-random call sequence runs under glibc's malloc and under
 * an LD_PRELOADed replacement (libswalloc.so), and the two stdout
 * transcripts must be identical (tests/differential/run.sh compares them).
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o differential differential.c -ldl
 * Run:   ./differential SEED [THREADS=1] [OPS=100000] [trace]
 *        ./differential --which-malloc     (the object malloc resolves into)
 *
 * Each thread owns a table of NSLOTS slots and runs OPS operations drawn
 * from a xorshift64 generator seeded from SEED and its thread number:
 * malloc, calloc (including multiplication overflow), realloc (grow,
 * shrink, to 0, to boundary and impossible sizes), reallocarray (including
 * overflow), free, free(NULL), posix_memalign / aligned_alloc / memalign /
 * valloc / pvalloc with valid and invalid alignments, malloc_usable_size,
 * requests of impossible sizes (PTRDIFF_MAX-4096 .. PTRDIFF_MAX, PTRDIFF_MAX+1,
 * SIZE_MAX/2+1, SIZE_MAX, overflowing products) and realloc of a live 3-8 MiB
 * block to impossible sizes. Sizes are drawn near every boundary (0, 1,
 * 15-17, 127-129, page +-1, 16/32 KiB +-1, 2/4 MiB +-1) and at random; live
 * memory is bounded (blocks above 64 KiB, and alignments above 64 KiB, are
 * charged to a per-thread budget of BIG_BUDGET (16 MiB); a draw over budget is
 * folded below 64 KiB, deterministically).
 *
 * Every block is filled over its requested size with a pattern derived from
 * (seed, thread, slot, generation) and position; it is verified before every
 * realloc and free, realloc must preserve min(old, new) bytes, calloc memory
 * must read zero, a failed realloc / reallocarray must leave the block
 * intact, the alignment must be honoured (16 bytes for the malloc family),
 * malloc_usable_size must be >= the request (its value is never printed;
 * the bytes up to it are written, so an overstated usable size corrupts a
 * neighbour), free must not change errno, and a failed posix_memalign must
 * not touch *memptr. A violation prints "CORRUPT ..." (content) or
 * "MISMATCH ..." (API semantics) to stderr and exits 1 at once
 * (DIFF_TOLERATE_FREE_ERRNO=1 in the environment only counts free's errno
 * changes, to look past that known bug for others).
 *
 * The transcript (stdout) holds only outcomes that do not depend on the
 * allocator's layout or on thread timing: per operation, which call with
 * which arguments, NULL or not, errno where the API defines it (ENOMEM /
 * EINVAL after a NULL; posix_memalign's return code, not errno). These
 * records are folded into a per-thread running hash, printed every CKPT
 * operations and at the end with counts. With "trace", every record is
 * printed as a line "t<N> <op#> ..." (interleaved between threads; sort -s
 * -k1,1 groups them) to find the first differing operation.
 *
 * Normalised (documented differences, not recorded exactly):
 *  - aligned_alloc with an alignment that is not a power of two (0, 3, 24,
 *    4097, SIZE_MAX/2 ...): glibc <= 2.37 (this machine's 2.36) treats it like
 *    memalign (rounds the alignment up and succeeds, or ENOMEM for an
 *    impossible size); glibc >= 2.38 and swalloc (README: "NULL + EINVAL,
 *    glibc 2.38 behaviour") fail with EINVAL. Recorded as "normalised"; a
 *    non-NULL result must be aligned to the next power of two and is freed
 *    at once (so the slot table stays the same under both), a NULL must
 *    come with EINVAL or ENOMEM.
 *  - posix_memalign failing with ENOMEM: glibc 2.36 also sets errno to
 *    ENOMEM, swalloc leaves errno alone (README: "errno untouched"); POSIX
 *    reports the error through the return value only. Only the return
 *    value is recorded.
 *  - errno after a successful call is never recorded (C and POSIX allow any
 *    value); neither are malloc_usable_size's value nor addresses.
 * Alignments between 4 MiB and 2^62 are not drawn: whether glibc can map
 * 2^40 + n bytes depends on the machine's overcommit setting.
 *
 * Multi-threaded runs (THREADS > 1) also hand blocks between threads through
 * a shared, mutex-protected pool of POOL entries: "give" moves a slot's block
 * into the pool (freeing, after verifying, whatever another thread had left
 * in that entry), "take" takes a pool entry (if any) and verifies it, then
 * frees it, reallocs it (and puts it back), reallocs it to an impossible
 * size, or checks its usable size. Which block a take gets depends on
 * timing, so these operations are recorded as a constant token, draw a
 * fixed number of random numbers, and never touch the slot table; all their
 * checks are still fatal. The main thread frees what the pool holds at the
 * end.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "overflow_pairs.h"
#include "test_util.h"
#include "which_malloc.h"

static size_t (*volatile f_usable)(void *) TEST_UNUSED = malloc_usable_size;

enum { NSLOTS = 256, POOL = 64, MAXT = 64, CKPT = 10000, MAXCKPT = 10000 };
#define KIB ((size_t)1024)
#define MIB (KIB * 1024)
#define SMALL_MAX (64 * KIB)
#define BIG_BUDGET (16 * MIB) /* per thread: blocks / alignments > 64 KiB */
#define POOL_CAP (64 * MIB)   /* bytes the hand-off pool may hold */
#define ERRNO_MARK 4321
#define NONE ((size_t)-1)

/* ------------------------------------------------------------------------ */

struct blk {
    unsigned char *p;
    size_t n;       /* requested size */
    uint64_t tag;   /* pattern key */
    size_t charge;  /* bytes charged to the thread's big budget */
    /* where it came from (printed after a crash): thread, op#, call */
    int born_thr;
    long born_op;
    const char *born_fn;
};

/* the allocator call a thread is making (or made last), for the report
 * after a crash inside the allocator */
struct callnote {
    const char *fn;
    void *p;
    size_t n, arg;
    int born_thr;
    long born_op;
    const char *born_fn;
};

struct thr {
    int id;
    pthread_t th;
    uint64_t rng;
    uint64_t hash;
    long op;           /* operations done */
    long nops;         /* operations to do */
    uint64_t gen;      /* allocation generation */
    size_t big_live;   /* sum of charges of the slot table */
    struct blk slot[NSLOTS];
    /* deterministic counters */
    long n_ptr, n_null, n_enomem, n_einval, n_norm;
    uint64_t verified;
    uint64_t ckpt[MAXCKPT];
    int nckpt;
    volatile struct callnote last;
    /* hand-off statistics (timing-dependent: stderr only) */
    long taken, given, take_empty;
};

static uint64_t g_seed;

static inline void note(struct thr *t, const char *fn, const struct blk *b, size_t arg)
{
    if (!t)
        return;
    t->last.fn = fn;
    t->last.p = b ? b->p : NULL;
    t->last.n = b ? b->n : 0;
    t->last.arg = arg;
    t->last.born_thr = b && b->p ? b->born_thr : -1;
    t->last.born_op = b && b->p ? b->born_op : -1;
    t->last.born_fn = b && b->p ? b->born_fn : NULL;
}
static int g_threads = 1;
static int g_trace;
static size_t g_page;
static pthread_mutex_t g_print_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
    pthread_mutex_t mu;
    struct blk e[POOL];
    size_t bytes;
} pool = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

/* ------------------------------------------------------------------------ */
/* failure reports: one line to stderr, exit 1 at once                      */

static void die(struct thr *t, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void die(struct thr *t, const char *kind, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_print_mu);
    fflush(stdout);
    fprintf(stderr, "%s seed=%" PRIu64 " threads=%d thread=%d op#%ld: %s\n", kind, g_seed, g_threads,
            t ? t->id : -1, t ? t->op : -1L, buf);
    fflush(stderr);
    _exit(1);
}
#define CORRUPT(t, ...) die((t), "CORRUPT", __VA_ARGS__)
#define MISMATCH(t, ...) die((t), "MISMATCH", __VA_ARGS__)

/* free, which must not change errno (glibc >= 2.33; swalloc's README:
 * "free never changes errno"). With DIFF_TOLERATE_FREE_ERRNO=1 in the
 * environment a change is only counted (reported on stderr at the end), to
 * look past a known bug for others. */
static int g_tolerate_free_errno;
static long g_free_errno_changes;
static int g_free_errno_first;
static pthread_mutex_t g_count_mu = PTHREAD_MUTEX_INITIALIZER;

static void checked_free(struct thr *t, const struct blk *b, const char *what)
{
    void *p = b ? b->p : NULL;
    note(t, "free", b, 0);
    errno = ERRNO_MARK;
    f_free(p);
    int e = errno;
    if (e == ERRNO_MARK)
        return;
    if (!g_tolerate_free_errno)
        MISMATCH(t, "%s (ptr %p) changed errno to %d", what, p, e);
    pthread_mutex_lock(&g_count_mu);
    if (!g_free_errno_changes++)
        g_free_errno_first = e;
    pthread_mutex_unlock(&g_count_mu);
}

/* ------------------------------------------------------------------------ */
/* hashing and the transcript                                               */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

enum res { R_PTR = 1, R_NULL, R_NORM, R_DONE };
static const char *res_name[] = {"?", "ptr", "NULL", "norm", "done"};

enum opcode {
    O_MALLOC = 1, O_CALLOC, O_REALLOC, O_REALLOCARRAY, O_FREE, O_FREE_NULL,
    O_POSIX_MEMALIGN, O_ALIGNED_ALLOC, O_MEMALIGN, O_VALLOC, O_PVALLOC,
    O_USABLE, O_VERIFY, O_GIVE, O_TAKE, O_HUGE_REALLOC, O_FINAL_FREE, O_IMPOSSIBLE,
};
static const char *op_name[] = {
    "?", "malloc", "calloc", "realloc", "reallocarray", "free", "free(NULL)",
    "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
    "usable", "verify", "give", "take", "huge-realloc", "final-free", "impossible",
};

/* record(t, op, slot, a, b, res, err): one semantic outcome. a and b are the
 * call's arguments (sizes, alignment), err the errno / return code where the
 * API defines it (0 otherwise). */
static void record(struct thr *t, int op, int slot, uint64_t a, uint64_t b, int res, int err)
{
    uint64_t h = t->hash;
    h = mix64(h ^ ((uint64_t)op << 56 ^ (uint64_t)(unsigned)slot << 32 ^ (uint64_t)res << 16 ^ (uint64_t)(unsigned)err));
    h = mix64(h ^ a);
    h = mix64(h ^ b);
    t->hash = h;
    switch (res) {
    case R_PTR: t->n_ptr++; break;
    case R_NULL:
        t->n_null++;
        if (err == ENOMEM)
            t->n_enomem++;
        else if (err == EINVAL)
            t->n_einval++;
        break;
    case R_NORM: t->n_norm++; break;
    }
    if (g_trace) {
        pthread_mutex_lock(&g_print_mu);
        printf("t%d %ld %s slot=%d a=%#" PRIx64 " b=%#" PRIx64 " -> %s err=%d\n", t->id, t->op, op_name[op], slot,
               a, b, res_name[res], err);
        pthread_mutex_unlock(&g_print_mu);
    }
}

/* ------------------------------------------------------------------------ */
/* content patterns                                                         */

static inline uint64_t pword(uint64_t tag, size_t w)
{
    uint64_t x = tag ^ ((uint64_t)w * 0x9E3779B97F4A7C15ULL);
    return x ^ (x >> 29);
}

/* writes the pattern of `tag` over bytes [from, to) of p */
static void fill_range(unsigned char *p, uint64_t tag, size_t from, size_t to)
{
    size_t i = from;
    while (i < to && (i & 7)) {
        p[i] = (unsigned char)(pword(tag, i >> 3) >> ((i & 7) * 8));
        i++;
    }
    for (; i + 8 <= to; i += 8) {
        uint64_t v = pword(tag, i >> 3);
        memcpy(p + i, &v, 8);
    }
    for (; i < to; i++)
        p[i] = (unsigned char)(pword(tag, i >> 3) >> ((i & 7) * 8));
}

/* first offset in [0, n) that does not hold the pattern, or NONE */
static size_t check_range(const unsigned char *p, uint64_t tag, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = pword(tag, i >> 3), g;
        memcpy(&g, p + i, 8);
        if (g != v)
            break;
    }
    for (; i < n; i++)
        if (p[i] != (unsigned char)(pword(tag, i >> 3) >> ((i & 7) * 8)))
            return i;
    return NONE;
}

static size_t first_nonzero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t g;
        memcpy(&g, p + i, 8);
        if (g)
            break;
    }
    for (; i < n; i++)
        if (p[i])
            return i;
    return NONE;
}

static void verify_blk(struct thr *t, const struct blk *b, size_t n, const char *when)
{
    if (!b->p)
        return;
    size_t bad = check_range(b->p, b->tag, n);
    if (bad != NONE)
        CORRUPT(t, "%s: block %p (size %zu, tag %#" PRIx64 ") differs at offset %zu: byte %#x, want %#x", when,
                (void *)b->p, b->n, b->tag, bad, b->p[bad],
                (unsigned)(unsigned char)(pword(b->tag, bad >> 3) >> ((bad & 7) * 8)));
    if (t && n == b->n)
        t->verified += n;
}

/* ------------------------------------------------------------------------ */
/* sizes                                                                    */

static size_t boundary_sizes[32];
#define N_SMALL_BOUNDARY 17 /* the sizes up to 32 KiB + 1 come first */
static int n_boundary;

static void init_sizes(void)
{
    size_t pg = g_page;
    size_t v[] = {0, 1, 15, 16, 17, 127, 128, 129, pg - 1, pg, pg + 1,
                  16 * KIB - 1, 16 * KIB, 16 * KIB + 1, 32 * KIB - 1, 32 * KIB, 32 * KIB + 1,
                  2 * MIB - 1, 2 * MIB, 2 * MIB + 1, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1};
    n_boundary = (int)(sizeof v / sizeof v[0]);
    memcpy(boundary_sizes, v, sizeof v);
}

static inline uint64_t rnd(struct thr *t) { return xs(&t->rng); }

/* a boundary size: the 2 and 4 MiB ones (expensive to fill) 1 in 20 */
static size_t pick_boundary(struct thr *t)
{
    if (rnd(t) % 20)
        return boundary_sizes[rnd(t) % N_SMALL_BOUNDARY];
    return boundary_sizes[N_SMALL_BOUNDARY + rnd(t) % (n_boundary - N_SMALL_BOUNDARY)];
}

/* an impossible size: no allocator can satisfy it */
static size_t impossible_size(struct thr *t)
{
    switch (rnd(t) % 7) {
    case 0: return (size_t)PTRDIFF_MAX - 4096 + rnd(t) % 4097; /* PTRDIFF_MAX-4096 .. PTRDIFF_MAX */
    case 1: return (size_t)PTRDIFF_MAX;
    case 2: return (size_t)PTRDIFF_MAX + 1;
    case 3: return SIZE_MAX;
    case 4: return SIZE_MAX / 2 + 1;
    case 5: return SIZE_MAX - rnd(t) % 4096;
    default: return (size_t)PTRDIFF_MAX - 4096;
    }
}

/* a size charged against the budget (see fit) */
static inline size_t charge_of(size_t n, size_t align)
{
    return (n > SMALL_MAX ? n : 0) + (align > SMALL_MAX ? align : 0);
}

/* folds a size that does not fit in the thread's big budget below 64 KiB */
static size_t fit(struct thr *t, size_t n, size_t align, size_t freed)
{
    size_t c = charge_of(n, align);
    if (c && t->big_live - freed + c > BIG_BUDGET)
        return n % SMALL_MAX;
    return n;
}

/* a request size; *imp set when impossible. `freed` is the charge that the
 * operation releases first (the slot's old block). */
static size_t pick_size(struct thr *t, int imp_permille, int *imp, size_t freed)
{
    uint64_t r = rnd(t) % 1000;
    size_t n;
    *imp = 0;
    if (r < (uint64_t)imp_permille) {
        *imp = 1;
        return impossible_size(t);
    }
    r = rnd(t) % 1000;
    if (r < 450)
        n = 1 + rnd(t) % 256;
    else if (r < 650)
        n = 257 + rnd(t) % 3840;
    else if (r < 800)
        n = 4096 + rnd(t) % (SMALL_MAX - 4096 + 1);
    else if (r < 995)
        n = pick_boundary(t);
    else
        n = SMALL_MAX + 1 + rnd(t) % (8 * MIB - SMALL_MAX);
    return fit(t, n, 0, freed);
}

/* an (n, m) pair whose product overflows size_t, or exceeds PTRDIFF_MAX */
static void overflow_pair(struct thr *t, size_t *n, size_t *m)
{
    uint64_t k = rnd(t) % 16;
    if (k < OVERFLOW_PAIRS) {
        *n = overflow_pairs[k][0];
        *m = overflow_pairs[k][1];
    } else { /* random, both factors >= 2^32: always overflows */
        *n = ((size_t)1 << 32) | (rnd(t) >> 8);
        *m = ((size_t)1 << 32) | (rnd(t) & 0xffffffffu);
    }
}

/* splits a size n into a product nn * mm (nn * mm <= n) */
static void split(struct thr *t, size_t n, size_t *nn, size_t *mm)
{
    static const size_t ms[] = {1, 2, 4, 8, 16, 24, 40, 100};
    uint64_t k = rnd(t) % 10;
    if (k < 8) {
        *mm = ms[k];
        *nn = n / ms[k];
    } else if (k == 8) {
        *nn = 1;
        *mm = n;
    } else {
        *nn = n;
        *mm = 1;
    }
}

/* ------------------------------------------------------------------------ */
/* slot helpers                                                             */

static uint64_t new_tag(struct thr *t, int s)
{
    t->gen++;
    return mix64(g_seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t)t->id << 48 ^ (uint64_t)s << 36 ^ t->gen);
}

static int is_pow2(size_t a) { return a && !(a & (a - 1)); }

static size_t next_pow2(size_t a)
{
    size_t p = 1;
    while (p < a && p)
        p <<= 1;
    return p; /* 0 when a > 2^63 */
}

/* checks a block a call just returned: alignment, usable size, zero */
static void check_fresh(struct thr *t, const char *what, unsigned char *p, size_t n, size_t align, int zero)
{
    if (align && ((uintptr_t)p & (align - 1)))
        MISMATCH(t, "%s(size %zu) = %p is not aligned to %zu", what, n, (void *)p, align);
    size_t u = f_usable(p);
    if (u < n)
        MISMATCH(t, "%s(size %zu) = %p: malloc_usable_size %zu < requested size", what, n, (void *)p, u);
    if (zero) {
        size_t z = first_nonzero(p, n);
        if (z != NONE)
            CORRUPT(t, "%s(size %zu) = %p: byte %zu is %#x, not 0", what, n, (void *)p, z, p[z]);
    }
}

static void set_slot(struct thr *t, int s, unsigned char *p, size_t n, uint64_t tag, size_t charge)
{
    struct blk *b = &t->slot[s];
    t->big_live -= b->charge;
    b->p = p;
    b->n = n;
    b->tag = tag;
    b->charge = p ? charge : 0;
    t->big_live += b->charge;
    if (p && p != t->last.p) {
        b->born_thr = t->id;
        b->born_op = t->op;
        b->born_fn = t->last.fn;
    }
}

/* a new block from a call: check, fill, store in slot s */
static void adopt(struct thr *t, int s, const char *what, unsigned char *p, size_t n, size_t align, int zero,
                  size_t charge_align)
{
    check_fresh(t, what, p, n, align, zero);
    uint64_t tag = new_tag(t, s);
    fill_range(p, tag, 0, n);
    set_slot(t, s, p, n, tag, charge_of(n, charge_align));
}

/* verify and free slot s (recorded) */
static void free_slot(struct thr *t, int s, int op)
{
    struct blk *b = &t->slot[s];
    if (!b->p)
        return;
    verify_blk(t, b, b->n, "before free");
    checked_free(t, b, "free");
    record(t, op, s, b->n, 0, R_DONE, 0);
    set_slot(t, s, NULL, 0, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* operations on the thread's own slots                                     */

static void op_malloc(struct thr *t, int s)
{
    int imp;
    size_t n = pick_size(t, 20, &imp, t->slot[s].charge);
    free_slot(t, s, O_FREE);
    note(t, "malloc", NULL, n);
    errno = 0;
    unsigned char *p = f_malloc(n);
    int e = errno;
    if (!p) {
        record(t, O_MALLOC, s, n, 0, R_NULL, e);
        return;
    }
    if (imp)
        MISMATCH(t, "malloc(%#zx) succeeded (%p)", n, (void *)p);
    record(t, O_MALLOC, s, n, 0, R_PTR, 0);
    adopt(t, s, "malloc", p, n, 16, 0, 0);
}

static void op_calloc(struct thr *t, int s)
{
    size_t nn, mm;
    int imp = 0;
    free_slot(t, s, O_FREE);
    uint64_t k = rnd(t) % 100;
    if (k < 8) {
        overflow_pair(t, &nn, &mm);
        imp = 1;
    } else if (k < 11) {
        size_t big = impossible_size(t);
        if (k & 1) { nn = 1; mm = big; } else { nn = big; mm = 1; }
        imp = 1;
    } else if (k < 14) { /* zero products */
        size_t x = 1 + rnd(t) % 1000;
        nn = k == 12 ? x : 0;
        mm = k == 13 ? x : 0;
    } else {
        int dummy;
        size_t n = pick_size(t, 0, &dummy, 0);
        split(t, n, &nn, &mm);
    }
    note(t, "calloc", NULL, nn);
    errno = 0;
    unsigned char *p = f_calloc(nn, mm);
    int e = errno;
    if (!p) {
        record(t, O_CALLOC, s, nn, mm, R_NULL, e);
        return;
    }
    if (imp)
        MISMATCH(t, "calloc(%#zx, %#zx) succeeded (%p)", nn, mm, (void *)p);
    record(t, O_CALLOC, s, nn, mm, R_PTR, 0);
    adopt(t, s, "calloc", p, nn * mm, 16, 1, 0);
}

/* common tail of realloc / reallocarray: the call returned q for block b
 * (b->p may be NULL) resized to n; n_imp: the request was impossible */
static void after_resize(struct thr *t, int s, int op, const char *what, unsigned char *q, int e, size_t a1, size_t a2,
                         size_t n, int n_imp)
{
    struct blk *b = &t->slot[s];
    if (!q) {
        if (n == 0 && b->p && !n_imp) {
            /* realloc(p, 0) / reallocarray(p, 0, m): glibc frees p and
             * returns NULL; the block is gone. No error: errno is not
             * defined, not recorded. */
            record(t, op, s, a1, a2, R_NULL, 0);
            set_slot(t, s, NULL, 0, 0, 0);
            return;
        }
        record(t, op, s, a1, a2, R_NULL, e);
        /* a failed resize leaves the block intact */
        verify_blk(t, b, b->n, "after failed resize");
        if (b->p && f_usable(b->p) < b->n)
            MISMATCH(t, "%s(%p, %#zx) failed and the block's usable size shrank below %zu", what, (void *)b->p, n,
                     b->n);
        return;
    }
    if (n_imp)
        MISMATCH(t, "%s(%p, %#zx, %#zx) succeeded (%p)", what, (void *)b->p, a1, a2, (void *)q);
    record(t, op, s, a1, a2, R_PTR, 0);
    check_fresh(t, what, q, n, 16, 0);
    if (b->p) {
        size_t keep = b->n < n ? b->n : n;
        size_t bad = check_range(q, b->tag, keep);
        if (bad != NONE)
            CORRUPT(t, "%s(%p [size %zu], %zu) = %p lost content at offset %zu (of %zu kept bytes)", what,
                    (void *)b->p, b->n, n, (void *)q, bad, keep);
        fill_range(q, b->tag, keep, n);
        set_slot(t, s, q, n, b->tag, charge_of(n, 0));
    } else {
        uint64_t tag = new_tag(t, s);
        fill_range(q, tag, 0, n);
        set_slot(t, s, q, n, tag, charge_of(n, 0));
    }
}

static size_t resize_target(struct thr *t, int s, int *imp)
{
    struct blk *b = &t->slot[s];
    size_t old = b->n;
    *imp = 0;
    switch (rnd(t) % 10) {
    case 0: case 1: /* grow */
        return fit(t, old + 1 + rnd(t) % (old + 64), 0, b->charge);
    case 2: /* grow a little (often in place) */
        return fit(t, old + 1 + rnd(t) % 16, 0, b->charge);
    case 3: case 4: /* shrink */
        return old ? rnd(t) % old : 0;
    case 5: /* to 0 */
        return 0;
    case 6: /* a boundary */
        return fit(t, pick_boundary(t), 0, b->charge);
    case 7: case 8:
        return pick_size(t, 0, imp, b->charge);
    default:
        *imp = 1;
        return impossible_size(t);
    }
}

static void op_realloc(struct thr *t, int s)
{
    struct blk *b = &t->slot[s];
    int imp;
    size_t n = resize_target(t, s, &imp);
    verify_blk(t, b, b->n, "before realloc");
    errno = 0;
    note(t, "realloc", b, n);
    unsigned char *q = f_realloc(b->p, n);
    int e = errno;
    if (!q && !(n == 0 && b->p) && e != ENOMEM)
        MISMATCH(t, "realloc(%p, %#zx) = NULL with errno %d (want ENOMEM)", (void *)b->p, n, e);
    after_resize(t, s, O_REALLOC, "realloc", q, e, n, b->p != NULL, n, imp);
}

static void op_reallocarray(struct thr *t, int s)
{
    struct blk *b = &t->slot[s];
    size_t nn, mm;
    int imp = 0;
    uint64_t k = rnd(t) % 100;
    if (k < 15) {
        overflow_pair(t, &nn, &mm);
        imp = 1;
    } else if (k < 20) { /* zero product: acts as realloc(p, 0) */
        nn = (k & 1) ? 0 : 1 + rnd(t) % 64;
        mm = (k & 1) ? 1 + rnd(t) % 64 : 0;
    } else {
        int i2;
        size_t n = resize_target(t, s, &i2);
        if (i2) {
            nn = 1;
            mm = n;
            imp = 1;
        } else {
            split(t, n, &nn, &mm);
        }
    }
    verify_blk(t, b, b->n, "before reallocarray");
    errno = 0;
    note(t, "reallocarray", b, nn * mm);
    unsigned char *q = f_reallocarray(b->p, nn, mm);
    int e = errno;
    size_t n = nn * mm;
    if (imp)
        n = SIZE_MAX;
    if (!q && !(n == 0 && b->p) && e != ENOMEM)
        MISMATCH(t, "reallocarray(%p, %#zx, %#zx) = NULL with errno %d (want ENOMEM)", (void *)b->p, nn, mm, e);
    after_resize(t, s, O_REALLOCARRAY, "reallocarray", q, e, nn, mm | (uint64_t)(b->p != NULL) << 63, n, imp);
}

static void op_free(struct thr *t, int s)
{
    if (t->slot[s].p) {
        free_slot(t, s, O_FREE);
        return;
    }
    checked_free(t, NULL, "free(NULL)");
    record(t, O_FREE_NULL, s, 0, 0, R_DONE, 0);
}

static size_t pick_align(struct thr *t, int *valid)
{
    static const size_t odd[] = {
        0, 1, 2, 3, 4, 5, 7, 12, 24, 48, 100, 1000, 4097, 3 * 4096, (1 << 20) + 8,
        (size_t)1 << 62, (size_t)1 << 63, ((size_t)1 << 63) + 1, SIZE_MAX / 2, SIZE_MAX, SIZE_MAX - 7,
    };
    uint64_t r = rnd(t) % 100;
    *valid = 1;
    if (r < 55)
        return (size_t)1 << (3 + rnd(t) % 5); /* 8 .. 128 */
    if (r < 75)
        return (size_t)1 << (8 + rnd(t) % 5); /* 256 .. 4096 */
    if (r < 83)
        return (size_t)1 << (13 + rnd(t) % 8); /* 8 KiB .. 1 MiB */
    if (r < 85)
        return (size_t)1 << (21 + rnd(t) % 2); /* 2, 4 MiB */
    *valid = 0;
    return odd[rnd(t) % (sizeof odd / sizeof odd[0])];
}

static void op_aligned(struct thr *t, int s)
{
    int valid, imp;
    uint64_t fn = rnd(t) % 5;
    size_t a = pick_align(t, &valid);
    size_t n = pick_size(t, 30, &imp, t->slot[s].charge);
    /* an alignment above 64 KiB costs about that much memory (glibc maps
     * n + a); keep it within the budget */
    if (!imp && charge_of(0, a) && t->big_live - t->slot[s].charge + charge_of(n, a) > BIG_BUDGET)
        a = 64;
    free_slot(t, s, O_FREE);
    unsigned char *p = NULL;
    int e = 0;
    static const char *fnames[] = {"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc"};
    note(t, fnames[fn], NULL, n);
    switch (fn) {
    case 0: { /* posix_memalign: the return value; errno not recorded */
        void *q = (void *)0x5a5a;
        int r = f_posix_memalign(&q, a, n);
        int want_ok = is_pow2(a) && a >= sizeof(void *);
        if (r) {
            if (q != (void *)0x5a5a)
                MISMATCH(t, "posix_memalign(&p, %zu, %#zx) = %d but changed *memptr to %p", a, n, r, q);
            if (r != EINVAL && r != ENOMEM)
                MISMATCH(t, "posix_memalign(&p, %zu, %#zx) = %d (want 0, EINVAL or ENOMEM)", a, n, r);
            if (!want_ok && r != EINVAL)
                MISMATCH(t, "posix_memalign(&p, %zu, %#zx) = %d (want EINVAL: bad alignment)", a, n, r);
            record(t, O_POSIX_MEMALIGN, s, a, n, R_NULL, r);
            return;
        }
        if (!want_ok || imp)
            MISMATCH(t, "posix_memalign(&p, %#zx, %#zx) succeeded (%p)", a, n, q);
        record(t, O_POSIX_MEMALIGN, s, a, n, R_PTR, 0);
        adopt(t, s, "posix_memalign", q, n, a, 0, a);
        return;
    }
    case 1: /* aligned_alloc */
        errno = 0;
        p = f_aligned_alloc(a, n);
        e = errno;
        if (!is_pow2(a)) {
            /* normalised: glibc 2.36 rounds the alignment up (or ENOMEM),
             * glibc 2.38+ and swalloc give NULL + EINVAL */
            if (p) {
                size_t want = next_pow2(a);
                check_fresh(t, "aligned_alloc(non-power-of-two)", p, n, want ? want : 1, 0);
                fill_range(p, 1, 0, n);
                f_free(p);
            } else if (e != EINVAL && e != ENOMEM) {
                MISMATCH(t, "aligned_alloc(%zu, %#zx) = NULL with errno %d (want EINVAL or ENOMEM)", a, n, e);
            }
            record(t, O_ALIGNED_ALLOC, s, a, n, R_NORM, 0);
            return;
        }
        break;
    case 2: /* memalign: rounds a non-power-of-two alignment up */
        errno = 0;
        p = f_memalign(a, n);
        e = errno;
        if (p) {
            size_t want = next_pow2(a);
            if (!want)
                MISMATCH(t, "memalign(%#zx, %#zx) succeeded (%p)", a, n, (void *)p);
            a = want;
        }
        break;
    case 3:
        errno = 0;
        p = f_valloc(n);
        e = errno;
        a = g_page;
        break;
    default:
        errno = 0;
        p = f_pvalloc(n);
        e = errno;
        a = g_page;
        if (p && !imp) {
            /* pvalloc(0) rounds to 0: glibc gives a minimum-size block */
            size_t rounded = (n + g_page - 1) / g_page * g_page;
            if (f_usable(p) < rounded)
                MISMATCH(t, "pvalloc(%zu): usable size %zu < %zu (the page-rounded size)", n, f_usable(p), rounded);
        }
        break;
    }
    int op = (int)(O_ALIGNED_ALLOC + fn - 1);
    uint64_t a_rec = fn >= 3 ? 0 : a;
    if (!p) {
        if (e != ENOMEM && e != EINVAL)
            MISMATCH(t, "%s(%#zx, %#zx) = NULL with errno %d", op_name[op], a, n, e);
        record(t, op, s, a_rec, n, R_NULL, e);
        return;
    }
    if (imp)
        MISMATCH(t, "%s(%#zx, %#zx) succeeded (%p)", op_name[op], a, n, (void *)p);
    record(t, op, s, a_rec, n, R_PTR, 0);
    adopt(t, s, op_name[op], p, n, a ? a : 1, 0, a);
}

/* malloc_usable_size >= request; the slack up to it is written */
static void op_usable(struct thr *t, int s)
{
    struct blk *b = &t->slot[s];
    if (!b->p) {
        size_t u = f_usable(NULL);
        if (u != 0)
            MISMATCH(t, "malloc_usable_size(NULL) = %zu", u);
        record(t, O_USABLE, s, 0, 0, R_DONE, 0);
        return;
    }
    note(t, "malloc_usable_size", b, 0);
    size_t u = f_usable(b->p);
    if (u < b->n)
        MISMATCH(t, "malloc_usable_size(%p) = %zu < requested %zu", (void *)b->p, u, b->n);
    size_t end = u - b->n > MIB ? b->n + MIB : u;
    memset(b->p + b->n, 0xe7, end - b->n);
    verify_blk(t, b, b->n, "after writing the usable slack");
    record(t, O_USABLE, s, b->n, 0, R_DONE, 0);
}

/* realloc of a live 3-8 MiB block to impossible sizes: NULL + ENOMEM, the
 * block intact */
static void op_huge_realloc(struct thr *t, int s)
{
    struct blk *b = &t->slot[s];
    size_t want = 3 * MIB + rnd(t) % (5 * MIB + 1);
    int tries = 1 + (int)(rnd(t) % 3);
    if (!(b->p && b->n >= 3 * MIB) && fit(t, want, 0, b->charge) == want) {
        verify_blk(t, b, b->n, "before realloc");
        errno = 0;
        note(t, "realloc", b, want);
        unsigned char *q = f_realloc(b->p, want);
        after_resize(t, s, O_REALLOC, "realloc", q, errno, want, b->p != NULL, want, 0);
    }
    for (int i = 0; i < tries; i++) {
        size_t n = impossible_size(t);
        int arr = rnd(t) % 4 == 0;
        size_t nn = n, mm = 1;
        if (arr)
            overflow_pair(t, &nn, &mm);
        errno = 0;
        note(t, arr ? "reallocarray" : "realloc", b, n);
        unsigned char *q = arr ? f_reallocarray(b->p, nn, mm) : f_realloc(b->p, n);
        int e = errno;
        if (q)
            MISMATCH(t, "%s(%p [size %zu], %#zx, %#zx) succeeded (%p)", arr ? "reallocarray" : "realloc",
                     (void *)b->p, b->n, nn, mm, (void *)q);
        if (e != ENOMEM)
            MISMATCH(t, "%s(%p [size %zu], %#zx, %#zx) = NULL with errno %d (want ENOMEM)",
                     arr ? "reallocarray" : "realloc", (void *)b->p, b->n, nn, mm, e);
        verify_blk(t, b, b->n, "after a failed huge realloc");
        record(t, O_HUGE_REALLOC, s, nn, mm ^ (uint64_t)b->n << 1, R_NULL, e);
    }
}

/* impossible requests through every entry point: NULL (errno recorded),
 * a live block intact */
static void op_impossible(struct thr *t, int s)
{
    struct blk *b = &t->slot[s];
    size_t n = impossible_size(t), nn, mm;
    overflow_pair(t, &nn, &mm);
    size_t a = (size_t)1 << (3 + rnd(t) % 18);
    int which = (int)(rnd(t) % 13);
    static const char *names[] = {"malloc", "calloc(1,n)", "calloc(n,1)", "calloc(n,m)", "realloc(NULL,n)",
                                  "reallocarray(NULL,n,m)", "realloc(p,n)", "reallocarray(p,n,m)", "valloc",
                                  "pvalloc", "memalign", "aligned_alloc", "posix_memalign"};
    void *q = NULL;
    int r = 0;
    verify_blk(t, b, b->n, "before impossible request");
    note(t, names[which], which == 6 || which == 7 ? b : NULL, n);
    errno = 0;
    switch (which) {
    case 0: q = f_malloc(n); break;
    case 1: q = f_calloc(1, n); break;
    case 2: q = f_calloc(n, 1); break;
    case 3: q = f_calloc(nn, mm); break;
    case 4: q = f_realloc(NULL, n); break;
    case 5: q = f_reallocarray(NULL, nn, mm); break;
    case 6: q = f_realloc(b->p, n); break;
    case 7: q = f_reallocarray(b->p, nn, mm); break;
    case 8: q = f_valloc(n); break;
    case 9: q = f_pvalloc(n); break;
    case 10: q = f_memalign(a, n); break;
    case 11: q = f_aligned_alloc(a, n); break;
    default:
        q = (void *)0x5a5a;
        r = f_posix_memalign(&q, a, n);
        if (r && q != (void *)0x5a5a)
            MISMATCH(t, "posix_memalign(&p, %zu, %#zx) = %d and changed *memptr to %p", a, n, r, q);
        q = r ? NULL : q;
        break;
    }
    int e = which == 12 ? r : errno;
    if (q)
        MISMATCH(t, "%s (n=%#zx, n*m=%#zx*%#zx, align %zu) succeeded (%p)", names[which], n, nn, mm, a, q);
    verify_blk(t, b, b->n, "after failed impossible request");
    int two = which == 3 || which == 5 || which == 7;
    record(t, O_IMPOSSIBLE, s, (uint64_t)which << 56 ^ (two ? nn : n), two ? mm : a, R_NULL, e);
}

/* ------------------------------------------------------------------------ */
/* hand-offs between threads (not recorded beyond a constant token)         */

static void pool_put(struct thr *t, int idx, struct blk b)
{
    struct blk old = {0};
    int kept = 0;
    pthread_mutex_lock(&pool.mu);
    size_t cur = pool.e[idx].p ? pool.e[idx].n : 0;
    if (pool.bytes - cur + b.n <= POOL_CAP) {
        old = pool.e[idx];
        pool.bytes = pool.bytes - cur + b.n;
        pool.e[idx] = b;
        kept = 1;
    }
    pthread_mutex_unlock(&pool.mu);
    if (!kept)
        old = b; /* over the cap: free it here */
    if (old.p) {
        verify_blk(NULL, &old, old.n, "handed-off block before free");
        checked_free(t, &old, "free of a handed-off block");
    }
}

static void op_give(struct thr *t, int s)
{
    int idx = (int)(rnd(t) % POOL);
    struct blk *b = &t->slot[s];
    int had = b->p != NULL;
    if (had) {
        verify_blk(t, b, b->n, "before hand-off");
        struct blk copy = *b;
        copy.charge = 0;
        set_slot(t, s, NULL, 0, 0, 0);
        pool_put(t, idx, copy);
        t->given++;
    }
    record(t, O_GIVE, s, had, 0, R_DONE, 0);
}

static void op_take(struct thr *t)
{
    /* a fixed number of draws, whatever the pool holds */
    int idx = (int)(rnd(t) % POOL), idx2 = (int)(rnd(t) % POOL);
    uint64_t action = rnd(t) % 100;
    uint64_t r1 = rnd(t), r2 = rnd(t);
    size_t imp_n = impossible_size(t);
    struct blk b;
    pthread_mutex_lock(&pool.mu);
    b = pool.e[idx];
    if (b.p) {
        pool.bytes -= b.n;
        pool.e[idx].p = NULL;
        pool.e[idx].n = 0;
    }
    pthread_mutex_unlock(&pool.mu);
    record(t, O_TAKE, -1, 0, 0, R_DONE, 0);
    if (!b.p) {
        t->take_empty++;
        return;
    }
    t->taken++;
    verify_blk(NULL, &b, b.n, "handed-off block when taken");
    if (action < 35) {
        size_t n = (r1 % 100 < 97) ? r2 % SMALL_MAX : r2 % (4 * MIB);
        errno = 0;
        note(t, "realloc (handed-off block)", &b, n);
        unsigned char *q = f_realloc(b.p, n);
        if (!q) {
            if (n == 0)
                return; /* freed */
            MISMATCH(t, "realloc of a handed-off block (%zu -> %zu) failed, errno %d", b.n, n, errno);
        }
        check_fresh(t, "realloc (handed-off block)", q, n, 16, 0);
        size_t keep = b.n < n ? b.n : n;
        size_t bad = check_range(q, b.tag, keep);
        if (bad != NONE)
            CORRUPT(t, "realloc of a handed-off block (%zu -> %zu) lost content at offset %zu", b.n, n, bad);
        fill_range(q, b.tag, keep, n);
        b.p = q;
        b.n = n;
        pool_put(t, idx2, b);
        return;
    }
    if (action < 50) {
        size_t n = imp_n;
        errno = 0;
        note(t, "realloc (handed-off block)", &b, n);
        unsigned char *q = f_realloc(b.p, n);
        int e = errno;
        if (q || e != ENOMEM)
            MISMATCH(t, "realloc(handed-off %p [size %zu], %#zx) = %p errno %d (want NULL, ENOMEM)", (void *)b.p,
                     b.n, n, (void *)q, e);
        verify_blk(NULL, &b, b.n, "handed-off block after a failed realloc");
    } else if (action < 60) {
        note(t, "malloc_usable_size (handed-off block)", &b, 0);
        size_t u = f_usable(b.p);
        if (u < b.n)
            MISMATCH(t, "malloc_usable_size(handed-off %p) = %zu < %zu", (void *)b.p, u, b.n);
    }
    checked_free(t, &b, "free of a handed-off block");
}

/* ------------------------------------------------------------------------ */

static void *worker(void *arg)
{
    struct thr *t = arg;
    for (t->op = 0; t->op < t->nops; t->op++) {
        if (t->op % CKPT == 0 && t->op)
            t->ckpt[t->nckpt++] = t->hash;
        int s = (int)(rnd(t) % NSLOTS);
        uint64_t k = rnd(t) % 1000;
        if (k < 170)
            op_malloc(t, s);
        else if (k < 250)
            op_calloc(t, s);
        else if (k < 420)
            op_realloc(t, s);
        else if (k < 470)
            op_reallocarray(t, s);
        else if (k < 610)
            op_free(t, s);
        else if (k < 620) {
            checked_free(t, NULL, "free(NULL)");
            record(t, O_FREE_NULL, -1, 0, 0, R_DONE, 0);
        } else if (k < 760)
            op_aligned(t, s);
        else if (k < 800)
            op_usable(t, s);
        else if (k < 840) {
            verify_blk(t, &t->slot[s], t->slot[s].n, "verify");
            record(t, O_VERIFY, s, t->slot[s].n, 0, R_DONE, 0);
        } else if (k < 843)
            op_huge_realloc(t, s);
        else if (k < 900)
            op_impossible(t, s);
        else if (g_threads > 1) {
            if (k < 950)
                op_give(t, s);
            else
                op_take(t);
        } else {
            verify_blk(t, &t->slot[s], t->slot[s].n, "verify");
            record(t, O_VERIFY, s, t->slot[s].n, 0, R_DONE, 0);
        }
    }
    for (int s = 0; s < NSLOTS; s++)
        free_slot(t, s, O_FINAL_FREE);
    return NULL;
}

/* a crash (the allocator aborting, or a fault): print what each thread was
 * calling, and where that block came from, then die of the signal */
static struct thr thr_store[MAXT];

static void crash_handler(int sig)
{
    char buf[400];
    int n = snprintf(buf, sizeof buf, "CRASH signal %d seed=%" PRIu64 " threads=%d; each thread's last allocator call:\n",
                     sig, g_seed, g_threads);
    write(2, buf, (size_t)n);
    for (int i = 0; i < g_threads; i++) {
        struct thr *t = &thr_store[i];
        n = snprintf(buf, sizeof buf,
                     "  thread %d op#%ld: %s(ptr %p, size %zu, arg %#zx); block from thread %d op#%ld %s\n", i,
                     t->op, t->last.fn ? t->last.fn : "-", t->last.p, t->last.n, t->last.arg, t->last.born_thr,
                     t->last.born_op, t->last.born_fn ? t->last.born_fn : "-");
        write(2, buf, (size_t)n);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--which-malloc") == 0) {
        print_which_malloc();
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEED [THREADS=1] [OPS=100000] [trace]\n       %s --which-malloc\n", argv[0],
                argv[0]);
        return 2;
    }
    g_seed = strtoull(argv[1], NULL, 0);
    g_threads = argc > 2 ? atoi(argv[2]) : 1;
    long nops = argc > 3 ? atol(argv[3]) : 100000;
    g_trace = argc > 4 && strcmp(argv[4], "trace") == 0;
    if (g_threads < 1 || g_threads > MAXT || nops < 1 || nops / CKPT >= MAXCKPT) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    const char *tol = getenv("DIFF_TOLERATE_FREE_ERRNO");
    g_tolerate_free_errno = tol && *tol && strcmp(tol, "0") != 0;
    init_sizes();
    if (g_trace)
        setvbuf(stdout, NULL, _IOLBF, 0);

    /* the thread records (large: the slot tables and checkpoints) come from
     * mmap-free static-ish storage: calloc under the allocator under test is
     * fine too, but keep them out of the transcript's influence */
    struct thr *ts = thr_store;
    signal(SIGABRT, crash_handler);
    signal(SIGSEGV, crash_handler);
    signal(SIGBUS, crash_handler);
    for (int i = 0; i < g_threads; i++) {
        struct thr *t = &ts[i];
        t->id = i;
        t->nops = nops;
        t->rng = mix64(g_seed * 0x2545F4914F6CDD1DULL + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL) | 1;
        t->hash = 0xcbf29ce484222325ULL;
    }
    if (g_threads == 1) {
        worker(&ts[0]);
    } else {
        for (int i = 0; i < g_threads; i++)
            if (pthread_create(&ts[i].th, NULL, worker, &ts[i]) != 0) {
                fprintf(stderr, "MISMATCH pthread_create failed\n");
                return 1;
            }
        for (int i = 0; i < g_threads; i++)
            pthread_join(ts[i].th, NULL);
    }
    /* what the pool still holds */
    long left = 0;
    for (int i = 0; i < POOL; i++)
        if (pool.e[i].p) {
            verify_blk(NULL, &pool.e[i], pool.e[i].n, "handed-off block left in the pool");
            f_free(pool.e[i].p);
            left++;
        }

    printf("differential seed=%" PRIu64 " threads=%d ops=%ld\n", g_seed, g_threads, nops);
    uint64_t total = 0;
    long ops = 0;
    for (int i = 0; i < g_threads; i++) {
        struct thr *t = &ts[i];
        for (int c = 0; c < t->nckpt; c++)
            printf("t%d ckpt %ld hash=%016" PRIx64 "\n", i, (long)(c + 1) * CKPT, t->ckpt[c]);
        printf("t%d end ops=%ld ptr=%ld null=%ld enomem=%ld einval=%ld normalised=%ld verified=%" PRIu64
               " hash=%016" PRIx64 "\n",
               i, t->op, t->n_ptr, t->n_null, t->n_enomem, t->n_einval, t->n_norm, t->verified, t->hash);
        total = mix64(total ^ t->hash);
        ops += t->op;
    }
    printf("total ops=%ld hash=%016" PRIx64 "\n", ops, total);
    long given = 0, taken = 0, empty = 0;
    for (int i = 0; i < g_threads; i++) {
        given += ts[i].given;
        taken += ts[i].taken;
        empty += ts[i].take_empty;
    }
    if (g_free_errno_changes)
        fprintf(stderr, "note: free changed errno %ld times (first to %d); tolerated (DIFF_TOLERATE_FREE_ERRNO)\n",
                g_free_errno_changes, g_free_errno_first);
    if (g_threads > 1)
        fprintf(stderr, "hand-offs: %ld given, %ld taken (%ld takes found the entry empty), %ld left in the pool\n",
                given, taken, empty, left);
    return 0;
}
