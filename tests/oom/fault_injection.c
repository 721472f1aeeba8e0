/*
 * fault_injection.c - out-of-memory behaviour of a malloc implementation:
 * every allocation function fails cleanly (NULL + ENOMEM, or ENOMEM from
 * posix_memalign; nothing crashes, nothing already allocated is damaged)
 * and the allocator works again once memory is available.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o fault_injection fault_injection.c -ldl
 *        gcc -std=gnu11 -O1 -g -shared -fPIC -o mmap_fail_shim.so mmap_fail_shim.c
 * Run:   LD_PRELOAD=LIB ./fault_injection rlimit [EXTRA_MIB=64]
 *        LD_PRELOAD=LIB ./fault_injection boot-limit
 *        LD_PRELOAD=SHIM:LIB ./fault_injection mmap-fail
 *        LD_PRELOAD=SHIM:LIB ./fault_injection mmap-boot
 *
 * rlimit      RLIMIT_AS (soft) = the address space in use + EXTRA MiB; then,
 *             for each function (malloc, calloc, realloc growing one block,
 *             realloc growing many, reallocarray, posix_memalign,
 *             aligned_alloc, memalign, valloc, pvalloc) and each of a small,
 *             a large and a huge (> 2 MiB) size: allocate until the first
 *             failure, check it, free everything. A thread created before
 *             the limit makes its first allocations under it. Then the
 *             limit is raised and every function must work again.
 * boot-limit  the same with the limit set before the allocator boots: the
 *             program re-executes itself (mode "booted") with RLIMIT_AS
 *             already set, for a series of limits from generous down to
 *             below what the process needs at its start (the series stops
 *             at the first limit under which the loader cannot start it).
 * mmap-fail   (needs mmap_fail_shim.so preloaded before the library) the
 *             same exhaustion while every anonymous mmap and growing mremap
 *             fails with ENOMEM (small sizes may still be served from
 *             memory already mapped, so each loop runs until failure), then
 *             the shim is switched off and everything must work again;
 *             blocks allocated before the fault must be intact.
 * mmap-boot   re-executes itself (mode "mmap-booted") with
 *             MMAP_FAIL_AFTER=N (the first N anonymous mmaps succeed, all
 *             later ones fail) for N = 0..12 and a few larger N: boot and
 *             first allocations under mmap failure, then recovery.
 *
 * swalloc maps 4 MiB chunks and maps blocks above 2 MiB directly; glibc's
 * malloc uses brk and behaves differently, so mmap-fail / mmap-boot print
 * SKIP unless the process's malloc is swalloc (swalloc_malloc resolves).
 *
 * stdout: one "<mode> ok" (or "SKIP <mode>: ...") line, or "FAIL <mode>: ..."
 * lines and exit status 1. Counts go to stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static const char *g_mode = "?";
static int g_fail;
static int g_quiet; /* child modes: no "ok" line of their own */

/* Output that works when malloc does not: stdio may be unable to allocate
 * its buffer (it then falls back to unbuffered writes, which is fine, but a
 * formatted message into a stack buffer and write(2) is simpler). */
static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
}

#define FAILF(...)                                                           \
    do {                                                                     \
        if (g_fail++ < 15) {                                                 \
            char m_[400];                                                    \
            snprintf(m_, sizeof m_, __VA_ARGS__);                            \
            say(1, "FAIL %s: %s [line %d]\n", g_mode, m_, __LINE__);         \
        }                                                                    \
    } while (0)

/* ---------------------------------------------------------------------- */
/* patterns                                                                */

static inline unsigned char pat(uintptr_t seed, size_t i) { return (unsigned char)(seed * 31 + i * 7 + (i >> 9)); }

/* head, tail and 8 bytes per 64 KiB: cheap for huge blocks */
static void fill(unsigned char *p, size_t n, uintptr_t seed)
{
    size_t h = n < 256 ? n : 256;
    for (size_t i = 0; i < h; i++) p[i] = pat(seed, i);
    for (size_t i = n > 256 ? n - 256 : h; i < n; i++) p[i] = pat(seed, i);
    for (size_t pg = 65536; pg + 8 <= n; pg += 65536)
        for (size_t i = pg; i < pg + 8; i++) p[i] = pat(seed, i);
}

static int intact(const unsigned char *p, size_t n, uintptr_t seed)
{
    size_t h = n < 256 ? n : 256;
    for (size_t i = 0; i < h; i++) if (p[i] != pat(seed, i)) return 0;
    for (size_t i = n > 256 ? n - 256 : h; i < n; i++) if (p[i] != pat(seed, i)) return 0;
    for (size_t pg = 65536; pg + 8 <= n; pg += 65536)
        for (size_t i = pg; i < pg + 8; i++) if (p[i] != pat(seed, i)) return 0;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* the exhaustion loops                                                    */

#define MAXP (1u << 20)
static void *ptrs[MAXP];
static size_t sizes[MAXP];

enum fn {
    F_MALLOC, F_CALLOC, F_REALLOC_ONE, F_REALLOC_MANY, F_REALLOCARRAY, F_POSIX_MEMALIGN,
    F_ALIGNED_ALLOC, F_MEMALIGN, F_VALLOC, F_PVALLOC, F_COUNT
};
static const char *fn_name[F_COUNT] = {"malloc", "calloc", "realloc(grow one)", "realloc(grow many)",
                                       "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
                                       "valloc", "pvalloc"};

/* One allocation of `n` bytes with function f. Returns the block or NULL;
 * *err is the error reported (errno, or posix_memalign's result). */
static void *alloc_with(enum fn f, size_t n, int *err)
{
    void *p = NULL;
    errno = 0;
    switch (f) {
    case F_MALLOC: p = f_malloc(n); break;
    case F_CALLOC: p = f_calloc(n / 16, 16); break;
    case F_REALLOC_MANY: {
        /* NULL -> 1/4 -> full: the failure may come at either step */
        void *q = f_realloc(NULL, n / 4);
        if (!q) break;
        fill(q, n / 4, (uintptr_t)q);
        errno = 0;
        p = f_realloc(q, n);
        if (!p) {
            int e = errno;
            if (!intact(q, n / 4, (uintptr_t)q)) FAILF("failed realloc(%zu -> %zu) damaged the old block", n / 4, n);
            f_free(q);
            errno = e;
        } else if (!intact(p, n / 4, (uintptr_t)q)) {
            FAILF("realloc(%zu -> %zu) lost the contents", n / 4, n);
        }
        break;
    }
    case F_REALLOCARRAY: p = f_reallocarray(NULL, n / 8, 8); break;
    case F_POSIX_MEMALIGN: {
        /* the result is the error; errno is not part of the contract */
        int rc = f_posix_memalign(&p, n > (2u << 20) ? (1u << 20) : 64, n);
        if (rc != 0) {
            *err = rc;
            return NULL;
        }
        break;
    }
    case F_ALIGNED_ALLOC: p = f_aligned_alloc(4096, n); break;
    case F_MEMALIGN: p = f_memalign(n > (2u << 20) ? (1u << 20) : 65536, n); break;
    case F_VALLOC: p = f_valloc(n); break;
    case F_PVALLOC: p = f_pvalloc(n); break;
    default: break;
    }
    *err = errno;
    return p;
}

static size_t align_of(enum fn f, size_t n)
{
    switch (f) {
    case F_POSIX_MEMALIGN: return n > (2u << 20) ? (1u << 20) : 64;
    case F_ALIGNED_ALLOC: case F_VALLOC: case F_PVALLOC: return 4096;
    case F_MEMALIGN: return n > (2u << 20) ? (1u << 20) : 65536;
    default: return 16;
    }
}

/* realloc growing one block by doubling until it fails. */
static long grow_one(size_t start, size_t cap, int *err)
{
    size_t n = start;
    unsigned char *p = f_malloc(n);
    if (!p) {
        *err = errno;
        return 0;
    }
    fill(p, n, 77);
    long steps = 0;
    for (;;) {
        size_t m = n * 2;
        if (m > cap) {
            f_free(p);
            *err = 0;
            return -steps - 1; /* no failure before the cap */
        }
        errno = 0;
        unsigned char *q = f_realloc(p, m);
        if (!q) {
            *err = errno;
            if (!intact(p, n, 77)) FAILF("failed realloc(%zu -> %zu) damaged the block", n, m);
            f_free(p);
            return steps;
        }
        if (!intact(q, n, 77)) FAILF("realloc(%zu -> %zu) lost the contents", n, m);
        p = q;
        n = m;
        fill(p, n, 77);
        steps++;
    }
}

/* Allocates with f until the first failure (or until cap bytes); checks the
 * failure and the blocks; frees everything. Returns the count. */
static long exhaust_one(enum fn f, size_t n, size_t cap_bytes, int must_fail)
{
    int err = 0;
    if (f == F_REALLOC_ONE) {
        long steps = grow_one(n, cap_bytes, &err);
        if (steps < 0) {
            if (must_fail) FAILF("realloc growth from %zu reached %zu bytes without failing", n, cap_bytes);
            return -steps - 1;
        }
        if (err != ENOMEM) FAILF("realloc growth from %zu: failed with errno %d, not ENOMEM", n, err);
        return steps;
    }
    long count = 0;
    size_t total = 0, al = align_of(f, n);
    int failed = 0;
    while (count < (long)MAXP && total < cap_bytes) {
        void *p = alloc_with(f, n, &err);
        if (!p) {
            failed = 1;
            if (err != ENOMEM)
                FAILF("%s(%zu) failed with %s %d, not ENOMEM", fn_name[f], n,
                      f == F_POSIX_MEMALIGN ? "result" : "errno", err);
            break;
        }
        if ((uintptr_t)p & (al - 1)) FAILF("%s(%zu) = %p, not aligned to %zu", fn_name[f], n, p, al);
        if (f == F_CALLOC && (((unsigned char *)p)[0] || ((unsigned char *)p)[n - 1]))
            FAILF("calloc(%zu) not zeroed", n);
        fill(p, n, (uintptr_t)p);
        ptrs[count] = p;
        sizes[count] = n;
        count++;
        total += n;
    }
    if (!failed && must_fail) FAILF("%s(%zu) did not fail after %ld blocks (%zu bytes)", fn_name[f], n, count, total);
    for (long i = 0; i < count; i++) {
        if (!intact(ptrs[i], sizes[i], (uintptr_t)ptrs[i])) {
            FAILF("%s(%zu): block %ld of %ld damaged by the time of its free", fn_name[f], n, i, count);
            break;
        }
    }
    for (long i = 0; i < count; i++) f_free(ptrs[i]);
    return count;
}

/* multiples of 16 (calloc and reallocarray split them into n/16 x 16, n/8 x 8) */
static const size_t test_sizes[] = {3008, 200000, (3u << 20) + 12352};
#define NSIZES 3

/* Every function and size to the first failure. */
static void exhaust_all(const char *ctx, size_t cap_bytes, int must_fail)
{
    char line[1024];
    int len = snprintf(line, sizeof line, "%s %s:", g_mode, ctx);
    for (int f = 0; f < F_COUNT; f++) {
        len += snprintf(line + len, sizeof line - (size_t)len, " %s", fn_name[f]);
        for (int s = 0; s < NSIZES; s++) {
            size_t n = test_sizes[s];
            if (f == F_REALLOC_ONE) n = s == 0 ? 64 : s == 1 ? 65536 : (4u << 20);
            long c = exhaust_one((enum fn)f, n, cap_bytes, must_fail);
            len += snprintf(line + len, sizeof line - (size_t)len, "%s%ld", s ? "/" : " ", c);
        }
        if (len > (int)sizeof line - 64) {
            say(2, "%s\n", line);
            len = snprintf(line, sizeof line, "   ");
        }
    }
    say(2, "%s (blocks before the first failure, small/large/huge)\n", line);
}

/* After the fault: each function must work, a lot of memory must be usable. */
static void recover_all(const char *ctx)
{
    for (int f = 0; f < F_COUNT; f++)
        for (int s = 0; s < NSIZES; s++) {
            size_t n = test_sizes[s];
            if (f == F_REALLOC_ONE) {
                int err;
                long st = grow_one(64, 64u << 20, &err);
                if (st >= 0) FAILF("%s: realloc growth to 64 MiB fails (errno %d)", ctx, err);
                continue;
            }
            for (int k = 0; k < 20; k++) {
                int err;
                void *p = alloc_with((enum fn)f, n, &err);
                if (!p) {
                    FAILF("%s: %s(%zu) still fails (error %d)", ctx, fn_name[f], n, err);
                    break;
                }
                fill(p, n, 5);
                ptrs[k] = p;
            }
            for (int k = 0; k < 20; k++)
                if (ptrs[k]) {
                    if (!intact(ptrs[k], n, 5)) FAILF("%s: %s(%zu) block damaged", ctx, fn_name[f], n);
                    f_free(ptrs[k]);
                    ptrs[k] = NULL;
                }
        }
    /* 256 MiB in 1 MiB blocks, every page touched */
    long got = 0;
    for (; got < 256; got++) {
        unsigned char *p = f_malloc(1u << 20);
        if (!p) break;
        for (size_t i = 0; i < (1u << 20); i += 4096) p[i] = (unsigned char)got;
        ptrs[got] = p;
    }
    if (got < 256) FAILF("%s: only %ld MiB of 1 MiB blocks after recovery", ctx, got);
    for (long i = 0; i < got; i++) {
        f_free(ptrs[i]);
        ptrs[i] = NULL;
    }
}

/* ---------------------------------------------------------------------- */
/* a thread whose first allocation happens during the fault                */

static pthread_barrier_t late_go, late_done;
static int late_small; /* small blocks the late thread got before a failure */

static void *late_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&late_go);
    /* small blocks (new thread cache, maybe a new arena), then huge ones */
    static void *mine[20000 + 64];
    int n = 0, err;
    while (n < 20000) {
        void *p = alloc_with(F_MALLOC, 48, &err);
        if (!p) {
            if (err != ENOMEM) FAILF("late thread: malloc(48) failed with errno %d", err);
            break;
        }
        memset(p, 0x48, 48);
        mine[n++] = p;
    }
    int huge = 0;
    while (huge < 64) {
        void *p = alloc_with(F_MALLOC, 3u << 20, &err);
        if (!p) {
            if (err != ENOMEM) FAILF("late thread: malloc(3 MiB) failed with errno %d", err);
            break;
        }
        mine[n++] = p;
        huge++;
    }
    if (huge == 64) FAILF("late thread: 64 blocks of 3 MiB without a failure");
    for (int i = 0; i < n; i++) f_free(mine[i]);
    late_small = n - huge;
    say(2, "%s late thread: %d small, %d huge before the first failure\n", g_mode, n - huge, huge);
    pthread_barrier_wait(&late_done);
    return NULL;
}

static pthread_t late_start(void)
{
    pthread_barrier_init(&late_go, NULL, 2);
    pthread_barrier_init(&late_done, NULL, 2);
    pthread_t t;
    if (pthread_create(&t, NULL, late_thread, NULL)) FAILF("pthread_create failed");
    return t;
}

static void late_run(pthread_t t)
{
    pthread_barrier_wait(&late_go);
    pthread_barrier_wait(&late_done);
    pthread_join(t, NULL);
    /* The blocks exhaust_all freed left free pages in the main thread's
     * arena: a new thread must be served from them even though its own new
     * arena can get no chunk (regression: swalloc returned NULL for its very
     * first malloc(48) under mmap failure with the default narenas). */
    if (late_small < 1000)
        FAILF("late thread: only %d blocks of 48 bytes while other arenas hold free pages", late_small);
}

/* ---------------------------------------------------------------------- */
/* helpers: the process's address space, live blocks across the fault       */

static size_t vm_size(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0) return 0;
    buf[r] = 0;
    return (size_t)strtoull(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static void set_as_limit(rlim_t soft)
{
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = soft;
    if (rl.rlim_max != RLIM_INFINITY && soft != RLIM_INFINITY && soft > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    if (soft == RLIM_INFINITY) rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_AS, &rl) != 0) FAILF("setrlimit(RLIMIT_AS): %s", strerror(errno));
}

#define NLIVE 64
static unsigned char *live[NLIVE];
static size_t live_n[NLIVE];

static void live_make(void)
{
    for (int i = 0; i < NLIVE; i++) {
        live_n[i] = i % 8 == 7 ? (5u << 20) : i % 4 == 3 ? 100000 : 24 + 40 * (size_t)i;
        live[i] = f_malloc(live_n[i]);
        if (!live[i]) FAILF("malloc(%zu) failed before the fault", live_n[i]);
        else fill(live[i], live_n[i], 1000 + (uintptr_t)i);
    }
}

static void live_check_free(void)
{
    for (int i = 0; i < NLIVE; i++) {
        if (!live[i]) continue;
        if (!intact(live[i], live_n[i], 1000 + (uintptr_t)i))
            FAILF("a block of %zu allocated before the fault was damaged", live_n[i]);
        f_free(live[i]);
        live[i] = NULL;
    }
}

static int is_swalloc(void) { return dlsym(RTLD_DEFAULT, "swalloc_malloc") != NULL; }

/* ---------------------------------------------------------------------- */
/* modes                                                                   */

static void mode_rlimit(size_t extra_mib)
{
    live_make();
    pthread_t t = late_start();
    size_t base = vm_size();
    if (!base) {
        say(1, "SKIP rlimit: cannot read /proc/self/statm\n");
        g_quiet = 1;
        return;
    }
    set_as_limit((rlim_t)(base + (extra_mib << 20)));
    exhaust_all("under the limit", (size_t)4 << 30, 1);
    late_run(t);
    set_as_limit(RLIM_INFINITY);
    recover_all("after raising the limit");
    live_check_free();
}

/* Child of boot-limit: the limit was set before exec. */
static void mode_booted(void)
{
    say(1, "main\n");
    exhaust_all("under the limit", (size_t)4 << 30, 1);
    set_as_limit(RLIM_INFINITY);
    recover_all("after raising the limit");
    if (!g_fail) say(1, "booted ok\n");
}

/* Runs this program in mode `mode` with an optional RLIMIT_AS and extra
 * environment variable; stdout to out[]; returns the wait status. */
static int run_self(const char *mode, rlim_t limit, const char *env, char *out, size_t outsz)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (env) putenv((char *)env);
        alarm(60); /* survives exec: a hang is a failure */
        if (limit != RLIM_INFINITY) {
            struct rlimit rl;
            getrlimit(RLIMIT_AS, &rl);
            rl.rlim_cur = limit;
            if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(99);
        }
        char *argv[] = {"fault_injection", (char *)mode, NULL};
        execv("/proc/self/exe", argv);
        _exit(98);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + got, outsz - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (got == outsz - 1) break;
    }
    out[got] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void describe(int st, char *buf, size_t n)
{
    if (WIFEXITED(st)) snprintf(buf, n, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, n, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else snprintf(buf, n, "status %#x", st);
}

static void mode_boot_limit(void)
{
    static char out[8192];
    int st = run_self("measure", RLIM_INFINITY, NULL, out, sizeof out);
    size_t need = strtoull(out, NULL, 10);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || need == 0) {
        FAILF("the measuring child failed");
        return;
    }
    /* MiB above (and below) the address space the process has at main */
    static const int extra[] = {64, 16, 8, 4, 2, 1, 0, -1, -2, -3, -4, -5, -6, -8, -10, -12, -16, -24, -32, -48, -64};
    int started = 0, lowest = 0;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        long long lim = (long long)need + (long long)extra[i] * (1 << 20);
        if (lim <= 0) break;
        st = run_self("booted", (rlim_t)lim, NULL, out, sizeof out);
        char d[64];
        describe(st, d, sizeof d);
        int reached = strncmp(out, "main\n", 5) == 0;
        if (!reached) {
            /* the loader (or the kernel) could not start the process: the
             * limit is below what the program needs, not the allocator */
            say(2, "boot-limit: %+d MiB: the process did not reach main (%s); stopping\n", extra[i], d);
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) FAILF("%+d MiB: hang before main", extra[i]);
            break;
        }
        started++;
        lowest = extra[i];
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "booted ok\n")) {
            char *first = out + 5, *nl = strchr(first, '\n');
            if (nl) *nl = 0;
            FAILF("limit %+d MiB over the start-up size: %s: %.250s", extra[i], d, first);
        }
    }
    if (started < 3) FAILF("only %d limits could start the process", started);
    say(2, "boot-limit: start-up address space %zu MiB; %d limits down to %+d MiB all clean\n", need >> 20, started,
        lowest);
}

typedef void (*shim_set_fn)(int);
typedef long (*shim_count_fn)(void);

static shim_set_fn shim_set(void) { return (shim_set_fn)dlsym(RTLD_DEFAULT, "mmap_fail_shim_set"); }

static int mmap_modes_usable(void)
{
    if (!shim_set()) {
        say(1, "SKIP %s: mmap_fail_shim.so is not preloaded\n", g_mode);
        return 0;
    }
    if (!is_swalloc()) {
        say(1, "SKIP %s: the process's malloc is not swalloc (glibc's uses brk: not comparable)\n", g_mode);
        return 0;
    }
    return 1;
}

static void mode_mmap_fail(void)
{
    if (!mmap_modes_usable()) {
        g_quiet = 1;
        return;
    }
    shim_count_fn failures = (shim_count_fn)dlsym(RTLD_DEFAULT, "mmap_fail_shim_failures");
    live_make();
    pthread_t t = late_start();
    shim_set()(1);
    exhaust_all("mmap failing", (size_t)2 << 30, 1);
    late_run(t);
    long injected = failures ? failures() : -1;
    shim_set()(0);
    if (injected == 0) FAILF("the shim never failed a call: the allocator does not call mmap through it");
    say(2, "mmap-fail: %ld mmap/mremap calls failed\n", injected);
    recover_all("after mmap works again");
    live_check_free();
}

static void mode_mmap_booted(void)
{
    say(1, "main\n");
    if (!shim_set()) {
        FAILF("shim missing in the child");
        return;
    }
    exhaust_all("mmap failing from the start", (size_t)2 << 30, 1);
    shim_set()(0);
    recover_all("after mmap works again");
    if (!g_fail) say(1, "booted ok\n");
}

static void mode_mmap_boot(void)
{
    if (!mmap_modes_usable()) {
        g_quiet = 1;
        return;
    }
    static char out[8192];
    static const int ns[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24, 32, 64, 100};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char env[64];
        snprintf(env, sizeof env, "MMAP_FAIL_AFTER=%d", ns[i]);
        int st = run_self("mmap-booted", RLIM_INFINITY, env, out, sizeof out);
        char d[64];
        describe(st, d, sizeof d);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "booted ok\n")) {
            char *nl;
            if ((nl = strchr(out + (strncmp(out, "main\n", 5) ? 0 : 5), '\n'))) *nl = 0;
            FAILF("MMAP_FAIL_AFTER=%d: %s%s: %.250s", ns[i], d, strncmp(out, "main\n", 5) ? " before main" : "",
                  out + (strncmp(out, "main\n", 5) ? 0 : 5));
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s rlimit [EXTRA_MIB] | boot-limit | mmap-fail | mmap-boot\n", argv[0]);
        return 2;
    }
    g_mode = argv[1];
    if (strcmp(g_mode, "measure") == 0) {
        say(1, "%zu\n", vm_size());
        return 0;
    }
    alarm(240);
    if (strcmp(g_mode, "rlimit") == 0) {
        mode_rlimit(argc > 2 ? (size_t)atoi(argv[2]) : 64);
    } else if (strcmp(g_mode, "boot-limit") == 0) {
        mode_boot_limit();
    } else if (strcmp(g_mode, "booted") == 0) {
        g_quiet = 1;
        mode_booted();
    } else if (strcmp(g_mode, "mmap-fail") == 0) {
        mode_mmap_fail();
    } else if (strcmp(g_mode, "mmap-boot") == 0) {
        mode_mmap_boot();
    } else if (strcmp(g_mode, "mmap-booted") == 0) {
        g_quiet = 1;
        mode_mmap_booted();
    } else {
        fprintf(stderr, "unknown mode '%s'\n", g_mode);
        return 2;
    }
    if (!g_fail && !g_quiet) say(1, "%s ok\n", g_mode);
    return g_fail ? 1 : 0;
}
