"""The benchmark suite's chart (bench/run.py is the entry point): each
allocator's median time relative to glibc's, per workload, as an SVG bar
chart. Standard library only.
"""

import math

# Colours of the allocators; the --extra ones take the next free colour.
COLORS = {"swalloc": "#d95f02", "jemalloc": "#1b9e77", "mimalloc": "#7570b3",
          "tcmalloc": "#e7298a", "glibc": "#666666", "swalloc-base": "#fdb462"}
SPARE_COLORS = ["#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#b15928", "#6a3d9a"]


def write_svg(path, A, allocators, results,
              title="Median time relative to glibc (log scale, lower is faster)"):
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
    colors = dict(COLORS)
    spare = iter(SPARE_COLORS)
    for a in bars:
        if a not in colors:
            colors[a] = next(spare, "#000")
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
         f'{title}</text>']
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
