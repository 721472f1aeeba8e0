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
 *   double-free-huge        free(p); free(p) of 8 MiB
 *   invalid-stack           free of a stack address
 *   invalid-interior-large  free(p + 4096) of a 64 KiB block
 *   invalid-interior-small  free(p + 16) of a 64-byte block (then frees that
 *                           flush the cache)
 *   invalid-foreign         free of a page from a private mmap
 *   free-sized-wrong        free_sized(malloc(100), 5000)
 *   realloc-invalid         realloc of a stack pointer
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"

static void *volatile sink;

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
    } else if (strcmp(m, "double-free-large") == 0) {
        char *p = f_malloc(256 * 1024);
        memset(p, 1, 4096);
        f_free(p);
        f_free(p);
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
    } else if (strcmp(m, "free-sized-wrong") == 0) {
        void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
        if (!fs) {
            puts("SKIP free_sized is not available");
            return 0;
        }
        void *p = f_malloc(100);
        fs(p, 5000);
    } else if (strcmp(m, "realloc-invalid") == 0) {
        char local[64];
        memset(local, 0, sizeof local);
        sink = local;
        sink = f_realloc(sink, 100);
    } else {
        fprintf(stderr, "usage: %s MODE (see the source)\n", argv[0]);
        return 2;
    }
    puts("not detected");
    return 0;
}
