#!/usr/bin/env bash
# Profiles one node workload of bench/real/ under one allocator: where the
# time goes and what the allocator asks of the kernel.
#
#   [SCALE=1] bench/real/profile.sh LIB churn|workers OUTDIR
#
# Writes to OUTDIR (made if missing), prefix = the library's base name
# (glibc for ""):
#   PREFIX.stat    perf stat: task-clock, page faults, context switches
#   PREFIX.strace  strace -c -f: system calls by count and time (mmap,
#                  munmap, madvise, mprotect, futex, brk)
#   PREFIX.dso     perf record (cpu-clock, 4 kHz, frame-pointer call graphs)
#                  summed by library
#   PREFIX.sym     the same by symbol (flat: self time), Swift names demangled
#   PREFIX.perf    the raw perf data, for perf report
# Software events only (cpu-clock, page-faults): they work in VMs without a
# PMU. Three node runs (stat, strace, record), ~10 s in all.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=${1-}
mode=${2:-churn}
out=${3:?usage: $0 LIB churn|workers OUTDIR}
mkdir -p "$out"
name=$(basename "${lib:-glibc}")
name=${name%.so*}
cmd=(/usr/bin/node "$here/node-churn.js" "$mode" "${SCALE:-1}")
pre=(env ${lib:+LD_PRELOAD=$lib})
demangle() { if command -v swift >/dev/null; then swift demangle --simplified 2>/dev/null || cat; else cat; fi; }

perf stat -e task-clock,page-faults,minor-faults,major-faults,context-switches,cpu-migrations \
  -o "$out/$name-$mode.stat" -- "${pre[@]}" "${cmd[@]}" >/dev/null
strace -c -f -o "$out/$name-$mode.strace" "${pre[@]}" "${cmd[@]}" >/dev/null
perf record -q -e cpu-clock -F 4000 -g -o "$out/$name-$mode.perf" -- "${pre[@]}" "${cmd[@]}" >/dev/null 2>&1
perf report -i "$out/$name-$mode.perf" --no-children --sort dso --stdio -g none 2>/dev/null \
  | { grep -v -e '^#' -e '^$' || true; } | sed 25q >"$out/$name-$mode.dso"
perf report -i "$out/$name-$mode.perf" --no-children --sort dso,sym --stdio -g none --percent-limit 0.3 2>/dev/null \
  | { grep -v -e '^#' -e '^$' || true; } | demangle >"$out/$name-$mode.sym"
echo "profile: $out/$name-$mode.{stat,strace,dso,sym,perf}"
