/* gcc_prog.c - compiled and run by gcc_work.sh (as prog.c): a sieve, qsort,
 * many small strings; prints one deterministic line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}
int main(void) {
    enum { N = 2000000, M = 300000 };
    char *sieve = calloc(N + 1, 1);
    unsigned long primes = 0, psum = 0;
    for (unsigned long i = 2; i <= N; i++) {
        if (sieve[i]) continue;
        primes++; psum += i;
        for (unsigned long j = i * i; j <= N; j += i) sieve[j] = 1;
    }
    unsigned *v = malloc(M * sizeof *v), x = 12345;
    for (int i = 0; i < M; i++) { x = x * 1103515245u + 12345u; v[i] = x >> 3; }
    qsort(v, M, sizeof *v, cmp);
    unsigned long h = 0;
    for (int i = 0; i < M; i += 997) h = h * 31 + v[i];
    char **strs = malloc(10000 * sizeof *strs);
    size_t total = 0;
    for (int i = 0; i < 10000; i++) {
        strs[i] = malloc(1 + i % 300);
        memset(strs[i], 'a' + i % 26, i % 300);
        strs[i][i % 300] = 0;
        total += strlen(strs[i]);
    }
    for (int i = 0; i < 10000; i++) free(strs[i]);
    free(strs); free(v); free(sieve);
    printf("primes %lu sum %lu hash %lu strings %zu\n", primes, psum, h, total);
    return 0;
}
