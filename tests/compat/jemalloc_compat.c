// jemalloc compatibility, black box (run under LD_PRELOAD of the library):
//   jemalloc_compat sized            the sized-free rule: sdallocx(p, s, flags)
//                                    accepts every s from the request up to
//                                    sallocx(p), for sizes 1 B .. 64 MiB and
//                                    alignments 1 B .. 1 GiB; free_sized and
//                                    free_aligned_sized likewise
//   jemalloc_compat mismatch K       one wrong size (case K of mismatch_cases):
//                                    must abort, the runner checks
//   jemalloc_compat zero             MALLOCX_ZERO zeroes the whole usable
//                                    size: fresh, recycled, grown in place,
//                                    moved, realigned, huge; calloc likewise
//   jemalloc_compat ctl              the mallctl names of README's
//                                    compatibility table, by name and by MIB,
//                                    with their types and errno conventions
//   jemalloc_compat pageruns         large blocks above the thread-cached
//                                    classes (64 KiB; the class above) get
//                                    their request in whole pages, not their
//                                    class: usable size, nallocx,
//                                    thread.allocated, realloc in place
// Prints "ok" and exits 0, or prints "FAIL ..." lines and exits 1.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "test_util.h"

#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ZERO ((int)0x40)
#define MALLOCX_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define MALLOCX_TCACHE_NONE ((int)(1 << 8))
#define MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))

// The library's extended API, looked up at run time (glibc has none of it).
static void *(*mallocx)(size_t, int);
static void *(*rallocx)(void *, size_t, int);
static size_t (*xallocx)(void *, size_t, size_t, int);
static size_t (*sallocx)(const void *, int);
static void (*dallocx)(void *, int);
static void (*sdallocx)(void *, size_t, int);
static size_t (*nallocx)(size_t, int);
static void (*free_sized_)(void *, size_t);
static void (*free_aligned_sized_)(void *, size_t, size_t);
static int (*mallctl)(const char *, void *, size_t *, void *, size_t);
static int (*mallctlnametomib)(const char *, size_t *, size_t *);
static int (*mallctlbymib)(const size_t *, size_t, void *, size_t *, void *, size_t);

static int failures;
#define FAIL(...) do { printf("FAIL "); printf(__VA_ARGS__); printf("\n"); if (++failures > 20) exit(1); } while (0)

static void resolve(void) {
#define R(name, sym) do { *(void **)&name = dlsym(RTLD_DEFAULT, sym); if (!name) { printf("FAIL %s is not exported\n", sym); exit(1); } } while (0)
  R(mallocx, "mallocx"); R(rallocx, "rallocx"); R(xallocx, "xallocx"); R(sallocx, "sallocx");
  R(dallocx, "dallocx"); R(sdallocx, "sdallocx"); R(nallocx, "nallocx");
  R(free_sized_, "free_sized"); R(free_aligned_sized_, "free_aligned_sized");
  R(mallctl, "mallctl"); R(mallctlnametomib, "mallctlnametomib"); R(mallctlbymib, "mallctlbymib");
#undef R
}

// MARK: sized free

// Sizes to try at one alignment: every size to 4 KiB where the alignment is
// small (cheap), else a sample; always each size class's edges (class - 1,
// class, class + 1) up to 64 MiB, and some random sizes.
static size_t sizes[8192];
static int size_count;

static void make_sizes(int lg, uint64_t *seed) {
  size_count = 0;
  size_t dense = lg <= 12 ? 4096 : 64;
  for (size_t s = 1; s <= dense; s++) sizes[size_count++] = s;
  for (size_t c = nallocx(dense + 1, 0); c && c <= ((size_t)64 << 20); c = nallocx(c + 1, 0)) {
    sizes[size_count++] = c - 1;
    sizes[size_count++] = c;
    sizes[size_count++] = c + 1;
    if (size_count > 8000) break;
  }
  for (int i = 0; i < 40; i++) sizes[size_count++] = 1 + ((xs(seed) % ((size_t)64 << 20)) >> (xs(seed) % 20));
}

// The case being tried, printed if the library aborts on it.
static volatile size_t cur_size, cur_passed;
static volatile int cur_lg = -1;
static void on_abort(int sig) {
  (void)sig;
  char line[160];
  int n = snprintf(line, sizeof line, "FAIL aborted at mallocx(%zu, lg %d) freed with size %zu\n", cur_size, cur_lg, cur_passed);
  if (n > 0) fwrite(line, 1, (size_t)n, stdout);
  fflush(stdout);
}

static int sized(void) {
  signal(SIGABRT, on_abort);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  long checked = 0;
  for (int lg = 0; lg <= 30; lg++) {
    make_sizes(lg, &seed);
    int flags = lg == 0 ? 0 : MALLOCX_LG_ALIGN(lg);
    for (int i = 0; i < size_count; i++) {
      size_t size = sizes[i];
      // Three frees per size: the request, the usable size, one between.
      for (int which = 0; which < 3; which++) {
        void *p = mallocx(size, flags);
        if (!p) { FAIL("mallocx(%zu, lg %d) returned NULL", size, lg); continue; }
        size_t usable = sallocx(p, 0);
        if (((uintptr_t)p & (((size_t)1 << lg) - 1)) != 0) FAIL("mallocx(%zu, lg %d) = %p is misaligned", size, lg, p);
        if (usable < size) FAIL("sallocx(mallocx(%zu, lg %d)) = %zu", size, lg, usable);
        size_t n = nallocx(size, flags);
        if (n < size || n > usable) FAIL("nallocx(%zu, lg %d) = %zu, sallocx %zu", size, lg, n, usable);
        size_t s = which == 0 ? size : which == 1 ? usable : size + xs(&seed) % (usable - size + 1);
        cur_size = size; cur_lg = lg; cur_passed = s;
        sdallocx(p, s, flags);   // aborts on a false mismatch
        checked++;
      }
    }
    // free_aligned_sized(p, alignment, size) after aligned_alloc, and
    // free_sized after malloc (C23: the size asked for).
    size_t alignment = (size_t)1 << lg;
    for (int i = 0; i < size_count; i += lg <= 12 ? 7 : 1) {
      size_t size = sizes[i];
      void *p = aligned_alloc(alignment, size);
      if (!p) { FAIL("aligned_alloc(%zu, %zu) returned NULL", alignment, size); continue; }
      cur_size = size; cur_lg = lg; cur_passed = size;
      free_aligned_sized_(p, alignment, size);
      checked++;
      if (lg == 0) {
        p = f_malloc(size);
        free_sized_(p, size);
        p = f_malloc(size);
        free_sized_(p, malloc_usable_size(p));
        checked += 2;
      }
    }
  }
  if (failures) return 1;
  printf("ok (%ld sized frees)\n", checked);
  return 0;
}

// Wrong sizes that must abort: (request, lg alignment, size passed).
static const struct { size_t request; int lg; size_t passed; } mismatch_cases[] = {
  {100, 0, 1000},                       // another small class
  {100, 0, 16},                         // a smaller class
  {20000, 0, 40000},                    // large: another class
  {(size_t)8 << 20, 0, 100},            // huge freed as small
  {1, 22, (size_t)8 << 20},             // huge (aligned) freed as more than it holds
  {(size_t)3 << 20, 0, (size_t)5 << 20},// huge: more than the block holds
  {200000, 0, 210000},                  // large, sized to its pages: past them
};

// MARK: runs sized to their request

static size_t page_up(size_t n) { return (n + 4095) & ~(size_t)4095; }

static size_t thread_allocated(void) {
  uint64_t v = 0;
  size_t len = sizeof v;
  if (mallctl("thread.allocated", &v, &len, NULL, 0) != 0) FAIL("mallctl(\"thread.allocated\") failed");
  return (size_t)v;
}

static int pageruns(void) {
  long checked = 0;
  // 64 KiB + 1 .. 80 KiB: the class above tcache_max's, whole (a run filed
  // under the class below would be cached); above 80 KiB: whole pages.
  uint64_t seed = 12345;
  for (size_t base = 65536; base <= ((size_t)2 << 20); base += 4096) {
    for (int k = 0; k < 3; k++) {
      size_t size = k == 0 ? base + 1 : k == 1 ? base + 4096 : base + 1 + xs(&seed) % 4096;
      if (size > ((size_t)2 << 20)) continue;
      size_t want = size <= 81920 ? 81920 : page_up(size);
      size_t before = thread_allocated();
      void *p = f_malloc(size);
      if (!p) { FAIL("malloc(%zu) returned NULL", size); continue; }
      size_t counted = thread_allocated() - before;
      size_t usable = malloc_usable_size(p);
      if (usable != want || sallocx(p, 0) != want || nallocx(size, 0) != want || counted != want)
        FAIL("malloc(%zu): usable %zu, sallocx %zu, nallocx %zu, thread.allocated +%zu (want %zu)", size, usable,
             sallocx(p, 0), nallocx(size, 0), counted, want);
      memset(p, 0x5a, usable);
      sdallocx(p, size, 0);   // aborts on a false mismatch
      checked++;
    }
  }
  // realloc: in place within the run's pages; past them the block grows
  // to its class's size (in place or moved, contents kept); a shrink
  // gives back the tail in place.
  unsigned char *p = f_malloc(200000);
  size_t usable = malloc_usable_size(p);
  if (usable != 200704) FAIL("malloc(200000): usable %zu, want 200704", usable);
  memset(p, 0x33, usable);
  if (realloc(p, 200704) != p) FAIL("realloc within a run's pages moved it");
  unsigned char *q = realloc(p, 200705);
  if (!q) { FAIL("realloc(200705) returned NULL"); return 1; }
  if (malloc_usable_size(q) != 229376) FAIL("realloc past a run's pages: usable %zu, want its class 229376",
                                            malloc_usable_size(q));
  for (size_t i = 0; i < 200704; i++) if (q[i] != 0x33) { FAIL("realloc lost byte %zu", i); break; }
  unsigned char *r = realloc(q, 100000);
  if (r != q || malloc_usable_size(r) != 102400)
    FAIL("realloc(229376 -> 100000): %s, usable %zu (want in place, 102400)", r == q ? "in place" : "moved",
         malloc_usable_size(r));
  for (size_t i = 0; i < 100000; i++) if (r[i] != 0x33) { FAIL("shrinking realloc lost byte %zu", i); break; }
  free(r);
  // xallocx grows a run to the pages asked for when the next ones are
  // free (or leaves it as it is).
  void *x = mallocx(100000, 0);
  size_t got = xallocx(x, 110000, 0, 0);
  if (got != 102400 && got != page_up(110000)) FAIL("xallocx(100000 -> 110000) = %zu", got);
  if (got != sallocx(x, 0)) FAIL("xallocx's result %zu is not sallocx %zu", got, sallocx(x, 0));
  dallocx(x, 0);
  if (failures) return 1;
  printf("ok (%ld sizes, realloc, xallocx)\n", checked + 3);
  return 0;
}

static int mismatch(int k) {
  int n = (int)(sizeof mismatch_cases / sizeof mismatch_cases[0]);
  if (k < 0 || k >= n) { printf("cases: %d\n", n); return 2; }
  int flags = mismatch_cases[k].lg ? MALLOCX_LG_ALIGN(mismatch_cases[k].lg) : 0;
  void *p = mallocx(mismatch_cases[k].request, flags);
  sdallocx(p, mismatch_cases[k].passed, flags);
  printf("not aborted\n");
  return 1;
}

// MARK: MALLOCX_ZERO

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) if (p[i]) return false;
  return true;
}

static void check_zero(const char *what, void *p, size_t from) {
  size_t usable = sallocx(p, 0);
  if (!all_zero((unsigned char *)p + from, usable - from))
    FAIL("%s: bytes %zu..%zu of %p are not all zero", what, from, usable, p);
}

static int zero(void) {
  static const size_t zsizes[] = {1, 8, 17, 100, 1000, 5000, 14000, 20000, 100000, (size_t)1 << 20,
                                  ((size_t)2 << 20) - 3, ((size_t)3 << 20) + 5};
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof zsizes / sizeof zsizes[0]; i++) {
      size_t size = zsizes[i];
      for (int lg = 0; lg <= 23; lg += (lg < 6 ? 1 : 4)) {
        int flags = lg ? MALLOCX_LG_ALIGN(lg) : 0;
        // Dirty a block of the same class and free it, so the next one is
        // recycled; then MALLOCX_ZERO must clear every usable byte.
        void *dirty = mallocx(size, flags);
        memset(dirty, 0xab, sallocx(dirty, 0));
        dallocx(dirty, 0);
        void *p = mallocx(size, flags | MALLOCX_ZERO);
        check_zero("mallocx recycled", p, 0);
        memset(p, 0xcd, size);  // the caller's own bytes
        // Grow (in place or moving) with zero: bytes past the old usable
        // size are zero, the old ones are kept.
        size_t old = sallocx(p, 0);
        void *q = rallocx(p, size * 3 + 1, flags | MALLOCX_ZERO);
        if (!q) { FAIL("rallocx(%zu -> %zu) failed", size, size * 3 + 1); continue; }
        unsigned char *b = q;
        for (size_t k = 0; k < size; k++) if (b[k] != 0xcd) { FAIL("rallocx lost byte %zu", k); break; }
        check_zero("rallocx grown", q, old);
        // Realign to a larger alignment (always moves when misaligned).
        old = sallocx(q, 0);
        void *r = rallocx(q, size * 3 + 1, MALLOCX_LG_ALIGN(lg + 3) | MALLOCX_ZERO);
        if (!r) { FAIL("rallocx realign failed"); continue; }
        check_zero("rallocx realigned", r, old < sallocx(r, 0) ? old : sallocx(r, 0));
        // Grow in place with xallocx and zero.
        old = sallocx(r, 0);
        xallocx(r, old + 1, old * 2, MALLOCX_ZERO);
        check_zero("xallocx grown", r, old);
        // Shrink then grow back with zero: the dropped tail must not come
        // back with old contents.
        memset(r, 0xee, sallocx(r, 0));
        void *s = rallocx(r, 1, MALLOCX_ZERO);
        size_t small = sallocx(s, 0);
        void *t = rallocx(s, size * 4 + 64, MALLOCX_ZERO);
        check_zero("rallocx shrunk then grown", t, small);
        dallocx(t, 0);
      }
      // calloc zeroes the whole usable size (as glibc's does).
      void *dirty = f_malloc(size);
      memset(dirty, 0x77, malloc_usable_size(dirty));
      f_free(dirty);
      void *c = f_calloc(1, size);
      check_zero("calloc", c, 0);
      f_free(c);
    }
  }
  if (failures) return 1;
  printf("ok\n");
  return 0;
}

int ctl_checks(void);

int main(int argc, char **argv) {
  resolve();
  if (argc >= 2 && !strcmp(argv[1], "sized")) return sized();
  if (argc >= 3 && !strcmp(argv[1], "mismatch")) return mismatch(atoi(argv[2]));
  if (argc >= 2 && !strcmp(argv[1], "zero")) return zero();
  if (argc >= 2 && !strcmp(argv[1], "ctl")) return ctl_checks();
  if (argc >= 2 && !strcmp(argv[1], "pageruns")) return pageruns();
  fprintf(stderr, "usage: jemalloc_compat sized|mismatch K|zero|ctl|pageruns\n");
  return 2;
}

// MARK: mallctl

// Every readable name of README's table with its type's size; "#" stands for
// arena 0 (or a bin / large class 0).
static const struct { const char *name; size_t size; } readable[] = {
  {"version", sizeof(char *)}, {"epoch", 8}, {"background_thread", 1}, {"max_background_threads", 8},
  {"config.cache_oblivious", 1}, {"config.debug", 1}, {"config.fill", 1}, {"config.lazy_lock", 1},
  {"config.malloc_conf", sizeof(char *)}, {"config.opt_safety_checks", 1}, {"config.prof", 1},
  {"config.prof_libgcc", 1}, {"config.prof_libunwind", 1}, {"config.stats", 1}, {"config.utrace", 1},
  {"config.xmalloc", 1},
  {"opt.abort", 1}, {"opt.abort_conf", 1}, {"opt.narenas", 4}, {"opt.tcache", 1}, {"opt.tcache_max", 8},
  {"opt.lg_tcache_max", 8}, {"opt.dirty_decay_ms", 8}, {"opt.muzzy_decay_ms", 8}, {"opt.background_thread", 1},
  {"opt.max_background_threads", 8}, {"opt.stats_print", 1}, {"opt.percpu_arena", sizeof(char *)},
  {"opt.dss", sizeof(char *)}, {"opt.junk", sizeof(char *)}, {"opt.zero", 1}, {"opt.retain", 1},
  {"opt.prof", 1}, {"opt.prof_active", 1}, {"opt.lg_prof_sample", 8}, {"opt.prof_prefix", sizeof(char *)},
  {"opt.prof_final", 1}, {"opt.prof_gdump", 1}, {"opt.prof_leak", 1}, {"opt.zero_realloc", sizeof(char *)},
  {"opt.confirm_conf", 1}, {"opt.lg_prof_interval", 8}, {"prof.active", 1}, {"prof.lg_sample", 8},
  {"prof.interval", 8},
  {"prof.gdump", 1},
  {"thread.arena", 4}, {"thread.allocated", 8}, {"thread.allocatedp", sizeof(void *)}, {"thread.deallocated", 8},
  {"thread.deallocatedp", sizeof(void *)}, {"thread.tcache.enabled", 1}, {"thread.peak.read", 8},
  {"arena.0.dss", sizeof(char *)}, {"arena.0.initialized", 1}, {"arena.0.dirty_decay_ms", 8}, {"arena.0.muzzy_decay_ms", 8},
  {"arenas.narenas", 4}, {"arenas.dirty_decay_ms", 8}, {"arenas.muzzy_decay_ms", 8}, {"arenas.quantum", 8},
  {"arenas.page", 8}, {"arenas.tcache_max", 8}, {"arenas.nbins", 4}, {"arenas.nhbins", 4},
  {"arenas.bin.0.size", 8}, {"arenas.bin.0.nregs", 4}, {"arenas.bin.0.slab_size", 8}, {"arenas.nlextents", 4},
  {"arenas.lextent.0.size", 8},
  {"stats.allocated", 8}, {"stats.active", 8}, {"stats.metadata", 8}, {"stats.resident", 8}, {"stats.mapped", 8},
  {"stats.retained", 8}, {"stats.zero_reallocs", 8},
  {"stats.arenas.0.nthreads", 4}, {"stats.arenas.0.dss", sizeof(char *)}, {"stats.arenas.0.dirty_decay_ms", 8},
  {"stats.arenas.0.muzzy_decay_ms", 8}, {"stats.arenas.0.pactive", 8}, {"stats.arenas.0.pdirty", 8},
  {"stats.arenas.0.pmuzzy", 8}, {"stats.arenas.0.mapped", 8}, {"stats.arenas.0.small.allocated", 8},
  {"stats.arenas.0.small.nmalloc", 8}, {"stats.arenas.0.small.ndalloc", 8}, {"stats.arenas.0.large.allocated", 8},
  {"stats.arenas.0.large.nmalloc", 8}, {"stats.arenas.0.large.ndalloc", 8}, {"stats.arenas.0.bins.0.nmalloc", 8},
  {"stats.arenas.0.bins.0.ndalloc", 8}, {"stats.arenas.0.bins.0.curregs", 8}, {"stats.arenas.0.bins.0.curslabs", 8},
  {"stats.arenas.0.bins.0.nfills", 8}, {"stats.arenas.0.bins.0.mutex.num_ops", 8},
  {"stats.arenas.0.bins.0.mutex.num_wait", 8}, {"stats.arenas.0.bins.0.mutex.num_spin_acq", 8},
  {"stats.arenas.0.mutexes.extents.num_ops", 8}, {"stats.arenas.0.mutexes.extents.num_wait", 8},
  {"stats.arenas.0.mutexes.extents.num_spin_acq", 8}, {"stats.mutexes.arenas.num_ops", 8},
  {"stats.mutexes.arenas.num_wait", 8}, {"stats.mutexes.arenas.num_spin_acq", 8}, {"stats.mutexes.base.num_ops", 8},
  {"stats.mutexes.base.num_wait", 8}, {"stats.mutexes.base.num_spin_acq", 8}, {"stats.mutexes.huge.num_ops", 8},
  {"stats.mutexes.huge.num_wait", 8}, {"stats.mutexes.huge.num_spin_acq", 8},
  {"stats.arenas.4096.pactive", 8}, {"stats.arenas.4096.small.allocated", 8}, {"stats.arenas.4096.bins.3.curregs", 8},
};

static int rd(const char *name, void *out, size_t size) {
  size_t len = size;
  return mallctl(name, out, &len, NULL, 0);
}

#define EXPECT(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)

int ctl_checks(void) {
  // Every name: read with its type; a wrong length is EINVAL and reports the
  // right one; by MIB the same; read-only names refuse a write with EPERM.
  for (size_t k = 0; k < sizeof readable / sizeof readable[0]; k++) {
    const char *name = readable[k].name;
    size_t size = readable[k].size;
    unsigned char value[16], again[16];
    size_t len = size;
    int rc = mallctl(name, value, &len, NULL, 0);
    if (rc != 0) { FAIL("mallctl(\"%s\") = %d", name, rc); continue; }
    len = size + 1;
    rc = mallctl(name, value, &len, NULL, 0);
    EXPECT(rc == EINVAL && len == size, "mallctl(\"%s\") with length %zu: %d, length now %zu (want EINVAL, %zu)",
           name, size + 1, rc, len, size);
    size_t mib[8], miblen = 8;
    rc = mallctlnametomib(name, mib, &miblen);
    if (rc != 0) { FAIL("mallctlnametomib(\"%s\") = %d", name, rc); continue; }
    len = size;
    rc = mallctlbymib(mib, miblen, again, &len, NULL, 0);
    EXPECT(rc == 0, "mallctlbymib(\"%s\") = %d", name, rc);
  }
  size_t len;
  unsigned u = 0;
  size_t z = 0;
  ssize_t ms = 0;
  bool b = true;
  const char *text = NULL;
  // A partial MIB (*miblenp below the name's components): its first
  // components, completed by the caller (jemalloc's mallctlnametomib rule).
  {
    size_t full[4], part[4] = {0, 0, 77, 77}, fl = 4, pl = 2, want = 0, got = 0, vl = 8;
    EXPECT(mallctlnametomib("arenas.bin.0.size", full, &fl) == 0 && fl == 4, "arenas.bin.0.size: no MIB of 4");
    EXPECT(mallctlnametomib("arenas.bin.0.size", part, &pl) == 0 && pl == 2 && part[0] == full[0] &&
           part[1] == full[1] && part[2] == 77, "a partial MIB of 2 of arenas.bin.0.size: rc, length %zu", pl);
    part[2] = 3;
    part[3] = full[3];
    rd("arenas.bin.3.size", &want, 8);
    EXPECT(mallctlbymib(part, 4, &got, &vl, NULL, 0) == 0 && got == want && want != 0,
           "the completed partial MIB read %zu, arenas.bin.3.size %zu", got, want);
    pl = 0;
    EXPECT(mallctlnametomib("arenas.page", part, &pl) == 0 && pl == 0, "an empty MIB: not 0");
    pl = SIZE_MAX;   // a size_t: a huge room takes the whole MIB
    EXPECT(mallctlnametomib("arenas.bin.2.size", part, &pl) == 0 && pl == 4 && part[2] == 2,
           "arenas.bin.2.size with *miblenp SIZE_MAX: length %zu", pl);
  }
  // Conventions.
  EXPECT(rd("no.such.name", &z, 8) == ENOENT, "unknown name: not ENOENT");
  EXPECT(rd("arenas.bin.9999.size", &z, 8) == ENOENT, "bin index out of range: not ENOENT");
  z = 1;
  EXPECT(mallctl("stats.allocated", NULL, NULL, &z, 8) == EPERM, "writing stats.allocated: not EPERM");
  u = 999999;
  EXPECT(mallctl("thread.arena", NULL, NULL, &u, 4) == EFAULT, "thread.arena past narenas: not EFAULT");
  // Heap profiling is built (tests/prof/run.sh checks it at work); this process
  // runs without prof:true: prof.dump is write-only (EPERM on a read) and
  // EFAULT, prof.active cannot be turned on (ENOENT), as jemalloc.
  EXPECT(rd("prof.dump", &z, 8) == EPERM, "reading prof.dump: not EPERM");
  // A read-only name refuses a new length alone too (READONLY: newlen).
  EXPECT(mallctl("stats.allocated", NULL, NULL, NULL, 8) == EPERM, "stats.allocated with newlen 8: not EPERM");
  // Actions neither read nor write (jemalloc's NEITHER_READ_NOR_WRITE):
  // EPERM for either pointer or a new length, before anything is done.
  len = 8;
  EXPECT(mallctl("thread.tcache.flush", &z, &len, NULL, 0) == EPERM, "reading thread.tcache.flush: not EPERM");
  EXPECT(mallctl("arena.0.purge", NULL, NULL, &z, 8) == EPERM, "writing arena.0.purge: not EPERM");
  EXPECT(mallctl("arena.4096.decay", NULL, &len, NULL, 0) == EPERM, "arena.4096.decay with an oldlenp: not EPERM");
  EXPECT(mallctl("arena.0.reset", &z, &len, NULL, 0) == EPERM, "reading arena.0.reset: not EPERM");
  EXPECT(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush refused");
  // Without a cache (thread.tcache.enabled false): EFAULT, as jemalloc; back on after.
  b = false;
  EXPECT(mallctl("thread.tcache.enabled", NULL, NULL, &b, 1) == 0, "thread.tcache.enabled = false refused");
  EXPECT(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == EFAULT, "thread.tcache.flush without a cache: not EFAULT");
  EXPECT(mallctl("thread.idle", NULL, NULL, NULL, 0) == 0, "thread.idle without a cache: not 0 (jemalloc's)");
  b = true;
  EXPECT(mallctl("thread.tcache.enabled", NULL, NULL, &b, 1) == 0, "thread.tcache.enabled = true refused");
  EXPECT(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush after re-enabling refused");
  // thread.idle (jemalloc 5.3): an action; the thread's cached blocks go
  // back to their bins, so the small frees the arenas count go up.
  EXPECT(mallctl("thread.idle", &z, &len, NULL, 0) == EPERM, "reading thread.idle: not EPERM");
  EXPECT(mallctl("thread.idle", NULL, NULL, &z, 8) == EPERM, "writing thread.idle: not EPERM");
  {
    void *blocks[64];
    for (int k = 0; k < 64; k++) blocks[k] = f_malloc(48);
    for (int k = 0; k < 64; k++) f_free(blocks[k]);
    uint64_t before = 0, after = 0;
    EXPECT(rd("stats.arenas.4096.small.ndalloc", &before, 8) == 0, "stats.arenas.4096.small.ndalloc unread");
    EXPECT(mallctl("thread.idle", NULL, NULL, NULL, 0) == 0, "thread.idle refused");
    EXPECT(rd("stats.arenas.4096.small.ndalloc", &after, 8) == 0, "stats.arenas.4096.small.ndalloc unread");
    EXPECT(after > before, "thread.idle returned no cached block (small.ndalloc %llu -> %llu)",
           (unsigned long long)before, (unsigned long long)after);
  }
  // thread.peak (jemalloc 5.3): read-only, and an action that restarts
  // it at 0; the peak of allocated - deallocated since, exact for a block
  // that takes the slow path (8 MiB: huge) and within what the thread
  // cache held for a churn of small blocks (4096 of 64 B, 256 KiB).
  EXPECT(mallctl("thread.peak.read", NULL, NULL, &z, 8) == EPERM, "writing thread.peak.read: not EPERM");
  EXPECT(mallctl("thread.peak.reset", &z, &len, NULL, 0) == EPERM, "reading thread.peak.reset: not EPERM");
  EXPECT(mallctl("thread.peak.reset", NULL, NULL, &z, 8) == EPERM, "writing thread.peak.reset: not EPERM");
  {
    uint64_t peak = 1;
    EXPECT(mallctl("thread.peak.reset", NULL, NULL, NULL, 0) == 0, "thread.peak.reset refused");
    EXPECT(rd("thread.peak.read", &peak, 8) == 0 && peak == 0, "thread.peak.read after a reset: %llu, not 0",
           (unsigned long long)peak);
    void *volatile huge = f_malloc(8 << 20);
    f_free(huge);
    EXPECT(rd("thread.peak.read", &peak, 8) == 0 && peak >= (8u << 20) && peak < (9u << 20),
           "thread.peak.read after malloc(8 MiB) and its free: %llu", (unsigned long long)peak);
    EXPECT(mallctl("thread.peak.reset", NULL, NULL, NULL, 0) == 0, "thread.peak.reset refused");
    EXPECT(rd("thread.peak.read", &peak, 8) == 0 && peak == 0, "thread.peak.read after the second reset: %llu",
           (unsigned long long)peak);
    static void *volatile small[4096];
    for (int k = 0; k < 4096; k++) small[k] = f_malloc(64);
    for (int k = 0; k < 4096; k++) f_free(small[k]);
    EXPECT(rd("thread.peak.read", &peak, 8) == 0 && peak > (256u << 10) - (32u << 10) && peak < (256u << 10) + (32u << 10),
           "thread.peak.read after 4096 x malloc(64) and their frees: %llu, not within 32 KiB of 256 KiB",
           (unsigned long long)peak);
  }
  // Explicit thread caches: tcache.create answers an index (a write EPERM,
  // a wrong-sized buffer EINVAL); MALLOCX_TCACHE(tc) allocates and frees
  // through that cache alone (a block it took back comes out of it, not
  // out of the thread's); tcache.flush / tcache.destroy take the index
  // (a read EPERM, no value EINVAL, a destroyed index EFAULT), and a
  // destroyed index is handed out again.
  {
    unsigned tc = 0, tc2 = 0;
    size_t l = 4;
    EXPECT(mallctl("tcache.create", &tc, &l, &tc, 4) == EPERM, "writing tcache.create: not EPERM");
    l = 2;
    EXPECT(mallctl("tcache.create", &tc, &l, NULL, 0) == EINVAL, "tcache.create into 2 bytes: not EINVAL");
    l = 4;
    EXPECT(mallctl("tcache.create", &tc, &l, NULL, 0) == 0, "tcache.create refused");
    l = 4;
    EXPECT(mallctl("tcache.flush", &tc2, &l, NULL, 0) == EPERM, "reading tcache.flush: not EPERM");
    EXPECT(mallctl("tcache.flush", NULL, NULL, NULL, 0) == EINVAL, "tcache.flush without an index: not EINVAL");
    EXPECT(mallctl("tcache.destroy", NULL, NULL, &tc, 2) == EINVAL, "tcache.destroy with 2 bytes: not EINVAL");
    for (size_t size = 8; size <= 65536; size = size * 3 / 2 + 8) {
      unsigned char *p = mallocx(size, MALLOCX_TCACHE(tc));
      if (!p) { FAIL("mallocx(%zu, MALLOCX_TCACHE(%u)) = NULL", size, tc); break; }
      memset(p, 0x5c, size);
      dallocx(p, MALLOCX_TCACHE(tc));
      unsigned char *q = f_malloc(size);
      unsigned char *r = mallocx(size, MALLOCX_TCACHE(tc));
      EXPECT(r == p && q != p, "size %zu: the explicit cache's block %p, then %p from it, %p from malloc", size,
             (void *)p, (void *)r, (void *)q);
      unsigned char *z = mallocx(size, MALLOCX_TCACHE(tc) | MALLOCX_ZERO);
      size_t usable = z ? sallocx(z, 0) : 0;
      for (size_t k = 0; z && k < usable; k++) {
        if (z[k]) { FAIL("MALLOCX_TCACHE | MALLOCX_ZERO, size %zu: byte %zu not 0", size, k); break; }
      }
      unsigned char *a = mallocx(size, MALLOCX_TCACHE(tc) | MALLOCX_LG_ALIGN(9));
      EXPECT(a && ((uintptr_t)a & 511) == 0, "MALLOCX_TCACHE | MALLOCX_LG_ALIGN(9), size %zu: %p", size, (void *)a);
      r = rallocx(r, size * 2, MALLOCX_TCACHE(tc));
      EXPECT(r != NULL, "rallocx(%zu, MALLOCX_TCACHE): NULL", size * 2);
      f_free(q);
      dallocx(r, MALLOCX_TCACHE(tc));
      sdallocx(z, size, MALLOCX_TCACHE(tc));
      sdallocx(a, size, MALLOCX_TCACHE(tc) | MALLOCX_LG_ALIGN(9));
    }
    EXPECT(mallctl("tcache.flush", NULL, NULL, &tc, 4) == 0, "tcache.flush refused");
    EXPECT(mallctl("tcache.destroy", NULL, NULL, &tc, 4) == 0, "tcache.destroy refused");
    EXPECT(mallctl("tcache.flush", NULL, NULL, &tc, 4) == EFAULT, "tcache.flush of a destroyed cache: not EFAULT");
    EXPECT(mallctl("tcache.destroy", NULL, NULL, &tc, 4) == EFAULT, "tcache.destroy of a destroyed cache: not EFAULT");
    l = 4;
    EXPECT(mallctl("tcache.create", &tc2, &l, NULL, 0) == 0 && tc2 == tc, "after destroying %u, tcache.create gave %u",
           tc, tc2);
    EXPECT(mallctl("tcache.destroy", NULL, NULL, &tc2, 4) == 0, "tcache.destroy refused");
  }
  // A wrong length: EINVAL, with as many of the value's bytes as fit and
  // their count (jemalloc's READ).
  unsigned char bytes[16];
  memset(bytes, 0xAA, sizeof bytes);
  len = 4;
  EXPECT(mallctl("arenas.page", bytes, &len, NULL, 0) == EINVAL && len == 4 && bytes[0] == 0 && bytes[1] == 0x10 &&
         bytes[2] == 0 && bytes[3] == 0 && bytes[4] == 0xAA,
         "arenas.page into 4 bytes: len %zu, bytes %02x %02x %02x %02x %02x", len, bytes[0], bytes[1], bytes[2], bytes[3],
         bytes[4]);
  memset(bytes, 0xAA, sizeof bytes);
  len = 16;
  EXPECT(mallctl("arenas.page", bytes, &len, NULL, 0) == EINVAL && len == 8 && bytes[1] == 0x10 && bytes[7] == 0 &&
         bytes[8] == 0xAA, "arenas.page into 16 bytes: len %zu, bytes[1] %02x [7] %02x [8] %02x", len, bytes[1],
         bytes[7], bytes[8]);
  memset(bytes, 0xAA, sizeof bytes);
  len = SIZE_MAX;   // a size_t: the whole value, and its size back
  EXPECT(mallctl("arenas.page", bytes, &len, NULL, 0) == EINVAL && len == 8 && bytes[1] == 0x10 && bytes[8] == 0xAA,
         "arenas.page with *oldlenp SIZE_MAX: len %zu, bytes[1] %02x [8] %02x", len, bytes[1], bytes[8]);
  // arenas.create makes nothing it cannot report (VERIFY_READ: *oldlenp 0).
  unsigned arenas_before = 0, arenas_after = 0;
  rd("arenas.narenas", &arenas_before, 4);
  len = 4;
  EXPECT(mallctl("arenas.create", NULL, &len, NULL, 0) == EINVAL && len == 0, "arenas.create with no buffer: not EINVAL");
  len = 8;
  EXPECT(mallctl("arenas.create", bytes, &len, NULL, 0) == EINVAL && len == 0, "arenas.create into 8 bytes: not EINVAL");
  rd("arenas.narenas", &arenas_after, 4);
  EXPECT(arenas_after == arenas_before, "arenas.create made arenas it did not report: %u -> %u", arenas_before,
         arenas_after);
  const char *no_file = NULL;
  EXPECT(mallctl("prof.dump", NULL, NULL, &no_file, sizeof no_file) == EFAULT, "prof.dump without prof:true: not EFAULT");
  b = true;
  EXPECT(mallctl("prof.active", NULL, NULL, &b, 1) == ENOENT, "prof.active = true without prof:true: not ENOENT");
  // jemalloc's order without prof:true: prof.active checks the length
  // first and takes false as a no-op; prof.gdump refuses any write first.
  EXPECT(mallctl("prof.active", NULL, NULL, &z, 8) == EINVAL, "prof.active written with 8 bytes: not EINVAL");
  b = false;
  EXPECT(mallctl("prof.active", NULL, NULL, &b, 1) == 0, "prof.active = false without prof:true refused");
  EXPECT(mallctl("prof.gdump", NULL, NULL, &b, 1) == ENOENT, "prof.gdump = false without prof:true: not ENOENT");
  EXPECT(mallctl("prof.gdump", NULL, NULL, &z, 8) == ENOENT, "prof.gdump written with 8 bytes without prof:true: not ENOENT");
  EXPECT(rd("opt.prof", &b, 1) == 0 && !b, "opt.prof is not false");
  EXPECT(rd("config.prof", &b, 1) == 0 && b, "config.prof is not true");
  EXPECT(rd("opt.percpu_arena", &text, sizeof text) == 0 && text && !strcmp(text, "disabled"), "opt.percpu_arena");
  EXPECT(rd("arena.0.dss", &text, sizeof text) == 0 && text && !strcmp(text, "disabled"), "arena.0.dss");
  const char *dss = "primary";
  EXPECT(mallctl("arena.0.dss", NULL, NULL, &dss, sizeof dss) == EFAULT, "arena.0.dss = primary: not EFAULT");
  dss = "disabled";
  EXPECT(mallctl("arena.0.dss", NULL, NULL, &dss, sizeof dss) == 0, "arena.0.dss = disabled refused");

  // Size classes.
  unsigned nbins = 0, nlextents = 0, nhbins = 0;
  rd("arenas.nbins", &nbins, 4);
  rd("arenas.nlextents", &nlextents, 4);
  rd("arenas.nhbins", &nhbins, 4);
  EXPECT(nlextents > 0 && nhbins > 0, "nlextents %u, nhbins %u", nlextents, nhbins);
  size_t last_small = 0, first_large = 0;
  char name[64];
  snprintf(name, sizeof name, "arenas.bin.%u.size", nbins - 1);
  rd(name, &last_small, 8);
  rd("arenas.lextent.0.size", &first_large, 8);
  EXPECT(first_large == nallocx(last_small + 1, 0), "lextent.0.size %zu, nallocx(%zu) %zu", first_large, last_small + 1,
         nallocx(last_small + 1, 0));
  snprintf(name, sizeof name, "arenas.lextent.%u.size", nlextents);
  EXPECT(rd(name, &z, 8) == ENOENT, "lextent past nlextents: not ENOENT");

  // Decay times: per arena and the default for new arenas.
  ms = 5000;
  ssize_t old = 0;
  len = sizeof old;
  EXPECT(mallctl("arena.0.dirty_decay_ms", &old, &len, &ms, sizeof ms) == 0, "arena.0.dirty_decay_ms write");
  EXPECT(rd("arena.0.dirty_decay_ms", &ms, 8) == 0 && ms == 5000, "arena.0.dirty_decay_ms reads %zd", ms);
  EXPECT(rd("stats.arenas.0.dirty_decay_ms", &ms, 8) == 0 && ms == 5000, "stats.arenas.0.dirty_decay_ms %zd", ms);
  mallctl("arena.0.dirty_decay_ms", NULL, NULL, &old, sizeof old);
  ms = -2;
  EXPECT(mallctl("arenas.muzzy_decay_ms", NULL, NULL, &ms, sizeof ms) == EFAULT, "arenas.muzzy_decay_ms = -2: not EFAULT");
  EXPECT(mallctl("arena.0.dirty_decay_ms", NULL, NULL, &ms, sizeof ms) == EFAULT, "arena.0.dirty_decay_ms = -2: not EFAULT");
  // jemalloc's arena indices: up to narenas, 4096 (all) and 4097 (destroyed)
  // name an arena.<i> node; a setting of no one arena is EFAULT, purge of
  // the destroyed ones nothing.
  ms = 1000;
  EXPECT(mallctl("arena.4096.dirty_decay_ms", NULL, NULL, &ms, sizeof ms) == EFAULT, "arena.4096.dirty_decay_ms: not EFAULT");
  EXPECT(mallctl("arena.4097.purge", NULL, NULL, NULL, 0) == 0, "arena.4097.purge refused");
  EXPECT(mallctl("arena.4098.purge", NULL, NULL, NULL, 0) == ENOENT, "arena.4098.purge: not ENOENT");
  EXPECT(mallctl("arena.4096.reset", NULL, NULL, NULL, 0) == EFAULT, "arena.4096.reset: not EFAULT");
  EXPECT(mallctl("arena.4097.dss", NULL, NULL, &dss, sizeof dss) == EFAULT, "arena.4097.dss: not EFAULT");
  {
    unsigned n = 0;
    size_t all = 0, old_name = 0;
    void *held = f_malloc(1 << 20);   // a large run: an arena chunk is mapped while it lives
    rd("arenas.narenas", &n, 4);
    snprintf(name, sizeof name, "stats.arenas.%u.mapped", n);   // jemalloc's old name of 4096
    int rc_old = rd(name, &old_name, 8), rc_all = rd("stats.arenas.4096.mapped", &all, 8);
    EXPECT(rc_old == 0 && rc_all == 0 && old_name > 0 && old_name == all,
           "%s: not the merged figures (rc %d, %zu; 4096: rc %d, %zu)", name, rc_old, old_name, rc_all, all);
    size_t mib[6], miblen = 6, by_mib = 0, vl = 8;   // by MIB too
    int rc_mib = mallctlnametomib(name, mib, &miblen);
    EXPECT(rc_mib == 0 && mallctlbymib(mib, miblen, &by_mib, &vl, NULL, 0) == 0 && by_mib == all,
           "%s by MIB: nametomib %d, %zu", name, rc_mib, by_mib);
    f_free(held);
  }
  {
    uint64_t e1 = 0, e2 = 0, w = 1;
    size_t el = 8;
    // epoch: a write answers the new epoch (jemalloc's).
    EXPECT(mallctl("epoch", &e1, &el, NULL, 0) == 0 && e1 >= 1, "epoch reads %llu", (unsigned long long)e1);
    el = 8;
    EXPECT(mallctl("epoch", &e2, &el, &w, 8) == 0 && e2 == e1 + 1, "epoch written: %llu after %llu",
           (unsigned long long)e2, (unsigned long long)e1);
  }

  // Background thread: on, then off again.
  b = true;
  EXPECT(mallctl("background_thread", NULL, NULL, &b, 1) == 0, "background_thread = true");
  EXPECT(rd("background_thread", &b, 1) == 0 && b, "background_thread reads false after true");
  b = false;
  mallctl("background_thread", NULL, NULL, &b, 1);
  EXPECT(rd("background_thread", &b, 1) == 0 && !b, "background_thread reads true after false");
  z = 0;
  EXPECT(mallctl("max_background_threads", NULL, NULL, &z, 8) == EINVAL, "max_background_threads = 0 taken");

  // thread.allocatedp: a live counter.
  uint64_t *allocatedp = NULL;
  EXPECT(rd("thread.allocatedp", &allocatedp, sizeof allocatedp) == 0 && allocatedp, "thread.allocatedp");
  if (allocatedp) {
    uint64_t before = *allocatedp;
    static void *blocks[4000];
    for (int i = 0; i < 4000; i++) blocks[i] = f_malloc(1000);
    uint64_t during = *allocatedp;
    uint64_t exact = 0;
    rd("thread.allocated", &exact, 8);
    // Lags by at most what the thread's cache handed out since its last
    // refill of the class: far less than the 4 MB allocated here.
    EXPECT(during - before >= 4000 * 1024 - (256 << 10) && during <= exact,
           "*thread.allocatedp grew by %llu for 4000 x 1 KiB (exact figure %llu)",
           (unsigned long long)(during - before), (unsigned long long)(exact - before));
    for (int i = 0; i < 4000; i++) f_free(blocks[i]);
  }

  // arenas.create: a new arena, reachable by MALLOCX_ARENA and thread.arena,
  // with its own statistics; reset empties it; destroy frees its index.
  unsigned narenas = 0, arena = 0, again = 0;
  rd("arenas.narenas", &narenas, 4);
  EXPECT(rd("arenas.create", &arena, 4) == 0 && arena >= narenas, "arenas.create gave %u (narenas %u)", arena, narenas);
  unsigned narenas2 = 0;
  rd("arenas.narenas", &narenas2, 4);
  EXPECT(narenas2 == arena + 1, "narenas %u after creating arena %u", narenas2, arena);
  int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
  void *in_arena[100];
  for (int i = 0; i < 100; i++) in_arena[i] = mallocx(i % 2 ? 100 : 50000, flags);
  snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", arena);
  EXPECT(rd(name, &z, 8) == 0 && z == 50 * nallocx(100, 0), "%s = %zu", name, z);
  snprintf(name, sizeof name, "stats.arenas.%u.large.allocated", arena);
  EXPECT(rd(name, &z, 8) == 0 && z == 50 * nallocx(50000, 0), "%s = %zu", name, z);
  // Freed one by one into it (no cache), then the rest discarded by reset.
  for (int i = 0; i < 10; i++) dallocx(in_arena[i], MALLOCX_TCACHE_NONE);
  EXPECT(mallctl("arena.0.reset", NULL, NULL, NULL, 0) == EFAULT, "arena.0.reset: not EFAULT (not created)");
  snprintf(name, sizeof name, "arena.%u.reset", arena);
  EXPECT(mallctl(name, NULL, NULL, NULL, 0) == 0, "%s failed", name);
  snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", arena);
  EXPECT(rd(name, &z, 8) == 0 && z == 0, "after reset %s = %zu", name, z);
  snprintf(name, sizeof name, "stats.arenas.%u.pactive", arena);
  EXPECT(rd(name, &z, 8) == 0 && z == 0, "after reset %s = %zu", name, z);
  // Usable again after reset, also through thread.arena.
  void *p = mallocx(200, flags);
  EXPECT(p != NULL, "mallocx into the reset arena failed");
  dallocx(p, MALLOCX_TCACHE_NONE);
  unsigned mine = 0;
  len = 4;
  EXPECT(mallctl("thread.arena", &mine, &len, &arena, 4) == 0, "thread.arena = %u", arena);
  p = f_malloc(300);
  f_free(p);
  mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
  snprintf(name, sizeof name, "arena.%u.destroy", arena);
  EXPECT(mallctl(name, NULL, NULL, NULL, 0) == EFAULT, "destroying an arena a thread is bound to: not EFAULT");
  mallctl("thread.arena", NULL, NULL, &mine, 4);
  EXPECT(mallctl(name, NULL, NULL, NULL, 0) == 0, "%s failed", name);
  EXPECT(mallocx(100, flags) == NULL, "mallocx into a destroyed arena succeeded");
  EXPECT(rd("arenas.create", &again, 4) == 0 && again == arena, "arenas.create after destroy gave %u, not %u", again,
         arena);

  // arenas.lookup: the arena of any byte of a block (freed or not); a huge
  // block (a mapping of no arena), an address swalloc never mapped, NULL, a
  // missing or short pointer: EINVAL, nothing read out.
  {
    unsigned got = 777, thread_arena = 0;
    size_t gl = 4;
    rd("thread.arena", &thread_arena, 4);
    char *small = f_malloc(40), *large = f_malloc(100000), *huge = f_malloc(8 << 20), *theirs = mallocx(200, flags);
    int on_stack = 0;
    struct { const char *what; void *p; unsigned want; } hits[] = {
      {"a small block", small, thread_arena}, {"inside a small block", small + 24, thread_arena},
      {"a large block", large, thread_arena}, {"inside a large block", large + 70000, thread_arena},
      {"a block of MALLOCX_ARENA(a)", theirs, arena}};
    for (size_t k = 0; k < sizeof hits / sizeof hits[0]; k++) {
      void *p = hits[k].p;
      got = 777; gl = 4;
      EXPECT(mallctl("arenas.lookup", &got, &gl, &p, sizeof p) == 0 && got == hits[k].want && gl == 4,
             "arenas.lookup of %s: arena %u, want %u", hits[k].what, got, hits[k].want);
    }
    f_free(small);
    void *p = small;
    got = 777;
    EXPECT(mallctl("arenas.lookup", &got, &gl, &p, sizeof p) == 0 && got == thread_arena, "arenas.lookup of a freed block: %u", got);
    void *misses[] = {huge, &on_stack, NULL, (void *)(uintptr_t)0xffffffffffff0000ull, (void *)(uintptr_t)0x1000};
    for (size_t k = 0; k < sizeof misses / sizeof misses[0]; k++) {
      p = misses[k];
      got = 777;
      EXPECT(mallctl("arenas.lookup", &got, &gl, &p, sizeof p) == EINVAL && got == 777,
             "arenas.lookup of miss %zu (%p): not EINVAL, or %u read out", k, p, got);
    }
    p = large;
    EXPECT(mallctl("arenas.lookup", &got, &gl, NULL, 0) == EINVAL, "arenas.lookup without a pointer: not EINVAL");
    EXPECT(mallctl("arenas.lookup", &got, &gl, &p, 4) == EINVAL, "arenas.lookup of a 4-byte pointer: not EINVAL");
    f_free(large);
    f_free(huge);
    dallocx(theirs, 0);
  }
  // arena.<i>.initialized: made arenas true; the all-arenas indices true,
  // the destroyed arenas' false; past the table ENOENT.
  {
    unsigned narenas = 0;
    rd("arenas.narenas", &narenas, 4);
    char name[64];
    const struct { unsigned i; bool want; } cases[] = {{0, true}, {arena, true}, {narenas, true}, {4096, true}, {4097, false}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      snprintf(name, sizeof name, "arena.%u.initialized", cases[k].i);
      b = !cases[k].want;
      len = 1;
      EXPECT(mallctl(name, &b, &len, NULL, 0) == 0 && b == cases[k].want, "%s: %d", name, (int)b);
    }
    snprintf(name, sizeof name, "arena.%u.initialized", narenas + 1);
    EXPECT(mallctl(name, &b, &len, NULL, 0) == ENOENT, "%s: not ENOENT", name);
  }

  if (failures) return 1;
  printf("ok (%zu names)\n", sizeof readable / sizeof readable[0]);
  return 0;
}
