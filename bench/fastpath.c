// Counts the instructions of one allocator operation (or a few) on the
// thread-cache hit path: run under `valgrind --tool=callgrind` with N=1 and
// N=1000001 and divide the difference by 1000000
// (scripts/fastpath-instructions.sh).
//
//   fastpath N [SIZE | MODE]
//
// SIZE (a number, default 32): N times malloc(SIZE) + free. MODE:
//   calloc    calloc(1, 32) + free
//   zeroed    malloc(32), memset to 0, free (what calloc is measured
//             against; memset is called through a volatile pointer, as a
//             PLT call would be, so that the compiler can neither fuse the
//             pair into a calloc call nor drop the stores before free)
//   memalign  posix_memalign(&p, 64, 64) + free
//   realloc   malloc(24), realloc to 40, free
//   inplace   malloc(100), realloc to 112 (the same class), free
//   batch8    8 x malloc(48), then the 8 blocks freed (in allocation order)
//   usable    malloc(32), malloc_usable_size of it, free (programs that
//             count their heap call it at every malloc and free: redis)
// Each iteration's figure includes the loop itself.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// One loop per mode, so that each figure holds only that mode's body and
// the loop (the malloc(SIZE) loop is the one this program always had).
#define LOOP(count, body)                  \
  do {                                     \
    for (long i_ = 0; i_ < (count); i_++) { \
      body                                 \
    }                                      \
  } while (0)

static void *volatile sink;
static volatile size_t usable_sink;
static void *volatile batch[8];
static void *(*volatile memset_call)(void *, int, size_t) = memset;

static void run(int mode, size_t size, long n) {
  void *p;
  switch (mode) {
  case 0:
    LOOP(n, p = malloc(size); sink = p; free(p););
    break;
  case 1:
    LOOP(n, p = calloc(1, 32); sink = p; free(p););
    break;
  case 2:
    LOOP(n, if (posix_memalign(&p, 64, 64)) abort(); sink = p; free(p););
    break;
  case 3:
    LOOP(n, p = malloc(24); sink = p; p = realloc(p, 40); sink = p; free(p););
    break;
  case 4:
    LOOP(n, for (int j = 0; j < 8; j++) batch[j] = malloc(48);
            for (int j = 0; j < 8; j++) free(batch[j]););
    break;
  case 5:
    LOOP(n, p = malloc(32); sink = p; memset_call(p, 0, 32); free(p););
    break;
  case 7:
    LOOP(n, p = malloc(32); sink = p; usable_sink = malloc_usable_size(p); free(p););
    break;
  default:
    LOOP(n, p = malloc(100); sink = p; p = realloc(p, 112); sink = p; free(p););
    break;
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  const char *what = argc > 2 ? argv[2] : "32";
  static const char *const modes[] = {"calloc", "memalign", "realloc", "batch8", "zeroed", "inplace", "usable"};
  int mode = 0;
  size_t size = 32;
  if (what[0] >= '0' && what[0] <= '9') {
    size = (size_t)atol(what);
  } else {
    for (int i = 0; i < 7; i++)
      if (!strcmp(what, modes[i])) mode = i + 1;
    if (!mode) {
      fprintf(stderr, "fastpath: unknown mode %s (SIZE, calloc, zeroed, memalign, realloc, inplace, batch8, usable)\n", what);
      return 64;
    }
  }
  // Warm the caches so every measured iteration is a hit.
  run(mode, size, 64);
  run(mode, size, n);
  return 0;
}
