#!/usr/bin/env bash
# Instructions per malloc(32)+free pair on the thread-cache hit path, counted
# by callgrind (repeatable, unlike timings): runs bench/fastpath.c with 1 and
# 1,000,001 iterations under each allocator and prints the per-pair
# difference. The figure includes the benchmark loop itself (about 10
# instructions) and the PLT call overhead. Peers are measured when their
# Debian packages are installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-32}
bin=$(mktemp -d)/fastpath
gcc -O2 -o "$bin" "$root/bench/fastpath.c"
count() { # preload
  local a b
  a=$(LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1 "$size" 2>&1 | awk '/Collected/ {print $4}')
  b=$(LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1000001 "$size" 2>&1 | awk '/Collected/ {print $4}')
  echo $(( (b - a) / 1000000 ))
}
[ -f "$root/.build/release/libswalloc.so" ] || "$root/scripts/build-lib.sh" >/dev/null
printf '%-12s %s\n' allocator "instructions per malloc($size)+free pair (incl. ~10 of loop)"
printf '%-12s %s\n' swalloc "$(count "$root/.build/release/libswalloc.so")"
printf '%-12s %s\n' glibc "$(count "")"
for peer in jemalloc:/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
            mimalloc:/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 \
            tcmalloc:/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4; do
  name=${peer%%:*}; lib=${peer#*:}
  [ -f "$lib" ] && printf '%-12s %s\n' "$name" "$(count "$lib")"
done
