// Options from SWALLOC_CONF / MALLOC_CONF, one mode per option; the runner
// sets the environment and checks exit status and stderr.
// usage: options junk|zero|narenas N|tcache-off-double-free|plain
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Looked up at run time: the library under test provides it (glibc does not).
static int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
  int (*f)(const char *, void *, size_t *, void *, size_t) =
      (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
  return f ? f(name, oldp, oldlenp, newp, newlen) : -1;
}

static int all(const unsigned char *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++) if (p[i] != v) return 0;
  return 1;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "plain";
  if (strcmp(mode, "junk") == 0) {
    for (size_t size = 8; size < (8u << 20); size = size * 3 + 5) {
      unsigned char *p = malloc(size);
      if (!all(p, size, 0xa5)) { printf("FAIL junk: malloc(%zu) not filled with 0xa5\n", size); return 1; }
      unsigned char *volatile keep = p;
      free(p);
      if (size < 100000 && !all(keep + 16, size > 32 ? size - 32 : 0, 0x5a)) {
        printf("FAIL junk: freed block of %zu not filled with 0x5a\n", size); return 1;
      }
      unsigned char *c = calloc(1, size);
      if (!all(c, size, 0)) { printf("FAIL junk: calloc(%zu) not zero\n", size); return 1; }
      free(c);
    }
    puts("junk ok");
  } else if (strcmp(mode, "zero") == 0) {
    for (int round = 0; round < 3; round++)
      for (size_t size = 8; size < (8u << 20); size = size * 3 + 5) {
        unsigned char *p = malloc(size);
        if (!all(p, size, 0)) { printf("FAIL zero: malloc(%zu) not zero\n", size); return 1; }
        memset(p, 0xEE, size);
        free(p);
      }
    puts("zero ok");
  } else if (strcmp(mode, "narenas") == 0) {
    unsigned n = 0; size_t len = sizeof n;
    if (mallctl("arenas.narenas", &n, &len, NULL, 0) != 0 || n != (unsigned)atoi(argv[2])) {
      printf("FAIL narenas: %u\n", n); return 1;
    }
    puts("narenas ok");
  } else if (strcmp(mode, "tcache-off-double-free") == 0) {
    char *volatile a = malloc(48);
    char *volatile b = malloc(48);
    free(a); free(b); free(a);   // not adjacent: only caught without a cache
    puts("not detected");
  } else {
    free(malloc(10));
    puts("plain ok");
  }
  return 0;
}
