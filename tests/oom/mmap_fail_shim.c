/*
 * mmap_fail_shim.c - mmap failure injection for fault_injection.c.
 *
 * Build: gcc -std=gnu11 -O1 -g -shared -fPIC -o mmap_fail_shim.so mmap_fail_shim.c
 * Use:   LD_PRELOAD="/abs/mmap_fail_shim.so:/abs/libswalloc.so" ./fault_injection mmap-fail
 *        (the shim first, so that the allocator's mmap/mremap resolve to it)
 *
 * Wraps mmap, mmap64 and mremap. When injection is on, an anonymous mmap
 * (MAP_ANONYMOUS) and a growing mremap fail with ENOMEM; file mappings,
 * munmap and shrinking mremaps always go through. Injection is switched
 *   - at run time by mmap_fail_shim_set(1|0), which the test finds with
 *     dlsym(RTLD_DEFAULT, "mmap_fail_shim_set");
 *   - from the start by MMAP_FAIL_AFTER=N in the environment: the first N
 *     anonymous mmaps succeed, every later one fails (until
 *     mmap_fail_shim_set(0)).
 * mmap_fail_shim_failures() counts the calls failed so far.
 *
 * The wrappers call the kernel with syscall(2), not dlsym(RTLD_NEXT, "mmap"):
 * dlsym may call malloc, and the first mmap comes from inside the
 * allocator's boot (which holds its boot lock), so a dlsym there could
 * recurse into a malloc that waits for that lock. MMAP_FAIL_AFTER is read
 * (getenv, which does not allocate) at the first anonymous mmap rather than
 * in a constructor: the allocator's constructor may run before the shim's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static atomic_int fail_on;          /* 1: fail every anonymous mapping */
static atomic_long fail_after = -1; /* >= 0: anonymous mmaps left before failing */
static atomic_long anon_calls;
static atomic_long failures;

static void read_env(void);

EXPORT void mmap_fail_shim_set(int on)
{
    read_env(); /* so that a later first mmap does not re-arm MMAP_FAIL_AFTER */
    atomic_store(&fail_after, -1);
    atomic_store(&fail_on, on != 0);
}

EXPORT long mmap_fail_shim_failures(void) { return atomic_load(&failures); }

EXPORT long mmap_fail_shim_anon_calls(void) { return atomic_load(&anon_calls); }

static void read_env(void)
{
    static atomic_int done;
    if (atomic_load(&done)) return;
    const char *v = getenv("MMAP_FAIL_AFTER");
    if (v && *v) {
        long n = strtol(v, NULL, 10);
        if (n >= 0) atomic_store(&fail_after, n);
    }
    atomic_store(&done, 1);
}

static int should_fail_anon(void)
{
    read_env();
    long n = atomic_fetch_add(&anon_calls, 1);
    if (atomic_load(&fail_on)) return 1;
    long after = atomic_load(&fail_after);
    return after >= 0 && n >= after;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if ((flags & MAP_ANONYMOUS) && should_fail_anon()) {
        atomic_fetch_add(&failures, 1);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return (void *)r; /* -1 == MAP_FAILED, errno set by syscall() */
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *target = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        target = va_arg(ap, void *);
        va_end(ap);
    }
    read_env();
    if (new_len > old_len && (atomic_load(&fail_on) || (atomic_load(&fail_after) >= 0 &&
                                                         atomic_load(&anon_calls) >= atomic_load(&fail_after)))) {
        atomic_fetch_add(&failures, 1);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mremap, old, old_len, new_len, flags, target);
    return (void *)r;
}
