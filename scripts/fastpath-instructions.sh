#!/usr/bin/env bash
# Instructions per allocator operation on the thread-cache hit path, counted
# by callgrind (repeatable, unlike timings): runs bench/fastpath.c with 1 and
# 1,000,001 iterations under each allocator and prints the per-iteration
# difference. Every figure includes the benchmark loop itself (a few
# instructions) and the PLT call overhead. Peers are measured when their
# Debian packages are installed.
#
#   scripts/fastpath-instructions.sh [--lib NAME=PATH]...
#       a markdown table, one row per operation, one column per allocator:
#       malloc(32) + free; calloc(1, 32) + free; malloc(32) + memset +
#       free (calloc's yardstick); malloc(8192) + free (a small class
#       above 4 KiB); malloc(20000) + free (a large one);
#       posix_memalign(64, 64) + free; malloc(24), realloc to 40, free;
#       malloc(100), realloc to 112 (the same class), free;
#       8 x malloc(48), then 8 x free; malloc(32), malloc_usable_size of
#       it, free
#   scripts/fastpath-instructions.sh [--lib NAME=PATH]... SIZE
#       malloc(SIZE) + free only, one line per allocator (the original form:
#       "allocator  figure")
#
# --lib NAME=PATH (repeatable) adds another preload library as an allocator
# (e.g. a mimalloc 3 or snmalloc build kept outside the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=""
names=()
libs=()
extra_names=()
extra_libs=()
usage() { echo "usage: $0 [--lib NAME=PATH]... [SIZE]" >&2; exit 64; }
while [ $# -gt 0 ]; do
  case $1 in
    --lib) [ $# -ge 2 ] || usage; spec=$2; shift 2 ;;
    --lib=*) spec=${1#--lib=}; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) size=$1; shift; continue ;;
    *) usage ;;
  esac
  case $spec in
    *=*) ;;
    *) echo "fastpath-instructions: --lib wants NAME=PATH, got '$spec'" >&2; exit 64 ;;
  esac
  [ -f "${spec#*=}" ] || { echo "fastpath-instructions: ${spec#*=}: no such file" >&2; exit 1; }
  extra_names+=("${spec%%=*}")
  extra_libs+=("$(cd "$(dirname "${spec#*=}")" && pwd)/$(basename "${spec#*=}")")
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/fastpath
gcc -O2 -o "$bin" "$root/bench/fastpath.c"
[ -f "$root/.build/release/libswalloc.so" ] || "$root/scripts/build-lib.sh" >/dev/null

# The allocators: swalloc, glibc (nothing preloaded), the installed peers,
# then the --lib ones.
names+=(swalloc glibc); libs+=("$root/.build/release/libswalloc.so" "")
for peer in jemalloc:/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
            mimalloc:/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 \
            tcmalloc:/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4; do
  [ -f "${peer#*:}" ] && { names+=("${peer%%:*}"); libs+=("${peer#*:}"); }
done
for i in "${!extra_names[@]}"; do
  names+=("${extra_names[$i]}"); libs+=("${extra_libs[$i]}")
done

collected() { # preload iterations mode
  LD_PRELOAD=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$2" "$3" 2>&1 |
    awk '/Collected/ {print $4}'
}
count() { # preload mode [int] -> instructions per iteration: one decimal
  # when not whole (an amortized slow path, e.g. a periodic GC tick), or
  # truncated to an integer with "int" (the single-size form, as it always was)
  local a b
  a=$(collected "$1" 1 "$2")
  b=$(collected "$1" 1000001 "$2")
  [ -n "$a" ] && [ -n "$b" ] || { echo "?"; return; }
  if [ "${3:-}" = int ]; then echo $(( (b - a) / 1000000 )); return; fi
  awk -v a="$a" -v b="$b" 'BEGIN { x = (b - a) / 1000000; r = int(x + 0.5);
    if (x - r < 0.05 && r - x < 0.05) print r; else printf "%.1f\n", x }'
}

if [ -n "$size" ]; then
  printf '%-12s %s\n' allocator "instructions per malloc($size)+free pair (incl. ~10 of loop)"
  for i in "${!names[@]}"; do
    printf '%-12s %s\n' "${names[$i]}" "$(count "${libs[$i]}" "$size" int)"
  done
  exit 0
fi

ops=("32|malloc(32) + free"
     "calloc|calloc(1, 32) + free"
     "zeroed|malloc(32), memset 0, free"
     "8192|malloc(8192) + free"
     "20000|malloc(20000) + free"
     "memalign|posix_memalign(64, 64) + free"
     "realloc|malloc(24), realloc to 40, free"
     "inplace|malloc(100), realloc to 112 (its class), free"
     "batch8|8 × malloc(48), then 8 × free"
     "usable|malloc(32), malloc_usable_size, free")
line="| operation |"; rule="|---|"
for n in "${names[@]}"; do line+=" $n |"; rule+="---:|"; done
echo "$line"
echo "$rule"
for op in "${ops[@]}"; do
  line="| ${op#*|} |"
  for i in "${!names[@]}"; do line+=" $(count "${libs[$i]}" "${op%%|*}") |"; done
  echo "$line"
done
