// config_debug: prints mallctl("config.debug") of the library it runs under
// (1: the internal invariants are checked); exit 2 when there is no mallctl
// (tests/debug-build/run.sh).
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
int main(void) {
  int (*ctl)(const char *, void *, size_t *, void *, size_t) =
      (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
  bool on = false;
  size_t len = sizeof on;
  if (!ctl || ctl("config.debug", &on, &len, NULL, 0) != 0) return 2;
  printf("%d\n", on);
  return 0;
}
