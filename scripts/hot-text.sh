#!/usr/bin/env bash
# Rewrites scripts/hot-text.txt, the functions scripts/build-lib.sh lays out
# first in the library's text: those a small program runs; and
# scripts/warm-text.txt, those most programs add (laid out as a segment of
# their own after the rest). Each training program runs under callgrind
# with the library preloaded; every function of the library that executed
# an instruction is listed, demangled as `swift demangle --simplified`
# prints it (the form build-lib.sh matches). Hot: first the ones a program
# doing one malloc(100) runs (boot, the first allocation, exit), then those
# scripts/footprint.c and the bench workloads churn-lifo, cache-scratch,
# xmalloc and churn-random add with two threads (refills, flushes, frees to
# the arena, the collector, decay, thread exit, the background thread), and
# those that run or not with the threads' timing. Warm: what footprint.c's
# warm mode and the other workloads add. Purging is left to whether a
# profile reaches it (valgrind's timing against the decay time).
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
gcc -O2 -pthread -o "$tmp/footprint" scripts/footprint.c
run "$tmp/cg.one" "$tmp/one"
functions "$tmp/cg.one" | sort -u > "$tmp/one.txt"
{
  run "$tmp/cg.footprint" "$tmp/footprint" libswalloc
  functions "$tmp/cg.footprint"
  for w in churn-lifo cache-scratch xmalloc churn-random; do
    run "$tmp/cg.$w" "$tmp/workloads" "$w" 2 1
    functions "$tmp/cg.$w"
  done
} | sort -u | comm -23 - "$tmp/one.txt" > "$tmp/more.txt"
demangle=$(dirname "$(command -v swiftc)")/swift-demangle
# Functions a small threaded program runs or not depending on how its
# threads' timing falls (a lock found held), which valgrind's serialized
# threads may not show: listed whenever the library has them, so that the
# layout does not depend on the profile's luck (one run without
# mutexLockContended left it in .text, where one contended lock made the
# 64 KiB around it resident), and those that run or not depending on where
# the kernel put the mappings: freeAnyRoot, a free outside the hot leaf's
# 512 GiB (bench/workloads' thread stacks under valgrind's layout, or not).
timing=("mutexLockContended(_:)" "freeAnyRoot(_:)")
nm --defined-only "$lib" | awk '$2 ~ /^[tT]$/ {print $3}' | "$demangle" --simplified | sort -u > "$tmp/all.txt"
# unlisted NAME... -- FILE...: the NAMEs the library has that none of the
# FILEs lists (the timing groups below).
unlisted() {
  local names=()
  while [ "$1" != -- ]; do names+=("$1"); shift; done
  shift
  local name
  for name in "${names[@]}"; do
    if grep -qxF "$name" "$tmp/all.txt" && ! grep -qxF "$name" "$@"; then echo "$name"; fi
  done
}
{
  echo "# Written by scripts/hot-text.sh: the library's functions a small program"
  echo "# runs, laid out first in its text by scripts/build-lib.sh."
  echo "# malloc(100), free, exit:"
  "$demangle" --simplified < "$tmp/one.txt" | awk '!seen[$0]++'
  echo "# added by scripts/footprint.c and bench workloads churn-lifo, cache-scratch, xmalloc, churn-random (2 threads):"
  "$demangle" --simplified < "$tmp/more.txt" | awk '!seen[$0]++'
} > "$tmp/hot.txt"
{
  cat "$tmp/hot.txt"
  echo "# run or not depending on the threads' timing or the address layout:"
  unlisted "${timing[@]}" -- "$tmp/hot.txt"
} > scripts/hot-text.txt

# The warm text: what most real programs run besides (realloc, calloc,
# aligned allocation, large and huge blocks, purging), laid out as
# .text.warm, a segment of its own, so that using it maps those functions'
# pages and not the 64 KiB windows of the rest of the text (the control
# interface, statistics, profiling, error paths). From scripts/footprint.c's
# warm mode, which calls each of those entry points, and the other bench
# workloads.
{
  run "$tmp/cg.warm" "$tmp/footprint" libswalloc warm
  functions "$tmp/cg.warm"
  for w in realloc-grow aligned large leak-grow larson server-churn mixed-lifetime mixed-threads burst; do
    run "$tmp/cg.$w" "$tmp/workloads" "$w" 2 0.05
    functions "$tmp/cg.$w"
  done
} | sort -u > "$tmp/warm.txt"
{
  echo "# Written by scripts/hot-text.sh: the library's functions most programs"
  echo "# run besides those of scripts/hot-text.txt (realloc, calloc, aligned,"
  echo "# large and huge blocks, purging), laid out as .text.warm by"
  echo "# scripts/build-lib.sh. From scripts/footprint.c (warm) and bench workloads"
  echo "# realloc-grow, aligned, large, leak-grow, larson, server-churn,"
  echo "# mixed-lifetime, mixed-threads, burst (2 threads):"
  # (less what hot-text.txt lists)
  "$demangle" --simplified < "$tmp/warm.txt" | awk '!seen[$0]++' | grep -vxF -f <(grep -v '^#' scripts/hot-text.txt)
} > "$tmp/warm-listed.txt"
# What a program runs once it has run long enough for decay to purge: a
# profile has it or not depending on valgrind's timing against the decay
# time (one run of this script had purgeExtent, the next did not).
warmTiming=("purgeExtent(_:_:lazily:)")
{
  cat "$tmp/warm-listed.txt"
  echo "# run or not depending on the run's timing against the decay time:"
  unlisted "${warmTiming[@]}" -- "$tmp/warm-listed.txt" scripts/hot-text.txt
} > scripts/warm-text.txt
echo "wrote scripts/hot-text.txt ($(grep -vc '^#' scripts/hot-text.txt) functions), scripts/warm-text.txt ($(grep -vc '^#' scripts/warm-text.txt))"
scripts/build-lib.sh >/dev/null
