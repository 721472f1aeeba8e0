#!/usr/bin/env bash
# memtruth - the kernel's truth for swalloc's own memory: runs
# tests/memtruth/memtruth.c, which compares mallctl's stats.resident (and prints
# stats.mapped/retained next to the kernel's Size:) with the resident bytes
# the kernel reports for the allocator's mappings (/proc/self/smaps).
#
# usage: tests/memtruth/run.sh /abs/path/libswalloc.so
#        (or SWALLOC_LIB=/abs/path/libswalloc.so tests/memtruth/run.sh)
#
# Checks:
#   selftest          the measurement itself (without and with the library)
#   table_glibc       the "table" scenario without the library: figures only
#   table[CONF]       the issue's scenario: ~1 GiB of mixed blocks written,
#                     all freed, then a light allocation loop (or idle) for
#                     the wait time; process RSS must be back within 16 MiB
#                     of the start and stats.resident must match the kernel
#                     (|diff| <= max(1%, 256 KiB)); a summary table at the end
#   random[CONF,SEED] 4 threads, small/large/huge blocks, cross-thread frees,
#                     10% kept alive; resident vs kernel at five points
#   first_malloc      resident pages of swalloc's mappings after boot (<= 3)
#                     and after a first malloc(32) (<= 7): the small-program
#                     footprint
#   cold_text         a small program's churn maps in none of the library's
#                     cold text (every function it runs is in the hot list)
#   metadata_rounds   10 x (1 GiB grown, freed, malloc_trim): stats.metadata
#                     after round 10 <= 1.1 x after round 1
#   idle_server[defaults]
#                     4 threads allocate ~1 GiB of 16..1024-byte blocks, each
#                     frees a random 90% of its own, joined, then 12 s idle
#                     with one small allocation a second: process RSS at the
#                     end <= RSS at the join - half of (stats.resident -
#                     stats.active) at the join (the background thread's
#                     decay); RSS sampled every 500 ms in the log
#   idle_server[background_thread:false]
#                     the same for 4 s without the background thread: an
#                     "info" line (expected not to meet the criterion), never
#                     a failure unless the program crashes or times out
# Prints "ok NAME (...)" / "FAIL NAME: reason" per check and finally exactly
# one line "N passed, M failed". Exit status 1 if anything failed.
#
# Environment knobs:
#   QUICK=1     skip the slow rows (default decay: table's 11 s wait,
#               idle_server[defaults]'s 12 s)
#   KEEP_WORK=1 keep the temporary directory (kept anyway on failure)
#   ONLY="a b"  run only the checks whose names start with one of these
#               (e.g. ONLY="selftest table")
#
# One program at a time (the test machines have 2 cores): about 50 s, plus
# 12 s and 13 s for the slow rows.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../lib/common.sh"
runner_setup memtruth "${1:-}"
QUICK=${QUICK:-0}
ONLY=${ONLY:-}

export LC_ALL=C
export TZ=UTC
unset LD_PRELOAD SWALLOC_CONF MALLOC_CONF MEMTRUTH_FREE_ORDER

# ONLY selects checks by name prefix here (ONLY=table runs every table row).
wanted() {
    [ -z "$ONLY" ] && return 0
    local w
    for w in $ONLY; do case $1 in "$w"*) return 0 ;; esac; done
    return 1
}

# run_one TAG PRELOAD(0|1) CONF TIMEOUT ARGS...: runs memtruth ARGS with
# stdout/stderr in $LOGS/TAG.{out,err}; sets RC and DUR.
run_one() {
    local tag=$1 pre=$2 conf=$3 t=$4
    shift 4
    local t0 t1
    local -a envs=()
    [ "$pre" = 1 ] && envs+=("LD_PRELOAD=$LIB")
    [ -n "$conf" ] && envs+=("SWALLOC_CONF=$conf")
    t0=$(now)
    timeout -k 10 "$t" env "${envs[@]}" "$BIN/memtruth" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err"
    RC=$?
    t1=$(now)
    DUR=$(elapsed "$t0" "$t1")
}

# reasons TAG: the program's FAIL lines (and stderr), on one line
reasons() {
    { grep '^FAIL' "$LOGS/$1.out"; tail -n 2 "$LOGS/$1.err"; } 2>/dev/null | sed 's/^FAIL //' | tr '\n' ';' | cut -c1-600
}

# field TAG KEY: value of KEY=VALUE on the program's result line
field() {
    grep -o "\\b$2=[^ ]*" "$LOGS/$1.out" 2>/dev/null | tail -n 1 | cut -d= -f2
}

echo "library: $LIB"
t0=$(now)
if ! gcc -std=gnu11 -O2 -g -Wall -pthread -rdynamic -I"$TESTLIB" -o "$BIN/memtruth" "$HERE/memtruth.c" -ldl >"$LOGS/compile.log" 2>&1; then
    fail compile "$(head -n 5 "$LOGS/compile.log" | tr '\n' ' ' | cut -c1-300)"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
echo "compiled memtruth ($(elapsed "$t0" "$(now)"))"

# ---------------------------------------------------------------------------
# selftest: the kernel figure counts new anonymous memory, not excluded
# ranges nor thread stacks; the mmap tracker follows mmap/mremap/munmap.
if wanted selftest; then
    run_one selftest.base 0 "" 60 selftest
    if [ "$RC" -eq 0 ] && grep -q '^selftest ok' "$LOGS/selftest.base.out"; then
        pass selftest.base "($(grep -o 'foreign ranges.*' "$LOGS/selftest.base.out"); $DUR)"
    else
        fail selftest.base "$(rc_text "$RC"): $(reasons selftest.base)"
    fi
    run_one selftest.lib 1 "" 60 selftest
    if [ "$RC" -eq 0 ] && grep -q '^selftest ok' "$LOGS/selftest.lib.out" &&
        grep -q 'mallctl present' "$LOGS/selftest.lib.out"; then
        pass selftest.lib "($(grep -o 'foreign ranges.*' "$LOGS/selftest.lib.out"); $DUR)"
    elif [ "$RC" -eq 0 ]; then
        fail selftest.lib "mallctl not found: is the library really preloaded? $(grep '^selftest:' "$LOGS/selftest.lib.out")"
    else
        fail selftest.lib "$(rc_text "$RC"): $(reasons selftest.lib)"
    fi
fi

# ---------------------------------------------------------------------------
# table: the issue's scenario, glibc first (figures only, a sanity check of
# the measurement), then the library under several settings.
if wanted table_glibc; then
    run_one table_glibc 0 "" 60 table 300
    if [ "$RC" -eq 0 ] && grep -q '^SKIP' "$LOGS/table_glibc.out"; then
        pass table_glibc "(without the library: $(grep -o 'kernel_swalloc [0-9.]* MiB' "$LOGS/table_glibc.out" | head -n 1) at the peak outside [heap], rss_above_start $(field table_glibc rss_above_start_mib) MiB after free; $DUR)"
    else
        fail table_glibc "$(rc_text "$RC"): $(reasons table_glibc)"
    fi
fi

ROWS=()
table_row() { # conf wait [idle]
    local conf=$1 wait=$2 idle=${3:-}
    local label=${conf:-defaults}
    [ -n "$idle" ] && label="$label (idle)"
    local name="table[$label]"
    local tag="table.${conf:-defaults}${idle:+.idle}"
    wanted table || return 0
    run_one "$tag" 1 "$conf" 90 table "$wait" $idle
    local above kern res ret
    above=$(field "$tag" rss_above_start_mib)
    kern=$(field "$tag" kernel_swalloc_mib)
    res=$(field "$tag" stats_resident_mib)
    ret=$(field "$tag" stats_retained_mib)
    ROWS+=("$label|$wait|${above:-?}|${kern:-?}|${res:-?}|${ret:-?}|$([ "$RC" -eq 0 ] && echo ok || echo FAIL)")
    if [ "$RC" -eq 0 ] && grep -q '^table ok' "$LOGS/$tag.out"; then
        pass "$name" "(rss above start ${above} MiB, kernel ${kern} MiB, stats.resident ${res} MiB; $DUR)"
    else
        fail "$name" "$(rc_text "$RC"): $(reasons "$tag")"
    fi
}
table_row "dirty_decay_ms:0" 1500
table_row "dirty_decay_ms:200" 1500
table_row "dirty_decay_ms:200,tcache:false" 1500
if [ "$QUICK" = 1 ]; then
    wanted table && skip "table[defaults]" "QUICK=1 (the 11 s row)"
else
    table_row "" 11000
fi
table_row "dirty_decay_ms:200,muzzy_decay_ms:200" 1500
table_row "dirty_decay_ms:200,background_thread:true" 1500 idle

if [ "${#ROWS[@]}" -gt 0 ]; then
    echo
    printf '%-50s | %7s | %-22s | %-16s | %-14s | %-14s | %s\n' setting "wait ms" "kernel RSS above start" "kernel (swalloc)" stats.resident stats.retained result
    printf '%s\n' "---------------------------------------------------+---------+------------------------+------------------+----------------+----------------+-------"
    for r in "${ROWS[@]}"; do
        IFS='|' read -r l w a k s t o <<<"$r"
        printf '%-50s | %7s | %-22s | %-16s | %-14s | %-14s | %s\n' "$l" "$w" "$a MiB" "$k MiB" "$s MiB" "$t MiB" "$o"
    done
    echo
fi

# ---------------------------------------------------------------------------
# random: accounting under a threaded, randomized workload
random_row() { # conf seed
    local conf=$1 seed=$2
    local name="random[${conf:-defaults},seed=$seed]"
    local tag="random.${conf:-defaults}.$seed"
    wanted random || return 0
    run_one "$tag" 1 "$conf" 90 random "$seed"
    local worst
    worst=$(grep '^point' "$LOGS/$tag.out" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^diff=/) { v = substr($i, 6); sub(/KiB/, "", v); v = v + 0; if (v < 0) v = -v; if (v > m) { m = v; p = $2 } } } END { if (p != "") printf "worst |diff| %d KiB at %s", m, p }')
    if [ "$RC" -eq 0 ] && grep -q '^random ok' "$LOGS/$tag.out"; then
        pass "$name" "($worst; $DUR)"
    else
        fail "$name" "$(rc_text "$RC"): $(reasons "$tag")"
    fi
}
for conf in "" "tcache:false" "dirty_decay_ms:0" "dirty_decay_ms:-1" \
    "dirty_decay_ms:100,muzzy_decay_ms:100" "muzzy_decay_ms:-1,dirty_decay_ms:50"; do
    for seed in 1 2; do random_row "$conf" "$seed"; done
done

# ---------------------------------------------------------------------------
# first_malloc: the small-program footprint (issue 11): resident pages of
# swalloc's own mappings after boot and after a first malloc(32), by the
# kernel's count (tracked mappings, smaps). A measurement, not a timing.
if wanted first_malloc; then
    run_one first_malloc 1 "" 30 first-malloc 3 7
    if [ "$RC" -eq 0 ] && grep -q '^first-malloc ok' "$LOGS/first_malloc.out"; then
        pass first_malloc "($(grep '^first-malloc boot' "$LOGS/first_malloc.out" | cut -d' ' -f2-); $DUR)"
    else
        fail first_malloc "$(rc_text "$RC"): $(reasons first_malloc)"
    fi
fi

# ---------------------------------------------------------------------------
# cold_text: a small program's churn runs none of the library's cold text
# (every function it calls is in scripts/hot-text.txt; one missing costs
# each process up to 64 KiB of library pages through fault-around).
if wanted cold_text; then
    run_one cold_text 1 "" 60 cold-text 20000
    if [ "$RC" -eq 0 ] && grep -q '^cold-text ok' "$LOGS/cold_text.out"; then
        pass cold_text "($(grep -m 1 '^cold-text' "$LOGS/cold_text.out" | cut -d' ' -f2-); $DUR)"
    else
        fail cold_text "$(rc_text "$RC"): $(reasons cold_text)"
    fi
fi

# ---------------------------------------------------------------------------
# metadata_rounds: stats.metadata must not creep over repeated grow/free/trim
if wanted metadata_rounds; then
    run_one metadata_rounds 1 "" 120 metadata-rounds 1024
    if [ "$RC" -eq 0 ] && grep -q '^metadata-rounds ok' "$LOGS/metadata_rounds.out"; then
        pass metadata_rounds "($(grep '^metadata-rounds ok' "$LOGS/metadata_rounds.out" | cut -d: -f2- | sed 's/^ //'); $DUR)"
    else
        fail metadata_rounds "$(rc_text "$RC"): $(reasons metadata_rounds)"
    fi
fi

# ---------------------------------------------------------------------------
# idle_server: 4 threads allocate ~1 GiB of 16..1024-byte blocks, free a
# random 90%, are joined; then one small allocation a second. With the
# defaults the background thread (started once a second thread allocates)
# must take at least half of what was resident but not active at the join
# (stats.resident - stats.active) out of the process RSS within 12 s
# (dirty_decay_ms 10000). With background_thread:false nothing decays while
# the thread-cache hits take no slow path: reported as info, never a failure
# (it documents why the default matters); only a crash or timeout fails it.
idle_field() { field "$1" "$2" | sed 's/$/ MiB/'; }
idle_summary() { # tag
    echo "rss at join $(idle_field "$1" join_rss_mib), at end $(idle_field "$1" end_rss_mib) (limit $(idle_field "$1" limit_mib), purgeable at join $(idle_field "$1" purgeable_mib)); end stats.resident $(idle_field "$1" end_stats_resident_mib), stats.active $(idle_field "$1" end_stats_active_mib)"
}
if wanted idle_server; then
    if [ "$QUICK" = 1 ]; then
        skip "idle_server[defaults]" "QUICK=1 (the 12 s row)"
    else
        run_one idle_server.defaults 1 "" 60 idle-server 12
        if [ "$RC" -eq 0 ] && grep -q '^idle-server ok' "$LOGS/idle_server.defaults.out"; then
            pass "idle_server[defaults]" "($(idle_summary idle_server.defaults); $DUR)"
        else
            fail "idle_server[defaults]" "$(rc_text "$RC"): $(reasons idle_server.defaults)"
        fi
    fi
    run_one idle_server.nobg 1 "background_thread:false" 40 idle-server 4
    if [ "$RC" -eq 1 ] && grep -q '^FAIL idle-server: RSS' "$LOGS/idle_server.nobg.out"; then
        echo "info idle_server[background_thread:false]: criterion not met after 4 s, as expected without the background thread ($(idle_summary idle_server.nobg); $DUR)"
    elif [ "$RC" -eq 0 ] && grep -q '^idle-server ok' "$LOGS/idle_server.nobg.out"; then
        echo "info idle_server[background_thread:false]: criterion met after 4 s (not expected without the background thread) ($(idle_summary idle_server.nobg); $DUR)"
    else
        fail "idle_server[background_thread:false]" "$(rc_text "$RC"): $(reasons idle_server.nobg)"
    fi
fi

# ---------------------------------------------------------------------------
[ "$SKIPPED" -gt 0 ] && echo "($SKIPPED skipped)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
