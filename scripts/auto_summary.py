"""Summarises the CSV and stderr of `goldylox replay --policies ...,auto,opt`
runs (see scripts/auto_report.sh) into reports/auto.md on stdout."""
import csv
import datetime
import glob
import os
import re
import statistics
import sys

work, commit = sys.argv[1], sys.argv[2]
cells = []  # (trace, size, {policy: ratio}, switches, {candidate: shadow ratio})
for path in sorted(glob.glob(os.path.join(work, "*.csv"))):
    trace = os.path.basename(path)[:-4]
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    err = open(path[:-4] + ".err").read()
    for row in rows[1:]:
        size = int(row[0])
        ratios = {h: float(v) for h, v in zip(header[1:], row[1:])}
        m = re.search(rf"^auto at {size}: (\d+) switches.*$", err, re.M)
        switches = int(m.group(1)) if m else 0
        path_m = re.search(rf"^auto at {size}: \d+ switches; (.*)$", err, re.M)
        shadow_m = re.search(rf"^auto at {size}: shadow hit ratios \(%\) (.*)$", err, re.M)
        shadows = {}
        if shadow_m:
            for item in shadow_m.group(1).split():
                name, value = item.rsplit("=", 1)
                shadows[name] = float(value)
        cells.append((trace, size, ratios, switches, shadows, path_m.group(1) if path_m else ""))

singles = [p for p in cells[0][2] if p not in ("auto", "OPT", "infinite")]
print("# `auto` against every single policy\n")
print(f"Made by `bash scripts/auto_report.sh` on {datetime.date.today()} at commit {commit}, one run.")
print("Every object weighs 1; sizes are 0.5 %, 2 %, 8 % and 32 % of each trace's distinct keys.")
print("`auto` races all eight built-in policies on shadow caches (S = 4096 shadow entries, margin 2 pp,")
print("streak 3, smoothing 0.2) and switches the live policy; it starts on S3-FIFO. Hit ratios in %.\n")
print("| trace | size | best single | best | auto | auto − best (pp) | OPT | switches |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
gaps, ahead = [], 0
for trace, size, r, sw, _, _ in cells:
    best = max(singles, key=lambda p: r[p])
    gap = r["auto"] - r[best]
    gaps.append((gap, trace, size))
    ahead += gap > 0
    print(f"| {trace} | {size} | {best} | {r[best]:.2f} | {r['auto']:.2f} | {gap:+.2f} | {r['OPT']:.2f} | {sw} |")
worst = min(gaps)
within = sum(1 for g, _, _ in gaps if g >= -1.0)
print(f"\n**Cells:** {len(cells)}; `auto` within 1 pp of the best single policy on {within}; "
      f"ahead of it on {ahead}; worst cell {worst[1]} at {worst[2]}: {worst[0]:+.2f} pp; "
      f"switches in all: {sum(c[3] for c in cells)}.\n")
print("## Mean gap to OPT (pp, over every cell)\n")
print("| policy | mean gap to OPT |")
print("|---|---:|")
for p in singles + ["auto"]:
    print(f"| {p} | {statistics.mean(c[2]['OPT'] - c[2][p] for c in cells):.2f} |")
print("\n## Shadow accuracy\n")
print("Each candidate's whole-run shadow hit ratio (sampled requests only) against its full replay.")
print("At the smaller sizes the rate is 1 (exact simulation); where the shadow capacity S·w̄/C < 1 the")
print("shadows are SHARDS samples.\n")
errs_full, errs_sampled = [], []
for trace, size, r, _, shadows, _ in cells:
    for name, value in shadows.items():
        key = name.replace("builtin:", "")
        if key in r:
            e = abs(value - r[key])
            (errs_sampled if size > 4096 else errs_full).append((e, trace, size, key))
for label, errs in (("rate 1 (size ≤ 4096)", errs_full), ("sampled (size > 4096)", errs_sampled)):
    if errs:
        m = max(errs)
        print(f"- {label}: {len(errs)} shadows, mean absolute error {statistics.mean(e[0] for e in errs):.2f} pp, "
              f"max {m[0]:.2f} pp ({m[3]} on {m[1]} at {m[2]})")
print("\n## Switches\n")
for trace, size, _, sw, _, path in cells:
    if sw:
        print(f"- {trace} at {size}: {path}")
