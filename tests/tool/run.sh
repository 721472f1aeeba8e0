#!/usr/bin/env bash
# Black-box checks of the `swalloc` tool and of scripts/run-main.sh:
#  - run: the summary and per-class table; the peak resident figure against
#    /usr/bin/time -f %M; SWALLOC_CONF / MALLOC_CONF / --conf precedence;
#    run --help / -h; a main process without a report and a line per other
#    process; returning when the main process exits, not its background
#    children; --json FILE (not stdout); exit statuses 127 / 126 / 125 /
#    the program's own / 128+signal; --stats without rows;
#  - version;
#  - scripts/run-main.sh: build output shown whole, the library rebuilt only
#    when its sources changed (in a scratch copy with a stand-in `swift`
#    and build-lib.sh, so nothing is compiled).
# usage: tests/tool/run.sh TOOL LIB
set -u
tool=$1
lib=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
py=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$tool" run --lib "$lib" --stats -- "$py" -c 'x = [bytearray(1000) for i in range(20000)]; print(len(x))' 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q '^20000$' <<<"$out" && grep -q 'allocated: peak' <<<"$out" \
   && grep -q 'resident: peak' <<<"$out" && grep -qE '^ +1024 ' <<<"$out"; then
  ok "run --stats (summary and per-class table)"
else
  bad "run --stats" "rc=$rc $(tail -n 5 <<<"$out" | tr '\n' ' ')"
fi
# The peak allocated must cover the 20 MB the program held.
peak=$(sed -n 's/.*allocated: peak \([0-9.]*\) MiB.*/\1/p' <<<"$out" | head -n 1)
if awk -v p="$peak" 'BEGIN { exit !(p >= 19) }'; then ok "peak allocated ($peak MiB) covers the live data"
else bad "peak allocated" "got '$peak' MiB, want >= 19"; fi
# The table's counts are regions moved to and from the caches, and says so.
if grep -q 'not malloc / free calls' <<<"$out"; then ok "--stats says what its counts count"
else bad "--stats counts" "no note that the counts are not malloc / free calls"; fi

# --- 1. Peak resident memory against /usr/bin/time -f %M (same library
# preloaded in both, through env, which execs: one process).
resident_mib() { # summary -> the MiB figure of "resident: peak [at most] X MiB"
  sed -n 's/.*resident: peak \(at most \)\{0,1\}\([0-9.]*\) MiB.*/\2/p' <<<"$1" | head -n 1
}
if [ -x /usr/bin/time ]; then
  kib=$(/usr/bin/time -f %M env LD_PRELOAD="$lib" echo hi 2>&1 >/dev/null | tail -n 1)
  out=$("$tool" run --lib "$lib" -- echo hi 2>&1)
  mine=$(resident_mib "$out")
  # A small program: the tool's figure (exact or bound) within 1 MiB above time's.
  if [ -n "$mine" ] && awk -v m="$mine" -v k="$kib" 'BEGIN { exit !(m * 1024 <= k + 1024) }'; then
    ok "echo's peak resident: $mine MiB, /usr/bin/time $kib KiB"
  else
    bad "echo's peak resident" "tool '$mine' MiB, /usr/bin/time $kib KiB: $(grep resident <<<"$out")"
  fi
  prog='x = bytearray(64 << 20); x[::4096] = b"\1" * (len(x) // 4096)'
  kib=$(/usr/bin/time -f %M env LD_PRELOAD="$lib" "$py" -c "$prog" 2>&1 >/dev/null | tail -n 1)
  out=$("$tool" run --lib "$lib" -- "$py" -c "$prog" 2>&1)
  mine=$(resident_mib "$out")
  if [ -n "$mine" ] && awk -v m="$mine" -v k="$kib" 'BEGIN { d = m * 1024 - k; if (d < 0) d = -d; exit !(d <= k / 10) }'; then
    ok "64 MiB program's peak resident: $mine MiB, /usr/bin/time $kib KiB"
  else
    bad "64 MiB program's peak resident" "tool '$mine' MiB, /usr/bin/time $kib KiB"
  fi
else
  bad "peak resident" "/usr/bin/time is missing (scripts/setup.sh installs it)"
fi

# --- 2. SWALLOC_CONF / MALLOC_CONF from the environment, then --conf.
arenas_prog='import ctypes
lib = ctypes.CDLL(None)
n = ctypes.c_uint(0); size = ctypes.c_size_t(4)
lib.mallctl(b"opt.narenas", ctypes.byref(n), ctypes.byref(size), None, 0)
print(n.value)'
conf_case() { # expected, environment assignments..., -- tool options...
  local want=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local got
  got=$(env -u SWALLOC_CONF -u MALLOC_CONF "${envs[@]}" "$tool" run --lib "$lib" "$@" -- "$py" -c "$arenas_prog" 2>/dev/null)
  if [ "$got" = "$want" ]; then ok "narenas $want from ${envs[*]:-no environment} $*"
  else bad "options from ${envs[*]:-no environment} $*" "narenas '$got', want $want"; fi
}
conf_case 3 SWALLOC_CONF=narenas:3 --
conf_case 5 MALLOC_CONF=narenas:5 --
conf_case 3 SWALLOC_CONF=narenas:3 MALLOC_CONF=narenas:5 --
conf_case 7 SWALLOC_CONF=narenas:3 -- --conf narenas:7
conf_case 7 MALLOC_CONF=narenas:5 -- --conf narenas:7
conf_case 6 SWALLOC_CONF=narenas:3,tcache:true -- --conf narenas:6

# --- 3. run --help and run -h are the tool's.
for h in --help -h; do
  out=$("$tool" run $h 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && grep -q -- '--conf' <<<"$out" && grep -q 'Exit status' <<<"$out"; then ok "run $h"
  else bad "run $h" "rc=$rc $(head -n 3 <<<"$out" | tr '\n' ' ')"; fi
done

# --- 4. The main process without a report; a line per other process.
out=$("$tool" run --lib "$lib" -- "$py" -c "
import os
os.system('exec $py -c \"x = bytearray(10 << 20)\"')
os._exit(3)" 2>&1)
rc=$?
if [ $rc -eq 3 ] && grep -qE 'main process \(pid [0-9]+\) produced no report' <<<"$out" \
   && ! grep -q 'allocated: peak' <<<"$out" \
   && grep -qE '^ +pid [0-9]+ python.*allocated peak (9|1[0-9])\.[0-9] MiB' <<<"$out"; then
  ok "a main process without a report is named as such; the child's figures are its own line"
else
  bad "main process without a report" "rc=$rc $(tr '\n' ' ' <<<"$out")"
fi
"$tool" run --lib "$lib" --json "$tmp/nomain.json" -- "$py" -c "
import os
os.system('exec $py -c pass')
os._exit(0)" >/dev/null 2>"$tmp/nomain.err"
if python3 - "$tmp/nomain.json" <<'EOF' && grep -q 'produced no report' "$tmp/nomain.err"; then
import json, sys
d = json.load(open(sys.argv[1]))
assert d["main_report"] is None, d
others = [p for p in d["processes"] if not p["main"]]
assert len(others) == 1 and others[0]["report"]["allocated"] >= 0, d["processes"]
EOF
  ok "--json without a main report: main_report null, the child listed, a line on stderr"
else
  bad "--json without a main report" "$(head -c 300 "$tmp/nomain.json" 2>/dev/null) $(cat "$tmp/nomain.err")"
fi
# A shell running 12 programs: the main one summarised, the others listed
# (bash: dash ends with _exit, without a report).
out=$("$tool" run --lib "$lib" -- bash -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do '"$py"' -c pass; done' 2>&1)
lines=$(grep -cE '^ +pid [0-9]+ ' <<<"$out")
if grep -q '12 other processes reported' <<<"$out" && [ "$lines" -eq 8 ] && grep -q 'and 4 more' <<<"$out" \
   && grep -q 'allocated: peak' <<<"$out"; then
  ok "12 child processes: the main one summarised, 8 listed and 4 more counted"
else
  bad "per-process list" "$lines lines: $(tr '\n' ' ' <<<"$out")"
fi

# --- 5. Return when the main process exits; background children are not
# waited for, do not die of the closed report socket, and the program
# inherits one descriptor from the tool (the report socket).
start=$(date +%s%N)
"$tool" run --lib "$lib" -- bash -c 'sleep 4 &' >/dev/null 2>&1
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -lt 2000 ]; then ok "returns when the main process exits (${ms} ms with a 4 s background child)"
else bad "background child" "took ${ms} ms"; fi
"$tool" run --lib "$lib" -- bash -c "(sleep 1; $py -c pass; echo \$? > '$tmp/late') &" >/dev/null 2>&1
sleep 3
if [ "$(cat "$tmp/late" 2>/dev/null)" = 0 ]; then ok "a process reporting after the tool returned exits normally"
else bad "late report" "its status: '$(cat "$tmp/late" 2>/dev/null)'"; fi
fds_prog='import os
for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
    try: print(fd, os.readlink("/proc/self/fd/%d" % fd))
    except OSError: pass'
direct=$("$py" -c "$fds_prog" | wc -l)
under=$("$tool" run --lib "$lib" -- "$py" -c "$fds_prog" 2>/dev/null)
if [ "$(wc -l <<<"$under")" -eq $((direct + 1)) ] && [ "$(grep -c 'socket:' <<<"$under")" -eq 1 ]; then
  ok "the program inherits one descriptor from the tool, the report socket"
else
  bad "inherited descriptors" "direct $direct; under the tool: $(tr '\n' ' ' <<<"$under")"
fi

# --- 6. --json FILE: the program's stdout stays its own.
stdout=$("$tool" run --lib "$lib" --json "$tmp/run.json" -- "$py" -c 'print("hello")' 2>/dev/null)
if [ "$stdout" = hello ] && python3 - "$tmp/run.json" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
r = d["main_report"]
assert r["allocated"] >= 0 and "bins" in r and r["pid"] == d["pid"], d
assert d["exit_status"] == 0 and d["peak_resident_kib"] > 0, d
assert [p["main"] for p in d["processes"]].count(True) == 1, d["processes"]
EOF
  ok "run --json FILE writes the run there; stdout is the program's"
else
  bad "run --json FILE" "stdout '$stdout'; $(head -c 200 "$tmp/run.json" 2>/dev/null)"
fi

# --- 7. Exit statuses.
status_case() { # want, name, command...
  local want=$1 name=$2; shift 2
  "$@" >/dev/null 2>&1
  local rc=$?
  if [ $rc -eq "$want" ]; then ok "exit status $want: $name"; else bad "exit status: $name" "got $rc, want $want"; fi
}
printf 'echo not executable\n' > "$tmp/plain"
chmod 644 "$tmp/plain"
printf 'exit 4\n' > "$tmp/noshebang"
chmod 755 "$tmp/noshebang"
status_case 7 "the program's own" "$tool" run --lib "$lib" -- "$py" -c 'import sys; sys.exit(7)'
status_case 127 "command not found" "$tool" run --lib "$lib" -- swalloc-no-such-command
status_case 126 "not executable" "$tool" run --lib "$lib" -- "$tmp/plain"
status_case 126 "a directory" "$tool" run --lib "$lib" -- "$tmp"
status_case 4 "a script without #! runs through sh" "$tool" run --lib "$lib" -- "$tmp/noshebang"
status_case 137 "killed by SIGKILL: 128+9" "$tool" run --lib "$lib" -- sh -c 'kill -9 $$'
status_case 125 "the tool's own failure (no such library)" "$tool" run --lib "$tmp/none.so" -- true
status_case 125 "the tool's own failure (unknown option)" "$tool" run --no-such-option true

# --- 9. --stats with no small allocations prints no empty table.
out=$("$tool" run --lib "$lib" --stats -- "$py" -c pass 2>&1 >/dev/null)
out_empty=$("$tool" run --lib "$lib" --stats -- true 2>&1)
if grep -q 'no small size class was used' <<<"$out_empty" && ! grep -q 'regs/slab' <<<"$out_empty" \
   && grep -q 'regs/slab' <<<"$out"; then
  ok "--stats: a table when there are rows, a sentence when there are none"
else
  bad "--stats without rows" "$(tr '\n' ' ' <<<"$out_empty")"
fi

out=$("$tool" version --lib "$lib" 2>&1)
if grep -q "swalloc tool $("$root/scripts/version.sh")" <<<"$out" \
   && grep -q "library .*: $("$root/scripts/version.sh")\$" <<<"$out"; then ok "version (scripts/version.sh's)"
else bad "version" "$out"; fi

# --- 8. scripts/run-main.sh, in a scratch copy: a stand-in `swift` prints a
# build's lines (and fails when asked), a stand-in build-lib.sh says it ran.
fake=$tmp/run-main
mkdir -p "$fake/scripts" "$fake/bin" "$fake/Sources/SwallocCore" "$fake/Sources/CSwallocPlatform" "$fake/lib" "$fake/.build/release"
cp "$root/scripts/run-main.sh" "$fake/scripts/"
printf '#!/bin/sh\n' > "$fake/scripts/setup.sh"
printf '#!/bin/sh\necho STAND-IN-BUILD-LIB\ncp "%s" "$(dirname "$0")/../.build/release/libswalloc.so"\n' "$lib" > "$fake/scripts/build-lib.sh"
printf '#!/bin/sh\necho "[1/3] Compiling SwallocTool SwallocTool.swift"\necho "SwallocTool.swift:3:1: error: stand-in error"\necho "[3/3] the last line"\nexit ${STANDIN_SWIFT_RC:-0}\n' > "$fake/bin/swift"
chmod +x "$fake/scripts/"*.sh "$fake/bin/swift"
touch -d '-1 hour' "$fake/Sources/SwallocCore/a.swift" "$fake/Sources/CSwallocPlatform/a.c" "$fake/lib/a.c" "$fake/scripts/build-lib.sh"
ln -s "$(readlink -f "$tool")" "$fake/.build/release/swalloc"
run_main() { PATH="$fake/bin:$PATH" "$fake/scripts/run-main.sh" -- true 2>&1; }
out=$(STANDIN_SWIFT_RC=1 run_main)
rc=$?
if [ $rc -ne 0 ] && grep -q 'Compiling SwallocTool' <<<"$out" && grep -q 'error: stand-in error' <<<"$out" \
   && grep -q 'the last line' <<<"$out" && ! grep -q STAND-IN-BUILD-LIB <<<"$out"; then
  ok "run-main.sh: a failing build's output shown whole, and it stops"
else
  bad "run-main.sh failing build" "rc=$rc $(tr '\n' ' ' <<<"$out")"
fi
out=$(run_main)
rc=$?
if [ $rc -eq 0 ] && grep -q STAND-IN-BUILD-LIB <<<"$out"; then ok "run-main.sh: builds a missing library"
else bad "run-main.sh missing library" "rc=$rc $(tr '\n' ' ' <<<"$out")"; fi
out=$(run_main)
rc=$?
if [ $rc -eq 0 ] && ! grep -q STAND-IN-BUILD-LIB <<<"$out" && grep -q 'swalloc run: true' <<<"$out"; then
  ok "run-main.sh: no rebuild when no source changed"
else
  bad "run-main.sh up-to-date library" "rc=$rc $(tr '\n' ' ' <<<"$out")"
fi
touch -d '+1 minute' "$fake/Sources/SwallocCore/a.swift"
out=$(run_main)
if grep -q STAND-IN-BUILD-LIB <<<"$out"; then ok "run-main.sh: rebuilds after a source changed"
else bad "run-main.sh changed source" "$(tr '\n' ' ' <<<"$out")"; fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
