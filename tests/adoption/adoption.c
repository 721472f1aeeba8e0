// A C program built against an installed swalloc with
//   cc adoption.c $(pkg-config --cflags --libs swalloc)
// (tests/adoption/run.sh): its malloc must be swalloc's, the header's version
// and flags must match the library, and malloc_usable_size must stay within
// the bound README.md states. Prints what it measured; exits 1 on a mismatch.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <swalloc.h>

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL " __VA_ARGS__); printf("\n"); } } while (0)

int main(void) {
  // Bound at link time: the global malloc is swalloc's, i.e. lies in the
  // object that defines swalloc_malloc (malloc aliases the Swift function
  // that swalloc_malloc's thunk jumps to, so the addresses differ).
  void *global = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info in_malloc, in_swalloc;
  CHECK(dladdr(global, &in_malloc) && dladdr((void *)swalloc_malloc, &in_swalloc)
        && in_malloc.dli_fbase == in_swalloc.dli_fbase,
        "malloc resolves to %p, outside the library of swalloc_malloc (%p)", global, (void *)swalloc_malloc);
  const char *version = NULL;
  size_t length = sizeof(version);
  CHECK(mallctl("version", &version, &length, NULL, 0) == 0 && version != NULL, "mallctl(\"version\")");
  CHECK(version && strcmp(version, SWALLOC_VERSION) == 0, "library %s, header %s", version ? version : "?", SWALLOC_VERSION);
  uint64_t before = 0, after = 0;
  length = sizeof(before);
  mallctl("thread.allocated", &before, &length, NULL, 0);
  char *p = malloc(1000);
  memset(p, 1, 1000);
  mallctl("thread.allocated", &after, &length, NULL, 0);
  CHECK(after - before >= 1000, "malloc(1000) moved thread.allocated by %llu", (unsigned long long)(after - before));
  free(p);

  // MALLOCX_* flags.
  char *a = mallocx(100, MALLOCX_ALIGN(4096) | MALLOCX_ZERO);
  CHECK(a && ((uintptr_t)a & 4095) == 0, "MALLOCX_ALIGN(4096): %p", (void *)a);
  int zero = 1;
  for (size_t i = 0; a && i < 100; i++) zero &= a[i] == 0;
  CHECK(zero, "MALLOCX_ZERO");
  dallocx(a, MALLOCX_TCACHE_NONE);
  char *b = mallocx(3000, MALLOCX_LG_ALIGN(6) | MALLOCX_ARENA(0));
  CHECK(b && ((uintptr_t)b & 63) == 0 && sallocx(b, 0) == nallocx(3000, MALLOCX_LG_ALIGN(6)), "MALLOCX_LG_ALIGN / MALLOCX_ARENA");
  sdallocx(b, 3000, 0);
  CHECK(MALLOCX_ALIGN(1u << 20) == MALLOCX_LG_ALIGN(20), "MALLOCX_ALIGN(1 MiB) = %d", MALLOCX_ALIGN(1u << 20));

  // malloc_usable_size against README's bound: up to 128 bytes a multiple
  // of 16 (at most 15 over), then less than 25% over, above 2 MiB a
  // multiple of the page (at most 4095 over).
  size_t small_over = 0, small_at = 0, huge_over = 0;
  double ratio = 0;
  size_t ratio_at = 0;
  for (size_t r = 1; r <= (4u << 20); r += r < 65536 ? 1 : 61) {
    void *q = malloc(r);
    size_t u = malloc_usable_size(q);
    free(q);
    CHECK(u >= r, "malloc_usable_size(malloc(%zu)) = %zu", r, u);
    if (r <= 128) {
      CHECK(u % 16 == 0 && u - r <= 15, "%zu -> %zu", r, u);
      if (u - r > small_over) { small_over = u - r; small_at = r; }
    } else if (r <= (2u << 20)) {
      CHECK(4 * u < 5 * r, "%zu -> %zu: 25%% or more over", r, u);
      if ((double)(u - r) / r > ratio) { ratio = (double)(u - r) / r; ratio_at = r; }
    } else {
      CHECK(u % 4096 == 0 && u - r < 4096, "%zu -> %zu", r, u);
      if (u - r > huge_over) huge_over = u - r;
    }
    if (failures > 10) break;
  }
  printf("malloc is swalloc %s; usable size: up to 128 B at most %zu over (at %zu), to 2 MiB at most %.2f%% over (at %zu), above at most %zu over\n",
         version ? version : "?", small_over, small_at, ratio * 100, ratio_at, huge_over);
  return failures ? 1 : 0;
}
