#!/usr/bin/env bash
# decay - memory goes back to the system (decay_rss.c, library only): 1 GiB
# allocated and freed returns
#   decay_trim             at once through malloc_trim(0)
#   decay_timed            by decay alone, dirty_decay_ms:300
#   decay_muzzy            through the MADV_FREE stage (muzzy_decay_ms:200)
#   decay_background       with no allocator call, by the background thread
#   decay_background_fork  the same in a child forked after the parent's
#                          background thread started
# and calloc of purged memory reads zero.
#
# usage: tests/decay/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). About 20 s.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup decay "${1:-}"

t0=$(now)
compile decay_rss
echo "compiled test programs ($(elapsed "$t0" "$(now)"))"

decay_check() { # name conf args...
    local name=$1 conf=$2
    shift 2
    wanted "$name" || return 0
    run_one "$name" 1 120 env SWALLOC_CONF="$conf" "$BIN/decay_rss" "$@"
    if [ "$RC" -eq 0 ]; then
        pass "$name" "($(head -n 1 "$LOGS/$name.out"); $DUR)"
    else
        fail "$name" "$(rc_text "$RC"): $(short_err "$LOGS/$name.err") $(head -n 1 "$LOGS/$name.out")"
    fi
}
if have decay_rss; then
    decay_check decay_trim "" trim
    decay_check decay_timed "dirty_decay_ms:300" decay 400
    decay_check decay_muzzy "dirty_decay_ms:100,muzzy_decay_ms:200" decay 400
    decay_check decay_background "dirty_decay_ms:300,background_thread:true" idle 600
    decay_check decay_background_fork "dirty_decay_ms:300,background_thread:true" fork-idle 600
fi

runner_summary
