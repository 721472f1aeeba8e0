#!/usr/bin/env bash
# Black-box checks of the `swalloc` tool: `run` reports the program's
# memory from the library's exit report and passes its exit status through;
# `version` reads the library's version with mallctl.
# usage: tests/tool-check.sh TOOL LIB
set -u
tool=$1
lib=$2
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
py=$(python3 -c 'import sys; print(sys.executable)')

out=$("$tool" run --lib "$lib" --stats -- "$py" -c 'x = [bytearray(1000) for i in range(20000)]; print(len(x))' 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q '^20000$' <<<"$out" && grep -q 'allocated: peak' <<<"$out" \
   && grep -q 'resident: peak' <<<"$out" && grep -qE '^ +1024 ' <<<"$out"; then
  ok "run --stats (summary and per-class table)"
else
  bad "run --stats" "rc=$rc $(tail -n 5 <<<"$out" | tr '\n' ' ')"
fi
# The peak allocated must cover the 20 MB the program held.
peak=$(sed -n 's/.*allocated: peak \([0-9.]*\) MiB.*/\1/p' <<<"$out")
if awk -v p="$peak" 'BEGIN { exit !(p >= 19) }'; then ok "peak allocated ($peak MiB) covers the live data"
else bad "peak allocated" "got '$peak' MiB, want >= 19"; fi

"$tool" run --lib "$lib" -- "$py" -c 'import sys; sys.exit(7)' >/dev/null 2>&1
rc=$?
if [ $rc -eq 7 ]; then ok "run passes the exit status through"; else bad "exit status" "got $rc, want 7"; fi

out=$("$tool" run --lib "$lib" --json -- "$py" -c 'pass' 2>/dev/null)
if python3 -c 'import json,sys; d=json.loads(sys.argv[1])["swalloc"]; assert d["allocated"] >= 0 and "bins" in d' "$out" 2>/dev/null; then
  ok "run --json prints the library's JSON report"
else
  bad "run --json" "$(head -c 200 <<<"$out")"
fi

out=$("$tool" version --lib "$lib" 2>&1)
if grep -q 'swalloc tool' <<<"$out" && grep -qE 'library .*: [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"; then ok "version"
else bad "version" "$out"; fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
