#!/usr/bin/env bash
# Builds the Debian package swalloc_VERSION_amd64.deb with dpkg-deb: what
# scripts/install.sh installs under /usr (library with its soname links,
# header, pkg-config file, the tool), plus the licence and changelog in
# /usr/share/doc/swalloc. VERSION is scripts/version.sh's; Depends lists
# the Debian packages of the libraries the library and the tool load.
#
# usage: scripts/package-deb.sh [--out DIR] [--lib FILE] [--tool FILE]
#   --out DIR    where the .deb goes (default .build/deb)
#   --lib/--tool install these builds instead of building (see install.sh;
#                by default the tool is built with --static-swift-stdlib, so
#                the package does not need a Swift runtime)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.build/deb
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --lib|--tool) pass+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-deb.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
version=$("$root/scripts/version.sh")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"$root/scripts/install.sh" --prefix /usr --destdir "$stage" "${pass[@]}"
# dpkg keeps its own list of the package's files.
rm -rf "$stage/usr/share/swalloc"
# The tool's symbols (most of its size with the static Swift libraries).
if command -v strip >/dev/null; then strip --strip-unneeded "$stage/usr/bin/swalloc"; fi
install -D -m 644 "$root/LICENSE" "$stage/usr/share/doc/swalloc/copyright"
install -D -m 644 "$root/CHANGELOG.md" "$stage/usr/share/doc/swalloc/CHANGELOG.md"

# Depends: the packages owning what the library and the tool load, and the
# C library's version the newest symbol they use needs.
depends=()
glibc=""
for file in "$stage/usr/lib/libswalloc.so" "$stage/usr/bin/swalloc"; do
  real=$(readlink -f "$file")
  v=$(objdump -T "$real" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
  # Packed relative relocations (build-lib.sh) need glibc 2.36: a version
  # requirement of the file (GLIBC_ABI_DT_RELR) that names no symbol.
  if readelf -V "$real" | grep -q GLIBC_ABI_DT_RELR && { [ -z "$v" ] || [ "$(printf '%s\n2.36\n' "$v" | sort -V | tail -n 1)" = 2.36 ]; }; then v=2.36; fi
  if [ -n "$v" ] && { [ -z "$glibc" ] || [ "$(printf '%s\n%s\n' "$glibc" "$v" | sort -V | tail -n 1)" = "$v" ]; }; then glibc=$v; fi
  while read -r path; do
    case "$path" in */libc.so.6|*/ld-linux*|*/libm.so.6) continue ;; esac
    # dpkg knows a file by the path its package shipped it under (/usr/lib
    # on a merged-/usr system, where ldd says /lib).
    package=""
    for candidate in "$path" "$(readlink -f "$path")" "/usr$path"; do
      package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
      [ -n "$package" ] && break
    done
    if [ -n "$package" ]; then depends+=("$package")
    else echo "package-deb.sh: warning: $path (loaded by $(basename "$real")) is not from a Debian package" >&2; fi
  done < <(ldd "$real" | awk '$3 ~ /^\// {print $3}')
done
depends_line="libc6 (>= ${glibc:-2.34})"
for package in $(printf '%s\n' "${depends[@]+"${depends[@]}"}" | sort -u); do depends_line+=", $package"; done

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: swalloc
Version: $version
Architecture: $arch
Maintainer: swalloc developers <swalloc@localhost>
Section: libs
Priority: optional
Installed-Size: $size
Depends: $depends_line
Description: general-purpose malloc replacement written in Embedded Swift
 libswalloc replaces the C library's malloc family in any program, linked
 (-lswalloc, pkg-config swalloc) or loaded with LD_PRELOAD: per-thread
 caches, arenas, size-class slabs, jemalloc's extended API and mallctl.
 The swalloc tool runs a program under it and reports its memory.
CONTROL
echo "activate-noawait ldconfig" > "$stage/DEBIAN/triggers"
mkdir -p "$out"
deb=$out/swalloc_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "built $deb"
