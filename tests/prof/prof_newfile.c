// prof_newfile: a dump under a name swalloc makes (PREFIX.PID.SEQ.heap, run
// with prof:true,prof_prefix:DIR/p) never follows a symbolic link and never
// writes over an existing file; the next sequence number, free, is written.
// Prints "ok ..." and exits 0, or "FAIL ...".
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static int dump(void) {
  const char *path = NULL;
  return mallctl("prof.dump", NULL, NULL, &path, sizeof path);
}

static int holds(const char *path, const char *text) {
  char buf[64] = {0};
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  return n == strlen(text) && memcmp(buf, text, n) == 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { puts("usage: prof_newfile DIR"); return 2; }
  const char *dir = argv[1];
  char target[512], name0[512], name1[512], name2[512];
  snprintf(target, sizeof target, "%s/target", dir);
  snprintf(name0, sizeof name0, "%s/p.%d.0.heap", dir, (int)getpid());
  snprintf(name1, sizeof name1, "%s/p.%d.1.heap", dir, (int)getpid());
  snprintf(name2, sizeof name2, "%s/p.%d.2.heap", dir, (int)getpid());
  FILE *f = fopen(target, "w");
  if (!f) { puts("FAIL cannot make the target"); return 1; }
  fputs("precious", f);
  fclose(f);
  free(malloc(1 << 20));
  // Sequence 0: a symbolic link to the target.
  if (symlink(target, name0) != 0) { puts("FAIL symlink"); return 1; }
  int rc = dump();
  if (rc == 0 || !holds(target, "precious")) { printf("FAIL through a symbolic link: rc %d\n", rc); return 1; }
  // Sequence 1: a file someone made.
  f = fopen(name1, "w");
  fputs("theirs", f);
  fclose(f);
  rc = dump();
  if (rc == 0 || !holds(name1, "theirs")) { printf("FAIL over an existing file: rc %d\n", rc); return 1; }
  // Sequence 2: free, written.
  rc = dump();
  struct stat st;
  if (rc != 0 || stat(name2, &st) != 0 || st.st_size == 0) { printf("FAIL a new name: rc %d\n", rc); return 1; }
  puts("ok (a link and an existing file refused, a new name written)");
  return 0;
}
