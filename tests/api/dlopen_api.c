/*
 * dlopen_api.c - loads an allocator library with dlopen(RTLD_NOW|RTLD_LOCAL)
 * (no LD_PRELOAD) and checks its prefixed entry points swalloc_malloc,
 * swalloc_free, ... swalloc_free_aligned_sized.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o dlopen_api dlopen_api.c -ldl
 * Run:   ./dlopen_api /abs/path/libswalloc.so [GROUP-SUBSTRING]
 *
 * Checks:
 *   - every swalloc_* symbol resolves;
 *   - the RTLD_LOCAL load does not interpose: the process's malloc is still
 *     glibc's, and swalloc_* are not visible through RTLD_DEFAULT;
 *   - all the semantic check groups of malloc_checks.h, run through the
 *     swalloc_* pointers;
 *   - the two heaps coexist: glibc blocks and swalloc blocks interleaved,
 *     each freed by its own free (never crossed);
 *   - multi-threaded use of the twins with cross-thread frees and threads
 *     exiting while their blocks are still live.
 * Prints "ok <group>" / "FAIL <group>: ..." lines; exits 0 only if all pass.
 */
#define _GNU_SOURCE
#include "malloc_checks.h"
#include <limits.h>
#include <pthread.h>

static void *lib_handle;
static const char *lib_path;

/* the twins, as plain (non-volatile) pointers for the extra groups */
static void *(*s_malloc)(size_t);
static void (*s_free)(void *);
static void *(*s_calloc)(size_t, size_t);
static void *(*s_realloc)(void *, size_t);
static void *(*s_reallocarray)(void *, size_t, size_t);
static int (*s_posix_memalign)(void **, size_t, size_t);
static void *(*s_aligned_alloc)(size_t, size_t);
static void *(*s_memalign)(size_t, size_t);
static void *(*s_valloc)(size_t);
static void *(*s_pvalloc)(size_t);
static size_t (*s_usable)(void *);
static void (*s_free_sized)(void *, size_t);
static void (*s_free_aligned_sized)(void *, size_t, size_t);

/* glibc's own functions, called through volatile pointers */
static void *(*volatile g_malloc)(size_t) = malloc;
static void (*volatile g_free)(void *) = free;
static void *(*volatile g_realloc)(void *, size_t) = realloc;
static void *(*volatile g_calloc)(size_t, size_t) = calloc;

static const char *object_of(void *addr)
{
    Dl_info di;
    if (addr && dladdr(addr, &di) && di.dli_fname)
        return di.dli_fname;
    return "?";
}

static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!realpath(a, ra) || !realpath(b, rb))
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* The RTLD_LOCAL load must not interpose the process's malloc. */
static void t_no_interpose(void)
{
    void *def_malloc = dlsym(RTLD_DEFAULT, "malloc");
    void *def_free = dlsym(RTLD_DEFAULT, "free");
    CHECK(def_malloc != NULL, "dlsym(RTLD_DEFAULT, \"malloc\") is NULL");
    const char *def_obj = object_of(def_malloc);
    CHECK(!same_file(def_obj, lib_path), "process malloc resolves into the dlopened library (%s)", def_obj);
    CHECK(strstr(def_obj, "libc.so") != NULL, "process malloc lives in %s, expected glibc's libc.so.6", def_obj);
    CHECK(!same_file(object_of(def_free), lib_path), "process free resolves into the dlopened library");
    CHECK((void *)g_malloc == def_malloc, "&malloc (%p) != dlsym(RTLD_DEFAULT,\"malloc\") (%p)", (void *)g_malloc,
          def_malloc);

    void *lib_malloc = dlsym(lib_handle, "malloc");
    if (lib_malloc && same_file(object_of(lib_malloc), lib_path)) {
        CHECK(lib_malloc != def_malloc, "library malloc == process malloc: the library interposed");
        INFO("library exports its own malloc at %p; process malloc is %s's %p", lib_malloc, def_obj, def_malloc);
    } else {
        INFO("library does not define malloc itself (dlsym(handle,\"malloc\") -> %s)", object_of(lib_malloc));
    }
    /* RTLD_LOCAL: the twins must not be in the global scope */
    CHECK(dlsym(RTLD_DEFAULT, "swalloc_malloc") == NULL,
          "swalloc_malloc is visible through RTLD_DEFAULT despite RTLD_LOCAL");

    /* the process malloc keeps working after the dlopen */
    for (int i = 0; i < 1000; i++) {
        void *p = g_malloc(1 + i * 37);
        memset(p, 1, 1 + i * 37);
        g_free(p);
    }
    /* glibc's usable size of a glibc block is sane (proves it is glibc's) */
    void *p = g_malloc(100);
    CHECK(malloc_usable_size(p) >= 100, "glibc malloc_usable_size broken after dlopen");
    g_free(p);
}

/* glibc blocks and swalloc blocks interleaved, each freed by its own free. */
static void t_coexist(void)
{
    enum { N = 1024, OPS = 40000 };
    static struct { unsigned char *p; size_t n; uint64_t id; int mine; } s[N];
    memset(s, 0, sizeof s);
    uint64_t next = 1;
    rng_state = 0xC0FFEE1234567ull;
    for (int op = 0; op < OPS; op++) {
        int i = rnd() % N;
        if (s[i].p) {
            size_t bad = verify(s[i].p, s[i].n, s[i].id);
            CHECK(bad == (size_t)-1, "op %d: %s block of %zu corrupted at %zu", op, s[i].mine ? "swalloc" : "glibc",
                  s[i].n, bad);
            if (rnd() % 4 == 0) {
                size_t nn = 1 + rnd() % 20000;
                unsigned char *q = s[i].mine ? s_realloc(s[i].p, nn) : g_realloc(s[i].p, nn);
                CHECK(q != NULL, "realloc NULL");
                if (!q)
                    continue;
                size_t keep = nn < s[i].n ? nn : s[i].n;
                CHECK(verify(q, keep, s[i].id) == (size_t)-1, "realloc lost content (%s)",
                      s[i].mine ? "swalloc" : "glibc");
                s[i].p = q;
                s[i].n = nn;
                s[i].id = next++;
                fill(q, nn, s[i].id);
            } else {
                if (s[i].mine)
                    s_free(s[i].p);
                else
                    g_free(s[i].p);
                s[i].p = NULL;
            }
        } else {
            size_t n = 1 + rnd() % ((rnd() % 8 == 0) ? 200000 : 2000);
            int mine = rnd() % 2;
            int how = rnd() % 2;
            unsigned char *q = mine ? (how ? s_calloc(1, n) : s_malloc(n)) : (how ? g_calloc(1, n) : g_malloc(n));
            CHECK(q != NULL, "allocation failed");
            if (!q)
                continue;
            if (how)
                CHECK(first_nonzero(q, n) == (size_t)-1, "%s calloc not zero", mine ? "swalloc" : "glibc");
            if (mine)
                CHECK(s_usable(q) >= n, "swalloc usable too small");
            s[i].p = q;
            s[i].n = n;
            s[i].mine = mine;
            s[i].id = next++;
            fill(q, n, s[i].id);
        }
        if (g_fail > 10)
            break;
    }
    for (int i = 0; i < N; i++) {
        if (!s[i].p)
            continue;
        CHECK(verify(s[i].p, s[i].n, s[i].id) == (size_t)-1, "final check corrupted");
        if (s[i].mine)
            s_free(s[i].p);
        else
            g_free(s[i].p);
    }
}

/* Threads using the twins: cross-thread frees through a shared exchange, and
 * threads that exit while blocks they allocated are still live. */
enum { XT = 4, XSLOTS = 512, XOPS = 30000, XBOX = 4096 };
static pthread_mutex_t xmu = PTHREAD_MUTEX_INITIALIZER;
static struct { unsigned char *p; size_t n; uint64_t id; } xbox[XBOX];
static int xcount;
static _Atomic int xfail;

static void *xworker(void *arg)
{
    int t = (int)(intptr_t)arg;
    uint64_t r = 0x9E3779B97F4A7C15ull * (t + 1);
#define XR() (r ^= r << 13, r ^= r >> 7, r ^= r << 17, r)
    struct { unsigned char *p; size_t n; uint64_t id; } sl[XSLOTS];
    memset(sl, 0, sizeof sl);
    uint64_t next = (uint64_t)t << 40;
    for (int op = 0; op < XOPS; op++) {
        int i = XR() % XSLOTS;
        if (sl[i].p) {
            if (verify(sl[i].p, sl[i].n, sl[i].id) != (size_t)-1)
                xfail++;
            int k = XR() % 10;
            if (k < 3) { /* hand to the exchange; someone else frees it */
                pthread_mutex_lock(&xmu);
                if (xcount < XBOX) {
                    xbox[xcount].p = sl[i].p;
                    xbox[xcount].n = sl[i].n;
                    xbox[xcount].id = sl[i].id;
                    xcount++;
                    sl[i].p = NULL;
                }
                pthread_mutex_unlock(&xmu);
            }
            if (sl[i].p) {
                s_free(sl[i].p);
                sl[i].p = NULL;
            }
        } else {
            /* take something from the exchange and free it here */
            if (XR() % 4 == 0) {
                unsigned char *p = NULL;
                size_t n = 0;
                uint64_t id = 0;
                pthread_mutex_lock(&xmu);
                if (xcount > 0) {
                    int j = XR() % xcount;
                    p = xbox[j].p;
                    n = xbox[j].n;
                    id = xbox[j].id;
                    xbox[j] = xbox[--xcount];
                }
                pthread_mutex_unlock(&xmu);
                if (p) {
                    if (verify(p, n, id) != (size_t)-1)
                        xfail++;
                    s_free(p);
                }
            }
            size_t n = (XR() % 50 == 0) ? 1 + XR() % 300000 : 1 + XR() % 600;
            unsigned char *p = (XR() % 3 == 0) ? s_calloc(1, n) : s_malloc(n);
            if (!p) {
                xfail++;
                continue;
            }
            sl[i].p = p;
            sl[i].n = n;
            sl[i].id = ++next;
            fill(p, n, sl[i].id);
        }
    }
    /* leave half of the live blocks behind for the main thread */
    for (int i = 0; i < XSLOTS; i++) {
        if (!sl[i].p)
            continue;
        int handed = 0;
        if (i % 2 == 0) {
            pthread_mutex_lock(&xmu);
            if (xcount < XBOX) {
                xbox[xcount].p = sl[i].p;
                xbox[xcount].n = sl[i].n;
                xbox[xcount].id = sl[i].id;
                xcount++;
                handed = 1;
            }
            pthread_mutex_unlock(&xmu);
        }
        if (!handed) {
            if (verify(sl[i].p, sl[i].n, sl[i].id) != (size_t)-1)
                xfail++;
            s_free(sl[i].p);
        }
    }
    return NULL;
#undef XR
}

static void t_threads(void)
{
    for (int round = 0; round < 3; round++) {
        pthread_t th[XT];
        for (int t = 0; t < XT; t++)
            CHECK(pthread_create(&th[t], NULL, xworker, (void *)(intptr_t)(t + round * XT)) == 0,
                  "pthread_create failed");
        for (int t = 0; t < XT; t++)
            pthread_join(th[t], NULL);
        /* the threads are gone; free what they left behind */
        for (int j = 0; j < xcount; j++) {
            CHECK(verify(xbox[j].p, xbox[j].n, xbox[j].id) == (size_t)-1,
                  "block left behind by an exited thread is corrupted");
            s_free(xbox[j].p);
        }
        xcount = 0;
    }
    CHECK(xfail == 0, "%d corruptions/failed allocations seen by worker threads", (int)xfail);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: %s /abs/path/liballocator.so [GROUP-SUBSTRING]\n", argv[0]);
        return 2;
    }
    lib_path = argv[1];
    const char *only = argc > 2 ? argv[2] : NULL;
    int failed = 0, ran = 0;

    lib_handle = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (!lib_handle) {
        printf("FAIL dlopen: %s\n", dlerror());
        printf("FAILED: dlopen failed\n");
        return 1;
    }
    printf("ok dlopen\n");

    struct { const char *name; void **slot; } syms[] = {
        {"swalloc_malloc", (void **)&s_malloc},
        {"swalloc_free", (void **)&s_free},
        {"swalloc_calloc", (void **)&s_calloc},
        {"swalloc_realloc", (void **)&s_realloc},
        {"swalloc_reallocarray", (void **)&s_reallocarray},
        {"swalloc_posix_memalign", (void **)&s_posix_memalign},
        {"swalloc_aligned_alloc", (void **)&s_aligned_alloc},
        {"swalloc_memalign", (void **)&s_memalign},
        {"swalloc_valloc", (void **)&s_valloc},
        {"swalloc_pvalloc", (void **)&s_pvalloc},
        {"swalloc_malloc_usable_size", (void **)&s_usable},
        {"swalloc_free_sized", (void **)&s_free_sized},
        {"swalloc_free_aligned_sized", (void **)&s_free_aligned_sized},
    };
    int missing = 0;
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        dlerror();
        *syms[i].slot = dlsym(lib_handle, syms[i].name);
        if (!*syms[i].slot) {
            printf("FAIL resolve: %s not found in %s\n", syms[i].name, lib_path);
            missing++;
        } else if (!same_file(object_of(*syms[i].slot), lib_path)) {
            printf("FAIL resolve: %s resolved into %s, not into the library\n", syms[i].name,
                   object_of(*syms[i].slot));
            missing++;
        }
    }
    if (missing) {
        printf("FAILED: %d of %zu swalloc_* symbols missing\n", missing, sizeof syms / sizeof syms[0]);
        return 1;
    }
    printf("ok resolve\n");

    f_malloc = s_malloc;
    f_calloc = s_calloc;
    f_realloc = s_realloc;
    f_reallocarray = s_reallocarray;
    f_free = s_free;
    f_posix_memalign = s_posix_memalign;
    f_aligned_alloc = s_aligned_alloc;
    f_memalign = s_memalign;
    f_valloc = s_valloc;
    f_pvalloc = s_pvalloc;
    f_usable = s_usable;
    f_free_sized = s_free_sized;
    f_free_aligned_sized = s_free_aligned_sized;

    static const struct check_group extra[] = {
        {"no_interpose", t_no_interpose},
        {"coexist_with_glibc", t_coexist},
        {"threads_cross_free", t_threads},
    };
    failed += run_groups(extra, sizeof extra / sizeof extra[0], only, &ran);
    failed += run_groups(common_groups, N_COMMON_GROUPS, only, &ran);
    /* The library is deliberately not dlclose()d. */
    printf("%s: %d groups, %d failed\n", failed ? "FAILED" : "PASSED", ran, failed);
    return failed ? 1 : 0;
}
