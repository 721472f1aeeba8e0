#!/usr/bin/env bash
# options - SWALLOC_CONF / MALLOC_CONF, introspection and early callers
# (options.c, early_alloc.c; library only):
#   opt_junk, opt_zero, opt_narenas   the option takes effect
#   opt_narenas_default, opt_narenas_one_cpu
#                                     narenas defaults to the CPU count
#   opt_thp_*                         opt.thp, and the madvise flag of a
#                                     chunk's mapping in /proc/self/smaps
#   opt_unknown, opt_bad_value        one warning naming it, then ignored
#   opt_jemalloc_only                 jemalloc 5.3's options for machinery
#                                     swalloc lacks: read, no warning
#   opt_unsupported                   ... a feature asked for: its warning
#   opt_lg_tcache_max*                jemalloc 5.2's tcache_max (2^N)
#   opt_zero_realloc_*                realloc(p, 0): free, alloc, abort
#   opt_confirm_conf                  the sources and settings printed
#   opt_setuid_env                    a setuid program run by another user
#                                     (AT_SECURE) reads neither
#                                     SWALLOC_CONF nor MALLOC_CONF: no
#                                     heap profile under the caller's
#                                     prof_prefix, no stats on its fd
#                                     (needs root, setpriv and the nobody
#                                     user; else skipped, saying why)
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
    # A jemalloc 5.3 user's MALLOC_CONF: every option jemalloc reads is
    # read here too, without a warning (abort_conf:true would abort on one).
    jemalloc_conf="abort_conf:true,abort:false,confirm_conf:false,retain:true,dss:secondary,percpu_arena:disabled"
    jemalloc_conf+=",oversize_threshold:8388608,hpa:false,hpa_slab_max_alloc:65536,hpa_hugification_threshold:1992294"
    jemalloc_conf+=",hpa_hugify_delay_ms:10000,hpa_min_purge_interval_ms:5000,hpa_dirty_mult:0.25,hpa_sec_nshards:4"
    jemalloc_conf+=",hpa_sec_max_alloc:32768,hpa_sec_max_bytes:262144,hpa_sec_bytes_after_flush:131072"
    jemalloc_conf+=",hpa_sec_batch_fill_extra:0,metadata_thp:disabled,mutex_max_spin:600,background_thread:false"
    jemalloc_conf+=",max_background_threads:4,dirty_decay_ms:10000,muzzy_decay_ms:0,lg_extent_max_active_fit:6"
    jemalloc_conf+=",junk:false,zero:false,experimental_infallible_new:false,tcache:true,tcache_max:32768"
    jemalloc_conf+=",tcache_nslots_small_min:20,tcache_nslots_small_max:200,tcache_nslots_large:20"
    jemalloc_conf+=",lg_tcache_nslots_mul:1,tcache_gc_incr_bytes:65536,tcache_gc_delay_bytes:0"
    jemalloc_conf+=",lg_tcache_flush_small_div:1,lg_tcache_flush_large_div:1,thp:default,prof:false"
    jemalloc_conf+=",prof_prefix:jeprof,prof_active:true,prof_thread_active_init:true,lg_prof_sample:19"
    jemalloc_conf+=",prof_accum:false,lg_prof_interval:-1,prof_gdump:false,prof_final:false,prof_leak:false"
    jemalloc_conf+=",prof_leak_error:false,stats_print:false,stats_print_opts:,stats_interval:-1"
    jemalloc_conf+=",stats_interval_opts:,zero_realloc:free"
    option_check opt_jemalloc_only "$jemalloc_conf" ok "" tcache-max 32768
    if wanted opt_jemalloc_only_quiet && [ -f "$LOGS/opt_jemalloc_only.err" ]; then
        if [ ! -s "$LOGS/opt_jemalloc_only.err" ]; then pass opt_jemalloc_only_quiet "(no warning for $(tr ',' '\n' <<<"$jemalloc_conf" | wc -l) options)"
        else fail opt_jemalloc_only_quiet "stderr: $(head -c 300 "$LOGS/opt_jemalloc_only.err")"; fi
    fi
    option_check opt_unsupported "prof_leak_error:true,narenas:2" ok "swalloc: unsupported value for option 'prof_leak_error:true' ignored" narenas 2
    option_check opt_unsupported_abort "abort_conf:true,stats_interval:1000" abort "swalloc: unsupported value for option 'stats_interval:1000'" plain
    option_check opt_jemalloc_only_bad "dss:sbrk" ok "swalloc: bad value for option 'dss:sbrk' ignored" plain
    option_check opt_lg_tcache_max "lg_tcache_max:12" ok "" tcache-max 4096
    option_check opt_lg_tcache_max_order "lg_tcache_max:12,tcache_max:8192" ok "" tcache-max 8192
    option_check opt_lg_tcache_max_clip "lg_tcache_max:40" ok "" tcache-max 2097152
    option_check opt_tcache_max_clip "tcache_max:99999999" ok "" tcache-max 2097152
    option_check opt_zero_realloc_free "" ok "" zero-realloc free
    option_check opt_zero_realloc_alloc "zero_realloc:alloc" ok "" zero-realloc alloc
    option_check opt_zero_realloc_abort "zero_realloc:abort" abort "swalloc: realloc(): size 0 (zero_realloc:abort)" zero-realloc abort
    option_check opt_zero_realloc_bad "zero_realloc:maybe" ok "swalloc: bad value for option 'zero_realloc:maybe' ignored" zero-realloc free
    option_check opt_confirm_conf "narenas:2,confirm_conf:true,hpa:true" ok 'swalloc: SWALLOC_CONF: "narenas:2,confirm_conf:true,hpa:true"' narenas 2
    if wanted opt_confirm_conf_values && [ -f "$LOGS/opt_confirm_conf.err" ]; then
        # Every option set is named, in order, the one before confirm_conf too.
        got=$(grep -c -e '-- Set conf value: narenas:2' -e '-- Set conf value: confirm_conf:true' -e '-- Set conf value: hpa:true' "$LOGS/opt_confirm_conf.err")
        if [ "$got" = 3 ]; then pass opt_confirm_conf_values "(3 settings printed)"
        else fail opt_confirm_conf_values "stderr: $(head -c 300 "$LOGS/opt_confirm_conf.err")"; fi
    fi
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

# A setuid-root program, run by nobody, with options that would have it
# write a heap profile under a prefix the caller chose and the statistics to
# stdout: it must see neither variable (AT_SECURE). Run by root, the same
# binary reads them (the control: the options do take effect there).
if wanted opt_setuid_env; then
    if [ "$(id -u)" != 0 ]; then skip opt_setuid_env "not root (a setuid-root binary is needed)"
    elif ! command -v setpriv >/dev/null; then skip opt_setuid_env "no setpriv (util-linux)"
    elif ! id nobody >/dev/null 2>&1; then skip opt_setuid_env "no user nobody"
    else
        # A directory nobody can enter (the work directory is 0700), on a
        # file system that honours setuid.
        sdir=$(mktemp -d /tmp/swalloc-setuid.XXXXXX)
        chmod 755 "$sdir"
        cp "$LIB" "$sdir/libswalloc.so.0"
        if ! gcc -O1 -o "$sdir/secure_env" "$HERE/secure_env.c" "$sdir/libswalloc.so.0" -Wl,-rpath,"$sdir" \
                >"$LOGS/compile-secure_env.log" 2>&1; then
            fail opt_setuid_env "compile: $(head -c 300 "$LOGS/compile-secure_env.log")"
        else
            chown root:root "$sdir/secure_env" && chmod 4755 "$sdir/secure_env"
            conf="narenas:4001,prof:true,prof_final:true,prof_prefix:$sdir/caller,stats_print:true,stats_fd:1"
            run_one opt_setuid_env.root 0 60 env SWALLOC_CONF="$conf" "$sdir/secure_env"
            root_out=$(grep '^secure' "$LOGS/opt_setuid_env.root.out")
            rm -f "$sdir"/caller*
            run_one opt_setuid_env 0 60 env SWALLOC_CONF="$conf" MALLOC_CONF="$conf" \
                setpriv --reuid=65534 --regid=65534 --clear-groups "$sdir/secure_env"
            out=$(cat "$LOGS/opt_setuid_env.out")
            dumps=$(ls "$sdir"/caller* 2>/dev/null | wc -l)
            if [ "$root_out" != "secure 0 4001 $sdir/caller" ]; then
                fail opt_setuid_env "control run as root: '$root_out' (the options should apply)"
            elif grep -q '^secure 0 ' <<<"$out"; then
                skip opt_setuid_env "the setuid bit had no effect here (nosuid?): $out"
            elif [ "$RC" -eq 0 ] && [ "$out" = "secure 1 $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) swalloc" ] \
                 && [ "$dumps" = 0 ] && [ ! -s "$LOGS/opt_setuid_env.err" ]; then
                pass opt_setuid_env "(AT_SECURE: defaults, no profile written)"
            else
                fail opt_setuid_env "$(rc_text "$RC"): stdout '$(head -c 200 <<<"$out" | tr '\n' ' ')', $dumps profile(s) under the caller's prefix, stderr $(short_err "$LOGS/opt_setuid_env.err")"
            fi
        fi
        rm -rf "$sdir"
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
