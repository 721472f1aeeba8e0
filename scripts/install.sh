#!/usr/bin/env bash
# Installs swalloc under a prefix (default /usr/local):
#   LIBDIR/libswalloc.so.MAJOR.MINOR   the library, soname libswalloc.so.MAJOR
#   LIBDIR/libswalloc.so.MAJOR         link: what programs linked with it load
#   LIBDIR/libswalloc.so               link: what -lswalloc finds
#   PREFIX/include/swalloc.h           prototypes, MALLOCX_* flags, version
#   LIBDIR/pkgconfig/swalloc.pc        pkg-config --cflags --libs swalloc
#   PREFIX/bin/swalloc                 the tool (swalloc --help)
#   PREFIX/share/swalloc/install-manifest.txt
#                                      what was installed (scripts/uninstall.sh)
# LIBDIR is PREFIX/lib unless --libdir says otherwise. The version (and so
# MAJOR, MINOR) is scripts/version.sh's.
#
# usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--libdir DIR]
#                           [--lib FILE] [--tool FILE]
#   --destdir DIR  write the files under DIR (a staging root, for packaging);
#                  the paths inside them (.pc, manifest) stay PREFIX's
#   --lib FILE     install this libswalloc.so instead of building it
#                  (scripts/build-lib.sh)
#   --tool FILE    install this swalloc executable instead of building it
#                  (swift build -c release --static-swift-stdlib: it then
#                  needs no Swift runtime where it is installed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
destdir=""
libdir=""
lib=""
tool=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --libdir) libdir=$2; shift 2 ;;
    --lib) lib=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
prefix=${prefix%/}
libdir=${libdir:-$prefix/lib}
version=$("$root/scripts/version.sh")
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
patch=${version##*.}

if [ -z "$lib" ]; then
  "$root/scripts/build-lib.sh"
  lib=$root/.build/release/libswalloc.so
fi
if [ -z "$tool" ]; then
  (cd "$root" && swift build -c release --static-swift-stdlib --product swalloc)
  tool=$(cd "$root" && swift build -c release --show-bin-path)/swalloc
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libswalloc.so.$major" ]; then
  echo "install.sh: $lib has soname '$soname', want libswalloc.so.$major (rebuild it with scripts/build-lib.sh)" >&2
  exit 1
fi

manifest=$prefix/share/swalloc/install-manifest.txt
installed=()
put() { # mode, source, destination (a path under PREFIX)
  install -D -m "$1" "$2" "$destdir$3"
  installed+=("$3")
}
link() { # target, link path
  mkdir -p "$(dirname "$destdir$2")"
  ln -sfn "$1" "$destdir$2"
  installed+=("$2")
}
real=libswalloc.so.$major.$minor
put 755 "$lib" "$libdir/$real"
link "$real" "$libdir/libswalloc.so.$major"
link "libswalloc.so.$major" "$libdir/libswalloc.so"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s/@VERSION@/$version/" -e "s/@MAJOR@/$major/" -e "s/@MINOR@/$minor/" -e "s/@PATCH@/$patch/" \
  "$root/include/swalloc.h.in" > "$tmp/swalloc.h"
put 644 "$tmp/swalloc.h" "$prefix/include/swalloc.h"

# pkg-config: libdir relative to prefix when it lies under it.
case "$libdir" in
  "$prefix"/*) pc_libdir="\${prefix}${libdir#"$prefix"}" ;;
  *) pc_libdir=$libdir ;;
esac
cat > "$tmp/swalloc.pc" <<PC
prefix=$prefix
libdir=$pc_libdir
includedir=\${prefix}/include

Name: swalloc
Description: A general-purpose malloc replacement (Embedded Swift): link it to make it the program's allocator
Version: $version
Libs: -L\${libdir} -lswalloc
Cflags: -I\${includedir}
PC
put 644 "$tmp/swalloc.pc" "$libdir/pkgconfig/swalloc.pc"
put 755 "$tool" "$prefix/bin/swalloc"

installed+=("$manifest")
mkdir -p "$(dirname "$destdir$manifest")"
printf '%s\n' "${installed[@]}" > "$destdir$manifest"
# The loader's cache, for a system directory installed for real.
if [ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null \
   && ldconfig -v -N 2>/dev/null | grep -q "^$libdir:"; then
  ldconfig
fi
echo "installed swalloc $version under ${destdir}$prefix (list: ${destdir}$manifest)"
