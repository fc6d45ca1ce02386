#!/usr/bin/env bash
# What a live capture costs the server: redis-benchmark SET and GET against
# one `goldylox serve` with capture off, at rate 0.01 and at rate 1, the
# three interleaved in each round (this machine is noisy: a ratio is taken
# within a round, the median over rounds reported), with the records each
# capture kept and dropped.
#   bash scripts/bench_capture.sh            # ROUNDS=3, -d 100 -c 50 -P 16
#   ROUNDS=5 ARGS="-d 100 -c 50 -P 1" bash scripts/bench_capture.sh
# Needs redis-tools (redis-benchmark, redis-cli).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || { echo "needs redis-tools" >&2; exit 1; }
cargo build --release -q -p goldylox-host
rounds=${ROUNDS:-3}
args=${ARGS:--d 100 -c 50 -P 16}
requests=${REQUESTS:-1000000}
port=6393
work=$(mktemp -d)
printf '[log]\nlevel = "warn"\n[cache]\nmemory_bytes = "1gb"\n' > "$work/goldylox.toml"
./target/release/goldylox serve --config "$work/goldylox.toml" --port $port --dir "$work/data" \
  2> "$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
# Fill the key space once so that GETs hit.
# shellcheck disable=SC2086
redis-benchmark -p $port -t set -n 200000 -r 100000 $args -q > /dev/null
results="$work/results.csv"
for round in $(seq "$rounds"); do
  for mode in off 0.01 1; do
    if [ "$mode" != off ]; then
      redis-cli -p $port goldylox trace start rate "$mode" file "$work/c.oracleSysTwrNS.bin" > /dev/null
    fi
    # shellcheck disable=SC2086
    out=$(redis-benchmark -p $port -t set,get -n "$requests" -r 100000 $args -q --csv)
    kept=- dropped=-
    if [ "$mode" != off ]; then
      stop=$(redis-cli -p $port goldylox trace stop | head -1)
      kept=$(grep -o 'records=[0-9]*' <<<"$stop" | cut -d= -f2)
      dropped=$(grep -o 'dropped=[0-9]*' <<<"$stop" | cut -d= -f2)
    fi
    for test in SET GET; do
      rps=$(grep "^\"$test\"" <<<"$out" | cut -d, -f2 | tr -d '"')
      echo "$round,$mode,$test,$rps,$kept,$dropped" >> "$results"
    done
    echo "round $round, capture $mode: $(tr '\n' ' ' <<<"$out" | tr -d '"') kept=$kept dropped=$dropped" >&2
  done
done
python3 - "$results" "$args" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
print(f"capture overhead, redis-benchmark {sys.argv[2]}: requests/s (median of rounds), ratio to capture off within each round")
print("| test | off | rate 0.01 | ratio | rate 1 | ratio | records kept / dropped at rate 1 (last round) |")
print("|---|---:|---:|---:|---:|---:|---|")
for test in ("SET", "GET"):
    by = {}
    for r, mode, t, rps, kept, dropped in rows:
        if t == test:
            by.setdefault(r, {})[mode] = (float(rps), kept, dropped)
    med = lambda m: statistics.median(v[m][0] for v in by.values())
    ratio = lambda m: statistics.median(v[m][0] / v["off"][0] for v in by.values())
    last = by[max(by)]["1"]
    print(f"| {test} | {med('off'):.0f} | {med('0.01'):.0f} | {ratio('0.01'):.3f} | {med('1'):.0f} | {ratio('1'):.3f} | {last[1]} / {last[2]} |")
PY
