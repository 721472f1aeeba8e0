/*
 * misuse.c - misuse the allocator must detect: one mode per case, each
 * expected to end with SIGABRT and a one-line stderr message starting with
 * "swalloc: " (the runner checks both). If a mode is not detected the
 * program prints "not detected" and exits 0.
 *
 * Build: gcc -std=gnu11 -O1 -g -I../lib -o misuse misuse.c -ldl
 * Run:   LD_PRELOAD=libswalloc.so ./misuse MODE
 *
 * Modes:
 *   double-free-small       free(p); free(p) of a 48-byte block
 *   double-free-flushed     free(p), free 10000 other 48-byte blocks (p's
 *                           cache stack flushes, p reaches its slab), free(p)
 *                           again, then 10000 more frees (flush again)
 *   double-free-large       free(p); free(p) of 256 KiB
 *   double-free-large-arena free of 40 blocks of 20 KiB (the thread cache
 *                           sends the first ones to their arena, which
 *                           keeps them for the next runs of their class:
 *                           the large-run cache), then free of the first
 *                           again
 *   realloc-large-arena     the same, then realloc of the first
 *   double-free-huge        free(p); free(p) of 8 MiB
 *   invalid-stack           free of a stack address
 *   invalid-interior-large  free(p + 4096) of a 64 KiB block
 *   invalid-interior-small  free(p + 16) of a 64-byte block (then frees that
 *                           flush the cache)
 *   double-free-batch       free(p), free(q), free(p) of 48-byte blocks (the
 *                           immediate-repeat check passes), then frees of
 *                           blocks allocated before, so that all three reach
 *                           their slab in one flush
 *   double-free-run-up, double-free-run-down  three adjacent 48-byte blocks
 *                           a, b, c; b freed and flushed to its slab; then
 *                           a, b, c freed (run-down: c, b, a) and flushed
 *                           together: the flush takes adjacent regions as
 *                           one run (down in the cache's order, or up), whose
 *                           bits it sets at once, and must still see b's
 *                           bit set
 *   invalid-interior-flushed  free(p + 16) of a 64-byte block, then frees of
 *                           blocks allocated before (no malloc can take the
 *                           pointer back before the flush checks it)
 *   invalid-slab-tail       free of the address just past the last region of
 *                           a slab whose regions leave a tail (a multiple of
 *                           the region size from the slab's start: only the
 *                           region count rules it out), flushed the same way
 *   usable-interior-small   malloc_usable_size(p + 16) of a 100-byte block
 *                           (its fast path answers from the page's entry and
 *                           must find that no region starts there)
 *   usable-slab-tail        malloc_usable_size of the address just past the
 *                           last region of a slab with a tail (as
 *                           invalid-slab-tail: only the region count rules
 *                           it out)
 *   usable-interior-large   malloc_usable_size(p + 16) of a 40000-byte block
 *   double-free-foreign     free(p); free(p) of a 48-byte block by a thread
 *                           bound to another arena than p's (the block waits
 *                           among its cache's foreign entries: freeOtherArena)
 *   double-free-foreign-batch  the same thread frees p, q, p of the main
 *                           thread's 48-byte blocks, then 10000 more of them,
 *                           so that all reach p's slab together
 *   invalid-foreign         free of a page from a private mmap
 *   free-sized-wrong        free_sized(malloc(100), 5000)
 *   free-sized-near         free_sized(malloc(100), 200): a small size of
 *                           another class (the shortcut compares classes)
 *   free-sized-interior     free_sized(p + 16, 100) of a 100-byte block (the
 *                           shortcut must find no region starting there)
 *   realloc-invalid         realloc of a stack pointer
 *   realloc-interior-inplace  realloc(p + 16, 100) of a 100-byte block (its
 *                           own class: returned p + 16 in place before, the
 *                           caller then owning 16 bytes of the next region)
 *   realloc-interior-move   realloc(p + 16, 300) of a 100-byte block (moved
 *                           it and cached p + 16, which the next malloc(100)
 *                           handed out: two live blocks overlapping), then
 *                           a malloc(100)
 *   realloc-interior-slow   realloc(p + 16, 100000) of a 3000-byte block
 *                           (realloc's full path)
 *   realloc-interior-large  realloc(p + 16, 40000) of a 40000-byte block
 *                           (the size's class is the block's: realloc's fast
 *                           path, whose large blocks must start their page)
 *   realloc-interior-huge   realloc(p + 4096, 3 MiB) of a 3 MiB block (a
 *                           size its mapping holds: realloc's fast path,
 *                           which must find the block's own record there)
 *   signal-reentry          a single-threaded program whose SIGPROF handler
 *                           mallocs and frees 100 KB blocks while the program
 *                           does the same: a signal that lands while the
 *                           arena's extent lock is held re-enters it (a
 *                           deadlock before: the handler waited on its own
 *                           thread)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_util.h"

static void *volatile sink;

static void alloc_in_handler(int sig)
{
    (void)sig;
    void *p = malloc(100000);
    sink = p;
    free(p);
}

/* Frees n fresh blocks of `size` bytes (after allocating them all), so the
 * thread cache's stack for that class overflows and flushes to the slabs. */
static void flush_class(size_t size, int n)
{
    void **v = mmap(NULL, (size_t)n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) return;
    for (int i = 0; i < n; i++) v[i] = f_malloc(size);
    for (int i = 0; i < n; i++) f_free(v[i]);
    munmap(v, (size_t)n * sizeof *v);
}

/* n blocks of `size` bytes, allocated now, to be freed by free_blocks after
 * the misuse: their frees overflow the class's thread-cache stack, which
 * flushes its oldest entries (the misused pointer first) to the slabs, and
 * no malloc in between can take the misused pointer back. */
static void **alloc_blocks(size_t size, int n)
{
    void **v = mmap(NULL, (size_t)n * sizeof *v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) {
        puts("mmap failed");
        exit(2);
    }
    for (int i = 0; i < n; i++) v[i] = f_malloc(size);
    return v;
}

static void free_blocks(void **v, int n)
{
    for (int i = 0; i < n; i++) f_free(v[i]);
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* A size class whose slab leaves a tail of at least one quantum past its
 * last region (arenas.bin.<i>.*): its size, region count and slab bytes.
 * 0 when there is none (or no mallctl). */
static size_t tail_class(size_t *nregs, size_t *slab)
{
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    unsigned nbins = 0;
    size_t len = sizeof nbins;
    if (!ctl || ctl("arenas.nbins", &nbins, &len, NULL, 0) != 0) return 0;
    for (unsigned i = 0; i < nbins; i++) {
        char name[64];
        size_t size = 0, slab_size = 0;
        uint32_t regs = 0;
        len = sizeof size;
        snprintf(name, sizeof name, "arenas.bin.%u.size", i);
        if (ctl(name, &size, &len, NULL, 0) != 0) return 0;
        len = sizeof regs;
        snprintf(name, sizeof name, "arenas.bin.%u.nregs", i);
        if (ctl(name, &regs, &len, NULL, 0) != 0) return 0;
        len = sizeof slab_size;
        snprintf(name, sizeof name, "arenas.bin.%u.slab_size", i);
        if (ctl(name, &slab_size, &len, NULL, 0) != 0) return 0;
        if (size <= 1024 && slab_size - regs * size >= 16) {
            *nregs = regs;
            *slab = slab_size;
            return size;
        }
    }
    return 0;
}

/* The address just past the last region of a slab of a class whose slabs
 * leave a tail (tail_class), from blocks of that class allocated here; NULL
 * after printing a SKIP line when there is no such class or slab start. */
static char *slab_tail(size_t *size_out)
{
    size_t nregs = 0, slab = 0, size = tail_class(&nregs, &slab);
    if (size == 0) {
        puts("SKIP no size class with a slab tail (or no mallctl)");
        return NULL;
    }
    /* A slab's start: a page-aligned block at no page boundary inside a
     * slab where a region could start (k pages, k < slab pages, not a
     * multiple of the size). */
    for (size_t k = 4096; k < slab; k += 4096)
        if (k % size == 0) {
            puts("SKIP slab start not recognizable");
            return NULL;
        }
    int n = (int)(4 * nregs + 8);
    void **mine = alloc_blocks(size, n);
    for (int i = 0; i < n; i++)
        if (((uintptr_t)mine[i] & 4095) == 0) {
            *size_out = size;
            return (char *)mine[i] + nregs * size;
        }
    puts("SKIP no slab start among the blocks");
    return NULL;
}

/* Runs fn(arg) on a new thread bound to another arena than the calling
 * thread's (thread.arena, written when the new thread got the same one).
 * 0 when there is no mallctl or no second arena. */
static int on_other_arena(void *(*fn)(void *), void *arg);

struct other_arena_call {
    void *(*fn)(void *);
    void *arg;
    unsigned home;
    int ok;
};

static void *other_arena_start(void *p)
{
    struct other_arena_call *c = p;
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    unsigned mine = 0;
    size_t len = sizeof mine;
    sink = f_malloc(16); /* the thread's cache and arena */
    f_free(sink);
    if (ctl("thread.arena", &mine, &len, NULL, 0) != 0) return NULL;
    if (mine == c->home) {
        unsigned other;
        if (test_other_arena(ctl, c->home, &other) != 0) return NULL;
        if (ctl("thread.arena", NULL, NULL, &other, sizeof other) != 0) return NULL;
    }
    c->ok = 1;
    return c->fn(c->arg);
}

static int on_other_arena(void *(*fn)(void *), void *arg)
{
    mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    struct other_arena_call c = {fn, arg, 0, 0};
    size_t len = sizeof c.home;
    if (!ctl || ctl("thread.arena", &c.home, &len, NULL, 0) != 0) return 0;
    pthread_t t;
    if (pthread_create(&t, NULL, other_arena_start, &c) != 0) return 0;
    pthread_join(t, NULL);
    return c.ok;
}

static void *free_twice(void *p)
{
    f_free(p);
    f_free(p);
    return NULL;
}

struct batch {
    char *p, *q;
    void **v;
};

static void *free_batch(void *arg)
{
    struct batch *b = arg;
    f_free(b->p);
    f_free(b->q);
    f_free(b->p);
    free_blocks(b->v, 10000);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(10);
    if (strcmp(m, "double-free-small") == 0) {
        char *p = f_malloc(48);
        memset(p, 1, 48);
        f_free(p);
        f_free(p);
    } else if (strcmp(m, "double-free-flushed") == 0) {
        char *p = f_malloc(48);
        f_free(p);
        flush_class(48, 10000);
        f_free(p);
        flush_class(48, 10000);
    } else if (strcmp(m, "double-free-batch") == 0) {
        void **v = alloc_blocks(48, 10000);
        char *p = f_malloc(48), *q = f_malloc(48);
        f_free(p);
        f_free(q);
        f_free(p);
        free_blocks(v, 10000);
    } else if (strcmp(m, "double-free-run-up") == 0 || strcmp(m, "double-free-run-down") == 0) {
        void **v = alloc_blocks(48, 20000);
        char *a = f_malloc(48), *b = f_malloc(48), *c = f_malloc(48);
        if (b != a + 48 || c != b + 48) {
            puts("SKIP three consecutive 48-byte blocks are not adjacent");
            return 0;
        }
        f_free(b);
        free_blocks(v, 10000);
        if (strcmp(m, "double-free-run-up") == 0) {
            f_free(a);
            f_free(b);
            f_free(c);
        } else {
            f_free(c);
            f_free(b);
            f_free(a);
        }
        free_blocks(v + 10000, 10000);
    } else if (strcmp(m, "invalid-interior-flushed") == 0) {
        void **v = alloc_blocks(64, 10000);
        char *p = f_malloc(64);
        sink = p;
        f_free(p + 16);
        free_blocks(v, 10000);
    } else if (strcmp(m, "invalid-slab-tail") == 0) {
        size_t size = 0;
        char *tail = slab_tail(&size);
        if (!tail) return 0;
        void **v = alloc_blocks(size, 10000);
        f_free(tail);
        free_blocks(v, 10000);
    } else if (strcmp(m, "usable-interior-small") == 0) {
        char *p = f_malloc(100);
        printf("malloc_usable_size(p + 16) = %zu\n", malloc_usable_size(p + 16));
    } else if (strcmp(m, "usable-slab-tail") == 0) {
        size_t size = 0;
        char *tail = slab_tail(&size);
        if (!tail) return 0;
        printf("malloc_usable_size(slab tail) = %zu\n", malloc_usable_size(tail));
    } else if (strcmp(m, "usable-interior-large") == 0) {
        char *p = f_malloc(40000);
        printf("malloc_usable_size(p + 16) = %zu\n", malloc_usable_size(p + 16));
    } else if (strcmp(m, "double-free-foreign") == 0) {
        char *p = f_malloc(48);
        memset(p, 1, 48);
        if (!on_other_arena(free_twice, p)) {
            puts("SKIP no mallctl thread.arena or no second arena");
            return 0;
        }
    } else if (strcmp(m, "double-free-foreign-batch") == 0) {
        struct batch b = {NULL, NULL, alloc_blocks(48, 10000)};
        b.p = f_malloc(48);
        b.q = f_malloc(48);
        if (!on_other_arena(free_batch, &b)) {
            puts("SKIP no mallctl thread.arena or no second arena");
            return 0;
        }
    } else if (strcmp(m, "double-free-large") == 0) {
        char *p = f_malloc(256 * 1024);
        memset(p, 1, 4096);
        f_free(p);
        f_free(p);
    } else if (strcmp(m, "double-free-large-arena") == 0 || strcmp(m, "realloc-large-arena") == 0) {
        char *q[40];
        for (int i = 0; i < 40; i++) {
            q[i] = f_malloc(20 * 1024);
            memset(q[i], 1, 64);
        }
        for (int i = 0; i < 40; i++) f_free(q[i]);
        if (strcmp(m, "double-free-large-arena") == 0) {
            f_free(q[0]);
        } else {
            sink = f_realloc(q[0], 30 * 1024);
        }
    } else if (strcmp(m, "double-free-huge") == 0) {
        char *p = f_malloc(8u << 20);
        memset(p, 1, 4096);
        f_free(p);
        f_free(p);
    } else if (strcmp(m, "invalid-stack") == 0) {
        char local[64];
        sink = local;
        f_free(sink);
    } else if (strcmp(m, "invalid-interior-large") == 0) {
        char *p = f_malloc(64 * 1024);
        sink = p;
        f_free(p + 4096);
    } else if (strcmp(m, "invalid-interior-small") == 0) {
        char *p = f_malloc(64);
        sink = p;
        f_free(p + 16);
        flush_class(64, 10000);
    } else if (strcmp(m, "invalid-foreign") == 0) {
        char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            puts("mmap failed");
            return 2;
        }
        f_free(p + 4096);
    } else if (strncmp(m, "free-sized-", 11) == 0) {
        void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
        if (!fs) {
            puts("SKIP free_sized is not available");
            return 0;
        }
        char *p = f_malloc(100);
        if (strcmp(m, "free-sized-wrong") == 0) fs(p, 5000);
        else if (strcmp(m, "free-sized-near") == 0) fs(p, 200);
        else if (strcmp(m, "free-sized-interior") == 0) fs(p + 16, 100);
        else return 64;
    } else if (strcmp(m, "explicit-tcache-destroyed") == 0) {
        /* mallocx through an explicit cache after tcache.destroy: one line, abort. */
        mallctl_fn ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
        void *(*mx)(size_t, int) = (void *(*)(size_t, int))dlsym(RTLD_DEFAULT, "mallocx");
        unsigned tc = 0;
        size_t len = sizeof tc;
        if (!ctl || !mx || ctl("tcache.create", &tc, &len, NULL, 0) != 0) return 64;
        sink = mx(100, (int)((tc + 2) << 8));
        if (ctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) != 0) return 64;
        sink = mx(100, (int)((tc + 2) << 8));
    } else if (strcmp(m, "realloc-invalid") == 0) {
        char local[64];
        memset(local, 0, sizeof local);
        sink = local;
        sink = f_realloc(sink, 100);
    } else if (strcmp(m, "realloc-interior-inplace") == 0) {
        char *p = f_malloc(100);
        char *q = f_realloc(p + 16, 100);
        printf("realloc(p + 16, 100) returned %s\n", q == p + 16 ? "p + 16" : "another block");
    } else if (strcmp(m, "realloc-interior-move") == 0) {
        char *p = f_malloc(100);
        sink = f_realloc(p + 16, 300);
        char *r = f_malloc(100);
        printf("malloc(100) after realloc(p + 16, 300) returned %s\n", r == p + 16 ? "p + 16" : "another block");
    } else if (strcmp(m, "realloc-interior-slow") == 0) {
        char *p = f_malloc(3000);
        sink = f_realloc(p + 16, 100000);
    } else if (strcmp(m, "realloc-interior-large") == 0) {
        char *p = f_malloc(40000);
        sink = f_realloc(p + 16, 40000);
    } else if (strcmp(m, "realloc-interior-huge") == 0) {
        char *p = f_malloc(3u << 20);
        sink = f_realloc(p + 4096, 3u << 20);
    } else if (strcmp(m, "signal-reentry") == 0) {
        /* Blocks above the thread cache's sizes: every malloc and free
         * takes the extent lock, which the handler then meets held. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = alloc_in_handler;
        sigaction(SIGPROF, &sa, NULL);
        struct itimerval tv = {{0, 200}, {0, 200}};
        setitimer(ITIMER_PROF, &tv, NULL);
        for (long i = 0; i < 50000000; i++) {
            void *p = f_malloc(100000);
            sink = p;
            f_free(p);
        }
    } else {
        fprintf(stderr, "usage: %s MODE (see the source)\n", argv[0]);
        return 2;
    }
    puts("not detected");
    return 0;
}
