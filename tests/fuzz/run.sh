#!/usr/bin/env bash
# fuzz - libFuzzer over the swalloc_* API (api_fuzz.c through run-fuzz.sh:
# the library dlopen()ed, no preload) for FUZZ_SECONDS (default 60; 0
# skips it): one check, "fuzz", skipped when no clang with libFuzzer is
# found. For a long run by hand: tests/fuzz/run-fuzz.sh LIB 1800.
#
# usage: tests/fuzz/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# KEEP_WORK=1 keeps the work directory (kept anyway on failure).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup fuzz "${1:-}"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

if wanted fuzz; then
    if [ "$FUZZ_SECONDS" -le 0 ]; then
        skip fuzz "FUZZ_SECONDS=0"
    else
        run_one fuzz 0 $((FUZZ_SECONDS + 240)) bash "$HERE/run-fuzz.sh" "$LIB" "$FUZZ_SECONDS"
        if [ "$RC" -eq 0 ] && grep -q '^ok fuzz' "$LOGS/fuzz.out"; then
            pass fuzz "$(grep -m 1 '^ok fuzz' "$LOGS/fuzz.out" | sed 's/^ok fuzz //') ($DUR)"
        elif [ "$RC" -eq 77 ]; then
            skip fuzz "$(head -n 1 "$LOGS/fuzz.out" | sed 's/^SKIP fuzz: //')"
        else
            fail fuzz "$(rc_text "$RC"): $(head -n 3 "$LOGS/fuzz.out" | tr '\n' ' ' | cut -c1-700)"
        fi
    fi
fi

runner_summary
