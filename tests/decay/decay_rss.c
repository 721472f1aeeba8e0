// Memory goes back to the system: allocates about 1 GiB in small and large
// blocks (every page touched), frees it all, then checks that the resident
// set returns to within a few MiB of where it started — either at once via
// malloc_trim(0) (mode "trim") or by decay alone (mode "decay", run with a
// short dirty_decay_ms: after sleeping past it, one large malloc/free gives
// the allocator the slow-path tick on which it purges). Then it checks that
// memory re-allocated after the purge through calloc reads as zero.
// Mode "idle" makes no allocator call while it waits: run it with
// background_thread:true.
// Mode "fork-idle" runs "idle" in a child forked after the parent's
// background thread started.
// usage: decay_rss trim|decay|idle|fork-idle [sleep_ms]
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static long rss_kib(void) {
  long pages_total = 0, pages_resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f || fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) { perror("statm"); exit(2); }
  fclose(f);
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static unsigned long long seed = 88172645463325252ull;
static unsigned long long next(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }

#define MAXBLOCKS 4000000
static void *blocks[MAXBLOCKS];
static const unsigned char zeros[1 << 20];
static size_t sizes[MAXBLOCKS];

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "trim";
  int sleep_ms = argc > 2 ? atoi(argv[2]) : 600;
  if (strcmp(mode, "fork-idle") == 0) {
    // The parent's background thread (started by these calls) does not
    // survive fork: the child must get one of its own to pass "idle".
    for (int i = 0; i < 1000; i++) { char *volatile p = malloc(1 << 16); p[0] = 1; free(p); }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid > 0) {
      int status = 0;
      waitpid(pid, &status, 0);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    mode = "idle";
  }
  const long slack_kib = 8 * 1024;  // "within a few MiB"
  // Warm up stdio and the allocator so their fixed costs are in the baseline.
  void *w = malloc(100); free(w);
  long start = rss_kib();

  size_t total = 0, n = 0;
  const size_t target = (size_t)1 << 30;
  while (total < target && n < MAXBLOCKS) {
    size_t s = (n % 2 == 0) ? 16 + next() % 2000            // small
                            : 16384 + next() % (1 << 20);  // large
    char *p = malloc(s);
    if (!p) { fprintf(stderr, "malloc(%zu) failed\n", s); return 1; }
    for (size_t i = 0; i < s; i += 4096) p[i] = (char)0xAB;
    p[s - 1] = (char)0xAB;
    blocks[n] = p; sizes[n] = s; n++; total += s;
  }
  long peak = rss_kib();
  for (size_t i = 0; i < n; i++) free(blocks[i]);

  if (strcmp(mode, "trim") == 0) {
    malloc_trim(0);
  } else if (strcmp(mode, "idle") == 0) {
    // No allocator call at all: only a background thread can purge.
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
  } else {
    struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    // A slow-path event (volatile: the compiler may not elide the pair).
    char *volatile tick;
    nanosleep(&ts, NULL);
    tick = malloc(1 << 17); tick[0] = 1; free(tick);
    nanosleep(&ts, NULL);
    tick = malloc(1 << 17); tick[0] = 1; free(tick);
  }
  if (getenv("DECAY_STATS")) malloc_stats();
  long end = rss_kib();
  printf("%s: start %ld KiB, peak %ld KiB, after free %ld KiB (%zu blocks, %zu MiB)\n",
         mode, start, peak, end, n, total >> 20);
  int ok = 1;
  if (peak - start < 900 * 1024) { fprintf(stderr, "FAIL peak did not reach ~1 GiB\n"); ok = 0; }
  if (end > start + slack_kib) { fprintf(stderr, "FAIL resident memory not returned: %ld KiB over the start\n", end - start); ok = 0; }

  // Purged pages re-allocated through calloc must read as zero: dirty the
  // memory, free it, purge, then calloc the same sizes.
  for (size_t i = 0; i < 20000; i++) {
    sizes[i] = (i % 2 == 0) ? 16 + next() % 3000 : 16384 + next() % (1 << 19);
    blocks[i] = malloc(sizes[i]);
    memset(blocks[i], 0xFF, sizes[i]);
  }
  for (size_t i = 0; i < 20000; i++) free(blocks[i]);
  malloc_trim(0);
  for (size_t i = 0; i < 20000; i++) {
    unsigned char *p = calloc(1, sizes[i]);
    if (memcmp(p, zeros, sizes[i]) != 0) {
      size_t k = 0;
      while (p[k] == 0) k++;
      fprintf(stderr, "FAIL calloc(%zu) byte %zu = %#x after purge\n", sizes[i], k, p[k]);
      return 1;
    }
    blocks[i] = p;
  }
  for (size_t i = 0; i < 20000; i++) free(blocks[i]);
  if (!ok) return 1;
  printf("ok\n");
  return 0;
}
