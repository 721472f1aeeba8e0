#!/usr/bin/env bash
# Builds the preload library .build/release/libswalloc.so:
#   1. the allocator's Swift sources, compiled as Embedded Swift in one
#      whole-module object (no Swift runtime, no Swift allocations);
#   2. the small C layer (TLS definitions, constructor, fork hooks);
#   3. a link that aliases the standard names to the swalloc_ entry points and
#      exports exactly those names (everything else, including the weak
#      swift_retain/... of Embedded Swift, stays local), with the soname
#      libswalloc.so.MAJOR (scripts/install.sh installs it under that name).
#
# usage: scripts/build-lib.sh            the release library
#        scripts/build-lib.sh --debug    the same, optimized, with the
#                                        internal invariants checked
#                                        (Invariant.swift) -> .build/debug-lib/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
debug=0
if [ "${1:-}" = --debug ]; then debug=1; elif [ -n "${1:-}" ]; then echo "usage: $0 [--debug]" >&2; exit 2; fi
if [ $debug = 1 ]; then
  out=.build/debug-lib
  obj=.build/embedded-debug
  swiftdefs=(-D SWALLOC_DEBUG)
  mkdir -p "$out" "$obj"
else
  # The library goes where SwiftPM puts release products, with the same
  # .build/release symlink SwiftPM makes (a plain .build/release directory
  # would be replaced, library and all, by the next `swift build -c release`).
  triple_dir=.build/$(uname -m)-unknown-linux-gnu/release
  out=.build/release
  obj=.build/embedded
  swiftdefs=()
  mkdir -p "$triple_dir" "$obj"
  if [ -d "$out" ] && [ ! -L "$out" ]; then rm -rf "$out"; fi
  [ -e "$out" ] || ln -s "$(uname -m)-unknown-linux-gnu/release" "$out"
fi

# The soname carries the major version (scripts/version.sh, from
# Sources/SwallocCore/Platform/Version.swift): libswalloc.so.MAJOR.
soname=libswalloc.so.$(scripts/version.sh --major)

inc=Sources/CSwallocPlatform/include
cflags=(-O2 -fPIC -fno-plt -ftls-model=initial-exec -fvisibility=hidden -fno-stack-protector -Wall -Werror)

mapfile -t sources < <(find Sources/SwallocCore -name '*.swift' | sort)
swiftc -swift-version 6 -enable-experimental-feature Embedded -wmo -O -parse-as-library "${swiftdefs[@]}" \
  -module-name SwallocCore -enforce-exclusivity=unchecked \
  -Xcc -fPIC -Xcc -fno-stack-protector -Xfrontend -disable-stack-protector \
  -Xfrontend -function-sections \
  -I "$inc" -Xcc -I"$inc" \
  -emit-ir "${sources[@]}" -o "$obj/swalloc-swift.ll"
# Embedded Swift emits no unwind tables (its functions are nounwind, without
# uwtable): the heap profiler's backtraces (glibc's backtrace(3), libgcc's
# .eh_frame unwinder) would stop at the first Swift frame. Every function
# gets `uwtable`, then the IR is compiled as swiftc optimized it (no LLVM
# passes rerun): the same instructions, plus .eh_frame entries.
#
# Calls to libc go through the GOT, never a PLT stub (as the C files' -fno-plt):
# every external declaration gets `nonlazybind`, and the RtLibUseGOT module
# flag does the same for the memcpy/memset calls LLVM emits itself. The PLT
# sits at the end of the text, so a stub called at boot would fault in the
# last 64 KiB window of it too (the kernel maps text in windows around each
# fault), however the hot code is laid out (see the link below).
sed -E -e '/^attributes #[0-9]+ = \{.*"target-cpu"/{/uwtable/!s/ = \{ / = { uwtable /}' \
  -e '/^declare .*@(llvm\.|swalloc_)/!{/^declare /s/ (#[0-9]+)$/ nonlazybind \1/}' \
  -e 's/^!llvm\.module\.flags = !\{(.*)\}$/!llvm.module.flags = !{\1, !999999}\n!999999 = !{i32 7, !"RtLibUseGOT", i32 1}/' \
  "$obj/swalloc-swift.ll" > "$obj/swalloc-swift-uw.ll"
clang -O2 -Xclang -disable-llvm-passes -fPIC -ffunction-sections -fno-stack-protector -Wno-override-module \
  -c "$obj/swalloc-swift-uw.ll" -o "$obj/swalloc-swift.o"

clang "${cflags[@]}" -ffunction-sections -I "$inc" -c Sources/CSwallocPlatform/platform.c -o "$obj/platform.o"
clang "${cflags[@]}" -ffunction-sections -c lib/exports.c -o "$obj/exports.o"

# Version script and aliases from the one list of API names, and glibc's
# other exported names for its entry points (lib/glibc-aliases.txt: "ALIAS
# NAME"): a program or library calling __libc_malloc, or an old binary's
# cfree@GLIBC_2.2.5, must reach swalloc too, or a block would be freed by
# the allocator that did not make it.
{
  echo "{ global:"
  while read -r name; do echo "  $name; swalloc_$name;"; done < lib/api-names.txt
  while read -r alias _; do echo "  $alias;"; done < lib/glibc-aliases.txt
  echo "local: *; };"
} > "$obj/swalloc.map"
# A standard name is an alias of its swalloc_ entry point, which @_cdecl
# makes a thunk that jumps to the Swift function. For the hottest names
# (malloc, free) the Swift function itself carries a plain symbol
# (@_silgen_name("swalloc_internal_NAME")) and the alias skips the thunk's
# jump: on x86-64 the Swift calling convention of a function taking and
# returning one word, with no self, error or async context, is the C one
# (same argument and return registers, same callee-saved registers).
direct=$(nm --defined-only "$obj/swalloc-swift.o" | awk '$3 ~ /^swalloc_internal_/ {print $3}')
defsyms=()
while read -r name; do
  if grep -qx "swalloc_internal_$name" <<<"$direct"; then
    defsyms+=("-Wl,--defsym=$name=swalloc_internal_$name")
  else
    defsyms+=("-Wl,--defsym=$name=swalloc_$name")
  fi
done < lib/api-names.txt
while read -r alias name; do
  if grep -qx "swalloc_internal_$name" <<<"$direct"; then
    defsyms+=("-Wl,--defsym=$alias=swalloc_internal_$name")
  else
    defsyms+=("-Wl,--defsym=$alias=swalloc_$name")
  fi
done < lib/glibc-aliases.txt

# The text a small program runs (boot, malloc and free with their common
# slow paths, thread exit: scripts/hot-text.txt, written by
# scripts/hot-text.sh) is an output section of its own, .text.hot, placed
# after .rodata and before .eh_frame, so it is a segment (and a mapping) of
# its own, apart from the rest of the text. The kernel maps a file's pages
# in 64 KiB windows around each page fault, clamped to the mapping: with
# that code spread over the whole 112 KiB text, all of it was resident in
# every process; now the window stops at the end of .text.hot
# (docs/ARCHITECTURE.md, "Footprint").
# The list names functions as `swift demangle --simplified` prints them (C
# functions by their symbol); every function with a listed name goes into
# .text.hot, in the list's order. Only text moves: the instructions are the
# same. scripts/warm-text.txt names what most programs add (realloc,
# calloc, aligned and huge blocks): .text.warm, likewise a segment of its
# own. Segments, in address order: headers, dynamic symbols, relocations
# and .rodata (R: one mapping, 4 pages, where the symbols' 2 and .rodata's
# 3 were two, both resident in every process); .text.hot (RX); .eh_frame
# (R); .text (RX); .swalloc_gap (R, one byte from platform.c, never read:
# it only parts .text from .text.warm); .text.warm (RX); .eh_frame_hdr
# (R); then the writable ones.
demangle=$(dirname "$(command -v swiftc)")/swift-demangle
objdump -t "$obj/swalloc-swift.o" "$obj/platform.o" "$obj/exports.o" |
  awk '$3 ~ /F$/ && $4 ~ /^\.text/ {print $NF "\t" $4}' > "$obj/text-sections.tsv"
paste "$obj/text-sections.tsv" <(cut -f1 "$obj/text-sections.tsv" | "$demangle" --simplified) > "$obj/text-names.tsv"
# listed_sections LIST: the input sections of LIST's functions, in its order.
listed_sections() {
  awk -F'\t' -v list="$1" -v warn=$((1 - debug)) '
    BEGIN { while ((getline line < list) > 0) if (line !~ /^(#|$)/ && !(line in rank)) rank[line] = ++n }
    ($3 in rank) { print rank[$3] "\t" $2; seen[$3] = 1 }
    END { if (!warn) exit   # the debug build inlines differently: the list is the release build'"'"'s
          for (name in rank) if (!(name in seen)) { stale++; print "build-lib.sh: " list ": no function " name > "/dev/stderr" }
          if (stale) print "build-lib.sh: " stale " stale names: rerun scripts/hot-text.sh" > "/dev/stderr" }' \
    "$obj/text-names.tsv" |
    sort -n -s -k1,1 | cut -f2 | awk '!seen[$0]++ {print "    *(" $0 ")"}'
}
listed_sections scripts/hot-text.txt > "$obj/hot-sections.txt"
listed_sections scripts/warm-text.txt > "$obj/warm-sections.txt"
{
  echo "SECTIONS {"
  echo "  .text.hot : {"
  cat "$obj/hot-sections.txt"
  echo "  }"
  echo "} INSERT AFTER .rodata;"
  # The unwind tables, read only by backtraces (the heap profiler's), go
  # after the hot text, apart from .rodata, which every process reads, and
  # part it from .text; .swalloc_gap parts .text from the warm text, so
  # that read-only sections on both sides make each text a segment (a
  # mapping) of its own. All text stays before .eh_frame_hdr: lld sorts its
  # search table by the unsigned offset of each function from it, so a
  # function after it sorted first, and libgcc's binary search then found
  # no FDE at all (every heap-profile backtrace came back empty).
  echo "SECTIONS {"
  echo "  .eh_frame : { KEEP(*(.eh_frame)) }"
  echo "} INSERT AFTER .text.hot;"
  echo "SECTIONS {"
  echo "  .swalloc_gap : { KEEP(*(.swalloc_gap)) }"
  echo "} INSERT AFTER .text;"
  echo "SECTIONS {"
  echo "  .text.warm : {"
  cat "$obj/warm-sections.txt"
  echo "  }"
  echo "} INSERT AFTER .swalloc_gap;"
  echo "SECTIONS {"
  echo "  .eh_frame_hdr : { *(.eh_frame_hdr) }"
  echo "} INSERT AFTER .text.warm;"
} > "$obj/hot-text.ld"

# SWALLOC_NO_HOT_TEXT=1 links one text segment instead (scripts/hot-text.sh
# profiles that build: valgrind reads the symbols of one executable segment
# per object, so it would name no function in the other).
hotld=(-Wl,-T,"$obj/hot-text.ld")
if [ "${SWALLOC_NO_HOT_TEXT:-}" = 1 ]; then hotld=(); fi

# Packed relative relocations (DT_RELR) when the C library the library is
# built against loads them (glibc 2.36 and later): the page map's static
# root is 512 pointers to the empty leaf, whose RELA entries were 12 KiB of
# .rela.dyn, read at every start (the first segment's resident pages went
# 20 -> 8 KiB; the library's file pages 92 -> 76 KiB in a small program).
# The library then requires that glibc (the GLIBC_ABI_DT_RELR version), as
# the machine it is built on has. SWALLOC_NO_RELR=1 links the plain
# relocations, for a library meant for older systems.
relr=()
glibc_version=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [ "${SWALLOC_NO_RELR:-}" != 1 ] && [ -n "$glibc_version" ] &&
   [ "$(printf '%s\n2.36\n' "$glibc_version" | sort -V | head -1)" = 2.36 ]; then
  relr=(-Wl,-z,pack-relative-relocs)
fi

# -z separate-loadable-segments: every segment starts on a page boundary
# (in the file too; 16 KiB of padding), so none takes a page more than its
# size needs for where it happens to start: .text.hot 14 pages, RELRO 1
# (it straddled two), the first read-only segment 4 (docs/ARCHITECTURE.md,
# "Footprint"; scripts/check-library.sh checks the total).
# No start files: the library needs nothing of crti/crtbegin (_init, the
# transactional-memory clone tables, __cxa_finalize at unload, whose PLT
# stub was the last thing called from the end of the text); its constructor
# and destructor are .init_array / .fini_array entries. -z nodelete: dlclose
# leaves it loaded (its fork handlers and the thread-exit destructor of its
# pthread key point into it, and blocks it handed out may still be freed).
clang -shared -nostartfiles -o "$out/libswalloc.so" "$obj/swalloc-swift.o" "$obj/platform.o" "$obj/exports.o" \
  -Wl,--version-script="$obj/swalloc.map" "${defsyms[@]}" \
  "${hotld[@]}" \
  -fuse-ld=lld "${relr[@]}" -Wl,-z,separate-loadable-segments -Wl,--gc-sections -Wl,-z,now -Wl,-z,relro -Wl,-z,nodelete -Wl,--hash-style=gnu -Wl,-soname,"$soname"
# A program linked with -L.build/release -lswalloc records the soname; the
# link beside the library lets it run from the build tree too.
ln -sfn libswalloc.so "$out/$soname"
echo "built $out/libswalloc.so (soname $soname)"
