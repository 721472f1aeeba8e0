/*
 * stress.c - multi-threaded malloc stress with cross-thread frees.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o stress stress.c
 * Run:   ./stress [THREADS=8] [SECONDS=10]
 *
 * Each thread keeps a table of live blocks (mostly 8-512 B, some up to
 * 64 KiB, rare 1-4 MiB) allocated with malloc / calloc (checked zero) /
 * posix_memalign (checked aligned) / realloc, each filled with a pattern
 * derived from a per-block seed that is verified before every free or
 * realloc. About 20% of the blocks are handed to another thread through a
 * per-thread mutex-protected mailbox and freed there (cross-thread frees).
 * A second phase creates short-lived threads that exit while the blocks they
 * allocated are still live; the main thread verifies and frees them.
 *
 * stdout gets only a deterministic line ("stress ok threads=N"); statistics
 * and errors go to stderr. Exit status 1 on any corruption or failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

enum { SLOTS = 2048, MAILBOX = 4096, MAXT = 256 };

struct blk {
    unsigned char *p;
    size_t n;
    uint64_t seed;
};

struct mailbox {
    pthread_mutex_t mu;
    int count;
    struct blk items[MAILBOX];
};

static struct mailbox *boxes;
static int nthreads;
static double duration;
static atomic_int stop_flag;
static atomic_long errors;
static atomic_long total_ops, total_cross;
static pthread_barrier_t barrier;

#define ERR(...)                                                             \
    do {                                                                     \
        if (atomic_fetch_add(&errors, 1) < 20) {                             \
            fprintf(stderr, "stress: ");                                     \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

static inline uint64_t pat_word(uint64_t seed, size_t i)
{
    uint64_t x = seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull);
    return x ^ (x >> 31);
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    size_t w = n / 8;
    for (size_t i = 0; i < w; i++) {
        uint64_t v = pat_word(seed, i);
        memcpy(p + i * 8, &v, 8);
    }
    if (n % 8) {
        uint64_t v = pat_word(seed, w);
        memcpy(p + w * 8, &v, n % 8);
    }
}

/* returns offset of first bad byte or -1 */
static long check(const unsigned char *p, size_t n, uint64_t seed)
{
    size_t w = n / 8;
    for (size_t i = 0; i < w; i++) {
        uint64_t v = pat_word(seed, i), g;
        memcpy(&g, p + i * 8, 8);
        if (g != v)
            return (long)(i * 8);
    }
    if (n % 8) {
        uint64_t v = pat_word(seed, w);
        if (memcmp(p + w * 8, &v, n % 8) != 0)
            return (long)(w * 8);
    }
    return -1;
}

static size_t pick_size(uint64_t *r)
{
    uint64_t k = xs(r) % 1000;
    if (k < 900)
        return 8 + xs(r) % 505; /* 8 .. 512 */
    if (k < 998)
        return 513 + xs(r) % (65536 - 512); /* .. 64 KiB */
    return (1u << 20) + xs(r) % (3u << 20); /* 1 .. 4 MiB */
}

static void verify_and_free(struct blk *b, int tid, const char *what)
{
    long bad = check(b->p, b->n, b->seed);
    if (bad >= 0)
        ERR("thread %d: %s block %p size %zu corrupted at offset %ld", tid, what, (void *)b->p, b->n, bad);
    f_free(b->p);
    b->p = NULL;
}

static void drain(int tid)
{
    struct mailbox *mb = &boxes[tid];
    struct blk local[256];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&mb->mu);
        while (mb->count > 0 && n < 256)
            local[n++] = mb->items[--mb->count];
        pthread_mutex_unlock(&mb->mu);
        if (n == 0)
            return;
        for (int i = 0; i < n; i++)
            verify_and_free(&local[i], tid, "received");
    }
}

static int send_to(int to, struct blk *b)
{
    struct mailbox *mb = &boxes[to];
    int ok = 0;
    pthread_mutex_lock(&mb->mu);
    if (mb->count < MAILBOX) {
        mb->items[mb->count++] = *b;
        ok = 1;
    }
    pthread_mutex_unlock(&mb->mu);
    return ok;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    uint64_t r = 0x2545F4914F6CDD1Dull ^ ((uint64_t)(tid + 1) * 0x9E3779B97F4A7C15ull);
    struct blk *slots = calloc(SLOTS, sizeof *slots);
    uint64_t seedctr = (uint64_t)tid << 48;
    long ops = 0, cross = 0;
    if (!slots) {
        ERR("thread %d: calloc of slot table failed", tid);
        return NULL;
    }
    pthread_barrier_wait(&barrier);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int iter = 0; iter < 512; iter++) {
            ops++;
            struct blk *b = &slots[xs(&r) % SLOTS];
            uint64_t k = xs(&r) % 100;
            if (b->p) {
                long bad = check(b->p, b->n, b->seed);
                if (bad >= 0)
                    ERR("thread %d: block %p size %zu corrupted at offset %ld", tid, (void *)b->p, b->n, bad);
                if (k < 20 && nthreads > 1) {
                    int to = (int)(xs(&r) % (nthreads - 1));
                    if (to >= tid)
                        to++;
                    if (send_to(to, b)) {
                        cross++;
                        b->p = NULL;
                        continue;
                    }
                }
                if (k < 40) {
                    size_t nn = pick_size(&r);
                    unsigned char *q = f_realloc(b->p, nn);
                    if (!q) {
                        ERR("thread %d: realloc(%zu -> %zu) failed", tid, b->n, nn);
                        continue;
                    }
                    size_t keep = nn < b->n ? nn : b->n;
                    bad = check(q, keep, b->seed);
                    if (bad >= 0)
                        ERR("thread %d: realloc %zu -> %zu lost data at %ld", tid, b->n, nn, bad);
                    b->p = q;
                    b->n = nn;
                    b->seed = ++seedctr;
                    fill(q, nn, b->seed);
                } else {
                    f_free(b->p);
                    b->p = NULL;
                }
            } else {
                size_t n = pick_size(&r);
                unsigned char *q;
                if (k < 60) {
                    q = f_malloc(n);
                } else if (k < 80) {
                    q = f_calloc(1, n);
                    if (q) {
                        for (size_t i = 0; i < n; i++)
                            if (q[i]) {
                                ERR("thread %d: calloc(%zu) byte %zu = %#x", tid, n, i, q[i]);
                                break;
                            }
                    }
                } else if (k < 90) {
                    size_t al = (size_t)8 << (xs(&r) % 10); /* 8 .. 4096 */
                    void *v = NULL;
                    int e = f_posix_memalign(&v, al, n);
                    q = e ? NULL : v;
                    if (q && ((uintptr_t)q & (al - 1)))
                        ERR("thread %d: posix_memalign(%zu,%zu) = %p misaligned", tid, al, n, (void *)q);
                } else {
                    q = f_realloc(NULL, n);
                }
                if (!q) {
                    ERR("thread %d: allocation of %zu failed", tid, n);
                    continue;
                }
                b->p = q;
                b->n = n;
                b->seed = ++seedctr;
                fill(q, n, b->seed);
            }
        }
        drain(tid);
    }
    /* wait until nobody sends any more, then drain and free everything */
    pthread_barrier_wait(&barrier);
    drain(tid);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p)
            verify_and_free(&slots[i], tid, "own");
    free(slots);
    atomic_fetch_add(&total_ops, ops);
    atomic_fetch_add(&total_cross, cross);
    return NULL;
}

/* Phase 2: short-lived threads that exit with live blocks. */
enum { CHURN_THREADS = 200, CHURN_BLOCKS = 64 };
static struct blk churn[CHURN_THREADS][CHURN_BLOCKS];

static void *churner(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t r = 0xABCDEF12345ull + id;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        size_t n = pick_size(&r);
        if (n > 100000)
            n = 100000;
        unsigned char *p = f_malloc(n);
        /* some garbage the thread frees itself */
        void *tmp = f_malloc(1 + xs(&r) % 2000);
        f_free(tmp);
        if (!p) {
            ERR("churn %d: malloc(%zu) failed", id, n);
            continue;
        }
        churn[id][i].p = p;
        churn[id][i].n = n;
        churn[id][i].seed = ((uint64_t)id << 32) | i;
        fill(p, n, churn[id][i].seed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = argc > 1 ? atoi(argv[1]) : 8;
    duration = argc > 2 ? atof(argv[2]) : 10.0;
    if (nthreads < 1 || nthreads > MAXT) {
        fprintf(stderr, "usage: %s [threads 1..%d] [seconds]\n", argv[0], MAXT);
        return 2;
    }
    boxes = calloc(nthreads, sizeof *boxes);
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&boxes[i].mu, NULL);
    pthread_barrier_init(&barrier, NULL, nthreads + 1);
    pthread_t *th = malloc(sizeof *th * nthreads);
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "stress: pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&barrier); /* start */
    double t0 = now();
    while (now() - t0 < duration && atomic_load(&errors) == 0)
        usleep(20000);
    atomic_store(&stop_flag, 1);
    pthread_barrier_wait(&barrier); /* everyone has stopped sending */
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);

    /* phase 2: thread churn, 8 at a time */
    for (int base = 0; base < CHURN_THREADS; base += 8) {
        pthread_t ct[8];
        int n = 0;
        for (int i = base; i < base + 8 && i < CHURN_THREADS; i++)
            if (pthread_create(&ct[n], NULL, churner, (void *)(intptr_t)i) == 0)
                n++;
            else
                ERR("pthread_create (churn) failed");
        for (int i = 0; i < n; i++)
            pthread_join(ct[i], NULL);
    }
    for (int i = 0; i < CHURN_THREADS; i++)
        for (int j = 0; j < CHURN_BLOCKS; j++)
            if (churn[i][j].p)
                verify_and_free(&churn[i][j], -1, "orphaned");

    fprintf(stderr, "stress: %d threads, %.1f s, %ld ops, %ld cross-thread handoffs, %ld errors\n", nthreads,
            now() - t0, atomic_load(&total_ops), atomic_load(&total_cross), atomic_load(&errors));
    free(th);
    if (atomic_load(&errors)) {
        fprintf(stderr, "stress: FAILED\n");
        return 1;
    }
    printf("stress ok threads=%d\n", nthreads);
    return 0;
}
