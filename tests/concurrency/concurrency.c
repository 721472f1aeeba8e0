/*
 * concurrency.c - multi-threaded robustness of a malloc implementation:
 * cross-thread frees, thread churn, fork storms.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o concurrency concurrency.c
 * Run:   ./concurrency prodcons T [SECONDS=2]
 *        ./concurrency churn [THREADS=1000]
 *        ./concurrency fork-storm [FORKS=300]
 *
 * prodcons T   T/2 producers allocate random 8 B .. 64 KiB blocks (malloc,
 *              calloc, posix_memalign, aligned_alloc, realloc), fill them
 *              with a pattern and pass them through bounded, lock-protected
 *              queues to T - T/2 consumers that verify them, sometimes
 *              realloc them, and free them. Runs SECONDS, then drains.
 * churn        THREADS short-lived threads (joined and detached, up to 24
 *              alive at once) allocate blocks, leave half of them alive in
 *              a global pool (taking and freeing whatever older block sits
 *              in the slot they pick) and exit with their thread caches
 *              full; two long-lived sweeper threads free blocks from the
 *              pool while the others come and go.
 * fork-storm   4 threads allocate and free continuously while the main
 *              thread forks FORKS times. Every child (alarm(10)) verifies
 *              and frees a block made before the fork, then mallocs/frees a
 *              few hundred blocks (small, large, > 2 MiB, calloc, realloc,
 *              posix_memalign); every other child first forks a grandchild
 *              that does the same (a fork from a child of a child). The
 *              parent has alarm(120): a deadlock is a failure, not a hang.
 * free-errno   4 threads malloc 40000-byte blocks (above the thread cache,
 *              so every call takes an arena lock) and free each other's:
 *              free must never change errno (a contended lock's futex wait
 *              failing with EAGAIN used to leak into errno).
 * arena-swap THREADS ITERS: each thread replaces random blocks of its own
 *              (8 B .. 20 KiB, stamped), hands a third of them to another
 *              thread through atomic slots and frees what others handed it
 *              (the blocks of other arenas a thread cache keeps apart, and
 *              sends home), moves itself to another arena (thread.arena)
 *              and flushes its cache (thread.tcache.flush) now and then.
 *              Every block is checked before its free. Needs mallctl.
 * arena-share THREADS: threads share an arena until they meet on its
 *              locks. A second thread that allocates a little is bound to
 *              the main thread's arena (thread.arena); then THREADS threads
 *              each allocate and free bursts of 2000 64-byte blocks (a refill
 *              or flush of one bin every few dozen calls, all on the same
 *              bin lock) until one of them is on another arena, or 20 s
 *              pass (a failure: held locks did not move anyone). Needs
 *              mallctl.
 * line-share THREADS: THREADS threads take turns to allocate one block of
 *              each of 8, 16, 32, 48, 64, 80, 96, 112 and 128 bytes (their
 *              first of each size, so the thread caches' first refills,
 *              which threads sharing an arena take from the same slabs);
 *              no two threads' blocks may share a 64-byte cache line (their
 *              writes would move the line between cores: false sharing).
 *              Skipped without a thread cache (tcache:false, junk, zero:
 *              each call takes one region).
 * last-thread-exit  the main thread, after a second thread allocated
 *              and left (the library's background purging thread starts
 *              then, by default), calls pthread_exit: the last thread of
 *              the program is gone, so the process must exit with status 0
 *              (POSIX) rather than live on with the library's thread alone.
 * fork-worker-exit  the same in the child of a fork made by a worker
 *              thread (CPython's test_threading does this): the child's
 *              one thread allocates, then calls pthread_exit; the parent
 *              waits 10 s for the child's exit status 0.
 * signal-mask  after a second thread allocated (the library's background
 *              thread starts then, by default, from a thread whose signals
 *              are not blocked), the program blocks SIGUSR1 in its one
 *              thread and sends it to itself: it must stay pending for
 *              sigtimedwait (the sigwait pattern of servers), not be
 *              delivered to the library's thread (SIGUSR1's default action
 *              ends the process).
 * two-roots   blocks under two root entries of the library's page map (512
 *              GiB each): the program reserves address space (PROT_NONE)
 *              below its heap until new mappings land under the next root
 *              entry, then allocates small and large blocks until some are
 *              there; a second thread frees half of them while this one
 *              reallocs the rest (in place and moving) and frees them, every
 *              block checked; a forked child's double free of a block under
 *              the second entry must abort. The library's free and realloc
 *              fast paths read the entry of the first leaf made (the hot
 *              leaf) and walk the map for the others: both must hold.
 * huge-realloc-race THREADS ITERS: each thread mallocs, grows with realloc
 *              and frees its own 2-8 MiB blocks; none crosses threads. A
 *              block moved by mremap used to clear its old address's
 *              page-map entry after the move, erasing another thread's
 *              block just mapped there ("invalid pointer" on a live block).
 *
 * Deterministic stdout: one "<mode> ok" line, or "FAIL <mode>: ..." lines
 * and exit status 1. Counts and timings go to stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static const char *g_mode = "?";
static atomic_int g_failures;

#define FAILF(...)                                                           \
    do {                                                                     \
        if (atomic_fetch_add(&g_failures, 1) < 10) {                         \
            flockfile(stdout);                                               \
            printf("FAIL %s: ", g_mode);                                     \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
            fflush(stdout);                                                  \
            funlockfile(stdout);                                             \
        }                                                                    \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Random size, log-uniform between lo and hi (inclusive). */
static size_t rand_size(uint64_t *s, size_t lo, size_t hi)
{
    int lo_bits = 63 - __builtin_clzll(lo), hi_bits = 63 - __builtin_clzll(hi);
    int b = lo_bits + (int)(xs(s) % (uint64_t)(hi_bits - lo_bits + 1));
    size_t n = ((size_t)1 << b) + (xs(s) & (((size_t)1 << b) - 1));
    if (n < lo) n = lo;
    if (n > hi) n = hi;
    return n;
}

/* The pattern byte at offset i of a block tagged `seed`. */
static inline unsigned char pat(uint32_t seed, size_t i)
{
    return (unsigned char)(seed ^ (i * 0x9Du) ^ (i >> 8));
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
}

/* Returns the first bad offset, or (size_t)-1. */
static size_t check(const unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(seed, i)) return i;
    return (size_t)-1;
}

/* Big blocks: head and tail 4 KiB plus 16 bytes per page (per 64 KiB above
 * 1 MiB, so that huge blocks stay cheap). */
static inline size_t sparse_stride(size_t n) { return n > (1u << 20) ? 65536 : 4096; }
static void fill_sparse(unsigned char *p, size_t n, uint32_t seed)
{
    if (n <= 16384) { fill(p, n, seed); return; }
    for (size_t i = 0; i < 4096; i++) p[i] = pat(seed, i);
    for (size_t i = n - 4096; i < n; i++) p[i] = pat(seed, i);
    for (size_t pg = 4096; pg + 16 <= n; pg += sparse_stride(n))
        for (size_t i = pg; i < pg + 16; i++) p[i] = pat(seed, i);
}

static size_t check_sparse(const unsigned char *p, size_t n, uint32_t seed)
{
    if (n <= 16384) return check(p, n, seed);
    for (size_t i = 0; i < 4096; i++) if (p[i] != pat(seed, i)) return i;
    for (size_t i = n - 4096; i < n; i++) if (p[i] != pat(seed, i)) return i;
    for (size_t pg = 4096; pg + 16 <= n; pg += sparse_stride(n))
        for (size_t i = pg; i < pg + 16; i++) if (p[i] != pat(seed, i)) return i;
    return (size_t)-1;
}

/* ====================================================================== */
/* prodcons                                                                */

typedef struct {
    unsigned char *p;
    size_t size;
    uint32_t seed;
    uint32_t align; /* 0 or the alignment asked for */
} item_t;

#define QCAP 128
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    item_t items[QCAP];
    int head, count;
    int closed;
} queue_t;

static queue_t *queues;
static int n_producers, n_consumers;
static double deadline;
static atomic_long pc_produced, pc_consumed, pc_local;

static void q_push(queue_t *q, item_t it)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == QCAP) pthread_cond_wait(&q->not_full, &q->mu);
    q->items[(q->head + q->count) % QCAP] = it;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* 0 when the queue is closed and empty. */
static int q_pop(queue_t *q, item_t *out)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) pthread_cond_wait(&q->not_empty, &q->mu);
    if (q->count == 0) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    *out = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

static int make_block(uint64_t *s, item_t *it)
{
    size_t n = rand_size(s, 8, 65536);
    uint32_t seed = (uint32_t)xs(s);
    unsigned char *p = NULL;
    uint32_t align = 0;
    switch (xs(s) % 8) {
    case 0:
        p = f_calloc(1, n);
        if (p) {
            for (size_t i = 0; i < n; i++)
                if (p[i]) {
                    FAILF("calloc(%zu) byte %zu is 0x%02x, not zero", n, i, p[i]);
                    break;
                }
        }
        break;
    case 1: {
        align = 16u << (xs(s) % 9); /* 16 .. 4096 */
        void *q = NULL;
        int rc = f_posix_memalign(&q, align, n);
        if (rc != 0) {
            FAILF("posix_memalign(%u, %zu) = %d", align, n, rc);
            return 0;
        }
        p = q;
        break;
    }
    case 2:
        align = 64u << (xs(s) % 7); /* 64 .. 4096 */
        p = f_aligned_alloc(align, (n + align - 1) & ~(size_t)(align - 1));
        break;
    case 3: {
        /* grown by realloc from a smaller block with the same pattern */
        size_t n0 = 1 + n / 3;
        unsigned char *q = f_malloc(n0);
        if (!q) break;
        fill(q, n0, seed);
        p = f_realloc(q, n);
        if (p) {
            size_t bad = check(p, n0, seed);
            if (bad != (size_t)-1) FAILF("realloc(%zu -> %zu) lost byte %zu", n0, n, bad);
        }
        break;
    }
    default:
        p = f_malloc(n);
    }
    if (!p) {
        FAILF("allocation of %zu bytes failed (errno %d)", n, errno);
        return 0;
    }
    if (align && ((uintptr_t)p & (align - 1))) FAILF("block %p not aligned to %u", (void *)p, align);
    fill(p, n, seed);
    it->p = p;
    it->size = n;
    it->seed = seed;
    it->align = align;
    return 1;
}

static void consume(item_t *it, uint64_t *s, const char *who)
{
    size_t bad = check(it->p, it->size, it->seed);
    if (bad != (size_t)-1)
        FAILF("%s: block %p (%zu bytes) corrupted at offset %zu: 0x%02x, expected 0x%02x", who, (void *)it->p,
              it->size, bad, it->p[bad], pat(it->seed, bad));
    if (it->align == 0 && xs(s) % 8 == 0) {
        /* realloc a block another thread allocated */
        size_t n2 = rand_size(s, 8, 65536);
        unsigned char *q = f_realloc(it->p, n2);
        if (!q) {
            FAILF("realloc(%zu -> %zu) of a foreign block failed", it->size, n2);
            f_free(it->p);
            return;
        }
        size_t keep = n2 < it->size ? n2 : it->size;
        bad = check(q, keep, it->seed);
        if (bad != (size_t)-1) FAILF("%s: realloc(%zu -> %zu) lost byte %zu", who, it->size, n2, bad);
        f_free(q);
        return;
    }
    f_free(it->p);
}

static void *producer(void *arg)
{
    long id = (long)arg;
    uint64_t s = 0x1234567ull + (uint64_t)id * 0x9E3779B97F4A7C15ull;
    item_t local[16];
    int nlocal = 0;
    long k = 0;
    while (now_s() < deadline) {
        for (int burst = 0; burst < 32; burst++, k++) {
            item_t it;
            if (!make_block(&s, &it)) continue;
            if (xs(&s) % 4 == 0) {
                /* some blocks are freed by their own thread, later */
                if (nlocal == 16) {
                    int j = (int)(xs(&s) % 16);
                    consume(&local[j], &s, "producer");
                    atomic_fetch_add(&pc_local, 1);
                    local[j] = it;
                } else {
                    local[nlocal++] = it;
                }
                continue;
            }
            q_push(&queues[(id + k) % n_consumers], it);
            atomic_fetch_add(&pc_produced, 1);
        }
    }
    for (int j = 0; j < nlocal; j++) {
        consume(&local[j], &s, "producer");
        atomic_fetch_add(&pc_local, 1);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long id = (long)arg;
    uint64_t s = 0xABCDEF1ull + (uint64_t)id * 0xD1B54A32D192ED03ull;
    item_t it;
    while (q_pop(&queues[id], &it)) {
        consume(&it, &s, "consumer");
        atomic_fetch_add(&pc_consumed, 1);
    }
    return NULL;
}

static int run_prodcons(int t, double seconds)
{
    if (t < 2) t = 2;
    n_producers = t / 2;
    n_consumers = t - n_producers;
    alarm((unsigned)seconds + 60);
    queues = calloc((size_t)n_consumers, sizeof *queues);
    for (int i = 0; i < n_consumers; i++) {
        pthread_mutex_init(&queues[i].mu, NULL);
        pthread_cond_init(&queues[i].not_empty, NULL);
        pthread_cond_init(&queues[i].not_full, NULL);
    }
    pthread_t *th = malloc((size_t)t * sizeof *th);
    double t0 = now_s();
    deadline = t0 + seconds;
    for (long i = 0; i < n_consumers; i++)
        if (pthread_create(&th[n_producers + i], NULL, consumer, (void *)i)) {
            FAILF("pthread_create failed");
            return 1;
        }
    for (long i = 0; i < n_producers; i++)
        if (pthread_create(&th[i], NULL, producer, (void *)i)) {
            FAILF("pthread_create failed");
            return 1;
        }
    for (int i = 0; i < n_producers; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < n_consumers; i++) {
        pthread_mutex_lock(&queues[i].mu);
        queues[i].closed = 1;
        pthread_cond_broadcast(&queues[i].not_empty);
        pthread_mutex_unlock(&queues[i].mu);
    }
    for (int i = 0; i < n_consumers; i++) pthread_join(th[n_producers + i], NULL);
    if (atomic_load(&pc_produced) != atomic_load(&pc_consumed))
        FAILF("%ld blocks produced but %ld consumed", (long)pc_produced, (long)pc_consumed);
    if (atomic_load(&pc_produced) == 0) FAILF("no block went through a queue");
    fprintf(stderr, "prodcons %d threads (%d producers): %ld cross-thread, %ld local in %.2fs\n", t, n_producers,
            (long)pc_produced, (long)pc_local, now_s() - t0);
    free(th);
    for (int i = 0; i < n_consumers; i++) {
        pthread_mutex_destroy(&queues[i].mu);
        pthread_cond_destroy(&queues[i].not_empty);
        pthread_cond_destroy(&queues[i].not_full);
    }
    free(queues);
    return 0;
}

/* ====================================================================== */
/* churn                                                                   */

/* A pooled block starts with its header, so any thread can verify it. */
typedef struct {
    uint64_t size;
    uint32_t seed;
    uint32_t magic;
} hdr_t;
#define HDR_MAGIC 0x5EA110C5u
#define POOL 4096
static _Atomic(hdr_t *) pool[POOL];
static atomic_int churn_stop;
static atomic_long churn_freed, churn_pooled, churn_alive;

static hdr_t *churn_alloc(uint64_t *s)
{
    size_t n;
    uint64_t r = xs(s) % 1000;
    if (r == 0)
        n = (size_t)(2u << 20) + (size_t)(xs(s) % (1u << 20)); /* > 2 MiB */
    else if (r < 20)
        n = rand_size(s, 16384, 1u << 20); /* large */
    else
        n = rand_size(s, 16, 4096);
    uint32_t seed = (uint32_t)xs(s);
    hdr_t *h = (r % 5 == 1) ? f_calloc(1, n) : f_malloc(n);
    if (!h) {
        FAILF("allocation of %zu bytes failed (errno %d)", n, errno);
        return NULL;
    }
    h->size = n;
    h->seed = seed;
    h->magic = HDR_MAGIC;
    fill_sparse((unsigned char *)(h + 1), n - sizeof *h, seed);
    return h;
}

static void churn_free(hdr_t *h, const char *who)
{
    if (h->magic != HDR_MAGIC || h->size < sizeof *h || h->size > (4u << 20)) {
        FAILF("%s: pooled block %p has a corrupted header (magic %#x, size %llu)", who, (void *)h, h->magic,
              (unsigned long long)h->size);
        return; /* do not free what we cannot trust */
    }
    size_t bad = check_sparse((unsigned char *)(h + 1), h->size - sizeof *h, h->seed);
    if (bad != (size_t)-1)
        FAILF("%s: pooled block %p (%llu bytes) corrupted at offset %zu", who, (void *)h,
              (unsigned long long)h->size, bad + sizeof *h);
    h->magic = 0;
    f_free(h);
    atomic_fetch_add(&churn_freed, 1);
}

static void *short_lived(void *arg)
{
    uint64_t s = 0x5151ull + (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull;
    hdr_t *mine[64];
    int n = 16 + (int)(xs(&s) % 48);
    for (int i = 0; i < n; i++) mine[i] = churn_alloc(&s);
    /* private churn: fills the thread cache, left full at exit */
    for (int i = 0; i < 200; i++) {
        void *p = f_malloc(rand_size(&s, 8, 2048));
        if (p) f_free(p);
    }
    for (int i = 0; i < n; i++) {
        if (!mine[i]) continue;
        if (i % 2 == 0) {
            /* leave it alive in the pool; free whatever was there */
            hdr_t *old = atomic_exchange(&pool[xs(&s) % POOL], mine[i]);
            atomic_fetch_add(&churn_pooled, 1);
            if (old) churn_free(old, "short-lived");
        } else {
            churn_free(mine[i], "short-lived");
        }
    }
    /* keep some cached blocks of its own in the tcache */
    for (int i = 0; i < 8; i++) f_free(f_malloc(48));
    atomic_fetch_sub(&churn_alive, 1);
    return NULL;
}

static void *sweeper(void *arg)
{
    uint64_t s = 0x777ull + (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&churn_stop)) {
        for (int k = 0; k < 64; k++) {
            hdr_t *h = atomic_exchange(&pool[xs(&s) % POOL], NULL);
            if (h) churn_free(h, "sweeper");
        }
        sched_yield();
    }
    return NULL;
}

static int run_churn(int total)
{
    alarm(120);
    double t0 = now_s();
    pthread_t sw[2];
    for (long i = 0; i < 2; i++)
        if (pthread_create(&sw[i], NULL, sweeper, (void *)i)) {
            FAILF("pthread_create failed");
            return 1;
        }
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&detached, 256 * 1024);
    pthread_attr_t joinable;
    pthread_attr_init(&joinable);
    pthread_attr_setstacksize(&joinable, 256 * 1024);
    enum { WAVE = 24 };
    int created = 0;
    while (created < total) {
        pthread_t th[WAVE];
        int joined[WAVE];
        int w = total - created < WAVE ? total - created : WAVE;
        for (int i = 0; i < w; i++) {
            atomic_fetch_add(&churn_alive, 1);
            joined[i] = (created + i) % 3 != 0;
            int rc = pthread_create(&th[i], joined[i] ? &joinable : &detached, short_lived,
                                    (void *)(uintptr_t)(created + i));
            if (rc) {
                atomic_fetch_sub(&churn_alive, 1);
                FAILF("pthread_create: %s", strerror(rc));
                joined[i] = 0;
            }
        }
        for (int i = 0; i < w; i++)
            if (joined[i]) pthread_join(th[i], NULL);
        created += w;
        /* bounded number of detached threads alive */
        while (atomic_load(&churn_alive) > WAVE) usleep(1000);
    }
    while (atomic_load(&churn_alive) > 0) usleep(1000);
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(sw[i], NULL);
    for (int i = 0; i < POOL; i++) {
        hdr_t *h = atomic_exchange(&pool[i], NULL);
        if (h) churn_free(h, "main");
    }
    if (atomic_load(&churn_pooled) == 0) FAILF("no block went through the pool");
    fprintf(stderr, "churn: %d threads, %ld blocks pooled, %ld freed in %.2fs\n", total, (long)churn_pooled,
            (long)churn_freed, now_s() - t0);
    pthread_attr_destroy(&detached);
    pthread_attr_destroy(&joinable);
    return 0;
}

/* ====================================================================== */
/* fork-storm                                                              */

static atomic_int storm_stop;
static atomic_long storm_ops;

static void *storm_worker(void *arg)
{
    uint64_t s = 0xF00Dull + (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull;
    enum { SLOTS = 256 };
    unsigned char *blk[SLOTS] = {0};
    size_t sz[SLOTS] = {0};
    uint32_t sd[SLOTS] = {0};
    /* nice 10: four busy threads on two cores would otherwise starve the
     * children (and the run would take minutes); they still run all along */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    while (!atomic_load_explicit(&storm_stop, memory_order_relaxed)) {
        int j = (int)(xs(&s) % SLOTS);
        if (blk[j]) {
            size_t bad = check_sparse(blk[j], sz[j], sd[j]);
            if (bad != (size_t)-1) FAILF("parent worker: block of %zu corrupted at offset %zu", sz[j], bad);
            f_free(blk[j]);
            blk[j] = NULL;
        }
        uint64_t r = xs(&s) % 100;
        size_t n = r == 0 ? rand_size(&s, 16384, 1u << 20) : rand_size(&s, 8, 8192);
        unsigned char *p = f_malloc(n);
        if (!p) {
            FAILF("parent worker: malloc(%zu) failed", n);
            continue;
        }
        sd[j] = (uint32_t)xs(&s);
        fill_sparse(p, n, sd[j]);
        blk[j] = p;
        sz[j] = n;
        atomic_fetch_add_explicit(&storm_ops, 1, memory_order_relaxed);
    }
    for (int j = 0; j < SLOTS; j++)
        if (blk[j]) f_free(blk[j]);
    return NULL;
}

/* What a child (or grandchild) does; returns 0 when all is well. */
static int child_work(uint64_t seed, unsigned char *inherited, size_t inherited_n, uint32_t inherited_seed)
{
    uint64_t s = seed | 1;
    if (inherited) {
        if (check_sparse(inherited, inherited_n, inherited_seed) != (size_t)-1) return 10;
        f_free(inherited);
    }
    enum { N = 64 };
    unsigned char *blk[N] = {0};
    size_t sz[N] = {0};
    uint32_t sd[N] = {0};
    for (int round = 0; round < 300; round++) {
        int j = (int)(xs(&s) % N);
        if (blk[j]) {
            if (check_sparse(blk[j], sz[j], sd[j]) != (size_t)-1) return 11;
            f_free(blk[j]);
            blk[j] = NULL;
        }
        uint64_t r = xs(&s) % 100;
        size_t n;
        if (r < 3)
            n = (size_t)(2u << 20) + 1 + (size_t)(xs(&s) % (3u << 20)); /* > 2 MiB */
        else if (r < 10)
            n = rand_size(&s, 16384, 2u << 20); /* large */
        else
            n = rand_size(&s, 8, 8192);
        unsigned char *p;
        switch (round % 5) {
        case 0:
            p = f_calloc(1, n);
            if (p && (p[0] || p[n - 1] || p[n / 2])) return 12;
            break;
        case 1: {
            void *q = NULL;
            p = f_posix_memalign(&q, 4096, n) == 0 ? q : NULL;
            if (p && ((uintptr_t)p & 4095)) return 13;
            break;
        }
        case 2:
            p = f_malloc(n / 2 + 1);
            if (p) {
                p[0] = 0x5A;
                unsigned char *q = f_realloc(p, n);
                if (!q) f_free(p);
                p = q;
                if (p && p[0] != 0x5A) return 14;
            }
            break;
        default:
            p = f_malloc(n);
        }
        if (!p) return 15;
        sd[j] = (uint32_t)xs(&s);
        fill_sparse(p, n, sd[j]);
        blk[j] = p;
        sz[j] = n;
    }
    for (int j = 0; j < N; j++)
        if (blk[j]) {
            if (check_sparse(blk[j], sz[j], sd[j]) != (size_t)-1) return 16;
            f_free(blk[j]);
        }
    return 0;
}

static const char *status_text(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "status %#x", st);
    return buf;
}

struct child {
    pid_t pid;
    int k;
};

/* Waits for one of the children in flight and checks its status. */
static int reap_one(struct child *inflight, int *n)
{
    int st;
    pid_t pid = waitpid(-1, &st, 0);
    if (pid < 0) {
        FAILF("waitpid: %s", strerror(errno));
        return 0;
    }
    int k = -1;
    for (int i = 0; i < *n; i++)
        if (inflight[i].pid == pid) {
            k = inflight[i].k;
            inflight[i] = inflight[--*n];
            break;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char buf[64];
        const char *why = "exit code: see child_work";
        if (WIFSIGNALED(st))
            why = WTERMSIG(st) == SIGALRM ? "alarm after 10 s: deadlock?" : "killed by a signal";
        else if (WEXITSTATUS(st) >= 100)
            why = "its grandchild failed with exit code (code - 100)";
        else if (WEXITSTATUS(st) >= 64)
            why = "its grandchild died of signal (code - 64)";
        FAILF("child %d: %s (%s)", k, status_text(st, buf, sizeof buf), why);
    }
    return 1;
}

static int run_fork_storm(int forks)
{
    alarm(120);
    double t0 = now_s();
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&th[i], NULL, storm_worker, (void *)i)) {
            FAILF("pthread_create failed");
            return 1;
        }
    uint64_t s = 0xC0FFEEull;
    int grandchildren = 0;
    struct child inflight[2];
    int ninflight = 0;
    for (int k = 0; k < forks && atomic_load(&g_failures) == 0; k++) {
        /* a block made just before the fork, verified and freed by the child */
        size_t n = (k % 3 == 0) ? (3u << 20) : rand_size(&s, 8, 100000);
        uint32_t seed = (uint32_t)xs(&s);
        unsigned char *pre = f_malloc(n);
        if (!pre) {
            FAILF("malloc(%zu) failed", n);
            break;
        }
        fill_sparse(pre, n, seed);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            FAILF("fork %d: %s", k, strerror(errno));
            f_free(pre);
            break;
        }
        if (pid == 0) {
            alarm(10);
            int rc = 0;
            if (k % 2 == 0) {
                pid_t g = fork();
                if (g < 0) _exit(20);
                if (g == 0) {
                    alarm(10);
                    _exit(child_work(xs(&s) ^ 0x6A6A, pre, n, seed));
                }
                rc = child_work(xs(&s), NULL, 0, 0);
                int gst;
                if (waitpid(g, &gst, 0) != g) _exit(21);
                if (!WIFEXITED(gst) || WEXITSTATUS(gst) != 0) {
                    /* report the grandchild's failure as 100 + its code, or 64 + signal */
                    _exit(WIFEXITED(gst) ? 100 + WEXITSTATUS(gst) % 100 : 64 + WTERMSIG(gst) % 32);
                }
                f_free(pre);
            } else {
                rc = child_work(xs(&s), pre, n, seed);
            }
            _exit(rc);
        }
        if (k % 2 == 0) grandchildren++;
        f_free(pre);
        inflight[ninflight].pid = pid;
        inflight[ninflight].k = k;
        ninflight++;
        /* two children at a time: one per core */
        while (ninflight >= 2 || (ninflight > 0 && (k + 1 >= forks || atomic_load(&g_failures))))
            if (!reap_one(inflight, &ninflight)) break;
        xs(&s);
    }
    while (ninflight > 0 && reap_one(inflight, &ninflight)) {}
    atomic_store(&storm_stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    fprintf(stderr, "fork-storm: %d forks, %d grandchildren, %ld parent ops in %.2fs\n", forks, grandchildren,
            (long)storm_ops, now_s() - t0);
    return 0;
}

/* ---- free-errno ---- */
static void *_Atomic errno_swap[64];
static atomic_long errno_bad;
static atomic_int errno_first;

static void *errno_worker(void *arg)
{
    uint64_t s = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1);
    for (int i = 0; i < 100000 && !atomic_load(&errno_bad); i++) {
        void *p = f_malloc(40000);
        if (!p) { FAILF("malloc(40000) failed"); return NULL; }
        p = atomic_exchange(&errno_swap[xs(&s) % 64], p);
        if (!p) continue;
        errno = 0;
        f_free(p);
        if (errno != 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&errno_first, &zero, errno);
            atomic_fetch_add(&errno_bad, 1);
        }
    }
    return NULL;
}

static void run_free_errno(void)
{
    pthread_t th[4];
    for (long i = 0; i < 4; i++) pthread_create(&th[i], NULL, errno_worker, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 64; i++) f_free(errno_swap[i]);
    if (errno_bad) FAILF("free() changed errno (to %d) in %ld calls", atomic_load(&errno_first), (long)errno_bad);
}

/* ---- huge-realloc-race ---- */
static int huge_iters;

static void *huge_worker(void *arg)
{
    uint64_t s = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1);
    unsigned char *live[4] = {0};
    for (int i = 0; i < huge_iters && !atomic_load(&g_failures); i++) {
        uint64_t r = xs(&s);
        int k = (int)(r % 4);
        size_t n = (2u << 20) + 1 + (r >> 8) % (6u << 20);
        if (!live[k]) {
            if (!(live[k] = f_malloc(n))) { FAILF("malloc(%zu) failed", n); break; }
            live[k][0] = (unsigned char)k;
        } else if ((r >> 40) & 1) {
            f_free(live[k]);
            live[k] = NULL;
        } else {
            unsigned char *q = f_realloc(live[k], n);
            if (!q) { FAILF("realloc(%zu) failed", n); break; }
            if (q[0] != (unsigned char)k) { FAILF("realloc lost the block's contents"); break; }
            live[k] = q;
        }
    }
    for (int k = 0; k < 4; k++) f_free(live[k]);
    return NULL;
}

static void run_huge_realloc_race(int threads, int iters)
{
    pthread_t th[16];
    if (threads > 16) threads = 16;
    huge_iters = iters;
    for (long i = 0; i < threads; i++) pthread_create(&th[i], NULL, huge_worker, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
static mallctl_fn swap_ctl;
#define SWAP_SLOTS 4096
#define SWAP_OWN 512
static _Atomic(unsigned char *) swap_box[64][SWAP_SLOTS];
static int swap_threads;
static long swap_iters;

/* A block's size and tag live in its first 8 bytes; the rest is stamped. */
static unsigned char *swap_new(uint64_t *s)
{
    size_t n = rand_size(s, 8, 20000);
    uint32_t tag = (uint32_t)xs(s);
    unsigned char *p = malloc(n < 8 ? 8 : n);
    if (!p) {
        FAILF("malloc(%zu) failed", n);
        return NULL;
    }
    uint32_t n32 = (uint32_t)n;
    memcpy(p, &n32, 4);
    memcpy(p + 4, &tag, 4);
    fill(p + 8, n > 8 ? n - 8 : 0, tag);
    return p;
}

static void swap_free(unsigned char *p)
{
    if (!p) return;
    uint32_t n, tag;
    memcpy(&n, p, 4);
    memcpy(&tag, p + 4, 4);
    size_t bad = check(p + 8, n > 8 ? n - 8 : 0, tag);
    if (bad != (size_t)-1) FAILF("block %p of %u bytes corrupted at %zu", (void *)p, n, bad + 8);
    free(p);
}

static void *swap_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    unsigned char *own[SWAP_OWN] = {0};
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    if (swap_ctl("arenas.narenas", &narenas, &len, NULL, 0) != 0 || narenas == 0) narenas = 1;
    for (long it = 0; it < swap_iters; it++) {
        uint64_t r = xs(&s);
        int k = (int)(r % SWAP_OWN);
        swap_free(own[k]);
        own[k] = swap_new(&s);
        if ((r >> 20) % 3 == 0) {
            int to = (id + 1 + (int)((r >> 24) % (uint64_t)(swap_threads - 1))) % swap_threads;
            unsigned char *old = atomic_exchange(&swap_box[to][(r >> 32) % SWAP_SLOTS], own[k]);
            own[k] = NULL;
            swap_free(old);
        }
        if ((r >> 40) % 2 == 0) swap_free(atomic_exchange(&swap_box[id][(r >> 44) % SWAP_SLOTS], NULL));
        if ((r >> 12) % 4099 == 0) {
            unsigned a = (unsigned)((r >> 50) % narenas);
            if (swap_ctl("thread.arena", NULL, NULL, &a, sizeof a) != 0) FAILF("thread.arena %u", a);
        }
        if ((r >> 12) % 7001 == 1) swap_ctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    }
    for (int k = 0; k < SWAP_OWN; k++) swap_free(own[k]);
    return NULL;
}

/* Finds the library's mallctl for the arena modes (a failure if none). */
static bool find_swap_ctl(void)
{
    swap_ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (!swap_ctl) FAILF("no mallctl");
    return swap_ctl != NULL;
}

static void run_arena_swap(int threads, long iters)
{
    if (!find_swap_ctl()) return;
    if (threads < 2) threads = 2;
    if (threads > 64) threads = 64;
    swap_threads = threads;
    swap_iters = iters;
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, swap_thread, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < threads; i++)
        for (int j = 0; j < SWAP_SLOTS; j++) swap_free(atomic_exchange(&swap_box[i][j], NULL));
}

/* ------------------------------------------------------------ arena-share */

static atomic_int share_moved;
static atomic_int share_stop;

static unsigned share_arena(void)
{
    unsigned a = 0;
    size_t len = sizeof a;
    if (swap_ctl("thread.arena", &a, &len, NULL, 0) != 0) FAILF("thread.arena read");
    return a;
}

static void *share_light(void *arg)
{
    void *p = malloc(100);
    free(p);
    *(unsigned *)arg = share_arena();
    return NULL;
}

static void *share_busy(void *arg)
{
    unsigned home = *(unsigned *)arg;
    void **b = malloc(2000 * sizeof *b);
    if (!b) { FAILF("malloc"); return NULL; }
    while (!atomic_load(&share_stop)) {
        for (int i = 0; i < 2000; i++) {
            b[i] = malloc(64);
            if (!b[i]) { FAILF("malloc(64)"); return NULL; }
            memset(b[i], i, 64);
        }
        for (int i = 0; i < 2000; i++) free(b[i]);
        if (share_arena() != home) atomic_store(&share_moved, 1);
        if (atomic_load(&share_moved)) break;
    }
    free(b);
    return NULL;
}

/* False when the spread part could not run (one CPU: a SKIP line). */
static bool run_arena_share(int threads)
{
    if (!find_swap_ctl()) return true;
    cpu_set_t cpus;
    int ncpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    /* One automatic arena per CPU: one CPU, one arena (checked below). */
    if (swap_ctl("arenas.narenas", &narenas, &len, NULL, 0) != 0 || (ncpus >= 2 && narenas < 2)) {
        FAILF("arenas.narenas %u on %d CPUs: this check needs at least 2", narenas, ncpus);
        return true;
    }
    void *p = malloc(100);
    free(p);
    unsigned mine = share_arena(), other = ~0u;
    pthread_t t[64];
    pthread_create(&t[0], NULL, share_light, &other);
    pthread_join(t[0], NULL);
    if (other != mine) FAILF("a second thread got arena %u, the first is on %u: not shared", other, mine);
    /* On one CPU a thread meets a held lock only when its holder is
     * preempted inside it, which the short critical sections make rare:
     * the threads rightly stay together, and there is nothing to check. */
    if (ncpus < 2) {
        if (atomic_load(&g_failures) == 0) printf("SKIP arena-share: one CPU, so the spread was not checked (the sharing was)\n");
        return false;
    }
    if (threads < 2) threads = 2;
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, share_busy, &mine);
    for (int waited = 0; waited < 2000 && !atomic_load(&share_moved); waited++) usleep(10000);
    atomic_store(&share_stop, 1);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    if (!atomic_load(&share_moved)) FAILF("%d threads on arena %u for 20 s: none moved to another arena", threads, mine);
    return true;
}

/* -------------------------------------------------------------- two-roots */

#define ROOT_SHIFT 39
enum { ROOTS_BLOCKS = 200000 };
static unsigned char *roots_p[ROOTS_BLOCKS];
static size_t roots_n[ROOTS_BLOCKS];

static int roots_count;

static void *roots_freer(void *arg)
{
    (void)arg;
    for (int i = 1; i < roots_count; i += 2) {
        if (check(roots_p[i], roots_n[i], (uint32_t)i) != (size_t)-1) FAILF("block %d (%zu B at %p) corrupted", i, roots_n[i], (void *)roots_p[i]);
        free(roots_p[i]);
        /* and some blocks of this thread's own, freed at once */
        void *q = malloc(16 + (size_t)i % 1000);
        if (!q) FAILF("malloc in the second thread");
        free(q);
    }
    return NULL;
}

static void run_two_roots(void)
{
    unsigned char *first = malloc(64);
    if (!first) { FAILF("malloc(64)"); return; }
    uintptr_t root = (uintptr_t)first >> ROOT_SHIFT;
    uintptr_t floor = root << ROOT_SHIFT;
    /* Reserve from the top of the mmap area down past the start of this
     * root entry's 512 GiB: the next mappings land under the entry below. */
    size_t reserve = (size_t)64 << 30;
    int reservations = 0;
    for (;;) {
        void *r = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED) { printf("SKIP two-roots: cannot reserve address space (%s)\n", strerror(errno)); exit(0); }
        reservations++;
        if ((uintptr_t)r < floor || reservations > 20) break;
    }
    if (floor == 0) { printf("SKIP two-roots: the heap is under root entry 0\n"); exit(0); }
    int other = 0;
    uint64_t rng = 99;
    for (roots_count = 0; roots_count < ROOTS_BLOCKS; roots_count++) {
        int i = roots_count;
        /* mostly small, every 50th block large (16-200 KiB) */
        size_t n = i % 50 == 49 ? 16384 + (size_t)(xs(&rng) % (184 << 10)) : 16 + (size_t)(xs(&rng) % 2032);
        roots_p[i] = malloc(n);
        roots_n[i] = n;
        if (!roots_p[i]) { FAILF("malloc(%zu) failed", n); return; }
        fill(roots_p[i], n, (uint32_t)i);
        if ((uintptr_t)roots_p[i] >> ROOT_SHIFT != root) other++;
        if (other >= 2000 && i % 2 == 1) { roots_count++; break; }
    }
    fprintf(stderr, "two-roots: %d reservations, %d blocks, %d under another root entry\n", reservations, roots_count, other);
    if (other < 2000) { FAILF("only %d of %d blocks landed under another root entry", other, roots_count); return; }
    /* A double free under the other entry, in a child. */
    int victim = -1;
    for (int i = roots_count - 1; i >= 0; i -= 2)
        if ((uintptr_t)roots_p[i] >> ROOT_SHIFT != root && roots_n[i] < 4096) { victim = i; break; }
    if (victim < 0) { FAILF("no small block under the other root entry"); return; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        free(roots_p[victim]);
        free(roots_p[victim]);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        FAILF("a double free under the other root entry did not abort (status 0x%x)", status);
    pthread_t t;
    pthread_create(&t, NULL, roots_freer, NULL);
    for (int i = 0; i < roots_count; i += 2) {
        if (check(roots_p[i], roots_n[i], (uint32_t)i) != (size_t)-1) { FAILF("block %d (%zu B at %p) corrupted", i, roots_n[i], (void *)roots_p[i]); continue; }
        /* within the class, then to another size */
        size_t grow = roots_n[i] + 1 + (size_t)(xs(&rng) % 3);
        unsigned char *q = realloc(roots_p[i], grow);
        if (!q) { FAILF("realloc(%zu) failed", grow); continue; }
        if (check(q, roots_n[i], (uint32_t)i) != (size_t)-1) FAILF("realloc of block %d lost its contents", i);
        size_t n2 = 16 + (size_t)(xs(&rng) % 5000);
        fill(q, grow, (uint32_t)i);
        unsigned char *q2 = realloc(q, n2);
        if (!q2) { FAILF("realloc(%zu) failed", n2); continue; }
        if (check(q2, n2 < grow ? n2 : grow, (uint32_t)i) != (size_t)-1) FAILF("realloc of block %d to %zu lost its contents", i, n2);
        if (malloc_usable_size(q2) < n2) FAILF("malloc_usable_size %zu < %zu", malloc_usable_size(q2), n2);
        free(q2);
    }
    pthread_join(t, NULL);
    free(first);
}

/* ------------------------------------------------------------- line-share */

static const size_t line_sizes[] = {8, 16, 32, 48, 64, 80, 96, 112, 128};
#define LINE_NSIZES (sizeof line_sizes / sizeof line_sizes[0])
static pthread_mutex_t line_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t line_cond = PTHREAD_COND_INITIALIZER;
static int line_turn, line_threads;
static void *line_blocks[64][LINE_NSIZES];

/* Thread `id` waits for its turn; returns with line_lock held. */
static void turn_begin(int id)
{
    pthread_mutex_lock(&line_lock);
    while (line_turn != id) pthread_cond_wait(&line_cond, &line_lock);
}

/* Passes the turn on, then stays until every thread has had its own: an
 * exiting thread's cache gives its unused regions back for the next
 * thread's refill. */
static void turn_end(void)
{
    line_turn++;
    pthread_cond_broadcast(&line_cond);
    while (line_turn < line_threads) pthread_cond_wait(&line_cond, &line_lock);
    pthread_mutex_unlock(&line_lock);
}

/* True, with a SKIP line for `mode`, when the library's threads have no
 * cache (tcache:false, junk or zero: each malloc takes one region from the
 * shared slab), which these checks are about. */
static bool skip_without_cache(const char *mode)
{
    swap_ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (swap_ctl) {
        bool tcache = true;
        size_t len = sizeof tcache;
        if (swap_ctl("thread.tcache.enabled", &tcache, &len, NULL, 0) == 0 && !tcache) {
            printf("SKIP %s: no thread cache (tcache:false, junk or zero: each malloc takes one region from the shared slab)\n", mode);
            return true;
        }
    }
    return false;
}

static void *line_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    turn_begin(id);
    for (size_t s = 0; s < LINE_NSIZES; s++) {
        line_blocks[id][s] = malloc(line_sizes[s]);
        if (!line_blocks[id][s]) FAILF("malloc(%zu)", line_sizes[s]);
        else memset(line_blocks[id][s], id, line_sizes[s]);
    }
    turn_end();
    return NULL;
}

/* The turn-taking checks' thread count: 2 to 64. */
static int turn_threads(int threads)
{
    return threads < 2 ? 2 : threads > 64 ? 64 : threads;
}

/* False when skipped (a SKIP line). */
static bool run_line_share(int threads)
{
    if (skip_without_cache("line-share")) return false;
    threads = turn_threads(threads);
    line_threads = threads;
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, line_thread, (void *)(intptr_t)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    int shared = 0;
    for (size_t s = 0; s < LINE_NSIZES; s++) {
        for (int i = 0; i < threads; i++) {
            for (int j = i + 1; j < threads; j++) {
                uintptr_t a = (uintptr_t)line_blocks[i][s], b = (uintptr_t)line_blocks[j][s];
                if (!a || !b) continue;
                uintptr_t a0 = a / 64, a1 = (a + line_sizes[s] - 1) / 64;
                uintptr_t b0 = b / 64, b1 = (b + line_sizes[s] - 1) / 64;
                if (a0 <= b1 && b0 <= a1) {
                    if (shared++ < 5) FAILF("threads %d and %d got %zu-byte blocks %p and %p on a common cache line", i, j, line_sizes[s], (void *)a, (void *)b);
                }
            }
        }
    }
    if (shared) FAILF("%d pairs of threads' first blocks share a cache line", shared);
    for (int i = 0; i < threads; i++)
        for (size_t s = 0; s < LINE_NSIZES; s++) free(line_blocks[i][s]);
    return true;
}

/* ----------------------------------------------------------- handoff-share */

/* Hoard's cache-scratch, in turns: the main thread makes one block per
 * worker, side by side (several share a cache line), and hands them out;
 * each worker, in its turn, frees its block as its first call, then
 * allocates one of the same size and keeps it. No two workers' new blocks
 * may share a line: a worker that got its handed block back (its cache
 * kept it) or the region next to another worker's (a refill took the
 * lowest free regions of the slab) would write to a line its neighbour
 * writes too. */
static size_t handoff_size;
static void *handoff_given[64], *handoff_got[64];

static void *handoff_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    turn_begin(id);
    free(handoff_given[id]);
    handoff_got[id] = malloc(handoff_size);
    if (!handoff_got[id]) FAILF("malloc(%zu)", handoff_size);
    else memset(handoff_got[id], id, handoff_size);
    turn_end();
    return NULL;
}

/* False when skipped (a SKIP line). */
static bool run_handoff_share(int threads)
{
    if (skip_without_cache("handoff-share")) return false;
    threads = turn_threads(threads);
    static const size_t sizes[] = {16, 32, 48};
    int shared = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        handoff_size = sizes[s];
        for (int i = 0; i < threads; i++) {
            handoff_given[i] = malloc(handoff_size);
            if (!handoff_given[i]) FAILF("malloc(%zu)", handoff_size);
        }
        line_turn = 0;
        line_threads = threads;
        pthread_t t[64];
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, handoff_thread, (void *)(intptr_t)i);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < threads; i++) {
            for (int j = i + 1; j < threads; j++) {
                uintptr_t a = (uintptr_t)handoff_got[i], b = (uintptr_t)handoff_got[j];
                if (!a || !b) continue;
                if (a / 64 <= (b + handoff_size - 1) / 64 && b / 64 <= (a + handoff_size - 1) / 64) {
                    if (shared++ < 5)
                        FAILF("workers %d and %d got %zu-byte blocks %p and %p on a common cache line"
                              " (their handed blocks: %p and %p)", i, j, handoff_size, (void *)a, (void *)b,
                              handoff_given[i], handoff_given[j]);
                }
            }
        }
        for (int i = 0; i < threads; i++) free(handoff_got[i]);
    }
    if (shared) FAILF("%d pairs of workers' blocks share a cache line", shared);
    return true;
}

/* ------------------------------------ last-thread-exit, fork-worker-exit */

/* Threads of this process now (the library's own included). */
static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Bursts of small blocks: refills and overflows, the slow paths where the
 * library starts its background thread once a second thread has bound. */
static void exit_churn(void)
{
    void *p[256];
    for (int r = 0; r < 200; r++) {
        for (int i = 0; i < 256; i++) {
            p[i] = malloc(64 + (size_t)(i & 7) * 16);
            if (!p[i]) { FAILF("malloc failed"); return; }
        }
        for (int i = 0; i < 256; i++) free(p[i]);
    }
}

static void *exit_churn_thread(void *arg)
{
    (void)arg;
    exit_churn();
    return NULL;
}

/* This thread allocates, then a second one runs `fn` and is joined. */
static bool churn_then_join(void *(*fn)(void *))
{
    exit_churn();
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0) {
        FAILF("pthread_create failed");
        return false;
    }
    pthread_join(t, NULL);
    return true;
}

static void run_last_thread_exit(void)
{
    if (!churn_then_join(exit_churn_thread)) return;
    exit_churn();
    fprintf(stderr, "note: %d thread(s) before the main thread's pthread_exit\n", count_tasks());
    if (atomic_load(&g_failures) == 0) printf("last-thread-exit ok\n");
    fflush(stdout);
    /* The process must now exit with status 0; the runner's timeout
     * catches one that lives on. */
    pthread_exit(NULL);
}

static void *fork_worker_exit_thread(void *arg)
{
    (void)arg;
    exit_churn();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { FAILF("fork failed"); return NULL; }
    if (pid == 0) {
        alarm(30);
        exit_churn();
        fprintf(stderr, "note: the child has %d thread(s) before its pthread_exit\n", count_tasks());
        fflush(stdout);
        pthread_exit(NULL); /* its only thread: the child exits, status 0 */
    }
    int status;
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                FAILF("the child ended with status 0x%x, not exit status 0", status);
            return NULL;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAILF("the child did not exit within 10 s of its last thread's pthread_exit");
    return NULL;
}

static void run_fork_worker_exit(void)
{
    churn_then_join(fork_worker_exit_thread);
}

static void run_signal_mask(void)
{
    if (!churn_then_join(exit_churn_thread)) return;
    exit_churn();
    fprintf(stderr, "note: %d thread(s) when SIGUSR1 is sent\n", count_tasks());
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGUSR1);
    struct timespec timeout = {5, 0};
    int got = sigtimedwait(&set, NULL, &timeout);
    if (got != SIGUSR1) FAILF("sigtimedwait returned %d, not SIGUSR1 (%s)", got, strerror(errno));
}

/* ------------------------------------------------ fork-explicit-tcache */
/* Two threads make, use, flush and destroy explicit thread caches
 * (tcache.create, MALLOCX_TCACHE) while the main thread forks; each child
 * makes and uses one too. The table of explicit caches has a lock of its
 * own: left out of the fork handlers, a fork while a thread held it left
 * the child waiting forever (3 of 3 runs, 300 forks each, hung). */
static atomic_int g_etc_stop;
typedef void *(*mallocx_fn)(size_t, int);
typedef void (*dallocx_fn)(void *, int);
static mallocx_fn etc_mallocx;
static dallocx_fn etc_dallocx;
#define ETC_FLAG(tc) ((int)(((tc) + 2) << 8))

static bool etc_round(void)
{
    unsigned tc = 0;
    size_t len = sizeof tc;
    if (swap_ctl("tcache.create", &tc, &len, NULL, 0) != 0) return false;
    for (int i = 0; i < 64; i++) {
        unsigned char *p = etc_mallocx(16 + (size_t)i * 40, ETC_FLAG(tc));
        if (!p) return false;
        p[0] = (unsigned char)i;
        etc_dallocx(p, ETC_FLAG(tc));
    }
    return swap_ctl("tcache.flush", NULL, NULL, &tc, sizeof tc) == 0 &&
           swap_ctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == 0;
}

static void *etc_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_etc_stop)) {
        if (!etc_round()) { FAILF("an explicit cache round failed in a thread"); break; }
    }
    return NULL;
}

static void run_fork_explicit_tcache(int forks)
{
    if (!find_swap_ctl()) return;
    etc_mallocx = (mallocx_fn)dlsym(RTLD_DEFAULT, "mallocx");
    etc_dallocx = (dallocx_fn)dlsym(RTLD_DEFAULT, "dallocx");
    if (!etc_mallocx || !etc_dallocx) { FAILF("no mallocx / dallocx"); return; }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, etc_thread, NULL);
    for (int k = 0; k < forks && atomic_load(&g_failures) == 0; k++) {
        pid_t pid = fork();
        if (pid == 0) _exit(etc_round() ? 0 : 3);
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            FAILF("fork %d: the child failed (status %d)", k, status);
    }
    atomic_store(&g_etc_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: %s prodcons T [SECONDS] | churn [THREADS] | fork-storm [FORKS] | free-errno"
                        " | huge-realloc-race [THREADS] [ITERS] | arena-swap [THREADS] [ITERS] | arena-share [THREADS] | line-share [THREADS] | handoff-share [THREADS] | two-roots"
                        " | last-thread-exit | fork-worker-exit | signal-mask | fork-explicit-tcache [FORKS]\n", argv[0]);
        return 2;
    }
    g_mode = argv[1];
    if (strcmp(g_mode, "prodcons") == 0) {
        int t = argc > 2 ? atoi(argv[2]) : 8;
        double secs = argc > 3 ? atof(argv[3]) : 2.0;
        run_prodcons(t, secs);
        if (atomic_load(&g_failures) == 0) printf("prodcons ok\n");
    } else if (strcmp(g_mode, "churn") == 0) {
        run_churn(argc > 2 ? atoi(argv[2]) : 1000);
        if (atomic_load(&g_failures) == 0) printf("churn ok\n");
    } else if (strcmp(g_mode, "free-errno") == 0) {
        run_free_errno();
        if (atomic_load(&g_failures) == 0) printf("free-errno ok\n");
    } else if (strcmp(g_mode, "huge-realloc-race") == 0) {
        run_huge_realloc_race(argc > 2 ? atoi(argv[2]) : 2, argc > 3 ? atoi(argv[3]) : 20000);
        if (atomic_load(&g_failures) == 0) printf("huge-realloc-race ok\n");
    } else if (strcmp(g_mode, "arena-swap") == 0) {
        run_arena_swap(argc > 2 ? atoi(argv[2]) : 4, argc > 3 ? atol(argv[3]) : 300000);
        if (atomic_load(&g_failures) == 0) printf("arena-swap ok\n");
    } else if (strcmp(g_mode, "arena-share") == 0) {
        if (run_arena_share(argc > 2 ? atoi(argv[2]) : 8) && atomic_load(&g_failures) == 0) printf("arena-share ok\n");
    } else if (strcmp(g_mode, "line-share") == 0) {
        if (run_line_share(argc > 2 ? atoi(argv[2]) : 8) && atomic_load(&g_failures) == 0) printf("line-share ok\n");
    } else if (strcmp(g_mode, "handoff-share") == 0) {
        if (run_handoff_share(argc > 2 ? atoi(argv[2]) : 8) && atomic_load(&g_failures) == 0) printf("handoff-share ok\n");
    } else if (strcmp(g_mode, "last-thread-exit") == 0) {
        run_last_thread_exit(); /* does not return */
    } else if (strcmp(g_mode, "fork-worker-exit") == 0) {
        run_fork_worker_exit();
        if (atomic_load(&g_failures) == 0) printf("fork-worker-exit ok\n");
    } else if (strcmp(g_mode, "signal-mask") == 0) {
        run_signal_mask();
        if (atomic_load(&g_failures) == 0) printf("signal-mask ok\n");
    } else if (strcmp(g_mode, "two-roots") == 0) {
        run_two_roots();
        if (atomic_load(&g_failures) == 0) printf("two-roots ok\n");
    } else if (strcmp(g_mode, "fork-explicit-tcache") == 0) {
        run_fork_explicit_tcache(argc > 2 ? atoi(argv[2]) : 300);
        if (atomic_load(&g_failures) == 0) printf("fork-explicit-tcache ok\n");
    } else if (strcmp(g_mode, "fork-storm") == 0) {
        run_fork_storm(argc > 2 ? atoi(argv[2]) : 300);
        if (atomic_load(&g_failures) == 0) printf("fork-storm ok\n");
    } else {
        fprintf(stderr, "unknown mode '%s'\n", g_mode);
        return 2;
    }
    return atomic_load(&g_failures) ? 1 : 0;
}
