/*
 * early_alloc.c - a preloaded library whose constructor uses the allocator
 * as early as another library can: possibly before swalloc's own
 * constructor has run (the runner preloads it both before and after
 * libswalloc.so), through dlsym (which may allocate), with blocks that stay
 * live until this library's destructor frees them after main.
 *
 * Build: gcc -std=gnu11 -O1 -g -shared -fPIC -I../lib -o early_alloc.so early_alloc.c -ldl
 * On a failure the constructor prints "FAIL early: ..." and exits with 1;
 * otherwise it is silent and the host program runs as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test_util.h"

static void *kept[64];

static void fail(const char *what)
{
    fprintf(stderr, "FAIL early: %s\n", what);
    printf("FAIL early: %s\n", what);
    fflush(stdout);
    _exit(1);
}

__attribute__((constructor(101))) static void early(void)
{
    /* dlsym may allocate its error state; the lookup must see swalloc. */
    size_t (*usable)(void *) = (size_t (*)(void *))dlsym(RTLD_DEFAULT, "swalloc_malloc_usable_size");
    if (!usable) fail("swalloc_malloc_usable_size not found: is libswalloc.so preloaded?");
    if (dlsym(RTLD_DEFAULT, "no_such_symbol_anywhere") != NULL) fail("dlsym found a missing symbol");
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)1 << (i % 23);          /* 1 B .. 4 MiB */
        unsigned char *p;
        switch (i % 4) {
        case 0: p = f_malloc(n); break;
        case 1: p = f_calloc(1, n); break;
        case 2: p = f_realloc(NULL, n); break;
        default: if (f_posix_memalign((void **)&p, 64, n) != 0) p = NULL; break;
        }
        if (!p) fail("an allocation returned NULL");
        if (usable(p) < n) fail("the block is not swalloc's (usable size too small)");
        if (i % 4 == 1) for (size_t k = 0; k < n; k += 4093) if (p[k]) fail("calloc memory not zero");
        memset(p, i, n);
        kept[i] = p;
    }
    for (int i = 0; i < 64; i += 2) {                /* free half, grow the rest */
        f_free(kept[i]);
        kept[i] = NULL;
        unsigned char *q = f_realloc(kept[i + 1], 3000);
        if (!q) fail("realloc returned NULL");
        if (q[0] != (unsigned char)(i + 1)) fail("realloc lost the contents");
        kept[i + 1] = q;
    }
}

__attribute__((destructor(101))) static void late(void)
{
    for (int i = 0; i < 64; i++) f_free(kept[i]);
}
