#!/usr/bin/env python3
"""Thread-scaling table: the bench's threaded workloads at 1, 2, 4, 8, 16
threads under each allocator, for a machine with many cores (the bench
itself runs at 2 threads on the 2-core CI machine).

    python3 bench/scaling.py [--threads 1,2,4,8,16] [--scale 4] [--reps 3]
        [--allocators glibc,swalloc,...] [--extra NAME=PATH ...]
        [--lib NAME=PATH ...] [--csv FILE] [--out FILE]
    python3 bench/scaling.py --report FILE.csv --out FILE.md

Each workload's total work is fixed and split over its threads, so a
perfect allocator on enough cores divides its time by the thread count.
Repetitions are the outer loop and allocators rotate who goes first, so a
run cut short still holds whole repetitions; every measurement is appended
to the CSV (workload,threads,allocator,rep,seconds,peak_rss_kib) as soon as
it is taken. `--report` turns such a CSV into the markdown tables (medians).
Standard library only; the workloads program and the libraries may come
prebuilt (`--workloads`, `--lib`), for a machine without a compiler.
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
from measure import ALLOCATORS, WORKLOADS, log  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--scale", type=float, default=4.0,
                    help="work per run, as the workloads program's SCALE (4: about 1-4 s on one thread)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--allocators", default=None,
                    help="comma-separated (default: every one whose library is present); the --extra ones are always added")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="another preload library as allocator NAME (e.g. a hand-built mimalloc 3)")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                    help="where a known allocator's library is (e.g. swalloc=/tmp/libswalloc.so)")
    ap.add_argument("--workloads", default=None, help="a prebuilt workloads program (default: build it)")
    ap.add_argument("--only", default=None, help="comma-separated threaded workloads (default: all)")
    ap.add_argument("--csv", default=None, help="measurements, appended as taken")
    ap.add_argument("--out", default=None, help="markdown tables (default: print them)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--report", default=None, metavar="CSV", help="only make the tables from a CSV")
    return ap.parse_args()


def pairs(items, what):
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            sys.exit(f"{what} takes NAME=PATH, not {item!r}")
        out[name] = path
    return out


def tables(rows):
    """Markdown for measurements [(workload, threads, allocator, seconds, rss KiB)]."""
    med, rss = {}, {}
    for w, t, a, sec, kib in rows:
        med.setdefault((w, t, a), []).append(sec)
        rss.setdefault((w, t, a), []).append(kib)
    works = list(dict.fromkeys(r[0] for r in rows))
    threads = sorted({r[1] for r in rows})
    allocs = list(dict.fromkeys(r[2] for r in rows))
    reps = min(len(v) for v in med.values())
    out = [f"Median wall time in seconds ({reps}+ repetitions each); the workload's total work is fixed "
           "and split over its threads. Last row: swalloc's time / the fastest other allocator's "
           "(below 1: swalloc fastest).", ""]
    for w in works:
        out.append(f"**{w}**" + (" (2 threads at T=1: one producer, one consumer)" if w == "xmalloc" else ""))
        out.append("")
        out.append("| allocator | " + " | ".join(f"T={t}" for t in threads) + " | T=1/T=max |")
        out.append("|---|" + "---:|" * (len(threads) + 1))
        for a in allocs:
            cells = []
            for t in threads:
                v = med.get((w, t, a))
                cells.append(f"{statistics.median(v):.3f}" if v else "—")
            first, last = med.get((w, threads[0], a)), med.get((w, threads[-1], a))
            speed = (f"{statistics.median(first) / statistics.median(last):.1f}×"
                     if first and last else "—")
            out.append(f"| {a} | " + " | ".join(cells) + f" | {speed} |")
        if "swalloc" in allocs:
            cells = []
            for t in threads:
                s = med.get((w, t, "swalloc"))
                others = [statistics.median(med[(w, t, a)]) for a in allocs
                          if a != "swalloc" and (w, t, a) in med]
                cells.append(f"{statistics.median(s) / min(others):.2f}" if s and others else "—")
            out.append("| swalloc / fastest other | " + " | ".join(cells) + " | |")
        out.append("")
    t = threads[-1]
    out.append(f"Peak RSS at T={t}, MiB (median):")
    out.append("")
    out.append("| workload | " + " | ".join(allocs) + " |")
    out.append("|---|" + "---:|" * len(allocs))
    for w in works:
        cells = []
        for a in allocs:
            v = rss.get((w, t, a))
            cells.append(f"{statistics.median(v) / 1024:.1f}" if v else "—")
        out.append(f"| {w} | " + " | ".join(cells) + " |")
    out.append("")
    geo = []
    for a in allocs:
        prod, n = 1.0, 0
        for w in works:
            for tt in threads:
                v, g = med.get((w, tt, a)), med.get((w, tt, "glibc"))
                if v and g:
                    prod *= statistics.median(v) / statistics.median(g)
                    n += 1
        if n:
            geo.append(f"{a} {prod ** (1 / n):.2f}")
    if geo:
        out.append("Geomean time relative to glibc over every workload and thread count: " + ", ".join(geo) + ".")
        out.append("")
    return "\n".join(out)


def read_csv(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append((r["workload"], int(r["threads"]), r["allocator"], float(r["seconds"]),
                         int(r["peak_rss_kib"])))
    return rows


def emit(text, out):
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
        log(f"wrote {out}")
    else:
        print(text)


def main():
    args = parse_args()
    if args.report:
        emit(tables(read_csv(args.report)), args.out)
        return
    libs = {name: path for name, (path, _) in ALLOCATORS.items()}
    snap = None
    if args.workloads:
        measure.WORKLOADS_BIN = os.path.abspath(args.workloads)
    else:
        # The suite's own set-up: the library built if missing, the
        # workloads program compiled, swalloc run from a snapshot.
        snap = measure.build(args)
        libs["swalloc"] = snap
    libs.update(pairs(args.lib, "--lib"))
    extra = pairs(args.extra, "--extra")
    libs.update(extra)
    if args.allocators:
        allocs = args.allocators.split(",") + [a for a in extra if a not in args.allocators.split(",")]
    else:
        allocs = [a for a in ALLOCATORS if libs[a] is None or os.path.exists(libs[a])] + list(extra)
    for a in allocs:
        if a not in libs:
            sys.exit(f"unknown allocator {a}")
        if libs[a] is not None and not os.path.exists(libs[a]):
            sys.exit(f"{a}: no library at {libs[a]}")
    threads = [int(t) for t in args.threads.split(",")]
    works = [w for w in WORKLOADS if w.threaded]
    if args.only:
        names = args.only.split(",")
        works = [w for w in works if w.name in names]
    # A library the loader cannot preload is skipped with a message, and the
    # program runs on glibc: refuse to measure that.
    for a in allocs:
        if libs[a] is None:
            continue
        env = dict(os.environ, LD_PRELOAD=libs[a])
        r = subprocess.run([measure.WORKLOADS_BIN], env=env, capture_output=True, text=True)
        if "ld.so" in r.stderr:
            sys.exit(f"{a}: {libs[a]} does not preload: {r.stderr.strip()}")
    log(f"scaling: {len(works)} workloads x threads {threads} x {len(allocs)} allocators x {args.reps} reps, "
        f"scale {args.scale}, {os.cpu_count()} CPUs")
    rows = []
    fcsv = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.writer(fcsv) if fcsv else None
    if writer:
        writer.writerow(["workload", "threads", "allocator", "rep", "seconds", "peak_rss_kib"])
        fcsv.flush()
    failed = set()
    for rep in range(args.reps):
        for w in works:
            for t in threads:
                k = (rep + t) % len(allocs)
                took = []
                for a in allocs[k:] + allocs[:k]:
                    if (w.name, t, a) in failed:
                        continue
                    env = dict(os.environ)
                    env.pop("LD_PRELOAD", None)
                    argv = [measure.WORKLOADS_BIN, w.name, str(t), str(args.scale)]
                    sec, kib, rc, _, err, _ = measure.run_once(argv, libs[a], env, None, args.timeout)
                    if rc != 0:
                        failed.add((w.name, t, a))
                        tail = " | ".join(err.strip().splitlines()[-2:])
                        log(f"  {w.name} T={t} {a}: FAILED ({rc}) {tail}")
                        continue
                    rows.append((w.name, t, a, sec, kib))
                    took.append(f"{a} {sec:.3f}")
                    if writer:
                        writer.writerow([w.name, t, a, rep, f"{sec:.4f}", kib])
                        fcsv.flush()
                log(f"  rep {rep + 1} {w.name:14s} T={t:<3d} " + "  ".join(took))
    if fcsv:
        fcsv.close()
    if snap:
        shutil.rmtree(os.path.dirname(snap), ignore_errors=True)
    emit(tables(rows), args.out)
    if failed:
        sys.exit(f"{len(failed)} runs failed")


if __name__ == "__main__":
    main()
