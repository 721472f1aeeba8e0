/*
 * footprint.c - the small program of the library's text-footprint check
 * (scripts/check-library.sh) and one of the profiles its layout is made
 * from (scripts/hot-text.sh): two threads malloc and free blocks, then
 * bursts of one size (refills, flushes to the slabs, slabs emptied, the
 * thread cache's collector visits: the 1000 blocks alone missed the
 * collector, which scripts/hot-text.txt then lacked for a session, leaving
 * 72 KiB of the other text resident in bench churn-lifo). With a second
 * argument it also runs what most programs add (realloc up to huge sizes
 * and back, calloc, aligned allocation, malloc_usable_size, malloc_trim):
 * the code of scripts/warm-text.txt. At exit it prints the Rss (KiB) of
 * every executable mapping of the library named by its first argument, in
 * address order, then "/" and the Rss of its other file mappings together
 * (symbols and .rodata, RELRO, .data).
 *
 * usage: LD_PRELOAD=libswalloc.so footprint LIBNAME [warm]
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *work(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(16 + i % 2000);
        p[0] = 1;
        free(p);
    }
    static __thread void *burst[512];
    for (int k = 0; k < 40; k++) {
        size_t size = 16 + (size_t)(k * 37) % 1000;
        for (int i = 0; i < 512; i++) {
            burst[i] = malloc(size);
            *(char *)burst[i] = 1;
        }
        for (int i = 0; i < 512; i++) free(burst[i]);
    }
    return arg;
}

static void warm(void)
{
    void *volatile keep[8];
    for (int round = 0; round < 4; round++) {
        /* Grown through every class to 8 MiB (moved, resized in place, and
         * remapped once huge), with other blocks placed in between. */
        char *p = NULL;
        for (size_t n = 8; n <= (8u << 20); n *= 2) {
            p = realloc(p, n);
            p[n - 1] = 1;
            keep[round & 7] = malloc(n / 2 + 1);
            free(keep[round & 7]);
        }
        p = realloc(p, 300000);
        free(realloc(p, 100));
        free(calloc(100, 10));
        free(calloc(1, 300000));
        free(calloc(1, 5u << 20));
        free(aligned_alloc(64, 640));
        void *q;
        if (posix_memalign(&q, 4096, 20000) == 0) free(q);
        free(memalign(256, 100));
        q = malloc(3000);
        free(malloc(malloc_usable_size(q)));
        free(q);
    }
    malloc_trim(0);
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    work(NULL);
    pthread_join(t, NULL);
    if (argc > 2) warm();
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 1;
    char line[512];
    int exec = 0, other = 0, other_kib = 0;
    while (fgets(line, sizeof line, f)) {
        char perms[8];
        if (sscanf(line, "%*x-%*x %7s", perms) == 1 && strchr(line, '/')) {
            int ours = strstr(line, argv[1]) != NULL;
            exec = ours && perms[2] == 'x';
            other = ours && perms[2] != 'x';
        } else if (sscanf(line, "%*x-%*x %7s", perms) == 1) {
            exec = other = 0;   /* an anonymous mapping (.bss past the file) */
        } else if (exec && strncmp(line, "Rss:", 4) == 0) {
            printf("%d ", atoi(line + 4));
        } else if (other && strncmp(line, "Rss:", 4) == 0) {
            other_kib += atoi(line + 4);
        }
    }
    printf("/ %d\n", other_kib);
    fclose(f);
    return 0;
}
