// secure_env: linked against the library (a setuid program ignores
// LD_PRELOAD), installed setuid root by tests/options/run.sh and run by an
// unprivileged user: the options it sees. Prints
//   "secure AT_SECURE narenas PROF_PREFIX"
// and exits 0.
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

int main(void) {
  unsigned narenas = 0;
  size_t len = sizeof narenas;
  const char *prefix = NULL;
  if (mallctl("opt.narenas", &narenas, &len, NULL, 0) != 0) { puts("FAIL opt.narenas"); return 1; }
  len = sizeof prefix;
  if (mallctl("opt.prof_prefix", &prefix, &len, NULL, 0) != 0) { puts("FAIL opt.prof_prefix"); return 1; }
  free(malloc(100));
  printf("secure %lu %u %s\n", getauxval(AT_SECURE), narenas, prefix ? prefix : "-");
  return 0;
}
