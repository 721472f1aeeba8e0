// Counts the instructions of a malloc+free pair on the thread-cache hit
// path: run under `valgrind --tool=callgrind` with N=1 and N=1000001 and
// divide the difference by 1000000 (scripts/fastpath-instructions.sh).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 32;
  void *volatile sink;
  // Warm the cache so every measured pair is a hit.
  for (int i = 0; i < 64; i++) { void *p = malloc(size); free(p); }
  for (long i = 0; i < n; i++) {
    void *p = malloc(size);
    sink = p;
    free(p);
  }
  (void)sink;
  return 0;
}
