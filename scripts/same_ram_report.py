#!/usr/bin/env python3
"""Regenerates reports/same-ram.md: at the same RAM as redis-server, how many
requests hit? Each shared trace is replayed cache-aside (`goldylox bench
run`: GET, and SET on a miss) against redis-server 7 with `maxmemory` at
10 % and 40 % of the trace's footprint (allkeys-lru and allkeys-lfu), then
against goldylox configurations whose *measured* peak RSS is brought to at
most redis-server allkeys-lru's in the same run (their memory settings are
scaled, up to four runs, until they fit): hot only (S3-FIFO), hot + warm,
hot + warm + cold on disk, and `auto`. Values are incompressible. OPT at
the same budget (from `goldylox replay`) is the ceiling.

    python3 scripts/same_ram_report.py [--traces ../shared/traces] [--quick]

--quick runs one trace at one budget (a smoke run of the whole pipeline).
"""

import argparse
import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "goldylox"
REPORT = ROOT / "reports" / "same-ram.md"
BUDGETS = [0.10, 0.40]
CONNECTIONS, PIPELINE = 8, 16
# (path under the traces folder, value size for traces without sizes, extra bench args)
TRACES = [
    ("libcachesim/cloudPhysicsIO.oracleGeneral.bin", None, []),
    ("caffeine/adapt_size/request.trace.xz", None, []),
    ("moka-cache-trace/OLTP.lis.zst", 4096, []),
    ("caffeine/cache2k/orm-busy.trace.xz", 4096, ["--requests", "1000000"]),
]
# name -> (policy, hot share, warm share, cold on)
GOLDYLOX = {
    "goldylox hot (s3fifo)": ("wasm:s3fifo", 1.0, 0.0, False),
    "goldylox hot+warm": ("wasm:s3fifo", 0.5, 0.5, False),
    "goldylox hot+warm+cold": ("wasm:s3fifo", 0.5, 0.5, True),
    "goldylox auto": ("auto", 1.0, 0.0, False),
}
CALIBRATION_RUNS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on {port}")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def describe(trace, value_size, extra):
    args = [str(BIN), "bench", "describe", "--trace", str(trace)]
    if value_size:
        args += ["--value-size", str(value_size)]
    args += extra
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out)}


def bench(port, label, trace, value_size, extra, work):
    out_csv = work / "runs.csv"
    series = work / f"{re.sub(r'[^a-z0-9]+', '-', label.lower())}.csv"
    args = [str(BIN), "bench", "run", "--server", f"127.0.0.1:{port}", "--trace", str(trace),
            "--connections", str(CONNECTIONS), "--pipeline", str(PIPELINE), "--label", label,
            "--csv", str(out_csv), "--series", str(series)] + extra
    if value_size:
        args += ["--value-size", str(value_size)]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    with open(out_csv) as f:
        row = list(csv.DictReader(f))[-1]
    row["series"] = series
    return row


def redis_run(policy, budget, trace, value_size, extra, work):
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--maxmemory", str(budget), "--maxmemory-policy", f"allkeys-{policy}"],
                            cwd=work, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "redis-server")
        return bench(port, f"redis-server allkeys-{policy}", trace, value_size, extra, work)
    finally:
        stop(proc)


def goldylox_config(policy, hot, warm, cold, total, footprint, data):
    # The warm tier is at least 1 MiB when it is on, the hot tier too.
    warm_bytes = max(int(total * warm), 1 << 20) if warm else 0
    hot_bytes = max(total - warm_bytes, 1 << 20) if warm else max(int(total * hot), 1 << 20)
    cold_section = (f'[cache.cold]\nenabled = true\ndir = "{data}"\ncapacity_bytes = {max(footprint * 2, 1 << 26)}\n'
                    if cold else "[cache.cold]\nenabled = false\n")
    return (f'[cache]\nmemory_bytes = {hot_bytes}\nwarm_bytes = {warm_bytes}\n'
            f'policy = "{policy}"\n{cold_section}[log]\nlevel = "warn"\n')


def goldylox_run(name, total, footprint, trace, value_size, extra, work):
    policy, hot, warm, cold = GOLDYLOX[name]
    port = free_port()
    data = work / "cold"
    shutil.rmtree(data, ignore_errors=True)
    conf = work / "goldylox.toml"
    conf.write_text(goldylox_config(policy, hot, warm, cold, total, footprint, data))
    log_path = work / "serve.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([str(BIN), "serve", "--config", str(conf), "--port", str(port)],
                                cwd=work, stdout=log_file, stderr=log_file)
    try:
        if proc.poll() is None:
            time.sleep(0.2)
        if proc.poll() is not None:
            sys.exit(f"goldylox serve exited at start:\n{log_path.read_text()}")
        wait_port(port, proc, "goldylox serve")
        time.sleep(0.5)
        base = rss(proc.pid)
        row = bench(port, name, trace, value_size, extra, work)
        row["base_rss"] = base
        row["configured"] = total
        return row
    finally:
        stop(proc)


def calibrated(name, target, footprint, trace, value_size, extra, work, log):
    """The run of `name` whose peak RSS is at most `target`, its memory
    settings scaled from run to run; the leanest run, marked, if none fits."""
    total, runs = None, []
    for attempt in range(CALIBRATION_RUNS):
        if total is None:
            probe = goldylox_run(name, 8 << 20, footprint, trace, value_size, ["--requests", "1"], work)
            total = max(target - int(probe["base_rss"]), 1 << 20)
        row = goldylox_run(name, total, footprint, trace, value_size, extra, work)
        peak, base = int(row["peak_rss_bytes"]), int(row["base_rss"])
        log(f"    {name}: configured {total >> 20} MiB -> peak RSS {peak >> 20} MiB (target {target >> 20})")
        row["fits"] = peak <= target
        runs.append(row)
        if row["fits"] and peak >= 0.95 * target:
            break
        grown = max(peak - base, 1)
        total = max(int(total * (target - base) / grown * 0.99), 1 << 20)
    fitting = [r for r in runs if r["fits"]]
    if fitting:
        return max(fitting, key=lambda r: int(r["peak_rss_bytes"]))
    return min(runs, key=lambda r: int(r["peak_rss_bytes"]))


def opt_ratio(trace, budget, value_size, extra):
    """Belady's OPT at the budget: (hit ratio, byte hit ratio or None)."""
    size = f"{budget}B" if value_size is None else str(max(budget // value_size, 1))
    out = subprocess.run([str(BIN), "replay", "--trace", str(trace), "--sizes", size,
                          "--policies", "opt", "--csv"] + extra, check=True, capture_output=True,
                         text=True).stdout
    rows = list(csv.DictReader(line for line in out.splitlines() if "," in line))
    if not rows:
        return None
    row = rows[-1]
    bytes_ratio = row.get("OPT bytes")
    return float(row["OPT"]) / 100, (float(bytes_ratio) / 100 if bytes_ratio else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", default=str(ROOT.parent / "shared" / "traces"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "goldylox-host"], cwd=ROOT, check=True)
    traces = TRACES[:1] if args.quick else TRACES
    budgets = BUDGETS[:1] if args.quick else BUDGETS
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = ["# At the same RAM as Redis: hits, throughput, memory", "",
             f"Made by `python3 scripts/same_ram_report.py` on {time.strftime('%Y-%m-%d')} at commit {commit}, "
             f"on this machine (2 cores); `goldylox bench run` with {CONNECTIONS} connections, pipeline {PIPELINE}, "
             "incompressible values, cache-aside (GET; SET on a miss). goldylox's memory settings are scaled until "
             "its *measured* peak RSS is at most redis-server allkeys-lru's in the same run (RSS from /proc). "
             "req/s and p99 are relative to redis-server allkeys-lru. OPT is Belady's at the same budget "
             "(bytes for sized traces, entries of the value size otherwise), from `goldylox replay`.", ""]
    log = lambda m: print(m, file=sys.stderr, flush=True)
    cells = []
    body = []
    for rel, value_size, extra in traces:
        trace = Path(args.traces) / rel
        if not trace.exists():
            log(f"skipping {rel}: absent")
            continue
        info = describe(trace, value_size, extra)
        name = trace.name.split(".")[0]
        sizes = "object sizes from the trace" if value_size is None else f"{value_size}-byte values"
        cut = f", first {extra[1]} requests" if extra else ""
        body += [f"## {name}", "",
                  f"{info['requests']:,} requests{cut}, {info['objects']:,} objects, footprint "
                  f"{info['footprint_bytes'] / 2**20:,.0f} MiB ({sizes}).", ""]
        for frac in budgets:
            budget = int(info["footprint_bytes"] * frac)
            log(f"== {name} at {frac:.0%} ({budget >> 20} MiB)")
            work = Path(tempfile.mkdtemp(prefix="same-ram-"))
            try:
                rows = [redis_run(p, budget, trace, value_size, extra, work) for p in ("lru", "lfu")]
                target = int(rows[0]["peak_rss_bytes"])
                for g in GOLDYLOX:
                    rows.append(calibrated(g, target, info["footprint_bytes"], trace, value_size, extra, work, log))
                opt = opt_ratio(trace, budget, value_size, extra)
                chart = ROOT / "reports" / f"same-ram-{name}-{int(frac * 100)}.svg"
                subprocess.run([str(BIN), "bench", "chart", "--title", f"{name} at {frac:.0%} of its footprint",
                                "-o", str(chart)] + [str(r["series"]) for r in rows], check=True,
                               stdout=subprocess.DEVNULL)
                body += table(frac, budget, rows, opt, chart.name)
                cells.append((name, frac, rows))
                # Written after every cell, so a failure later keeps these.
                REPORT.write_text("\n".join(lines + summary(cells) + body) + "\n")
            finally:
                shutil.rmtree(work, ignore_errors=True)
    REPORT.write_text("\n".join(lines + summary(cells) + body) + "\n")
    log(f"wrote {REPORT}")


RAM_ONLY = ("goldylox hot (s3fifo)", "goldylox hot+warm", "goldylox auto")


def summary(cells):
    """The headline: per trace and budget, redis-server's hit ratios and
    goldylox's best RAM-only configuration that fit in redis-server's RSS."""
    out = ["## Summary", "",
           "goldylox's best RAM-only configuration (hot, hot + warm or auto) whose peak RSS fit within "
           "redis-server allkeys-lru's, against redis-server. The targets: hit ratio at least LRU's + 5 "
           "points and at least LFU's, throughput at least 0.9×.", "",
           "| trace | budget | redis LRU hit % | redis LFU hit % | goldylox best RAM-only | hit % | vs LRU | req/s × | targets |",
           "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for name, frac, rows in cells:
        lru, lfu = (float(r["hit_ratio"]) * 100 for r in rows[:2])
        fitting = [r for r in rows if r["label"] in RAM_ONLY and r.get("fits")]
        if not fitting:
            out.append(f"| {name} | {frac:.0%} | {lru:.2f} | {lfu:.2f} | none fit | | | | missed |")
            continue
        best = max(fitting, key=lambda r: float(r["hit_ratio"]))
        hit = float(best["hit_ratio"]) * 100
        speed = float(best["requests_per_s"]) / float(rows[0]["requests_per_s"])
        missed = [what for what, ok in (("LRU + 5", hit >= lru + 5), ("LFU", hit >= lfu), ("0.9×", speed >= 0.9))
                  if not ok]
        verdict = "met" if not missed else "missed: " + ", ".join(missed)
        out.append(f"| {name} | {frac:.0%} | {lru:.2f} | {lfu:.2f} | {best['label']} | {hit:.2f} | "
                   f"{hit - lru:+.2f} | {speed:.2f} | {verdict} |")
    return out + [""]


def table(frac, budget, rows, opt, chart):
    base = rows[0]
    ceiling = ""
    if opt is not None:
        ceiling = f"; OPT {opt[0] * 100:.2f} %" + (f", {opt[1] * 100:.2f} % of bytes" if opt[1] is not None else "")
    out = [f"### {frac:.0%} of the footprint: maxmemory {budget / 2**20:,.0f} MiB{ceiling}", "",
           "| server | peak RSS | hit % | byte hit % | req/s × | p99 ms | wrong | refused SETs |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        over = "" if r.get("fits", True) else " (over: did not fit)"
        out.append(f"| {r['label']}{over} | {int(r['peak_rss_bytes']) / 2**20:,.1f} MiB | "
                   f"{float(r['hit_ratio']) * 100:.2f} | {float(r['byte_hit_ratio']) * 100:.2f} | "
                   f"{float(r['requests_per_s']) / float(base['requests_per_s']):.2f} | "
                   f"{float(r['p99_us']) / 1000:.2f} | {r['wrong_values']} | {r['refused_sets']} |")
    out += ["", f"![{chart}](./{chart})", ""]
    return out


if __name__ == "__main__":
    main()
