#!/usr/bin/env bash
# concurrency - threads and fork (stress.c, fork_threads.c, concurrency.c):
#   stress              STRESS_THREADS threads for STRESS_SECONDS, cross-thread
#                       frees, every block's contents verified: the same
#                       output with glibc and with the library
#   fork_threads        fork() while 4 threads are busy in malloc/free; the
#                       children allocate and free: compared with glibc
#   prodcons_T          T = 2 .. 64 threads, producer/consumer cross-thread
#                       frees through queues, 2 s each (library only, as the
#                       rest)
#   thread_churn        1000 short-lived threads exit with full caches while
#                       sweepers free their blocks
#   fork_storm          300 forks while 4 threads allocate; grandchildren
#   free_errno          free() never changes errno
#   two_roots           blocks under two root entries of the page map (the
#                       free and realloc fast paths read one through the hot
#                       leaf and walk the map for the other): freed by their
#                       own and another thread, realloc'd, a double free
#                       under the second entry aborts
#   huge_realloc_race   realloc of huge blocks racing on 2 threads,
#                       dirty_decay_ms:0
#   arena_swap          4 threads hand blocks to each other, switch arenas
#                       (thread.arena) and flush their caches: other arenas'
#                       blocks kept apart in the caches, every block checked
#   arena_share         a second thread shares the first's arena; 8 threads
#                       allocating bursts of one size meet on its bin lock
#                       and one moves to another arena (within 20 s)
#   arena_share_uncached  the same with tcache:false (threads without a
#                       cache are bound to arenas and spread as cached ones)
#   line_share          8 threads sharing an arena take their first blocks
#                       of 8-128 B from the same slabs: no two threads'
#                       blocks on one cache line (false sharing)
#   handoff_share       8 workers each free, as their first call, one of the
#                       blocks the main thread made side by side, then
#                       allocate one of the same size (16, 32, 48 B): no two
#                       workers' blocks on one cache line (Hoard's
#                       cache-scratch)
#   last_thread_exit    the main thread calls pthread_exit after a second
#                       thread allocated and left: the process exits with
#                       status 0 (the library's background thread must not
#                       keep it alive)
#   last_thread_exit_bg the same with background_thread:true
#   fork_worker_exit    the same in a child forked by a worker thread
#   fork_explicit_tcache  300 forks while 2 threads make, use and destroy
#                       explicit caches (tcache.create); each child makes one
#   signal_mask         SIGUSR1, blocked by the program's one thread and sent
#                       to itself, stays pending for sigtimedwait (the
#                       library's thread must not take process signals)
#
# usage: tests/concurrency/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# Environment: STRESS_SECONDS (default 10), STRESS_THREADS (default 8);
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). About 50 s.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup concurrency "${1:-}"
STRESS_SECONDS=${STRESS_SECONDS:-10}
STRESS_THREADS=${STRESS_THREADS:-8}

t0=$(now)
compile stress
compile fork_threads
compile concurrency
echo "compiled test programs ($(elapsed "$t0" "$(now)"))"

have stress && compare stress $((STRESS_SECONDS + 120)) cat "$BIN/stress" "$STRESS_THREADS" "$STRESS_SECONDS"
have fork_threads && compare fork_threads 120 cat "$BIN/fork_threads"

if have concurrency; then
    # producer/consumer cross-thread frees, 2 s each
    for t in 2 4 8 16 32 64; do
        lib_check "prodcons_$t" 90 "prodcons ok" lib "$BIN/concurrency" prodcons "$t" 2
    done
    lib_check thread_churn 120 "churn ok" lib "$BIN/concurrency" churn 1000
    lib_check fork_storm 180 "fork-storm ok" lib "$BIN/concurrency" fork-storm 300
    lib_check free_errno 120 "free-errno ok" lib "$BIN/concurrency" free-errno
    lib_check arena_swap 120 "arena-swap ok" lib "$BIN/concurrency" arena-swap 4 300000
    lib_check arena_share 60 "arena-share ok" lib "$BIN/concurrency" arena-share 8
    lib_check arena_share_uncached 60 "arena-share ok" lib env SWALLOC_CONF=tcache:false "$BIN/concurrency" arena-share 8
    lib_check line_share 60 "line-share ok" lib "$BIN/concurrency" line-share 8
    lib_check handoff_share 60 "handoff-share ok" lib "$BIN/concurrency" handoff-share 8
    lib_check last_thread_exit 30 "last-thread-exit ok" lib "$BIN/concurrency" last-thread-exit
    lib_check last_thread_exit_bg 30 "last-thread-exit ok" lib env SWALLOC_CONF=background_thread:true "$BIN/concurrency" last-thread-exit
    lib_check fork_worker_exit 30 "fork-worker-exit ok" lib "$BIN/concurrency" fork-worker-exit
    lib_check fork_explicit_tcache 60 "fork-explicit-tcache ok" lib "$BIN/concurrency" fork-explicit-tcache 300
    lib_check signal_mask 30 "signal-mask ok" lib "$BIN/concurrency" signal-mask
    lib_check two_roots 120 "two-roots ok" lib "$BIN/concurrency" two-roots
    lib_check huge_realloc_race 120 "huge-realloc-race ok" lib env SWALLOC_CONF=dirty_decay_ms:0 "$BIN/concurrency" huge-realloc-race 2 20000
fi

runner_summary
