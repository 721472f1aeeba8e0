#!/usr/bin/env bash
# The benchmark suite: swalloc against glibc, jemalloc, mimalloc and tcmalloc
# on the workloads of bench/workloads.c plus python3 and sqlite3, in one run.
#
#   scripts/bench.sh            full mode (7 repetitions, ~5-10 minutes on 2
#                               cores); writes BENCHMARKS.md and
#                               docs/bench-ratios.svg; with --loaded, 11
#                               repetitions (~8 minutes) into its section
#   scripts/bench.sh --quick    1 repetition, less work (about a minute);
#                               writes .build/bench/BENCHMARKS-quick.md
#   other arguments go to bench/run.py: --only NAME[,NAME] --allocators A[,A]
#   --threads N --reps N --out FILE --no-fastpath --note TEXT --list
#   --baseline LIB [--baseline-conf CONF]: another build (or this one with
#   other options) as allocator swalloc-base in the same run
#   --extra NAME=PATH (repeatable): another preload library (a hand-built
#   mimalloc 3 or snmalloc) as allocator NAME, a column of its own
#   --loaded: with one CPU-bound busy loop per core running throughout;
#   the results go to the <!-- loaded --> section of the report only
#
# Installs the peers' Debian packages when their libraries are missing (as
# root, or with sudo), and builds the library when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

libdir=/usr/lib/x86_64-linux-gnu
need=()
[ -f "$libdir/libjemalloc.so.2" ] || need+=(libjemalloc2)
[ -f "$libdir/libmimalloc.so.2" ] || need+=(libmimalloc2.0)
[ -f "$libdir/libtcmalloc_minimal.so.4" ] || need+=(libtcmalloc-minimal4)
command -v gcc >/dev/null || need+=(gcc)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "bench: could not install ${need[*]}; the missing ones are skipped" >&2
fi

[ -f .build/release/libswalloc.so ] || scripts/build-lib.sh

export SWALLOC_BENCH_CMD="scripts/bench.sh${*:+ $*}"
exec python3 bench/run.py "$@"
