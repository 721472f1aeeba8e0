#!/usr/bin/env bash
# run-fuzz.sh - builds the libFuzzer target api_fuzz.c and runs it against
# the library for a while.
#
# usage: tests/fuzz/run-fuzz.sh /abs/path/libswalloc.so SECONDS [libFuzzer flags...]
#
# Prints "ok fuzz (N runs, SECONDS s)" or "FAIL fuzz: ..." with the crash
# and a command that replays it; "SKIP fuzz: ..." (exit 77) when no clang
# with libFuzzer is found. CI runs 60 s (tests/fuzz/run.sh); by hand,
# longer (e.g. 1800). The committed seeds in tests/fuzz/corpus are only
# read: the inputs libFuzzer finds go to a scratch corpus in the work
# directory (set FUZZ_CORPUS=DIR to keep them between runs).
#
# Compiler: $CLANG, else Swift's clang (/opt/swift/usr/bin/clang, which
# ships libclang_rt.fuzzer), else clang from PATH (Debian/Ubuntu: apt-get
# install clang libfuzzer-<version>-dev).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIB=${1:-}
SECONDS_TO_RUN=${2:-60}
shift 2 2>/dev/null || shift $#
if [ -z "$LIB" ] || [ ! -f "$LIB" ]; then
    echo "usage: $0 /abs/path/libswalloc.so SECONDS [libFuzzer flags]" >&2
    exit 2
fi
LIB=$(realpath "$LIB")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/swalloc-fuzz.XXXXXX")
keep=0
cleanup() { [ "$keep" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

# a clang that can link -fsanitize=fuzzer (probe.c: an empty target)
CC=""
for c in ${CLANG:-} /opt/swift/usr/bin/clang clang; do
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -fsanitize=fuzzer -o "$WORK/probe" "$HERE/probe.c" >/dev/null 2>&1; then
        CC=$c
        break
    fi
done
if [ -z "$CC" ]; then
    echo "SKIP fuzz: no clang with libFuzzer (-fsanitize=fuzzer); set CLANG, or apt-get install clang libfuzzer-<version>-dev"
    exit 77
fi

if ! "$CC" -g -O1 -fsanitize=fuzzer -o "$WORK/api_fuzz" "$HERE/api_fuzz.c" -ldl >"$WORK/build.log" 2>&1; then
    keep=1
    echo "FAIL fuzz: build failed: $(head -n 5 "$WORK/build.log" | tr '\n' ' ' | cut -c1-400) (log $WORK/build.log)"
    exit 1
fi

CORPUS=${FUZZ_CORPUS:-$WORK/corpus}
mkdir -p "$CORPUS" "$WORK/artifacts"
# -rss_limit_mb: 64 live blocks of up to 8 MiB stay far below it;
# -timeout: one input running 30 s is a hang.
SWALLOC_LIB="$LIB" timeout -k 10 $((SECONDS_TO_RUN + 120)) "$WORK/api_fuzz" \
    -max_total_time="$SECONDS_TO_RUN" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts/" "$@" "$CORPUS" "$HERE/corpus" >"$WORK/fuzz.log" 2>&1
rc=$?
runs=$(grep -oE '^Done [0-9]+ runs' "$WORK/fuzz.log" | grep -oE '[0-9]+' | tail -n 1)
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "ok fuzz ($runs runs, ${SECONDS_TO_RUN}s, $(ls "$CORPUS" | wc -l) corpus inputs)"
    exit 0
fi
keep=1
crash=$(ls "$WORK"/artifacts/* 2>/dev/null | head -n 1)
bug=$(grep -m 1 -E 'api_fuzz: BUG|ERROR: libFuzzer|swalloc:|Sanitizer' "$WORK/fuzz.log")
echo "FAIL fuzz: rc=$rc: ${bug:-$(tail -n 3 "$WORK/fuzz.log" | tr '\n' ' ' | cut -c1-300)}"
[ -n "$crash" ] && echo "  replay: SWALLOC_LIB=$LIB $WORK/api_fuzz $crash"
echo "  log: $WORK/fuzz.log"
exit 1
