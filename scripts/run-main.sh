#!/usr/bin/env bash
# The main job (README): builds libswalloc.so and the swalloc tool, then
# `swalloc run --stats` a real program — python3 building, serialising and
# searching a few hundred thousand objects on 4 threads — and prints the
# summary (peak and final allocated / resident, per-size-class table).
# Pass a command to run that instead: scripts/run-main.sh -- sqlite3 ...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
(cd "$root" && swift build -c release --product swalloc 2>&1 | tail -n 1)
"$root/scripts/build-lib.sh"
tool=$root/.build/release/swalloc
if [ "${1:-}" = "--" ]; then
  shift
  cmd=("$@")
else
  # Resolve the real interpreter (a pyenv shim is a shell script that would
  # run, and report, several processes).
  python=$(python3 -c 'import sys; print(sys.executable)')
  export PYTHONMALLOC=malloc  # objects through malloc, not CPython's own arenas
  cmd=("$python" -c '
import json, re, threading, time
start = time.time()
def work(k, out):
    d = {f"key{i}": [i, str(i) * (i % 13), {"n": i % 97}] for i in range(60000)}
    s = json.dumps(d)
    out[k] = (len(s), len(re.findall(r"key\d+7\"", s)), sum(len(v[1]) for v in json.loads(s).values()))
out = {}
ts = [threading.Thread(target=work, args=(k, out)) for k in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("python3 under swalloc:", out[0], "x4 threads in %.2f s" % (time.time() - start))
')
fi
exec "$tool" run --stats ${SWALLOC_CONF:+--conf "$SWALLOC_CONF"} -- "${cmd[@]}"
