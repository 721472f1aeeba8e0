#!/usr/bin/env bash
# hardening - black-box regression tests for the security findings:
# attacks on the allocator's metadata and fast paths (tests/hardening/hardening.c).
#
# usage: tests/hardening/run.sh /abs/path/libswalloc.so
#        (or SWALLOC_LIB=/abs/path/libswalloc.so tests/hardening/run.sh)
#
# Compiles hardening.c into a temporary directory and runs each mode
# under `timeout` with LD_PRELOAD=<lib>. Each mode has an expected outcome:
#   abort     SIGABRT (rc 134) with a stderr line starting "swalloc:"
#   ok        exit 0 and a stdout line "MODE ok"
#   ok|abort  either of the two
#   ok|abort|noeffect  or exit 0 with "(no effect)": the attack found
#             nothing to corrupt (no remote-free chain was made: secure:true
#             never makes one, the default only when a lock is held)
#   info      a known gap: an abort with "swalloc:" passes; anything else
#             prints "info NAME: known gap (...)" and does not fail
# A "SKIP ..." line (exit 0) is a skip. The "ok" modes that need no attack
# also run without the library (glibc) first: a failure there is a test bug.
# Prints "ok NAME ..." / "FAIL NAME: reason" / "info NAME: ..." per check
# and finally exactly one line "N passed, M failed"; exit 1 on any failure.
#
# Environment knobs:
#   KEEP_WORK=1      keep the temporary directory (kept anyway on failure)
#   ONLY="a b"       run only the named modes
#
# Takes a few seconds with a working library; each hang costs 20 s (the
# program's alarm).

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

. "$HERE/../lib/common.sh"
runner_setup hardening "${1:-}"
ONLY=${ONLY:-}

export LC_ALL=C
export TZ=UTC
unset LD_PRELOAD
ulimit -c 0 2>/dev/null # aborts and crashes are expected: no core files

oneline() { tr '\n' ' ' | sed 's/ *$//' | cut -c1-"$1"; }

# SWALLOC_CONF for the library runs (the secure:true section sets it)
CONF=""
# run_one TAG PRELOAD(0|1) MODE: sets RC and DUR, logs in $LOGS/TAG.{out,err}
run_one() {
    local tag=$1 pre=$2 mode=$3 t0
    t0=$(now)
    # (stderr of the group: bash's own "Aborted" / "Segmentation fault" job message)
    if [ "$pre" = 1 ]; then
        { timeout -k 5 40 env LD_PRELOAD="$LIB" SWALLOC_CONF="$CONF" "$BIN/hardening" "$mode" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err"; } 2>/dev/null
    else
        { timeout -k 5 40 "$BIN/hardening" "$mode" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err"; } 2>/dev/null
    fi
    RC=$?
    DUR=$(elapsed "$t0" "$(now)")
}

# what the program said: its FAIL lines, else its last stdout line, and stderr
said() {
    local tag=$1 out
    out=$(grep -m 3 '^FAIL' "$LOGS/$tag.out" | oneline 600)
    [ -n "$out" ] || out="last stdout line '$(tail -n 1 "$LOGS/$tag.out" | cut -c1-300)'"
    echo "$out; stderr '$(tail -n 3 "$LOGS/$tag.err" | oneline 300)'"
}

# check MODE EXPECT(abort|ok|ok|abort|info) BASELINE(0|1) [NAME]
check() {
    local mode=$1 expect=$2 base=$3 note="" name=${4:-$1}
    wanted "$mode" || wanted "$name" || return 0
    if [ "$base" = 1 ]; then
        run_one "$mode.base" 0 "$mode"
        if [ "$RC" -eq 0 ] && grep -qx -- "$mode ok" "$LOGS/$mode.base.out"; then
            note="; glibc: ok"
        elif [ "$RC" -eq 0 ] && grep -q '^SKIP' "$LOGS/$mode.base.out"; then
            note="; glibc: skipped"
        else
            fail "$mode" "test bug? fails without the library (glibc): $(rc_text "$RC"): $(said "$mode.base")"
            return
        fi
    fi
    run_one "$name" 1 "$mode"
    local msg
    msg=$(grep -m 1 '^swalloc:' "$LOGS/$name.err" | cut -c1-200)
    local aborted=0 okd=0
    [ "$RC" -eq 134 ] && [ -n "$msg" ] && aborted=1
    [ "$RC" -eq 0 ] && grep -qx -- "$mode ok" "$LOGS/$name.out" && okd=1
    if [ "$RC" -eq 0 ] && grep -q '^SKIP' "$LOGS/$name.out"; then
        skip "$name" "$(grep -m 1 '^SKIP' "$LOGS/$name.out" | sed 's/^SKIP *//' | cut -c1-200)"
        return
    fi
    if [ "$expect" = "ok|abort|noeffect" ] && [ "$RC" -eq 0 ] && grep -q '(no effect)$' "$LOGS/$name.out"; then
        pass "$name" "(no effect; $DUR)"
        return
    fi
    case $expect in
        abort | ok\|abort | ok\|abort\|noeffect | info)
            if [ "$aborted" = 1 ]; then
                pass "$name" "(aborted: $msg; $DUR)"
                return
            fi
            ;;
    esac
    case $expect in
        ok | ok\|abort | ok\|abort\|noeffect)
            if [ "$okd" = 1 ]; then
                local first
                first=$(grep -m 1 '^note:' "$LOGS/$name.out" | cut -c7-160)
                pass "$name" "(${first:+$first; }$DUR$note)"
                return
            fi
            ;;
        info)
            echo "info $name: known gap ($(rc_text "$RC"), stdout: $(grep -v '^note:' "$LOGS/$name.out" | tail -n 1 | cut -c1-200))"
            return
            ;;
    esac
    local want="exit 0 with '$mode ok'"
    [ "$expect" = abort ] && want="SIGABRT with a 'swalloc:' message"
    [ "$expect" = "ok|abort" ] && want="'$mode ok' or SIGABRT with a 'swalloc:' message"
    fail "$name" "expected $want; got $(rc_text "$RC"): $(said "$name")"
}

echo "library: $LIB"
if ! gcc -std=gnu11 -O1 -g -pthread -I"$TESTLIB" -o "$BIN/hardening" "$HERE/hardening.c" -ldl >"$LOGS/compile.log" 2>&1; then
    fail compile-hardening "$(head -n 5 "$LOGS/compile.log" | oneline 300)"
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi

# Finding 1: remote-free chains linked through the blocks' first word.
# By default thread B's flush finds A's bin lock free (A waits in
# pthread_join) and returns the blocks to their slabs directly: no chain,
# nothing read back, so the write after free has no effect. remote_queue:true
# makes every cross-arena flush a chain: there the forged links must abort.
check remote-chain-ok ok 1
for m in remote-chain-live remote-chain-global; do
    check "$m" "ok|abort|noeffect" 0
done
CONF=remote_queue:true
check remote-chain-ok ok 0 queue.remote-chain-ok
check remote-chain-live abort 0 queue.remote-chain-live
check remote-chain-global abort 0 queue.remote-chain-global
CONF=
# Finding 2: chunk metadata reachable by a linear overflow
check overflow-next-chunk "ok|abort" 0
check overflow-page-entry "ok|abort" 0
# Finding 3: large blocks double-freed through the thread cache
check double-free-large-aba abort 0
check double-free-large-threads abort 0
# Finding 4: traps on plain realloc / xallocx / rallocx near PTRDIFF_MAX
check realloc-huge-max ok 1
# Finding 5: hangs in malloc_stats_print callbacks
check stats-reentrant ok 1
check stats-fork ok 1
# Finding 6: fast-path gaps (information only)
check aba-small info 0
check free-interior-small info 0
check free-interior-20000 info 0
check realloc-freed info 0
check cross-thread-double-free-small info 0

# secure:true closes the fast-path gaps: each must abort. (It makes no
# remote-free chains: frees go through the quarantine to their slabs, so
# the chain attacks have nothing to corrupt: no effect is fine.)
CONF=secure:true
for m in aba-small free-interior-small free-interior-20000 realloc-freed cross-thread-double-free-small \
         double-free-large-aba double-free-large-threads; do
    check "$m" abort 0 "secure.$m"
done
for m in remote-chain-live remote-chain-global; do
    check "$m" "ok|abort|noeffect" 0 "secure.$m"
done
check remote-chain-ok ok 0 secure.remote-chain-ok
CONF=

[ "$SKIPPED" -gt 0 ] && echo "($SKIPPED skipped)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
