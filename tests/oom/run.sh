#!/usr/bin/env bash
# oom - out of memory (fault_injection.c, mmap_fail_shim.c; library only):
# every allocation function fails cleanly (NULL + ENOMEM, nothing damaged)
# and works again once memory is available:
#   oom_rlimit       RLIMIT_AS set at run time, small/large/huge sizes
#   oom_boot_rlimit  RLIMIT_AS already set when the allocator boots, down to
#                    below what the process needs
#   oom_mmap_fail    anonymous mmap failing at run time (a preloaded shim)
#   oom_mmap_boot    mmap failing from the N-th call on, during boot
#
# usage: tests/oom/run.sh /abs/path/libswalloc.so   (or SWALLOC_LIB=...)
# ONLY="a b" runs only the named checks; KEEP_WORK=1 keeps the work
# directory (kept anyway on failure). About 10 s.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/blackbox.sh"
blackbox_setup oom "${1:-}"

t0=$(now)
compile fault_injection -ldl
compile_shared mmap_fail_shim
echo "compiled test programs ($(elapsed "$t0" "$(now)"))"

if have fault_injection; then
    lib_check oom_rlimit 120 "rlimit ok" lib "$BIN/fault_injection" rlimit 64
    lib_check oom_boot_rlimit 180 "boot-limit ok" lib "$BIN/fault_injection" boot-limit
    if [ -f "$BIN/mmap_fail_shim.so" ]; then
        lib_check oom_mmap_fail 120 "mmap-fail ok" shim "$BIN/fault_injection" mmap-fail
        lib_check oom_mmap_boot 180 "mmap-boot ok" shim "$BIN/fault_injection" mmap-boot
    fi
fi

runner_summary
