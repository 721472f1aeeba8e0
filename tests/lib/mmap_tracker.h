/*
 * mmap_tracker.h - the test program's own mmap, munmap and mremap, found
 * before libc's by every library that calls them through the PLT (swalloc
 * does), recording which ranges are anonymous mappings of interest: the
 * kernel's figure for "swalloc's memory" in tests/memtruth/memtruth.c and
 * tests/fuzz/api_fuzz.c. Raw system calls, a spin lock held across each
 * call (else a range one thread unmapped could be mapped again by another
 * and recorded before the first drops it), static storage: nothing here
 * may allocate.
 *
 * Include once, after defining
 *   TRACKER_RECORD_MMAP     whether a new anonymous mmap is recorded
 *   TRACKER_RECORD_MREMAP   whether a range mremap creates is recorded when
 *                           its source was not
 * The ranges are kept sorted and merged in trk[0..trk_n); trk_calls counts
 * successful mmaps, trk_maps the recorded ones, trk_overflow the table
 * filling up.
 */
#ifndef SWALLOC_MMAP_TRACKER_H
#define SWALLOC_MMAP_TRACKER_H

#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct { uintptr_t s, e; } range_t;

#define TRACK_MAX 16384
static range_t trk[TRACK_MAX], trk_tmp[TRACK_MAX];
static size_t trk_n;
static unsigned long trk_calls; /* successful mmaps */
static unsigned long trk_maps;  /* recorded ones */
static int trk_overflow;
static char trk_flag;

static void trk_lock(void)
{
    while (__atomic_test_and_set(&trk_flag, __ATOMIC_ACQUIRE)) sched_yield();
}
static void trk_unlock(void) { __atomic_clear(&trk_flag, __ATOMIC_RELEASE); }

static uintptr_t page_up(uintptr_t n) { return (n + 4095) & ~(uintptr_t)4095; }

static void trk_remove_locked(uintptr_t s, uintptr_t e)
{
    size_t m = 0;
    for (size_t i = 0; i < trk_n; i++) {
        range_t r = trk[i];
        if (r.e <= s || r.s >= e) {
            trk_tmp[m++] = r;
            continue;
        }
        if (r.s < s) trk_tmp[m++] = (range_t){r.s, s};
        if (r.e > e) {
            if (m >= TRACK_MAX) { trk_overflow = 1; break; }
            trk_tmp[m++] = (range_t){e, r.e};
        }
    }
    memcpy(trk, trk_tmp, m * sizeof(range_t));
    trk_n = m;
}

static void trk_add_locked(uintptr_t s, uintptr_t e)
{
    trk_remove_locked(s, e);
    size_t i = 0;
    while (i < trk_n && trk[i].s < s) i++;
    /* merge with the neighbours */
    if (i > 0 && trk[i - 1].e == s) {
        trk[i - 1].e = e;
        if (i < trk_n && trk[i].s == e) {
            trk[i - 1].e = trk[i].e;
            memmove(&trk[i], &trk[i + 1], (trk_n - i - 1) * sizeof(range_t));
            trk_n--;
        }
        return;
    }
    if (i < trk_n && trk[i].s == e) {
        trk[i].s = s;
        return;
    }
    if (trk_n >= TRACK_MAX) { trk_overflow = 1; return; }
    memmove(&trk[i + 1], &trk[i], (trk_n - i) * sizeof(range_t));
    trk[i] = (range_t){s, e};
    trk_n++;
}

static int trk_overlaps_locked(uintptr_t s, uintptr_t e)
{
    for (size_t i = 0; i < trk_n; i++)
        if (trk[i].s < e && trk[i].e > s) return 1;
    return 0;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    /* The lock is held across the system call: else a range that one
     * thread unmapped could be mapped again by another and recorded before
     * the first thread removes it from the record. */
    trk_lock();
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (r == -1) {
        trk_unlock();
        return MAP_FAILED;
    }
    uintptr_t s = (uintptr_t)r, e = s + page_up(len);
    trk_calls++;
    if ((flags & MAP_ANONYMOUS) && (TRACKER_RECORD_MMAP)) {
        trk_add_locked(s, e);
        trk_maps++;
    } else {
        trk_remove_locked(s, e);
    }
    trk_unlock();
    return (void *)r;
}

int munmap(void *addr, size_t len)
{
    trk_lock();
    long r = syscall(SYS_munmap, addr, len);
    if (r == 0) trk_remove_locked((uintptr_t)addr, (uintptr_t)addr + page_up(len));
    trk_unlock();
    return (int)r;
}

void *mremap(void *old, size_t oldsz, size_t newsz, int flags, ...)
{
    void *target = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        target = va_arg(ap, void *);
        va_end(ap);
    }
    trk_lock();
    long r = syscall(SYS_mremap, old, oldsz, newsz, flags, target);
    if (r == -1) {
        trk_unlock();
        return MAP_FAILED;
    }
    uintptr_t os = (uintptr_t)old, ns = (uintptr_t)r;
    int was = trk_overlaps_locked(os, os + page_up(oldsz));
    if (!(flags & MREMAP_DONTUNMAP)) trk_remove_locked(os, os + page_up(oldsz));
    if (was || (TRACKER_RECORD_MREMAP))
        trk_add_locked(ns, ns + page_up(newsz));
    else
        trk_remove_locked(ns, ns + page_up(newsz));
    trk_unlock();
    return (void *)r;
}

#endif
