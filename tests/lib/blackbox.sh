# blackbox.sh - the harness of the suites api, decay, options, concurrency,
# oom, misuse, fuzz and programs (until they were split, one script:
# run-programs.sh): sourced by their run.sh after setting HERE (the suite's
# folder, where its programs are). Sources common.sh, sets a deterministic environment, and gives
#   blackbox_setup TAG LIB   runner_setup, then the "library:" line
#   compile PROG [FLAGS]     $HERE/PROG.c -> $BIN/PROG (FAIL compile-PROG)
#   compile_shared NAME [FLAGS]  $HERE/NAME.c -> $BIN/NAME.so
#   have PROG                whether $BIN/PROG was built
#   run_one TAG PRELOAD(0|1) TIMEOUT CMD...   one run, logs, RC and DUR
#   compare NAME TIMEOUT FILTER CMD...        glibc against the library
#   lib_check NAME TIMEOUT EXPECTED-LINE PRELOAD(lib|shim) CMD...
#   short_err LOG            the last lines of a stderr log, on one line
# Runs one command at a time (the test machines have 2 cores).

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ONLY=${ONLY:-}

# Deterministic environment for every command, the library's options
# included: a check that wants an option sets it on its own command line,
# and an exported MALLOC_CONF (a jemalloc user's narenas:1) must not change
# what the others see (tests/options: harness_clears_conf).
export LC_ALL=C
export TZ=UTC
unset LD_PRELOAD SWALLOC_CONF MALLOC_CONF

blackbox_setup() { # TAG LIB
    runner_setup "$1" "$2"
    echo "library: $LIB"
}

# run_one TAG PRELOAD(0|1) TIMEOUT CMD...
#   runs CMD with stdout -> $LOGS/TAG.out, stderr -> $LOGS/TAG.err;
#   sets RC and DUR. `timeout` itself never runs under the library.
run_one() {
    local tag=$1 pre=$2 t=$3
    shift 3
    local t0 t1
    t0=$(now)
    if [ "$pre" = 1 ]; then
        timeout -k 10 "$t" env LD_PRELOAD="$LIB" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err"
    else
        timeout -k 10 "$t" "$@" >"$LOGS/$tag.out" 2>"$LOGS/$tag.err"
    fi
    RC=$?
    t1=$(now)
    DUR=$(elapsed "$t0" "$t1")
}

short_err() { # last lines of a stderr log, on one line
    tail -n 3 "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-300
}

# compare NAME TIMEOUT FILTER CMD...
#   runs CMD without the library (baseline: glibc malloc) and with
#   LD_PRELOAD=<lib>, and compares exit status and stdout. FILTER is a shell
#   command applied to stdout before comparing ("cat" for exact comparison).
compare() {
    local name=$1 t=$2 filter=$3
    shift 3
    wanted "$name" || return 0
    run_one "$name.base" 0 "$t" "$@"
    local rc0=$RC d0=$DUR
    run_one "$name.lib" 1 "$t" "$@"
    local rc1=$RC d1=$DUR
    bash -c "$filter" <"$LOGS/$name.base.out" >"$LOGS/$name.base.cmp" 2>/dev/null
    bash -c "$filter" <"$LOGS/$name.lib.out" >"$LOGS/$name.lib.cmp" 2>/dev/null
    if [ "$rc0" -ne 0 ]; then
        fail "$name" "baseline run without the library failed ($(rc_text "$rc0")): $(short_err "$LOGS/$name.base.err")"
    elif [ "$rc1" -ne "$rc0" ]; then
        fail "$name" "with library: $(rc_text "$rc1") (baseline rc=$rc0): $(short_err "$LOGS/$name.lib.err")"
    elif ! cmp -s "$LOGS/$name.base.cmp" "$LOGS/$name.lib.cmp"; then
        fail "$name" "stdout differs: $(diff "$LOGS/$name.base.cmp" "$LOGS/$name.lib.cmp" | head -n 6 | tr '\n' ' ' | cut -c1-400)"
    elif [ ! -s "$LOGS/$name.base.cmp" ]; then
        fail "$name" "no output to compare (filter produced nothing)"
    else
        pass "$name" "(base $d0, lib $d1)"
    fi
}

# compile PROG [FLAGS...]: $HERE/PROG.c -> $BIN/PROG (one compiler at a time)
compile() {
    local prog=$1
    shift
    if ! gcc -std=gnu11 -O1 -g -pthread -I"$TESTLIB" -o "$BIN/$prog" "$HERE/$prog.c" "$@" >"$LOGS/compile-$prog.log" 2>&1; then
        fail "compile-$prog" "$(head -n 5 "$LOGS/compile-$prog.log" | tr '\n' ' ' | cut -c1-300)"
        return 1
    fi
}

# compile_shared NAME [FLAGS...]: $HERE/NAME.c -> $BIN/NAME.so
compile_shared() {
    local name=$1
    shift
    if ! gcc -std=gnu11 -O1 -g -shared -fPIC -I"$TESTLIB" -o "$BIN/$name.so" "$HERE/$name.c" "$@" >"$LOGS/compile-$name.log" 2>&1; then
        fail "compile-$name" "$(head -n 5 "$LOGS/compile-$name.log" | tr '\n' ' ' | cut -c1-300)"
        return 1
    fi
}

have() { [ -x "$BIN/$1" ]; }

# lib_check NAME TIMEOUT EXPECTED-LINE PRELOAD(lib|shim) CMD...
#   passes when CMD exits 0 and prints EXPECTED-LINE; a "SKIP ..." line
#   instead is a skip. PRELOAD=shim puts $BIN/mmap_fail_shim.so before the
#   library.
lib_check() {
    local name=$1 t=$2 expect=$3 pre=$4
    shift 4
    wanted "$name" || return 0
    if [ "$pre" = shim ]; then
        run_one "$name" 0 "$t" env LD_PRELOAD="$BIN/mmap_fail_shim.so:$LIB" "$@"
    else
        run_one "$name" 1 "$t" "$@"
    fi
    if [ "$RC" -eq 0 ] && grep -qx -- "$expect" "$LOGS/$name.out"; then
        pass "$name" "($DUR)"
    elif [ "$RC" -eq 0 ] && grep -q '^SKIP' "$LOGS/$name.out"; then
        skip "$name" "$(grep -m 1 '^SKIP' "$LOGS/$name.out" | cut -c1-200)"
    else
        fail "$name" "$(rc_text "$RC"): $(grep -m 3 '^FAIL' "$LOGS/$name.out" | tr '\n' ' ' | cut -c1-600) $(short_err "$LOGS/$name.err")"
    fi
}
