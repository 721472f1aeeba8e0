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
sed -E '/^attributes #[0-9]+ = \{.*"target-cpu"/{/uwtable/!s/ = \{ / = { uwtable /}' \
  "$obj/swalloc-swift.ll" > "$obj/swalloc-swift-uw.ll"
clang -O2 -Xclang -disable-llvm-passes -fPIC -ffunction-sections -fno-stack-protector -Wno-override-module \
  -c "$obj/swalloc-swift-uw.ll" -o "$obj/swalloc-swift.o"

clang "${cflags[@]}" -I "$inc" -c Sources/CSwallocPlatform/platform.c -o "$obj/platform.o"
clang "${cflags[@]}" -c lib/exports.c -o "$obj/exports.o"

# Version script and aliases from the one list of API names.
{
  echo "{ global:"
  while read -r name; do echo "  $name; swalloc_$name;"; done < lib/api-names.txt
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

clang -shared -o "$out/libswalloc.so" "$obj/swalloc-swift.o" "$obj/platform.o" "$obj/exports.o" \
  -Wl,--version-script="$obj/swalloc.map" "${defsyms[@]}" \
  -fuse-ld=lld -Wl,--gc-sections -Wl,-z,now -Wl,-z,relro -Wl,--hash-style=gnu -Wl,-soname,"$soname"
# A program linked with -L.build/release -lswalloc records the soname; the
# link beside the library lets it run from the build tree too.
ln -sfn libswalloc.so "$out/$soname"
echo "built $out/libswalloc.so (soname $soname)"
