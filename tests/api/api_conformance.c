/*
 * api_conformance.c - checks glibc malloc API semantics as seen through
 * whatever malloc implementation is loaded into the process (plain glibc, or
 * an LD_PRELOADed replacement such as libswalloc.so).
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o api_conformance api_conformance.c -ldl
 * Run:   ./api_conformance [GROUP-SUBSTRING]
 *        ./api_conformance --which-malloc   (print the object malloc is in)
 *        LD_PRELOAD=/abs/path/libswalloc.so ./api_conformance
 *
 * Each check group runs in a forked child so that a crash is reported as
 * "FAIL <group>: crashed ..." and the remaining groups still run; set
 * API_NOFORK=1 to run in-process (e.g. under gdb).
 * Prints "ok <group>" / "FAIL <group>: detail" lines; exits 0 only if every
 * group passed. The checks themselves live in malloc_checks.h.
 */
#define _GNU_SOURCE
#include "malloc_checks.h"
#include "which_malloc.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--which-malloc") == 0) {
        print_which_malloc();
        return 0;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    int failed = 0, ran = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    f_malloc = malloc;
    f_calloc = calloc;
    f_realloc = realloc;
    f_reallocarray = reallocarray;
    f_free = free;
    f_posix_memalign = posix_memalign;
    f_aligned_alloc = aligned_alloc;
    f_memalign = memalign;
    f_valloc = valloc;
    f_pvalloc = pvalloc;
    f_usable = malloc_usable_size;
    /* C23 free_sized / free_aligned_sized: glibc 2.36 has neither, so look
     * them up at run time (an LD_PRELOADed allocator may provide them). */
    f_free_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    f_free_aligned_sized = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");

    failed += run_groups(common_groups, N_COMMON_GROUPS, only, &ran);
    printf("%s: %d groups, %d failed\n", failed ? "FAILED" : "PASSED", ran, failed);
    return failed ? 1 : 0;
}
