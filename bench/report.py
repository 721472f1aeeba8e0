"""The report half of the benchmark suite (bench/run.py is the entry point):
the analysis of the measurements (medians, ratios, geometric means, the
issue's goals), the markdown report (BENCHMARKS.md), its loaded-mode
section, the sections kept from the previous file, and the console
summary. Standard library only.
"""

import datetime
import math
import os
import re
import statistics

from measure import EXTRAS, KNOWN, PEERS, WORKLOADS, log

# Goals stated in the issues (checked and printed, never failing the run):
# the speed issue (16) and the memory-truth issue (11), quiet and loaded...
GOAL_TIME_VS_BEST_PEER = 0.85    # geomean, against the peer with the best geomean
GOAL_WORST_VS_BEST_PEER = 1.1    # any workload, against its fastest peer
GOAL_RSS_VS_GLIBC = 1.0          # geomean peak RSS
# ... and the benchmark suite's first issue.
GOAL_TIME_VS_JEMALLOC = 0.85
GOAL_RSS_VS_JEMALLOC = 1.05


# ----------------------------------------------------------------- analysis

# What each run measures (Result's lists): wall time, peak RSS, CPU time.
METRICS = ("time", "rss", "cpu")


def med(res, what):
    return statistics.median({"time": res.times, "rss": res.rss, "cpu": res.cpu}[what])


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def analyse(workloads, allocators, results):
    names = [w.name for w in workloads]
    peers = [p for p in PEERS if p in allocators]
    # The --extra allocators: compared with swalloc like the peers, but
    # never the best peer and not in the goals.
    extras = [name for name, _ in EXTRAS if name in allocators]
    A = {"names": names, "peers": peers, "extras": extras, "rows": {}}

    def value(w, a, what):
        r = results.get((w, a))
        return med(r, what) if r and r.ok() else None

    for w in names:
        row = {}
        for what in METRICS:
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

    def paired(w, a, b):
        """The median, over the repetitions, of a's time over b's in the
        same repetition. A repetition runs one workload under every
        allocator seconds apart, so a slow period of the host longer than
        that slows both runs of a pair and cancels out of its ratio, where
        the ratio of the medians keeps it when the periods fell on
        different repetitions of a and b (the loaded larson, BENCHMARKS.md
        session 32). Informational: the goals stay on the medians."""
        ra, rb = results.get((w, a)), results.get((w, b))
        if not (ra and rb and ra.ok() and rb.ok()) or len(ra.times) != len(rb.times):
            return None
        return statistics.median(x / y for x, y in zip(ra.times, rb.times))

    A["paired"] = paired
    # Geometric means of each allocator's ratio to glibc.
    A["gm_glibc"] = {}
    if "glibc" in allocators:
        for a in allocators:
            for what in METRICS:
                rs = [ratio(w, a, "glibc", what) for w in names]
                rs = [r for r in rs if r]
                A["gm_glibc"][(a, what)] = (geomean(rs), len(rs))
    # swalloc against each peer and against the best peer of each workload,
    # over the workloads both completed.
    A["gm_pair"] = {}
    if "swalloc" in allocators:
        for p in peers + extras:
            for what in METRICS:
                rs = [ratio(w, "swalloc", p, what) for w in names]
                rs = [r for r in rs if r]
                A["gm_pair"][(p, what)] = (geomean(rs), len(rs))
    if "swalloc" in allocators and peers:
        for what in METRICS:
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
    # swalloc's geomean time against the best peer's (the peer with the
    # lowest geomean time ratio to glibc), over the workloads both ran.
    if "glibc" in allocators:
        cands = [(gm[(p, "time")][0], p) for p in A["peers"] if gm.get((p, "time"), (None,))[0]]
        if cands:
            _, best = min(cands)
            g, n = A["gm_pair"][(best, "time")]
            out.append((f"geomean time <= {GOAL_TIME_VS_BEST_PEER} x the best peer's ({best}, the lowest "
                        "geomean vs glibc)",
                        f"swalloc/{best} = {fmt_ratio(g)} over {n} workloads",
                        verdict(g, GOAL_TIME_VS_BEST_PEER)))
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
    if "glibc" in allocators:
        g, n = gm.get(("swalloc", "rss"), (None, 0))
        out.append((f"geomean peak RSS <= {GOAL_RSS_VS_GLIBC:g} x glibc's",
                    f"swalloc/glibc = {fmt_ratio(g)} over {n} workloads",
                    verdict(g, GOAL_RSS_VS_GLIBC)))
    if "jemalloc" in A["peers"]:
        g, n = A["gm_pair"][("jemalloc", "time")]
        out.append((f"geomean time <= {GOAL_TIME_VS_JEMALLOC} x jemalloc's",
                    f"swalloc/jemalloc = {fmt_ratio(g)} over {n} workloads",
                    verdict(g, GOAL_TIME_VS_JEMALLOC)))
        g, n = A["gm_pair"][("jemalloc", "rss")]
        out.append((f"geomean peak RSS <= {GOAL_RSS_VS_JEMALLOC} x jemalloc's",
                    f"swalloc/jemalloc = {fmt_ratio(g)} over {n} workloads",
                    verdict(g, GOAL_RSS_VS_JEMALLOC)))
    if failed:
        out.append(("swalloc completes every workload", "failed: " + ", ".join(failed), "MISSED"))
    return out


def md_goals(G, title):
    """The goals table: (goal, measured, verdict) rows under `title`."""
    if not G:
        return []
    L = [title, "", "| goal | measured | |", "|---|---|---|"]
    L += [f"| {g} | {m} | {v} |" for g, m, v in G]
    L.append("")
    return L


def verdict(g, limit):
    if g is None:
        return "n/a"
    return "met" if g <= limit else "MISSED"


def fmt_ratio(r):
    return f"{r:.2f}" if r else "-"


# ------------------------------------------------------------------ output

def md_tables(A, allocators, results, heading="###", label=""):
    """The time and peak-RSS tables and the failures; `label` goes after
    each table's title (e.g. ", loaded")."""
    names, rows, L = A["names"], A["rows"], []
    sw = "swalloc" in allocators
    gl = "glibc" in allocators

    def cell(w, a, what):
        r = results[(w, a)]
        if not r.ok():
            return "FAIL"
        v = rows[w][what][a]
        return f"{v / 1024:.1f}" if what == "rss" else f"{v:.3f}"

    # CPU time: the process's user and system seconds (all its threads), so
    # a reader can tell an allocator's own cost from the wall clock's
    # scheduling (the loaded run, where a single-threaded workload shares a
    # core with a busy loop). The goals stay on wall time.
    for what, title, unit in (("time", "Time", "median wall seconds"),
                              ("rss", "Peak RSS", "median peak RSS, MiB"),
                              ("cpu", "CPU time", "median user + system seconds of the process")):
        L.append(f"{heading} {title}{label} ({unit})")
        L.append("")
        head = ["workload"] + allocators
        if sw and gl:
            head.append("swalloc / glibc")
        if sw and "jemalloc" in allocators and what == "rss":
            head.append("swalloc / jemalloc")
        if sw and A["peers"]:
            head.append("swalloc / best peer")
        if sw and A["peers"] and what == "time":
            head.append("paired")
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
            if sw and A["peers"] and what == "time":
                b = rows[w]["time_best"]
                r = A["paired"](w, "swalloc", b) if b else None
                line.append(fmt_ratio(r))
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
        L.append("| allocator | time / glibc | peak RSS / glibc | CPU time / glibc | workloads |")
        L.append("|---|---:|---:|---:|---:|")
        for a in allocators:
            cells = " | ".join(fmt_ratio(A["gm_glibc"][(a, what)][0]) for what in METRICS)
            L.append(f"| {a} | {cells} | {A['gm_glibc'][(a, 'time')][1]} |")
        L.append("")
    if A["gm_pair"]:
        L.append("Geometric mean of swalloc's ratio to each peer, over the workloads both completed:")
        L.append("")
        L.append("| swalloc against | time | peak RSS | CPU time | workloads |")
        L.append("|---|---:|---:|---:|---:|")
        for p in A["peers"] + A["extras"] + (["best"] if A["peers"] else []):
            cells = " | ".join(fmt_ratio(A["gm_pair"][(p, what)][0]) for what in METRICS)
            label = "the best peer of each workload" if p == "best" else p
            L.append(f"| {label} | {cells} | {A['gm_pair'][(p, 'time')][1]} |")
        L.append("")
    return L



# ------------------------------------------------------------------ report

# Sections of BENCHMARKS.md measured by other means (or, for `loaded`, by
# another run of the suite) sit between markers, <!-- tag --> ... <!-- /tag
# -->: the loaded run (bench/run.py --loaded), the resident-memory timeline
# (bench/rss_timeline.py), the idle-server table, the secure-mode and heap
# profiler costs, the newer peers measured by hand (--extra), the thread
# scaling table (bench/scaling.py). The normal run rewrites the rest of
# the file and keeps every such section, in the file's order, after it.
# (A list of their names kept only the named ones: the first run after
# the scaling section was added dropped it.)
SECTION_RE = re.compile(r"<!-- ([a-z0-9-]+) -->.*?<!-- /\1 -->", flags=re.S)


def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def md_machine(R):
    """The table of date, machine, versions, mode and run."""
    info, mode = R.info, R.mode
    L = ["| | |", "|---|---|"]
    L.append(f"| date | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |")
    L.append(f"| CPU | {info['cpu']}, {info['cores']} cores ({info['affinity']} usable), {info['mem']} |")
    L.append(f"| kernel | Linux {info['kernel']} |")
    L.append(f"| C library | {info['glibc']} |")
    L.append(f"| peers | {info['peers']} |")
    if info.get("extras"):
        L.append(f"| other allocators | {info['extras']} (`--extra`, preloaded like the peers) |")
    L.append(f"| swalloc | {info['swalloc']} (library snapshot taken at the start) |")
    L.append(f"| workloads | `bench/workloads.c` built with {info['gcc'].split(' (')[0]} -O2 -pthread; "
             f"{info['python']}; sqlite3 {info['sqlite']} |")
    loaded = f"; all cores loaded by {R.loops} CPU-bound processes" if R.loops else ""
    L.append(f"| mode | {'quick' if R.quick else 'full'}: {plural(mode['reps'], 'repetition')}, "
             f"work scale {mode['scale']}, {R.threads} threads for the threaded workloads{loaded} |")
    load_note = f"load average {R.load0:.2f} at the start, {R.load1:.2f} at the end"
    if R.loops:
        load_note += (f"; CPU time of the {R.loops} busy loops while the workloads ran: "
                      f"{R.loops_cpu:.0f} s ({R.loops_cpu / R.suite_s * 100:.0f}% of one core on average)")
    if R.others is not None:
        load_note += (f"; CPU time used by other processes while the workloads ran: {R.others:.0f} s "
                      f"({R.others / R.suite_s * 100:.0f}% of one core on average)")
    L.append(f"| run | {R.elapsed:.0f} s; {load_note} |")
    L.append("")
    return L


def md_notes(R):
    notes = list(R.notes)
    if R.others is not None and R.others / R.suite_s > 0.10:
        notes.append(f"the machine was shared: other processes (such as builds) used "
                     f"{R.others / R.suite_s * 100:.0f}% of one core on average while the workloads ran, "
                     f"so some runs had fewer than {R.info['affinity']} cores to themselves; the threaded "
                     "workloads are the most affected.")
    L = []
    for n in R.user_notes + notes:
        L.append(f"Note: {n}")
        L.append("")
    return L


def md_chart(R, out_md, alt):
    if not R.have_svg:
        return []
    rel = os.path.relpath(R.out_svg, os.path.dirname(out_md))
    return [f"![{alt}]({rel})", ""]


def extras_sentence():
    if not EXTRAS:
        return ""
    names = ", ".join(name for name, _ in EXTRAS)
    return (f" The other allocators ({names}) are libraries given with `--extra`, preloaded the same "
            "way; they are compared with swalloc but are not peers in *best peer* or the goals.")


def full_report(R):
    """The lines of the generated part of BENCHMARKS.md."""
    mode = R.mode
    L = ["# swalloc benchmarks", ""]
    L.append("swalloc against glibc's malloc and the Debian builds of jemalloc, mimalloc and tcmalloc "
             "(all preloaded with `LD_PRELOAD`, glibc with nothing preloaded), measured in one run. "
             "Each workload ran under each allocator "
             f"{mode['reps']} time{'s' if mode['reps'] != 1 else ''}, interleaved (each repetition runs every "
             "workload once under every allocator, the allocators' order rotated each repetition, "
             "so a workload's runs are spread over the whole suite and a burst of load from "
             "elsewhere reaches few of them); the tables give the "
             "median wall time, the median peak RSS of the process (`ru_maxrss` from `wait4`) and "
             "its median CPU time (user + system, all threads: the allocator's own cost, apart "
             "from how the scheduler shared the cores; the goals are on wall time). "
             "Every allocator must print the same checksum line for a workload, or its run counts as "
             "a failure. *best peer* = the lowest median among jemalloc, mimalloc and tcmalloc for "
             "that workload. *paired* = the median, over the repetitions, of swalloc's time over "
             "that best peer's in the same repetition (runs seconds apart, so a slow period of the "
             "host cancels out of it; informational, the goals are on the medians). "
             "*spread* = the largest (max - min) / median of the times of one "
             "allocator on that workload: the run-to-run noise." + extras_sentence())
    L.append("")
    L.append("Command (from the repository root):")
    L.append("")
    L.append(f"    {R.cmd}")
    L.append("")
    L += md_machine(R)
    L += md_notes(R)
    L.append("## Results")
    L.append("")
    L += md_chart(R, R.out_md, "time relative to glibc per workload and allocator")
    L.append("### Summary")
    L.append("")
    L += md_geomeans(R.A, R.allocators)
    L += md_goals(R.G, "Goals (from the issues: speed and memory truth, then the benchmark suite's first):")
    L += md_tables(R.A, R.allocators, R.results)
    if R.fast or R.fast_err:
        L.append("### Fast path: instructions per operation")
        L.append("")
        if R.fast:
            L.append("From `scripts/fastpath-instructions.sh` (callgrind, `bench/fastpath.c`, the "
                     "difference between 1 and 1,000,001 iterations; counts are repeatable, unlike "
                     "times; the library built in the tree at that moment). Instructions per loop "
                     "iteration, the loop and the PLT calls included:")
            L.append("")
            L.append(R.fast)
        else:
            L.append(f"Skipped: {R.fast_err}.")
        L.append("")
    L.append("## Workloads")
    L.append("")
    L.append("The C workloads are in `bench/workloads.c` (one program, `workloads NAME [THREADS] "
             "[SCALE]`), with fixed work from seeded xorshift generators; blocks are stamped and "
             "checked before they are freed. Threaded ones are marked (T).")
    L.append("")
    for w in WORKLOADS:
        if w in R.workloads:
            L.append(f"- `{w.name}`{' (T)' if w.threaded else ''}: {w.desc}.")
    L.append("")
    return L


def loaded_section(R):
    """The lines of the loaded run's section, markers included."""
    n = R.loops
    L = ["<!-- loaded -->", f"## With all cores loaded by {n} CPU-bound processes", ""]
    L.append(f"The same suite, run while {n} CPU-bound process{'es' if n != 1 else ''} (one per core: "
             "`python3 -c 'while True: pass'` at nice 0) kept every core busy from the start of "
             "the run to its end: the workloads' threads share the cores with them, as on an "
             "oversubscribed server, so the time slices the scheduler gives them, lock holders "
             "preempted and threads waiting on each other count. "
             f"Each workload ran under each allocator {plural(R.mode['reps'], 'time')}, "
             "interleaved as in the main tables; median wall time, peak RSS and CPU time (a "
             "single-threaded workload shares a core with a busy loop here: its wall time is "
             "about its CPU time over the share the scheduler gave it). Measured "
             "in a run of its own (kept between its markers when the normal run regenerates the "
             "file, and replaced by the next loaded run); compare ratios, not seconds, with the "
             "main tables." + extras_sentence())
    L.append("")
    L.append("Command (from the repository root):")
    L.append("")
    L.append(f"    {R.cmd}")
    L.append("")
    L += md_machine(R)
    L += md_notes(R)
    L += md_chart(R, R.out_md, "time relative to glibc per workload and allocator, all cores loaded")
    L.append("### Summary, loaded")
    L.append("")
    L += md_geomeans(R.A, R.allocators)
    L += md_goals(R.G, "Goals, loaded (the speed issue asks for them under load too):")
    L += md_tables(R.A, R.allocators, R.results, label=", loaded")
    L.append("<!-- /loaded -->")
    return L


def kept_sections(text):
    """Every section between markers in text (SECTION_RE), in order."""
    return [m.group(0) for m in SECTION_RE.finditer(text)]


def write_full(out_md, L):
    """Writes the generated report, followed by the kept sections of the
    file it replaces."""
    L = list(L)
    if os.path.exists(out_md):
        with open(out_md) as f:
            previous = f.read()
        for section in kept_sections(previous):
            L.append(section)
            L.append("")
    with open(out_md, "w") as f:
        f.write("\n".join(L))


def write_loaded(out_md, section):
    """Puts the loaded section into out_md, leaving the rest of the file as
    it is: in place of the previous loaded section, else before the first
    other marked section, else at the end (a missing file gets a title)."""
    text = "\n".join(section)
    previous = ""
    if os.path.exists(out_md):
        with open(out_md) as f:
            previous = f.read()
    m = re.search(r"<!-- loaded -->.*?<!-- /loaded -->", previous, flags=re.S)
    if m:
        new = previous[:m.start()] + text + previous[m.end():]
    else:
        first = SECTION_RE.search(previous)
        if first:
            i = first.start()
            new = previous[:i] + text + "\n\n" + previous[i:]
        elif previous:
            new = previous.rstrip("\n") + "\n\n" + text + "\n"
        else:
            new = "# swalloc benchmarks\n\n" + text + "\n"
    with open(out_md, "w") as f:
        f.write(new)


def console_summary(A, G, allocators):
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
