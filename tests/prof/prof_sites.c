// prof_sites: allocation sites with known live bytes, across 4 threads, for
// tests/prof/run.sh (run with SWALLOC_CONF=prof:true,lg_prof_sample:12,...).
//   site_small64    64 B blocks, kept to the end (leaked)
//   site_medium1k   1 KiB blocks, freed before exit
//   site_calloc512  512 B calloc blocks, freed before exit
//   site_large64k   64 KiB blocks, kept to the end (leaked)
//   site_churn256   256 B blocks allocated and freed at once (nothing live)
//   site_churn20k   20000 B blocks (a large class the thread cache holds)
//                   allocated and freed at once: a sampled one must leave
//                   the profile though unsampled ones go to the cache
//   site_realloc    threads 0 and 1 each grow one block by realloc from
//                   64 KiB to 2.5 MiB in 64 KiB steps (large runs, then a
//                   huge mapping), freed before exit: a sampled block
//                   resized in place leaves its old sample and may be
//                   sampled again at its new size, never counted twice
// After the threads join it writes a profile with mallctl("prof.dump") to
// argv[1] and prints "truth SITE BYTES" for each site's live bytes at that
// moment, then frees the medium and calloc blocks and exits, so that
// prof_leak lists site_small64 and site_large64k only.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#define THREADS 4
#define SMALL_N 32768      // x 64 B x 4 threads = 8 MiB
#define MEDIUM_N 3072      // x 1 KiB x 4 = 12 MiB
#define CALLOC_N 4096      // x 512 B x 4 = 8 MiB
#define LARGE_N 64         // x 64 KiB x 4 = 16 MiB
#define CHURN_N 200000
#define REALLOC_THREADS 2
#define REALLOC_TOP (2560 * 1024)   // a multiple of the page: its usable size

static void *small_blocks[THREADS][SMALL_N];
static void *medium_blocks[THREADS][MEDIUM_N];
static void *calloc_blocks[THREADS][CALLOC_N];
static void *large_blocks[THREADS][LARGE_N];
static void *realloc_blocks[THREADS];
static volatile unsigned long sink;

__attribute__((noinline)) void *site_small64(void) { void *p = malloc(64); sink += (unsigned long)p; return p; }
__attribute__((noinline)) void *site_medium1k(void) { void *p = malloc(1024); sink += (unsigned long)p; return p; }
__attribute__((noinline)) void *site_calloc512(void) { void *p = calloc(1, 512); sink += (unsigned long)p; return p; }
__attribute__((noinline)) void *site_large64k(void) { void *p = malloc(65536); sink += (unsigned long)p; return p; }
__attribute__((noinline)) void site_churn256(void) {
  void *p = malloc(256);
  sink += (unsigned long)p;
  free(p);
}

__attribute__((noinline)) void site_churn20k(void) {
  void *p = malloc(20000);
  sink += (unsigned long)p;
  free(p);
}
__attribute__((noinline)) void *site_realloc(void *p, size_t size) {
  p = realloc(p, size);
  if (!p) abort();
  memset((char *)p + size - 65536, 1, 65536);
  return p;
}

static void *worker(void *arg) {
  long t = (long)arg;
  // Interleaved, so that no site owns a stretch of the thread's countdown.
  for (int i = 0; i < SMALL_N; i++) {
    small_blocks[t][i] = site_small64();
    if (i % 8 == 0 && i / 8 < MEDIUM_N) medium_blocks[t][i / 8] = site_medium1k();
    if (i % 8 == 4 && i / 8 < CALLOC_N) calloc_blocks[t][i / 8] = site_calloc512();
    if (i % 512 == 0 && i / 512 < LARGE_N) large_blocks[t][i / 512] = site_large64k();
    for (int k = 0; k < CHURN_N / SMALL_N; k++) site_churn256();
    if (i % 16 == 8) site_churn20k();
    if (t < REALLOC_THREADS && i % 256 == 0 && (size_t)(i / 256 + 1) * 65536 <= REALLOC_TOP)
      realloc_blocks[t] = site_realloc(realloc_blocks[t], (size_t)(i / 256 + 1) * 65536);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: prof_sites OUT.heap\n"); return 2; }
  pthread_t th[THREADS];
  for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  const char *path = argv[1];
  int rc = mallctl("prof.dump", NULL, NULL, &path, sizeof path);
  if (rc != 0) { printf("FAIL prof.dump: %d\n", rc); return 1; }
  printf("truth site_small64 %lu\n", (unsigned long)THREADS * SMALL_N * 64);
  printf("truth site_medium1k %lu\n", (unsigned long)THREADS * MEDIUM_N * 1024);
  printf("truth site_calloc512 %lu\n", (unsigned long)THREADS * CALLOC_N * 512);
  printf("truth site_large64k %lu\n", (unsigned long)THREADS * LARGE_N * 65536);
  printf("truth site_churn256 0\n");
  printf("truth site_churn20k 0\n");
  printf("truth site_realloc %lu\n", (unsigned long)REALLOC_THREADS * REALLOC_TOP);
  for (int t = 0; t < THREADS; t++) {
    for (int i = 0; i < MEDIUM_N; i++) free(medium_blocks[t][i]);
    for (int i = 0; i < CALLOC_N; i++) free(calloc_blocks[t][i]);
    free(realloc_blocks[t]);
  }
  return 0;
}
