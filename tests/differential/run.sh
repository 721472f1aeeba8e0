#!/usr/bin/env bash
# differential - randomized differential test of the C allocation API:
# tests/differential/differential.c runs a seeded pseudo-random sequence of malloc /
# calloc / realloc / reallocarray / free / posix_memalign / aligned_alloc /
# memalign / valloc / pvalloc / malloc_usable_size calls (boundary and
# impossible sizes, invalid alignments, overflowing products, cross-thread
# hand-offs) and prints a deterministic transcript of their outcomes; each
# check runs it under glibc (no LD_PRELOAD) and under the library with the
# same seed and compares the two transcripts. Content corruption or an API
# violation makes the program itself print CORRUPT / MISMATCH and exit 1.
#
# usage: tests/differential/run.sh /abs/path/libswalloc.so [SECONDS=20]
#
# SECONDS is the total time budget (compiling included). The checks cycle
# through the configurations below - single-threaded with several seeds,
# 4 threads with hand-offs, SWALLOC_CONF tcache:false / narenas:1 /
# dirty_decay_ms:0 (ignored by the glibc run) - each with a new seed, and
# no check starts that would not end within the budget. The first round uses
# the seeds 1, 2, 3, ...; later rounds (a long run by hand, e.g. SECONDS=600)
# take seeds from the clock, so every long run explores new sequences.
# Prints "ok NAME (...)" / "FAIL NAME: reason" per check and finally exactly
# one line "N passed, M failed". Exit status 1 if anything failed.
#
# Environment knobs:
#   DIFF_SEED=N       base seed of the rounds after the first (default: clock)
#   DIFF_OPS_SCALE=F  multiply every operation count by F (default 1)
#   KEEP_WORK=1       keep the temporary directory (kept anyway on failure)
#
# Reproduce a failure by hand (the FAIL line gives seed, threads, ops, conf):
#   gcc -std=gnu11 -O1 -g -pthread -Itests/lib -o /tmp/differential tests/differential/differential.c -ldl
#   /tmp/differential SEED THREADS OPS > base.txt
#   SWALLOC_CONF=CONF LD_PRELOAD=LIB /tmp/differential SEED THREADS OPS > lib.txt
#   ... add "trace" as a 4th argument for one line per operation.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    echo "usage: $0 /abs/path/libswalloc.so [SECONDS=20]" >&2
    exit 2
}

LIB=${1:-}
[ -n "$LIB" ] || usage
if [ ! -f "$LIB" ]; then
    echo "$0: library '$LIB' does not exist" >&2
    exit 2
fi
LIB=$(realpath "$LIB")
BUDGET=${2:-20}
case $BUDGET in '' | *[!0-9]*) usage ;; esac
SCALE=${DIFF_OPS_SCALE:-1}

T_START=$(date +%s.%N)
DEADLINE=$(awk -v a="$T_START" -v b="$BUDGET" 'BEGIN { printf "%.3f", a + b }')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/swalloc-diff.XXXXXX")
BIN="$WORK/differential"
LOGS="$WORK/logs"
mkdir -p "$LOGS"

. "$HERE/../lib/common.sh"

cleanup() {
    if [ "$FAILED" -eq 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# the last lines: where the logs are (when kept), then the one summary line
finish() {
    if [ "$FAILED" -ne 0 ] || [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "(logs kept in $LOGS)"
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}

# Deterministic environment: neither run sees a preload or allocator options
# other than the ones a check sets.
export LC_ALL=C
unset LD_PRELOAD SWALLOC_CONF MALLOC_CONF

# elapsed without the unit: the figures here are printed as "...s" and summed.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# fits SECONDS: 0 when now + SECONDS is still before the deadline (less a
# second for the summary and the estimate's noise)
fits() { awk -v n="$(now)" -v d="$DEADLINE" -v s="$1" 'BEGIN { exit !(n + s + 1 <= d) }'; }


# the line that explains a failed run: MISMATCH / CORRUPT / swalloc: ..., or
# the last lines of stderr; after a crash also what each thread was calling
why() {
    local l c
    l=$(grep -m 1 -E '^(MISMATCH|CORRUPT)|swalloc:' "$1" 2>/dev/null)
    [ -n "$l" ] || l=$(grep -v '^  thread ' "$1" 2>/dev/null | tail -n 3 | tr '\n' ' ')
    l=$(printf '%s' "$l" | cut -c1-400)
    c=$(grep '^  thread ' "$1" 2>/dev/null | sed 's/^  //' | tr '\n' ';' | cut -c1-600)
    printf '%s%s' "$l" "${c:+ [last calls: $c]}"
}

# ---------------------------------------------------------------------------
echo "library: $LIB"
t0=$(now)
if ! gcc -std=gnu11 -O1 -g -pthread -Wall -I"$TESTLIB" -o "$BIN" "$HERE/differential.c" -ldl >"$LOGS/compile.log" 2>&1; then
    fail compile "$(head -n 5 "$LOGS/compile.log" | tr '\n' ' ' | cut -c1-300)"
    finish
fi
echo "compiled differential.c ($(elapsed "$t0" "$(now)")s)"

# preload_active: LD_PRELOAD really interposes malloc (ld.so silently
# ignores a library it cannot load, which would make every comparison moot)
where=$(LD_PRELOAD="$LIB" "$BIN" --which-malloc 2>"$LOGS/preload.err")
if [ -n "$where" ] && [ "$(realpath "$where" 2>/dev/null)" = "$LIB" ]; then
    pass preload_active "(malloc -> $where)"
else
    fail preload_active "malloc resolves to '$where', not the library: $(why "$LOGS/preload.err")"
    finish
fi

# ---------------------------------------------------------------------------
# configurations: NAME THREADS OPS SWALLOC_CONF (ops per thread; each run of
# 50000 single-threaded operations takes about 0.7-1 s on one core)
FIRST_ROUND=(
    "st 1 50000 -"
    "st 1 50000 -"
    "st 1 50000 -"
    "mt4 4 25000 -"
    "tcache_off 1 50000 tcache:false"
    "narenas1_mt4 4 20000 narenas:1"
    "decay0_mt4 4 20000 dirty_decay_ms:0"
    "secure_mt4 4 20000 secure:true"
    "remote_queue_mt4 4 20000 remote_queue:true"
)
LATER_ROUNDS=(
    "st 1 150000 -"
    "mt4 4 40000 -"
    "mt2 2 60000 -"
    "tcache_off_mt4 4 30000 tcache:false"
    "narenas1_mt4 4 30000 narenas:1"
    "decay0 1 100000 dirty_decay_ms:0"
    "mt8 8 15000 -"
    "decay0_mt4 4 30000 dirty_decay_ms:0"
    "secure_mt4 4 30000 secure:true"
)

RUN_TIMEOUT=120
CHECKS=0
TOTAL_OPS=0
SEEDS=()
# seconds per 1000 thread-operations (both runs of a check), measured on the
# checks that passed: the estimate of the next check's duration
RATE=0.05

# check NAME SEED THREADS OPS CONF
check() {
    local name=$1 seed=$2 threads=$3 ops=$4 conf=$5
    local tag="$name.$seed" c0 c1 rc0 rc1 d0 d1
    local confenv=()
    [ "$conf" != - ] && confenv=(SWALLOC_CONF="$conf")
    c0=$(now)
    # (the braces' 2>/dev/null: bash's own "Aborted" message after a crash)
    { timeout -k 5 "$RUN_TIMEOUT" "$BIN" "$seed" "$threads" "$ops" >"$LOGS/$tag.base.out" 2>"$LOGS/$tag.base.err"; } 2>/dev/null
    rc0=$?
    c1=$(now)
    d0=$(elapsed "$c0" "$c1")
    { timeout -k 5 "$RUN_TIMEOUT" env "${confenv[@]}" LD_PRELOAD="$LIB" "$BIN" "$seed" "$threads" "$ops" \
        >"$LOGS/$tag.lib.out" 2>"$LOGS/$tag.lib.err"; } 2>/dev/null
    rc1=$?
    d1=$(elapsed "$c1" "$(now)")
    if [ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ]; then
        RATE=$(awk -v a="$c0" -v b="$(now)" -v w="$((threads * ops))" -v r="$RATE" \
            'BEGIN { x = (b - a) / (w / 1000); r *= 0.7; printf "%.5f", (x > r ? x : r) }')
    fi
    CHECKS=$((CHECKS + 1))
    SEEDS+=("$seed")
    local what="seed $seed, threads $threads, $ops ops/thread"
    [ "$conf" != - ] && what="$what, SWALLOC_CONF=$conf"
    local ran
    ran=$(sed -n 's/^total ops=\([0-9]*\) .*/\1/p' "$LOGS/$tag.lib.out")
    TOTAL_OPS=$((TOTAL_OPS + ${ran:-0}))
    if [ "$rc0" -ne 0 ]; then
        fail "${name}_seed$seed" "glibc run failed ($(rc_text "$rc0")) [$what]: $(why "$LOGS/$tag.base.err")"
    elif [ "$rc1" -ne 0 ]; then
        fail "${name}_seed$seed" "with the library: $(rc_text "$rc1") [$what]: $(why "$LOGS/$tag.lib.err")"
    elif ! grep -q '^total ops=' "$LOGS/$tag.base.out"; then
        fail "${name}_seed$seed" "no transcript from the glibc run [$what]"
    elif ! cmp -s "$LOGS/$tag.base.out" "$LOGS/$tag.lib.out"; then
        local first
        first=$(diff "$LOGS/$tag.base.out" "$LOGS/$tag.lib.out" | head -n 4 | tr '\n' ' ' | cut -c1-300)
        # find the first differing operation: both again with a per-operation
        # trace (grouped by thread: the lines of threads interleave)
        { timeout -k 5 "$RUN_TIMEOUT" "$BIN" "$seed" "$threads" "$ops" trace \
            >"$LOGS/$tag.base.trace.raw" 2>"$LOGS/$tag.base.trace.err"; } 2>/dev/null
        local trc0=$?
        { timeout -k 5 "$RUN_TIMEOUT" env "${confenv[@]}" LD_PRELOAD="$LIB" "$BIN" "$seed" "$threads" "$ops" trace \
            >"$LOGS/$tag.lib.trace.raw" 2>"$LOGS/$tag.lib.trace.err"; } 2>/dev/null
        local trc1=$? side
        for side in base lib; do
            grep -E '^t[0-9]+ [0-9]+ ' "$LOGS/$tag.$side.trace.raw" | sort -s -k1,1 >"$LOGS/$tag.$side.trace"
        done
        local op
        op=$(diff "$LOGS/$tag.base.trace" "$LOGS/$tag.lib.trace" | grep -m 2 '^[<>]' | tr '\n' ' ' | cut -c1-400)
        [ "$trc1" -ne 0 ] && op="${op:+$op; }(the traced library run failed: $(rc_text "$trc1"): $(why "$LOGS/$tag.lib.trace.err"))"
        [ "$trc0" -ne 0 ] && op="${op:+$op; }(the traced glibc run failed: $(rc_text "$trc0"))"
        fail "${name}_seed$seed" "transcripts differ [$what]: $first; first differing operation (< glibc, > library): ${op:-none in the trace (timing-dependent?)}"
    else
        pass "${name}_seed$seed" "($what; glibc ${d0}s, lib ${d1}s)"
    fi
}

scaled() { awk -v o="$1" -v s="$SCALE" 'BEGIN { v = int(o * s); if (v < 1) v = 1; print v }'; }

round=0
k=0
LATER_BASE=${DIFF_SEED:-$(($(date +%s) % 1000000 * 1000))}
not_reached=0
while :; do
    if [ "$round" -eq 0 ]; then
        list=("${FIRST_ROUND[@]}")
    else
        list=("${LATER_ROUNDS[@]}")
    fi
    ran_in_round=0
    for cfg in "${list[@]}"; do
        read -r name threads ops conf <<<"$cfg"
        k=$((k + 1))
        if [ "$round" -eq 0 ]; then seed=$k; else seed=$((LATER_BASE + k)); fi
        # start a check only if it ends within the budget (estimated from
        # its work and the rate measured so far, with a margin)
        est=$(awk -v r="$RATE" -v w="$((threads * $(scaled "$ops")))" 'BEGIN { printf "%.1f", r * w / 1000 * 1.25 + 0.3 }')
        if ! fits "$est"; then
            [ "$round" -eq 0 ] && not_reached=$((not_reached + 1))
            continue
        fi
        check "$name" "$seed" "$threads" "$(scaled "$ops")" "$conf"
        ran_in_round=1
    done
    round=$((round + 1))
    # stop when not even a short check fits any more
    fits 2 || break
    [ "$not_reached" -gt 0 ] && break
    [ "$ran_in_round" -eq 1 ] || break
done

[ "$not_reached" -gt 0 ] && echo "($not_reached configurations of the first round did not fit in the ${BUDGET}s budget)"
echo "($CHECKS checks, $((CHECKS * 2)) runs, ${#SEEDS[@]} seeds (${SEEDS[0]:-}..${SEEDS[${#SEEDS[@]}-1]:-}), $TOTAL_OPS operations under the library, $(elapsed "$T_START" "$(now)")s)"
finish
