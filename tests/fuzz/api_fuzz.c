/*
 * api_fuzz.c - libFuzzer target for the allocator's C API.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer -o api_fuzz api_fuzz.c -ldl
 *        (the link exports this file's mmap/munmap/mremap, as a library in
 *        it refers to them; -rdynamic would force it. Were they not
 *        exported, the resident check falls back to a weaker one.)
 * Run:   SWALLOC_LIB=/abs/libswalloc.so ./api_fuzz [libFuzzer flags] [CORPUS...]
 *        (tests/fuzz/run-fuzz.sh LIB SECONDS does both)
 *
 * The library is loaded with dlopen(RTLD_NOW | RTLD_LOCAL) and called
 * through its swalloc_* symbols, so libFuzzer's own malloc stays glibc's.
 *
 * The input is a sequence of operations on a table of 64 slots, each slot
 * empty or holding one live block (pointer, requested size, alignment, how
 * it was made). An operation is one byte (the operation) and one byte (the
 * slot), then whatever it needs (sizes, alignments), all read from the
 * input; a truncated input reads zeros. Operations: malloc, calloc,
 * realloc (to 0, from NULL, grow, shrink), reallocarray (incl. overflow),
 * posix_memalign / aligned_alloc / memalign with power-of-two alignments
 * up to 1 MiB and sometimes invalid ones (EINVAL / NULL expected), free,
 * free_sized / free_aligned_sized with the right size, malloc_usable_size,
 * requests that must fail (> PTRDIFF_MAX, calloc overflow), mallocx
 * through two explicit thread caches (tcache.create; with an alignment or
 * MALLOCX_ZERO now and then) and dallocx into either, and control
 * operations (mallctl: tcache flush / off / on, thread.arena, purge, decay,
 * malloc_trim, thread.allocated never going backwards, tcache.flush /
 * tcache.destroy of an explicit cache).
 *
 * Invariants, checked after every operation that touches a block:
 *   - every block is filled (whole usable size; the head, tail and a few
 *     bytes per page for big blocks) with a pattern of its slot and size
 *     class generation and verified before realloc and free;
 *   - realloc keeps min(old, new) requested bytes;
 *   - calloc memory is zero;
 *   - the alignment asked for is honoured, the 16-byte minimum always;
 *   - malloc_usable_size >= the requested size;
 *   - failures set the documented error (ENOMEM / EINVAL).
 * After arena.<i>.purge and malloc_trim, stats.resident (read after
 * "epoch") must agree with the kernel's figure for swalloc's own mappings
 * within max(1%, 256 KiB) (see "the kernel's figure" below).
 * A violation prints what happened and abort()s, so libFuzzer saves the
 * input as a crash file.
 *
 * Sizes: mostly small (< 1 KiB), sometimes up to 256 KiB, rarely up to
 * ~8 MiB; live memory is bounded by the 64 slots.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Set while a call into swalloc is in progress on this thread: only the
 * mappings made then are swalloc's (libFuzzer and glibc map memory too). */
static __thread int in_swalloc;
#define ENTER() (in_swalloc++)
#define LEAVE() (in_swalloc--)

static void *(*p_malloc)(size_t);
static void *(*p_calloc)(size_t, size_t);
static void *(*p_realloc)(void *, size_t);
static void *(*p_reallocarray)(void *, size_t, size_t);
static void (*p_free)(void *);
static int (*p_posix_memalign)(void **, size_t, size_t);
static void *(*p_aligned_alloc)(size_t, size_t);
static void *(*p_memalign)(size_t, size_t);
static size_t (*p_usable)(void *);
static void (*p_free_sized)(void *, size_t);
static void (*p_free_aligned_sized)(void *, size_t, size_t);

static int (*p_mallctl)(const char *, void *, size_t *, void *, size_t);
static int (*p_malloc_trim)(size_t);
static void *(*p_mallocx)(size_t, int);
static void (*p_dallocx)(void *, int);

/* The calls into swalloc, each with in_swalloc set (errno passes through). */
static void *s_malloc(size_t n) { ENTER(); void *r = p_malloc(n); LEAVE(); return r; }
static void *s_calloc(size_t c, size_t n) { ENTER(); void *r = p_calloc(c, n); LEAVE(); return r; }
static void *s_realloc(void *p, size_t n) { ENTER(); void *r = p_realloc(p, n); LEAVE(); return r; }
static void *s_reallocarray(void *p, size_t c, size_t n) { ENTER(); void *r = p_reallocarray(p, c, n); LEAVE(); return r; }
static void s_free(void *p) { ENTER(); p_free(p); LEAVE(); }
static int s_posix_memalign(void **q, size_t a, size_t n) { ENTER(); int r = p_posix_memalign(q, a, n); LEAVE(); return r; }
static void *s_aligned_alloc(size_t a, size_t n) { ENTER(); void *r = p_aligned_alloc(a, n); LEAVE(); return r; }
static void *s_memalign(size_t a, size_t n) { ENTER(); void *r = p_memalign(a, n); LEAVE(); return r; }
static size_t s_usable(void *p) { ENTER(); size_t r = p_usable(p); LEAVE(); return r; }
static void s_free_sized(void *p, size_t n) { ENTER(); p_free_sized(p, n); LEAVE(); }
static void s_free_aligned_sized(void *p, size_t a, size_t n) { ENTER(); p_free_aligned_sized(p, a, n); LEAVE(); }
static int s_mallctl(const char *name, void *o, size_t *ol, void *n, size_t nl)
{
    ENTER();
    int r = p_mallctl(name, o, ol, n, nl);
    LEAVE();
    return r;
}
static int s_malloc_trim(size_t pad) { ENTER(); int r = p_malloc_trim(pad); LEAVE(); return r; }
static void *s_mallocx(size_t n, int flags) { ENTER(); void *r = p_mallocx(n, flags); LEAVE(); return r; }
static void s_dallocx(void *p, int flags) { ENTER(); p_dallocx(p, flags); LEAVE(); }

/* ---------------------------------------------------------------------- */
/* the kernel's figure for swalloc's mappings                              */
/* The kernel's figure for swalloc's own memory, as in tests/memtruth/memtruth.c:
 * this executable defines mmap, munmap and mremap (exported from the
 * executable - checked at start-up - so the library's calls, which go
 * through the dynamic linker, bind to them; glibc's own calls do not).
 * Only mappings made while a call into swalloc is in progress are
 * swalloc's (libFuzzer and glibc map memory too). */
#define TRACKER_RECORD_MMAP in_swalloc
#define TRACKER_RECORD_MREMAP in_swalloc
#include "../lib/mmap_tracker.h"

static int tracking; /* the library's mmap/munmap/mremap are these */

static unsigned char mc_vec[1 << 16];

/* resident bytes of the recorded ranges, by mincore */
static size_t kernel_resident(size_t *ranges, size_t *bytes)
{
    size_t pages = 0, total = 0, pg = 4096;
    trk_lock();
    for (size_t k = 0; k < trk_n; k++) {
        uintptr_t s = trk[k].s, e = trk[k].e;
        total += e - s;
        while (s < e) {
            size_t n = (e - s) / pg;
            if (n > sizeof mc_vec) n = sizeof mc_vec;
            if (mincore((void *)s, n * pg, mc_vec) == 0) {
                for (size_t i = 0; i < n; i++) pages += mc_vec[i] & 1;
            } else { /* a hole: page by page */
                for (size_t i = 0; i < n; i++)
                    if (mincore((void *)(s + i * pg), pg, mc_vec) == 0) pages += mc_vec[0] & 1;
            }
            s += n * pg;
        }
    }
    *ranges = trk_n;
    trk_unlock();
    *bytes = total;
    return pages * pg;
}

static void *resolve(void *h, const char *name)
{
    void *f = dlsym(h, name);
    if (!f) {
        fprintf(stderr, "api_fuzz: %s not found in SWALLOC_LIB\n", name);
        exit(2);
    }
    return f;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("SWALLOC_LIB");
    if (!path || !*path) {
        fprintf(stderr, "api_fuzz: set SWALLOC_LIB to the library's path\n");
        exit(2);
    }
    /* the library's mmap/munmap/mremap bind to this file's only when the
     * executable exports them (-rdynamic) */
    tracking = dlsym(RTLD_DEFAULT, "mmap") == (void *)mmap && dlsym(RTLD_DEFAULT, "munmap") == (void *)munmap &&
               dlsym(RTLD_DEFAULT, "mremap") == (void *)mremap;
    if (!tracking)
        fprintf(stderr, "api_fuzz: NOTE mmap is not interposed (the executable does not export it; "
                        "link with -rdynamic): stats.resident gets the weaker check only\n");
    ENTER(); /* the constructor's mappings are swalloc's */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    LEAVE();
    if (!h) {
        fprintf(stderr, "api_fuzz: dlopen(%s): %s\n", path, dlerror());
        exit(2);
    }
    p_malloc = resolve(h, "swalloc_malloc");
    p_calloc = resolve(h, "swalloc_calloc");
    p_realloc = resolve(h, "swalloc_realloc");
    p_reallocarray = resolve(h, "swalloc_reallocarray");
    p_free = resolve(h, "swalloc_free");
    p_posix_memalign = resolve(h, "swalloc_posix_memalign");
    p_aligned_alloc = resolve(h, "swalloc_aligned_alloc");
    p_memalign = resolve(h, "swalloc_memalign");
    p_usable = resolve(h, "swalloc_malloc_usable_size");
    p_free_sized = resolve(h, "swalloc_free_sized");
    p_free_aligned_sized = resolve(h, "swalloc_free_aligned_sized");
    p_mallctl = resolve(h, "swalloc_mallctl");
    p_malloc_trim = resolve(h, "swalloc_malloc_trim");
    p_mallocx = resolve(h, "swalloc_mallocx");
    p_dallocx = resolve(h, "swalloc_dallocx");
    return 0;
}

/* ---------------------------------------------------------------------- */

enum kind { K_MALLOC, K_CALLOC, K_REALLOC, K_POSIX_MEMALIGN, K_ALIGNED_ALLOC, K_MEMALIGN, K_MALLOCX };
static const char *kind_name[] = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign",
                                  "mallocx(MALLOCX_TCACHE)"};

/* Explicit thread caches (tcache.create), kept from input to input: a
 * block allocated through one may be freed into any live one, or by free. */
#define NCACHES 2
static unsigned ecache[NCACHES];
static int ecache_live[NCACHES];
#define MALLOCX_TCACHE_FLAG(tc) ((int)(((tc) + 2) << 8))

typedef struct {
    unsigned char *p;
    size_t size;   /* requested */
    size_t filled; /* bytes covered by the pattern (the usable size) */
    size_t align;
    enum kind kind;
} slot_t;

#define NSLOTS 64
static slot_t slots[NSLOTS];
static unsigned long op_index;

#define BUG(...)                                                             \
    do {                                                                     \
        fprintf(stderr, "api_fuzz: BUG at operation %lu: ", op_index);      \
        fprintf(stderr, __VA_ARGS__);                                        \
        fprintf(stderr, "\n");                                               \
        abort();                                                             \
    } while (0)

static inline unsigned char pat(int slot, size_t i) { return (unsigned char)(slot * 37 + 11 + i * 13 + (i >> 12)); }

/* Visits the offsets of the pattern of an n-byte block: all of it up to
 * 64 KiB, else the first and last 4 KiB and 16 bytes of each page. */
#define FOR_PATTERN(n, i, body)                                              \
    do {                                                                     \
        size_t n_ = (n);                                                     \
        if (n_ <= 65536) {                                                   \
            for (size_t i = 0; i < n_; i++) body;                            \
        } else {                                                             \
            for (size_t i = 0; i < 4096; i++) body;                          \
            for (size_t pg_ = 4096; pg_ + 16 <= n_ - 4096; pg_ += 4096)      \
                for (size_t i = pg_; i < pg_ + 16; i++) body;                \
            for (size_t i = n_ - 4096; i < n_; i++) body;                    \
        }                                                                    \
    } while (0)

static void fill(int s, unsigned char *p, size_t n) { FOR_PATTERN(n, i, p[i] = pat(s, i)); }

/* Checks the pattern of slot s at the positions its last fill covered
 * (b->filled bytes), below `limit`. */
static void verify(int s, size_t limit, const char *when)
{
    slot_t *b = &slots[s];
    unsigned char *p = b->p;
    size_t n = b->filled;
    FOR_PATTERN(n, i, {
        if (i < limit && p[i] != pat(s, i))
            BUG("%s: slot %d block %p (%s of %zu, usable %zu, align %zu) byte %zu is 0x%02x, expected 0x%02x", when,
                s, (void *)p, kind_name[b->kind], b->size, b->filled, b->align, i, p[i], pat(s, i));
    });
}

static void zero_check(const unsigned char *p, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) BUG("%s of %zu bytes: byte %zu is 0x%02x, not zero", what, n, i, p[i]);
}

/* Records a fresh block in slot s: usable size, alignment, fill. */
static void adopt(int s, void *p, size_t n, size_t align, enum kind k)
{
    slot_t *b = &slots[s];
    if ((uintptr_t)p % 16) BUG("%s(%zu) = %p: not 16-byte aligned", kind_name[k], n, p);
    if (align && (uintptr_t)p % align) BUG("%s(align %zu, %zu) = %p: not aligned", kind_name[k], align, n, p);
    size_t u = s_usable(p);
    if (u < n) BUG("%s(%zu) = %p: malloc_usable_size %zu < requested", kind_name[k], n, p, u);
    if (!align && u > n + n / 4 + 4096 && u > 2 * n + 64)
        BUG("%s(%zu) = %p: malloc_usable_size %zu is far above the request", kind_name[k], n, p, u);
    b->p = p;
    b->size = n;
    b->align = align;
    b->kind = k;
    b->filled = u;
    fill(s, p, u);
}

static void release(int s, int how)
{
    slot_t *b = &slots[s];
    if (!b->p) return;
    verify(s, b->filled, "before free");
    /* C23: free_sized for malloc/calloc/realloc blocks, free_aligned_sized
     * for aligned_alloc blocks; plain free for the rest */
    int c = s % NCACHES;
    if (how == 2 && ecache_live[c])
        s_dallocx(b->p, MALLOCX_TCACHE_FLAG(ecache[c]));
    else if (how == 1 && (b->kind == K_MALLOC || b->kind == K_CALLOC || b->kind == K_REALLOC))
        s_free_sized(b->p, b->size);
    else if (how == 1 && b->kind == K_ALIGNED_ALLOC)
        s_free_aligned_sized(b->p, b->align, b->size);
    else
        s_free(b->p);
    b->p = NULL;
}

/* ---------------------------------------------------------------------- */
/* the input                                                               */

typedef struct {
    const uint8_t *d;
    size_t n, i;
} input_t;

static unsigned u8(input_t *in) { return in->i < in->n ? in->d[in->i++] : 0; }
static unsigned u16(input_t *in) { return u8(in) | u8(in) << 8; }
static uint32_t u24(input_t *in) { return u16(in) | (uint32_t)u8(in) << 16; }

/* Mostly small, sometimes large, rarely huge (up to ~8 MiB). */
static size_t size_of(input_t *in)
{
    unsigned sel = u8(in);
    if (sel < 160) return u16(in) % 1024;
    if (sel < 200) return u16(in) % 16384;
    if (sel < 240) return u24(in) % (256 * 1024);
    if (sel < 252) return u24(in) % (2u << 20) + (1u << 20);
    return u24(in) % (6u << 20) + (2u << 20) + (u8(in) % 2 ? 1 : 0);
}

static size_t align_of(input_t *in) { return (size_t)1 << (u8(in) % 21); } /* 1 .. 1 MiB */

static void op_malloc(int s, input_t *in)
{
    release(s, 0);
    size_t n = size_of(in);
    void *p = s_malloc(n);
    if (!p) BUG("malloc(%zu) failed (errno %d)", n, errno);
    adopt(s, p, n, 0, K_MALLOC);
}

static void op_calloc(int s, input_t *in)
{
    release(s, 0);
    size_t n = size_of(in);
    size_t m = 1 + u8(in) % 8; /* n split into m elements when it divides */
    size_t cnt = n % m == 0 ? n / m : n, sz = n % m == 0 ? m : 1;
    unsigned char *p = s_calloc(cnt, sz);
    if (!p) BUG("calloc(%zu, %zu) failed (errno %d)", cnt, sz, errno);
    /* the whole usable size need not be zero, the request must */
    zero_check(p, n, "calloc");
    adopt(s, p, n, 0, K_CALLOC);
}

static void op_realloc(int s, input_t *in)
{
    slot_t *b = &slots[s];
    unsigned how = u8(in) % 16;
    if (how == 0 && b->p) {
        /* realloc(p, 0): frees p, returns NULL (glibc) */
        verify(s, b->filled, "before realloc(p, 0)");
        errno = 0;
        void *q = s_realloc(b->p, 0);
        if (q != NULL) BUG("realloc(%p, 0) = %p, expected NULL (glibc semantics)", (void *)b->p, q);
        b->p = NULL;
        return;
    }
    size_t n = size_of(in);
    if (!b->p) {
        void *q = s_realloc(NULL, n);
        if (!q) BUG("realloc(NULL, %zu) failed (errno %d)", n, errno);
        adopt(s, q, n, 0, K_REALLOC);
        return;
    }
    verify(s, b->filled, "before realloc");
    size_t keep = n < b->size ? n : b->size;
    unsigned char *q = s_realloc(b->p, n);
    if (!q && n) BUG("realloc(%p, %zu -> %zu) failed (errno %d)", (void *)b->p, b->size, n, errno);
    if (!q) { /* realloc(p, 0) through size_of */
        b->p = NULL;
        return;
    }
    b->p = q; /* b->filled stays: the positions the old pattern covered */
    verify(s, keep, "after realloc");
    /* realloc keeps only the 16-byte guarantee */
    adopt(s, q, n, 0, K_REALLOC);
}

static void op_reallocarray(int s, input_t *in)
{
    slot_t *b = &slots[s];
    unsigned mode = u8(in);
    if (mode % 8 == 0) {
        /* overflow: NULL + ENOMEM, the block untouched */
        errno = 0;
        void *q = s_reallocarray(b->p, SIZE_MAX / 2 + 2, 2);
        if (q || errno != ENOMEM) BUG("reallocarray overflow = %p, errno %d (expected NULL, ENOMEM)", q, errno);
        if (b->p) verify(s, b->filled, "after failed reallocarray");
        return;
    }
    size_t n = size_of(in);
    size_t m = 1 + mode % 8;
    size_t cnt = n % m == 0 ? n / m : n, sz = n % m == 0 ? m : 1;
    if (b->p) verify(s, b->filled, "before reallocarray");
    size_t keep = b->p ? (n < b->size ? n : b->size) : 0;
    unsigned char *q = s_reallocarray(b->p, cnt, sz);
    if (!q && n) BUG("reallocarray(%p, %zu, %zu) failed (errno %d)", (void *)b->p, cnt, sz, errno);
    if (!q) {
        /* reallocarray(p, 0, x) is realloc(p, 0): p is freed */
        b->p = NULL;
        return;
    }
    if (b->p) {
        b->p = q;
        verify(s, keep, "after reallocarray");
    }
    adopt(s, q, n, 0, K_REALLOC);
}

static void op_aligned(int s, input_t *in)
{
    release(s, 0);
    unsigned which = u8(in) % 3;
    size_t al = align_of(in);
    size_t n = size_of(in);
    int invalid = u8(in) % 16 == 0;
    if (invalid) {
        /* not a power of two (or below sizeof(void *) for posix_memalign) */
        size_t bad = al < 8 ? (which == 0 ? al : 3) : al + al / 2;
        if (bad == 1 && which != 0) bad = 3;
        errno = 0;
        if (which == 0) {
            void *sentinel = (void *)0x1234, *q = sentinel;
            int rc = s_posix_memalign(&q, bad, n);
            if (rc != EINVAL) BUG("posix_memalign(align %zu) = %d, expected EINVAL", bad, rc);
            if (q != sentinel) BUG("posix_memalign(align %zu) failed but changed *memptr", bad);
        } else if (which == 1) {
            void *q = s_aligned_alloc(bad, n);
            if (q || errno != EINVAL) BUG("aligned_alloc(align %zu) = %p errno %d, expected NULL EINVAL", bad, q, errno);
        } else {
            /* memalign rounds a non-power-of-two alignment up (glibc) */
            size_t up = 1;
            while (up < bad) up <<= 1;
            void *q = s_memalign(bad, n);
            if (!q) BUG("memalign(%zu, %zu) failed", bad, n);
            adopt(s, q, n, up < 16 ? 0 : up, K_MEMALIGN);
        }
        return;
    }
    void *q = NULL;
    if (which == 0) {
        if (al < sizeof(void *)) al = sizeof(void *);
        int rc = s_posix_memalign(&q, al, n);
        if (rc != 0) BUG("posix_memalign(%zu, %zu) = %d", al, n, rc);
        adopt(s, q, n, al, K_POSIX_MEMALIGN);
    } else if (which == 1) {
        q = s_aligned_alloc(al, n);
        if (!q) BUG("aligned_alloc(%zu, %zu) failed (errno %d)", al, n, errno);
        adopt(s, q, n, al, K_ALIGNED_ALLOC);
    } else {
        q = s_memalign(al, n);
        if (!q) BUG("memalign(%zu, %zu) failed (errno %d)", al, n, errno);
        adopt(s, q, n, al, K_MEMALIGN);
    }
}

static void op_usable(int s)
{
    slot_t *b = &slots[s];
    if (!b->p) return;
    size_t u = s_usable(b->p);
    if (u < b->size || u != b->filled)
        BUG("malloc_usable_size(%p) = %zu changed (was %zu, requested %zu)", (void *)b->p, u, b->filled, b->size);
    verify(s, b->filled, "usable-size check");
}

static void op_must_fail(input_t *in)
{
    unsigned w = u8(in) % 4;
    errno = 0;
    void *q;
    const char *what;
    if (w == 0) {
        q = s_malloc((size_t)PTRDIFF_MAX + 1 + u8(in));
        what = "malloc(> PTRDIFF_MAX)";
    } else if (w == 1) {
        q = s_calloc(SIZE_MAX / 16 + 1 + u8(in), 16);
        what = "calloc overflow";
    } else if (w == 2) {
        q = s_realloc(NULL, SIZE_MAX - u8(in));
        what = "realloc(NULL, ~SIZE_MAX)";
    } else {
        q = s_aligned_alloc(64, SIZE_MAX - 32 - u8(in));
        what = "aligned_alloc(64, ~SIZE_MAX)";
    }
    if (q || errno != ENOMEM) BUG("%s = %p errno %d, expected NULL ENOMEM", what, q, errno);
}

/* stats.resident against the kernel, after purge and malloc_trim.
 *
 * With the mmap tracker (tracking): |stats.resident - kernel| <=
 * max(1% of kernel, 256 KiB), kernel = the resident bytes of the ranges
 * swalloc mapped. Without it (the executable does not export mmap, so the
 * library's calls go straight to libc and nothing is recorded) only a
 * weaker bound holds, and it is checked in both cases: the live blocks of
 * the slot table are all filled (every page of each touched), so
 * stats.resident >= their filled bytes, and stats.resident <= stats.mapped. */
static size_t ctl_size(const char *name)
{
    size_t v = 0, len = sizeof v;
    if (s_mallctl(name, &v, &len, NULL, 0) != 0) BUG("mallctl(%s) unreadable", name);
    return v;
}

static void read_resident(size_t *resident, size_t *mapped)
{
    uint64_t e = 1;
    size_t len = sizeof e;
    if (s_mallctl("epoch", &e, &len, &e, sizeof e) != 0) BUG("mallctl(epoch) failed");
    *resident = ctl_size("stats.resident");
    *mapped = ctl_size("stats.mapped");
}

#define RESIDENT_SLACK 0 /* a deliberate offset, only to see the check fail */

static void check_resident(const char *after)
{
    size_t live = 0;
    for (int s = 0; s < NSLOTS; s++)
        if (slots[s].p) live += slots[s].filled;
    size_t resident = 0, mapped = 0, kernel = 0, ranges = 0, bytes = 0, again = 0, mapped2 = 0;
    /* the statistics and the kernel figure of the same moment: a
     * background purge could run in between (not in a single-threaded
     * program by default), then measure again */
    for (int tries = 0; tries < 5; tries++) {
        read_resident(&resident, &mapped);
        if (tracking) kernel = kernel_resident(&ranges, &bytes);
        read_resident(&again, &mapped2);
        if (again == resident && mapped2 == mapped) break;
    }
    if (resident > mapped) BUG("after %s: stats.resident %zu > stats.mapped %zu", after, resident, mapped);
    if (resident < live)
        BUG("after %s: stats.resident %zu < the %zu bytes written in the live blocks (stats.mapped %zu)", after,
            resident, live, mapped);
    if (!tracking || trk_overflow) return;
    size_t measured = resident + RESIDENT_SLACK;
    size_t tol = kernel / 100 > 256 * 1024 ? kernel / 100 : 256 * 1024;
    size_t diff = measured > kernel ? measured - kernel : kernel - measured;
    if (diff > tol)
        BUG("after %s: stats.resident %zu KiB vs the kernel's %zu KiB for swalloc's %zu mappings (%zu KiB mapped, "
            "%lu recorded in all): diff %+ld KiB > %zu KiB; stats.mapped %zu KiB, live blocks %zu KiB written",
            after, measured / 1024, kernel / 1024, ranges, bytes / 1024, trk_maps,
            ((long)measured - (long)kernel) / 1024, tol / 1024, mapped / 1024, live / 1024);
}

/* Control operations between allocations: flushing or turning off the
 * thread cache, moving the thread to another arena, purging, decay steps,
 * malloc_trim, arenas.lookup of a byte of a live block. None may disturb a
 * live block, and thread.allocated / thread.deallocated never go
 * backwards. */
static uint64_t last_allocated, last_deallocated;

/* mallocx through explicit cache c (made here when it is not live), with
 * an alignment or MALLOCX_ZERO now and then. */
static void op_mallocx_cached(int s, input_t *in)
{
    release(s, 2);
    int c = (int)(u8(in) % NCACHES);
    if (!ecache_live[c]) {
        size_t len = sizeof ecache[c];
        if (s_mallctl("tcache.create", &ecache[c], &len, NULL, 0) != 0) BUG("tcache.create failed");
        ecache_live[c] = 1;
    }
    size_t n = size_of(in);
    unsigned sel = u8(in);
    size_t align = sel % 4 == 0 ? (size_t)1 << (4 + u8(in) % 9) : 0; /* 16 B .. 4 KiB */
    int zero = sel % 4 == 1;
    int flags = MALLOCX_TCACHE_FLAG(ecache[c]) | (align ? __builtin_ctzl(align) : 0) | (zero ? 0x40 : 0);
    unsigned char *p = s_mallocx(n, flags);
    if (!p) BUG("mallocx(%zu, MALLOCX_TCACHE(%u)%s) failed (errno %d)", n, ecache[c], zero ? " | ZERO" : "", errno);
    if (zero) zero_check(p, s_usable(p), "mallocx(MALLOCX_TCACHE | MALLOCX_ZERO)");
    adopt(s, p, n, align, K_MALLOCX);
}

/* tcache.flush or tcache.destroy of explicit cache c: live blocks made
 * through it stay valid (checked after every control operation). */
static int op_cache_control(input_t *in, const char **what)
{
    int c = (int)(u8(in) % NCACHES);
    if (!ecache_live[c]) return 0;
    int destroy = u8(in) % 2;
    *what = destroy ? "tcache.destroy" : "tcache.flush";
    int rc = s_mallctl(*what, NULL, NULL, &ecache[c], sizeof ecache[c]);
    if (rc == 0 && destroy) ecache_live[c] = 0;
    return rc;
}

static void op_control(input_t *in)
{
    unsigned w = u8(in) % 9;
    int rc = 0;
    const char *what = "?";
    if (w == 0) {
        what = "thread.tcache.flush";
        rc = s_mallctl(what, NULL, NULL, NULL, 0);
        if (rc == EFAULT) { /* a thread without a cache (jemalloc's answer): only when it is off */
            _Bool on = 1;
            size_t len = sizeof on;
            if (s_mallctl("thread.tcache.enabled", &on, &len, NULL, 0) == 0 && !on) rc = 0;
        }
    } else if (w == 1 || w == 2) {
        _Bool on = w == 2;
        what = "thread.tcache.enabled";
        rc = s_mallctl(what, NULL, NULL, &on, sizeof on);
    } else if (w == 3) {
        unsigned n = 0;
        size_t len = sizeof n;
        if (s_mallctl("arenas.narenas", &n, &len, NULL, 0) != 0 || n == 0) BUG("arenas.narenas unreadable");
        unsigned a = u8(in) % n;
        what = "thread.arena";
        rc = s_mallctl(what, NULL, NULL, &a, sizeof a);
        if (rc == EAGAIN) rc = 0; /* no cache (turned off): the thread stays */
    } else if (w == 4) {
        int purge = u8(in) % 2;
        what = purge ? "arena.4096.purge" : "arena.4096.decay";
        rc = s_mallctl(what, NULL, NULL, NULL, 0);
        if (rc == 0 && purge) check_resident(what);
    } else if (w == 5) {
        what = "malloc_trim";
        s_malloc_trim(0);
        check_resident(what);
    } else if (w == 8) {
        rc = op_cache_control(in, &what);
    } else if (w == 7) {
        /* Any byte of a live block: the arena of its start (an extent never
         * crosses its chunk), or EINVAL for both when it is in no arena (a
         * huge mapping); never a crash, whatever byte. */
        what = "arenas.lookup";
        int s = (int)(u8(in) % NSLOTS);
        if (slots[s].p && slots[s].filled) {
            unsigned n = 0, a0 = ~0u, a1 = ~0u;
            size_t len = sizeof n, l0 = sizeof a0, l1 = sizeof a1;
            if (s_mallctl("arenas.narenas", &n, &len, NULL, 0) != 0) BUG("arenas.narenas unreadable");
            void *first = slots[s].p, *inner = slots[s].p + u24(in) % slots[s].filled;
            int r0 = s_mallctl(what, &a0, &l0, &first, sizeof first);
            int r1 = s_mallctl(what, &a1, &l1, &inner, sizeof inner);
            if ((r0 != 0 && r0 != EINVAL) || r1 != r0 || (r0 == 0 && (a0 != a1 || a0 >= n)))
                BUG("arenas.lookup of %p (%zu bytes): %d, arena %u; of %p inside it: %d, arena %u; narenas %u", first,
                    slots[s].filled, r0, a0, inner, r1, a1, n);
        }
    } else {
        uint64_t a = 0, d = 0;
        size_t len = sizeof a;
        what = "thread.allocated";
        rc = s_mallctl("thread.allocated", &a, &len, NULL, 0) | s_mallctl("thread.deallocated", &d, &len, NULL, 0);
        if (a < last_allocated || d < last_deallocated)
            BUG("thread counters went backwards: allocated %llu -> %llu, deallocated %llu -> %llu",
                (unsigned long long)last_allocated, (unsigned long long)a, (unsigned long long)last_deallocated,
                (unsigned long long)d);
        if (d > a) BUG("thread.deallocated %llu > thread.allocated %llu", (unsigned long long)d, (unsigned long long)a);
        last_allocated = a;
        last_deallocated = d;
    }
    if (rc != 0) BUG("mallctl(%s) = %d", what, rc);
    for (int s = 0; s < NSLOTS; s++)
        if (slots[s].p) verify(s, slots[s].filled, "after a control operation");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size, 0};
    op_index = 0;
    while (in.i < in.n) {
        unsigned op = u8(&in);
        int s = (int)(u8(&in) % NSLOTS);
        op_index++;
        switch (op % 19) {
        case 0: case 1: case 2: op_malloc(s, &in); break;
        case 3: op_calloc(s, &in); break;
        case 4: case 5: op_realloc(s, &in); break;
        case 6: op_reallocarray(s, &in); break;
        case 7: case 8: op_aligned(s, &in); break;
        case 9: case 10: case 11: release(s, 0); break;
        case 12: case 13: release(s, 1); break;
        case 14: op_usable(s); break;
        case 15: op_must_fail(&in); break;
        case 16: op_control(&in); break;
        case 17: op_mallocx_cached(s, &in); break;
        case 18: release(s, 2); break;
        }
    }
    for (int s = 0; s < NSLOTS; s++) release(s, (int)(s & 1));
    return 0;
}
