// prof_interval: allocates and frees MIB mebibytes in blocks of 1 KiB to
// 64 KiB (run with prof:true and lg_prof_interval:N; tests/prof/run.sh
// counts the dumps), then prints "interval PROF_INTERVAL LG_PROF_INTERVAL".
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

int main(int argc, char **argv) {
  if (argc < 2) { puts("usage: prof_interval MIB"); return 2; }
  uint64_t total = strtoull(argv[1], NULL, 10) << 20, done = 0;
  uint64_t x = 88172645463325252ull;
  while (done < total) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size_t size = (size_t)1024 << (x % 7);   // 1 KiB .. 64 KiB
    char *p = malloc(size);
    if (!p) { puts("FAIL malloc"); return 1; }
    p[0] = 1;
    free(p);
    done += size;
  }
  uint64_t interval = 99;
  ssize_t lg = 99;
  size_t len = sizeof interval;
  if (mallctl("prof.interval", &interval, &len, NULL, 0) != 0) { puts("FAIL prof.interval"); return 1; }
  len = sizeof lg;
  if (mallctl("opt.lg_prof_interval", &lg, &len, NULL, 0) != 0) { puts("FAIL opt.lg_prof_interval"); return 1; }
  printf("interval %llu %zd\n", (unsigned long long)interval, lg);
  return 0;
}
