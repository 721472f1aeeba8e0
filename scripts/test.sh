#!/usr/bin/env bash
# The whole test suite (README's test command):
#   1. set-up of missing tools, then the Embedded Swift library build;
#   2. the library's shape (links only libc, exports exactly the API), and
#      the core's layer order (scripts/check-layers.py);
#   3. unit tests of the internals through the normally compiled twin, then
#      the same tests under ThreadSanitizer and AddressSanitizer;
#   4. the library as a black box: the C API through dlopen and LD_PRELOAD,
#      a multi-threaded stress, fork, decay and options, and real programs
#      (python3, git, gcc, sqlite3, sort) with and without the library,
#      outputs compared; attacks on the allocator (tests/hardening.sh); its
#      resident figure against the kernel's (tests/memtruth.sh); jemalloc
#      compatibility and fork deadlocks (tests/compat.sh); the same checks
#      against the debug library, whose internal invariants are checked
#      (tests/debug-build.sh);
#   5. the swalloc command-line tool and scripts/run-main.sh;
#   6. adoption: install into a prefix (and uninstall), a C program built
#      with pkg-config, the Debian package installed and removed, the Swift
#      example linking the library (tests/adoption.sh).
# Ends with "N passed, M failed" over those steps; exits non-zero on failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
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
step "unit tests (twin)" swift test --disable-swift-testing
step "unit tests (twin) under TSan and ASan" tests/sanitize.sh
step "black-box and real programs" tests/run-programs.sh "$lib"
step "hardening: attacks on metadata, double frees, size limits, re-entry" tests/hardening.sh "$lib"
step "memory truth: stats.resident against the kernel, memory returned" tests/memtruth.sh "$lib"
step "jemalloc compatibility and fork safety" tests/compat.sh "$lib"
step "differential: the C API against glibc, random sequences (30 s)" tests/differential.sh "$lib" 30
step "debug build: the black-box suites with internal invariants checked" tests/debug-build.sh
step "swalloc tool and scripts/run-main.sh" bash -c "swift build --product swalloc && tests/tool-check.sh \"\$(swift build --show-bin-path)/swalloc\" '$lib'"
tool=$(swift build --show-bin-path)/swalloc
step "heap profiling: site estimates, prof_leak, jeprof, flame graph, python3" tests/prof.sh "$lib" "$tool"
step "install: scripts/install.sh into a prefix, scripts/uninstall.sh" tests/adoption.sh install "$lib" "$tool"
step "link from C: pkg-config --cflags --libs swalloc" tests/adoption.sh pkg-config "$lib" "$tool"
step "Debian package: scripts/package-deb.sh, dpkg -i, use, dpkg -r" tests/adoption.sh deb "$lib" "$tool"
step "link from Swift: Examples/ with -Xlinker -lswalloc, no LD_PRELOAD" tests/adoption.sh swift-example "$lib" "$tool"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
