/*
 * hardening.c - attacks on the allocator's own metadata and fast paths (the
 * security findings), one mode per case, run by tests/hardening/run.sh.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o hardening hardening.c -ldl
 * Run:   LD_PRELOAD=libswalloc.so ./hardening MODE
 *
 * Every mode arms alarm(20): a hang ends as SIGALRM (rc 142). Output is
 * unbuffered, one fact per line; the last line is the verdict:
 *   "MODE ok"          the mode's expectation held (exit 0)
 *   "FAIL ..."         the attack worked (a live block or a global handed
 *                      out, blocks overlapping, contents changed) (exit 1)
 *   "SKIP reason"      the layout the attack needs was not found (exit 0)
 *   "MODE: ..."        what an undetected attack did (exit 0; the runner
 *                      decides whether that is acceptable)
 * An allocator that detects the attack aborts with a "swalloc: ..." line on
 * stderr (rc 134) before any of these.
 *
 * Bookkeeping arrays come from mmap, and the sorting here never allocates,
 * so the test's own work does not disturb the heap it inspects.
 *
 * Modes (expected outcome with a hardened swalloc in brackets):
 *  Finding 1, remote-free chains linked through the blocks' first word:
 *   remote-chain-ok          thread A allocates, thread B frees them all
 *                            (flushed to A's remote stack), A allocates again:
 *                            blocks distinct, contents intact        [ok]
 *   remote-chain-live        as above, then the first word of a block in the
 *                            remote chain is overwritten with the address of
 *                            a live block; A allocates 3000 blocks    [abort]
 *   remote-chain-global      the same with a 4 KiB-aligned global     [abort]
 *  Finding 2, chunk header reachable by a linear overflow:
 *   overflow-next-chunk      32 bytes written past the last 16-byte block of
 *                            a chunk (into the next chunk's first bytes);
 *                            then everything freed and a content- and
 *                            overlap-checked churn                     [ok]
 *   overflow-page-entry      the class bits of a 16-byte block's page-map
 *                            entry (chunk base + 64 + 8 * page) set to the
 *                            1024-byte class; free it, malloc(1024)s must not
 *                            overlap live blocks (SKIP: layout unknown) [ok]
 *  Finding 3, large blocks double-freed through the thread cache:
 *   double-free-large-aba    free(p), free(q), free(p) of 20000 bytes [abort]
 *   double-free-large-threads  p freed by two threads, both flush    [abort]
 *  Finding 4, traps on plain realloc / xallocx / rallocx near PTRDIFF_MAX:
 *   realloc-huge-max                                                   [ok]
 *  Finding 5, hangs:
 *   stats-reentrant          malloc_stats_print from its write callback [ok]
 *   stats-fork               fork() from its write callback            [ok]
 *  Finding 6, fast-path gaps (information only; abort is the good outcome):
 *   aba-small, free-interior-small, free-interior-20000, realloc-freed,
 *   cross-thread-double-free-small
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define CHUNK ((uintptr_t)4 << 20)
#define CHUNK_MASK (CHUNK - 1)
#define PAGE ((uintptr_t)4096)

static const char *mode = "";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s\n", mode, line);
    _exit(1);
}

static void skip(const char *why)
{
    printf("SKIP %s\n", why);
    exit(0);
}

static void ok(void)
{
    printf("%s ok\n", mode);
    exit(0);
}

/* Memory for bookkeeping, straight from the kernel. */
static void *xmap(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("SKIP mmap of %zu bytes failed\n", bytes);
        exit(0);
    }
    return p;
}

/* LSD radix sort of addresses, 16 bits per pass; allocates nothing from malloc. */
static size_t radix_count[65536];
static void sort_addrs(uintptr_t *a, size_t n)
{
    if (n < 2) return;
    uintptr_t *tmp = xmap(n * sizeof *tmp);
    uintptr_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(radix_count, 0, sizeof radix_count);
        for (size_t i = 0; i < n; i++) radix_count[(src[i] >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = radix_count[d];
            radix_count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) dst[radix_count[(src[i] >> shift) & 0xffff]++] = src[i];
        uintptr_t *t = src;
        src = dst;
        dst = t;
    }
    /* four passes: the result is back in a */
    munmap(tmp, n * sizeof *tmp);
}

/* Number of elements <= x in the sorted array. */
static size_t upper_bound(const uintptr_t *a, size_t n, uintptr_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Index of the block (all `size` bytes) of sorted array a containing x, or -1. */
static long containing(const uintptr_t *a, size_t n, uintptr_t x, size_t size)
{
    size_t ub = upper_bound(a, n, x);
    if (ub == 0) return -1;
    return x - a[ub - 1] < size ? (long)(ub - 1) : -1;
}

static int contains_exact(const uintptr_t *a, size_t n, uintptr_t x)
{
    size_t ub = upper_bound(a, n, x);
    return ub > 0 && a[ub - 1] == x;
}

/* Whether [addr, addr + len) lies in one readable+writable mapping
 * (/proc/self/maps, read without malloc). */
static char maps_buf[1 << 22];
static int mapped_rw(uintptr_t addr, size_t len)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0) return -1;
    size_t got = 0;
    ssize_t r;
    while (got < sizeof maps_buf - 1 && (r = read(fd, maps_buf + got, sizeof maps_buf - 1 - got)) > 0) got += (size_t)r;
    close(fd);
    maps_buf[got] = 0;
    for (char *line = maps_buf; line && *line;) {
        unsigned long lo, hi;
        char perms[8] = "";
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && addr >= lo && addr < hi)
            return addr + len <= hi && perms[0] == 'r' && perms[1] == 'w';
        line = strchr(line, '\n');
        if (line) line++;
    }
    return 0;
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* The library's mallctl, or NULL. */
static mallctl_fn find_mallctl(void)
{
    return (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
}

/* The arena the calling thread is bound to (mallctl "thread.arena"), or -1. */
static int thread_arena(void)
{
    mallctl_fn mc = find_mallctl();
    if (!mc) return -1;
    unsigned a = 0;
    size_t len = sizeof a;
    if (mc("thread.arena", &a, &len, NULL, 0) != 0) return -1;
    return (int)a;
}

/* Binds the calling thread to an arena other than `other` (mallctl
 * "thread.arena"): threads share an arena until they meet on its locks, so
 * a test that needs another arena's frees asks for it. */
static void move_to_other_arena(int other)
{
    mallctl_fn mc = find_mallctl();
    if (!mc || other < 0) return;
    unsigned a;
    if (test_other_arena(mc, (unsigned)other, &a) != 0) fail("no arena other than %d (arenas.narenas, arenas.create)", other);
    if (mc("thread.arena", NULL, NULL, &a, sizeof a) != 0) fail("thread.arena %u refused", a);
}

/* Binds the calling thread to its arena (its first allocation). */
static void bind_thread(void)
{
    void *p = f_malloc(8);
    f_free(p);
}

/* The 8-byte content a test block of `size` bytes gets: a function of its
 * address and a salt, so a block handed out twice or overwritten shows. */
static uint64_t tag(uintptr_t p, uint64_t salt)
{
    uint64_t x = (uint64_t)p * 0x9e3779b97f4a7c15ull ^ salt;
    return x ^ (x >> 29);
}

static void fill(void *p, size_t size, uint64_t salt)
{
    uint64_t t = tag((uintptr_t)p, salt);
    for (size_t i = 0; i + 8 <= size; i += 8) memcpy((char *)p + i, &t, 8);
}

/* Returns the offset of the first damaged word, or -1. */
static long check_fill(const void *p, size_t size, uint64_t salt)
{
    uint64_t t = tag((uintptr_t)p, salt);
    for (size_t i = 0; i + 8 <= size; i += 8)
        if (memcmp((const char *)p + i, &t, 8) != 0) return (long)i;
    return -1;
}

/* Sorts a copy of the n blocks and fails on a duplicate or two blocks closer
 * than `size` bytes (size 0: each block's malloc_usable_size). */
static void check_distinct(void *const *blocks, size_t n, size_t size, const char *what)
{
    uintptr_t *s = xmap(n * sizeof *s + 1);
    for (size_t i = 0; i < n; i++) s[i] = (uintptr_t)blocks[i];
    sort_addrs(s, n);
    for (size_t i = 1; i < n; i++) {
        size_t prev = size ? size : malloc_usable_size((void *)s[i - 1]);
        if (s[i] == s[i - 1]) fail("%s: the same block %#lx handed out twice while live", what, (unsigned long)s[i]);
        if (s[i] - s[i - 1] < prev)
            fail("%s: blocks %#lx (%zu bytes) and %#lx overlap", what, (unsigned long)s[i - 1], prev, (unsigned long)s[i]);
    }
    munmap(s, n * sizeof *s + 1);
}

/* ------------------------------------------------------------------------
 * Finding 1: remote-free chains */

#define RC_FREED 1000   /* blocks thread B frees (overflows its 200-entry stack) */
#define RC_LIVE 300     /* blocks that stay live throughout */
#define RC_AGAIN 3000   /* blocks A allocates afterwards */
#define RC_SIZE 64

static char global_target[4096] __attribute__((aligned(4096)));
static void **rc_freed;
static int rc_arena_a = -1;
static int rc_arena_b = -1;

static void *rc_thread_b(void *arg)
{
    (void)arg;
    bind_thread();
    move_to_other_arena(rc_arena_a);
    rc_arena_b = thread_arena();
    for (int i = 0; i < RC_FREED; i++) {
        long bad = check_fill(rc_freed[i], RC_SIZE, 1);
        if (bad >= 0) fail("block %p damaged at offset %ld before thread B freed it", rc_freed[i], bad);
        f_free(rc_freed[i]);
    }
    return NULL;   /* thread exit flushes the rest of B's cache */
}

static void remote_chain(int corrupt) /* 0: none, 1: live block, 2: global */
{
    bind_thread();
    int arena_a = thread_arena();
    rc_arena_a = arena_a;
    rc_freed = xmap(RC_FREED * sizeof *rc_freed);
    void **live = xmap(RC_LIVE * sizeof *live);
    void **again = xmap(RC_AGAIN * sizeof *again);
    for (int i = 0; i < RC_FREED; i++) {
        rc_freed[i] = f_malloc(RC_SIZE);
        fill(rc_freed[i], RC_SIZE, 1);
    }
    for (int i = 0; i < RC_LIVE; i++) {
        live[i] = f_malloc(RC_SIZE);
        fill(live[i], RC_SIZE, 2);
    }
    pthread_t b;
    if (pthread_create(&b, NULL, rc_thread_b, NULL) != 0) skip("pthread_create failed");
    pthread_join(b, NULL);
    if (arena_a >= 0 && arena_a == rc_arena_b) skip("both threads are bound to the same arena: no remote frees");
    if (arena_a >= 0) printf("note: thread A arena %d, thread B arena %d\n", arena_a, rc_arena_b);

    uintptr_t target = 0;
    if (corrupt) {
        /* Blocks 0..99 were the older half of B's full stack at its first
         * flush: rc_freed[10] is in a remote chain pushed to A's arena. */
        uintptr_t *victim = (uintptr_t *)rc_freed[10];
        uintptr_t old_link = *victim;
        target = corrupt == 1 ? (uintptr_t)live[RC_LIVE / 2] : (uintptr_t)global_target;
        /* Splice the target into the chain: victim -> target -> old link. */
        memcpy((void *)target, &old_link, sizeof old_link);
        *victim = target;
        printf("note: freed block %p's first word %#lx replaced by %s %#lx\n", (void *)victim,
               (unsigned long)old_link, corrupt == 1 ? "live block" : "global", (unsigned long)target);
    }

    uintptr_t *ls = xmap(RC_LIVE * sizeof *ls);
    for (int i = 0; i < RC_LIVE; i++) ls[i] = (uintptr_t)live[i];
    sort_addrs(ls, RC_LIVE);
    for (int i = 0; i < RC_AGAIN; i++) {
        again[i] = f_malloc(RC_SIZE);
        uintptr_t r = (uintptr_t)again[i];
        if (!again[i]) fail("malloc(%d) returned NULL", RC_SIZE);
        if (r - (uintptr_t)global_target < sizeof global_target)
            fail("malloc(%d) #%d returned %#lx, inside a global array (the forged link's target)", RC_SIZE, i + 1,
                 (unsigned long)r);
        long j = containing(ls, RC_LIVE, r + RC_SIZE - 1, RC_SIZE);
        if (j < 0) j = containing(ls, RC_LIVE, r, RC_SIZE);
        if (j >= 0 && ls[j] == r)
            fail("malloc(%d) #%d returned %#lx, a block that is still live%s", RC_SIZE, i + 1, (unsigned long)r,
                 r == target ? " (the forged link's target)" : "");
        if (j >= 0)
            fail("malloc(%d) #%d returned %#lx, overlapping the live block %#lx", RC_SIZE, i + 1, (unsigned long)r,
                 (unsigned long)ls[j]);
        if (r & 15) fail("malloc(%d) #%d returned misaligned %#lx", RC_SIZE, i + 1, (unsigned long)r);
        fill(again[i], RC_SIZE, 3);
    }
    check_distinct(again, RC_AGAIN, RC_SIZE, "blocks allocated after the remote frees");
    for (int i = 0; i < RC_LIVE; i++) {
        long bad = check_fill(live[i], RC_SIZE, 2);
        /* the forged target's first word is the test's own write */
        if (bad >= 0 && !(corrupt == 1 && (uintptr_t)live[i] == target && bad == 0))
            fail("live block %p damaged at offset %ld", live[i], bad);
    }
    for (int i = 0; i < RC_AGAIN; i++) {
        long bad = check_fill(again[i], RC_SIZE, 3);
        if (bad >= 0) fail("block %p damaged at offset %ld", again[i], bad);
    }
    if (corrupt) {
        printf("%s: corruption neither detected nor exploited (no effect)\n", mode);
        exit(0);
    }
    for (int i = 0; i < RC_AGAIN; i++) f_free(again[i]);
    for (int i = 0; i < RC_LIVE; i++) f_free(live[i]);
    ok();
}

/* ------------------------------------------------------------------------
 * Finding 2: chunk metadata reachable by a linear overflow */

#define OV_SMALL 3000000 /* 16-byte blocks: about 12 chunks */
#define OV_CHURN 60000

static void overflow_next_chunk(void)
{
    const size_t n = OV_SMALL;
    void **v = xmap(n * sizeof *v);
    uintptr_t *s = xmap(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        v[i] = f_malloc(16);
        if (!v[i]) fail("malloc(16) #%zu returned NULL", i);
        fill(v[i], 16, 4);
        s[i] = (uintptr_t)v[i];
    }
    sort_addrs(s, n);
    for (size_t i = 1; i < n; i++)
        if (s[i] - s[i - 1] < 16) fail("16-byte blocks %#lx and %#lx overlap", (unsigned long)s[i - 1], (unsigned long)s[i]);

    /* A block ending exactly at a chunk boundary, followed by a chunk that
     * holds blocks of ours (so it is the allocator's, not someone else's
     * mapping). */
    uintptr_t p = 0, next = 0;
    int own_block = 0, saw_gap = 0;
    for (size_t i = 0; i < n; i++) {
        if (((s[i] + 16) & CHUNK_MASK) != 0) continue;
        uintptr_t c = s[i] + 16;
        size_t ub = upper_bound(s, n, c - 1);  /* first block >= c */
        if (ub < n && s[ub] < c + CHUNK) {
            p = s[i];
            next = c;
            own_block = s[ub] == c;
            break;
        }
        if (mapped_rw(c, 32) == 0) saw_gap = 1;
    }
    if (!p) {
        if (saw_gap) {
            printf("note: nothing is mapped directly after the chunks' last blocks: an overflow cannot reach a neighbour\n");
            ok();
        }
        skip("no 16-byte block ends at a chunk boundary with a chunk of ours after it");
    }
    if (mapped_rw(next, 32) != 1) {
        printf("note: the chunk after block %#lx does not start with read/write memory (guard): an overflow "
               "cannot reach it\n", (unsigned long)p);
        ok();
    }
    printf("note: block %#lx ends at chunk boundary %#lx; the next chunk starts with %s\n", (unsigned long)p,
           (unsigned long)next, own_block ? "a block of ours (user data)" : "no block of ours (metadata?)");
    /* The overflow: 32 bytes of 'A' past the end of p. */
    memset((void *)(p + 16), 0x41, 32);
    printf("note: wrote 32 bytes of 0x41 at %#lx\n", (unsigned long)next);

    for (size_t i = 0; i < n; i++) {
        uintptr_t b = (uintptr_t)v[i];
        int clobbered = b + 16 > next && b < next + 32;
        long bad = check_fill(v[i], 16, 4);
        if (bad >= 0 && !clobbered) fail("16-byte block %#lx damaged at offset %ld", (unsigned long)b, bad);
    }
    printf("note: freeing the %zu blocks\n", n);
    for (size_t i = 0; i < n; i++) f_free(v[i]);

    /* Churn: sizes 16..4096, contents and overlap checked, twice. */
    uint64_t rng = 0x1234567;
    for (int round = 0; round < 2; round++) {
        printf("note: churn round %d\n", round);
        for (size_t i = 0; i < OV_CHURN; i++) {
            size_t size = 16 + xs(&rng) % 4081;
            v[i] = f_malloc(size);
            if (!v[i]) fail("malloc(%zu) returned NULL", size);
            if (malloc_usable_size(v[i]) < size) fail("malloc_usable_size(%p) < %zu", v[i], size);
            fill(v[i], size, 5);
            s[i] = size;  /* remember the size for the check */
        }
        check_distinct(v, OV_CHURN, 0, "churn blocks");
        for (size_t i = 0; i < OV_CHURN; i++) {
            long bad = check_fill(v[i], s[i], 5);
            if (bad >= 0) fail("block %p (%zu bytes) damaged at offset %ld", v[i], (size_t)s[i], bad);
            f_free(v[i]);
        }
    }
    ok();
}

#define PE_SMALL 1100000 /* 16-byte blocks: over four chunks */

static void overflow_page_entry(void)
{
    const size_t n = PE_SMALL;
    void **v = xmap(n * sizeof *v);
    uintptr_t *s = xmap(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        v[i] = f_malloc(16);
        if (!v[i]) fail("malloc(16) #%zu returned NULL", i);
        s[i] = (uintptr_t)v[i];
    }
    void *q = f_malloc(1024);  /* a 1024-byte block: its page entry has the class code */
    sort_addrs(s, n);

    /* b: a page-aligned block whose page (the 64 blocks of a 1024-byte
     * region at b) is all ours, in a chunk whose base is a block of ours
     * (metadata out of band) or, failing that, in any chunk. */
    uintptr_t b = 0;
    int new_layout = 0;
    for (int pass = 0; pass < 2 && !b; pass++) {
        for (size_t i = 0; i + 64 <= n; i++) {
            uintptr_t c = s[i] & ~CHUNK_MASK;
            if ((s[i] & (PAGE - 1)) || s[i] == c || s[i + 63] != s[i] + 63 * 16) continue;
            if (pass == 0 && !contains_exact(s, n, c)) continue;
            b = s[i];
            new_layout = pass == 0;
            break;
        }
    }
    if (!b) skip("no page of 16-byte blocks found");
    uintptr_t chunk = b & ~CHUNK_MASK;
    uintptr_t entry_addr = chunk + 64 + 8 * ((b & CHUNK_MASK) / PAGE);
    if (new_layout) {
        /* The would-be page-map entry is user memory; if it is one of our
         * blocks, the write is harmless and must stay so. */
        long j = containing(s, n, entry_addr, 16);
        if (j < 0 || s[j] == b) skip("chunk base is a user block but the would-be entry is not a block of ours");
        uint16_t code = 20;
        memcpy((void *)(entry_addr + 6), &code, 2);
        printf("note: chunk %#lx starts with a user block (no in-band page map); wrote the class bits at %#lx "
               "(inside our own block %#lx)\n",
               (unsigned long)chunk, (unsigned long)entry_addr, (unsigned long)s[j]);
    } else {
        /* Old layout: the chunk base is a header; validate the entry. */
        uintptr_t qa = (uintptr_t)q, qchunk = qa & ~CHUNK_MASK;
        uintptr_t q_entry_addr = qchunk + 64 + 8 * ((qa & CHUNK_MASK) / PAGE);
        if (qa == qchunk || mapped_rw(entry_addr, 8) != 1 || mapped_rw(q_entry_addr, 8) != 1)
            skip("chunk headers not found where the old layout has them");
        uint64_t e, qe;
        memcpy(&e, (void *)entry_addr, 8);
        memcpy(&qe, (void *)q_entry_addr, 8);
        uint64_t code16 = e >> 48, code1024 = qe >> 48;
        if (code16 != 1 || (e & 0xffffffffffffull) == 0 || code1024 < 2 || code1024 > 64 ||
            (qe & 0xffffffffffffull) == 0) {
            printf("note: entry %#lx = %#lx, 1024-byte block's entry %#lx = %#lx\n", (unsigned long)entry_addr,
                   (unsigned long)e, (unsigned long)q_entry_addr, (unsigned long)qe);
            skip("page-map entries do not look like the old layout's");
        }
        e = (e & 0xffffffffffffull) | (code1024 << 48);
        memcpy((void *)entry_addr, &e, 8);
        printf("note: old layout: set the class bits of the entry at %#lx (page of %#lx) from 1 to %lu\n",
               (unsigned long)entry_addr, (unsigned long)b, (unsigned long)code1024);
    }
    f_free((void *)b);
    for (int k = 0; k < 64; k++) {
        uintptr_t r = (uintptr_t)f_malloc(1024);
        if (!r) fail("malloc(1024) returned NULL");
        /* 16-byte blocks of ours inside [r, r + 1024), b itself excluded */
        size_t lo = upper_bound(s, n, r - 1), hi = upper_bound(s, n, r + 1023);
        size_t overlaps = hi - lo;
        for (size_t i = lo; i < hi; i++)
            if (s[i] == b) overlaps--;
        if (lo > 0 && s[lo - 1] + 16 > r) overlaps++;
        if (overlaps)
            fail("malloc(1024) #%d returned %#lx, overlapping %zu live 16-byte blocks", k, (unsigned long)r, overlaps);
    }
    ok();
}

/* ------------------------------------------------------------------------
 * Finding 3: large blocks double-freed through the thread cache */

#define LG 20000

static void double_free_large_aba(void)
{
    char *p = f_malloc(LG), *q = f_malloc(LG);
    memset(p, 1, LG);
    memset(q, 2, LG);
    f_free(p);
    f_free(q);
    f_free(p);
    printf("note: free(p), free(q), free(p) of %d bytes not detected at free time (p=%p)\n", LG, (void *)p);
    enum { N = 300 };
    void **r = xmap(N * sizeof *r);
    for (int i = 0; i < 3; i++) r[i] = f_malloc(LG);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < i; j++)
            if (r[i] == r[j]) fail("malloc(%d) handed out %p twice (calls %d and %d) while both live", LG, r[i], j + 1, i + 1);
    /* Flush: 100 other blocks through the 20-entry stack, then more mallocs. */
    void **o = xmap(100 * sizeof *o);
    for (int i = 0; i < 100; i++) o[i] = f_malloc(LG);
    for (int i = 0; i < 100; i++) f_free(o[i]);
    for (int i = 3; i < N; i++) r[i] = f_malloc(LG);
    check_distinct(r, N, LG, "20000-byte blocks after the triple free");
    printf("%s: not detected, no duplicate seen\n", mode);
    exit(0);
}

static void *dfl_p;
static void **dfl_others[2];
static pthread_barrier_t dfl_barrier;

static void *dfl_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    bind_thread();
    for (int turn = 0; turn < 2; turn++) {
        if (turn == id) f_free(dfl_p);  /* thread 0 first, then thread 1 */
        pthread_barrier_wait(&dfl_barrier);
    }
    /* 40 frees through the 20-entry stack flush the oldest entries (p). */
    for (int i = 0; i < 40; i++) f_free(dfl_others[id][i]);
    return NULL;  /* thread exit flushes the rest */
}

static void double_free_large_threads(void)
{
    bind_thread();
    dfl_p = f_malloc(LG);
    memset(dfl_p, 1, LG);
    for (int t = 0; t < 2; t++) {
        dfl_others[t] = xmap(40 * sizeof(void *));
        for (int i = 0; i < 40; i++) dfl_others[t][i] = f_malloc(LG);
    }
    pthread_barrier_init(&dfl_barrier, NULL, 2);
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        if (pthread_create(&th[t], NULL, dfl_thread, (void *)(intptr_t)t) != 0) skip("pthread_create failed");
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    printf("note: %p freed by two threads, both caches flushed; not detected\n", dfl_p);
    enum { N = 400 };
    void **r = xmap(N * sizeof *r);
    for (int i = 0; i < N; i++) {
        r[i] = f_malloc(LG);
        if (!r[i]) fail("malloc(%d) returned NULL", LG);
    }
    check_distinct(r, N, LG, "20000-byte blocks after the double free");
    printf("%s: not detected, no duplicate seen\n", mode);
    exit(0);
}

/* ------------------------------------------------------------------------
 * Finding 4: realloc / xallocx / rallocx near PTRDIFF_MAX */

static void realloc_huge_max(void)
{
    const size_t huge = 3u << 20, large = 100000;
    char *p = f_malloc(huge), *l = f_malloc(large), *s = f_malloc(100);
    if (!p || !l || !s) fail("malloc failed");
    fill(p, huge, 6);
    fill(l, large, 7);
    fill(s, 100, 8);
    const size_t sizes[] = { (size_t)PTRDIFF_MAX - 4095, (size_t)PTRDIFF_MAX - 1, (size_t)PTRDIFF_MAX,
                             (size_t)PTRDIFF_MAX + 1, SIZE_MAX };
    const char *names[] = { "PTRDIFF_MAX-4095", "PTRDIFF_MAX-1", "PTRDIFF_MAX", "PTRDIFF_MAX+1", "SIZE_MAX" };
    struct { char *p; size_t size; uint64_t salt; const char *what; } blocks[] = {
        { p, huge, 6, "3 MiB" }, { l, large, 7, "100000-byte" }, { s, 100, 8, "100-byte" } };
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 5; i++) {
            printf("try: realloc(%s block, %s)\n", blocks[b].what, names[i]);
            errno = 0;
            void *r = f_realloc(blocks[b].p, sizes[i]);
            int e = errno;
            if (r) fail("realloc(%s block, %s) returned %p, not NULL", blocks[b].what, names[i], r);
            if (e != ENOMEM) fail("realloc(%s block, %s): errno %d, not ENOMEM", blocks[b].what, names[i], e);
            long bad = check_fill(blocks[b].p, blocks[b].size, blocks[b].salt);
            if (bad >= 0) fail("the block changed after realloc(%s) failed (offset %ld)", names[i], bad);
        }
    }
    size_t (*xallocx)(void *, size_t, size_t, int) = (size_t (*)(void *, size_t, size_t, int))dlsym(RTLD_DEFAULT, "xallocx");
    void *(*rallocx)(void *, size_t, int) = (void *(*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "rallocx");
    size_t (*sallocx)(const void *, int) = (size_t (*)(const void *, int))dlsym(RTLD_DEFAULT, "sallocx");
    if (!xallocx || !rallocx) {
        printf("note: xallocx/rallocx absent: only realloc checked\n");
    } else {
        struct { char *p; size_t size, extra; const char *text; } xs_[] = {
            { p, 0, SIZE_MAX, "xallocx(3 MiB, 0, SIZE_MAX, 0)" },
            { p, SIZE_MAX, 0, "xallocx(3 MiB, SIZE_MAX, 0, 0)" },
            { p, PTRDIFF_MAX, 0, "xallocx(3 MiB, PTRDIFF_MAX, 0, 0)" },
            { p, PTRDIFF_MAX - 4095, 4095, "xallocx(3 MiB, PTRDIFF_MAX-4095, 4095, 0)" },
            { l, 0, SIZE_MAX, "xallocx(100000, 0, SIZE_MAX, 0)" },
            { l, PTRDIFF_MAX, 0, "xallocx(100000, PTRDIFF_MAX, 0, 0)" },
        };
        for (size_t i = 0; i < sizeof xs_ / sizeof xs_[0]; i++) {
            size_t before = sallocx ? sallocx(xs_[i].p, 0) : malloc_usable_size(xs_[i].p);
            printf("try: %s\n", xs_[i].text);
            size_t got = xallocx(xs_[i].p, xs_[i].size, xs_[i].extra, 0);
            size_t after = malloc_usable_size(xs_[i].p);
            if (got != before || after != before)
                fail("%s returned %zu (usable size now %zu), not the unchanged %zu", xs_[i].text, got, after, before);
        }
        printf("try: rallocx(3 MiB, PTRDIFF_MAX, 0)\n");
        void *r = rallocx(p, PTRDIFF_MAX, 0);
        if (r) fail("rallocx(3 MiB, PTRDIFF_MAX, 0) returned %p, not NULL", r);
        printf("try: rallocx(3 MiB, SIZE_MAX, 0)\n");
        r = rallocx(p, SIZE_MAX, 0);
        if (r) fail("rallocx(3 MiB, SIZE_MAX, 0) returned %p, not NULL", r);
        long bad = check_fill(p, huge, 6);
        if (bad >= 0) fail("the 3 MiB block changed after xallocx/rallocx (offset %ld)", bad);
        bad = check_fill(l, large, 7);
        if (bad >= 0) fail("the 100000-byte block changed after xallocx (offset %ld)", bad);
    }
    f_free(p);
    f_free(l);
    f_free(s);
    ok();
}

/* ------------------------------------------------------------------------
 * Finding 5: malloc_stats_print callbacks */

typedef void (*stats_print_fn)(void (*)(void *, const char *), void *, const char *);
static stats_print_fn stats_print;
static int stats_depth, stats_nested_done, stats_fork_done;
static size_t stats_bytes[2];

static void stats_reentrant_cb(void *opaque, const char *text)
{
    (void)opaque;
    stats_bytes[stats_depth > 0] += strlen(text);
    if (stats_depth == 0 && !stats_nested_done) {
        stats_nested_done = 1;
        stats_depth++;
        stats_print(stats_reentrant_cb, NULL, NULL);
        stats_depth--;
    }
}

static void stats_fork_cb(void *opaque, const char *text)
{
    (void)opaque;
    stats_bytes[0] += strlen(text);
    if (stats_fork_done) return;
    stats_fork_done = 1;
    pid_t pid = fork();
    if (pid < 0) fail("fork failed: %s", strerror(errno));
    if (pid == 0) {
        alarm(10);  /* alarms are not inherited: a hung child must not linger */
        void *volatile x = f_malloc(100);
        memset(x, 1, 100);
        f_free(x);
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) fail("waitpid failed: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("the child forked from the stats callback ended with status %#x%s", st,
             WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (SIGALRM: hung)" : "");
}

static void stats_mode(int with_fork)
{
    stats_print = (stats_print_fn)dlsym(RTLD_DEFAULT, "malloc_stats_print");
    if (!stats_print) skip("malloc_stats_print is not available");
    stats_print(with_fork ? stats_fork_cb : stats_reentrant_cb, NULL, NULL);
    if (with_fork) {
        if (!stats_fork_done) fail("the write callback was never called");
        printf("note: %zu bytes of statistics, fork from the callback returned\n", stats_bytes[0]);
    } else {
        if (!stats_nested_done) fail("the write callback was never called");
        printf("note: %zu bytes outer, %zu bytes from the nested call\n", stats_bytes[0], stats_bytes[1]);
    }
    void *x = f_malloc(100);  /* the allocator still works */
    f_free(x);
    ok();
}

/* ------------------------------------------------------------------------
 * Finding 6: fast-path gaps (information only) */

static void report(const char *what)
{
    printf("%s: %s\n", mode, what);
    exit(0);
}

static void aba_small(void)
{
    void *p = f_malloc(48), *q = f_malloc(48);
    f_free(p);
    f_free(q);
    f_free(p);
    void *r[3];
    for (int i = 0; i < 3; i++) r[i] = f_malloc(48);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < i; j++)
            if (r[i] == r[j]) {
                printf("note: malloc(48) #%d and #%d both returned %p\n", j + 1, i + 1, r[i]);
                report("duplicate handed out");
            }
    report("no effect");
}

static void free_interior(size_t size, size_t offset)
{
    char *p = f_malloc(size);
    memset(p, 1, size);
    f_free(p + offset);
    for (int i = 0; i < 50; i++) {
        char *r = f_malloc(size);
        if (r == p + offset) {
            printf("note: malloc(%zu) #%d returned the interior pointer p+%zu (p=%p)\n", size, i + 1, offset, (void *)p);
            report((uintptr_t)r & 15 ? "misaligned interior pointer handed out (overlaps the live block)"
                                     : "interior pointer handed out (overlaps the live block)");
        }
        if ((uintptr_t)r & 15) report("misaligned block handed out");
        if ((uintptr_t)r < (uintptr_t)p + size && (uintptr_t)p < (uintptr_t)r + size)
            report("block overlapping the live block handed out");
    }
    report("no effect");
}

static void realloc_freed(void)
{
    char *p = f_malloc(100);
    memset(p, 1, 100);
    f_free(p);
    errno = 0;
    char *r = f_realloc(p, 100);
    if (r == p) {
        char *s = f_malloc(100);
        if (s == p) report("realloc of a freed block returned it, and malloc then handed out the same block again");
        report("realloc of a freed block returned it (use after free)");
    }
    printf("note: realloc returned %p (p=%p)\n", (void *)r, (void *)p);
    report("no effect");
}

static void *ctdf_p;
static void **ctdf_others[2];
static pthread_barrier_t ctdf_barrier;

static void *ctdf_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    bind_thread();
    for (int turn = 0; turn < 2; turn++) {
        if (turn == id) f_free(ctdf_p);
        pthread_barrier_wait(&ctdf_barrier);
    }
    for (int i = 0; i < 400; i++) f_free(ctdf_others[id][i]);
    return NULL;
}

static void cross_thread_double_free_small(void)
{
    bind_thread();
    ctdf_p = f_malloc(48);
    for (int t = 0; t < 2; t++) {
        ctdf_others[t] = xmap(400 * sizeof(void *));
        for (int i = 0; i < 400; i++) ctdf_others[t][i] = f_malloc(48);
    }
    pthread_barrier_init(&ctdf_barrier, NULL, 2);
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        if (pthread_create(&th[t], NULL, ctdf_thread, (void *)(intptr_t)t) != 0) skip("pthread_create failed");
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    enum { N = 2000 };
    void **r = xmap(N * sizeof *r);
    uintptr_t *s = xmap(N * sizeof *s);
    for (int i = 0; i < N; i++) s[i] = (uintptr_t)(r[i] = f_malloc(48));
    sort_addrs(s, N);
    for (int i = 1; i < N; i++)
        if (s[i] - s[i - 1] < 48) {
            printf("note: %#lx handed out twice%s\n", (unsigned long)s[i], s[i] == (uintptr_t)ctdf_p ? " (the double-freed block)" : "");
            report("duplicate handed out");
        }
    report("no effect");
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    if (strcmp(mode, "remote-chain-ok") == 0) remote_chain(0);
    else if (strcmp(mode, "remote-chain-live") == 0) remote_chain(1);
    else if (strcmp(mode, "remote-chain-global") == 0) remote_chain(2);
    else if (strcmp(mode, "overflow-next-chunk") == 0) overflow_next_chunk();
    else if (strcmp(mode, "overflow-page-entry") == 0) overflow_page_entry();
    else if (strcmp(mode, "double-free-large-aba") == 0) double_free_large_aba();
    else if (strcmp(mode, "double-free-large-threads") == 0) double_free_large_threads();
    else if (strcmp(mode, "realloc-huge-max") == 0) realloc_huge_max();
    else if (strcmp(mode, "stats-reentrant") == 0) stats_mode(0);
    else if (strcmp(mode, "stats-fork") == 0) stats_mode(1);
    else if (strcmp(mode, "aba-small") == 0) aba_small();
    else if (strcmp(mode, "free-interior-small") == 0) free_interior(48, 8);
    else if (strcmp(mode, "free-interior-20000") == 0) free_interior(20000, 16);
    else if (strcmp(mode, "realloc-freed") == 0) realloc_freed();
    else if (strcmp(mode, "cross-thread-double-free-small") == 0) cross_thread_double_free_small();
    else {
        fprintf(stderr, "usage: %s MODE (see the source)\n", argv[0]);
        return 2;
    }
    return 0;
}
