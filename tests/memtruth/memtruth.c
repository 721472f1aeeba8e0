/*
 * memtruth.c - the kernel's truth for swalloc's own memory: compares the
 * allocator's statistics (mallctl "stats.resident", "stats.mapped") with
 * what the kernel says is resident in the allocator's mappings.
 *
 * The kernel figure (kernel_measure / swalloc_kernel_resident): the sum of
 * "Rss:" over the anonymous mappings in /proc/self/smaps (no path, or an
 * "[anon:...]" name) minus
 *   - named special regions: [stack], [heap] (swalloc never uses brk),
 *     [vvar], [vdso], [vsyscall], ...
 *   - the stacks of this program's threads (mmap'd here with a PROT_NONE
 *     guard page at each end so that they never merge with another mapping)
 *   - "foreign" anonymous memory that existed when main() started: library
 *     .bss, loader and TLS regions, this program's own static arrays - every
 *     anonymous range of that moment that swalloc did not map (see below).
 * Where an excluded range shares a mapping with other memory (adjacent
 * anonymous mappings with the same flags merge into one), its resident pages
 * are counted with mincore() and subtracted, so the figure stays exact.
 * The smaps file is read with open/read/close into a static buffer: nothing
 * here calls malloc while it measures.
 *
 * To tell swalloc's pre-main mappings from glibc's, the program interposes
 * mmap, munmap and mremap (the executable is linked with -rdynamic; glibc's
 * own calls do not go through the PLT, swalloc's do) and records the ranges
 * the allocator maps. That record also gives a second, independent figure:
 * "tracked", the resident bytes (mincore) of exactly those ranges. When the
 * two figures disagree by more than the tolerance a NOTE line says so.
 *
 * Tolerance: |stats.resident - kernel| <= max(1% of kernel, 256 KiB).
 *
 * usage: memtruth selftest
 *        memtruth table WAIT_MS [idle]
 *        memtruth random SEED
 *        memtruth metadata-rounds [MiB]
 *        memtruth idle-server SECONDS [SAMPLE_MS]
 * Prints "FAIL ..." lines and exits 1 when a check fails; "SKIP ..." and
 * exit 0 when mallctl is not there (not running under swalloc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static size_t pg = 4096;
static int failures;

static void die(const char *what)
{
    fprintf(stderr, "memtruth: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* The mmap tracker (every anonymous mmap is recorded; which of them are
 * swalloc's is decided when measuring, see "foreign" below). */
#define TRACKER_RECORD_MMAP 1
#define TRACKER_RECORD_MREMAP 0
#include "mmap_tracker.h"

static range_t trk_snap[TRACK_MAX];

static size_t trk_snapshot(void)
{
    trk_lock();
    size_t n = trk_n;
    memcpy(trk_snap, trk, n * sizeof(range_t));
    trk_unlock();
    return n;
}

/* mmap that the tracker does not see (for this program's own memory) */
static void *raw_mmap(size_t len, int prot, int flags)
{
    long r = syscall(SYS_mmap, NULL, len, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == -1) die("mmap");
    return (void *)r;
}

/* ------------------------------------------------------------------------
 * exclusions and the kernel figure
 */
#define EXCL_MAX 4096
static range_t excl[EXCL_MAX];
static size_t excl_n;
static size_t foreign_bytes, foreign_ranges;

static void excl_add(uintptr_t s, uintptr_t e)
{
    if (excl_n >= EXCL_MAX) { fprintf(stderr, "memtruth: too many excluded ranges\n"); exit(2); }
    excl[excl_n++] = (range_t){s, e};
}

static unsigned char mc_vec[1 << 16];

/* resident bytes in [s, e) (page aligned) by mincore */
static size_t resident_in(uintptr_t s, uintptr_t e)
{
    size_t pages = 0;
    while (s < e) {
        size_t n = (e - s) / pg;
        if (n > sizeof mc_vec) n = sizeof mc_vec;
        if (mincore((void *)s, n * pg, mc_vec) == 0) {
            for (size_t i = 0; i < n; i++) pages += mc_vec[i] & 1;
        } else { /* a hole (unmapped meanwhile): page by page */
            for (size_t i = 0; i < n; i++)
                if (mincore((void *)(s + i * pg), pg, mc_vec) == 0) pages += mc_vec[0] & 1;
        }
        s += n * pg;
    }
    return pages * pg;
}

struct vma {
    uintptr_t s, e;
    int anon;    /* anonymous, not a special [name] */
    int special; /* [stack], [heap], [vdso], ... */
    size_t size_kb, rss_kb;
};

static char sm_buf[1 << 20];

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;;) {
        char c = **p;
        if (c >= '0' && c <= '9') v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else break;
        (*p)++;
    }
    return v;
}

static size_t parse_kb(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    size_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (size_t)(*p++ - '0');
    return v;
}

static int is_header(const char *l)
{
    return (l[0] >= '0' && l[0] <= '9') || (l[0] >= 'a' && l[0] <= 'f');
}

static void parse_header(const char *l, const char *end, struct vma *v)
{
    const char *p = l;
    memset(v, 0, sizeof *v);
    v->s = parse_hex(&p);
    if (*p == '-') p++;
    v->e = parse_hex(&p);
    /* perms, offset, dev, inode */
    for (int f = 0; f < 4; f++) {
        while (p < end && *p == ' ') p++;
        while (p < end && *p != ' ') p++;
    }
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    size_t plen = (size_t)(end - p);
    if (plen == 0) {
        v->anon = 1;
    } else if (plen >= 6 && memcmp(p, "[anon:", 6) == 0) {
        v->anon = 1;
    } else if (p[0] == '[') {
        v->special = 1;
    }
}

typedef void (*vma_cb)(const struct vma *v, void *ctx);

/* Walks /proc/self/smaps without allocating. */
static void smaps_walk(vma_cb cb, void *ctx)
{
    int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open /proc/self/smaps");
    size_t have = 0;
    int cur_valid = 0, eof = 0;
    struct vma cur;
    while (!eof) {
        ssize_t r = read(fd, sm_buf + have, sizeof sm_buf - have - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read /proc/self/smaps");
        }
        if (r == 0) eof = 1;
        have += (size_t)r;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(sm_buf + pos, '\n', have - pos);
            if (!nl) {
                if (eof && pos < have) nl = sm_buf + have; /* last line without newline */
                else break;
            }
            *nl = 0;
            const char *l = sm_buf + pos;
            if (is_header(l)) {
                if (cur_valid) cb(&cur, ctx);
                parse_header(l, nl, &cur);
                cur_valid = 1;
            } else if (strncmp(l, "Size:", 5) == 0) {
                cur.size_kb = parse_kb(l + 5);
            } else if (strncmp(l, "Rss:", 4) == 0) {
                cur.rss_kb = parse_kb(l + 4);
            }
            pos = (size_t)(nl - sm_buf) + 1;
            if (pos >= have) break;
        }
        if (pos < have) {
            memmove(sm_buf, sm_buf + pos, have - pos);
            have -= pos;
        } else {
            have = 0;
        }
        if (have >= sizeof sm_buf - 1) { fprintf(stderr, "memtruth: smaps line too long\n"); exit(2); }
    }
    if (cur_valid) cb(&cur, ctx);
    close(fd);
}

struct kfig {
    size_t rss;          /* the kernel figure: resident bytes */
    size_t size;         /* Size: of the same mappings */
    size_t tracked_rss;  /* mincore over the ranges swalloc mmap'd */
    size_t tracked_size;
    size_t tracked_n;
    size_t excluded_rss; /* resident in excluded ranges (stacks, foreign) */
};

static void kernel_cb(const struct vma *v, void *ctx)
{
    struct kfig *k = ctx;
    if (!v->anon) return;
    size_t ex_rss = 0, ex_size = 0;
    for (size_t i = 0; i < excl_n; i++) {
        uintptr_t s = excl[i].s > v->s ? excl[i].s : v->s;
        uintptr_t e = excl[i].e < v->e ? excl[i].e : v->e;
        if (s >= e) continue;
        if (s == v->s && e == v->e) { /* the whole mapping */
            k->excluded_rss += v->rss_kb * KiB;
            return;
        }
        ex_rss += resident_in(s, e);
        ex_size += e - s;
    }
    size_t rss = v->rss_kb * KiB, size = v->size_kb * KiB;
    k->excluded_rss += ex_rss;
    k->rss += rss > ex_rss ? rss - ex_rss : 0;
    k->size += size > ex_size ? size - ex_size : 0;
}

static void kernel_measure(struct kfig *k)
{
    memset(k, 0, sizeof *k);
    smaps_walk(kernel_cb, k);
    size_t n = trk_snapshot();
    k->tracked_n = n;
    for (size_t i = 0; i < n; i++) {
        k->tracked_rss += resident_in(trk_snap[i].s, trk_snap[i].e);
        k->tracked_size += trk_snap[i].e - trk_snap[i].s;
    }
}

/* The resident bytes of swalloc's mappings, by the kernel. */
static size_t swalloc_kernel_resident(void)
{
    struct kfig k;
    kernel_measure(&k);
    return k.rss;
}

/* At the start of main: every anonymous range that swalloc did not map is
 * somebody else's (loader, libc, this program's .bss). */
static void foreign_cb(const struct vma *v, void *ctx)
{
    size_t n = *(size_t *)ctx;
    if (!v->anon) return;
    uintptr_t s = v->s;
    for (size_t i = 0; i < n && s < v->e; i++) { /* trk_snap is sorted */
        range_t t = trk_snap[i];
        if (t.e <= s || t.s >= v->e) continue;
        if (t.s > s) {
            excl_add(s, t.s);
            foreign_bytes += t.s - s;
            foreign_ranges++;
        }
        s = t.e;
    }
    if (s < v->e) {
        excl_add(s, v->e);
        foreign_bytes += v->e - s;
        foreign_ranges++;
    }
}

static void kernel_init(void)
{
    size_t n = trk_snapshot();
    smaps_walk(foreign_cb, &n);
}

/* ------------------------------------------------------------------------
 * statistics
 */
typedef int (*mallctl_t)(const char *, void *, size_t *, void *, size_t);
static mallctl_t mctl;

struct stats {
    size_t allocated, active, resident, mapped, retained, metadata;
};

static size_t ctl_size(const char *name)
{
    size_t v = 0, sz = sizeof v;
    if (mctl(name, &v, &sz, NULL, 0) != 0) {
        fprintf(stderr, "memtruth: mallctl(%s) failed\n", name);
        exit(2);
    }
    return v;
}

static void read_stats(struct stats *st)
{
    uint64_t e = 1;
    size_t sz = sizeof e;
    if (mctl("epoch", &e, &sz, &e, sizeof e) != 0) { fprintf(stderr, "memtruth: epoch failed\n"); exit(2); }
    st->allocated = ctl_size("stats.allocated");
    st->active = ctl_size("stats.active");
    st->resident = ctl_size("stats.resident");
    st->mapped = ctl_size("stats.mapped");
    st->retained = ctl_size("stats.retained");
    st->metadata = ctl_size("stats.metadata");
}

struct meas {
    struct stats st;
    struct kfig k;
};

/* Statistics and kernel figure of the same moment (a background purge may
 * run in between: then try again). */
static void measure(struct meas *m)
{
    for (int i = 0; i < 5; i++) {
        if (mctl) read_stats(&m->st);
        kernel_measure(&m->k);
        if (!mctl) return;
        struct stats again;
        read_stats(&again);
        if (again.resident == m->st.resident && again.mapped == m->st.mapped) return;
    }
}

static size_t tolerance(size_t kernel)
{
    size_t t = kernel / 100;
    return t > 256 * KiB ? t : 256 * KiB;
}

static long diff_bytes(size_t a, size_t b) { return (long)a - (long)b; }

static double mib(size_t b) { return (double)b / (double)MiB; }

static void note_methods(const char *where, const struct kfig *k)
{
    if (k->tracked_n == 0) return;
    long d = diff_bytes(k->rss, k->tracked_rss);
    if ((size_t)labs(d) > tolerance(k->rss))
        printf("NOTE %s: smaps figure %zu KiB differs from the tracked mmaps' %zu KiB by %+ld KiB\n",
               where, k->rss / KiB, k->tracked_rss / KiB, d / (long)KiB);
}

/* checks stats.resident against the kernel; prints one "point" line */
static int check_point(const char *name, const struct meas *m, size_t live)
{
    long d = diff_bytes(m->st.resident, m->k.rss);
    size_t tol = tolerance(m->k.rss);
    int ok = (size_t)labs(d) <= tol;
    printf("point %s kernel=%zuKiB resident=%zuKiB diff=%+ldKiB tol=%zuKiB | "
           "kernel_size=%zuKiB mapped=%zuKiB retained=%zuKiB metadata=%zuKiB "
           "allocated=%zuKiB live=%zuKiB tracked=%zuKiB %s\n",
           name, m->k.rss / KiB, m->st.resident / KiB, d / (long)KiB, tol / KiB, m->k.size / KiB,
           m->st.mapped / KiB, m->st.retained / KiB, m->st.metadata / KiB, m->st.allocated / KiB,
           live / KiB, m->k.tracked_rss / KiB, ok ? "ok" : "MISMATCH");
    note_methods(name, &m->k);
    if (!ok) {
        printf("FAIL point %s: stats.resident %zu KiB vs kernel %zu KiB (diff %+ld KiB > %zu KiB)\n", name,
               m->st.resident / KiB, m->k.rss / KiB, d / (long)KiB, tol / KiB);
        failures++;
    }
    fflush(stdout);
    return ok;
}

/* ------------------------------------------------------------------------
 * helpers
 */
static size_t process_rss(void)
{
    static char b[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open statm");
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) die("read statm");
    b[n] = 0;
    const char *p = b;
    while (*p && *p != ' ') p++;
    return parse_kb(p) * pg;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* thread stacks: [guard][stack][guard], never merged with a neighbour */
#define STACK_SIZE (1 * MiB)
static void *make_stack(void)
{
    char *p = raw_mmap(STACK_SIZE + 2 * pg, PROT_NONE, MAP_NORESERVE);
    if (mprotect(p + pg, STACK_SIZE, PROT_READ | PROT_WRITE) != 0) die("mprotect");
    excl_add((uintptr_t)p, (uintptr_t)p + STACK_SIZE + 2 * pg);
    return p + pg;
}

static pthread_t start_thread(void *stack, void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    if (pthread_attr_setstack(&a, stack, STACK_SIZE) != 0) die("pthread_attr_setstack");
    int e = pthread_create(&t, &a, fn, arg);
    if (e != 0) { errno = e; die("pthread_create"); }
    pthread_attr_destroy(&a);
    return t;
}

static unsigned char pattern(size_t size, uintptr_t salt) { return (unsigned char)((size * 131 + salt) | 1); }

/* the "table" mix: 16..1515 bytes, every hundredth block 200000 bytes */
#define MAXB 1200000
static void *blocks[MAXB];
static uint32_t bsz[MAXB];

static size_t fill_mixed(uint64_t *rng, size_t target, size_t *nout)
{
    size_t total = 0, n = 0;
    while (total < target && n < MAXB) {
        size_t s = (n % 100 == 99) ? 200000 : 16 + xs(rng) % 1500;
        unsigned char *p = f_malloc(s);
        if (!p) { fprintf(stderr, "memtruth: malloc(%zu) failed\n", s); exit(2); }
        memset(p, pattern(s, 0), s);
        blocks[n] = p;
        bsz[n] = (uint32_t)s;
        n++;
        total += s;
    }
    *nout = n;
    return total;
}

static int free_in_order; /* MEMTRUTH_FREE_ORDER=alloc: allocation order */

static void free_all_random(uint64_t *rng, size_t n)
{
    for (size_t i = n; i > 1 && !free_in_order; i--) {
        size_t j = xs(rng) % i;
        void *t = blocks[i - 1];
        blocks[i - 1] = blocks[j];
        blocks[j] = t;
        uint32_t u = bsz[i - 1];
        bsz[i - 1] = bsz[j];
        bsz[j] = u;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = blocks[i];
        if (p[0] != pattern(bsz[i], 0) || p[bsz[i] - 1] != pattern(bsz[i], 0)) {
            printf("FAIL block of %u bytes corrupted\n", bsz[i]);
            exit(1);
        }
        f_free(p);
    }
}

/* Touch this program's static arrays now, so that they are part of the
 * start figures (they lie in .bss: foreign memory, excluded anyway). */
static void prefault_statics(void)
{
    memset(blocks, 0, sizeof blocks);
    memset(bsz, 0, sizeof bsz);
    memset(sm_buf, 0, sizeof sm_buf);
    memset(mc_vec, 0, sizeof mc_vec);
    trk_lock();
    memset(trk_tmp, 0, sizeof trk_tmp);
    memset(trk + trk_n, 0, (TRACK_MAX - trk_n) * sizeof(range_t));
    trk_unlock();
    memset(trk_snap, 0, sizeof trk_snap);
}

/* ------------------------------------------------------------------------
 * selftest: the measurement itself, with memory this program maps
 */
static volatile size_t stack_touch_kib = 512;

static void *stack_toucher(void *arg)
{
    volatile char big[768 * 1024];
    for (size_t i = 0; i < stack_touch_kib * KiB; i += 512) big[i] = 1;
    sleep_ms(1);
    *(size_t *)arg = swalloc_kernel_resident();
    return (void *)(uintptr_t)big[0];
}

static void expect_near(const char *what, long got, long want, long slack)
{
    int ok = labs(got - want) <= slack;
    printf("%s %s: got %+ld KiB, want %+ld KiB (+-%ld)\n", ok ? "ok" : "FAIL", what, got / (long)KiB,
           want / (long)KiB, slack / (long)KiB);
    if (!ok) failures++;
}

static int mode_selftest(void)
{
    const long slack = 64 * KiB;
    size_t k0 = swalloc_kernel_resident();
    /* untracked new anonymous memory counts until it is excluded */
    char *a = raw_mmap(64 * MiB, PROT_READ | PROT_WRITE, 0);
    memset(a, 1, 40 * MiB);
    size_t k1 = swalloc_kernel_resident();
    expect_near("new anonymous mapping counted", (long)k1 - (long)k0, 40 * MiB, slack);
    excl_add((uintptr_t)a, (uintptr_t)a + 64 * MiB);
    size_t k2 = swalloc_kernel_resident();
    expect_near("excluded mapping not counted", (long)k2 - (long)k0, 0, slack);
    /* part of a mapping excluded (mincore path) */
    char *b = raw_mmap(16 * MiB, PROT_READ | PROT_WRITE, 0);
    memset(b, 1, 16 * MiB);
    excl_add((uintptr_t)b, (uintptr_t)b + 6 * MiB);
    size_t k3 = swalloc_kernel_resident();
    expect_near("partly excluded mapping", (long)k3 - (long)k2, 10 * MiB, slack);
    /* the tracker sees mmap/mremap/munmap through the interposed symbols */
    struct kfig f0, f1, f2, f3;
    kernel_measure(&f0);
    char *c = mmap(NULL, 32 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED) die("mmap");
    memset(c, 1, 10 * MiB);
    kernel_measure(&f1);
    expect_near("tracked mmap: smaps figure", (long)f1.rss - (long)f0.rss, 10 * MiB, slack);
    expect_near("tracked mmap: tracked figure", (long)f1.tracked_rss - (long)f0.tracked_rss, 10 * MiB, slack);
    char *c2 = mremap(c, 32 * MiB, 48 * MiB, MREMAP_MAYMOVE);
    if (c2 == MAP_FAILED) die("mremap");
    memset(c2 + 40 * MiB, 1, 4 * MiB);
    kernel_measure(&f2);
    expect_near("tracked mremap: smaps figure", (long)f2.rss - (long)f0.rss, 14 * MiB, slack);
    expect_near("tracked mremap: tracked figure", (long)f2.tracked_rss - (long)f0.tracked_rss, 14 * MiB, slack);
    munmap(c2 + 8 * MiB, 8 * MiB); /* a hole: 2 MiB of the touched 0..10 MiB */
    munmap(c2, 4 * MiB);        /* 4 more: 8 MiB of 0..10 and 40..44 left */
    kernel_measure(&f3);
    expect_near("tracked munmap: smaps figure", (long)f3.rss - (long)f0.rss, 8 * MiB, slack);
    expect_near("tracked munmap: tracked figure", (long)f3.tracked_rss - (long)f0.tracked_rss, 8 * MiB, slack);
    munmap(c2, 48 * MiB);
    /* a thread on its own stack that touches 512 KiB of it */
    size_t in_thread = 0;
    size_t k4 = swalloc_kernel_resident();
    pthread_t t = start_thread(make_stack(), stack_toucher, &in_thread);
    pthread_join(t, NULL);
    expect_near("thread stack excluded", (long)in_thread - (long)k4, 0, slack);
    printf("selftest: mallctl %s, foreign ranges at start %zu (%zu KiB), tracker %lu calls\n",
           mctl ? "present" : "absent", foreign_ranges, foreign_bytes / KiB, trk_calls);
    if (failures) return 1;
    printf("selftest ok\n");
    return 0;
}

/* ------------------------------------------------------------------------
 * table: the scenario
 */
static int mode_table(int wait_ms, int idle)
{
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    const char *conf = getenv("SWALLOC_CONF");
    printf("table: SWALLOC_CONF=%s wait=%d ms%s\n", conf ? conf : "", wait_ms, idle ? " (idle)" : "");
    fflush(stdout);
    void *w = f_malloc(100);
    f_free(w);
    size_t start_rss = process_rss();
    struct meas m0;
    measure(&m0);

    size_t n;
    size_t total = fill_mixed(&rng, (size_t)1 << 30, &n);
    struct meas mp;
    measure(&mp);
    size_t peak_rss = process_rss();
    printf("peak: %zu blocks, %.1f MiB requested; process rss +%.1f MiB, kernel_swalloc %.1f MiB\n", n,
           mib(total), mib(peak_rss - start_rss), mib(mp.k.rss));
    if (mctl && (mp.k.rss < total || mp.k.rss > total + total / 2)) {
        printf("FAIL peak: the kernel figure %.1f MiB is not ~ the %.1f MiB written (measurement broken?)\n",
               mib(mp.k.rss), mib(total));
        failures++;
    }
    if (mctl) {
        /* Only the requested bytes were written: the untouched tails of the
         * rounded size classes are active (counted by stats.resident, an
         * upper bound as in jemalloc) but not resident. So at the peak the
         * kernel may be below stats.resident, never above it. */
        long d = diff_bytes(mp.st.resident, mp.k.rss);
        size_t tol = tolerance(mp.k.rss);
        printf("point peak kernel=%zuKiB resident=%zuKiB diff=%+ldKiB tol=%zuKiB | kernel_size=%zuKiB "
               "mapped=%zuKiB allocated=%zuKiB requested=%zuKiB tracked=%zuKiB\n",
               mp.k.rss / KiB, mp.st.resident / KiB, d / (long)KiB, tol / KiB, mp.k.size / KiB,
               mp.st.mapped / KiB, mp.st.allocated / KiB, total / KiB, mp.k.tracked_rss / KiB);
        note_methods("peak", &mp.k);
        if (d < 0 && (size_t)-d > tol) {
            printf("FAIL point peak: kernel %zu KiB above stats.resident %zu KiB (by %ld KiB > %zu KiB)\n",
                   mp.k.rss / KiB, mp.st.resident / KiB, -d / (long)KiB, tol / KiB);
            failures++;
        }
    }

    free_all_random(&rng, n);
    double t0 = now_ms();
    while (now_ms() - t0 < wait_ms) {
        sleep_ms(50);
        if (idle) continue;
        char *p = f_malloc(64);
        memset(p, 1, 64);
        f_free(p);
        p = f_malloc(100000);
        memset(p, 1, 100000);
        f_free(p);
    }
    struct meas me;
    measure(&me);
    size_t end_rss = process_rss();
    double above = ((double)end_rss - (double)start_rss) / (double)MiB;
    if (!mctl) {
        printf("rss_above_start_mib=%.1f kernel_swalloc_mib=%.1f kernel_size_mib=%.1f\n", above, mib(me.k.rss),
               mib(me.k.size));
        printf("SKIP mallctl not available (not running under swalloc): figures only\n");
        return 0;
    }
    printf("rss_above_start_mib=%.1f kernel_swalloc_mib=%.1f stats_resident_mib=%.1f stats_retained_mib=%.1f "
           "stats_mapped_mib=%.1f kernel_size_mib=%.1f tracked_mib=%.1f start_kernel_mib=%.1f\n",
           above, mib(me.k.rss), mib(me.st.resident), mib(me.st.retained), mib(me.st.mapped), mib(me.k.size),
           mib(me.k.tracked_rss), mib(m0.k.rss));
    if (above > 16.0) {
        printf("FAIL end: process RSS %.1f MiB above the start (> 16 MiB)\n", above);
        failures++;
    }
    check_point("end", &me, 0);
    if (failures) return 1;
    printf("table ok\n");
    return 0;
}

/* ------------------------------------------------------------------------
 * idle-server: 4 threads allocate ~1 GiB of small blocks (16..1024 bytes,
 * written), each frees a random 90% of its own blocks in random order, the
 * threads are joined, then the program idles for SECONDS with one small
 * allocation (and free) a second. The process RSS (statm's resident field,
 * the same counter as VmRSS) is sampled every SAMPLE_MS (default 500).
 * Check: RSS at the end <= RSS at the join - 0.5 x (stats.resident -
 * stats.active right after the join): at least half of the memory that was
 * resident but not active at the join must have left by the end.
 */
#define IS_THREADS 4
#define IS_TARGET (((size_t)1 << 30) / IS_THREADS)
#define IS_MAX 640000 /* blocks per thread: the mean block is 520 bytes */

static void *is_blk[IS_THREADS][IS_MAX];
static uint16_t is_sz[IS_THREADS][IS_MAX];
static pthread_barrier_t is_barrier;

struct is_arg {
    int id;
    uint64_t seed;
    size_t n, bytes, freed, freed_bytes;
    int corrupt;
};
static struct is_arg is_args[IS_THREADS];

static void *is_worker(void *argp)
{
    struct is_arg *a = argp;
    uint64_t r = a->seed;
    void **blk = is_blk[a->id];
    uint16_t *sz = is_sz[a->id];
    size_t n = 0, bytes = 0;
    while (bytes < IS_TARGET && n < IS_MAX) {
        size_t s = 16 + xs(&r) % (1024 - 16 + 1);
        unsigned char *p = f_malloc(s);
        if (!p) { fprintf(stderr, "memtruth: malloc(%zu) failed\n", s); exit(2); }
        memset(p, pattern(s, (uintptr_t)a->id), s);
        blk[n] = p;
        sz[n] = (uint16_t)s;
        n++;
        bytes += s;
    }
    a->n = n;
    a->bytes = bytes;
    /* everybody's peak first, then the frees */
    pthread_barrier_wait(&is_barrier);
    /* a random 90%, in random order: the first 90% of a shuffle */
    size_t nfree = n - n / 10;
    for (size_t i = 0; i < nfree; i++) {
        size_t j = i + xs(&r) % (n - i);
        void *tp = blk[i];
        blk[i] = blk[j];
        blk[j] = tp;
        uint16_t ts = sz[i];
        sz[i] = sz[j];
        sz[j] = ts;
        unsigned char *p = blk[i];
        unsigned char want = pattern(sz[i], (uintptr_t)a->id);
        if (p[0] != want || p[sz[i] - 1] != want) a->corrupt = 1;
        f_free(p);
        a->freed_bytes += sz[i];
    }
    a->freed = nfree;
    return NULL;
}

static int mode_idle_server(int seconds, int sample_ms)
{
    const char *conf = getenv("SWALLOC_CONF");
    printf("idle-server: SWALLOC_CONF=%s seconds=%d sample=%d ms\n", conf ? conf : "", seconds, sample_ms);
    fflush(stdout);
    void *w = f_malloc(100);
    f_free(w);
    void *stacks[IS_THREADS];
    for (int i = 0; i < IS_THREADS; i++) stacks[i] = make_stack();
    if (pthread_barrier_init(&is_barrier, NULL, IS_THREADS) != 0) die("pthread_barrier_init");
    pthread_t t[IS_THREADS];
    double ta = now_ms();
    for (int i = 0; i < IS_THREADS; i++) {
        is_args[i].id = i;
        is_args[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + 0x632BE59BD9B4E019ull;
        t[i] = start_thread(stacks[i], is_worker, &is_args[i]);
    }
    for (int i = 0; i < IS_THREADS; i++) pthread_join(t[i], NULL);
    /* right after the join: the process RSS and the statistics */
    size_t join_rss = process_rss();
    struct stats sj;
    if (mctl) read_stats(&sj);
    double t0 = now_ms();
    size_t n = 0, bytes = 0, freed = 0, freed_bytes = 0;
    int corrupt = 0;
    for (int i = 0; i < IS_THREADS; i++) {
        n += is_args[i].n;
        bytes += is_args[i].bytes;
        freed += is_args[i].freed;
        freed_bytes += is_args[i].freed_bytes;
        corrupt |= is_args[i].corrupt;
    }
    printf("joined after %.0f ms: %zu blocks, %.1f MiB written; %zu blocks, %.1f MiB freed\n", t0 - ta, n,
           mib(bytes), freed, mib(freed_bytes));
    if (corrupt) {
        printf("FAIL idle-server: block contents corrupted\n");
        return 1;
    }
    size_t est = 0;
    if (mctl) {
        est = sj.resident > sj.active ? sj.resident - sj.active : 0;
        printf("join: rss_mib=%.1f stats.resident=%zuKiB stats.active=%zuKiB stats.mapped=%zuKiB "
               "purgeable_estimate=%zuKiB\n",
               mib(join_rss), sj.resident / KiB, sj.active / KiB, sj.mapped / KiB, est / KiB);
    } else {
        printf("join: rss_mib=%.1f (mallctl not available)\n", mib(join_rss));
    }
    printf("t=0.0 rss_mib=%.1f\n", mib(join_rss));
    fflush(stdout);

    /* idle: a sample every sample_ms, one small allocation a second */
    double end = (double)seconds * 1000.0;
    double next_sample = sample_ms, next_alloc = 1000.0;
    size_t end_rss = join_rss;
    while (next_sample <= end + 0.5) {
        double now = now_ms() - t0;
        double next = next_sample < next_alloc ? next_sample : next_alloc;
        if (now < next) {
            sleep_ms((int)(next - now) + 1);
            continue;
        }
        if (now >= next_alloc) {
            char *p = f_malloc(64);
            memset(p, 1, 64);
            f_free(p);
            next_alloc += 1000.0;
        }
        if (now >= next_sample) {
            end_rss = process_rss();
            printf("t=%.1f rss_mib=%.1f\n", next_sample / 1000.0, mib(end_rss));
            fflush(stdout);
            next_sample += sample_ms;
        }
    }
    if (!mctl) {
        printf("join_rss_mib=%.1f end_rss_mib=%.1f\n", mib(join_rss), mib(end_rss));
        printf("SKIP mallctl not available (not running under swalloc): figures only\n");
        return 0;
    }
    struct stats se;
    read_stats(&se);
    double limit = (double)join_rss - 0.5 * (double)est;
    printf("join_rss_mib=%.1f end_rss_mib=%.1f left_mib=%.1f purgeable_mib=%.1f limit_mib=%.1f "
           "end_stats_resident_mib=%.1f end_stats_active_mib=%.1f\n",
           mib(join_rss), mib(end_rss), ((double)join_rss - (double)end_rss) / (double)MiB, mib(est),
           limit / (double)MiB, mib(se.resident), mib(se.active));
    if ((double)end_rss > limit) {
        printf("FAIL idle-server: RSS %.1f MiB after %d s > %.1f MiB (the join's %.1f MiB less half of the "
               "%.1f MiB resident but not active)\n",
               mib(end_rss), seconds, limit / (double)MiB, mib(join_rss), mib(est));
        return 1;
    }
    printf("idle-server ok\n");
    return 0;
}

/* ------------------------------------------------------------------------
 * random: 4 threads, small/large/huge, cross-thread frees, 10% kept alive
 */
#define NTHREADS 4
#define OPS 4000
#define LOCAL_MAX 2048
#define HAND_MAX 4096
#define KEEP_MAX 8192
#define THREAD_LIVE_TARGET (40 * MiB)
#define KEEP_BYTES_MAX (20 * MiB)

struct blk {
    unsigned char *p;
    size_t n;
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct blk hand[HAND_MAX];
static size_t hand_n;
static struct blk keep[KEEP_MAX];
static size_t keep_n, keep_bytes;
static int corrupt;

static size_t random_size(uint64_t *r)
{
    unsigned u = (unsigned)(xs(r) % 100);
    if (u < 80) return 16 + xs(r) % (14000 - 16 + 1);
    if (u < 97) return 16 * KiB + xs(r) % (2 * MiB - 16 * KiB + 1);
    return 2 * MiB + 1 + xs(r) % (10 * MiB);
}

/* the whole usable size: every active page is touched, so the kernel and
 * stats.resident can agree exactly while blocks are live */
static void fill(struct blk b) { memset(b.p, pattern(b.n, 7), b.n); }

static void check_and_free(struct blk b)
{
    if (b.p[0] != pattern(b.n, 7) || b.p[b.n - 1] != pattern(b.n, 7) || b.p[b.n / 2] != pattern(b.n, 7))
        __atomic_store_n(&corrupt, 1, __ATOMIC_RELAXED);
    f_free(b.p);
}

struct worker_arg {
    uint64_t seed;
    struct blk local[LOCAL_MAX];
};

static void *worker(void *argp)
{
    struct worker_arg *a = argp;
    uint64_t r = a->seed;
    size_t ln = 0, live = 0;
    for (int op = 0; op < OPS; op++) {
        unsigned u = (unsigned)(xs(&r) % 100);
        if (u < 60 && live < THREAD_LIVE_TARGET && ln < LOCAL_MAX) {
            struct blk b;
            b.n = random_size(&r);
            b.p = f_malloc(b.n);
            if (!b.p) { fprintf(stderr, "malloc(%zu) failed\n", b.n); exit(2); }
            b.n = malloc_usable_size(b.p);
            fill(b);
            if (xs(&r) % 10 == 0) {
                pthread_mutex_lock(&shared_mu);
                if (keep_n < KEEP_MAX && keep_bytes + b.n <= KEEP_BYTES_MAX) {
                    keep[keep_n++] = b;
                    keep_bytes += b.n;
                    b.p = NULL;
                }
                pthread_mutex_unlock(&shared_mu);
                if (!b.p) continue;
            }
            a->local[ln++] = b;
            live += b.n;
        } else if (u < 65 && ln > 0) { /* realloc a random block */
            size_t i = xs(&r) % ln;
            struct blk b = a->local[i];
            if (b.p[0] != pattern(b.n, 7)) __atomic_store_n(&corrupt, 1, __ATOMIC_RELAXED);
            size_t nn = random_size(&r);
            unsigned char *q = f_realloc(b.p, nn);
            if (!q) { fprintf(stderr, "realloc(%zu) failed\n", nn); exit(2); }
            nn = malloc_usable_size(q);
            live = live - b.n + nn;
            a->local[i] = (struct blk){q, nn};
            fill(a->local[i]);
        } else if (ln > 0) { /* free a random block, or hand it to another thread */
            size_t i = xs(&r) % ln;
            struct blk b = a->local[i];
            a->local[i] = a->local[--ln];
            live -= b.n;
            int handed = 0;
            if (xs(&r) % 4 == 0) {
                pthread_mutex_lock(&shared_mu);
                if (hand_n < HAND_MAX) {
                    hand[hand_n++] = b;
                    handed = 1;
                }
                pthread_mutex_unlock(&shared_mu);
            }
            if (!handed) check_and_free(b);
        }
        if (xs(&r) % 5 == 0) { /* free one block another thread handed over */
            struct blk b = {NULL, 0};
            pthread_mutex_lock(&shared_mu);
            if (hand_n > 0) {
                size_t i = xs(&r) % hand_n;
                b = hand[i];
                hand[i] = hand[--hand_n];
            }
            pthread_mutex_unlock(&shared_mu);
            if (b.p) check_and_free(b);
        }
    }
    while (ln > 0) {
        size_t i = xs(&r) % ln;
        struct blk b = a->local[i];
        a->local[i] = a->local[--ln];
        check_and_free(b);
    }
    return NULL;
}

static struct worker_arg wargs[NTHREADS];

static size_t keep_usable(void)
{
    size_t u = 0;
    for (size_t i = 0; i < keep_n; i++) u += malloc_usable_size(keep[i].p);
    return u;
}

static int mode_random(uint64_t seed)
{
    const char *conf = getenv("SWALLOC_CONF");
    printf("random: seed=%llu SWALLOC_CONF=%s\n", (unsigned long long)seed, conf ? conf : "");
    fflush(stdout);
    void *stacks[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) stacks[i] = make_stack();
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        wargs[i].seed = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
        if (wargs[i].seed == 0) wargs[i].seed = 1;
        t[i] = start_thread(stacks[i], worker, &wargs[i]);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    for (size_t i = 0; i < hand_n; i++) check_and_free(hand[i]);
    hand_n = 0;
    if (corrupt) { printf("FAIL block contents corrupted\n"); return 1; }
    printf("threads joined: %zu blocks (%.1f MiB) kept alive\n", keep_n, mib(keep_bytes));
    if (!mctl) {
        printf("kernel_swalloc_mib=%.1f\n", mib(swalloc_kernel_resident()));
        printf("SKIP mallctl not available (not running under swalloc): figures only\n");
        return 0;
    }
    struct meas m;
    measure(&m);
    check_point("joined", &m, keep_usable());
    if (mctl("arena.4096.purge", NULL, NULL, NULL, 0) != 0) printf("NOTE arena.4096.purge failed\n");
    measure(&m);
    check_point("purged", &m, keep_usable());
    malloc_trim(0);
    measure(&m);
    check_point("trimmed", &m, keep_usable());
    /* free half of the kept blocks (no purge), then the rest and trim */
    uint64_t r = seed * 7 + 3;
    size_t half = keep_n / 2;
    for (size_t i = 0; i < half; i++) {
        size_t j = i + xs(&r) % (keep_n - i);
        struct blk b = keep[j];
        keep[j] = keep[i];
        keep[i] = b;
        check_and_free(b);
    }
    memmove(keep, keep + half, (keep_n - half) * sizeof keep[0]);
    keep_n -= half;
    measure(&m);
    check_point("half-freed", &m, keep_usable());
    for (size_t i = 0; i < keep_n; i++) check_and_free(keep[i]);
    keep_n = 0;
    malloc_trim(0);
    measure(&m);
    check_point("all-freed-trimmed", &m, 0);
    if (corrupt) { printf("FAIL block contents corrupted\n"); failures++; }
    if (failures) return 1;
    printf("random ok\n");
    return 0;
}

/* ------------------------------------------------------------------------
 * metadata-rounds: grow, free, trim ten times; metadata must not creep
 */
static int mode_metadata(size_t target_mib)
{
    uint64_t rng = 0xD1B54A32D192ED03ull;
    printf("metadata-rounds: %zu MiB per round\n", target_mib);
    fflush(stdout);
    if (!mctl) {
        printf("SKIP mallctl not available (not running under swalloc)\n");
        return 0;
    }
    size_t md1 = 0, md10 = 0;
    for (int round = 1; round <= 10; round++) {
        size_t n;
        fill_mixed(&rng, target_mib * MiB, &n);
        free_all_random(&rng, n);
        malloc_trim(0);
        struct meas m;
        measure(&m);
        printf("round %d metadata=%zuKiB resident=%zuKiB kernel=%zuKiB mapped=%zuKiB kernel_size=%zuKiB "
               "retained=%zuKiB\n",
               round, m.st.metadata / KiB, m.st.resident / KiB, m.k.rss / KiB, m.st.mapped / KiB, m.k.size / KiB,
               m.st.retained / KiB);
        fflush(stdout);
        if (round == 1) md1 = m.st.metadata;
        if (round == 10) md10 = m.st.metadata;
    }
    if ((double)md10 > 1.1 * (double)md1) {
        printf("FAIL metadata grew: round 1 %zu KiB, round 10 %zu KiB (> 1.1x)\n", md1 / KiB, md10 / KiB);
        return 1;
    }
    printf("metadata-rounds ok: round 1 %zu KiB, round 10 %zu KiB\n", md1 / KiB, md10 / KiB);
    return 0;
}

/* ------------------------------------------------------------------------
 * first-malloc: what the allocator's boot and a program's first small
 * allocation cost in resident pages of swalloc's own mappings (issue 11,
 * small-program footprint). Runs first thing in main, before anything else
 * here allocates. Measured on x86-64 (4 KiB pages) once the radix root
 * fit one page: boot 4 pages (size tables and radix root, mapping log,
 * arena 0), after malloc(32) 9 (+ the tcache and its first stack slots,
 * extent records, the radix leaf's page, the chunk record, the block's
 * page). Before: boot 11 (the radix root alone was 8 pages), after malloc
 * 16. Since the mapping log's first block is carved from the first base
 * block (Base.swift), boot 4 and after malloc(32) 9; with arena 0 on a
 * page boundary (Arena.swift), 3 and 7: the bounds (run.sh) are those
 * figures, so a change that adds a page here says so.
 */
static int mode_first_malloc(size_t boot_limit_pages, size_t first_limit_pages)
{
    size_t boot = swalloc_kernel_resident();
    char *volatile p = malloc(32);
    if (!p) die("malloc");
    memset(p, 1, 32);
    size_t first = swalloc_kernel_resident();
    printf("first-malloc boot=%zuKiB (%zu pages) first=%zuKiB (%zu pages)\n", boot / KiB, boot / pg, first / KiB,
           first / pg);
    int bad = 0;
    if (boot > boot_limit_pages * pg) {
        printf("FAIL boot left %zu pages resident (limit %zu)\n", boot / pg, boot_limit_pages);
        bad = 1;
    }
    if (first > first_limit_pages * pg) {
        printf("FAIL the first malloc(32) left %zu pages resident (limit %zu)\n", first / pg, first_limit_pages);
        bad = 1;
    }
    free(p);
    if (!bad) printf("first-malloc ok\n");
    return bad;
}

/* ------------------------------------------------------------------------
 * cold-text: after a small program's churn (LIFO batches of 1..256 blocks
 * of 8..512 bytes, bench churn-lifo's pattern, long enough for the thread
 * cache's collector passes), none of the library's cold text (its second
 * executable segment: scripts/build-lib.sh lays out .text.hot, .rodata,
 * .text, .eh_frame, .text.warm) is mapped in: a function such a program
 * runs that is missing from scripts/hot-text.txt faults in up to 64 KiB of
 * it (the kernel's fault-around), which every process then carries.
 * (Commit 6c71c0e made slabPoolTrim too big to inline into its caller;
 * churn-lifo's library pages went 88 -> 148 KiB until the list was
 * regenerated.) A library linked with one text segment
 * (SWALLOC_NO_HOT_TEXT=1) has nothing to check.
 */
static struct { uintptr_t s; size_t rss_kb; int found; } cold_seg;

static void cold_cb(const struct vma *v, void *ctx)
{
    (void)ctx;
    if (v->s == cold_seg.s) {
        cold_seg.rss_kb = v->rss_kb;
        cold_seg.found = 1;
    }
}

static int mode_cold_text(long rounds)
{
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    if (!sym || !dladdr(sym, &info) || !info.dli_fname) die("dladdr(malloc)");
    /* maps names the file by its resolved path. */
    static char lib[4096];
    if (!realpath(info.dli_fname, lib)) die("realpath of the library");
    uint64_t x = 88172645463325252ull;
    void *stack[256];
    for (long k = 0; k < rounds; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int n = 1 + (int)(x % 256);
        for (int i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            char *p = malloc(8 + (size_t)(x % 505));
            if (!p) die("malloc");
            p[0] = (char)i;
            stack[i] = p;
        }
        for (int i = n - 1; i >= 0; i--) free(stack[i]);
    }
    /* The library's executable mappings, in address order (as maps lists). */
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) die("fopen /proc/self/maps");
    char line[4096];
    int exec_segments = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long s, e;
        char perms[8];
        int off = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &off) < 3 || off == 0) continue;
        char *path = line + off;
        path[strcspn(path, "\n")] = 0;
        if (strcmp(path, lib) != 0 || strcmp(perms, "r-xp") != 0) continue;
        if (++exec_segments == 2) cold_seg.s = s;
    }
    fclose(f);
    if (exec_segments < 2) {
        printf("cold-text ok: %s has one text segment, nothing to check\n", lib);
        return 0;
    }
    smaps_walk(cold_cb, NULL);
    if (!cold_seg.found) die("the cold text segment is not in smaps");
    printf("cold-text: %d executable segments, cold text resident %zu KiB after %ld rounds\n", exec_segments,
           cold_seg.rss_kb, rounds);
    if (cold_seg.rss_kb != 0) {
        printf("FAIL the churn ran code in the library's cold text (%zu KiB resident): rerun scripts/hot-text.sh\n",
               cold_seg.rss_kb);
        return 1;
    }
    printf("cold-text ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    pg = (size_t)sysconf(_SC_PAGESIZE);
    kernel_init(); /* first: the foreign anonymous memory of this moment */
    prefault_statics();
    /* Before dlsym or anything else that might allocate. */
    if (argc > 3 && strcmp(argv[1], "first-malloc") == 0)
        return mode_first_malloc((size_t)atoi(argv[2]), (size_t)atoi(argv[3]));
    mctl = (mallctl_t)dlsym(RTLD_DEFAULT, "mallctl");
    const char *order = getenv("MEMTRUTH_FREE_ORDER");
    free_in_order = order && strcmp(order, "alloc") == 0;
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "selftest") == 0) return mode_selftest();
    if (strcmp(mode, "table") == 0 && argc > 2)
        return mode_table(atoi(argv[2]), argc > 3 && strcmp(argv[3], "idle") == 0);
    if (strcmp(mode, "random") == 0 && argc > 2) return mode_random(strtoull(argv[2], NULL, 10));
    if (strcmp(mode, "cold-text") == 0) return mode_cold_text(argc > 2 ? atol(argv[2]) : 20000);
    if (strcmp(mode, "metadata-rounds") == 0)
        return mode_metadata(argc > 2 ? (size_t)atoi(argv[2]) : 1024);
    if (strcmp(mode, "idle-server") == 0 && argc > 2) {
        int sample = argc > 3 ? atoi(argv[3]) : 500;
        return mode_idle_server(atoi(argv[2]), sample > 0 ? sample : 500);
    }
    fprintf(stderr,
            "usage: %s selftest | table WAIT_MS [idle] | random SEED | metadata-rounds [MiB] | "
            "idle-server SECONDS [SAMPLE_MS] | first-malloc BOOT_PAGES FIRST_PAGES | cold-text [ROUNDS]\n",
            argv[0]);
    return 2;
}
