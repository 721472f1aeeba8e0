#!/usr/bin/env python3
"""swalloc benchmark suite: swalloc against glibc, jemalloc, mimalloc and
tcmalloc, in the same run.

Builds bench/workloads.c (and the library when it is missing), then runs
every workload under every allocator several times, interleaved (each
repetition runs every workload once under each allocator, in an order
rotated per repetition, before the next repetition starts),
measuring the wall time and the peak RSS of the child (os.wait4). Prints
and writes (to BENCHMARKS.md) the median time and peak RSS per workload and
allocator, swalloc's ratios to glibc and to the best peer, the geometric
means and the check of the project's performance goals, plus a bar chart
(docs/bench-ratios.svg). With --loaded, the same with every core kept busy
by a CPU-bound process, into its own section of BENCHMARKS.md.

Usually run through scripts/bench.sh, which installs the peers first.
This file is the entry point (options, the order of things); the work is
in bench/measure.py (running), bench/report.py (analysis, markdown) and
bench/plot.py (the chart). Standard library only.
"""

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types

sys.dont_write_bytecode = True  # no bench/__pycache__ in the source tree
import measure  # noqa: E402 (after the line above)
import plot  # noqa: E402
import report  # noqa: E402
from measure import ALLOCATORS, QUICK, FULL, ROOT, WORK_DIR, WORKLOADS, WORKLOADS_BIN, log  # noqa: E402


def parse_args():
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
    ap.add_argument("--extra", metavar="NAME=PATH", action="append", default=[],
                    help="another preload library as allocator NAME (repeatable; e.g. a mimalloc 3 "
                         "or snmalloc build kept outside the repository): a column of its own, "
                         "not a peer in the goals or the best-peer figures")
    ap.add_argument("--loaded", action="store_true",
                    help="run with one CPU-bound busy-loop process per core for the whole run; the "
                         "results go to the report's loaded section (between <!-- loaded --> "
                         "markers), the rest of the file is left as it is")
    return ap.parse_args()


def main():
    args = parse_args()
    if args.list:
        for w in WORKLOADS:
            log(f"{w.name:14s} {w.desc}")
        return 0
    mode = dict(QUICK if args.quick else FULL)
    if args.loaded and not args.quick:
        mode["reps"] = measure.LOADED_REPS
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
        measure.BASELINE_CONF = args.baseline_conf
    for spec in args.extra:
        name, sep, path = spec.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            sys.exit(f"--extra wants NAME=PATH, got {spec!r}")
        if name in ALLOCATORS:
            sys.exit(f"--extra {name}: the name is taken (allocators: {', '.join(ALLOCATORS)})")
        if not os.path.isfile(path):
            sys.exit(f"--extra {name}: {path}: no such file")
        ALLOCATORS[name] = (os.path.abspath(path), None)
        measure.EXTRAS.append((name, os.path.abspath(path)))
    allocators = list(ALLOCATORS)
    if args.allocators:
        allocators = [x.strip() for x in args.allocators.split(",") if x.strip()]
        bad = [x for x in allocators if x not in ALLOCATORS]
        if bad:
            sys.exit(f"unknown allocator(s): {', '.join(bad)} (known: {', '.join(ALLOCATORS)})")
    measure.EXTRAS[:] = [(n, p) for n, p in measure.EXTRAS if n in allocators]
    if args.out:
        out_md = os.path.abspath(args.out)
    elif args.quick:
        out_md = os.path.join(WORK_DIR, "BENCHMARKS-quick.md")
    else:
        out_md = os.path.join(ROOT, "BENCHMARKS.md")
    suffix = "-loaded" if args.loaded else ""
    if os.path.dirname(out_md) == ROOT:
        out_svg = os.path.join(ROOT, "docs", f"bench-ratios{suffix}.svg")
    else:
        out_svg = os.path.splitext(out_md)[0] + f"{suffix}-ratios.svg"

    started = time.time()
    load0 = os.getloadavg()[0]
    snap = measure.build(args)
    python_exe = measure.python_executable()
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

    info = measure.machine_info(python_exe)
    loops = measure.BusyLoops(info["affinity"]) if args.loaded else None
    log(f"{'quick' if args.quick else 'full'} mode: {len(workloads)} workloads x "
        f"{len(allocators)} allocators x {mode['reps']} repetitions, {args.threads} threads"
        + (f", all cores loaded by {loops.n} busy loops" if loops else ""))
    if loops:
        # The busy loops die with the run, however it ends (an interrupt
        # or SIGTERM/SIGHUP unwinds through the finally below).
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    loops_cpu = 0.0
    try:
        if loops:
            loops.start()
            time.sleep(0.5)  # let them get going
            loops_cpu0 = loops.cpu_seconds()
        busy0, self0 = measure.cpu_busy_seconds(), os.times()
        suite_t0 = time.time()
        results, child_cpu = measure.run_suite(workloads, allocators, libs, mode, args.threads,
                                               python_exe, args.timeout)
        suite_s = time.time() - suite_t0
        busy1, self1 = measure.cpu_busy_seconds(), os.times()
        if loops:
            loops_cpu = loops.cpu_seconds() - loops_cpu0
            if loops.running() < loops.n:
                notes.append(f"only {loops.running()} of the {loops.n} busy loops were still "
                             "running at the end of the run")
    finally:
        if loops:
            loops.stop()
    others = None
    if busy0 is not None and busy1 is not None:
        mine = child_cpu + (self1.user - self0.user) + (self1.system - self0.system)
        others = max(0.0, (busy1 - busy0) - mine - loops_cpu)
    A = report.analyse(workloads, allocators, results)
    G = report.goals(A, allocators, results)

    fast, fast_err = None, None
    if not args.quick and not args.no_fastpath and not args.loaded:
        log("fast-path instruction counts (scripts/fastpath-instructions.sh, callgrind)")
        fast, fast_err = measure.fastpath_table(measure.EXTRAS)
        log(fast if fast else f"  skipped: {fast_err}")

    elapsed = time.time() - started
    load1 = os.getloadavg()[0]

    cmd = os.environ.get("SWALLOC_BENCH_CMD") or "python3 bench/run.py " + " ".join(
        shlex.quote(x) for x in sys.argv[1:])
    os.makedirs(os.path.dirname(out_svg), exist_ok=True)
    title = "Median time relative to glibc (log scale, lower is faster)"
    if loops:
        title = f"Median time relative to glibc, all cores loaded by {loops.n} busy loops (log scale)"
    have_svg = plot.write_svg(out_svg, A, allocators, results, title=title)

    R = types.SimpleNamespace(
        quick=args.quick, threads=args.threads, user_notes=args.note, notes=notes, mode=mode,
        workloads=workloads, allocators=allocators, results=results, A=A, G=G, info=info,
        cmd=cmd, elapsed=elapsed, load0=load0, load1=load1, others=others, suite_s=suite_s,
        loops=loops.n if loops else 0, loops_cpu=loops_cpu, fast=fast, fast_err=fast_err,
        out_md=out_md, out_svg=out_svg, have_svg=have_svg)
    if loops:
        report.write_loaded(out_md, report.loaded_section(R))
    else:
        report.write_full(out_md, report.full_report(R))

    report.console_summary(A, G, allocators)

    def show(path):
        rel = os.path.relpath(path, ROOT)
        return path if rel.startswith("..") else rel

    what = "the loaded section of " if loops else ""
    log(f"wrote {what}{show(out_md)}" + (f" and {show(out_svg)}" if have_svg else "")
        + f" in {elapsed:.0f} s")
    shutil.rmtree(os.path.dirname(snap), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
