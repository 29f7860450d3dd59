#!/usr/bin/python3
"""scripts/compare.py RESULTS.csv [--check] — the benchmark tables.

Reads the CSV written by scripts/bench (one row per run: bench, allocator,
run, wall_s, maxrss_kb, user_s, sys_s, status, result) and prints, as
markdown, per benchmark and allocator the median wall time, the median CPU
time (user + system) and the median peak RSS, then the ratios of those
medians against glibc and against jemalloc (preloaded) with their geometric
means over the suite, then how gcmalloc stands against its targets.

The targets are judged on wall time. CPU time is shown beside it because it
is much less disturbed by other work on the machine: when the two disagree,
the machine was busy and the wall times are noise.

A run counts when the program printed its result line; a non-zero exit
status is flagged (a '!' beside the value and a note below the tables), and
so is a result line that differs from glibc's (the benchmarks are
deterministic, so every allocator must print the same line).

With --check, exits 1 when gcmalloc misses a target (or is absent).
"""
import csv
import math
import statistics
import sys
from collections import OrderedDict

ORDER = ["glibc", "jemalloc", "jemalloc-linked", "mimalloc", "gcmalloc"]
BASES = ["glibc", "jemalloc"]
SUBJECT = "gcmalloc"
TARGET_TIME_GEOMEAN = 1.0
TARGET_RSS_GEOMEAN = 1.1
TARGET_TIME_WORST = 1.5


def load(path):
    """Returns (benches, allocs, cells, notes): cells[(bench, alloc)] holds
    the median time, median RSS and flags."""
    runs = OrderedDict()
    for row in csv.DictReader(open(path, newline="")):
        runs.setdefault((row["bench"], row["allocator"]), []).append(row)
    benches = list(OrderedDict.fromkeys(b for b, _ in runs))
    present = {a for _, a in runs}
    allocs = [a for a in ORDER if a in present] + sorted(present - set(ORDER))

    cells, notes = {}, []
    for (bench, alloc), rows in runs.items():
        good = [r for r in rows if r["result"].strip()]
        bad_status = sorted({r["status"] for r in rows if r["status"] != "0"})
        cell = {"time": None, "cpu": None, "rss": None, "flag": False, "result": None}
        if bad_status:
            cell["flag"] = True
            said = sorted({r.get("note") or "" for r in rows if r["status"] != "0"} - {""})
            notes.append("%s under %s: exit status %s in %d of %d runs%s" % (
                bench, alloc, "/".join(bad_status),
                sum(r["status"] != "0" for r in rows), len(rows),
                " (%s)" % "; ".join(said[:2]) if said else ""))
        if good:
            cell["time"] = statistics.median(float(r["wall_s"]) for r in good)
            cell["cpu"] = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in good)
            cell["rss"] = statistics.median(float(r["maxrss_kb"]) for r in good) / 1024.0
            results = {r["result"] for r in good}
            if len(results) > 1:
                cell["flag"] = True
                notes.append("%s under %s: the result line differs between runs" % (bench, alloc))
            cell["result"] = sorted(results)[0]
        cells[(bench, alloc)] = cell

    for bench in benches:
        ref = cells.get((bench, "glibc"), {}).get("result")
        for alloc in allocs:
            c = cells.get((bench, alloc))
            if ref and c and c["result"] and c["result"] != ref:
                c["flag"] = True
                notes.append("%s under %s: result '%s' differs from glibc's '%s'" % (
                    bench, alloc, c["result"], ref))
    return benches, allocs, cells, notes


def ratio(cells, bench, a, b, key):
    x = cells.get((bench, a), {}).get(key)
    y = cells.get((bench, b), {}).get(key)
    if x is None or not y:
        return None
    return x / y


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ratio_columns(allocs):
    """(numerator, denominator) pairs: every allocator against glibc, and
    every allocator other than the two bases against jemalloc."""
    cols = [(a, "glibc") for a in allocs if a != "glibc"]
    if "jemalloc" in allocs:
        cols += [(a, "jemalloc") for a in allocs if a not in BASES]
    return [c for c in cols if c[1] in allocs]


def fmt(v, digits):
    return "-" if v is None else "%.*f" % (digits, v)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def value_table(benches, allocs, cells, key, digits):
    rows = []
    for bench in benches:
        row = [bench]
        for a in allocs:
            c = cells.get((bench, a))
            v = fmt(c[key] if c else None, digits)
            row.append(v + ("!" if c and c["flag"] else ""))
        rows.append(row)
    return table(["benchmark"] + allocs, rows)


def ratio_table(benches, allocs, cells, key):
    cols = ratio_columns(allocs)
    rows = []
    for bench in benches:
        rows.append([bench] + [fmt(ratio(cells, bench, a, b, key), 2) for a, b in cols])
    rows.append(["**geomean**"] + [
        "**%s**" % fmt(geomean(ratio(cells, bench, a, b, key) for bench in benches), 2)
        for a, b in cols])
    return table(["benchmark"] + ["%s/%s" % c for c in cols], rows)


def targets(benches, allocs, cells):
    """Lines saying how gcmalloc stands against jemalloc; and whether it met
    every target."""
    if SUBJECT not in allocs or "jemalloc" not in allocs:
        return ["gcmalloc or jemalloc was not measured: no targets checked."], False
    t = {b: ratio(cells, b, SUBJECT, "jemalloc", "time") for b in benches}
    r = {b: ratio(cells, b, SUBJECT, "jemalloc", "rss") for b in benches}
    gt, gr = geomean(t.values()), geomean(r.values())
    known = {b: v for b, v in t.items() if v is not None}
    worst = max(known, key=known.get) if known else None
    missing = [b for b in benches if t[b] is None]
    flagged = [b for b in benches if cells.get((b, SUBJECT), {}).get("flag")]
    c = {b: ratio(cells, b, SUBJECT, "jemalloc", "cpu") for b in benches}
    cworst = max((v for v in c.values() if v is not None), default=None)
    checks = [
        ("geomean wall-time ratio gcmalloc/jemalloc", gt, TARGET_TIME_GEOMEAN,
         "on CPU time: %s" % fmt(geomean(c.values()), 3)),
        ("geomean peak RSS ratio gcmalloc/jemalloc", gr, TARGET_RSS_GEOMEAN, None),
        ("worst wall-time ratio gcmalloc/jemalloc (%s)" % worst, known.get(worst),
         TARGET_TIME_WORST, "worst on CPU time: %s" % fmt(cworst, 3)),
    ]
    lines, ok = [], True
    for what, v, limit, aside in checks:
        met = v is not None and v <= limit
        ok = ok and met
        lines.append("- %s: %s (target <= %.2f) %s%s" % (
            what, fmt(v, 3), limit, "met" if met else "**MISSED**",
            "; %s" % aside if aside else ""))
    if missing:
        ok = False
        lines.append("- no measurement under gcmalloc for: %s **MISSED**" % ", ".join(missing))
    if flagged:
        ok = False
        lines.append("- failed or wrong runs under gcmalloc: %s **MISSED**" % ", ".join(flagged))
    return lines, ok


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    check = "--check" in argv[1:]
    if len(args) != 1 or any(a not in ("--check",) for a in argv[1:] if a.startswith("--")):
        sys.stderr.write("usage: compare.py RESULTS.csv [--check]\n")
        return 2
    benches, allocs, cells, notes = load(args[0])
    if not benches:
        sys.stderr.write("compare.py: no results in %s\n" % args[0])
        return 1

    print("Allocators: glibc (no preload); jemalloc and mimalloc: the Debian "
          "libraries preloaded; jemalloc-linked: the programs linked against "
          "jemalloc; gcmalloc: preloaded. Ratios are of medians.\n")
    print("## Median wall time (s)\n")
    print(value_table(benches, allocs, cells, "time", 3))
    print("\n## Median CPU time, user + system (s)\n")
    print(value_table(benches, allocs, cells, "cpu", 3))
    print("\n## Median peak RSS (MiB)\n")
    print(value_table(benches, allocs, cells, "rss", 1))
    print("\n## Wall-time ratios (below 1: the first allocator named is faster)\n")
    print(ratio_table(benches, allocs, cells, "time"))
    print("\n## CPU-time ratios\n")
    print(ratio_table(benches, allocs, cells, "cpu"))
    print("\n## Peak RSS ratios (below 1: the first allocator named is smaller)\n")
    print(ratio_table(benches, allocs, cells, "rss"))
    print("\n## gcmalloc against its targets\n")
    lines, ok = targets(benches, allocs, cells)
    print("\n".join(lines))
    if notes:
        print("\n## Notes ('!' in the tables)\n")
        print("\n".join("- " + n for n in notes))
    return 1 if check and not ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
