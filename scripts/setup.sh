#!/usr/bin/env bash
# Installs what the build and the tests need and a fresh machine may lack.
# Swift itself comes with the machine image (/opt/swift).
set -euo pipefail
need=()
for tool in gcc git sqlite3 valgrind python3 timeout pkg-config dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# GNU time (tests/tool/run.sh compares the tool's peak resident figure with
# its %M; the shell keyword `time` has no such figure).
[ -x /usr/bin/time ] || need+=(/usr/bin/time)
# jeprof (tests/prof/run.sh reads swalloc's heap profiles with it).
command -v jeprof >/dev/null 2>&1 || need+=(jeprof)
# redis-server and redis-cli (tests/programs/run.sh: a jemalloc-linked
# server whose mallctl and malloc_stats_print calls reach swalloc).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# named-checkzone (tests/programs/run.sh: BIND's libisc allocates through
# jemalloc's mallocx / sdallocx / sallocx / rallocx).
command -v named-checkzone >/dev/null 2>&1 || need+=(named-checkzone)
pkgs=()
for tool in "${need[@]}"; do
  case "$tool" in
    timeout) pkgs+=(coreutils) ;;
    /usr/bin/time) pkgs+=(time) ;;
    dpkg-deb) pkgs+=(dpkg) ;;
    jeprof) pkgs+=(libjemalloc-dev) ;;
    redis-server) pkgs+=(redis-server) ;;
    named-checkzone) pkgs+=(bind9-utils) ;;
    *) pkgs+=("$tool") ;;
  esac
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
command -v swiftc >/dev/null || { echo "setup: swiftc not found (expected Swift 6.3 in /opt/swift)" >&2; exit 1; }
