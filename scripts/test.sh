#!/usr/bin/env bash
# The whole test suite (README's test command):
#   1. set-up of missing tools, then the Embedded Swift library build;
#   2. the library's shape (links only libc, exports exactly the API), the
#      core's layer order (scripts/check-layers.py), and the bench report's
#      handling of BENCHMARKS.md's marked sections and its goals' verdicts
#      (bench/test_report.py);
#   3. unit tests of the internals through the normally compiled twin, then
#      the same tests under ThreadSanitizer and AddressSanitizer;
#   4. the library as a black box, one step per suite of tests/ (each
#      tests/<suite>/run.sh; tests/README.md lists them): the C API through
#      LD_PRELOAD and dlopen, memory returned (decay), options, threads and
#      fork, out of memory, misuse, fuzzing, real programs (python3, git,
#      gcc, sqlite3, sort) with and without the library, outputs compared;
#      attacks on the allocator (hardening); its resident figure against the
#      kernel's (memtruth); jemalloc compatibility and fork deadlocks
#      (compat); random API sequences against glibc (differential); the
#      black-box suites again against the debug library, whose internal
#      invariants are checked (debug-build);
#   5. the swalloc command-line tool and scripts/run-main.sh (tool), heap
#      profiling (prof);
#   6. adoption: install into a prefix (and uninstall), a C program built
#      with pkg-config, the Debian package installed and removed, the Swift
#      example linking the library (tests/adoption/run.sh).
# Ends with "N passed, M failed" over those steps; exits non-zero on failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The library's defaults for every step (the unit tests dlopen it too): an
# exported SWALLOC_CONF / MALLOC_CONF would change what the tests see.
unset SWALLOC_CONF MALLOC_CONF
passed=0
failed=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok"
  else failed=$((failed + 1)); echo "=== $name: FAILED"; fi
}
step "setup" scripts/setup.sh
step "build libswalloc.so (Embedded Swift)" scripts/build-lib.sh
lib=$root/.build/release/libswalloc.so
if [ ! -f "$lib" ]; then
  echo "no library was built; stopping"
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
fi
step "library shape" scripts/check-library.sh "$lib"
step "layers: no core file uses a name of a layer above its own" python3 scripts/check-layers.py
step "bench scripts: a regenerated BENCHMARKS.md keeps its marked sections, the goals' verdicts" python3 bench/test_report.py
step "unit tests (twin)" swift test --disable-swift-testing
step "unit tests (twin) under TSan and ASan" tests/sanitize/run.sh
step "api: the C API through LD_PRELOAD and dlopen" tests/api/run.sh "$lib"
step "decay: memory returned by malloc_trim, decay and the background thread" tests/decay/run.sh "$lib"
step "options: SWALLOC_CONF / MALLOC_CONF, introspection, early constructors" tests/options/run.sh "$lib"
step "concurrency: stress, fork with threads, cross-thread frees, thread churn" tests/concurrency/run.sh "$lib"
step "oom: out of memory through RLIMIT_AS and failing mmap" tests/oom/run.sh "$lib"
step "misuse: invalid and double frees abort" tests/misuse/run.sh "$lib"
step "fuzz: libFuzzer over the swalloc_* API (60 s)" tests/fuzz/run.sh "$lib"
step "real programs: python3, git, gcc, sqlite3, sort with and without swalloc" tests/programs/run.sh "$lib"
step "hardening: attacks on metadata, double frees, size limits, re-entry" tests/hardening/run.sh "$lib"
step "memory truth: stats.resident against the kernel, memory returned" tests/memtruth/run.sh "$lib"
step "jemalloc compatibility and fork safety" tests/compat/run.sh "$lib"
step "differential: the C API against glibc, random sequences (30 s)" tests/differential/run.sh "$lib" 30
step "debug build: the black-box suites with internal invariants checked" tests/debug-build/run.sh
step "swalloc tool and scripts/run-main.sh" bash -c "swift build --product swalloc && tests/tool/run.sh \"\$(swift build --show-bin-path)/swalloc\" '$lib'"
tool=$(swift build --show-bin-path)/swalloc
step "heap profiling: site estimates, prof_leak, jeprof, flame graph, python3" tests/prof/run.sh "$lib" "$tool"
step "install: scripts/install.sh into a prefix, scripts/uninstall.sh" tests/adoption/run.sh install "$lib" "$tool"
step "link from C: pkg-config --cflags --libs swalloc" tests/adoption/run.sh pkg-config "$lib" "$tool"
step "Debian package: scripts/package-deb.sh, dpkg -i, use, dpkg -r" tests/adoption/run.sh deb "$lib" "$tool"
step "link from Swift: Examples/ with -Xlinker -lswalloc, no LD_PRELOAD" tests/adoption/run.sh swift-example "$lib" "$tool"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
