#!/usr/bin/env bash
# options - SWALLOC_CONF / MALLOC_CONF, introspection and early callers
# (options.c, early_alloc.c; library only):
#   opt_junk, opt_zero, opt_narenas   the option takes effect
#   opt_narenas_default, opt_narenas_one_cpu
#                                     narenas defaults to the CPU count
#   opt_thp_*                         opt.thp, and the madvise flag of a
#                                     chunk's mapping in /proc/self/smaps
#   opt_unknown, opt_bad_value        one warning naming it, then ignored
#   opt_abort_conf                    abort_conf:true aborts on a bad option
#   opt_abort_conf_message            ... saying so, not "ignored" first
#   opt_stats_print                   the report at exit
#   introspection                     mallctl, malloc_stats_print, ... in
#                                     one process
#   opt_tcache_off                    tcache:false catches an immediate
#                                     double free
#   opt_malloc_conf                   MALLOC_CONF when SWALLOC_CONF is unset
#   harness_clears_conf               the black-box harness (blackbox.sh)
#                                     drops SWALLOC_CONF / MALLOC_CONF from
#                                     the caller's environment, so a
#                                     jemalloc user's exported MALLOC_CONF
#                                     (narenas:1 failed concurrency's
#                                     arena_share) changes no suite
#   early_ctor_before, early_ctor_after
#                                     a preloaded library's constructor
#                                     allocates (and calls dlsym) before
#                                     swalloc's constructor ran, or after;
#                                     its destructor frees after main
#
# usage: tests/options/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). A few seconds.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup options "${1:-}"

t0=$(now)
compile options -ldl
compile_shared early_alloc -ldl
echo "compiled test programs ($(elapsed "$t0" "$(now)"))"

option_check() { # name conf expect(ok|abort) stderr-pattern args...
    local name=$1 conf=$2 expect=$3 pattern=$4
    shift 4
    wanted "$name" || return 0
    run_one "$name" 1 60 env SWALLOC_CONF="$conf" "$BIN/options" "$@"
    local err
    err=$(cat "$LOGS/$name.err")
    if [ "$expect" = ok ] && [ "$RC" -eq 0 ] && grep -q ' ok$' "$LOGS/$name.out" && { [ -z "$pattern" ] || grep -q -- "$pattern" <<<"$err"; }; then
        pass "$name" "($DUR)"
    elif [ "$expect" = abort ] && [ "$RC" -eq 134 ] && grep -q -- "$pattern" <<<"$err"; then
        pass "$name" "(aborted: $(head -n 1 <<<"$err"))"
    else
        fail "$name" "$(rc_text "$RC"): $(head -n 2 "$LOGS/$name.out" | tr '\n' ' ') $(short_err "$LOGS/$name.err")"
    fi
}
if have options; then
    option_check opt_junk "junk:true" ok "" junk
    option_check opt_zero "zero:true" ok "" zero
    option_check opt_narenas "narenas:3" ok "" narenas 3
    # The default: one automatic arena per CPU in the affinity mask (more
    # arenas than CPUs only added their free pages to the peak RSS of
    # programs with more threads than CPUs: Init.swift).
    # (nproc: the CPUs in the affinity mask, as sched_getaffinity counts
    # them, unless OpenMP's variables say otherwise.)
    option_check opt_narenas_default "" ok "" narenas "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"
    if wanted opt_narenas_one_cpu; then
        if command -v taskset >/dev/null; then
            run_one opt_narenas_one_cpu 1 60 taskset -c 0 env SWALLOC_CONF= "$BIN/options" narenas 1
            if [ "$RC" -eq 0 ]; then pass opt_narenas_one_cpu "(taskset -c 0: one arena)"
            else fail opt_narenas_one_cpu "$(rc_text "$RC"): $(head -n 1 "$LOGS/opt_narenas_one_cpu.out")"; fi
        else
            skip opt_narenas_one_cpu "no taskset (util-linux)"
        fi
    fi
    option_check opt_remote_queue "remote_queue:true" ok "" remote-queue 1
    option_check opt_remote_queue_default "" ok "" remote-queue 0
    # thp: the flag a chunk's mapping must carry depends on the system's
    # mode (the bracketed word): thp:never (the default) marks chunks
    # MADV_NOHUGEPAGE only where the mode is "always"; thp:always asks for
    # huge pages unless the mode is "never"; thp:default never calls.
    thp_mode=$(sed -n 's/.*\[\([a-z]*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
    case $thp_mode in always) never_flag=nh ;; *) never_flag=- ;; esac
    case $thp_mode in never) always_flag=- ;; *) always_flag=hg ;; esac
    option_check opt_thp_default "" ok "" thp never "$never_flag"
    option_check opt_thp_always "thp:always" ok "" thp always "$always_flag"
    option_check opt_thp_system "thp:default" ok "" thp default -
    option_check opt_thp_bad "thp:sometimes" ok "swalloc: bad value for option 'thp:sometimes' ignored" thp never "$never_flag"
    option_check opt_unknown "bogus:1,narenas:2" ok "swalloc: unknown option 'bogus' ignored" narenas 2
    option_check opt_bad_value "narenas:lots" ok "swalloc: bad value for option 'narenas:lots' ignored" plain
    option_check opt_abort_conf "bogus:1,abort_conf:true" abort "swalloc: invalid configuration (abort_conf:true)" plain
    # ... and says so, not "ignored" first (abort_conf read before the rest).
    if wanted opt_abort_conf_message; then
        if grep -q "unknown option 'bogus'" "$LOGS/opt_abort_conf.err" && ! grep -q "ignored" "$LOGS/opt_abort_conf.err"; then
            pass opt_abort_conf_message "($(head -n 1 "$LOGS/opt_abort_conf.err"))"
        else
            fail opt_abort_conf_message "stderr: $(tr '\n' ' ' <"$LOGS/opt_abort_conf.err" | cut -c1-200)"
        fi
    fi
    option_check opt_stats_print "stats_print:true" ok "___ swalloc statistics ___" plain
    option_check introspection "" ok "___ swalloc statistics ___" introspection
    option_check opt_tcache_off "tcache:false" abort "swalloc: free(): double free detected" tcache-off-double-free
    if wanted opt_malloc_conf; then
        run_one opt_malloc_conf 1 60 env -u SWALLOC_CONF MALLOC_CONF="narenas:5" "$BIN/options" narenas 5
        if [ "$RC" -eq 0 ]; then pass opt_malloc_conf "(MALLOC_CONF used when SWALLOC_CONF is unset)"
        else fail opt_malloc_conf "$(rc_text "$RC"): $(head -n 1 "$LOGS/opt_malloc_conf.out")"; fi
    fi
fi

# Each check sets the options it wants; none may inherit the caller's.
if wanted harness_clears_conf; then
    left=$(env SWALLOC_CONF=narenas:3 MALLOC_CONF=narenas:5 \
               bash -c '. "$1/blackbox.sh"; echo "${SWALLOC_CONF-unset} ${MALLOC_CONF-unset}"' _ "$TESTLIB")
    if [ "$left" = "unset unset" ]; then pass harness_clears_conf "(SWALLOC_CONF and MALLOC_CONF unset)"
    else fail harness_clears_conf "after sourcing blackbox.sh, SWALLOC_CONF MALLOC_CONF = $left"; fi
fi

# early calls: a preloaded library's constructor allocates (and looks symbols
# up with dlsym) before swalloc's constructor has run ("before": it is
# listed after libswalloc.so, so ld.so initializes it first) or after it;
# its blocks are freed by its destructor after main.
if [ -f "$BIN/early_alloc.so" ] && have options; then
    for order in before after; do
        name=early_ctor_$order
        wanted "$name" || continue
        if [ "$order" = before ]; then pre="$LIB:$BIN/early_alloc.so"; else pre="$BIN/early_alloc.so:$LIB"; fi
        run_one "$name" 0 60 env LD_PRELOAD="$pre" "$BIN/options" plain
        if [ "$RC" -eq 0 ] && grep -qx "plain ok" "$LOGS/$name.out"; then pass "$name" "($DUR)"
        else fail "$name" "$(rc_text "$RC"): $(head -n 2 "$LOGS/$name.out" | tr '\n' ' ') $(short_err "$LOGS/$name.err")"; fi
    done
fi

runner_summary
