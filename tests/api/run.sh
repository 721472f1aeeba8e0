#!/usr/bin/env bash
# api - the C API as a black box (api_conformance.c, dlopen_api.c; the
# checks themselves are in tests/lib/malloc_checks.h):
#   preload_active   LD_PRELOAD really interposes malloc (ld.so silently
#                    ignores a library it cannot load, which would make every
#                    comparison with glibc meaningless)
#   api_conformance  glibc's malloc-family semantics: passes without the
#                    library (glibc) and with it preloaded
#   dlopen_api       no preload: the library dlopen()ed RTLD_LOCAL, its
#                    swalloc_* entry points through the same checks, the two
#                    heaps side by side, threads
#
# usage: tests/api/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). A few seconds.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup api "${1:-}"

t0=$(now)
compile api_conformance
compile dlopen_api -ldl
echo "compiled test programs ($(elapsed "$t0" "$(now)"))"

if wanted preload_active && have api_conformance; then
    run_one preload_active 1 30 "$BIN/api_conformance" --which-malloc
    where=$(cat "$LOGS/preload_active.out")
    if [ "$RC" -eq 0 ] && [ -n "$where" ] && [ "$(realpath "$where" 2>/dev/null)" = "$LIB" ]; then
        pass preload_active "(malloc -> $where)"
    else
        fail preload_active "malloc resolves to '$where', not the library ($(rc_text "$RC")): $(short_err "$LOGS/preload_active.err")"
    fi
fi

# api_conformance: must pass with and without the library
if wanted api_conformance && have api_conformance; then
    run_one api_conformance.base 0 180 "$BIN/api_conformance"
    rc0=$RC d0=$DUR
    run_one api_conformance.lib 1 180 "$BIN/api_conformance"
    rc1=$RC d1=$DUR
    if [ "$rc0" -ne 0 ]; then
        fail api_conformance "fails even without the library ($(rc_text "$rc0")): $(grep '^FAIL' "$LOGS/api_conformance.base.out" | head -n 3 | tr '\n' ' ')"
    elif [ "$rc1" -ne 0 ]; then
        fail api_conformance "$(rc_text "$rc1"): $(grep '^FAIL' "$LOGS/api_conformance.lib.out" | head -n 5 | tr '\n' ' ' | cut -c1-600)"
    else
        pass api_conformance "(base $d0, lib $d1)"
    fi
fi

# dlopen_api: no preload, the library is dlopen()ed RTLD_LOCAL
if wanted dlopen_api && have dlopen_api; then
    run_one dlopen_api 0 180 "$BIN/dlopen_api" "$LIB"
    if [ "$RC" -eq 0 ]; then
        pass dlopen_api "($DUR)"
    else
        fail dlopen_api "$(rc_text "$RC"): $( (grep '^FAIL' "$LOGS/dlopen_api.out"; short_err "$LOGS/dlopen_api.err") | head -n 5 | tr '\n' ' ' | cut -c1-600)"
    fi
fi

runner_summary
