#!/usr/bin/python3
"""scripts/plot_rss.py RSS.csv OUT.png — draws and summarises bench_rss runs.

RSS.csv is what tests/bench/bench_rss prints, one run per allocator
concatenated (allocator,t_s,rss_kib,event,value). Draws one RSS curve per
allocator against time, with the workload's phases shaded and the live data
marked, into OUT.png, and prints a markdown table on stdout:

  - to live+10%: seconds from the end of the free phase until RSS is within
    10% of the live data (RSS <= start RSS + 1.1 x live); "> S" when it
    never got there during the idle phase of S seconds;
  - RSS at idle end: RSS when the idle phase ends, and its ratio to the
    live data plus the start RSS;
  - peak RSS;
  - CPU s: user + system seconds of the whole run;
  - burst 2: seconds the second burst took (allocating back up to the
    first burst's size into whatever the allocator kept or released).
"""
import csv
import sys
from collections import OrderedDict

ORDER = ["gcmalloc", "glibc", "jemalloc", "mimalloc"]
COLORS = {
    "glibc": "#7f7f7f",
    "jemalloc": "#1f77b4",
    "mimalloc": "#ff7f0e",
    "gcmalloc": "#2ca02c",
}
PHASES = [("start", "burst1_end", "burst 1", "#fbe3d6"),
          ("freed", "idle_end", "idle", "#e3eef9"),
          ("burst2_start", "burst2_end", "burst 2", "#fbe3d6")]


def read(path):
    runs = OrderedDict()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            a = row["allocator"]
            if a == "allocator":
                continue
            r = runs.setdefault(a, {"t": [], "rss": [], "marks": {}, "cpu": None,
                                    "wall": None, "status": None})
            ev = row["event"]
            t = float(row["t_s"])
            if not ev:
                r["t"].append(t)
                r["rss"].append(int(row["rss_kib"]))
            elif ev in ("cpu", "wall"):
                r[ev] = float(row["value"])
            elif ev == "status":
                r["status"] = int(row["value"])
            else:
                r["marks"][ev] = (t, int(row["rss_kib"]), float(row["value"]))
    return runs


def summarise(r):
    m = r["marks"]
    s = {}
    if not all(k in m for k in ("start", "freed", "idle_end", "burst2_start", "burst2_end")):
        return None
    base = m["start"][1]
    live = m["freed"][2]
    t_freed, t_idle_end = m["freed"][0], m["idle_end"][0]
    target = base + 1.1 * live
    s["live_mib"] = live / 1024
    s["idle_s"] = t_idle_end - t_freed
    s["reach"] = None
    # The mark's own RSS first (an allocator that returns memory in free()),
    # then the samples.
    if m["freed"][1] <= target:
        s["reach"] = 0.0
    else:
        for t, v in zip(r["t"], r["rss"]):
            if t_freed <= t <= t_idle_end and v <= target:
                s["reach"] = t - t_freed
                break
    s["idle_end_mib"] = m["idle_end"][1] / 1024
    s["idle_ratio"] = m["idle_end"][1] / (base + live)
    s["peak_mib"] = max(r["rss"] + [v[1] for v in m.values()]) / 1024
    s["cpu"] = r["cpu"]
    s["burst2"] = m["burst2_end"][0] - m["burst2_start"][0]
    s["status"] = r["status"]
    return s


def table(runs, out):
    names = [a for a in ORDER if a in runs] + [a for a in runs if a not in ORDER]
    out.write("| allocator | to live+10% (s) | RSS at idle end (MiB) | vs live+start | "
              "peak RSS (MiB) | CPU (s) | burst 2 (s) |\n")
    out.write("|---|---:|---:|---:|---:|---:|---:|\n")
    for a in names:
        s = summarise(runs[a])
        if s is None:
            out.write("| %s | (incomplete run, exit status %s) | | | | | |\n"
                      % (a, runs[a]["status"]))
            continue
        reach = "%.2f" % s["reach"] if s["reach"] is not None else "> %.1f" % s["idle_s"]
        out.write("| %s | %s | %.0f | %.2fx | %.0f | %.2f | %.3f |\n"
                  % (a, reach, s["idle_end_mib"], s["idle_ratio"], s["peak_mib"],
                     s["cpu"] or 0.0, s["burst2"]))
    any_run = next((summarise(r) for r in runs.values() if summarise(r)), None)
    if any_run:
        out.write("\nLive data after the free phase: %.0f MiB; idle phase: %.1f s; "
                  "RSS sampled every 50 ms from /proc/PID/statm.\n"
                  % (any_run["live_mib"], any_run["idle_s"]))


def plot(runs, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    names = [a for a in ORDER if a in runs] + [a for a in runs if a not in ORDER]
    ref = runs.get("gcmalloc") or next(iter(runs.values()))
    for start, end, label, color in PHASES:
        if start in ref["marks"] and end in ref["marks"]:
            t0, t1 = ref["marks"][start][0], ref["marks"][end][0]
            ax.axvspan(t0, t1, color=color, alpha=0.6, lw=0)
            ax.annotate(label, ((t0 + t1) / 2, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, -12), textcoords="offset points", ha="center",
                        fontsize=9, color="#555555")
    for a in names:
        r = runs[a]
        pts = sorted(list(zip(r["t"], r["rss"])) +
                     [(t, v) for t, v, _ in r["marks"].values()])
        ax.plot([t for t, _ in pts], [v / 1024 for _, v in pts], label=a,
                color=COLORS.get(a, "#bcbd22"), lw=1.6 if a == "gcmalloc" else 1.2)
    m = ref["marks"]
    if "freed" in m and "start" in m:
        live = (m["start"][1] + m["freed"][2]) / 1024
        ax.axhline(live, color="black", lw=0.8, ls="--")
        ax.axhline(live * 1.1, color="black", lw=0.6, ls=":")
        ax.annotate("live data (+10%% dotted): %.0f MiB" % live, (0, live),
                    xycoords=("axes fraction", "data"), xytext=(4, 3),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title("bench_rss: burst to 1 GiB, free 90%, idle, burst again")
    ax.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(png)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    runs = read(sys.argv[1])
    if not runs:
        sys.stderr.write("plot_rss.py: no runs in %s\n" % sys.argv[1])
        return 1
    table(runs, sys.stdout)
    plot(runs, sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
