#!/usr/bin/env bash
# compat - jemalloc compatibility and fork safety, black box
# (tests/compat/jemalloc_compat.c, fork_deadlock.c, malloc_conf.c):
#   sized        the sized-free rule (sdallocx, free_sized, free_aligned_sized)
#                over sizes 1 B .. 64 MiB and alignments 1 B .. 1 GiB
#   mismatch.K   a wrong size still aborts with one line
#   zero         MALLOCX_ZERO and calloc zero the whole usable size
#   ctl          every mallctl name of README's table, by name and by MIB
#   pageruns     large blocks above 80 KiB get their request in whole pages
#                (usable size, nallocx, thread.allocated, realloc, xallocx)
#   fork_stdio   1000 forks while threads sit in getline / fflush(NULL) /
#                malloc (glibc's tst-malloc-fork-deadlock situation)
#   fork_signal  1000 forks from a signal handler that interrupted malloc
#                or free (glibc's tst-mallocfork2 situation)
#   malloc_conf  a program's own malloc_conf string (jemalloc's compiled-in
#                options) is read, and SWALLOC_CONF overrides it
# The fork checks run with the thread cache and without it (tcache:false:
# every call takes a lock, the case the old protocol deadlocked in); a hang
# is caught by `timeout`.
#
# usage: tests/compat/run.sh /abs/path/libswalloc.so
# Prints "ok NAME ..." / "FAIL NAME: reason" per check and one line
# "N passed, M failed"; exit 1 on any failure. About 30 s.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/common.sh"
runner_setup compat "${1:-}"
ONLY=${ONLY:-}
export LC_ALL=C
unset LD_PRELOAD

for prog in jemalloc_compat fork_deadlock; do
    if ! gcc -std=gnu11 -O1 -g -pthread -Wall -I"$TESTLIB" -o "$BIN/$prog" "$HERE/$prog.c" -ldl >"$LOGS/compile-$prog.log" 2>&1; then
        fail "compile-$prog" "$(head -n 5 "$LOGS/compile-$prog.log" | tr '\n' ' ' | cut -c1-300)"
    fi
done

# check NAME TIMEOUT CONF CMD...: passes on exit 0 with an "ok" line.
check() {
    local name=$1 t=$2 conf=$3
    shift 3
    wanted "$name" || return 0
    local t0
    t0=$(now)
    timeout -k 5 "$t" env SWALLOC_CONF="$conf" LD_PRELOAD="$LIB" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
    local rc=$?
    if [ "$rc" -eq 0 ] && grep -q '^ok' "$LOGS/$name.out"; then
        pass "$name" "($(grep '^ok' "$LOGS/$name.out" | head -n 1); $(elapsed "$t0" "$(now)"))"
    else
        fail "$name" "$(rc_text "$rc"): $( (grep '^FAIL' "$LOGS/$name.out"; tail -n 2 "$LOGS/$name.err") | head -n 6 | tr '\n' ' ' | cut -c1-600)"
    fi
}

check sized 120 "" "$BIN/jemalloc_compat" sized
check zero 60 "" "$BIN/jemalloc_compat" zero
check ctl 60 "" "$BIN/jemalloc_compat" ctl
check pageruns 60 "" "$BIN/jemalloc_compat" pageruns

# A wrong size must still abort, naming the error.
cases=$(env LD_PRELOAD="$LIB" "$BIN/jemalloc_compat" mismatch -1 | sed -n 's/^cases: //p')
[ "${cases:-0}" -gt 0 ] || fail mismatch "the program names no mismatch cases"
for k in $(seq 0 $((${cases:-0} - 1))); do
    name=mismatch.$k
    wanted "$name" || continue
    timeout -k 5 30 env LD_PRELOAD="$LIB" "$BIN/jemalloc_compat" mismatch "$k" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
    rc=$?
    if [ "$rc" -eq 134 ] && grep -q '^swalloc: sdallocx(): size does not match' "$LOGS/$name.err"; then
        pass "$name" "(aborted: $(head -n 1 "$LOGS/$name.err"))"
    else
        fail "$name" "$(rc_text "$rc"), not an abort naming the mismatch: $(head -n 2 "$LOGS/$name.out" "$LOGS/$name.err" | tr '\n' ' ' | cut -c1-300)"
    fi
done

# malloc_conf in the program (linked with -lswalloc), overridden by the
# environment.
libdir=$(dirname "$LIB")
if gcc -std=gnu11 -O1 -I"$TESTLIB" -o "$BIN/malloc_conf" "$HERE/malloc_conf.c" -Wl,--no-as-needed -L"$libdir" \
       -l:"$(basename "$LIB")" -Wl,-rpath,"$libdir" -ldl >"$LOGS/compile-malloc_conf.log" 2>&1; then
    check malloc_conf 30 "" env -u LD_PRELOAD "$BIN/malloc_conf" 3 1234
    check malloc_conf_env 30 "narenas:5" env -u LD_PRELOAD "$BIN/malloc_conf" 5 1234
else
    fail compile-malloc_conf "$(head -n 5 "$LOGS/compile-malloc_conf.log" | tr '\n' ' ' | cut -c1-300)"
fi

for conf in "" "tcache:false"; do
    suffix=${conf:+.nocache}
    check "fork_stdio$suffix" 120 "$conf" "$BIN/fork_deadlock" stdio 1000
    check "fork_signal$suffix" 120 "$conf" "$BIN/fork_deadlock" signal 1000
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
