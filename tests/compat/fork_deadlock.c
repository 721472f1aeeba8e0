// fork() in the two situations where an allocator's fork handlers can
// deadlock (the runner runs each under a timeout; a hang is the failure):
//
//   fork_deadlock stdio N    threads read lines with getline (holding a
//                            FILE lock while getdelim allocates), flush
//                            every stream with fflush(NULL) (holding the
//                            stream list lock while taking each FILE lock),
//                            and allocate, while the main thread forks N
//                            times. An allocator whose prepare handler takes
//                            its locks before fork takes the stream list
//                            lock deadlocks: forker -> list lock -> fflush
//                            thread -> FILE lock -> getline thread ->
//                            allocator lock -> forker.
//   fork_deadlock signal N   a single-threaded process allocating and
//                            freeing sizes up to 70000 bytes is interrupted
//                            N times by a signal whose handler forks (a
//                            helper process sends the signals). A prepare
//                            handler that waits for a lock its own
//                            interrupted thread holds never returns.
//
// Each child allocates a little (the heap must be usable there) and exits.
// Prints "ok ..." and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static atomic_int stop;

static void wait_child(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) { perror("waitpid"); abort(); }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed (status %d)\n", status);
    abort();
  }
}

// MARK: stdio

static void *reader(void *arg) {
  FILE *lines = arg;
  while (!atomic_load(&stop)) {
    // A fresh buffer every line: getdelim calls malloc (and realloc) while
    // it holds the stream's lock.
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, lines) < 0) { clearerr(lines); rewind(lines); }
    f_free(line);
    // Unlocked now: let the flushers have the stream (glibc's locks are not
    // fair; without this a reader can starve them, and the forker with them).
    sched_yield();
  }
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) { fflush(NULL); sched_yield(); }
  return NULL;
}

static void *allocator(void *arg) {
  uint64_t seed = (uintptr_t)arg * 7919 + 1;
  void *keep[64] = {0};
  while (!atomic_load(&stop)) {
    int i = (int)(xs(&seed) % 64);
    f_free(keep[i]);
    keep[i] = f_malloc(1 + xs(&seed) % 40000);
  }
  for (int i = 0; i < 64; i++) f_free(keep[i]);
  return NULL;
}

static int stdio_case(int forks) {
  FILE *files[2];
  for (int f = 0; f < 2; f++) {
    files[f] = tmpfile();
    if (!files[f]) { perror("tmpfile"); return 1; }
    for (int i = 0; i < 2000; i++) fprintf(files[f], "line %d of a file read again and again by getline\n", i);
    rewind(files[f]);
  }
  pthread_t t[6];
  pthread_create(&t[0], NULL, reader, files[0]);
  pthread_create(&t[1], NULL, reader, files[1]);
  pthread_create(&t[2], NULL, flusher, NULL);
  pthread_create(&t[3], NULL, flusher, NULL);
  pthread_create(&t[4], NULL, allocator, (void *)1);
  pthread_create(&t[5], NULL, allocator, (void *)2);
  for (int i = 0; i < forks; i++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      // The child's heap and stdio work.
      char *p = f_malloc(100 + (size_t)i);
      snprintf(p, 100, "%d", i);
      f_free(p);
      _exit(0);
    }
    wait_child(pid);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  printf("ok stdio (%d forks)\n", forks);
  return 0;
}

// MARK: signal

static volatile sig_atomic_t in_handler_forks;

static void on_signal(int sig) {
  (void)sig;
  pid_t pid = fork();
  if (pid < 0) { static const char m[] = "fork failed\n"; write(2, m, sizeof m - 1); abort(); }
  // POSIX allows the child of a fork from a signal handler only
  // async-signal-safe calls; it exits at once, as glibc's test's does.
  if (pid == 0) _exit(0);
  int status;
  while (waitpid(pid, &status, 0) < 0) {}
  in_handler_forks++;
}

static int signal_case(int signals) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  pid_t parent = getpid();
  pid_t sender = fork();
  if (sender == 0) {
    // A signal after a random pause of up to 400 us, so that they land at
    // random points of the allocation loop (one every few hundred calls).
    uint64_t s = 99;
    for (;;) {
      if (kill(parent, SIGUSR1) != 0) _exit(0);
      struct timespec pause = {0, (long)(xs(&s) % 400000)};
      nanosleep(&pause, NULL);
    }
  }
  static void *objects[1009];
  uint64_t seed = 12345;
  long operations = 0;
  while (in_handler_forks < signals) {
    int slot = (int)(xs(&seed) % 1009);
    f_free(objects[slot]);
    objects[slot] = f_malloc(xs(&seed) % 70000);
    operations++;
  }
  signal(SIGUSR1, SIG_IGN);
  kill(sender, SIGKILL);
  waitpid(sender, NULL, 0);
  for (int i = 0; i < 1009; i++) f_free(objects[i]);
  printf("ok signal (%d forks from the handler, %ld allocations)\n", (int)in_handler_forks, operations);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "stdio")) return stdio_case(atoi(argv[2]));
  if (argc == 3 && !strcmp(argv[1], "signal")) return signal_case(atoi(argv[2]));
  fprintf(stderr, "usage: fork_deadlock stdio|signal N\n");
  return 2;
}
