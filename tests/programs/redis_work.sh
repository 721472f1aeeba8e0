#!/usr/bin/env bash
# redis_work.sh DIR - the real-programs suite's redis workload. Debian's
# redis-server is linked with jemalloc and calls its mallctl ("epoch",
# "stats.allocated", "stats.active", "stats.resident", "arena.<i>.purge",
# ...), malloc_stats_print, nallocx and malloc_usable_size; under
# LD_PRELOAD every one of them is swalloc's. A server on a Unix socket in
# DIR (no TCP port), loaded with strings, lists, hashes and sets of varied
# sizes, some deleted by its background thread (UNLINK, lazy free: frees
# from another thread), then checked through its own dataset digest, and
# its memory commands (INFO memory, MEMORY PURGE, MEMORY MALLOC-STATS)
# run. Prints only what must be the same under any allocator.
set -u
dir=$1
mkdir -p "$dir"
sock=$dir/redis.sock
cli() { redis-cli -s "$sock" "$@"; }
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no \
  --dir "$dir" --logfile "$dir/redis.log" --daemonize no --enable-debug-command local \
  --lazyfree-lazy-user-del yes >"$dir/server.out" 2>&1 &
server=$!
# The server goes with the script, however it ends (a failed step, the
# runner's timeout, a closed pipe): a stray one would outlive the suite.
trap 'cli shutdown nosave >/dev/null 2>&1; kill "$server" 2>/dev/null' EXIT
trap 'exit 1' TERM INT PIPE
for _ in $(seq 100); do
  [ "$(cli ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(cli ping 2>/dev/null)" = PONG ] || { echo "redis-server did not start"; cat "$dir/redis.log" >&2; exit 1; }

# The data, in the Redis protocol (redis-cli --pipe): values of 1 byte to
# 20 KiB, lists and hashes of many small elements, sets; then a third of the
# strings replaced, some lists trimmed and some of everything unlinked.
python3 - "$dir/load.resp" <<'EOF'
import random, sys
out = open(sys.argv[1], "wb")
def cmd(*args):
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    out.write(b"*%d\r\n" % len(parts))
    for p in parts:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))
rnd = lambda r=random.Random(7): r.getrandbits(64)
for i in range(30000):
    n = 1 + rnd() % (20480 if i % 10 == 0 else 300)
    cmd("SET", "s:%d" % i, (b"%d:" % i) * (n // 8 + 1))
for i in range(300):
    cmd("RPUSH", "l:%d" % i, *["e%d.%d" % (i, j) for j in range(1 + rnd() % 400)])
    cmd("HSET", "h:%d" % i, *[v for j in range(1 + rnd() % 200) for v in ("f%d" % j, "v" * (1 + rnd() % 64))])
    cmd("SADD", "z:%d" % i, *["m%d" % (rnd() % 1000) for _ in range(1 + rnd() % 300)])
for i in range(0, 30000, 3):
    cmd("SET", "s:%d" % i, b"r" * (1 + rnd() % 4000))
for i in range(0, 300, 4):
    cmd("LTRIM", "l:%d" % i, 0, 9)
    cmd("UNLINK", "h:%d" % (i + 1), "z:%d" % (i + 2), "l:%d" % (i + 3))
for i in range(1, 30000, 7):
    cmd("UNLINK", "s:%d" % i)
EOF
cli --pipe <"$dir/load.resp" >"$dir/pipe.out" 2>&1 || { echo "pipe failed"; cat "$dir/pipe.out"; }
grep -q "errors: 0" "$dir/pipe.out" && echo "load: no errors" || { echo "load:"; tail -n 2 "$dir/pipe.out"; }
echo "keys: $(cli dbsize)"
echo "digest: $(cli debug digest)"
echo "one string: $(cli strlen s:3) $(cli getrange s:30 0 11)"
echo "one list: $(cli llen l:5) $(cli lindex l:5 -1)"
echo "one hash: $(cli hlen h:6) $(cli hstrlen h:6 f0)"

# The allocator's figures as redis reads them through mallctl. Where those
# calls fail, redis fills them in itself: allocated from its own count,
# resident from the process's RSS and active equal to resident, which no
# allocator's own figures make (its resident bytes count its metadata and
# the untouched pages of its runs do not count).
info=$(cli info memory | tr -d '\r')
field() { sed -n "s/^$1://p" <<<"$info"; }
alloc=$(field allocator_allocated) active=$(field allocator_active)
resident=$(field allocator_resident) rss=$(field used_memory_rss)
if [ -n "$alloc" ] && [ "$alloc" -gt 0 ] && [ "$active" -ge "$alloc" ] && [ "$resident" -gt 0 ] &&
   [ "$resident" -lt "$rss" ] && [ "$active" -ne "$resident" ]; then
  echo "allocator figures: sane"
else
  echo "allocator figures: allocated=$alloc active=$active resident=$resident rss=$rss"
fi
echo "memory purge: $(cli memory purge)"
stats=$(cli memory malloc-stats | wc -l)
[ "$stats" -gt 5 ] && echo "malloc-stats: printed" || echo "malloc-stats: $stats lines"
echo "flushall: $(cli flushall)"
echo "keys after: $(cli dbsize)"
cli shutdown nosave >/dev/null 2>&1
wait "$server"
echo "server exit: $?"
trap - EXIT
