#define _GNU_SOURCE 1  // mremap, sched_getaffinity, CPU_COUNT
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

__attribute__((visibility("hidden")))
int swalloc_cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}
