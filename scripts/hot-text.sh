#!/usr/bin/env bash
# Rewrites scripts/hot-text.txt, the functions scripts/build-lib.sh lays out
# first in the library's text: those a small program runs. Each training
# program runs under callgrind with the library preloaded; every function
# of the library that executed an instruction is listed, demangled as
# `swift demangle --simplified` prints it (the form build-lib.sh matches).
# First the ones a program doing one malloc(100) runs (boot, the first
# allocation, exit), then those the bench workloads churn-lifo,
# cache-scratch, xmalloc and churn-random add with two threads (refills,
# flushes, frees to the arena, decay, thread exit, the background thread).
# Not purging: a run shorter than the decay time (10 s) never purges, and
# whether a profile reaches it depends on valgrind's timing.
# Each group in symbol order, so the file diffs well.
#
# usage: scripts/hot-text.sh       (needs valgrind; builds the library first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "hot-text.sh: needs valgrind" >&2; exit 1; }
# One text segment: valgrind reads the symbols of only one executable
# segment per object (build-lib.sh); the normal build again at the end.
SWALLOC_NO_HOT_TEXT=1 scripts/build-lib.sh >/dev/null
lib=$(readlink -f "$root/.build/release/libswalloc.so")   # callgrind names objects by their real path
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <stdlib.h>\nint main(void) { void *volatile p = malloc(100); free(p); return 0; }\n' > "$tmp/one.c"
gcc -O2 -o "$tmp/one" "$tmp/one.c"
gcc -O2 -pthread -o "$tmp/workloads" bench/workloads.c -lm

# The library's functions in one callgrind profile (names uncompressed).
functions() {
  awk -v lib="$lib" '
    /^ob=/ { ob = substr($0, 4) }
    /^fn=/ && ob == lib { name = substr($0, 4); sub(/'"'"'[0-9]+$/, "", name); if (name !~ /^0x/) print name }' "$1"
}
run() {
  local out=$1; shift
  LD_PRELOAD=$lib valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out" "$@" >/dev/null 2>&1
}
run "$tmp/cg.one" "$tmp/one"
functions "$tmp/cg.one" | sort -u > "$tmp/one.txt"
for w in churn-lifo cache-scratch xmalloc churn-random; do
  run "$tmp/cg.$w" "$tmp/workloads" "$w" 2 1
  functions "$tmp/cg.$w"
done | sort -u | comm -23 - "$tmp/one.txt" > "$tmp/more.txt"
demangle=$(dirname "$(command -v swiftc)")/swift-demangle
# Functions a small threaded program runs or not depending on how its
# threads' timing falls (a lock found held), which valgrind's serialized
# threads may not show: listed whenever the library has them, so that the
# layout does not depend on the profile's luck (one run without
# mutexLockContended left it in .text, where one contended lock made the
# 64 KiB around it resident).
timing=("mutexLockContended(_:)")
nm --defined-only "$lib" | awk '$2 ~ /^[tT]$/ {print $3}' | "$demangle" --simplified | sort -u > "$tmp/all.txt"
{
  echo "# Written by scripts/hot-text.sh: the library's functions a small program"
  echo "# runs, laid out first in its text by scripts/build-lib.sh."
  echo "# malloc(100), free, exit:"
  "$demangle" --simplified < "$tmp/one.txt" | awk '!seen[$0]++'
  echo "# added by bench workloads churn-lifo, cache-scratch, xmalloc, churn-random (2 threads):"
  "$demangle" --simplified < "$tmp/more.txt" | awk '!seen[$0]++'
} > "$tmp/hot.txt"
{
  cat "$tmp/hot.txt"
  echo "# run or not depending on the threads' timing:"
  for name in "${timing[@]}"; do
    if grep -qxF "$name" "$tmp/all.txt" && ! grep -qxF "$name" "$tmp/hot.txt"; then echo "$name"; fi
  done
} > scripts/hot-text.txt
echo "wrote scripts/hot-text.txt ($(grep -vc '^#' scripts/hot-text.txt) functions)"
scripts/build-lib.sh >/dev/null
