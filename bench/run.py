#!/usr/bin/env python3
"""swalloc benchmark suite: swalloc against glibc, jemalloc, mimalloc and
tcmalloc, in the same run.

Builds bench/workloads.c (and the library when it is missing), then runs
every workload under every allocator several times, interleaved (within a
repetition each allocator runs once, in an order rotated per repetition),
measuring the wall time and the peak RSS of the child (os.wait4). Prints
and writes (to BENCHMARKS.md) the median time and peak RSS per workload and
allocator, swalloc's ratios to glibc and to the best peer, the geometric
means and the check of the project's performance goals, plus a bar chart
(docs/bench-ratios.svg).

Usually run through scripts/bench.sh, which installs the peers first.
Standard library only.
"""

import argparse
import datetime
import hashlib
import math
import os
import platform
import shlex
import shutil
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
SWALLOC_LIB = os.path.join(ROOT, ".build", "release", "libswalloc.so")
WORK_DIR = os.path.join(ROOT, ".build", "bench")
WORKLOADS_BIN = os.path.join(WORK_DIR, "workloads")

# name -> (preload path or None, Debian package)
ALLOCATORS = {
    "glibc": (None, "libc6"),
    "swalloc": (SWALLOC_LIB, None),
    "jemalloc": (os.path.join(LIBDIR, "libjemalloc.so.2"), "libjemalloc2"),
    "mimalloc": (os.path.join(LIBDIR, "libmimalloc.so.2"), "libmimalloc2.0"),
    "tcmalloc": (os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"), "libtcmalloc-minimal4"),
}
PEERS = ["jemalloc", "mimalloc", "tcmalloc"]
# SWALLOC_CONF for the swalloc-base runs only (--baseline-conf).
BASELINE_CONF = None

# Failures of a peer that are the peer's own known bugs, explained in the report.
KNOWN = {
    ("aligned", "mimalloc"):
        "a known bug of mimalloc 2.0.9 (Debian's libmimalloc2.0): aligned allocations whose size "
        "equals an alignment of 256, 512 or 1024 come back only 128-byte aligned "
        "(e.g. aligned_alloc(256, 256); microsoft/mimalloc#700, fixed in later releases)",
}

# Goals stated in the issue (checked and printed, never failing the run).
GOAL_TIME_VS_JEMALLOC = 0.85
GOAL_RSS_VS_JEMALLOC = 1.05
GOAL_WORST_VS_BEST_PEER = 1.5

PYTHON_SCRIPT = r'''
import json, sys
n = int(sys.argv[1])
h = 0
for r in range(n):
    d = {}
    for i in range(20000):
        k = f"key-{r}-{i}"
        d[k] = {"id": i, "name": k * (1 + i % 5), "tags": [str(i % 7), str(i % 11)], "v": i * 0.5}
    s = json.dumps(d)
    e = json.loads(s)
    cnt = {}
    for w in s.split('"'):
        cnt[w] = cnt.get(w, 0) + 1
    parts = [k.upper() + str(v["id"]) for k, v in e.items() if v["id"] % 3 == 0]
    h = (h * 31 + len(s) + len(e) + len(cnt) + len("".join(parts))) % (1 << 61)
print("python3", n, h)
'''

SQLITE_SCRIPT = """\
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
INSERT INTO t(a, b, c)
  SELECT (i * 7919) % 100003, printf('row-%08d-%x', i, (i * 2654435761) % 4294967296), i * 0.5 FROM s;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
SELECT count(*), sum(a), count(DISTINCT a), sum(length(b)) FROM t;
SELECT group_concat(b, ',') FROM (SELECT b FROM t WHERE a BETWEEN 1000 AND 1100 ORDER BY b LIMIT 5);
SELECT a % 97 AS k, count(*), max(b) FROM t GROUP BY k ORDER BY k LIMIT 3;
"""


class Workload:
    def __init__(self, name, kind, desc, threaded=False):
        self.name, self.kind, self.desc, self.threaded = name, kind, desc, threaded


WORKLOADS = [
    Workload("churn-lifo", "c",
             "1 thread: batches of 1-256 blocks of 8-512 B allocated, then freed in reverse (LIFO) order"),
    Workload("churn-random", "c",
             "1 thread: 8192 live blocks of 8-512 B; random slots freed and reallocated at a new random size"),
    Workload("larson", "c",
             "Larson-style server: T threads replace random slots (1000 blocks of 16-1024 B each) and every "
             "256 operations hand a batch of 64 blocks to the next thread's mutex-protected mailbox "
             "(at most 4 batches), which frees them", threaded=True),
    Workload("xmalloc", "c",
             "producer/consumer: T/2 threads allocate 16-256 B blocks and push them in batches of 256 "
             "through a bounded queue; the others pop and free them (every free is remote)", threaded=True),
    Workload("cache-scratch", "c",
             "false sharing: each thread frees an 8 B object the main thread allocated next to the others', "
             "then repeatedly allocates an 8-64 B object, writes all its bytes 9 times and frees it",
             threaded=True),
    Workload("realloc-grow", "c",
             "8 strings grown one char at a time by realloc to 64 B-8 KiB, interleaved at random; then "
             "arrays of 8 B elements grown one element at a time to 128 KiB-4 MiB"),
    Workload("aligned", "c",
             "2048 slots of posix_memalign/aligned_alloc blocks, alignment 16-4096, sizes 8 B-32 KiB, "
             "replaced at random; alignment checked"),
    Workload("large", "c",
             "4 slots of 64 KiB-32 MiB blocks (log-uniform) replaced at random; one byte written per page"),
    Workload("leak-grow", "c",
             "growing heap: mixed sizes 16 B-512 KiB, 70% of the steps also free a random live block, "
             "so ~30% stays live (peak RSS ~0.6 GB in full mode)"),
    Workload("python3", "python",
             "CPython with PYTHONMALLOC=malloc: builds dicts of 20,000 records, json dumps/loads them, "
             "splits and counts strings (2 rounds, 1 in quick mode)"),
    Workload("sqlite3", "sqlite",
             "`sqlite3 :memory:` inserts 200,000 rows (50,000 in quick mode) from a recursive CTE, "
             "builds two indexes, aggregates and sorts"),
]

FULL = {"reps": 5, "scale": 1.0, "python_rounds": 2, "sqlite_rows": 200000}
QUICK = {"reps": 1, "scale": 0.4, "python_rounds": 1, "sqlite_rows": 50000}


def log(msg=""):
    print(msg, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


# ------------------------------------------------------------------ set-up

def build(args):
    os.makedirs(WORK_DIR, exist_ok=True)
    if not os.path.exists(SWALLOC_LIB):
        log("building the library (scripts/build-lib.sh)")
        r = sh([os.path.join(ROOT, "scripts", "build-lib.sh")])
        if r.returncode != 0:
            sys.exit("scripts/build-lib.sh failed:\n" + r.stdout + r.stderr)
    src = os.path.join(ROOT, "bench", "workloads.c")
    r = sh(["gcc", "-O2", "-pthread", "-Wall", "-Wextra", "-o", WORKLOADS_BIN, src])
    if r.returncode != 0:
        sys.exit("building bench/workloads.c failed:\n" + r.stderr)
    # The library may be rebuilt while the benchmark runs (shared tree):
    # every swalloc run uses one snapshot taken now.
    snap_dir = tempfile.mkdtemp(prefix="swalloc-bench-")
    snap = os.path.join(snap_dir, "libswalloc.so")
    shutil.copy2(SWALLOC_LIB, snap)
    return snap


def python_executable():
    # The shell's python3 may be a pyenv shim (a bash script): preloading
    # into it would measure bash too. Ask it where the real interpreter is.
    r = sh(["python3", "-c", "import sys; print(sys.executable)"])
    exe = r.stdout.strip() if r.returncode == 0 else ""
    return exe if exe and os.path.exists(exe) else sys.executable


def machine_info(python_exe):
    info = {}
    model = ""
    r = sh(["lscpu"])
    for line in r.stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    info["cpu"] = model or platform.processor() or "unknown"
    info["cores"] = os.cpu_count()
    info["affinity"] = len(os.sched_getaffinity(0))
    info["kernel"] = platform.release()
    try:
        info["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        info["glibc"] = "unknown"
    info["mem"] = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            info["mem"] = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    pkgs = []
    for name in PEERS:
        pkg = ALLOCATORS[name][1]
        r = sh(["dpkg-query", "-W", "-f", "${Version}", pkg])
        pkgs.append(f"{name} {r.stdout.strip() if r.returncode == 0 else '?'} ({pkg})")
    info["peers"] = ", ".join(pkgs)
    info["gcc"] = first_line(sh(["gcc", "--version"]).stdout)
    info["python"] = first_line(sh([python_exe, "--version"]).stdout) + f" ({python_exe})"
    sq = shutil.which("sqlite3")
    info["sqlite"] = first_line(sh([sq, "--version"]).stdout).split(" ")[0] if sq else "missing"
    head = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--", "Sources", "lib",
                "scripts/build-lib.sh"]).stdout.strip()
    info["swalloc"] = f"commit {head or '?'}" + (" + uncommitted changes to Sources/lib" if dirty else "")
    return info


def cpu_busy_seconds():
    """All CPUs' busy time so far (from /proc/stat), in seconds."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = sum(v[:8]) - v[3] - (v[4] if len(v) > 4 else 0)  # minus idle, iowait
        return busy / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------- running

class Result:
    def __init__(self):
        self.times, self.rss, self.fail, self.output = [], [], None, None

    def ok(self):
        return self.fail is None and bool(self.times)


def run_once(argv, preload, env, stdin_text, timeout):
    """Runs argv (through the workloads program's small `spawn` launcher,
    which also sets LD_PRELOAD); returns (seconds, peak RSS KiB, exit code,
    stdout, stderr, child CPU seconds)."""
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, \
            tempfile.TemporaryFile() as ferr, \
            tempfile.NamedTemporaryFile(prefix="bench-report-") as frep:
        if stdin_text is not None:
            fin.write(stdin_text.encode())
            fin.seek(0)
        p = subprocess.Popen([WORKLOADS_BIN, "spawn", frep.name, preload or "-"] + argv,
                             stdin=fin, stdout=fout, stderr=ferr, env=env, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the launcher and the program it runs
            p.wait()
            return None, None, "timed out", "", "", 0.0
        fout.seek(0)
        ferr.seek(0)
        out = fout.read().decode(errors="replace")
        err = ferr.read().decode(errors="replace")
        with open(frep.name) as f:
            rep = f.read().split()
    if rc != 0 or len(rep) != 4:
        return None, None, f"launcher failed ({rc})", out, err, 0.0
    sec, rss, cpu, code = float(rep[0]), int(rep[1]), float(rep[2]), int(rep[3])
    return sec, rss, code, out, err, cpu


def command_for(w, mode, threads, python_exe):
    """(argv, extra env, stdin) of one workload."""
    if w.kind == "c":
        return [WORKLOADS_BIN, w.name, str(threads), str(mode["scale"])], {}, None
    if w.kind == "python":
        return ([python_exe, "-c", PYTHON_SCRIPT, str(mode["python_rounds"])],
                {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}, None)
    if w.kind == "sqlite":
        return ["sqlite3", ":memory:"], {}, SQLITE_SCRIPT.format(rows=mode["sqlite_rows"])
    raise ValueError(w.kind)


def run_suite(workloads, allocators, libs, mode, threads, python_exe, timeout):
    results = {}  # (workload, allocator) -> Result
    reps = mode["reps"]
    child_cpu = 0.0
    for w in workloads:
        argv, extra, stdin_text = command_for(w, mode, threads, python_exe)
        for a in allocators:
            results[(w.name, a)] = Result()
        for rep in range(reps):
            k = rep % len(allocators)
            order = allocators[k:] + allocators[:k]  # rotate who goes first
            for a in order:
                res = results[(w.name, a)]
                if res.fail:
                    continue
                env = dict(os.environ)
                env.pop("LD_PRELOAD", None)
                env.update(extra)
                if a == "swalloc-base" and BASELINE_CONF is not None:
                    # MALLOC_CONF too: a peer given as --baseline (jemalloc
                    # with prof:true) reads its options there.
                    env["SWALLOC_CONF"] = BASELINE_CONF
                    env["MALLOC_CONF"] = BASELINE_CONF
                sec, rss, rc, out, err, cpu = run_once(argv, libs[a], env, stdin_text, timeout)
                child_cpu += cpu
                line = out.strip()
                if rc != 0:
                    tail = " | ".join(err.strip().splitlines()[-2:])
                    res.fail = (f"exit {rc}" if isinstance(rc, int) else rc) + (f": {tail}" if tail else "")
                    continue
                if res.output is None:
                    res.output = line
                elif res.output != line:
                    res.fail = "output differs between repetitions"
                    continue
                res.times.append(sec)
                res.rss.append(rss)
        # Every allocator must compute the same thing.
        ref = next((results[(w.name, a)].output for a in allocators
                    if results[(w.name, a)].ok()), None)
        for a in allocators:
            res = results[(w.name, a)]
            if res.ok() and ref is not None and res.output != ref:
                res.fail = "output differs from the other allocators'"
        cells = []
        for a in allocators:
            res = results[(w.name, a)]
            cells.append(f"{a} {statistics.median(res.times):.3f}s/{statistics.median(res.rss) / 1024:.0f}M"
                         if res.ok() else f"{a} FAIL")
        log(f"  {w.name:14s} " + "  ".join(cells))
        for a in allocators:
            if results[(w.name, a)].fail:
                known = " (known bug, see the report)" if (w.name, a) in KNOWN else ""
                log(f"    {a}: {results[(w.name, a)].fail}{known}")
    return results, child_cpu


# ----------------------------------------------------------------- analysis

def med(res, what):
    return statistics.median(res.times if what == "time" else res.rss)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def analyse(workloads, allocators, results):
    names = [w.name for w in workloads]
    peers = [p for p in PEERS if p in allocators]
    A = {"names": names, "peers": peers, "rows": {}}

    def value(w, a, what):
        r = results.get((w, a))
        return med(r, what) if r and r.ok() else None

    for w in names:
        row = {}
        for what in ("time", "rss"):
            vals = {a: value(w, a, what) for a in allocators}
            okpeers = [p for p in peers if vals.get(p)]
            best = min(okpeers, key=lambda p: vals[p]) if okpeers else None
            row[what] = vals
            row[what + "_best"] = best
        spread = 0.0
        for a in allocators:
            r = results[(w, a)]
            if r.ok() and len(r.times) > 1:
                spread = max(spread, (max(r.times) - min(r.times)) / statistics.median(r.times))
        row["spread"] = spread
        A["rows"][w] = row

    def ratio(w, a, b, what):
        v = A["rows"][w][what]
        return v[a] / v[b] if v.get(a) and v.get(b) else None

    A["ratio"] = ratio
    # Geometric means of each allocator's ratio to glibc.
    A["gm_glibc"] = {}
    if "glibc" in allocators:
        for a in allocators:
            for what in ("time", "rss"):
                rs = [ratio(w, a, "glibc", what) for w in names]
                rs = [r for r in rs if r]
                A["gm_glibc"][(a, what)] = (geomean(rs), len(rs))
    # swalloc against each peer and against the best peer of each workload,
    # over the workloads both completed.
    A["gm_pair"] = {}
    if "swalloc" in allocators and peers:
        for p in peers:
            for what in ("time", "rss"):
                rs = [ratio(w, "swalloc", p, what) for w in names]
                rs = [r for r in rs if r]
                A["gm_pair"][(p, what)] = (geomean(rs), len(rs))
        for what in ("time", "rss"):
            rs = []
            for w in names:
                b = A["rows"][w][what + "_best"]
                r = ratio(w, "swalloc", b, what) if b else None
                if r:
                    rs.append(r)
            A["gm_pair"][("best", what)] = (geomean(rs), len(rs))
    return A


def goals(A, allocators, results):
    """[(goal, measured, verdict)]"""
    out = []
    if "swalloc" not in allocators or not A["peers"]:
        return out
    names = A["names"]
    failed = [w for w in names if not results[(w, "swalloc")].ok()]
    gm = A["gm_glibc"]
    # 1. swalloc's geomean time <= the best peer's (the peer with the lowest
    # geomean time ratio to glibc), compared over the workloads both ran.
    if "glibc" in allocators:
        cands = [(gm[(p, "time")][0], p) for p in A["peers"] if gm.get((p, "time"), (None,))[0]]
        if cands:
            _, best = min(cands)
            g, n = A["gm_pair"][(best, "time")]
            out.append((f"geomean time <= best peer's ({best}, the lowest geomean vs glibc)",
                        f"swalloc/{best} = {fmt_ratio(g)} over {n} workloads", verdict(g, 1.0)))
    if "jemalloc" in A["peers"]:
        g, n = A["gm_pair"][("jemalloc", "time")]
        out.append((f"geomean time <= {GOAL_TIME_VS_JEMALLOC} x jemalloc's",
                    f"swalloc/jemalloc = {fmt_ratio(g)} over {n} workloads",
                    verdict(g, GOAL_TIME_VS_JEMALLOC)))
        g, n = A["gm_pair"][("jemalloc", "rss")]
        out.append((f"geomean peak RSS <= {GOAL_RSS_VS_JEMALLOC} x jemalloc's",
                    f"swalloc/jemalloc = {fmt_ratio(g)} over {n} workloads",
                    verdict(g, GOAL_RSS_VS_JEMALLOC)))
    worst = []
    for w in names:
        b = A["rows"][w]["time_best"]
        r = A["ratio"](w, "swalloc", b, "time") if b else None
        if r:
            worst.append((r, w, b))
    worst.sort(reverse=True)
    over = [f"{w} {r:.2f}x {b}" for r, w, b in worst if r > GOAL_WORST_VS_BEST_PEER]
    if worst:
        r, w, b = worst[0]
        measured = f"worst: {w} {r:.2f}x {b}" + (f"; over the limit: {', '.join(over)}" if over else "")
        out.append((f"no workload > {GOAL_WORST_VS_BEST_PEER}x slower than its best peer", measured,
                    "MISSED" if over or failed else "met"))
    if failed:
        out.append(("swalloc completes every workload", "failed: " + ", ".join(failed), "MISSED"))
    return out


def verdict(g, limit):
    if g is None:
        return "n/a"
    return "met" if g <= limit else "MISSED"


def fmt_ratio(r):
    return f"{r:.2f}" if r else "-"


# ------------------------------------------------------------------ output

def md_tables(A, allocators, results):
    names, rows, L = A["names"], A["rows"], []
    sw = "swalloc" in allocators
    gl = "glibc" in allocators

    def cell(w, a, what):
        r = results[(w, a)]
        if not r.ok():
            return "FAIL"
        v = rows[w][what][a]
        return f"{v:.3f}" if what == "time" else f"{v / 1024:.1f}"

    for what, title, unit in (("time", "Time", "median wall seconds"),
                              ("rss", "Peak RSS", "median peak RSS, MiB")):
        L.append(f"### {title} ({unit})")
        L.append("")
        head = ["workload"] + allocators
        if sw and gl:
            head.append("swalloc / glibc")
        if sw and "jemalloc" in allocators and what == "rss":
            head.append("swalloc / jemalloc")
        if sw and A["peers"]:
            head.append("swalloc / best peer")
        if what == "time":
            head.append("spread")
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for w in names:
            line = [w] + [cell(w, a, what) for a in allocators]
            if sw and gl:
                line.append(fmt_ratio(A["ratio"](w, "swalloc", "glibc", what)))
            if sw and "jemalloc" in allocators and what == "rss":
                line.append(fmt_ratio(A["ratio"](w, "swalloc", "jemalloc", what)))
            if sw and A["peers"]:
                b = rows[w][what + "_best"]
                r = A["ratio"](w, "swalloc", b, what) if b else None
                line.append(f"{r:.2f} ({b})" if r else "-")
            if what == "time":
                line.append(f"{rows[w]['spread'] * 100:.0f}%" if rows[w]["spread"] else "-")
            L.append("| " + " | ".join(line) + " |")
        L.append("")
    if any(not r.ok() for r in results.values()):
        L.append("Failures:")
        L.append("")
        for (w, a), r in results.items():
            if not r.ok():
                known = f" ({KNOWN[(w, a)]})" if (w, a) in KNOWN else ""
                L.append(f"- {w} under {a}: {r.fail}{known}")
        L.append("")
    return L


def md_geomeans(A, allocators):
    L = []
    if A["gm_glibc"]:
        L.append("Geometric mean over the workloads of each allocator's ratio to glibc "
                 "(lower is better):")
        L.append("")
        L.append("| allocator | time / glibc | peak RSS / glibc | workloads |")
        L.append("|---|---:|---:|---:|")
        for a in allocators:
            t, n = A["gm_glibc"][(a, "time")]
            r, _ = A["gm_glibc"][(a, "rss")]
            L.append(f"| {a} | {fmt_ratio(t)} | {fmt_ratio(r)} | {n} |")
        L.append("")
    if A["gm_pair"]:
        L.append("Geometric mean of swalloc's ratio to each peer, over the workloads both completed:")
        L.append("")
        L.append("| swalloc against | time | peak RSS | workloads |")
        L.append("|---|---:|---:|---:|")
        for p in A["peers"] + ["best"]:
            t, n = A["gm_pair"][(p, "time")]
            r, _ = A["gm_pair"][(p, "rss")]
            label = "the best peer of each workload" if p == "best" else p
            L.append(f"| {label} | {fmt_ratio(t)} | {fmt_ratio(r)} | {n} |")
        L.append("")
    return L


def write_svg(path, A, allocators, results):
    """Grouped bars: each allocator's median time / glibc's, per workload,
    log2 scale."""
    bars = [a for a in allocators if a != "glibc"]
    groups = list(A["names"]) + ["geomean"]
    vals = {}
    for w in A["names"]:
        for a in bars:
            vals[(w, a)] = A["ratio"](w, a, "glibc", "time")
    for a in bars:
        vals[("geomean", a)] = A["gm_glibc"].get((a, "time"), (None, 0))[0]
    present = [v for v in vals.values() if v]
    if not present:
        return False
    lo = 2.0 ** math.floor(math.log2(min(present + [1.0])))
    hi = 2.0 ** math.ceil(math.log2(max(present + [1.0])))
    if hi / lo < 4:
        lo, hi = lo / 2, hi * 2
    colors = {"swalloc": "#d95f02", "jemalloc": "#1b9e77", "mimalloc": "#7570b3",
              "tcmalloc": "#e7298a", "glibc": "#666666", "swalloc-base": "#fdb462"}
    bw, gap = 14, 18
    gw = bw * len(bars) + gap
    left, top, ph = 70, 50, 300
    width = left + gw * len(groups) + 20
    height = top + ph + 110

    def y(v):
        return top + ph * (math.log2(hi) - math.log2(v)) / (math.log2(hi) - math.log2(lo))

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
         'Median time relative to glibc (log scale, lower is faster)</text>']
    e = int(math.log2(lo))
    while 2.0 ** e <= hi + 1e-9:
        v = 2.0 ** e
        yy = y(v)
        label = f"{v:g}x" if v >= 0.01 else f"{v:.3g}x"
        o.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - 20}" y2="{yy:.1f}" '
                 f'stroke="{"#333" if v == 1 else "#ddd"}" stroke-width="{1.5 if v == 1 else 1}"/>')
        o.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        e += 1
    o.append(f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
             f'transform="rotate(-90 16 {top + ph / 2})">time / glibc time</text>')
    base = y(1.0)
    for gi, g in enumerate(groups):
        x0 = left + gi * gw + gap / 2
        if g == "geomean":
            o.append(f'<rect x="{x0 - gap / 4:.1f}" y="{top}" width="{gw - gap / 2:.1f}" height="{ph}" '
                     'fill="#f4f4f4"/>')
        for bi, a in enumerate(bars):
            v = vals.get((g, a))
            x = x0 + bi * bw
            if not v:
                tx, ty = x + bw / 2 + 3, base - 6
                o.append(f'<text x="{tx:.1f}" y="{ty:.1f}" transform="rotate(-90 {tx:.1f} {ty:.1f})" '
                         f'fill="{colors.get(a, "#000")}" font-size="11" font-weight="bold">failed'
                         f'<title>{g}: {a} failed</title></text>')
                continue
            yv = y(v)
            o.append(f'<rect x="{x:.1f}" y="{min(yv, base):.1f}" width="{bw - 2}" '
                     f'height="{max(abs(base - yv), 1):.1f}" fill="{colors.get(a, "#000")}">'
                     f'<title>{g}: {a} {v:.2f}x glibc</title></rect>')
        cx = x0 + bw * len(bars) / 2
        weight = ' font-weight="bold"' if g == "geomean" else ""
        o.append(f'<text x="{cx:.1f}" y="{top + ph + 14}" text-anchor="end" '
                 f'transform="rotate(-35 {cx:.1f} {top + ph + 14})"{weight}>{g}</text>')
    lx = left
    ly = height - 18
    for a in bars:
        o.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colors.get(a, "#000")}"/>')
        o.append(f'<text x="{lx + 16}" y="{ly}">{a}</text>')
        lx += 30 + 8 * len(a)
    o.append(f'<text x="{lx + 10}" y="{ly}" fill="#555">glibc = 1x (the dark line)</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return True


def fastpath_table():
    script = os.path.join(ROOT, "scripts", "fastpath-instructions.sh")
    if not shutil.which("valgrind"):
        return None, "valgrind not installed"
    r = sh([script])
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    return r.stdout.rstrip(), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, 40%% of the work (development; well under a minute)")
    ap.add_argument("--only", help="comma-separated workloads (default: all)")
    ap.add_argument("--allocators", help="comma-separated allocators (default: all available: "
                    + ",".join(ALLOCATORS) + ")")
    ap.add_argument("--threads", type=int, default=2, help="threads of the threaded workloads (2)")
    ap.add_argument("--reps", type=int, help="repetitions (default 5, 1 with --quick)")
    ap.add_argument("--out", help="markdown report (default BENCHMARKS.md at the repo root; "
                    "with --quick .build/bench/BENCHMARKS-quick.md)")
    ap.add_argument("--no-fastpath", action="store_true",
                    help="skip the callgrind fast-path instruction counts (only run in full mode)")
    ap.add_argument("--note", action="append", default=[], help="a line to add to the report")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a run is killed (300)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--baseline", metavar="LIB",
                    help="another build of libswalloc.so (e.g. from before a change), run as "
                         "allocator 'swalloc-base' in the same interleaved run")
    ap.add_argument("--baseline-conf", metavar="CONF",
                    help="SWALLOC_CONF for the swalloc-base runs only (e.g. --baseline with this "
                         "build and secure:true measures the secure level's cost)")
    args = ap.parse_args()

    if args.list:
        for w in WORKLOADS:
            log(f"{w.name:14s} {w.desc}")
        return 0
    mode = dict(QUICK if args.quick else FULL)
    if args.reps:
        mode["reps"] = args.reps
    if args.threads < 1:
        sys.exit("--threads must be >= 1")
    workloads = WORKLOADS
    if args.only:
        want = [x.strip() for x in args.only.split(",") if x.strip()]
        known = {w.name for w in WORKLOADS}
        bad = [x for x in want if x not in known]
        if bad:
            sys.exit(f"unknown workload(s): {', '.join(bad)} (known: {', '.join(sorted(known))})")
        workloads = [w for w in WORKLOADS if w.name in want]
    if args.baseline:
        ALLOCATORS["swalloc-base"] = (os.path.abspath(args.baseline), None)
        global BASELINE_CONF
        BASELINE_CONF = args.baseline_conf
    allocators = list(ALLOCATORS)
    if args.allocators:
        allocators = [x.strip() for x in args.allocators.split(",") if x.strip()]
        bad = [x for x in allocators if x not in ALLOCATORS]
        if bad:
            sys.exit(f"unknown allocator(s): {', '.join(bad)} (known: {', '.join(ALLOCATORS)})")
    if args.out:
        out_md = os.path.abspath(args.out)
    elif args.quick:
        out_md = os.path.join(WORK_DIR, "BENCHMARKS-quick.md")
    else:
        out_md = os.path.join(ROOT, "BENCHMARKS.md")
    if os.path.dirname(out_md) == ROOT:
        out_svg = os.path.join(ROOT, "docs", "bench-ratios.svg")
    else:
        out_svg = os.path.splitext(out_md)[0] + "-ratios.svg"

    started = time.time()
    load0 = os.getloadavg()[0]
    snap = build(args)
    python_exe = python_executable()
    libs = {}
    notes = []
    for a in list(allocators):
        lib = snap if a == "swalloc" else ALLOCATORS[a][0]
        if lib and not os.path.exists(lib):
            notes.append(f"{a} skipped: {lib} not found (Debian package {ALLOCATORS[a][1]})")
            log(f"note: {notes[-1]}")
            allocators.remove(a)
            continue
        libs[a] = lib
    if "sqlite3" in [w.name for w in workloads] and not shutil.which("sqlite3"):
        notes.append("sqlite3 skipped: the sqlite3 program is not installed")
        log(f"note: {notes[-1]}")
        workloads = [w for w in workloads if w.name != "sqlite3"]
    if not allocators or not workloads:
        sys.exit("nothing to run")
    # Load every library and program once so the first timed run of each
    # does not pay for reading it from disk.
    for a in allocators:
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if libs[a]:
            env["LD_PRELOAD"] = libs[a]
        subprocess.run([WORKLOADS_BIN], env=env, capture_output=True)
        subprocess.run([python_exe, "-c", "pass"], env=env, capture_output=True)

    info = machine_info(python_exe)
    log(f"{'quick' if args.quick else 'full'} mode: {len(workloads)} workloads x "
        f"{len(allocators)} allocators x {mode['reps']} repetitions, {args.threads} threads")
    busy0, self0 = cpu_busy_seconds(), os.times()
    suite_t0 = time.time()
    results, child_cpu = run_suite(workloads, allocators, libs, mode, args.threads,
                                   python_exe, args.timeout)
    suite_s = time.time() - suite_t0
    busy1, self1 = cpu_busy_seconds(), os.times()
    others = None
    if busy0 is not None and busy1 is not None:
        mine = child_cpu + (self1.user - self0.user) + (self1.system - self0.system)
        others = max(0.0, (busy1 - busy0) - mine)
    A = analyse(workloads, allocators, results)
    G = goals(A, allocators, results)

    fast, fast_err = None, None
    if not args.quick and not args.no_fastpath:
        log("fast-path instruction counts (scripts/fastpath-instructions.sh, callgrind)")
        fast, fast_err = fastpath_table()
        log(fast if fast else f"  skipped: {fast_err}")

    elapsed = time.time() - started
    load1 = os.getloadavg()[0]

    cmd = os.environ.get("SWALLOC_BENCH_CMD") or "python3 bench/run.py " + " ".join(
        shlex.quote(x) for x in sys.argv[1:])
    os.makedirs(os.path.dirname(out_svg), exist_ok=True)
    have_svg = write_svg(out_svg, A, allocators, results)

    L = ["# swalloc benchmarks", ""]
    L.append("swalloc against glibc's malloc and the Debian builds of jemalloc, mimalloc and tcmalloc "
             "(all preloaded with `LD_PRELOAD`, glibc with nothing preloaded), measured in one run. "
             "Each workload ran under each allocator "
             f"{mode['reps']} time{'s' if mode['reps'] != 1 else ''}, interleaved (one run of every "
             "allocator per repetition, the order rotated each repetition); the tables give the "
             "median wall time and the median peak RSS of the process (`ru_maxrss` from `wait4`). "
             "Every allocator must print the same checksum line for a workload, or its run counts as "
             "a failure. *best peer* = the lowest median among jemalloc, mimalloc and tcmalloc for "
             "that workload. *spread* = the largest (max - min) / median of the times of one "
             "allocator on that workload: the run-to-run noise.")
    L.append("")
    L.append("Command (from the repository root):")
    L.append("")
    L.append(f"    {cmd}")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append(f"| date | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |")
    L.append(f"| CPU | {info['cpu']}, {info['cores']} cores ({info['affinity']} usable), {info['mem']} |")
    L.append(f"| kernel | Linux {info['kernel']} |")
    L.append(f"| C library | {info['glibc']} |")
    L.append(f"| peers | {info['peers']} |")
    L.append(f"| swalloc | {info['swalloc']} (library snapshot taken at the start) |")
    L.append(f"| workloads | `bench/workloads.c` built with {info['gcc'].split(' (')[0]} -O2 -pthread; "
             f"{info['python']}; sqlite3 {info['sqlite']} |")
    L.append(f"| mode | {'quick' if args.quick else 'full'}: {mode['reps']} repetition"
             f"{'s' if mode['reps'] != 1 else ''}, work scale "
             f"{mode['scale']}, {args.threads} threads for the threaded workloads |")
    load_note = f"load average {load0:.2f} at the start, {load1:.2f} at the end"
    if others is not None:
        load_note += (f"; CPU time used by other processes while the workloads ran: {others:.0f} s "
                      f"({others / suite_s * 100:.0f}% of one core on average)")
    L.append(f"| run | {elapsed:.0f} s; {load_note} |")
    L.append("")
    if others is not None and others / suite_s > 0.10:
        notes.append(f"the machine was shared: other processes (such as builds) used "
                     f"{others / suite_s * 100:.0f}% of one core on average while the workloads ran, "
                     f"so some runs had fewer than {info['affinity']} cores to themselves; the threaded "
                     "workloads are the most affected.")
    for n in args.note + notes:
        L.append(f"Note: {n}")
        L.append("")
    L.append("## Results")
    L.append("")
    if have_svg:
        rel = os.path.relpath(out_svg, os.path.dirname(out_md))
        L.append(f"![time relative to glibc per workload and allocator]({rel})")
        L.append("")
    L.append("### Summary")
    L.append("")
    L += md_geomeans(A, allocators)
    if G:
        L.append("Goals (from the issue):")
        L.append("")
        L.append("| goal | measured | |")
        L.append("|---|---|---|")
        for g, m, v in G:
            L.append(f"| {g} | {m} | {v} |")
        L.append("")
    L += md_tables(A, allocators, results)
    if fast or fast_err:
        L.append("### Fast path: instructions per malloc+free pair")
        L.append("")
        if fast:
            L.append("From `scripts/fastpath-instructions.sh` (callgrind, `bench/fastpath.c`; counts are "
                     "repeatable, unlike times; the library built in the tree at that moment):")
            L.append("")
            L.append("```")
            L.append(fast)
            L.append("```")
        else:
            L.append(f"Skipped: {fast_err}.")
        L.append("")
    L.append("## Workloads")
    L.append("")
    L.append("The C workloads are in `bench/workloads.c` (one program, `workloads NAME [THREADS] "
             "[SCALE]`), with fixed work from seeded xorshift generators; blocks are stamped and "
             "checked before they are freed. Threaded ones are marked (T).")
    L.append("")
    for w in WORKLOADS:
        if w in workloads:
            L.append(f"- `{w.name}`{' (T)' if w.threaded else ''}: {w.desc}.")
    L.append("")
    # Keep the sections measured by other means in the same file: the
    # resident-memory timeline (bench/rss_timeline.py), the idle-server
    # table (tests/memtruth/memtruth.c idle-server), the secure-mode cost
    # and the heap profiler's cost.
    if os.path.exists(out_md):
        previous = open(out_md).read()
        for tag in ("rss-timeline", "idle-server", "secure-cost", "prof-cost"):
            m = re.search(rf"<!-- {tag} -->.*?<!-- /{tag} -->", previous, flags=re.S)
            if m:
                L.append(m.group(0))
                L.append("")
    with open(out_md, "w") as f:
        f.write("\n".join(L))

    # Console summary.
    log("")
    for line in md_geomeans(A, allocators):
        log(line)
    if G:
        log("Goals:")
        for g, m, v in G:
            log(f"  [{v:6s}] {g}: {m}")
    if "swalloc" in allocators and A["peers"]:
        worst = []
        for w in A["names"]:
            b = A["rows"][w]["time_best"]
            r = A["ratio"](w, "swalloc", b, "time") if b else None
            if r:
                worst.append((r, w, b))
        worst.sort(reverse=True)
        log("swalloc / best peer, slowest first: " +
            ", ".join(f"{w} {r:.2f}x ({b})" for r, w, b in worst))
    def show(path):
        rel = os.path.relpath(path, ROOT)
        return path if rel.startswith("..") else rel

    log(f"wrote {show(out_md)}" + (f" and {show(out_svg)}" if have_svg else "") + f" in {elapsed:.0f} s")
    shutil.rmtree(os.path.dirname(snap), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
