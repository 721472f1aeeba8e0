/*
 * api_conformance.c - checks glibc malloc API semantics as seen through
 * whatever malloc implementation is loaded into the process (plain glibc, or
 * an LD_PRELOADed replacement such as libswalloc.so).
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o api_conformance api_conformance.c -ldl
 * Run:   ./api_conformance [GROUP-SUBSTRING]
 *        (glibc_names, here: glibc's __libc_* and cfree names reach the same
 *        allocator as malloc and free)
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

/* glibc's other names for its entry points: __libc_malloc & co. (glibc
 * 2.36 exports them as default symbols, and programs and preloaded shims call
 * them) and cfree@GLIBC_2.2.5, which an old binary binds to. Whatever
 * allocator is loaded, a block made through one name must be freed, resized
 * and sized through another: with a preloaded allocator that does not
 * provide them, __libc_malloc is glibc's while free is the preloaded one's. */
/* A reference to cfree@GLIBC_2.2.5 as an old binary has one (a new link
 * cannot name it otherwise). dlvsym would not do: it asks for that version
 * strictly, where the loader binds a binary's reference to an unversioned
 * definition found first, as it binds malloc@GLIBC_2.2.5 to a preloaded
 * malloc. */
__asm__(".symver old_cfree, cfree@GLIBC_2.2.5");
extern void old_cfree(void *);

static void t_glibc_names(void)
{
    void *(*l_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
    void (*l_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
    void *(*l_calloc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_calloc");
    void *(*l_realloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "__libc_realloc");
    void *(*l_memalign)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(RTLD_DEFAULT, "__libc_memalign");
    void *(*l_valloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_valloc");
    void *(*l_pvalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_pvalloc");
    CHECK(l_malloc && l_free && l_calloc && l_realloc && l_memalign && l_valloc && l_pvalloc,
          "a glibc name is missing");
    if (g_fail) return;

    void *p = l_malloc(100);
    CHECK(p && f_usable(p) >= 100, "__libc_malloc(100): %p", p);
    fill(p, 100, 1);
    p = f_realloc(p, 3000);
    CHECK(p && verify(p, 100, 1) == (size_t)-1, "realloc of a __libc_malloc block lost its bytes");
    f_free(p);

    p = f_malloc(200);
    fill(p, 200, 2);
    p = l_realloc(p, 5000);
    CHECK(p && verify(p, 200, 2) == (size_t)-1, "__libc_realloc of a malloc block lost its bytes");
    l_free(p);

    unsigned char *z = l_calloc(10, 30);
    CHECK(z && first_nonzero(z, 300) == (size_t)-1, "__libc_calloc block not zeroed");
    f_free(z);
    p = l_memalign(256, 100);
    CHECK(p && is_aligned(p, 256) && f_usable(p) >= 100, "__libc_memalign(256, 100): %p", p);
    f_free(p);
    p = l_valloc(100);
    CHECK(p && is_aligned(p, g_page), "__libc_valloc(100): %p", p);
    f_free(p);
    p = l_pvalloc(100);
    CHECK(p && is_aligned(p, g_page) && f_usable(p) >= g_page, "__libc_pvalloc(100): %p", p);
    f_free(p);

    old_cfree(f_malloc(50));
    old_cfree(f_calloc(1, 70000));
    l_free(f_malloc(1 << 20));
    l_free(NULL);
    old_cfree(NULL);
}

static const struct check_group preload_groups[] = {
    {"glibc_names", t_glibc_names},
};

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
    failed += run_groups(preload_groups, sizeof preload_groups / sizeof preload_groups[0], only, &ran);
    printf("%s: %d groups, %d failed\n", failed ? "FAILED" : "PASSED", ran, failed);
    return failed ? 1 : 0;
}
