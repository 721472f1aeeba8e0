#!/usr/bin/env bash
# PostgreSQL under one allocator: a throwaway cluster in a temporary
# directory, the server started with LD_PRELOAD=LIB, pgbench's TPC-B and
# select-only runs against it over a unix socket, one line per run:
#
#   RESULT pgbench-init seconds=6.41 lib=...          (pgbench -i, scale S)
#   RESULT pgbench-tpcb tps=1234.5 cpu_us_per_xact=310.2 xacts=... lib=...
#   RESULT pgbench-select tps=23456.7 cpu_us_per_xact=25.1 ... lib=...
#   RESULT pgbench-select-connect tps=345.6 ... lib=...   (a new connection,
#                                        so a new forked backend, per query)
#
# cpu_us_per_xact: CPU time (user + system) the server's backends spent per
# transaction, from the postmaster's reaped-children times; faults_per_xact:
# their minor page faults per transaction, the same way. Both are less
# disturbed than tps by other load on the machine, faults not at all.
#
#   bench/real/pgbench.sh LIB
#
# LIB: the library preloaded into the server ("" = glibc's malloc). pgbench
# itself (the client) always runs with glibc, so only the server's allocator
# changes. Settings from the environment (defaults):
#   PGBENCH_SCALE=10 PGBENCH_SECONDS=10 PGBENCH_CLIENTS=4 PGBENCH_THREADS=2
#   PGBENCH_MODES="tpcb select select-connect"
# The cluster runs with fsync, synchronous_commit and full_page_writes off,
# so that the runs measure the server's CPU work, not the disk. Each run is
# bounded by PGBENCH_SECONDS (pgbench -T); the whole script by about
# init + modes x seconds. The cluster is stopped and its directory removed on
# every exit (trap), also on failure or Ctrl-C.
#
# Root: postgres refuses to run as root. Run as root (CI, this machine), the
# script runs initdb, the server and pgbench as an unprivileged user: the
# existing `postgres` user (Debian's postgresql-common creates it), or
# PGBENCH_USER; if neither exists it creates a system user `swalloc-bench`
# (no home, no login shell) with useradd, which only root can do, and which
# is the only case where the script changes the machine. Run as any other
# user it runs everything as that user. LIB is copied into the temporary
# directory so that the unprivileged user can read it whatever the
# permissions of its original path.
set -euo pipefail

lib=${1-}
scale=${PGBENCH_SCALE:-10}
secs=${PGBENCH_SECONDS:-10}
clients=${PGBENCH_CLIENTS:-4}
threads=${PGBENCH_THREADS:-2}
modes=${PGBENCH_MODES:-tpcb select select-connect}

findbin() {
  local b=$1 d
  for d in /usr/local/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/$b" ] && { echo "$d/$b"; return 0; }
  done
  command -v "$b" 2>/dev/null && return 0
  echo "pgbench.sh: $b not found (apt-get install postgresql)" >&2
  return 1
}
initdb=$(findbin initdb)
pg_ctl=$(findbin pg_ctl)
pgbench=$(findbin pgbench)
psql=$(findbin psql)
if [ -n "$lib" ] && [ ! -f "$lib" ]; then echo "pgbench.sh: no library $lib" >&2; exit 1; fi

as=()
if [ "$(id -u)" -eq 0 ]; then
  user=${PGBENCH_USER:-}
  if [ -z "$user" ]; then
    if id postgres >/dev/null 2>&1; then user=postgres
    else
      user=swalloc-bench
      id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
  fi
  as=(runuser -u "$user" --)
fi

tmp=$(mktemp -d /tmp/swalloc-pgbench.XXXXXX)
chmod 755 "$tmp"
data=$tmp/data
started=0
attach=
cleanup() {
  if [ -n "$attach" ]; then kill -INT "$attach" 2>/dev/null || true; wait "$attach" 2>/dev/null || true; fi
  if [ $started -eq 1 ]; then
    "${as[@]}" env -u LD_PRELOAD "$pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

preload=
if [ -n "$lib" ]; then
  cp "$lib" "$tmp/alloc.so"
  chmod 644 "$tmp/alloc.so"
  preload=$tmp/alloc.so
fi
[ ${#as[@]} -gt 0 ] && chown "${as[2]}" "$tmp"

"${as[@]}" env -u LD_PRELOAD "$initdb" -D "$data" -A trust -U bench --no-sync -E UTF8 >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; exit 1; }
# Unix socket only (no TCP), in the temporary directory: no port clashes.
# No autovacuum and no timed checkpoint during a run: both come at times
# that differ from run to run and take CPU from the measured backends; the
# script checkpoints before each run instead.
opts="-c listen_addresses= -k $tmp -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
opts="$opts -c autovacuum=off -c checkpoint_timeout=1h -c max_wal_size=4GB"
started=1
"${as[@]}" env ${preload:+LD_PRELOAD=$preload} "$pg_ctl" -D "$data" -l "$tmp/server.log" -o "$opts" -w -t 60 start >/dev/null \
  || { cat "$tmp/server.log" >&2; exit 1; }
name=${lib:-glibc}
pid=$(head -1 "$data/postmaster.pid")
# Check that the server really has the library mapped.
if [ -n "$preload" ]; then
  grep -q "$preload" "/proc/$pid/maps" || { echo "pgbench.sh: $preload not mapped in the server (pid $pid)" >&2; exit 1; }
fi

pgb() { "${as[@]}" env -u LD_PRELOAD "$pgbench" -h "$tmp" -p 5432 -U bench "$@"; }

t0=$(date +%s.%N)
pgb -i -q -s "$scale" postgres >"$tmp/init.log" 2>&1 || { cat "$tmp/init.log" >&2; exit 1; }
t1=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v l="$name" -v s="$scale" 'BEGIN { printf "RESULT pgbench-init seconds=%.2f scale=%s lib=%s\n", t1 - t0, s, l }'

# PGBENCH_ATTACH: a command run (as the invoking user, in the background)
# once the tables are loaded, with PGPID set to the postmaster's pid, and
# sent SIGINT after the last run, e.g. a profiler that follows the backends:
#   PGBENCH_ATTACH='strace -c -f -o /tmp/pg.strace -p $PGPID'
#   PGBENCH_ATTACH='perf record -a -g -o /tmp/pg.perf'  (then perf report --comm postgres)
if [ -n "${PGBENCH_ATTACH:-}" ]; then
  PGPID=$(head -1 "$data/postmaster.pid") bash -c "exec ${PGBENCH_ATTACH}" &
  attach=$!
  sleep 1
fi

# CPU time of the backends: the kernel adds a child's user + system time to
# its parent's cutime + cstime (fields 16, 17 of /proc/PID/stat, in clock
# ticks) when the parent reaps it, and the postmaster reaps every backend
# when its client disconnects. Less disturbed by other load on the machine
# than tps (a busy machine lowers tps, not the CPU a transaction costs).
hz=$(getconf CLK_TCK)
reaped_ticks() { awk '{ print $16 + $17 }' "/proc/$pid/stat"; }
# The same for page faults: field 11 (cminflt), the reaped children's minor
# faults (first touches and copy-on-write after the fork from the postmaster).
reaped_faults() { awk '{ print $11 }' "/proc/$pid/stat"; }
children() { pgrep -c -P "$pid" || true; }

base0=$(children)
for mode in $modes; do
  case "$mode" in
    tpcb) args=(-b tpcb-like) ;;
    select) args=(-S) ;;
    select-connect) args=(-S -C) ;;
    *) echo "pgbench.sh: unknown mode $mode" >&2; exit 64 ;;
  esac
  "${as[@]}" env -u LD_PRELOAD "$psql" -h "$tmp" -p 5432 -U bench -d postgres -qAt -c checkpoint >/dev/null
  # The checkpoint's own backend must be reaped before the counters are read.
  for _ in $(seq 50); do [ "$(children)" -le "$base0" ] && break; sleep 0.1; done
  base=$(children)
  c0=$(reaped_ticks)
  f0=$(reaped_faults)
  pgb -n -c "$clients" -j "$threads" -T "$secs" "${args[@]}" postgres >"$tmp/run.log" 2>&1 \
    || { cat "$tmp/run.log" >&2; exit 1; }
  # Wait (at most 5 s) until the run's backends are gone and reaped.
  for _ in $(seq 50); do [ "$(children)" -le "$base" ] && break; sleep 0.1; done
  c1=$(reaped_ticks)
  f1=$(reaped_faults)
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp/run.log" | head -1)
  xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/run.log")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/run.log")
  [ -n "$tps" ] || { cat "$tmp/run.log" >&2; exit 1; }
  cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v n="$xacts" 'BEGIN { printf "%.1f", (n > 0 ? d / hz * 1e6 / n : 0) }')
  flt=$(awk -v d=$((f1 - f0)) -v n="$xacts" 'BEGIN { printf "%.2f", (n > 0 ? d / n : 0) }')
  echo "RESULT pgbench-$mode tps=$tps cpu_us_per_xact=$cpu faults_per_xact=$flt xacts=$xacts failed=${failed:-0} clients=$clients seconds=$secs lib=$name"
done
if [ -n "$attach" ]; then
  kill -INT "$attach" 2>/dev/null || true
  wait "$attach" || true
  attach=
fi
