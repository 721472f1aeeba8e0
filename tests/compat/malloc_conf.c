// jemalloc's compiled-in options: a program that defines malloc_conf gets
// those options, and the environment's override them (tests/compat/run.sh links
// this program with -lswalloc). Prints "ok" when opt.narenas and
// opt.dirty_decay_ms read what argv[1] and argv[2] say they should.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

const char *malloc_conf = "narenas:3,dirty_decay_ms:1234";

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int (*ctl)(const char *, void *, size_t *, void *, size_t) =
      (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
  if (!ctl) { puts("FAIL mallctl is not there"); return 1; }
  unsigned narenas = 0;
  ssize_t decay = 0;
  size_t len4 = sizeof narenas, len8 = sizeof decay;
  ctl("opt.narenas", &narenas, &len4, NULL, 0);
  ctl("opt.dirty_decay_ms", &decay, &len8, NULL, 0);
  if (narenas != (unsigned)atoi(argv[1]) || decay != atol(argv[2])) {
    printf("FAIL opt.narenas %u, opt.dirty_decay_ms %zd (want %s, %s)\n", narenas, decay, argv[1], argv[2]);
    return 1;
  }
  printf("ok (narenas %u, dirty_decay_ms %zd)\n", narenas, decay);
  return 0;
}
