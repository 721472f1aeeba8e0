#!/usr/bin/env bash
# The ways a user adopts swalloc, each a step of scripts/test.sh:
#   install        scripts/install.sh into a scratch prefix: files, links,
#                  soname, header (a prototype per exported name, compiles
#                  as C and C++), the installed tool finds the installed
#                  library; scripts/uninstall.sh leaves nothing; --destdir
#   pkg-config     a C program built with `pkg-config --cflags --libs
#                  swalloc` against that prefix: its malloc is swalloc's,
#                  versions and MALLOCX_* flags agree, malloc_usable_size
#                  within README's bound (tests/adoption/adoption.c)
#   deb            scripts/package-deb.sh; the package installed with dpkg,
#                  used (swalloc version, pkg-config, the C program), removed
#   swift-example  Examples/ built with -Xlinker -lswalloc against the
#                  prefix and run: malloc (the Swift runtime's too) binds to
#                  swalloc, the `Swalloc` module works, swift-argument-parser
#                  is not built
# usage: tests/adoption/run.sh STEP LIB TOOL   (LIB, TOOL: the built library and
#        tool, installed instead of building them again)
set -u
step=$1
lib=$(readlink -f "$2")
tool=$(readlink -f "$3")
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$("$root/scripts/version.sh")
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

install_prefix() {
  "$root/scripts/install.sh" --prefix "$prefix" --lib "$lib" --tool "$tool" > "$tmp/install.log" 2>&1 \
    || { bad "scripts/install.sh --prefix $prefix" "$(cat "$tmp/install.log")"; return 1; }
}

# The C program against an installed swalloc, through pkg-config.
c_program() { # name, PKG_CONFIG_PATH ("" for the system's), extra link flags...
  local name=$1 pcpath=$2; shift 2
  local flags
  if ! flags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags --libs swalloc 2>&1); then
    bad "$name: pkg-config --cflags --libs swalloc" "$flags"; return
  fi
  local pcversion
  pcversion=$(PKG_CONFIG_PATH=$pcpath pkg-config --modversion swalloc)
  if [ "$pcversion" = "$version" ]; then ok "$name: pkg-config --modversion swalloc is $version"
  else bad "$name: pkg-config version" "'$pcversion', want $version"; fi
  # shellcheck disable=SC2086
  if ! cc -Wall -Werror -O2 "$root/tests/adoption/adoption.c" $flags "$@" -ldl -o "$tmp/adoption" > "$tmp/cc.log" 2>&1; then
    bad "$name: cc adoption.c \$(pkg-config --cflags --libs swalloc)" "$(cat "$tmp/cc.log")"; return
  fi
  if readelf -d "$tmp/adoption" | grep -q "NEEDED.*\[libswalloc.so.$major\]"; then ok "$name: the program needs libswalloc.so.$major"
  else bad "$name: NEEDED" "$(readelf -d "$tmp/adoption" | grep NEEDED | tr '\n' ' ')"; fi
  local out
  if out=$("$tmp/adoption" 2>&1); then ok "$name: $out"
  else bad "$name: the C program" "$out"; fi
}

case "$step" in
install)
  install_prefix || exit 1
  for f in "lib/libswalloc.so.$major.$minor" include/swalloc.h lib/pkgconfig/swalloc.pc bin/swalloc share/swalloc/install-manifest.txt; do
    if [ -f "$prefix/$f" ] && [ ! -L "$prefix/$f" ]; then ok "installed $f"; else bad "installed $f" "missing"; fi
  done
  for l in "libswalloc.so.$major:libswalloc.so.$major.$minor" "libswalloc.so:libswalloc.so.$major"; do
    if [ "$(readlink "$prefix/lib/${l%%:*}")" = "${l#*:}" ]; then ok "link lib/${l%%:*} -> ${l#*:}"
    else bad "link lib/${l%%:*}" "points to '$(readlink "$prefix/lib/${l%%:*}")', want ${l#*:}"; fi
  done
  soname=$(readelf -d "$prefix/lib/libswalloc.so.$major.$minor" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  if [ "$soname" = "libswalloc.so.$major" ]; then ok "soname $soname"; else bad "soname" "'$soname'"; fi
  missing=""
  while read -r name; do
    grep -qE "[ *]swalloc_$name\(" "$prefix/include/swalloc.h" || missing+=" swalloc_$name"
  done < "$root/lib/api-names.txt"
  if [ -z "$missing" ]; then ok "swalloc.h declares every exported function ($(wc -l < "$root/lib/api-names.txt") names, swalloc_ forms)"
  else bad "swalloc.h" "no prototype for:$missing"; fi
  printf '#include <swalloc.h>\nint main(void) { return SWALLOC_VERSION_MAJOR + MALLOCX_LG_ALIGN(4) + MALLOCX_ZERO + MALLOCX_TCACHE_NONE + MALLOCX_ARENA(1) + MALLOCX_ALIGN(64) > 0 ? 0 : 1; }\n' > "$tmp/h.c"
  cp "$tmp/h.c" "$tmp/h.cc"
  if cc -std=c11 -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o" 2> "$tmp/h.log" \
     && c++ -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h.cc" -o "$tmp/hh.o" 2>> "$tmp/h.log"; then
    ok "swalloc.h compiles as C11 and C++ with -Wall -Wextra -Werror"
  else
    bad "swalloc.h compiles" "$(head -n 20 "$tmp/h.log")"
  fi
  if grep -q "^#define SWALLOC_VERSION \"$version\"$" "$prefix/include/swalloc.h"; then ok "swalloc.h's SWALLOC_VERSION is $version"
  else bad "SWALLOC_VERSION" "$(grep 'define SWALLOC_VERSION ' "$prefix/include/swalloc.h")"; fi
  out=$(env -u SWALLOC_LIB "$prefix/bin/swalloc" version 2>&1)
  if grep -qx "swalloc tool $version" <<<"$out" && grep -qx "library $prefix/lib/libswalloc.so.$major: $version" <<<"$out"; then
    ok "the installed tool finds the installed library: $(tr '\n' ' ' <<<"$out")"
  else
    bad "installed swalloc version" "$out"
  fi
  out=$(env -u SWALLOC_LIB "$prefix/bin/swalloc" run -- true 2>&1)
  if grep -q 'allocated: peak' <<<"$out"; then ok "the installed tool runs a program under the installed library"
  else bad "installed swalloc run" "$out"; fi
  if "$prefix/bin/swalloc" run --help | grep -q -- '--conf'; then ok "swalloc run --help covers the options"
  else bad "swalloc run --help" "no --conf"; fi
  "$root/scripts/uninstall.sh" --prefix "$prefix" > "$tmp/uninstall.log" 2>&1
  left=$(find "$prefix" -mindepth 1 ! -type d)
  if [ -z "$left" ]; then ok "scripts/uninstall.sh removes every file and link"
  else bad "uninstall" "left: $left $(cat "$tmp/uninstall.log")"; fi
  "$root/scripts/install.sh" --prefix /opt/swalloc-test --destdir "$tmp/stage" --lib "$lib" --tool "$tool" > "$tmp/install.log" 2>&1
  if [ -f "$tmp/stage/opt/swalloc-test/lib/libswalloc.so.$major.$minor" ] && [ ! -e /opt/swalloc-test ] \
     && grep -qx 'prefix=/opt/swalloc-test' "$tmp/stage/opt/swalloc-test/lib/pkgconfig/swalloc.pc" \
     && grep -qx "/opt/swalloc-test/bin/swalloc" "$tmp/stage/opt/swalloc-test/share/swalloc/install-manifest.txt"; then
    ok "--destdir stages the files; the .pc and the manifest name the prefix"
  else
    bad "--destdir" "$(cat "$tmp/install.log")"
  fi
  ;;
pkg-config)
  install_prefix || exit 1
  c_program "C via pkg-config" "$prefix/lib/pkgconfig" -Wl,-rpath,"$prefix/lib"
  ;;
deb)
  if ! "$root/scripts/package-deb.sh" --out "$tmp" --lib "$lib" --tool "$tool" > "$tmp/deb.log" 2>&1; then
    bad "scripts/package-deb.sh" "$(cat "$tmp/deb.log")"
  else
    deb=$tmp/swalloc_${version}_$(dpkg --print-architecture).deb
    if [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Version)" = "$version" ]; then ok "$(basename "$deb"), Version $version"
    else bad "package" "$(ls "$tmp") $(cat "$tmp/deb.log")"; fi
    contents=$(dpkg-deb -c "$deb")
    for f in "./usr/lib/libswalloc.so.$major.$minor" "./usr/lib/libswalloc.so.$major -> libswalloc.so.$major.$minor" \
             ./usr/include/swalloc.h ./usr/lib/pkgconfig/swalloc.pc ./usr/bin/swalloc ./usr/share/doc/swalloc/copyright; do
      if grep -qF " $f" <<<"$contents"; then ok "the package holds $f"; else bad "package contents" "no $f"; fi
    done
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    # One install-use-remove at a time on this machine (test runs in other
    # checkouts take the same lock).
    exec 9> /tmp/swalloc-dpkg.lock
    flock 9
    if dpkg -s swalloc > /dev/null 2>&1; then
      bad "dpkg -i" "swalloc is already installed on this machine: not replacing it (dpkg -r swalloc, then run again)"
    elif ! $SUDO dpkg -i "$deb" > "$tmp/dpkg.log" 2>&1; then
      bad "dpkg -i" "$(cat "$tmp/dpkg.log")"
      $SUDO dpkg -r swalloc > /dev/null 2>&1
    else
      ok "dpkg -i $(basename "$deb")"
      out=$(env -u SWALLOC_LIB /usr/bin/swalloc version 2>&1)
      if grep -qx "swalloc tool $version" <<<"$out" && grep -qx "library /usr/lib/libswalloc.so.$major: $version" <<<"$out"; then
        ok "installed: $(tr '\n' ' ' <<<"$out")"
      else
        bad "installed swalloc version" "$out"
      fi
      c_program "C via the package's pkg-config" ""
      if $SUDO dpkg -r swalloc > "$tmp/dpkg.log" 2>&1 && ! dpkg -s swalloc > /dev/null 2>&1 \
         && [ ! -e "/usr/lib/libswalloc.so.$major" ] && [ ! -e /usr/bin/swalloc ] && [ ! -e /usr/include/swalloc.h ]; then
        ok "dpkg -r swalloc removes it"
      else
        bad "dpkg -r" "$(cat "$tmp/dpkg.log")"
      fi
    fi
    flock -u 9
  fi
  ;;
swift-example)
  install_prefix || exit 1
  cd "$root/Examples"
  if ! swift build -Xlinker -L"$prefix/lib" -Xlinker -rpath -Xlinker "$prefix/lib" > "$tmp/build.log" 2>&1; then
    bad "swift build (Examples)" "$(tail -n 30 "$tmp/build.log")"
  else
    bin=$(swift build --show-bin-path)
    exe=$bin/linked-example
    if readelf -d "$exe" | grep -q "NEEDED.*\[libswalloc.so.$major\]"; then ok "linked-example needs libswalloc.so.$major"
    else bad "NEEDED" "$(readelf -d "$exe" | grep NEEDED | tr '\n' ' ')"; fi
    if out=$(env -u LD_PRELOAD "$exe" 2>&1) && grep -q "swalloc $version is this process's allocator" <<<"$out"; then
      ok "linked-example: $(tr '\n' ' ' <<<"$out")"
    else
      bad "linked-example" "$out"
    fi
    # The Swift runtime's own malloc calls bind to swalloc too.
    bindings=$(env -u LD_PRELOAD LD_DEBUG=bindings "$exe" 2>&1 >/dev/null | grep "symbol \`malloc'")
    if grep -qE "binding file .*libswiftCore.so .* to .*libswalloc.so.$major .*symbol \`malloc'" <<<"$bindings" \
       && ! grep -q "to /.*libc.so.6 .*symbol \`malloc'" <<<"$bindings"; then
      ok "LD_DEBUG=bindings: every malloc binding, libswiftCore's included, goes to libswalloc.so.$major"
    else
      bad "bindings" "$(head -n 5 <<<"$bindings")"
    fi
    # SwiftPM fetches every package the manifest names (and compiles their
    # plugins), but builds only the targets the product needs.
    if [ -e "$bin/Modules/Swalloc.swiftmodule" ] && [ ! -e "$bin/Modules/ArgumentParser.swiftmodule" ] \
       && ! ls "$bin"/ArgumentParser.build/*.o > /dev/null 2>&1 && ! grep -q 'Compiling ArgumentParser' "$tmp/build.log"; then
      ok "depending on the Swalloc product does not build swift-argument-parser (nor SwallocCore)"
    else
      bad "Swalloc product's dependencies" "ArgumentParser was built: $(ls "$bin/Modules")"
    fi
  fi
  ;;
*)
  echo "usage: tests/adoption/run.sh install|pkg-config|deb|swift-example LIB TOOL" >&2
  exit 2
  ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
