#!/usr/bin/env bash
# The hot-swap storm: SWAPS (default 1000) swaps of the hot tier's policy,
# one every 50 ms, alternating a faulty component (examples/faulty/
# evict-traps.wat: it traps the first time it is asked for victims) and
# the built-in s3fifo component, while redis-benchmark loads the server.
# Expected: 0 client errors, every swap accepted, and one live component
# instance at the end (the faulty ones are dropped when they trap, the
# replaced ones when they are swapped out).
#   bash scripts/swap_storm.sh [SWAPS]
set -euo pipefail
cd "$(dirname "$0")/.."
swaps="${1:-1000}"
cargo build --release -q -p goldylox-host
port=6398
work=$(mktemp -d)
faulty="$PWD/examples/faulty/evict-traps.wat"
# Small tiers, so the load evicts all the time and each faulty policy is
# asked for victims (and traps) within milliseconds of its swap.
cat > "$work/storm.toml" <<TOML
[cache]
memory_bytes = "16mb"
warm_bytes = "16mb"
policy = "wasm:s3fifo"
[cache.cold]
enabled = false
[log]
level = "warn"
TOML
./target/release/goldylox serve --config "$work/storm.toml" --port $port \
  2>"$work/serve.log" &
pid=$!
bench=
cleanup() {
  [ -n "$bench" ] && kill "$bench" 2>/dev/null
  kill $pid 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
field() { redis-cli -p $port info | tr -d '\r' | sed -n "s/^$1://p"; }
rss_before=$(field used_memory_rss)

# -l loops until stopped; redis-benchmark exits at the first error reply.
redis-benchmark -p $port -t set,get -d 1000 -r 1000000 -c 50 -P 16 -l -q \
  >"$work/bench.out" 2>&1 &
bench=$!
sleep 2
accepted=0
refused=0
started=$(date +%s.%N)
for i in $(seq "$swaps"); do
  if (( i % 2 )); then spec="$faulty"; else spec=wasm:s3fifo; fi
  reply=$(redis-cli -p $port GOLDYLOX POLICY SWAP hot "$spec" 2>&1)
  case "$reply" in
    hot:*) accepted=$((accepted + 1)) ;;
    *) refused=$((refused + 1)); echo "swap $i ($spec): $reply" >>"$work/refused" ;;
  esac
  sleep 0.05
done
ended=$(date +%s.%N)
sleep 1
if kill -0 "$bench" 2>/dev/null; then
  kill "$bench"
  stopped_early=0
else
  stopped_early=1
fi
wait "$bench" 2>/dev/null || true
bench=

errors=$(tr '\r' '\n' <"$work/bench.out" | grep -c -i -E "error|reset|refused" || true)
requests=$(field total_commands_processed)
echo "$accepted swaps accepted, $refused refused, in $(echo "$ended - $started" | bc) s"
[ -f "$work/refused" ] && head -5 "$work/refused"
echo "redis-benchmark: $errors error lines, stopped early: $stopped_early ($requests commands served)"
tr '\r' '\n' <"$work/bench.out" | grep -i -E "error|reset|refused" | head -5 || true
echo "hot policy now: $(field hot_policy) ($(field hot_policy_state)), swaps $(field hot_policy_swaps), failures $(field hot_policy_failures)"
echo "fallback evictions: $(field policy_fallback_evictions)"
echo "live component instances: $(field policy_instances_live)"
echo "RSS: $((rss_before >> 20)) MiB before, $(($(field used_memory_rss) >> 20)) MiB after"
live=$(field policy_instances_live)
[ "$refused" -eq 0 ] && [ "$errors" -eq 0 ] && [ "$stopped_early" -eq 0 ] && [ "$live" -eq 1 ]
