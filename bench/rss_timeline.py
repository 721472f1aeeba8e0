#!/usr/bin/env python3
"""Resident memory over time for a grow/shrink workload (bench/rss_timeline.c)
under swalloc, glibc, jemalloc, mimalloc and tcmalloc, sampled from
/proc/PID/status every 50 ms. Writes docs/rss-timeline.svg and a markdown
table (peak, and resident memory 2 s / 6 s / 11 s into each idle phase) into
BENCHMARKS.md between the markers <!-- rss-timeline --> ... <!-- /rss-timeline -->
(appended when absent).

usage: bench/rss_timeline.py [--idle-ms 12000] [--out BENCHMARKS.md]
"""
import argparse, os, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = [
    ("swalloc", os.path.join(ROOT, ".build/release/libswalloc.so")),
    ("glibc", None),
    ("jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    ("mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"),
    ("tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"),
]
COLORS = {"swalloc": "#d62728", "glibc": "#7f7f7f", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c", "tcmalloc": "#9467bd"}


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run(binary, lib, idle_ms):
    env = dict(os.environ)
    if lib:
        env["LD_PRELOAD"] = lib
    env.pop("SWALLOC_CONF", None)
    err = tempfile.TemporaryFile(mode="w+")
    start = time.monotonic()
    p = subprocess.Popen([binary, str(idle_ms)], env=env, stdout=subprocess.DEVNULL, stderr=err)
    samples = []
    while p.poll() is None:
        r = rss_kib(p.pid)
        if r is not None:
            samples.append((time.monotonic() - start, r / 1024.0))
        time.sleep(0.05)
    err.seek(0)
    phases = [(m.group(1), float(m.group(2))) for m in re.finditer(r"phase (\w+) ([\d.]+)", err.read())]
    if p.returncode != 0:
        sys.exit(f"workload failed under {lib or 'glibc'}: rc={p.returncode}")
    return samples, phases


def at(samples, t):
    best = min(samples, key=lambda s: abs(s[0] - t))
    return best[1]


def svg(results, path):
    w, h, ml, mr, mt, mb = 900, 420, 60, 130, 30, 45
    tmax = max(s[-1][0] for s, _ in results.values())
    ymax = max(max(r for _, r in s) for s, _ in results.values()) * 1.05
    X = lambda t: ml + (w - ml - mr) * t / tmax
    Y = lambda r: h - mb - (h - mt - mb) * r / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w/2}" y="18" text-anchor="middle" font-size="14">Resident memory, grow/shrink workload (bench/rss_timeline.c)</text>']
    for i in range(6):
        r = ymax * i / 5
        out.append(f'<line x1="{ml}" y1="{Y(r):.1f}" x2="{w-mr}" y2="{Y(r):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{ml-6}" y="{Y(r)+4:.1f}" text-anchor="end">{r:.0f}</text>')
    for t in range(0, int(tmax) + 1, 2):
        out.append(f'<text x="{X(t):.1f}" y="{h-mb+16}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(ml+w-mr)/2}" y="{h-8}" text-anchor="middle">seconds</text>')
    out.append(f'<text x="16" y="{(mt+h-mb)/2}" transform="rotate(-90 16 {(mt+h-mb)/2})" text-anchor="middle">RSS (MiB)</text>')
    out.append(f'<line x1="{ml}" y1="{h-mb}" x2="{w-mr}" y2="{h-mb}" stroke="black"/>')
    out.append(f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h-mb}" stroke="black"/>')
    for k, (name, (samples, _)) in enumerate(results.items()):
        pts = " ".join(f"{X(t):.1f},{Y(r):.1f}" for t, r in samples)
        out.append(f'<polyline fill="none" stroke="{COLORS[name]}" stroke-width="{2.5 if name == "swalloc" else 1.5}" points="{pts}"/>')
        out.append(f'<line x1="{w-mr+10}" y1="{mt+20+18*k}" x2="{w-mr+30}" y2="{mt+20+18*k}" stroke="{COLORS[name]}" stroke-width="3"/>')
        out.append(f'<text x="{w-mr+36}" y="{mt+24+18*k}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle-ms", type=int, default=12000)
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    binary = os.path.join(tempfile.mkdtemp(), "rss_timeline")
    subprocess.check_call(["gcc", "-O2", "-o", binary, os.path.join(ROOT, "bench/rss_timeline.c")])
    results = {}
    for name, lib in PEERS:
        if lib and not os.path.exists(lib):
            print(f"skip {name}: {lib} not installed")
            continue
        results[name] = run(binary, lib, args.idle_ms)
        print(f"{name}: {len(results[name][0])} samples")
    svg(results, os.path.join(ROOT, "docs/rss-timeline.svg"))
    rows = ["| allocator | peak RSS (MiB) | idle +2 s | idle +6 s | idle +11 s | 2nd idle +11 s |", "|---|---|---|---|---|---|"]
    for name, (samples, phases) in results.items():
        idles = [t for p, t in phases if p == "idle"]
        peak = max(r for _, r in samples)
        cells = [f"{at(samples, idles[0] + d):.0f}" for d in (2, 6, 11)] + [f"{at(samples, idles[1] + 11):.0f}"]
        rows.append(f"| {name} | {peak:.0f} | " + " | ".join(cells) + " |")
    section = "\n".join([
        "<!-- rss-timeline -->",
        "## Resident memory over time",
        "",
        f"`bench/rss_timeline.py` ({time.strftime('%Y-%m-%d')}): the grow/shrink workload of `bench/rss_timeline.c` "
        "grows to about 1.4 GiB, frees 90% of it, then idles with light activity for 12 s; twice. "
        "Every allocator runs with its default settings (swalloc: dirty_decay_ms 10000, no background thread; "
        "the idle phase's periodic small allocations give swalloc's decay its slow-path ticks).",
        "",
        "![RSS over time](docs/rss-timeline.svg)",
        "",
        *rows,
        "<!-- /rss-timeline -->",
    ])
    text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n"
    if "<!-- rss-timeline -->" in text:
        text = re.sub(r"<!-- rss-timeline -->.*?<!-- /rss-timeline -->", lambda m: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
