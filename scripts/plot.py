#!/usr/bin/python3
"""scripts/plot.py RESULTS.csv OUT.png — plots the benchmark ratios.

Six panels: median wall time, median CPU time and median peak RSS, each
against glibc and against jemalloc (preloaded), one group of bars per benchmark plus the
geometric mean over the suite, on a logarithmic axis. The panels against
jemalloc carry gcmalloc's targets as dashed lines. Uses compare.py's
reading of the CSV, so the two always agree.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

COLORS = {
    "glibc": "#7f7f7f",
    "jemalloc": "#1f77b4",
    "jemalloc-linked": "#9ecae1",
    "mimalloc": "#ff7f0e",
    "gcmalloc": "#2ca02c",
}


FINE_TICKS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2]
COARSE_TICKS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2, 3, 5, 7, 10, 20]


def panel(ax, benches, allocs, cells, key, base, title, limits):
    """One panel: bars from 1 to each ratio of ALLOCS against BASE."""
    nums = [a for a in allocs if a not in (base, "glibc")]
    if base != "glibc" and "glibc" in allocs:
        nums.append("glibc")
    groups = benches + ["geomean"]
    width = 0.8 / max(len(nums), 1)
    seen = [1.0] + [y for y, _ in limits]
    for i, a in enumerate(nums):
        vals = [compare.ratio(cells, b, a, base, key) for b in benches]
        vals.append(compare.geomean(vals))
        xs = [g + (i - (len(nums) - 1) / 2) * width for g in range(len(groups))]
        bad = [bool(cells.get((b, a), {}).get("flag") or cells.get((b, base), {}).get("flag"))
               for b in benches] + [False]
        pts = [(x, v, f) for x, v, f in zip(xs, vals, bad) if v]
        seen += [v for _, v, _ in pts]
        for x, v, f in pts:
            ax.bar(x, v - 1.0, width, bottom=1.0, color=COLORS.get(a, "#bcbd22"),
                   edgecolor="black", linewidth=0.3, hatch="////" if f else None)
        if vals[-1]:
            ax.annotate("%.2f" % vals[-1], (xs[-1], vals[-1]),
                        xytext=(0, 2 if vals[-1] >= 1 else -2), textcoords="offset points",
                        ha="center", va="bottom" if vals[-1] >= 1 else "top",
                        fontsize=6, rotation=90)
    ax.axhline(1.0, color="black", linewidth=0.8)
    for y, what in limits:
        ax.axhline(y, color="red", linestyle="--", linewidth=0.8)
        if what:
            ax.annotate(what, (-0.5, y), xytext=(2, 2), textcoords="offset points",
                        ha="left", va="bottom", fontsize=7, color="red")
    lo, hi = min(seen) / 1.25, max(seen) * 1.25
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [t for t in (FINE_TICKS if hi / lo < 2.5 else COARSE_TICKS) if lo <= t <= hi]
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.axvline(len(benches) - 0.5, color="gray", linewidth=0.5)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return nums


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: plot.py RESULTS.csv OUT.png\n")
        return 2
    benches, allocs, cells, _ = compare.load(argv[1])
    if not benches or "glibc" not in allocs:
        sys.stderr.write("plot.py: nothing to plot (no glibc results)\n")
        return 1
    bases = [b for b in compare.BASES if b in allocs]
    fig, axes = plt.subplots(3, len(bases), figsize=(7 * len(bases), 11.5), squeeze=False)
    for j, base in enumerate(bases):
        time_limits, rss_limits = [], []
        if base == "jemalloc" and "gcmalloc" in allocs:
            time_limits = [(compare.TARGET_TIME_WORST, "gcmalloc: no benchmark above")]
            rss_limits = [(compare.TARGET_RSS_GEOMEAN, "gcmalloc: geomean at most")]
        panel(axes[0][j], benches, allocs, cells, "time", base,
              "median wall time / %s's (lower is faster)" % base, time_limits)
        panel(axes[1][j], benches, allocs, cells, "cpu", base,
              "median CPU time (user + system) / %s's" % base, time_limits)
        panel(axes[2][j], benches, allocs, cells, "rss", base,
              "median peak RSS / %s's (lower is smaller)" % base, rss_limits)
    shown = [a for a in allocs if a != "glibc"] + ["glibc"]
    handles = [matplotlib.patches.Patch(facecolor=COLORS.get(a, "#bcbd22"),
                                        edgecolor="black", linewidth=0.3, label=a)
               for a in shown]
    if any(c["flag"] for c in cells.values()):
        handles.append(matplotlib.patches.Patch(facecolor="white", edgecolor="black",
                                                hatch="////", label="failed or wrong runs"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9,
               frameon=False)
    fig.suptitle("gcmalloc benchmarks: ratios of medians (bars from 1; log scale)",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
