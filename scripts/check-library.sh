#!/usr/bin/env bash
# Black-box checks of the built library's shape: it links only libc and the
# loader, and exports exactly the documented API (lib/api-names.txt, each
# name also with the swalloc_ prefix, and glibc's other names for them,
# lib/glibc-aliases.txt), nothing from the Swift runtime.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$root/.build/release/libswalloc.so}
fail=0
deps=$(readelf -d "$lib" | awk '/NEEDED/ {print $5}' | tr -d '[]' | sort | tr '\n' ' ')
if [ "$deps" = "libc.so.6 " ]; then echo "ok   NEEDED is only libc.so.6"; else echo "FAIL NEEDED: $deps"; fail=1; fi
extra=$(ldd "$lib" | grep -vE 'linux-vdso|libc\.so\.6|ld-linux' || true)
if [ -z "$extra" ]; then echo "ok   ldd lists only libc and the loader"; else echo "FAIL ldd: $extra"; fail=1; fi
want=$( (cat "$root/lib/api-names.txt"; sed 's/^/swalloc_/' "$root/lib/api-names.txt"
         awk '{print $1}' "$root/lib/glibc-aliases.txt") | sort)
got=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
if [ "$want" = "$got" ]; then
  echo "ok   exports exactly the $(echo "$want" | wc -l) documented symbols"
else
  echo "FAIL exported symbols differ from lib/api-names.txt and lib/glibc-aliases.txt:"
  diff <(echo "$want") <(echo "$got") | sed 's/^/     /'
  fail=1
fi
# A standard name is the same code as its swalloc_ twin: an alias of it, or
# (malloc, free: scripts/build-lib.sh) of the Swift function
# swalloc_internal_NAME that the twin's @_cdecl thunk jumps to.
direct=0
for name in $(cat "$root/lib/api-names.txt"); do
  a=$(nm -D --defined-only "$lib" | awk -v n="$name" '$3==n {print $1}')
  b=$(nm -D --defined-only "$lib" | awk -v n="swalloc_$name" '$3==n {print $1}')
  c=$(nm --defined-only "$lib" 2>/dev/null | awk -v n="swalloc_internal_$name" '$3==n {print $1}')
  if [ -n "$c" ]; then
    jump=$(objdump -d --no-show-raw-insn --start-address=0x$b --stop-address=$((0x$b + 5)) "$lib" |
           awk '/^ +[0-9a-f]+:/ {print $2, $3}')
    if [ "$a" != "$c" ] || [ "$jump" != "jmp $(printf '%x' $((0x$c)))" ]; then
      echo "FAIL $name is not swalloc_internal_$name, or swalloc_$name does not jump there ($jump)"; fail=1
    fi
    direct=$((direct + 1))
  elif [ -z "$a" ] || [ "$a" != "$b" ]; then echo "FAIL $name is not an alias of swalloc_$name"; fail=1; fi
done
[ $fail -eq 0 ] && echo "ok   every standard name aliases its swalloc_ twin ($direct of them the Swift function the twin's thunk jumps to)"
# glibc's other names (cfree, __libc_malloc, ...) are the standard name's code.
while read -r alias name; do
  a=$(nm -D --defined-only "$lib" | awk -v n="$alias" '$3==n {print $1}')
  b=$(nm -D --defined-only "$lib" | awk -v n="$name" '$3==n {print $1}')
  if [ -z "$a" ] || [ "$a" != "$b" ]; then echo "FAIL $alias is not an alias of $name"; fail=1; fi
done < "$root/lib/glibc-aliases.txt"
[ $fail -eq 0 ] && echo "ok   glibc's other names ($(wc -l < "$root/lib/glibc-aliases.txt"): cfree, __libc_malloc, ...) alias the standard ones"
# No allocation inside the allocator: nothing from the malloc family, and no
# Swift runtime allocation entry point, may be called by the library.
imported=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | grep -xE 'malloc|free|calloc|realloc|posix_memalign|aligned_alloc|memalign' || true)
swiftcalls=$(objdump -d --no-show-raw-insn "$lib" | grep -E '(call|jmp).*<swift_(allocObject|retain|release|allocEmptyBox|once)' || true)
if [ -z "$imported$swiftcalls" ]; then
  echo "ok   imports no malloc-family symbol and never calls the Swift runtime's allocator"
else
  echo "FAIL the library allocates through: $imported $swiftcalls"; fail=1
fi
# Small-program footprint (issue 11): every libc function the library calls
# faults in a 64 KiB window of libc's text around it (the kernel's
# fault-around), resident for the life of the process. The boot reads the
# environment and the CPU mask itself (Options.swift, platform.c); these
# wrappers cost a program that never calls them ~200 KiB of RSS.
avoided=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | grep -xE 'getenv|secure_getenv|sched_getaffinity|__sched_cpucount|sysconf' || true)
if [ -z "$avoided" ]; then
  echo "ok   calls none of getenv, sched_getaffinity, __sched_cpucount, sysconf (libc pages they would fault in)"
else
  echo "FAIL the library calls $(echo $avoided) (each faults in libc text a program may never use)"; fail=1
fi
# Small-program footprint, the library's own text: the code a small program
# runs is .text.hot, and what most programs add (realloc, calloc, aligned
# and huge blocks) .text.warm, each an executable segment of its own
# (scripts/build-lib.sh, scripts/hot-text.txt and warm-text.txt), and
# nothing is called through a PLT stub (which would sit at the end of the
# other text). A program that mallocs, frees, starts a thread that does the
# same, and exits must find none of the other two resident, and one that
# also reallocates, callocs and allocates aligned and huge blocks none of
# .text: a page there means code such a program runs is missing from the
# lists (rerun scripts/hot-text.sh).
plt=$(readelf -SW "$lib" | grep -cE ' \.plt(\.sec)? ' || true)
xsegs=$(readelf -lW "$lib" | awk '$1 == "LOAD" && / E /' | wc -l)
if [ "$plt" = 0 ] && [ "$xsegs" = 3 ] && readelf -SW "$lib" | grep -q ' \.text\.hot ' \
   && readelf -SW "$lib" | grep -q ' \.text\.warm '; then
  echo "ok   no PLT; .text.hot and .text.warm are executable segments of their own"
else
  echo "FAIL expected no .plt ($plt found) and three executable segments, .text.hot, .text and .text.warm ($xsegs found)"; fail=1
fi
# Initial-exec TLS (the fast paths' thread slots): a library loaded by
# dlopen takes it from the few hundred bytes of static TLS surplus glibc
# keeps for all such libraries together, and fails to load ("cannot
# allocate memory in static TLS block") once they are used up. The heap
# profiler's 768-byte backtrace buffer was there (848 bytes in all) until
# 16 bytes more made the unit tests' dlopen of the library fail; it is on
# the sampling thread's stack now (ProfSampling.swift, profWithBacktrace).
tls=$(readelf -lW "$lib" | awk '$1 == "TLS" {print $6}')
[ -n "$tls" ] && tls=$((tls))
if [ -n "$tls" ] && [ "$tls" -le 128 ]; then
  echo "ok   initial-exec TLS: $tls bytes (at most 128)"
else
  echo "FAIL initial-exec TLS: ${tls:-none found} bytes, more than 128 (dlopen takes it from glibc's small static TLS surplus)"; fail=1
fi
# The unwind search table (.eh_frame_hdr), which libgcc's _Unwind_Find_FDE
# binary-searches for every frame of a heap-profile backtrace: sorted, and
# covering every executable segment. (lld sorts it by each function's
# unsigned offset from the table: text placed after it sorted first, and
# every lookup failed.)
if python3 - "$lib" <<'PY'
import struct, subprocess, sys
lib = sys.argv[1]
data = open(lib, "rb").read()
hdr = segs = None
for line in subprocess.run(["readelf", "-SW", lib], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if ".eh_frame_hdr" in f:
        i = f.index("PROGBITS")
        hdr = (int(f[i + 1], 16), int(f[i + 2], 16))
segs = [(int(f[2], 16), int(f[2], 16) + int(f[5], 16))
        for f in (l.split() for l in subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True).stdout.splitlines())
        if f and f[0] == "LOAD" and "E" in f[6:-1]]
if hdr is None or data[hdr[1]:hdr[1] + 4] != bytes([1, 0x1b, 0x03, 0x3b]):
    sys.exit("no .eh_frame_hdr with a datarel sdata4 search table")
addr, off = hdr
count = struct.unpack_from("<I", data, off + 8)[0]
starts = [addr + struct.unpack_from("<i", data, off + 12 + 8 * k)[0] for k in range(count)]
if starts != sorted(starts):
    sys.exit("its search table is not sorted")
missing = [hex(lo) for lo, hi in segs if not any(lo <= s < hi for s in starts)]
if missing:
    sys.exit("no FDE for the executable segment(s) at " + " ".join(missing))
PY
then
  echo "ok   .eh_frame_hdr's search table is sorted and covers every executable segment"
else
  echo "FAIL .eh_frame_hdr's search table, which libgcc's FDE lookup binary-searches (above)"; fail=1
fi
tmp=$(mktemp -d)
if cc -O2 -pthread -o "$tmp/small" "$root/scripts/footprint.c" 2>"$tmp/cc.err"; then
  name=$(basename "$(readlink -f "$lib")")
  # Rss per executable mapping, in address order: .text.hot, .text, .text.warm;
  # then "/" and the Rss of the other file mappings.
  rss=$(LD_PRELOAD="$lib" "$tmp/small" "$name")
  read -r hot cold warm slash other _ <<<"$rss"
  if [ -n "$warm" ] && [ "$cold" = 0 ] && [ "$warm" = 0 ]; then
    echo "ok   a small threaded program runs only .text.hot (resident: $hot KiB of it, none of the rest)"
  else
    echo "FAIL a small threaded program has the library's other text resident (KiB per executable mapping: $rss)"; fail=1
  fi
  # The read-only and writable file mappings: the symbols, relocations and
  # .rodata (one mapping, 4 pages), RELRO (1) and .data (2), every segment
  # starting on a page of its own (build-lib.sh: -z
  # separate-loadable-segments; the page-aligned page-map root in a section
  # of its own). A segment that straddles a page boundary, or .rodata back
  # in a mapping of its own, shows here: 36 KiB before.
  if [ "$slash" = / ] && [ -n "$other" ] && [ "$other" -le 28 ]; then
    echo "ok   its read-only data and writable pages: $other KiB resident (at most 28)"
  else
    echo "FAIL the library's read-only data and writable pages: ${other:-?} KiB resident, more than 28 (footprint output: $rss)"; fail=1
  fi
  rss=$(LD_PRELOAD="$lib" "$tmp/small" "$name" warm)
  read -r hot cold warm _ <<<"$rss"
  if [ -n "$warm" ] && [ "$cold" = 0 ]; then
    echo "ok   realloc, calloc, aligned and huge blocks add only .text.warm (resident: $hot + $warm KiB, none of .text)"
  else
    echo "FAIL realloc, calloc, aligned or huge blocks have .text resident (KiB per executable mapping: $rss)"; fail=1
  fi
else
  echo "FAIL could not compile the small-program check: $(cat "$tmp/cc.err")"; fail=1
fi
rm -rf "$tmp"
exit $fail
