// Allocator benchmark workloads, one program, chosen by argv[1]:
//
//   workloads NAME [THREADS] [SCALE]
//
// NAME is one of the workloads below; THREADS (default 2) is used by the
// threaded ones; SCALE (default 1.0) multiplies the amount of work (the
// full benchmark uses 1.0, `--quick` less). Every workload does a fixed,
// deterministic amount of work driven by seeded xorshift generators (one per
// thread), so the time measures the allocator, and prints one line with a
// checksum of the work done that does not depend on addresses or thread
// scheduling: it must be the same under every allocator. Blocks are stamped
// with a tag when allocated and checked before they are freed; a mismatch
// (or a misaligned block, or NULL) prints a message to stderr and exits 2.
//
// The workloads are modelled on the allocator literature (the single-thread
// churn tests, Larson's server simulation, xmalloc's producer/consumer test,
// Hoard's cache-scratch false-sharing test, realloc growth, aligned
// allocation, large blocks, a growing heap); the code is written for this
// project.
//
// Build: gcc -O2 -pthread -o workloads bench/workloads.c
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- helpers

static int g_threads = 2;
static double g_scale = 1.0;

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "workloads: %s: %s\n", what, detail);
  fflush(stderr);
  exit(2);
}

// xorshift64 (Marsaglia 13/7/17), seeded through splitmix64 so that any
// seed, including 0, gives a good nonzero state.
typedef struct { uint64_t s; } rng_t;

static rng_t rng_seed(uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  rng_t r = {z ? z : 1};
  return r;
}

static inline uint64_t rnd(rng_t *r) {
  uint64_t x = r->s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return r->s = x;
}

// Uniform in [lo, hi] (the slight modulo bias does not matter here).
static inline size_t rnd_range(rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)(rnd(r) % (hi - lo + 1));
}

static long scaled(double base) {
  double v = base * g_scale;
  return v < 1 ? 1 : (long)v;
}

static void *xmalloc(size_t n, const char *who) {
  void *p = malloc(n);
  if (!p) fail(who, "malloc returned NULL");
  return p;
}

// A block of n >= 8 bytes is stamped with a 32-bit tag in its first four
// bytes and a byte derived from the tag in its last byte.
static inline void stamp(void *p, size_t n, uint32_t tag) {
  memcpy(p, &tag, 4);
  ((unsigned char *)p)[n - 1] = (unsigned char)(tag ^ 0x5A);
}

static inline uint32_t check(const void *p, size_t n, uint32_t tag, const char *who) {
  uint32_t got;
  memcpy(&got, p, 4);
  if (got != tag || ((const unsigned char *)p)[n - 1] != (unsigned char)(tag ^ 0x5A))
    fail(who, "block contents corrupted");
  return tag;
}

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

static pthread_t *spawn(int n, void *(*fn)(void *), void *args, size_t argsize) {
  pthread_t *t = xmalloc(sizeof(pthread_t) * (size_t)n, "spawn");
  for (int i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * argsize))
      fail("spawn", "pthread_create failed");
  return t;
}

static void join(pthread_t *t, int n) {
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  free(t);
}

typedef struct { void *p; size_t n; uint32_t tag; } slot_t;

// A thread that cannot go on until another one acts (empties the mailbox
// it wants to send to, sends it something, finishes) sleeps on this room
// instead of calling sched_yield in a loop. With the cores oversubscribed
// (bench --loaded), a yield loop kept the waiting thread runnable: it
// took time slices the thread it waited for needed, and larson's loaded
// wall time under one allocator went from 0.21 s to over 4 s from run to
// run (5K-375K sched_yield calls per run): a measure of the scheduler,
// not of the allocator. Waking costs a fence and a load when nobody waits.
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int waiters;
} g_room = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

// After a change a waiter may be waiting for. The fence orders the change
// before the load of the waiter count (a waiter counts itself before it
// tests its condition, so one of the two sees the other); the broadcast
// under the lock cannot fall between a waiter's test and its sleep.
static void room_wake(void) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(&g_room.waiters, __ATOMIC_RELAXED) == 0) return;
  pthread_mutex_lock(&g_room.lock);
  pthread_cond_broadcast(&g_room.cond);
  pthread_mutex_unlock(&g_room.lock);
}

// Sleeps until ready(arg) holds (at once when it already does).
static void room_wait(int (*ready)(void *), void *arg) {
  pthread_mutex_lock(&g_room.lock);
  __atomic_add_fetch(&g_room.waiters, 1, __ATOMIC_SEQ_CST);
  while (!ready(arg)) pthread_cond_wait(&g_room.cond, &g_room.lock);
  __atomic_sub_fetch(&g_room.waiters, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&g_room.lock);
}

// ------------------------------------------------------------ churn-lifo
// Single thread: batches of 1..256 blocks of 8..512 bytes, allocated then
// freed in reverse order (stack discipline, like a parser's temporaries).

static int churn_lifo(void) {
  rng_t r = rng_seed(1);
  long rounds = scaled(120000);
  slot_t stack[256];
  uint64_t sum = 0, ops = 0;
  for (long k = 0; k < rounds; k++) {
    int n = (int)rnd_range(&r, 1, 256);
    for (int i = 0; i < n; i++) {
      size_t sz = rnd_range(&r, 8, 512);
      uint32_t tag = (uint32_t)rnd(&r);
      void *p = xmalloc(sz, "churn-lifo");
      stamp(p, sz, tag);
      stack[i] = (slot_t){p, sz, tag};
    }
    for (int i = n - 1; i >= 0; i--) {
      sum += check(stack[i].p, stack[i].n, stack[i].tag, "churn-lifo");
      free(stack[i].p);
    }
    ops += (uint64_t)n;
  }
  printf("churn-lifo pairs=%llu check=%016llx\n", (unsigned long long)ops, (unsigned long long)sum);
  return 0;
}

// ---------------------------------------------------------- churn-random
// Single thread: 8192 live blocks of 8..512 bytes; a random slot is freed
// and reallocated with a new random size, over and over (fragmenting).

static int churn_random(void) {
  enum { SLOTS = 8192 };
  rng_t r = rng_seed(2);
  long ops = scaled(12000000);
  slot_t *s = xmalloc(sizeof(slot_t) * SLOTS, "churn-random");
  uint64_t sum = 0;
  for (int i = 0; i < SLOTS; i++) {
    size_t sz = rnd_range(&r, 8, 512);
    uint32_t tag = (uint32_t)rnd(&r);
    s[i] = (slot_t){xmalloc(sz, "churn-random"), sz, tag};
    stamp(s[i].p, sz, tag);
  }
  for (long k = 0; k < ops; k++) {
    slot_t *x = &s[rnd(&r) % SLOTS];
    sum += check(x->p, x->n, x->tag, "churn-random");
    free(x->p);
    x->n = rnd_range(&r, 8, 512);
    x->tag = (uint32_t)rnd(&r);
    x->p = xmalloc(x->n, "churn-random");
    stamp(x->p, x->n, x->tag);
  }
  for (int i = 0; i < SLOTS; i++) {
    sum += check(s[i].p, s[i].n, s[i].tag, "churn-random");
    free(s[i].p);
  }
  free(s);
  printf("churn-random ops=%ld check=%016llx\n", ops, (unsigned long long)sum);
  return 0;
}

// ---------------------------------------------------------------- larson
// Server simulation: each thread owns 1000 slots of blocks of 16..1024
// bytes and keeps replacing random slots. Every 256 replacements it hands a
// batch of 64 of its blocks (a linked list threaded through the blocks) to
// the next thread's mailbox; a thread polls its own mailbox and frees what
// it finds there, so a share of the frees are of blocks another thread
// allocated. A mailbox holds at most 4 batches: a sender finding it full
// empties its own mailbox and sleeps (g_room) until there is room or a
// batch for it, so the memory in
// transit (and the peak RSS) does not depend on how the threads happen to
// be scheduled. A block holds the next pointer at offset 0, the tag at 8, its
// size at 12 (16 bits) and the tag's check byte in its last byte.

enum { LARSON_SLOTS = 1000, LARSON_BATCH = 64, LARSON_EVERY = 256, LARSON_BOX = 4 };

typedef struct lblock { struct lblock *next; } lblock_t;

typedef struct {
  pthread_mutex_t lock;
  lblock_t *head;
  int pending; // batches in the box; read without the lock as a hint
  char pad[64];
} mailbox_t;

typedef struct {
  int id;
  long ops;
  mailbox_t *boxes;
  int *finished;
  uint64_t sum, received;
} larson_arg_t;

typedef struct { mailbox_t *mine, *next; int *finished; } larson_wait_t;

// A sender may go on: room in the next mailbox, or batches in its own to free.
static int larson_can_send(void *arg) {
  larson_wait_t *w = arg;
  return __atomic_load_n(&w->next->pending, __ATOMIC_ACQUIRE) < LARSON_BOX ||
         __atomic_load_n(&w->mine->pending, __ATOMIC_ACQUIRE) > 0;
}

// A finished thread may go on: every thread finished, or batches to free.
static int larson_can_finish(void *arg) {
  larson_wait_t *w = arg;
  return __atomic_load_n(w->finished, __ATOMIC_ACQUIRE) >= g_threads ||
         __atomic_load_n(&w->mine->pending, __ATOMIC_ACQUIRE) > 0;
}

static uint64_t larson_drain(mailbox_t *box, uint64_t *received) {
  if (!__atomic_load_n(&box->pending, __ATOMIC_RELAXED)) return 0;
  pthread_mutex_lock(&box->lock);
  lblock_t *b = box->head;
  box->head = NULL;
  __atomic_store_n(&box->pending, 0, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&box->lock);
  room_wake(); // a sender may be waiting for room
  uint64_t sum = 0;
  while (b) {
    lblock_t *next = b->next;
    uint16_t n;
    uint32_t tag;
    memcpy(&n, (char *)b + 12, 2);
    memcpy(&tag, (char *)b + 8, 4);
    if (n < 16 || n > 1024) fail("larson", "size field corrupted");
    sum += check((char *)b + 8, n - 8u, tag, "larson"); // checks the last byte
    free(b);
    (*received)++;
    b = next;
  }
  return sum;
}

static void *larson_thread(void *argp) {
  larson_arg_t *a = argp;
  rng_t r = rng_seed(100 + (uint64_t)a->id);
  slot_t *s = xmalloc(sizeof(slot_t) * LARSON_SLOTS, "larson");
  mailbox_t *mine = &a->boxes[a->id], *next = &a->boxes[(a->id + 1) % g_threads];
  larson_wait_t wait = {mine, next, a->finished};
  uint64_t sum = 0, received = 0;
#define LARSON_NEW(x)                                          \
  do {                                                         \
    (x)->n = rnd_range(&r, 16, 1024);                          \
    (x)->tag = (uint32_t)rnd(&r);                              \
    (x)->p = xmalloc((x)->n, "larson");                        \
    stamp((char *)(x)->p + 8, (x)->n - 8, (x)->tag);           \
    uint16_t n16 = (uint16_t)(x)->n;                           \
    memcpy((char *)(x)->p + 12, &n16, 2);                      \
  } while (0)
  for (int i = 0; i < LARSON_SLOTS; i++) LARSON_NEW(&s[i]);
  for (long k = 1; k <= a->ops; k++) {
    slot_t *x = &s[rnd(&r) % LARSON_SLOTS];
    sum += check((char *)x->p + 8, x->n - 8, x->tag, "larson");
    free(x->p);
    LARSON_NEW(x);
    if (k % LARSON_EVERY == 0) {
      // Hand a batch of random slots to the next thread, refill them.
      lblock_t *head = NULL;
      for (int j = 0; j < LARSON_BATCH; j++) {
        slot_t *y = &s[rnd(&r) % LARSON_SLOTS];
        lblock_t *b = y->p;
        b->next = head;
        head = b;
        LARSON_NEW(y);
      }
      lblock_t *tail = head;
      while (tail->next) tail = tail->next;
      while (__atomic_load_n(&next->pending, __ATOMIC_ACQUIRE) >= LARSON_BOX) {
        sum += larson_drain(mine, &received); // the receiver may be waiting on us
        room_wait(larson_can_send, &wait);
      }
      pthread_mutex_lock(&next->lock);
      tail->next = next->head;
      next->head = head;
      __atomic_store_n(&next->pending, next->pending + 1, __ATOMIC_RELAXED);
      pthread_mutex_unlock(&next->lock);
      room_wake(); // the receiver may be waiting for a batch
    }
    if ((k & 15) == 0) sum += larson_drain(mine, &received);
  }
  for (int i = 0; i < LARSON_SLOTS; i++) {
    sum += check((char *)s[i].p + 8, s[i].n - 8, s[i].tag, "larson");
    free(s[i].p);
  }
  free(s);
  // Keep emptying the mailbox until every thread has sent its last batch.
  __atomic_add_fetch(a->finished, 1, __ATOMIC_ACQ_REL);
  room_wake();
  while (__atomic_load_n(a->finished, __ATOMIC_ACQUIRE) < g_threads) {
    sum += larson_drain(mine, &received);
    room_wait(larson_can_finish, &wait);
  }
  sum += larson_drain(mine, &received);
  a->sum = sum;
  a->received = received;
  return NULL;
#undef LARSON_NEW
}

static int larson(void) {
  int t = g_threads;
  long ops = scaled(12000000) / t; // total work fixed, split over threads
  mailbox_t *boxes = xmalloc(sizeof(mailbox_t) * (size_t)t, "larson");
  larson_arg_t *args = xmalloc(sizeof(larson_arg_t) * (size_t)t, "larson");
  int finished = 0;
  for (int i = 0; i < t; i++) {
    pthread_mutex_init(&boxes[i].lock, NULL);
    boxes[i].head = NULL;
    boxes[i].pending = 0;
    args[i] = (larson_arg_t){i, ops, boxes, &finished, 0, 0};
  }
  join(spawn(t, larson_thread, args, sizeof(larson_arg_t)), t);
  uint64_t sum = 0, received = 0;
  for (int i = 0; i < t; i++) { sum += args[i].sum; received += args[i].received; }
  // The handed-over tags are counted by the receiver, so the total does not
  // depend on when a mailbox was polled.
  printf("larson threads=%d ops=%ld handed=%llu check=%016llx\n", t, ops * t,
         (unsigned long long)received, (unsigned long long)sum);
  free(boxes);
  free(args);
  return 0;
}

// --------------------------------------------------------------- xmalloc
// Producer/consumer: THREADS/2 producers allocate blocks of 16..256 bytes
// and push them, in batches of 256 pointers, into a bounded queue of 16
// batches; the other threads pop batches and free every block. Every free
// is of a block another thread allocated.

enum { XM_BATCH = 256, XM_QUEUE = 16 };

typedef struct { void *p[XM_BATCH]; uint32_t n[XM_BATCH]; } xm_batch_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  xm_batch_t ring[XM_QUEUE];
  int head, count, producers_left;
} xm = {.lock = PTHREAD_MUTEX_INITIALIZER, .not_full = PTHREAD_COND_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER};

typedef struct { int id; long batches; uint64_t sum; } xm_arg_t;

static void *xm_producer(void *argp) {
  xm_arg_t *a = argp;
  rng_t r = rng_seed(200 + (uint64_t)a->id);
  xm_batch_t local;
  for (long b = 0; b < a->batches; b++) {
    for (int i = 0; i < XM_BATCH; i++) {
      size_t sz = rnd_range(&r, 16, 256);
      uint32_t tag = (uint32_t)rnd(&r);
      void *p = xmalloc(sz, "xmalloc");
      stamp(p, sz, tag);
      memcpy((char *)p + 4, &sz, 4); // little-endian low half of the size
      local.p[i] = p;
      local.n[i] = (uint32_t)sz;
    }
    pthread_mutex_lock(&xm.lock);
    while (xm.count == XM_QUEUE) pthread_cond_wait(&xm.not_full, &xm.lock);
    xm.ring[(xm.head + xm.count) % XM_QUEUE] = local;
    xm.count++;
    pthread_cond_signal(&xm.not_empty);
    pthread_mutex_unlock(&xm.lock);
  }
  pthread_mutex_lock(&xm.lock);
  if (--xm.producers_left == 0) pthread_cond_broadcast(&xm.not_empty);
  pthread_mutex_unlock(&xm.lock);
  return NULL;
}

static void *xm_consumer(void *argp) {
  xm_arg_t *a = argp;
  xm_batch_t local;
  uint64_t sum = 0;
  for (;;) {
    pthread_mutex_lock(&xm.lock);
    while (xm.count == 0 && xm.producers_left > 0) pthread_cond_wait(&xm.not_empty, &xm.lock);
    if (xm.count == 0) { pthread_mutex_unlock(&xm.lock); break; }
    local = xm.ring[xm.head];
    xm.head = (xm.head + 1) % XM_QUEUE;
    xm.count--;
    pthread_cond_signal(&xm.not_full);
    pthread_mutex_unlock(&xm.lock);
    for (int i = 0; i < XM_BATCH; i++) {
      uint32_t tag, n;
      memcpy(&tag, local.p[i], 4);
      memcpy(&n, (char *)local.p[i] + 4, 4);
      if (n != local.n[i]) fail("xmalloc", "block size field corrupted");
      sum += check(local.p[i], n, tag, "xmalloc");
      free(local.p[i]);
    }
  }
  a->sum = sum;
  return NULL;
}

static int xmalloc_test(void) {
  int t = g_threads < 2 ? 2 : g_threads;
  int np = t / 2, nc = t - np;
  long batches = scaled(16000) / np;
  xm.producers_left = np;
  xm_arg_t *pa = calloc((size_t)np, sizeof(xm_arg_t)), *ca = calloc((size_t)nc, sizeof(xm_arg_t));
  if (!pa || !ca) fail("xmalloc", "calloc returned NULL");
  for (int i = 0; i < np; i++) { pa[i].id = i; pa[i].batches = batches; }
  for (int i = 0; i < nc; i++) ca[i].id = i;
  pthread_t *pt = spawn(np, xm_producer, pa, sizeof(xm_arg_t));
  pthread_t *ct = spawn(nc, xm_consumer, ca, sizeof(xm_arg_t));
  join(pt, np);
  join(ct, nc);
  uint64_t sum = 0;
  for (int i = 0; i < nc; i++) sum += ca[i].sum;
  printf("xmalloc producers=%d consumers=%d blocks=%ld check=%016llx\n", np, nc,
         batches * np * XM_BATCH, (unsigned long long)sum);
  free(pa);
  free(ca);
  return 0;
}

// --------------------------------------------------------- cache-scratch
// False sharing (after Hoard's cache-scratch): the main thread allocates one
// small object per thread back to back (so they likely share a cache line)
// and hands each thread one, which frees it. Then each thread repeatedly
// allocates an 8..64-byte object, writes every byte of it many times and
// frees it. An allocator that gives a thread memory from a cache line
// another thread is writing makes the writes bounce the line between cores.

typedef struct { int id; long iters; int rounds; void *initial; uint64_t sum; } cs_arg_t;

static void *cs_thread(void *argp) {
  cs_arg_t *a = argp;
  rng_t r = rng_seed(300 + (uint64_t)a->id);
  free(a->initial);
  uint64_t sum = 0;
  for (long k = 0; k < a->iters; k++) {
    size_t sz = rnd_range(&r, 8, 64);
    volatile unsigned char *q = xmalloc(sz, "cache-scratch");
    for (size_t j = 0; j < sz; j++) q[j] = (unsigned char)j;
    for (int w = 0; w < a->rounds; w++)
      for (size_t j = 0; j < sz; j++) q[j] = (unsigned char)(q[j] + 1);
    sum += q[0] + q[sz - 1];
    free((void *)q);
  }
  a->sum = sum;
  return NULL;
}

static int cache_scratch(void) {
  int t = g_threads;
  long iters = scaled(3600000) / t;
  cs_arg_t *args = calloc((size_t)t, sizeof(cs_arg_t));
  if (!args) fail("cache-scratch", "calloc returned NULL");
  for (int i = 0; i < t; i++) {
    args[i].id = i;
    args[i].iters = iters;
    args[i].rounds = 8;
    args[i].initial = xmalloc(8, "cache-scratch");
  }
  join(spawn(t, cs_thread, args, sizeof(cs_arg_t)), t);
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) sum += args[i].sum;
  printf("cache-scratch threads=%d objects=%ld check=%016llx\n", t, iters * t, (unsigned long long)sum);
  free(args);
  return 0;
}

// ---------------------------------------------------------- realloc-grow
// Eight strings grown concurrently one character at a time by realloc (to
// 64 B..8 KiB, then checked and freed and a new one started), interleaved
// at random so a neighbour often blocks growth in place; then arrays of
// 8-byte elements grown one element at a time to 128 KiB..4 MiB.

static int realloc_grow(void) {
  enum { K = 8 };
  rng_t r = rng_seed(4);
  long steps = scaled(24000000);
  struct { char *p; size_t len, target; } s[K];
  uint64_t h = 0, strings = 0;
  for (int i = 0; i < K; i++) { s[i].p = NULL; s[i].len = 0; s[i].target = rnd_range(&r, 64, 8192); }
  for (long k = 0; k < steps; k++) {
    int i = (int)(rnd(&r) % K);
    char *p = realloc(s[i].p, s[i].len + 2);
    if (!p) fail("realloc-grow", "realloc returned NULL");
    p[s[i].len] = (char)('a' + s[i].len % 26);
    p[s[i].len + 1] = 0;
    s[i].p = p;
    if (++s[i].len == s[i].target) {
      size_t n = s[i].len;
      if (strlen(p) != n || p[0] != 'a' || p[n - 1] != (char)('a' + (n - 1) % 26) ||
          p[n / 2] != (char)('a' + (n / 2) % 26))
        fail("realloc-grow", "string contents corrupted");
      h = mix(h, n);
      strings++;
      free(p);
      s[i].p = NULL;
      s[i].len = 0;
      s[i].target = rnd_range(&r, 64, 8192);
    }
  }
  for (int i = 0; i < K; i++) free(s[i].p);
  long arrays = scaled(20);
  uint64_t elements = 0;
  for (long a = 0; a < arrays; a++) {
    size_t target = rnd_range(&r, 128 << 10, 4 << 20) / 8;
    uint64_t *v = NULL;
    for (size_t n = 0; n < target; n++) {
      uint64_t *nv = realloc(v, (n + 1) * 8);
      if (!nv) fail("realloc-grow", "realloc returned NULL");
      v = nv;
      v[n] = n * 2654435761u;
    }
    uint64_t sum = 0;
    for (size_t n = 0; n < target; n++) sum += v[n] ^ (n * 2654435761u);
    if (sum != 0) fail("realloc-grow", "array contents corrupted");
    h = mix(h, target);
    elements += target;
    free(v);
  }
  printf("realloc-grow strings=%llu elements=%llu check=%016llx\n", (unsigned long long)strings,
         (unsigned long long)elements, (unsigned long long)h);
  return 0;
}

// --------------------------------------------------------------- aligned
// 2048 slots of blocks from posix_memalign and aligned_alloc, alignments
// 16..4096 and sizes from 8 B to 32 KiB (some multiples of the alignment);
// random slots are freed and replaced. Every block's alignment is checked.

static int aligned(void) {
  enum { SLOTS = 2048 };
  rng_t r = rng_seed(5);
  long ops = scaled(1500000);
  slot_t *s = calloc(SLOTS, sizeof(slot_t));
  if (!s) fail("aligned", "calloc returned NULL");
  uint64_t sum = 0;
  for (long k = 0; k < ops + SLOTS; k++) {
    slot_t *x = k < SLOTS ? &s[k] : &s[rnd(&r) % SLOTS];
    if (x->p) {
      sum += check(x->p, x->n, x->tag, "aligned");
      free(x->p);
    }
    size_t align = (size_t)16 << (rnd(&r) % 9);
    size_t sz;
    switch (rnd(&r) % 4) {
    case 0: sz = rnd_range(&r, 8, 256); break;
    case 1: sz = rnd_range(&r, 256, 4096); break;
    case 2: sz = align * rnd_range(&r, 1, 4); break;
    default: sz = rnd_range(&r, 4096, 32768); break;
    }
    void *p;
    if (k & 1) {
      sz = (sz + align - 1) & ~(align - 1); // C11 wants a multiple
      p = aligned_alloc(align, sz);
      if (!p) fail("aligned", "aligned_alloc returned NULL");
    } else if (posix_memalign(&p, align, sz)) {
      fail("aligned", "posix_memalign failed");
    }
    if ((uintptr_t)p & (align - 1)) fail("aligned", "block not aligned");
    x->p = p;
    x->n = sz;
    x->tag = (uint32_t)rnd(&r);
    stamp(p, sz, x->tag);
  }
  for (int i = 0; i < SLOTS; i++) {
    sum += check(s[i].p, s[i].n, s[i].tag, "aligned");
    free(s[i].p);
  }
  free(s);
  printf("aligned ops=%ld check=%016llx\n", ops, (unsigned long long)sum);
  return 0;
}

// ----------------------------------------------------------------- large
// Four slots of large blocks, 64 KiB..32 MiB (log-uniform: a random octave,
// uniform within it); each new block gets one byte written per 4 KiB page,
// and is checked (first, middle, last page) when it is replaced.

static size_t large_size(rng_t *r) {
  unsigned e = 16 + (unsigned)(rnd(r) % 9); // 2^16 .. 2^24, octave [2^e, 2^(e+1))
  size_t base = (size_t)1 << e;
  return base + (size_t)(rnd(r) % base);
}

static int large(void) {
  enum { SLOTS = 4 };
  rng_t r = rng_seed(6);
  long ops = scaled(600);
  slot_t s[SLOTS] = {{0}};
  uint64_t sum = 0, pages = 0;
  for (long k = 0; k < ops; k++) {
    slot_t *x = &s[rnd(&r) % SLOTS];
    if (x->p) {
      unsigned char *p = x->p;
      size_t last = (x->n - 1) & ~(size_t)4095, mid = (x->n / 2) & ~(size_t)4095;
      if (p[0] != (unsigned char)x->tag || p[last] != (unsigned char)(x->tag + (last >> 12)) ||
          p[mid] != (unsigned char)(x->tag + (mid >> 12)))
        fail("large", "block contents corrupted");
      sum += x->tag;
      free(p);
    }
    x->n = large_size(&r);
    x->tag = (uint32_t)rnd(&r);
    unsigned char *p = xmalloc(x->n, "large");
    for (size_t off = 0; off < x->n; off += 4096) p[off] = (unsigned char)(x->tag + (off >> 12));
    pages += (x->n + 4095) / 4096;
    x->p = p;
  }
  for (int i = 0; i < SLOTS; i++) free(s[i].p);
  printf("large ops=%ld pages=%llu check=%016llx\n", ops, (unsigned long long)pages,
         (unsigned long long)sum);
  return 0;
}

// ------------------------------------------------------------- leak-grow
// A growing heap: each step allocates a block (70% 16..256 B, 20%
// 256 B..4 KiB, 9% 4..64 KiB, 1% 64..512 KiB) and writes it (small ones
// in full, larger ones one byte per page); 70% of the steps also free a
// random live block. About 30% of what is allocated stays live, so peak
// RSS shows how tightly the allocator packs a heap that only grows.

static int leak_grow(void) {
  rng_t r = rng_seed(7);
  long steps = scaled(300000);
  slot_t *live = xmalloc(sizeof(slot_t) * (size_t)steps, "leak-grow");
  long nlive = 0;
  uint64_t sum = 0, bytes = 0;
  for (long k = 0; k < steps; k++) {
    unsigned c = (unsigned)(rnd(&r) % 100);
    size_t sz = c < 70 ? rnd_range(&r, 16, 256)
              : c < 90 ? rnd_range(&r, 256, 4096)
              : c < 99 ? rnd_range(&r, 4096, 65536)
                       : rnd_range(&r, 65536, 524288);
    uint32_t tag = (uint32_t)rnd(&r);
    unsigned char *p = xmalloc(sz, "leak-grow");
    if (sz <= 1024) memset(p, (int)(tag & 0xFF), sz);
    else for (size_t off = 0; off < sz; off += 4096) p[off] = (unsigned char)tag;
    stamp(p, sz, tag);
    live[nlive++] = (slot_t){p, sz, tag};
    bytes += sz;
    if (rnd(&r) % 10 < 7) {
      long i = (long)(rnd(&r) % (uint64_t)nlive);
      sum += check(live[i].p, live[i].n, live[i].tag, "leak-grow");
      free(live[i].p);
      live[i] = live[--nlive];
    }
  }
  uint64_t live_bytes = 0;
  for (long i = 0; i < nlive; i++) {
    live_bytes += live[i].n;
    sum += check(live[i].p, live[i].n, live[i].tag, "leak-grow");
    free(live[i].p);
  }
  free(live);
  printf("leak-grow steps=%ld live=%ld live_bytes=%llu check=%016llx\n", steps, nlive,
         (unsigned long long)live_bytes, (unsigned long long)sum);
  (void)bytes;
  return 0;
}

// ----------------------------------------------------------------- burst
// Single thread: bursts of 128..4096 blocks of one size (16 B..1 KiB, drawn
// per burst), allocated one after the other and then all freed, in
// allocation order (FIFO) or in reverse (LIFO), drawn per burst (like a
// parser's or a request's temporaries of one type).

static int burst(void) {
  enum { MAX = 4096 };
  rng_t r = rng_seed(8);
  long bursts = scaled(5000);
  slot_t *s = xmalloc(sizeof(slot_t) * MAX, "burst");
  uint64_t sum = 0, blocks = 0, fifo = 0;
  for (long k = 0; k < bursts; k++) {
    int n = (int)rnd_range(&r, 128, MAX);
    size_t sz = rnd_range(&r, 16, 1024);
    int lifo = (int)(rnd(&r) & 1);
    for (int i = 0; i < n; i++) {
      uint32_t tag = (uint32_t)rnd(&r);
      void *p = xmalloc(sz, "burst");
      stamp(p, sz, tag);
      s[i] = (slot_t){p, sz, tag};
    }
    for (int j = 0; j < n; j++) {
      slot_t *x = &s[lifo ? n - 1 - j : j];
      sum += check(x->p, x->n, x->tag, "burst");
      free(x->p);
    }
    blocks += (uint64_t)n;
    fifo += (uint64_t)!lifo;
  }
  free(s);
  printf("burst bursts=%ld fifo=%llu blocks=%llu check=%016llx\n", bursts, (unsigned long long)fifo,
         (unsigned long long)blocks, (unsigned long long)sum);
  return 0;
}

// Log-uniform in [lo, hi): a random octave of the range, uniform within it
// (lo a power of two).
static size_t rnd_log(rng_t *r, size_t lo, size_t hi) {
  unsigned octaves = 0;
  while ((lo << (octaves + 1)) <= hi) octaves++;
  size_t base = lo << (rnd(r) % octaves);
  size_t top = base * 2 < hi ? base * 2 : hi;
  return base + (size_t)(rnd(r) % (top - base));
}

// Blocks that are linked into lists (mixed-lifetime's timing wheel,
// server-churn's queues): the next pointer at offset 0, the tag at 8, the
// size (24 bits) at 12, the tag's check byte in the last byte. n >= 16.
typedef struct lnode { struct lnode *next; } lnode_t;

static void *lnew(rng_t *r, size_t n, const char *who) {
  uint32_t tag = (uint32_t)rnd(r);
  unsigned char *p = xmalloc(n, who);
  stamp(p + 8, n - 8, tag);
  p[12] = (unsigned char)n;
  p[13] = (unsigned char)(n >> 8);
  p[14] = (unsigned char)(n >> 16);
  ((lnode_t *)p)->next = NULL;
  return p;
}

static uint32_t lfree(void *b, const char *who) {
  unsigned char *p = b;
  size_t n = (size_t)p[12] | (size_t)p[13] << 8 | (size_t)p[14] << 16;
  uint32_t tag;
  if (n < 16 || n > (1u << 20)) fail(who, "size field corrupted");
  memcpy(&tag, p + 8, 4);
  check(p + 8, n - 8, tag, who);
  free(p);
  return tag;
}

// --------------------------------------------------------- mixed-threads
// Each thread on its own (nothing shared): a working set of 4096 blocks of
// 8 B..2 KiB (log-uniform), random ones freed and replaced by a block of a
// new size; every 8th replacement is followed by 1..16 short-lived
// temporaries, allocated then freed in reverse. The total work is fixed
// and split over the threads.

enum { MT_SLOTS = 4096 };

typedef struct { int id; long ops; uint64_t sum; } mt_arg_t;

static void *mt_thread(void *argp) {
  mt_arg_t *a = argp;
  rng_t r = rng_seed(400 + (uint64_t)a->id);
  slot_t *s = xmalloc(sizeof(slot_t) * MT_SLOTS, "mixed-threads");
  slot_t tmp[16];
  uint64_t sum = 0;
  for (int i = 0; i < MT_SLOTS; i++) {
    s[i].n = rnd_log(&r, 8, 2048);
    s[i].tag = (uint32_t)rnd(&r);
    s[i].p = xmalloc(s[i].n, "mixed-threads");
    stamp(s[i].p, s[i].n, s[i].tag);
  }
  for (long k = 0; k < a->ops; k++) {
    slot_t *x = &s[rnd(&r) % MT_SLOTS];
    sum += check(x->p, x->n, x->tag, "mixed-threads");
    free(x->p);
    x->n = rnd_log(&r, 8, 2048);
    x->tag = (uint32_t)rnd(&r);
    x->p = xmalloc(x->n, "mixed-threads");
    stamp(x->p, x->n, x->tag);
    if ((k & 7) == 0) {
      int m = (int)rnd_range(&r, 1, 16);
      for (int j = 0; j < m; j++) {
        tmp[j].n = rnd_log(&r, 8, 2048);
        tmp[j].tag = (uint32_t)rnd(&r);
        tmp[j].p = xmalloc(tmp[j].n, "mixed-threads");
        stamp(tmp[j].p, tmp[j].n, tmp[j].tag);
      }
      for (int j = m - 1; j >= 0; j--) {
        sum += check(tmp[j].p, tmp[j].n, tmp[j].tag, "mixed-threads");
        free(tmp[j].p);
      }
    }
  }
  for (int i = 0; i < MT_SLOTS; i++) {
    sum += check(s[i].p, s[i].n, s[i].tag, "mixed-threads");
    free(s[i].p);
  }
  free(s);
  a->sum = sum;
  return NULL;
}

static int mixed_threads(void) {
  int t = g_threads;
  long ops = scaled(6000000) / t;
  mt_arg_t *args = calloc((size_t)t, sizeof(mt_arg_t));
  if (!args) fail("mixed-threads", "calloc returned NULL");
  for (int i = 0; i < t; i++) { args[i].id = i; args[i].ops = ops; }
  join(spawn(t, mt_thread, args, sizeof(mt_arg_t)), t);
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) sum += args[i].sum;
  printf("mixed-threads threads=%d ops=%ld check=%016llx\n", t, ops * t, (unsigned long long)sum);
  free(args);
  return 0;
}

// ---------------------------------------------------------- server-churn
// A server's churn: each thread keeps 256 slots of blocks of 16 B..64 KiB
// (log-uniform; larger ones get a byte written per page) and replaces
// random ones. One replacement in 4 hands the old block, as a request
// object, to a random other thread through that thread's mutex-protected
// queue instead of freeing it; every thread takes its whole queue every 16
// replacements and frees what it finds. A queue holds at most 512 blocks:
// a sender finding it full empties its own queue and sleeps (g_room) until
// there is room or its own queue is half full (a cycle of waiters, each
// waiting on a full queue, always has one to wake; waking for each block
// cost a futex call per block). The total work is fixed and split over the
// threads.

enum { SC_SLOTS = 256, SC_EVERY = 4, SC_QUEUE = 512, SC_WAKE = SC_QUEUE / 2 };

typedef struct {
  pthread_mutex_t lock;
  lnode_t *head;
  int count; // read without the lock as a hint
  char pad[64];
} sc_queue_t;

typedef struct {
  int id;
  long ops;
  sc_queue_t *queues;
  int *finished;
  uint64_t sum, handed;
} sc_arg_t;

typedef struct { sc_queue_t *mine, *to; int *finished; } sc_wait_t;

// A sender may go on: room in the queue it sends to, or its own half full.
static int sc_can_send(void *arg) {
  sc_wait_t *w = arg;
  return __atomic_load_n(&w->to->count, __ATOMIC_ACQUIRE) < SC_QUEUE ||
         __atomic_load_n(&w->mine->count, __ATOMIC_ACQUIRE) >= SC_WAKE;
}

// A finished thread may go on: every thread finished, or its queue half full.
static int sc_can_finish(void *arg) {
  sc_wait_t *w = arg;
  return __atomic_load_n(w->finished, __ATOMIC_ACQUIRE) >= g_threads ||
         __atomic_load_n(&w->mine->count, __ATOMIC_ACQUIRE) >= SC_WAKE;
}

static uint64_t sc_drain(sc_queue_t *q) {
  if (!__atomic_load_n(&q->count, __ATOMIC_RELAXED)) return 0;
  pthread_mutex_lock(&q->lock);
  lnode_t *b = q->head;
  q->head = NULL;
  __atomic_store_n(&q->count, 0, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&q->lock);
  room_wake(); // a sender may be waiting for room
  uint64_t sum = 0;
  while (b) {
    lnode_t *next = b->next;
    sum += lfree(b, "server-churn");
    b = next;
  }
  return sum;
}

static void *sc_new(rng_t *r) {
  size_t n = rnd_log(r, 16, 65536);
  unsigned char *p = lnew(r, n, "server-churn");
  for (size_t off = 4096; off < n - 1; off += 4096) p[off] = (unsigned char)off;
  return p;
}

static void *sc_thread(void *argp) {
  sc_arg_t *a = argp;
  int t = g_threads;
  rng_t r = rng_seed(500 + (uint64_t)a->id);
  void **s = xmalloc(sizeof(void *) * SC_SLOTS, "server-churn");
  sc_queue_t *mine = &a->queues[a->id];
  uint64_t sum = 0, handed = 0;
  for (int i = 0; i < SC_SLOTS; i++) s[i] = sc_new(&r);
  for (long k = 1; k <= a->ops; k++) {
    void **x = &s[rnd(&r) % SC_SLOTS];
    if (rnd(&r) % SC_EVERY == 0) {
      int to = t == 1 ? 0 : (a->id + 1 + (int)(rnd(&r) % (uint64_t)(t - 1))) % t;
      sc_queue_t *q = &a->queues[to];
      while (__atomic_load_n(&q->count, __ATOMIC_ACQUIRE) >= SC_QUEUE) {
        sum += sc_drain(mine); // the receiver may be waiting on us
        if (q == mine) break;
        sc_wait_t w = {mine, q, a->finished};
        room_wait(sc_can_send, &w);
      }
      lnode_t *b = *x;
      pthread_mutex_lock(&q->lock);
      b->next = q->head;
      q->head = b;
      int count = q->count + 1;
      __atomic_store_n(&q->count, count, __ATOMIC_RELAXED);
      pthread_mutex_unlock(&q->lock);
      // Only its owner empties a queue: it waits on this one while it
      // holds fewer than SC_WAKE blocks, so the send that reaches SC_WAKE
      // is the one to wake it.
      if (count == SC_WAKE) room_wake();
      handed++;
    } else {
      sum += lfree(*x, "server-churn");
    }
    *x = sc_new(&r);
    if ((k & 15) == 0) sum += sc_drain(mine);
  }
  for (int i = 0; i < SC_SLOTS; i++) sum += lfree(s[i], "server-churn");
  free(s);
  __atomic_add_fetch(a->finished, 1, __ATOMIC_ACQ_REL);
  room_wake();
  sc_wait_t w = {mine, mine, a->finished};
  while (__atomic_load_n(a->finished, __ATOMIC_ACQUIRE) < t) {
    sum += sc_drain(mine);
    room_wait(sc_can_finish, &w);
  }
  sum += sc_drain(mine);
  a->sum = sum;
  a->handed = handed;
  return NULL;
}

static int server_churn(void) {
  int t = g_threads;
  long ops = scaled(1200000) / t;
  sc_queue_t *queues = xmalloc(sizeof(sc_queue_t) * (size_t)t, "server-churn");
  sc_arg_t *args = xmalloc(sizeof(sc_arg_t) * (size_t)t, "server-churn");
  int finished = 0;
  for (int i = 0; i < t; i++) {
    pthread_mutex_init(&queues[i].lock, NULL);
    queues[i].head = NULL;
    queues[i].count = 0;
    args[i] = (sc_arg_t){i, ops, queues, &finished, 0, 0};
  }
  join(spawn(t, sc_thread, args, sizeof(sc_arg_t)), t);
  uint64_t sum = 0, handed = 0;
  for (int i = 0; i < t; i++) { sum += args[i].sum; handed += args[i].handed; }
  // Every tag is counted once, by whichever thread frees its block, and the
  // handed count is the senders': neither depends on the scheduling.
  printf("server-churn threads=%d ops=%ld handed=%llu check=%016llx\n", t, ops * t,
         (unsigned long long)handed, (unsigned long long)sum);
  free(queues);
  free(args);
  return 0;
}

// -------------------------------------------------------- mixed-lifetime
// Single thread, one allocation per step: 60% short-lived blocks (freed
// 1..8 steps later), 39% medium (100..1000 steps later), 1% long-lived
// (kept to the end); sizes 80% 16..256 B, 17% 256 B..4 KiB, 3% 4..32 KiB.
// Blocks due at a step are kept in a timing wheel (lists threaded through
// the blocks) and freed at that step, most recently allocated first.

static int mixed_lifetime(void) {
  enum { WHEEL = 1024 };
  rng_t r = rng_seed(9);
  long steps = scaled(5000000);
  lnode_t *wheel[WHEEL] = {0};
  long nlong = 0, cap = 1024;
  void **longs = xmalloc(sizeof(void *) * (size_t)cap, "mixed-lifetime");
  uint64_t sum = 0, nshort = 0, nmedium = 0;
  for (long k = 0; k < steps; k++) {
    lnode_t *b = wheel[k % WHEEL];
    wheel[k % WHEEL] = NULL;
    while (b) {
      lnode_t *next = b->next;
      sum += lfree(b, "mixed-lifetime");
      b = next;
    }
    unsigned c = (unsigned)(rnd(&r) % 100);
    size_t n = c < 80 ? rnd_range(&r, 16, 256) : c < 97 ? rnd_range(&r, 256, 4096) : rnd_range(&r, 4096, 32768);
    lnode_t *p = lnew(&r, n, "mixed-lifetime");
    unsigned life = (unsigned)(rnd(&r) % 100);
    long due;
    if (life < 60) { due = k + (long)rnd_range(&r, 1, 8); nshort++; }
    else if (life < 99) { due = k + (long)rnd_range(&r, 100, 1000); nmedium++; }
    else {
      if (nlong == cap) {
        cap *= 2;
        void **g = realloc(longs, sizeof(void *) * (size_t)cap);
        if (!g) fail("mixed-lifetime", "realloc returned NULL");
        longs = g;
      }
      longs[nlong++] = p;
      continue;
    }
    p->next = wheel[due % WHEEL];
    wheel[due % WHEEL] = p;
  }
  for (int i = 0; i < WHEEL; i++) {
    lnode_t *b = wheel[(steps + i) % WHEEL];
    while (b) {
      lnode_t *next = b->next;
      sum += lfree(b, "mixed-lifetime");
      b = next;
    }
  }
  for (long i = 0; i < nlong; i++) sum += lfree(longs[i], "mixed-lifetime");
  free(longs);
  printf("mixed-lifetime steps=%ld short=%llu medium=%llu long=%ld check=%016llx\n", steps,
         (unsigned long long)nshort, (unsigned long long)nmedium, nlong, (unsigned long long)sum);
  return 0;
}

// ----------------------------------------------------------------- spawn
// Not a workload: the launcher bench/run.py measures every run through.
//
//   workloads spawn REPORT PRELOAD|- PROGRAM [ARGS...]
//
// forks, sets LD_PRELOAD in the child (unless "-") and execs PROGRAM, waits
// with wait4 and writes "seconds maxrss_kib cpu_seconds exit_code" to
// REPORT. Linux folds the RSS a process had before exec into its ru_maxrss,
// so a child forked straight from the (20 MiB) Python interpreter would
// never report less than that; this launcher is small.

#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int spawn_cmd(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: workloads spawn REPORT PRELOAD|- PROGRAM [ARGS...]\n");
    return 64;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) { perror("workloads: fork"); return 70; }
  if (pid == 0) {
    if (strcmp(argv[3], "-") != 0) setenv("LD_PRELOAD", argv[3], 1);
    else unsetenv("LD_PRELOAD");
    execvp(argv[4], argv + 4);
    perror("workloads: exec");
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) { perror("workloads: wait4"); return 70; }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(argv[2], "w");
  if (!f) { perror("workloads: report"); return 70; }
  fprintf(f, "%.6f %ld %.6f %d\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
          ru.ru_maxrss,
          (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6,
          code);
  fclose(f);
  return 0;
}

// ---------------------------------------------------------- many-threads
// A footprint probe, not in the bench's suite (run by hand, peak RSS from
// /usr/bin/time): THREADS threads each allocate 100 x SCALE blocks of
// 16 B..1 KiB, free every other one, and wait until every thread has done
// so, then free the rest: the memory a pool of lightly used threads costs
// beyond its blocks.

static pthread_barrier_t mth_barrier;

typedef struct { int id; uint64_t sum; } mth_arg_t;

static void *mth_thread(void *argp) {
  mth_arg_t *a = argp;
  rng_t r = rng_seed(500 + (uint64_t)a->id);
  long n = scaled(100);
  slot_t *s = xmalloc(sizeof(slot_t) * (size_t)n, "many-threads");
  uint64_t sum = 0;
  for (long i = 0; i < n; i++) {
    s[i].n = rnd_range(&r, 16, 1024);
    s[i].tag = (uint32_t)rnd(&r);
    s[i].p = xmalloc(s[i].n, "many-threads");
    memset(s[i].p, 1, s[i].n);
    stamp(s[i].p, s[i].n, s[i].tag);
  }
  for (long i = 0; i < n; i += 2) { sum += check(s[i].p, s[i].n, s[i].tag, "many-threads"); free(s[i].p); }
  pthread_barrier_wait(&mth_barrier);
  for (long i = 1; i < n; i += 2) { sum += check(s[i].p, s[i].n, s[i].tag, "many-threads"); free(s[i].p); }
  free(s);
  a->sum = sum;
  return NULL;
}

static int many_threads(void) {
  int t = g_threads;
  mth_arg_t *args = calloc((size_t)t, sizeof(mth_arg_t));
  if (!args) fail("many-threads", "calloc returned NULL");
  if (pthread_barrier_init(&mth_barrier, NULL, (unsigned)t)) fail("many-threads", "pthread_barrier_init failed");
  for (int i = 0; i < t; i++) args[i].id = i;
  join(spawn(t, mth_thread, args, sizeof(mth_arg_t)), t);
  uint64_t sum = 0;
  for (int i = 0; i < t; i++) sum = mix(sum, args[i].sum);
  printf("many-threads threads=%d blocks=%ld check=%016llx\n", t, scaled(100) * t, (unsigned long long)sum);
  pthread_barrier_destroy(&mth_barrier);
  free(args);
  return 0;
}

// ------------------------------------------------------------------ main

static const struct { const char *name; int (*fn)(void); } workloads[] = {
  {"churn-lifo", churn_lifo},   {"churn-random", churn_random}, {"larson", larson},
  {"xmalloc", xmalloc_test},    {"cache-scratch", cache_scratch}, {"realloc-grow", realloc_grow},
  {"aligned", aligned},         {"large", large},               {"leak-grow", leak_grow},
  {"burst", burst},             {"mixed-threads", mixed_threads}, {"server-churn", server_churn},
  {"mixed-lifetime", mixed_lifetime}, {"many-threads", many_threads},
};

int main(int argc, char **argv) {
  size_t n = sizeof(workloads) / sizeof(workloads[0]);
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [THREADS] [SCALE]\nworkloads:", argv[0]);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %s", workloads[i].name);
    fprintf(stderr, "\n");
    return 64;
  }
  if (!strcmp(argv[1], "spawn")) return spawn_cmd(argc, argv);
  if (argc > 2) g_threads = atoi(argv[2]);
  if (argc > 3) g_scale = atof(argv[3]);
  if (g_threads < 1 || g_threads > 1024 || !(g_scale > 0)) {
    fprintf(stderr, "workloads: bad THREADS or SCALE\n");
    return 64;
  }
  for (size_t i = 0; i < n; i++)
    if (!strcmp(argv[1], workloads[i].name)) return workloads[i].fn();
  fprintf(stderr, "workloads: unknown workload %s\n", argv[1]);
  return 64;
}
