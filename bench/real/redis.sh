#!/usr/bin/env bash
# redis.sh LIB [REQUESTS] - Debian's redis-server under an allocator, driven
# by redis-benchmark over a Unix socket (no TCP): SET, GET, LPUSH, LPOP,
# HSET and SADD, REQUESTS each (300000), 16 pipelined, values of 256 bytes
# on 200,000 random keys. Prints one line per command:
#
#   RESULT redis-set tps=345224 cpu_us_per_xact=2.40 maxrss_mib=74.9 lib=...
#
# tps is redis-benchmark's figure (its client shares the machine's cores,
# so it moves with whatever else runs); cpu_us_per_xact is the server's own
# CPU time per request (utime + stime from /proc/PID/stat around each
# command's run), steadier; maxrss_mib the server's peak RSS (VmHWM) so far.
# Debian's redis-server is linked with jemalloc: LIB "" preloads glibc's
# libc.so.6 so that its malloc answers (the column is glibc's, not
# jemalloc's); LIB=jemalloc runs it as shipped.
set -u
lib=${1-}
requests=${2:-300000}
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null ||
  { echo "redis.sh: redis-server, redis-cli and redis-benchmark are needed (apt-get install redis-server)" >&2; exit 2; }
case "$lib" in
  "") preload=$(ldd "$(command -v redis-server)" | awk '$1 == "libc.so.6" {print $3}') ;;
  jemalloc) preload="" ;;
  *) preload=$lib ;;
esac
dir=$(mktemp -d)
trap 'redis-cli -s "$dir/redis.sock" shutdown nosave >/dev/null 2>&1; rm -rf "$dir"' EXIT
trap 'exit 1' TERM INT PIPE   # (so that the EXIT trap stops the server then too)
LD_PRELOAD=$preload redis-server --port 0 --unixsocket "$dir/redis.sock" --save "" --appendonly no \
  --dir "$dir" --logfile "$dir/redis.log" --daemonize no >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
  [ "$(redis-cli -s "$dir/redis.sock" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -s "$dir/redis.sock" ping 2>/dev/null)" = PONG ] || { echo "redis.sh: the server did not start" >&2; exit 1; }
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
for t in set get lpush lpop hset sadd; do
  c0=$(cpu)
  rps=$(redis-benchmark -s "$dir/redis.sock" -q -n "$requests" -P 16 -r 200000 -d 256 -t "$t" --csv |
        awk -F'"' 'NR == 2 {print $4}')
  c1=$(cpu)
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server/status")
  [ -n "$rps" ] || { echo "redis.sh: no figure for $t" >&2; exit 1; }
  awk -v t="$t" -v rps="$rps" -v c="$((c1 - c0))" -v tick="$tick" -v n="$requests" -v hwm="$hwm" -v lib="${lib:-glibc}" \
    'BEGIN { printf "RESULT redis-%s tps=%.0f cpu_us_per_xact=%.2f maxrss_mib=%.1f lib=%s\n", t, rps, c / tick * 1e6 / n, hwm / 1024, lib }'
done
