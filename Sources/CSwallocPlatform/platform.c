#define _GNU_SOURCE 1  // mremap
#include <sched.h>
#include <sys/mman.h>
#include "swalloc_platform.h"

__thread void *swalloc_tsd_tcache
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = NULL;
__thread uint8_t swalloc_tsd_state
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = 0;
__thread uint64_t swalloc_tsd_bytes[2]
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {0, 0};

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
