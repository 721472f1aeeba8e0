// The small C layer swalloc needs for what Swift cannot express:
// initial-exec thread-locals, errno, variadic syscalls, CPU_COUNT.
// Everything here is static inline (or a TLS definition in platform.c)
// so Swift code calls it without any call overhead.
#ifndef SWALLOC_PLATFORM_H
#define SWALLOC_PLATFORM_H


#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>     // FILE and fputs, for malloc_info
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>   // the background thread blocks every signal
#include <sys/mman.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/auxv.h>
#include <linux/futex.h>

// Thread-specific data lives in two initial-exec TLS slots: a pointer to the
// thread's tcache and a state byte. initial-exec keeps the fast path to one
// %fs-relative load. A thread without a cache of its own (before its first
// slow-path call, after exit, with tcache:false) points at
// swalloc_empty_tcache instead of NULL: an all-zero block whose stacks look
// empty to malloc (head == end) and full to free (head == fastLimit), so the
// fast paths need no NULL test and fall through to the slow paths, which
// tell it apart (swalloc_tls_tcache_or_null). The slot holds the address
// of the stacks, SWALLOC_TCACHE_BINS_OFFSET bytes into the block: the free
// fast path also reads the word just before them (the cache's arena, all
// zero in the empty block, so no arena matches it).
#define SWALLOC_EMPTY_TCACHE_BYTES 8192
#define SWALLOC_TCACHE_BINS_OFFSET 64
extern char swalloc_empty_tcache[SWALLOC_EMPTY_TCACHE_BYTES]
    __attribute__((visibility("hidden")));
extern __thread void *swalloc_tsd_tcache
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern __thread uint8_t swalloc_tsd_state
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline void *swalloc_tls_tcache(void) { return swalloc_tsd_tcache; }

// Static tables the fast paths read, valid before boot (a library
// constructor that runs before swalloc's may malloc and free): without
// them each fast path would need a boot test.
//  - the radix page map's root (PageMap.swift): 512 entries, each the
//    shared empty leaf until a chunk's leaf replaces it (relocated at load:
//    one page of .data, which boot would otherwise allocate and write);
//  - the empty leaf itself, 1 MiB of .bss never written (reads map the
//    zero page).
// (The size -> class tables, static and all 0 until boot too, are Swift
// InlineArrays: sizeBinOffsets and sizeUpper in SizeClasses.swift.)
#define SWALLOC_PAGEMAP_ROOT_ENTRIES 512
#define SWALLOC_PAGEMAP_LEAF_ENTRIES 131072
extern uintptr_t *swalloc_pagemap_root[SWALLOC_PAGEMAP_ROOT_ENTRIES]
    __attribute__((visibility("hidden")));
extern uintptr_t swalloc_pagemap_empty_leaf[SWALLOC_PAGEMAP_LEAF_ENTRIES]
    __attribute__((visibility("hidden")));
// The hot leaf: word 0 the root index of the first leaf made (all ones
// until then, which no address's index matches), word 1 that leaf (the
// empty leaf until then). Written once, by the thread that makes the leaf.
extern uintptr_t swalloc_pagemap_hot[2] __attribute__((visibility("hidden")));
static inline void *swalloc_pagemap_hot_address(void) { return swalloc_pagemap_hot; }
static inline void *swalloc_pagemap_root_address(void) { return swalloc_pagemap_root; }
static inline void *swalloc_pagemap_empty_leaf_address(void) { return swalloc_pagemap_empty_leaf; }
static inline void *swalloc_tls_tcache_or_null(void) {
  void *t = swalloc_tsd_tcache;
  return t == (void *)(swalloc_empty_tcache + SWALLOC_TCACHE_BINS_OFFSET) ? NULL : t;
}
static inline void swalloc_tls_set_tcache(void *t) {
  swalloc_tsd_tcache = t ? t : (void *)(swalloc_empty_tcache + SWALLOC_TCACHE_BINS_OFFSET);
}
static inline uint8_t swalloc_tls_state(void) { return swalloc_tsd_state; }
static inline void swalloc_tls_set_state(uint8_t s) { swalloc_tsd_state = s; }

// [0], [1]: bytes this thread allocated / freed outside its tcache's
// stacks (slow paths, uncached and huge blocks); with the per-stack
// counters in the tcache they make mallctl's thread.allocated /
// thread.deallocated. [2], [3]: thread.peak (ThreadCounters.swift), the
// highest allocated - deallocated seen since the last reset, above the
// difference at the reset. (One variable: each costs the library a
// relocation and a GOT slot.)
extern __thread uint64_t swalloc_tsd_bytes[4]
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline uint64_t *swalloc_tls_bytes(void) { return swalloc_tsd_bytes; }

// Bytes this thread added to (positive) or took from the process-wide
// allocated figure that it has not passed on yet (Accounting.swift,
// allocatedBatchBytes): one shared atomic per 64 KiB instead of one per
// refill, flush or uncached block.
extern __thread int32_t swalloc_tsd_allocated_pending
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline int32_t *swalloc_tls_allocated_pending(void) { return &swalloc_tsd_allocated_pending; }

// What this thread's lock acquisitions cost it in moves of a lock's line
// from another core and in waits (Lock.swift, lockWeight*): what tells a
// thread to leave a shared arena (Arena.swift, ArenaSpread).
// Wraps around; only differences are read. Its address names the thread
// to the locks (Mutex.holder). One word: the library's initial-exec TLS
// comes out of the loader's small static-TLS reserve when it is dlopened.
extern __thread uint32_t swalloc_tsd_lock_weight
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline uintptr_t swalloc_tls_lock_owner_id(void) { return (uintptr_t)&swalloc_tsd_lock_weight; }
static inline uint32_t swalloc_tls_lock_weight(void) { return swalloc_tsd_lock_weight; }
static inline void swalloc_tls_add_lock_weight(uint32_t n) { swalloc_tsd_lock_weight += n; }

// glibc's "this process has never had a second thread" (false where the
// C library does not say). pthread_create clears it before the new thread
// exists, so a thread that reads true is the only one and nothing can
// start another while it is inside the allocator (Lock.swift).
extern char __libc_single_threaded __attribute__((weak));
static inline bool swalloc_single_threaded(void) {
  return &__libc_single_threaded != 0 && __libc_single_threaded != 0;
}

// Heap profiling (Prof.swift): the thread's sampling state (initial-exec,
// like the slots above). Its backtraces go to a buffer on the sampling
// thread's stack (profWithBacktrace).
struct swalloc_prof_tsd {
  int64_t countdown;   // bytes left before the next sample
  uint64_t prng;       // xorshift state, 0 until the thread's first draw
  uint32_t tid;        // gettid(), 0 until read
  uint8_t busy;        // inside the profiler: allocations are not sampled
  uint8_t forced;      // a thread-cache countdown chose the next slow-path allocation
};
#define SWALLOC_PROF_MAX_FRAMES 64
#define SWALLOC_PROF_CAPTURE 96   // frames asked of the unwinder (ours included)
extern __thread struct swalloc_prof_tsd swalloc_tsd_prof
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
static inline struct swalloc_prof_tsd *swalloc_tls_prof(void) { return &swalloc_tsd_prof; }
// The heap profiler's cached unwinder (Control/ProfUnwind.swift) and what
// it needs from C (platform.c): the frame registers of the caller of
// swalloc_unwind_regs, glibc's backtrace(3) (its fallback), libgcc_s's
// _Unwind_Find_FDE (libgcc's struct dwarf_eh_bases; looked up once by
// swalloc_find_fde_init), and dl_iterate_phdr's count of objects removed.
struct swalloc_frame_regs { uintptr_t ip, sp, bp; };
struct swalloc_eh_bases { void *tbase; void *dbase; void *func; };
void swalloc_unwind_regs(struct swalloc_frame_regs *out);
int swalloc_glibc_backtrace(void **buffer, int size);
bool swalloc_find_fde_init(void);
const void *swalloc_find_fde(uintptr_t pc, struct swalloc_eh_bases *bases);
uint64_t swalloc_loader_subs(void);
// gettid, open(2) (variadic) and dladdr (needs _GNU_SOURCE): platform.c.
uint32_t swalloc_gettid(void);
uint32_t swalloc_getpid(void);
int swalloc_open_write(const char *path);
int swalloc_open_new(const char *path);
int swalloc_open_read(const char *path);
// This module's ELF header (the linker's __ehdr_start).
const void *swalloc_module_header(void);
// dladdr: the symbol name and start, and the module's path and base, of
// `address`; false when it names nothing.
bool swalloc_dladdr(const void *address, const char **symbol, uintptr_t *symbolStart,
                    const char **module, uintptr_t *moduleBase);

static inline int swalloc_errno(void) { return errno; }
static inline void swalloc_set_errno(int e) { errno = e; }

// The x86 spin-wait hint (PAUSE): a spinning thread yields the core's
// pipeline to its sibling hyperthread and leaves the spin loop without a
// memory-order mis-speculation when the lock word changes.
static inline void swalloc_spin_pause(void) { __builtin_ia32_pause(); }
// A hint to load the cache line at `p` for a write soon (TcacheFill.swift,
// tcacheRefillAndPop); never faults.
static inline void swalloc_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

// futex(2) has no libc wrapper and syscall(2) is variadic. A wait fails
// with EAGAIN whenever the lock word changed before the thread slept (and
// EINTR on a signal): normal outcomes that syscall(2) reports in errno,
// which free() and every successful call must leave as it was.
static inline void swalloc_futex_wait(uint32_t *word, uint32_t expected) {
  int saved = errno;
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
  errno = saved;
}
// The same with a timeout of `ms` milliseconds (the background thread's
// sleep, which a change of the word ends early).
static inline void swalloc_futex_wait_ms(uint32_t *word, uint32_t expected, long ms) {
  int saved = errno;
  struct timespec timeout = {ms / 1000, (ms % 1000) * 1000000L};
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, &timeout, NULL, 0);
  errno = saved;
}
static inline void swalloc_futex_wake_one(uint32_t *word) {
  int saved = errno;
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  errno = saved;
}

// Defined in platform.c, which needs _GNU_SOURCE (this header must not set
// it: Swift's Glibc module is built without it).
// mremap(2) is variadic in glibc.
void *swalloc_mremap(void *old, size_t oldSize, size_t newSize, int flags);
// mremap(MREMAP_MAYMOVE | MREMAP_FIXED) onto `target`.
void *swalloc_mremap_to(void *old, size_t oldSize, size_t newSize, void *target);
// The CPUs this process may run on.
int swalloc_cpus_available(void);
// fork(2): glibc's stdio stream list lock, and whether the process has
// only ever had one thread (Fork.swift).
void swalloc_stdio_list_lock(void);
void swalloc_stdio_list_unlock(void);
void swalloc_stdio_list_reset(void);
// The program's own `malloc_conf` string (jemalloc's), or NULL.
const char *swalloc_program_conf(void);

static inline void *swalloc_map_failed(void) { return MAP_FAILED; }

// The process environment, read directly instead of through getenv(3):
// each libc function the boot calls faults in a 64 KiB window of libc's
// text around it (the kernel's fault-around), resident for the life of the
// process, and a program that never calls getenv pays those pages only
// because of the allocator.
static inline char **swalloc_environ(void) {
  extern char **environ;
  return environ;
}

// glibc's struct mallinfo2, declared here so it need not come from
// <malloc.h> (which would also declare the functions we define).
struct swalloc_mallinfo2 {
  size_t arena;    // bytes of non-mmapped space (arena chunks)
  size_t ordblks;  // free chunks
  size_t smblks;
  size_t hblks;    // mmapped regions (huge blocks)
  size_t hblkhd;   // bytes in mmapped regions
  size_t usmblks;
  size_t fsmblks;
  size_t uordblks; // bytes allocated
  size_t fordblks; // bytes free in arena chunks
  size_t keepcost;
};

// glibc's legacy struct mallinfo (int fields: mallinfo truncates, as glibc's).
struct swalloc_mallinfo {
  int arena;
  int ordblks;
  int smblks;
  int hblks;
  int hblkhd;
  int usmblks;
  int fsmblks;
  int uordblks;
  int fordblks;
  int keepcost;
};

// A clock through libc, where the boot found no vDSO entry (Clock.swift).
static inline void swalloc_clock_read(clockid_t clock, struct timespec *ts) { clock_gettime(clock, ts); }

// abort(3) is noreturn; Swift sees it as such through this wrapper too.
static inline __attribute__((noreturn)) void swalloc_abort(void) { abort(); }

#endif
