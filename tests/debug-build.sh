#!/usr/bin/env bash
# debug-build.sh - the black-box suites against the debug library
# (scripts/build-lib.sh --debug: optimized, with the internal invariants of
# Invariant.swift checked), so a broken invariant aborts a test with
# "swalloc: internal invariant failed: ..." instead of passing silently.
#
# usage: tests/debug-build.sh        (builds .build/debug-lib/libswalloc.so)
# Runs: a check that the build says config.debug = true (the release one
# says false), then tests/run-programs.sh (shorter stress and fuzzing),
# tests/hardening.sh, tests/compat.sh and 20 s of tests/differential.sh.
# Prints each runner's summary and "N passed, M failed" over the runners.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/build-lib.sh --debug || { echo "0 passed, 1 failed"; exit 1; }
lib=$root/.build/debug-lib/libswalloc.so
passed=0
failed=0
run() { # name, command...
  local name=$1; shift
  echo "--- $name (debug library)"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "--- $name: FAILED"; fi
}
work=$(mktemp -d "${TMPDIR:-/tmp}/swalloc-debug.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/config_debug.c" <<'C'
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
C
config_debug() {
  gcc -o "$work/config_debug" "$work/config_debug.c" -ldl || return 1
  local debug release
  debug=$(LD_PRELOAD=$lib "$work/config_debug")
  release=$(LD_PRELOAD=$root/.build/release/libswalloc.so "$work/config_debug")
  echo "config.debug: debug library $debug, release library ${release:-?}"
  [ "$debug" = 1 ] && [ "$release" != 1 ]
}
run "invariants compiled in" config_debug
run "black-box and real programs" env FUZZ_SECONDS=20 STRESS_SECONDS=5 tests/run-programs.sh "$lib"
run "hardening" tests/hardening.sh "$lib"
run "jemalloc compatibility and fork" tests/compat.sh "$lib"
run "differential (20 s)" tests/differential.sh "$lib" 20
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
