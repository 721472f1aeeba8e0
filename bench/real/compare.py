#!/usr/bin/env python3
"""Runs the real-program workloads of bench/real/ under several allocators,
interleaved, and prints the medians as a markdown table.

    bench/real/compare.py [--reps 3] [--lock /tmp/swalloc-heavy.lock]
        [--workloads node-churn,node-workers,pgbench,redis]
        [--alloc NAME=PATH ...] [--raw FILE]

Allocators: glibc (nothing preloaded), swalloc (.build/release/libswalloc.so)
and the Debian peers that are installed (jemalloc, mimalloc 2, tcmalloc);
each --alloc NAME=PATH adds one (or replaces one of the same name, e.g.
--alloc swalloc=/tmp/other.so). In each repetition every allocator runs each
workload once, in an order rotated from one repetition to the next. With
--lock, each single run (one runner invocation: a few seconds for node, about
40 s for pgbench, 15 s for redis) holds an flock on that file, so that heavy jobs of other
people on the machine do not overlap with it and none waits long.

Every RESULT line of every run goes to --raw (JSON lines) when given. Runs of
one workload must agree on check= (node's checksum) or the table says so.
Higher is better for tps, lower for seconds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEB = "/usr/lib/x86_64-linux-gnu"

RUNNERS = {
    "node-churn": [os.path.join(HERE, "node-churn.sh"), "{lib}", "churn"],
    "node-workers": [os.path.join(HERE, "node-churn.sh"), "{lib}", "workers"],
    "pgbench": [os.path.join(HERE, "pgbench.sh"), "{lib}"],
    "redis": [os.path.join(HERE, "redis.sh"), "{lib}"],
}


def parse(line):
    parts = line.split()
    rec = {"workload": parts[1]}
    for p in parts[2:]:
        if "=" in p:
            k, v = p.split("=", 1)
            rec[k] = v
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lock")
    ap.add_argument("--workloads", default="node-churn,node-workers,pgbench,redis")
    ap.add_argument("--alloc", action="append", default=[])
    ap.add_argument("--only-allocs", help="comma-separated names to keep")
    ap.add_argument("--raw")
    a = ap.parse_args()

    allocs = {"glibc": ""}
    sw = os.path.join(ROOT, ".build/release/libswalloc.so")
    if os.path.exists(sw):
        allocs["swalloc"] = sw
    for name, f in (("jemalloc", "libjemalloc.so.2"), ("mimalloc2", "libmimalloc.so.2"),
                    ("tcmalloc", "libtcmalloc_minimal.so.4")):
        if os.path.exists(os.path.join(DEB, f)):
            allocs[name] = os.path.join(DEB, f)
    for spec in a.alloc:
        name, path = spec.split("=", 1)
        allocs[name] = path
    if a.only_allocs:
        keep = a.only_allocs.split(",")
        allocs = {k: v for k, v in allocs.items() if k in keep}
    names = list(allocs)
    workloads = a.workloads.split(",")
    raw = open(a.raw, "a") if a.raw else None
    results = {}  # (result name, alloc) -> [records]
    failures = []
    for rep in range(a.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for wl in workloads:
            for name in order:
                cmd = [c.format(lib=allocs[name]) for c in RUNNERS[wl]]
                if a.lock:
                    cmd = ["flock", a.lock] + cmd
                p = subprocess.run(cmd, capture_output=True, text=True)
                lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
                if p.returncode != 0 or not lines:
                    failures.append(f"{wl} under {name} (rep {rep + 1}): exit {p.returncode}: {p.stderr.strip()[-300:]}")
                    print(f"FAIL {wl} {name}: {p.stderr.strip()[-300:]}", file=sys.stderr)
                    continue
                for l in lines:
                    rec = parse(l)
                    rec.update(alloc=name, rep=rep + 1)
                    results.setdefault((rec["workload"], name), []).append(rec)
                    if raw:
                        raw.write(json.dumps(rec) + "\n")
                        raw.flush()
                    print(f"rep {rep + 1} {name:10s} {l}", file=sys.stderr, flush=True)

    metrics = []  # (result name, metric)
    for (res, _), recs in results.items():
        m = "tps" if "tps" in recs[0] else "seconds"
        if (res, m) not in metrics:
            metrics.append((res, m))
    print("| workload (metric) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for res, m in metrics:
        row = []
        checks = set()
        for name in names:
            recs = results.get((res, name), [])
            vals = [float(r[m]) for r in recs]
            checks |= {r["check"] for r in recs if "check" in r}
            row.append(f"{statistics.median(vals):.3f}" if m == "seconds" and vals else
                       f"{statistics.median(vals):.0f}" if vals else "FAIL")
        better = "higher" if m == "tps" else "lower"
        note = "" if len(checks) <= 1 else " CHECKSUMS DIFFER"
        print(f"| {res} ({m}, {better} is better){note} | " + " | ".join(row) + " |")
    for key, label in (("cpu_us_per_xact", "server CPU us per transaction"),
                       ("faults_per_xact", "server page faults per transaction")):
        for res, m in metrics:
            if not any(key in r for n in names for r in results.get((res, n), [])):
                continue
            row = []
            for name in names:
                vals = [float(r[key]) for r in results.get((res, name), []) if key in r]
                row.append(f"{statistics.median(vals):.1f}" if vals else "-")
            print(f"| {res} ({label}, lower is better) | " + " | ".join(row) + " |")
    rss = [(res) for res, m in metrics if any("maxrss_mib" in r for r in results.get((res, names[0]), []))]
    for res in rss:
        row = []
        for name in names:
            vals = [float(r["maxrss_mib"]) for r in results.get((res, name), [])]
            row.append(f"{statistics.median(vals):.1f}" if vals else "FAIL")
        print(f"| {res} (peak RSS MiB) | " + " | ".join(row) + " |")
    for f in failures:
        print(f"- failed: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
