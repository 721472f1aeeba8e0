# common.sh - what the black-box runners share (sourced by the suites'
# run.sh, directly or through blackbox.sh): result lines and counters, ONLY=
# selection, timing, exit-status text, the library argument with a work
# directory kept on failure, and the final summary line.
#
# Result lines: "ok NAME (...)", "FAIL NAME: reason", "SKIP NAME: reason";
# each runner ends with exactly one line "N passed, M failed".

# this folder: the shared C headers (compile with -I"$TESTLIB")
TESTLIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PASSED=0
FAILED=0
SKIPPED=0

pass() { PASSED=$((PASSED + 1)); echo "ok $1${2:+ $2}"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP $1: $2"; }

# wanted NAME: whether ONLY (space-separated names) selects NAME; all when
# ONLY is empty
wanted() {
    [ -z "${ONLY:-}" ] && return 0
    local w
    for w in $ONLY; do [ "$w" = "$1" ] && return 0; done
    return 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }

rc_text() {
    case $1 in
        124 | 137) echo "timed out (hang?) rc=$1" ;;
        142) echo "rc=142 (SIGALRM: hung past the program's alarm)" ;;
        0) echo "rc=0" ;;
        *)
            if [ "$1" -gt 128 ]; then
                echo "rc=$1 (signal $(($1 - 128)) $(kill -l $(($1 - 128)) 2>/dev/null))"
            else
                echo "rc=$1"
            fi
            ;;
    esac
}

# runner_setup TAG LIB: checks the library argument (or SWALLOC_LIB), sets
# LIB (absolute), WORK, BIN and LOGS (a fresh directory, removed at exit
# unless a check failed or KEEP_WORK=1).
runner_setup() {
    LIB=${2:-${SWALLOC_LIB:-}}
    if [ -z "$LIB" ]; then
        echo "usage: $0 /abs/path/libswalloc.so   (or set SWALLOC_LIB)" >&2
        exit 2
    fi
    if [ ! -f "$LIB" ]; then
        echo "$0: library '$LIB' does not exist" >&2
        exit 2
    fi
    LIB=$(realpath "$LIB")
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/swalloc-$1.XXXXXX")
    BIN="$WORK/bin"
    LOGS="$WORK/logs"
    mkdir -p "$BIN" "$LOGS"
    trap runner_cleanup EXIT
}

runner_cleanup() {
    if [ "$FAILED" -eq 0 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        echo "(logs kept in $LOGS)"
    fi
}

# runner_summary: the skip count (if any) and the one summary line; returns
# non-zero when a check failed (a runner ends with it).
runner_summary() {
    [ "$SKIPPED" -gt 0 ] && echo "($SKIPPED skipped)"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
