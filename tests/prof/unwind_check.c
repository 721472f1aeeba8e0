// The heap profiler's cached unwinder (Sources/SwallocCore/Control/
// ProfUnwind.swift, linked in from the Embedded objects scripts/build-lib.sh
// leaves in .build/embedded: swalloc_unwind_init, swalloc_unwind_walk)
// against glibc's backtrace(3) (libgcc's unwinder), on frames of every
// kind: deep recursion, rsp- and rbp-based frames (alloca,
// no-omit-frame-pointer, -O0), a frame over 64 KiB, glibc's own code
// (qsort's comparator), a signal handler, threads, and threads unwinding
// at the same time (the table's sequence words). Each site unwinds twice:
// the first walk fills the cache, the second reads it; both must give
// exactly backtrace(3)'s frames. The plain sites must not need libgcc
// (the cache must really be used). Prints "ok" or the first difference.

#define _GNU_SOURCE 1
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "swalloc_platform.h"

// ProfUnwind.swift's entries for this test (@_cdecl; local in the library).
bool swalloc_unwind_init(void *table, size_t bytes);
int swalloc_unwind_walk(const struct swalloc_frame_regs *regs, void **buffer, int size);

static int failures;
static long checks, fallbacks;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

// Unwinds here both ways and compares the frames from this function's
// caller on (the first is a return address into this function in each).
__attribute__((noinline)) static int check_here(const char *what, int must_be_cached) {
  void *fast[96], *slow[96];
  int total = 0;
  for (int round = 0; round < 2; round++) {
    struct swalloc_frame_regs regs;
    swalloc_unwind_regs(&regs);   // fast[0] is here, as slow[0]
    int nf = swalloc_unwind_walk(&regs, fast, 96);
    int ns = backtrace(slow, 96);
    pthread_mutex_lock(&report_lock);
    checks++;
    if (nf < 0) {
      fallbacks++;
      if (must_be_cached) {
        printf("FAIL %s: the cached unwinder gave up (round %d)\n", what, round);
        failures++;
      }
    } else if (nf != ns || ns < 2 || memcmp(fast + 1, slow + 1, sizeof(void *) * (size_t)(ns - 1)) != 0) {
      printf("FAIL %s: round %d: %d frames cached, %d from backtrace(3)\n", what, round, nf - 1, ns - 1);
      for (int i = 0; i < 96 && (i < nf - 1 || i < ns - 1); i++)
        printf("  %2d %p %p\n", i, i < nf - 1 ? fast[i + 1] : NULL, i < ns - 1 ? slow[i + 1] : NULL);
      failures++;
    }
    pthread_mutex_unlock(&report_lock);
    total += ns;
  }
  return total;
}

__attribute__((noinline)) static int recurse(int depth, const char *what) {
  if (depth == 0) return check_here(what, 1) + 1;
  return recurse(depth - 1, what) + 1;
}

__attribute__((noinline)) static int with_alloca(int depth, size_t n) {
  volatile char *buf = __builtin_alloca(n);
  buf[0] = (char)depth;
  if (depth == 0) return check_here("alloca", 1) + buf[0];
  return with_alloca(depth - 1, n * 2 + 24) + buf[0];
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) static int with_frame_pointer(int depth) {
  volatile int x = depth;
  if (depth == 0) return check_here("frame pointer", 1) + x;
  return with_frame_pointer(depth - 1) + x;
}

__attribute__((noinline, optimize("O0"))) static int at_O0(int depth) {
  int x = depth;
  if (depth == 0) return check_here("-O0", 1) + x;
  return at_O0(depth - 1) + x;
}

__attribute__((noinline)) static int big_frame(int depth) {
  volatile char buf[100000];
  buf[depth] = 1;
  if (depth == 0) return check_here("big frame", 1) + buf[0];
  return big_frame(depth - 1) + buf[depth];
}

static int compared;
static int compare(const void *a, const void *b) {
  if (!compared) { compared = 1; check_here("qsort comparator", 1); }
  return *(const int *)a - *(const int *)b;
}

static void on_signal(int sig) {
  (void)sig;
  check_here("signal handler", 0);   // libgcc's (the sigreturn frame) is fine
}

static void *thread_main(void *arg) {
  long id = (long)arg;
  for (int i = 0; i < 2000; i++) {
    recurse((int)((i + id) % 24), "threads");
    if (i % 7 == 0) with_alloca((int)(i % 5), 40);
    if (i % 11 == 0) with_frame_pointer((int)(i % 6));
  }
  return NULL;
}

int main(void) {
  void *prime[4];
  backtrace(prime, 4);   // loads libgcc_s, as the profiler's constructor does
  size_t bytes = 128 << 10;
  void *table = calloc(1, bytes);
  if (!swalloc_unwind_init(table, bytes)) { printf("FAIL init: no _Unwind_Find_FDE\n"); return 1; }

  for (int d = 0; d < 70; d += 3) recurse(d, "recursion");
  for (int d = 0; d < 6; d++) with_alloca(d, 40);
  for (int d = 0; d < 6; d++) with_frame_pointer(d);
  for (int d = 0; d < 6; d++) at_O0(d);
  big_frame(3);
  int v[64];
  for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
  qsort(v, 64, sizeof(int), compare);
  signal(SIGUSR1, on_signal);
  raise(SIGUSR1);

  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, (void *)i);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);

  if (failures) { printf("%d failures in %ld checks\n", failures, checks); return 1; }
  printf("ok %ld checks (%ld by libgcc)\n", checks, fallbacks);
  return 0;
}
