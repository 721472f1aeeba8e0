#!/usr/bin/env bash
# Runs bench/real/node-churn.js under one allocator and prints one line:
#
#   RESULT node-churn seconds=2.913 maxrss_mib=98.4 check=3454502825 lib=glibc
#   RESULT node-workers seconds=... maxrss_mib=... check=... lib=...
#
#   bench/real/node-churn.sh LIB [churn|workers] [SCALE] [WORKERS]
#
# LIB: the library to preload into node ("" = glibc's malloc, nothing
# preloaded). Default mode churn, scale 1.0 (about 2-4 s under glibc on this
# 2-core machine), 4 workers. seconds is the wall time of the node process
# (start-up included, ~0.05 s), maxrss_mib its peak RSS (wait4's ru_maxrss,
# from GNU time), check the workload's checksum: it must be the same under
# every allocator for the same mode and scale. Exit status 1 when node fails
# or prints no checksum.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=${1-}
mode=${2:-churn}
scale=${3:-1}
workers=${4:-4}
node=${NODE:-/usr/bin/node}
[ -x "$node" ] || { echo "node-churn: no node at $node (apt-get install nodejs)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "node-churn: needs GNU time (apt-get install time)" >&2; exit 1; }
if [ -n "$lib" ] && [ ! -f "$lib" ]; then echo "node-churn: no library $lib" >&2; exit 1; fi

case "$mode" in
  churn) name=node-churn; args=(churn "$scale") ;;
  workers) name=node-workers; args=(workers "$scale" "$workers") ;;
  *) echo "usage: $0 LIB [churn|workers] [SCALE] [WORKERS]" >&2; exit 64 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
set +e
/usr/bin/time -o "$tmp/time" -f '%M' env ${lib:+LD_PRELOAD=$lib} "$node" "$here/node-churn.js" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
t1=$(date +%s.%N)
check=$(sed -n 's/^CHECK .* sum=\([0-9]*\).*/\1/p' "$tmp/out")
if [ $rc -ne 0 ] || [ -z "$check" ]; then
  echo "node-churn: $name failed (exit $rc) under ${lib:-glibc}:" >&2
  tail -20 "$tmp/err" >&2
  exit 1
fi
kb=$(tail -1 "$tmp/time")
awk -v n="$name" -v t0="$t0" -v t1="$t1" -v kb="$kb" -v c="$check" -v l="${lib:-glibc}" \
  'BEGIN { printf "RESULT %s seconds=%.3f maxrss_mib=%.1f check=%s lib=%s\n", n, t1 - t0, kb / 1024, c, l }'
