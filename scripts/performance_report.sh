#!/usr/bin/env bash
# Regenerates reports/performance.md and its charts (reports/perf-*.svg):
# every performance target of the project next to its peers, measured in the
# same run on this machine, ROUNDS times (medians reported, each ratio taken
# within one round):
#   * engine vs moka and quick_cache: get-hit and 90/10 throughput by thread
#     count, RSS per resident entry      (cargo bench --bench peers);
#   * goldylox serve vs redis-server: redis-benchmark SET/GET at -P 16 and
#     -P 1, -d 100 and -d 4096, unpinned and pinned per core, with CPU time
#     per request                        (scripts/bench_serve.sh matrix);
#   * component vs native policy, per event   (cargo bench --bench sandbox);
#   * hot + warm vs hot alone, entries per RSS byte, and the hit costs
#                                        (cargo bench --bench tiers).
#   bash scripts/performance_report.sh            # ROUNDS=3 THREADS="1 2 4"
#   ROUNDS=1 SECS=1 bash scripts/performance_report.sh   # a quick look
# Needs redis-server and redis-tools; the component rows need the wasm32
# target (without it the sandbox table says "not built").
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-2}
threads=${THREADS:-1 2 4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the benchmarks ..." >&2
cargo build --release -q -p goldylox-host
cargo bench -q --no-run -p goldylox --bench peers --bench tiers
cargo bench -q --no-run -p goldylox-host --bench sandbox

figures="$work/figures.csv"
serve="$work/serve.csv"
: > "$figures"
: > "$serve"
# Keeps the REPORT lines of a bench's output, prefixed with the round.
keep() { { grep '^REPORT,' || true; } | sed "s/^REPORT,/$1,/" >> "$figures"; }
for round in $(seq "$rounds"); do
  echo "== round $round of $rounds" >&2
  for t in $threads; do
    # RSS per entry does not depend on the thread count: measure it once.
    memory=--no-memory
    [ "$t" = 2 ] && memory=
    # shellcheck disable=SC2086
    cargo bench -q -p goldylox --bench peers -- --threads "$t" --secs "$secs" \
      --rotate "$((round - 1))" $memory | keep "$round"
  done
  cargo bench -q -p goldylox-host --bench sandbox -- --only-per-event | keep "$round"
  cargo bench -q -p goldylox --bench tiers -- --only-memory | keep "$round"
  # Alternate which server goes first in each round.
  # Both ways: unpinned (client and server share the two cores), and
  # pinned per core (each server on core 0, redis-benchmark on core 1).
  for pin in 0 1; do
    PIN=$pin GOLDYLOX_FIRST=$((round % 2 == 0 ? 1 : 0)) bash scripts/bench_serve.sh matrix \
      | tail -n +2 | sed "s/^/$round,/" >> "$serve"
  done
done

{
  # Changes under reports/ (this report's own output, the notes beside it)
  # do not change what was measured.
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':(exclude)reports' || echo ' (with uncommitted changes)')"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)"
  echo "cores=$(nproc)"
  echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "rustc=$(rustc --version)"
  echo "redis=$(redis-server --version | sed 's/ sha=.*//')"
  echo "rounds=$rounds"
  echo "secs=$secs"
} > "$work/machine.txt"
# The raw figures stay beside the report, so the summary can be rewritten
# without measuring again: python3 scripts/performance_summary.py
# reports/performance-data reports
mkdir -p reports/performance-data
cp "$figures" "$serve" "$work/machine.txt" reports/performance-data/
python3 scripts/performance_summary.py reports/performance-data reports
echo "wrote reports/performance.md (raw figures in reports/performance-data)" >&2
