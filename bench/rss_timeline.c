// Grow/shrink workload for the resident-memory timeline (bench/rss_timeline.py):
//   grow   about 1.4 GiB of mixed small and large blocks over two seconds,
//   shrink to ~10% of it (random blocks freed),
//   idle   12 s of light activity (a few small allocations and one 64 KiB
//          block every 50 ms, as a program waiting on I/O would do),
//   repeat once more, then exit.
// Prints phase markers with timestamps on stderr for the plot.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long seed = 0x2545F4914F6CDD1Dull;
static unsigned long long next(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec / 1e9; }
static void sleep_ms(int ms) { struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&ts, NULL); }

#define N 400000
static char *blocks[N];

int main(int argc, char **argv) {
  int idle_ms = argc > 1 ? atoi(argv[1]) : 12000;
  double t0 = now();
  for (int cycle = 0; cycle < 2; cycle++) {
    fprintf(stderr, "phase grow %.3f\n", now() - t0);
    size_t total = 0;
    for (int i = 0; i < N; i++) {
      size_t s = (i % 16 == 0) ? 16384 + next() % (64 << 10) : 16 + next() % 1024;
      blocks[i] = malloc(s);
      memset(blocks[i], i, s);
      total += s;
      if (i % 20000 == 0) sleep_ms(40);
    }
    fprintf(stderr, "phase shrink %.3f (%zu MiB)\n", now() - t0, total >> 20);
    for (int i = 0; i < N; i++) {
      if (next() % 10 != 0) { free(blocks[i]); blocks[i] = NULL; }
    }
    fprintf(stderr, "phase idle %.3f\n", now() - t0);
    for (int ms = 0; ms < idle_ms; ms += 50) {
      char *volatile small[8];
      for (int k = 0; k < 8; k++) small[k] = malloc(32 + k * 40);
      char *volatile big = malloc(65536);
      big[0] = 1;
      free(big);
      for (int k = 0; k < 8; k++) free(small[k]);
      sleep_ms(50);
    }
    for (int i = 0; i < N; i++) free(blocks[i]);
  }
  fprintf(stderr, "phase end %.3f\n", now() - t0);
  puts("done");
  return 0;
}
