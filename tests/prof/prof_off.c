// prof_off: without prof:true, prof.dump answers EFAULT, config.prof is true
// (profiling is built) and opt.prof false; prints "ok ..." or "FAIL ..."
// (tests/prof/run.sh, the "off" check; linked with -lswalloc).
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
int mallctl(const char *, void *, size_t *, void *, size_t);
int main(void) {
  bool b = false; size_t len = 1;
  const char *p = NULL;
  int dump = mallctl("prof.dump", NULL, NULL, &p, sizeof p);
  int cfg = mallctl("config.prof", &b, &len, NULL, 0);
  bool on = true; len = 1;
  int opt = mallctl("opt.prof", &on, &len, NULL, 0);
  printf("%s dump=%d config=%d/%d opt=%d/%d\n", dump == EFAULT && cfg == 0 && b && opt == 0 && !on ? "ok" : "FAIL",
         dump, cfg, b, opt, on);
  return 0;
}
