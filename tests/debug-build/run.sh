#!/usr/bin/env bash
# debug-build - the black-box suites against the debug library
# (scripts/build-lib.sh --debug: optimized, with the internal invariants of
# Invariant.swift checked), so a broken invariant aborts a test with
# "swalloc: internal invariant failed: ..." instead of passing silently.
#
# usage: tests/debug-build/run.sh     (builds .build/debug-lib/libswalloc.so)
# Runs: a check that the build says config.debug = true (the release one
# says false; config_debug.c), then the suites of tests/ api, decay,
# options, concurrency (5 s of stress), oom, misuse, fuzz (20 s) and
# programs, then hardening, compat and 20 s of differential, and the heap
# profiler's cached unwinder checked against backtrace(3) on every sample.
# Prints each runner's summary and "N passed, M failed" over the runners.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
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
config_debug() {
  gcc -o "$work/config_debug" "$root/tests/debug-build/config_debug.c" -ldl || return 1
  local debug release
  debug=$(LD_PRELOAD=$lib "$work/config_debug")
  release=$(LD_PRELOAD=$root/.build/release/libswalloc.so "$work/config_debug")
  echo "config.debug: debug library $debug, release library ${release:-?}"
  [ "$debug" = 1 ] && [ "$release" != 1 ]
}
run "invariants compiled in" config_debug
run "api" tests/api/run.sh "$lib"
run "decay" tests/decay/run.sh "$lib"
run "options" tests/options/run.sh "$lib"
run "concurrency (5 s of stress)" env STRESS_SECONDS=5 tests/concurrency/run.sh "$lib"
run "out of memory" tests/oom/run.sh "$lib"
run "misuse" tests/misuse/run.sh "$lib"
run "fuzz (20 s)" env FUZZ_SECONDS=20 tests/fuzz/run.sh "$lib"
run "real programs" tests/programs/run.sh "$lib"
run "hardening" tests/hardening/run.sh "$lib"
run "jemalloc compatibility and fork" tests/compat/run.sh "$lib"
run "differential (20 s)" tests/differential/run.sh "$lib" 20
# The debug library checks each backtrace of its cached unwinder against
# glibc's backtrace(3) (Control/ProfUnwind.swift, unwindVerify) and aborts on a
# difference: python3 (deep stacks through code without frame pointers)
# and a threaded C program, sampled often.
prof_unwind() {
  gcc -O2 -pthread -o "$work/prof_sites" "$root/tests/prof/prof_sites.c" -I"$root/tests/lib" \
    -L"$(dirname "$lib")" -l:libswalloc.so -Wl,-rpath,"$(dirname "$lib")" || return 1
  SWALLOC_CONF=prof:true,lg_prof_sample:10 LD_PRELOAD=$lib "$work/prof_sites" "$work/sites.heap" >/dev/null || return 1
  SWALLOC_CONF=prof:true,lg_prof_sample:10 LD_PRELOAD=$lib python3 -c '
import json
rows = [{"n": i, "s": str(i) * 8} for i in range(100000)]
assert len(json.loads(json.dumps(rows))) == 100000
' || return 1
  echo "prof: every sampled backtrace matched backtrace(3)"
}
run "prof unwinder checked against backtrace(3)" prof_unwind
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
