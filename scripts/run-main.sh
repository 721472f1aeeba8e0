#!/usr/bin/env bash
# The main job (README): builds the swalloc tool and, when its sources
# changed, libswalloc.so, then `swalloc run --stats` a real program — python3
# building, serialising and searching a few hundred thousand objects on 4
# threads — and prints the summary (peak and final allocated / resident,
# per-size-class table).
# Pass a command to run that instead: scripts/run-main.sh -- sqlite3 ...
# The builds print as they go (a first build of the tool takes a minute or
# two); a failing build stops here with its whole output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
echo "run-main: swift build -c release --product swalloc"
(cd "$root" && swift build -c release --product swalloc)
lib=$root/.build/release/libswalloc.so
# The library's inputs (scripts/build-lib.sh compiles these and only these).
changed=""
if [ -f "$lib" ]; then
  changed=$(cd "$root" && find Sources/SwallocCore Sources/CSwallocPlatform lib scripts/build-lib.sh \
    -type f -newer "$lib" -print -quit)
fi
if [ ! -f "$lib" ] || [ -n "$changed" ]; then
  echo "run-main: scripts/build-lib.sh (${changed:-no library yet})"
  "$root/scripts/build-lib.sh"
else
  echo "run-main: $lib is newer than its sources: not rebuilt"
fi
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
# SWALLOC_CONF / MALLOC_CONF in the environment reach the program: the tool
# merges them with its own options.
exec "$tool" run --lib "$lib" --stats -- "${cmd[@]}"
