/*
 * fork_threads.c - fork() from a multi-threaded process whose threads are
 * busy in malloc/free; the children must be able to use (and free) memory.
 *
 * Build: gcc -std=gnu11 -O1 -g -pthread -I../lib -o fork_threads fork_threads.c
 * Run:   ./fork_threads [FORKS=50]
 *
 * 4 worker threads allocate/free in a loop while the main thread forks
 * FORKS times. Each child (alarm(10), so a deadlock on an allocator lock
 * held at fork time shows up as SIGALRM, not a hang):
 *   - verifies and frees blocks the parent's main thread allocated before
 *     the fork,
 *   - mallocs/frees a few hundred blocks of assorted sizes (incl. calloc,
 *     realloc, posix_memalign, 1-2 MiB blocks),
 *   - starts a thread that allocates too,
 *   - _exit(0)s.
 * The parent has alarm(60). Prints "fork ok" on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static atomic_int stop;

/* Patterns cover the first and last 4 KiB of a block (whole block if small),
 * which keeps MiB-sized blocks cheap. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t head = n < 4096 ? n : 4096;
    size_t tail = n > 8192 ? n - 4096 : head;
    for (size_t i = 0; i < head; i++)
        p[i] = (unsigned char)(seed + i * 13);
    for (size_t i = tail; i < n; i++)
        p[i] = (unsigned char)(seed + i * 13);
}

static int ok(const unsigned char *p, size_t n, unsigned seed)
{
    size_t head = n < 4096 ? n : 4096;
    size_t tail = n > 8192 ? n - 4096 : head;
    for (size_t i = 0; i < head; i++)
        if (p[i] != (unsigned char)(seed + i * 13))
            return 0;
    for (size_t i = tail; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 13))
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v)
            return 0;
    }
    for (; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static size_t some_size(uint64_t *r)
{
    uint64_t k = xs(r) % 100;
    if (k < 70)
        return 1 + xs(r) % 512;
    if (k < 97)
        return 513 + xs(r) % 70000;
    return (1u << 20) + xs(r) % (1u << 20);
}

static void *busy(void *arg)
{
    uint64_t r = 0x1234567ull * ((uintptr_t)arg + 1);
    enum { N = 256 };
    unsigned char *v[N] = {0};
    size_t n[N] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int i = xs(&r) % N;
        if (v[i]) {
            if (!ok(v[i], n[i] < 64 ? n[i] : 64, i)) {
                fprintf(stderr, "fork_threads: parent worker block corrupted\n");
                abort();
            }
            f_free(v[i]);
            v[i] = NULL;
        } else {
            /* no MiB-sized blocks here: mmap/munmap churn in the workers
             * makes every fork (and COW fault) very slow */
            n[i] = some_size(&r);
            if (n[i] > 70000)
                n[i] = 70000;
            if (xs(&r) % 8 == 0)
                n[i] = 8 + xs(&r) % 64; /* hammer the small-size paths */
            v[i] = (xs(&r) % 4 == 0) ? f_calloc(1, n[i]) : f_malloc(n[i]);
            if (!v[i]) {
                fprintf(stderr, "fork_threads: parent worker malloc failed\n");
                abort();
            }
            fill(v[i], n[i] < 64 ? n[i] : 64, i);
        }
    }
    for (int i = 0; i < N; i++)
        f_free(v[i]);
    return NULL;
}

enum { PARENT_BLOCKS = 64 };
static unsigned char *pblk[PARENT_BLOCKS];
static size_t psz[PARENT_BLOCKS];

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (i * 97) % 5000;
        unsigned char *p = f_malloc(n);
        if (!p)
            return (void *)1;
        fill(p, n, i);
        if (!ok(p, n, i))
            return (void *)1;
        f_free(p);
    }
    return NULL;
}

static int child_main(int k)
{
    uint64_t r = 0xfeedull + k;
    /* parent's main-thread blocks are stable across the fork */
    for (int i = 0; i < PARENT_BLOCKS; i++) {
        if (!ok(pblk[i], psz[i], i)) {
            fprintf(stderr, "fork_threads child %d: inherited block %d corrupted\n", k, i);
            return 1;
        }
        if (i % 2 == 0)
            f_free(pblk[i]);
        else {
            pblk[i] = f_realloc(pblk[i], psz[i] * 2 + 1);
            if (!pblk[i] || !ok(pblk[i], psz[i], i)) {
                fprintf(stderr, "fork_threads child %d: realloc of inherited block failed\n", k);
                return 1;
            }
            f_free(pblk[i]);
        }
    }
    enum { N = 300 };
    unsigned char *v[N];
    size_t n[N];
    for (int i = 0; i < N; i++) {
        n[i] = some_size(&r);
        int how = i % 4;
        if (how == 0)
            v[i] = f_malloc(n[i]);
        else if (how == 1) {
            v[i] = f_calloc(1, n[i]);
            if (v[i] && !all_zero(v[i], n[i])) {
                fprintf(stderr, "fork_threads child %d: calloc not zero\n", k);
                return 1;
            }
        } else if (how == 2) {
            void *p = NULL;
            v[i] = f_posix_memalign(&p, 64, n[i]) == 0 ? p : NULL;
            if (v[i] && ((uintptr_t)v[i] & 63)) {
                fprintf(stderr, "fork_threads child %d: misaligned\n", k);
                return 1;
            }
        } else {
            v[i] = f_realloc(f_malloc(7), n[i]);
        }
        if (!v[i]) {
            fprintf(stderr, "fork_threads child %d: allocation of %zu failed\n", k, n[i]);
            return 1;
        }
        fill(v[i], n[i], i);
    }
    for (int i = 0; i < N; i++) {
        if (!ok(v[i], n[i], i)) {
            fprintf(stderr, "fork_threads child %d: block %d corrupted\n", k, i);
            return 1;
        }
        f_free(v[i]);
    }
    pthread_t t;
    void *res = (void *)1;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &res) != 0 || res != NULL) {
        fprintf(stderr, "fork_threads child %d: thread in child failed\n", k);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 50;
    alarm(60);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&th[i], NULL, busy, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "fork_threads: pthread_create failed\n");
            return 1;
        }
    int failures = 0;
    uint64_t r = 42;
    for (int k = 0; k < forks; k++) {
        for (int i = 0; i < PARENT_BLOCKS; i++) {
            psz[i] = some_size(&r);
            pblk[i] = f_malloc(psz[i]);
            if (!pblk[i]) {
                fprintf(stderr, "fork_threads: malloc failed\n");
                return 1;
            }
            fill(pblk[i], psz[i], i);
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "fork_threads: fork: %s\n", strerror(errno));
            failures++;
            break;
        }
        if (pid == 0) {
            alarm(10);
            _exit(child_main(k));
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failures++;
            if (WIFSIGNALED(st))
                fprintf(stderr, "fork_threads: child %d killed by signal %d (%s)%s\n", k, WTERMSIG(st),
                        strsignal(WTERMSIG(st)), WTERMSIG(st) == SIGALRM ? " - deadlock after fork?" : "");
            else
                fprintf(stderr, "fork_threads: child %d exited with %d\n", k, WEXITSTATUS(st));
        }
        for (int i = 0; i < PARENT_BLOCKS; i++) {
            if (!ok(pblk[i], psz[i], i)) {
                fprintf(stderr, "fork_threads: parent block %d corrupted after fork\n", i);
                failures++;
            }
            f_free(pblk[i]);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    if (failures) {
        fprintf(stderr, "fork_threads: %d of %d children failed\n", failures, forks);
        printf("fork FAILED\n");
        return 1;
    }
    printf("fork ok\n");
    return 0;
}
