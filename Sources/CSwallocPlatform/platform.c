#define _GNU_SOURCE 1  // mremap
#include <sched.h>
#include <sys/mman.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include "swalloc_platform.h"

// See the header: valid before boot.
__attribute__((visibility("hidden"), aligned(4096)))
uintptr_t swalloc_pagemap_empty_leaf[SWALLOC_PAGEMAP_LEAF_ENTRIES];
// See the header: the first leaf made, for the fast paths. Apart from the
// page-aligned root (a section of its own below), so that it shares a page
// of .data with the Swift globals: in the root's section, after it, it
// began a page of its own, one more written page in every process.
__attribute__((visibility("hidden"), aligned(64)))
uintptr_t swalloc_pagemap_hot[2] = {
  (uintptr_t)-1, (uintptr_t)swalloc_pagemap_empty_leaf
};
#define SW_L swalloc_pagemap_empty_leaf
#define SW_8 SW_L, SW_L, SW_L, SW_L, SW_L, SW_L, SW_L, SW_L
#define SW_64 SW_8, SW_8, SW_8, SW_8, SW_8, SW_8, SW_8, SW_8
__attribute__((visibility("hidden"), aligned(4096), section(".data.swalloc_pagemap_root")))
uintptr_t *swalloc_pagemap_root[SWALLOC_PAGEMAP_ROOT_ENTRIES] = {
  SW_64, SW_64, SW_64, SW_64, SW_64, SW_64, SW_64, SW_64
};
#undef SW_64
#undef SW_8
#undef SW_L

// A read-only byte between the library's cold text and its warm text, so
// that each is a mapping of its own (scripts/build-lib.sh's linker script
// places .swalloc_gap; nothing reads it).
__attribute__((visibility("hidden"), used, section(".swalloc_gap")))
const char swalloc_text_gap = 0;

// 64-byte aligned like a real Tcache block; never written (see the header).
__attribute__((visibility("hidden"), aligned(64)))
char swalloc_empty_tcache[SWALLOC_EMPTY_TCACHE_BYTES];
__thread void *swalloc_tsd_tcache
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) =
        swalloc_empty_tcache + SWALLOC_TCACHE_BINS_OFFSET;
__thread uint8_t swalloc_tsd_state
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = 0;
__thread uint64_t swalloc_tsd_bytes[4]
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {0, 0, 0, 0};
__thread uint32_t swalloc_tsd_lock_weight
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = 0;
__thread int32_t swalloc_tsd_allocated_pending
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = 0;

__attribute__((visibility("hidden")))
void *swalloc_mremap(void *old, size_t oldSize, size_t newSize, int flags) {
  return mremap(old, oldSize, newSize, flags);
}

__attribute__((visibility("hidden")))
void *swalloc_mremap_to(void *old, size_t oldSize, size_t newSize, void *target) {
  return mremap(old, oldSize, newSize, MREMAP_MAYMOVE | MREMAP_FIXED, target);
}

// The system call itself rather than sched_getaffinity(3) and CPU_COUNT
// (__sched_cpucount): syscall(2) sits next to mmap in libc's text, which
// the allocator needs anyway, while the two wrappers would fault in libc
// pages of their own (see swalloc_environ). The kernel writes as many bytes
// of the mask as it has CPUs; the rest stays zero.
__attribute__((visibility("hidden")))
int swalloc_cpus_available(void) {
  unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
  long written = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
  if (written <= 0) return 1;
  int n = 0;
  for (size_t i = 0; i < sizeof(mask) / sizeof(mask[0]); i++) n += __builtin_popcountl(mask[i]);
  return n > 0 ? n : 1;
}

// fork(2) and glibc's stdio (see Fork.swift). glibc's fork takes the stream
// list lock after the atfork prepare handlers have run; the allocator takes
// it first, itself, so that its own locks come after it, as glibc orders its
// malloc's. The lock is recursive, so glibc's own acquisition in fork
// succeeds. Weak: a C library without these names (not glibc) skips both.
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

__attribute__((visibility("hidden")))
void swalloc_stdio_list_lock(void) { if (_IO_list_lock) _IO_list_lock(); }

__attribute__((visibility("hidden")))
void swalloc_stdio_list_unlock(void) { if (_IO_list_unlock) _IO_list_unlock(); }

// In the child, which has one thread: the lock is made free, as glibc's own
// child-side code does (which may already have done it: resetting is
// idempotent, unlocking would not be).
__attribute__((visibility("hidden")))
void swalloc_stdio_list_reset(void) { if (_IO_list_resetlock) _IO_list_resetlock(); }

// jemalloc's compiled-in options: a program may define
//   const char *malloc_conf = "narenas:2";
// which is read before the environment's (Options.swift). Weak: most
// programs do not define it. Seen only when the program's symbol is in the
// dynamic symbol table (it is when the program links -lswalloc; a program
// run under LD_PRELOAD exports it only if linked with -rdynamic).
extern const char *malloc_conf __attribute__((weak));

__attribute__((visibility("hidden")))
const char *swalloc_program_conf(void) { return &malloc_conf != NULL ? malloc_conf : NULL; }

// Heap profiling (Prof.swift).
__thread struct swalloc_prof_tsd swalloc_tsd_prof
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {0, 0, 0, 0};

// The heap profiler's cached unwinder (Control/ProfUnwind.swift) is Swift;
// these are the pieces it cannot express. swalloc_unwind_regs: the return
// address into its caller, the caller's rsp once the call returns, and rbp
// (callee-saved: the caller's own). Swift has no access to its registers.
#ifdef __x86_64__
__asm__(
  "  .text\n"
  "  .p2align 4\n"
  "  .globl swalloc_unwind_regs\n"
  "  .hidden swalloc_unwind_regs\n"
  "  .type swalloc_unwind_regs,@function\n"
  "swalloc_unwind_regs:\n"
  "  .cfi_startproc\n"
  "  movq (%rsp), %rax\n"
  "  movq %rax, 0(%rdi)\n"
  "  leaq 8(%rsp), %rax\n"
  "  movq %rax, 8(%rdi)\n"
  "  movq %rbp, 16(%rdi)\n"
  "  ret\n"
  "  .cfi_endproc\n"
  "  .size swalloc_unwind_regs, .-swalloc_unwind_regs\n");
#endif

// glibc's backtrace(3) (libgcc's unwinder): the fallback.
__attribute__((visibility("hidden")))
int swalloc_glibc_backtrace(void **buffer, int size) { return backtrace(buffer, size); }

// libgcc_s's _Unwind_Find_FDE (exported since GCC 3.0), looked up once
// (RTLD_NOLOAD: glibc's backtrace(3) has loaded libgcc_s) and called
// through its pointer.
static const void *(*find_fde)(void *pc, struct swalloc_eh_bases *bases);

__attribute__((visibility("hidden")))
bool swalloc_find_fde_init(void) {
  void *libgcc = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (libgcc) find_fde = (const void *(*)(void *, struct swalloc_eh_bases *))dlsym(libgcc, "_Unwind_Find_FDE");
  return find_fde != NULL;
}

__attribute__((visibility("hidden")))
const void *swalloc_find_fde(uintptr_t pc, struct swalloc_eh_bases *bases) { return find_fde((void *)pc, bases); }

// The loader's count of objects removed (dl_iterate_phdr's dlpi_subs).
static int subs_callback(struct dl_phdr_info *info, size_t size, void *data) {
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
    *(uint64_t *)data = (uint64_t)info->dlpi_subs;
  return 1;   // the first object is enough
}

__attribute__((visibility("hidden")))
uint64_t swalloc_loader_subs(void) {
  uint64_t subs = 0;
  dl_iterate_phdr(subs_callback, &subs);
  return subs;
}

__attribute__((visibility("hidden")))
uint32_t swalloc_gettid(void) {
  int saved = errno;
  long tid = syscall(SYS_gettid);
  errno = saved;
  return (uint32_t)tid;
}

// getpid(2) through syscall(2), which the library imports anyway: one
// import less (its symbol, name and relocation sit in the library's first
// pages, which every process has resident).
__attribute__((visibility("hidden")))
uint32_t swalloc_getpid(void) { return (uint32_t)syscall(SYS_getpid); }

__attribute__((visibility("hidden")))
int swalloc_open_write(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

// A heap profile under a name swalloc made (PREFIX.PID.SEQ.heap), often in
// a shared directory: never through a symbolic link and never over an
// existing file, so another user cannot point a privileged program's dump
// at a file of their choosing or read it from a file they made.
__attribute__((visibility("hidden")))
int swalloc_open_new(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
}

__attribute__((visibility("hidden")))
int swalloc_open_read(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

extern const char __ehdr_start __attribute__((weak, visibility("hidden")));

__attribute__((visibility("hidden")))
const void *swalloc_module_header(void) { return &__ehdr_start; }

__attribute__((visibility("hidden")))
bool swalloc_dladdr(const void *address, const char **symbol, uintptr_t *symbolStart,
                    const char **module, uintptr_t *moduleBase) {
  Dl_info info;
  if (dladdr(address, &info) == 0) return false;
  *symbol = info.dli_sname;
  *symbolStart = (uintptr_t)info.dli_saddr;
  *module = info.dli_fname;
  *moduleBase = (uintptr_t)info.dli_fbase;
  return true;
}
