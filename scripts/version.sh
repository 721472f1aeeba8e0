#!/usr/bin/env bash
# Prints swalloc's version, read from its one source
# (Sources/SwallocCore/Platform/Version.swift): MAJOR.MINOR.PATCH, or with --major
# only MAJOR (the soname's number, libswalloc.so.MAJOR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^let swallocVersion: StaticString = "\([0-9]*\.[0-9]*\.[0-9]*\)"$/\1/p' "$root/Sources/SwallocCore/Platform/Version.swift")
if [ -z "$version" ]; then
  echo "version.sh: no MAJOR.MINOR.PATCH version in Sources/SwallocCore/Platform/Version.swift" >&2
  exit 1
fi
case "${1:-}" in
  --major) echo "${version%%.*}" ;;
  "") echo "$version" ;;
  *) echo "usage: scripts/version.sh [--major]" >&2; exit 2 ;;
esac
