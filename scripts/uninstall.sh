#!/usr/bin/env bash
# Removes what scripts/install.sh installed, as listed in its manifest
# (PREFIX/share/swalloc/install-manifest.txt), and the directories that
# leaves empty.
# usage: scripts/uninstall.sh [--prefix DIR] [--destdir DIR]   (as given to install.sh)
set -euo pipefail
prefix=/usr/local
destdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
prefix=${prefix%/}
manifest=$destdir$prefix/share/swalloc/install-manifest.txt
if [ ! -f "$manifest" ]; then
  echo "uninstall.sh: no manifest at $manifest: nothing installed there by scripts/install.sh" >&2
  exit 1
fi
dirs=()
while read -r path; do
  [ -n "$path" ] || continue
  case "$path" in /*) ;; *) echo "uninstall.sh: skipping '$path' (not absolute)" >&2; continue ;; esac
  if [ -e "$destdir$path" ] || [ -L "$destdir$path" ]; then rm -f "$destdir$path"; fi
  dirs+=("$(dirname "$destdir$path")")
done < "$manifest"
# Empty directories left behind (share/swalloc, lib/pkgconfig, ...), deepest
# first; the prefix itself stays.
for dir in $(printf '%s\n' "${dirs[@]}" | sort -u -r); do
  while [ "$dir" != "$destdir$prefix" ] && [ "${#dir}" -gt "${#prefix}" ] && rmdir "$dir" 2>/dev/null; do
    dir=$(dirname "$dir")
  done
done
echo "removed swalloc from ${destdir}$prefix"
