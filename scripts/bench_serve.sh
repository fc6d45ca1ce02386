#!/usr/bin/env bash
# goldylox serve (its default configuration: three tiers) against Debian's
# redis-server, same machine, same run, same redis-benchmark command
# (TESTING.md D5; the issue's figure is the first):
#   bash scripts/bench_serve.sh            # -d 100 -c 50 -P 16
#   bash scripts/bench_serve.sh full       # also -d 4096, -c 200, -P 1
#   bash scripts/bench_serve.sh matrix     # -P 16 and -P 1, each with -d 100
#                                          # and -d 4096 (performance_report.sh)
#   PIN=1 bash scripts/bench_serve.sh ...  # pinned per core: each server on
#                                          # core 0, redis-benchmark on core 1
# Needs redis-server and redis-tools (apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "needs redis-server and redis-benchmark: apt-get install redis-server redis-tools" >&2; exit 1; }
cargo build --release -q -p goldylox-host
REDIS_PORT=6391 GX_PORT=6392
for port in $REDIS_PORT $GX_PORT; do
  if timeout 2 redis-cli -p $port ping >/dev/null 2>&1; then
    echo "port $port is taken (an earlier run still going?)" >&2; exit 1
  fi
done
work=$(mktemp -d)
# Pinned per core (PIN=1): both servers are confined to core 0 and the
# client to core 1 (taskset), so neither server shares a core with the
# client and the figure is per core, the one that predicts a larger
# machine. Unpinned, the client and the server share both cores.
server_cpu=() client_cpu=()
if [ "${PIN:-0}" = 1 ]; then
  command -v taskset >/dev/null || { echo "PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs two cores" >&2; exit 1; }
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi
# The embedded default (hot + warm + cold, as `goldylox serve` runs it),
# quieter, with its data directory in the scratch directory, and the same
# memory as redis-server gets: its 1 GB maxmemory is goldylox's hot tier.
# (With the default 256 MB hot tier, -d 4096's 100 k keys spill into the
# warm tier and the run measures tier movement rather than the server;
# reports/performance-profiles.md has those figures.)
printf '[log]\nlevel = "warn"\n[cache]\nmemory_bytes = "1gb"\n' > "$work/goldylox.toml"
${server_cpu[@]+"${server_cpu[@]}"} redis-server --port $REDIS_PORT --save "" --appendonly no --bind 127.0.0.1 \
  --maxmemory 1gb --maxmemory-policy allkeys-lru >/dev/null &
redis_pid=$!
${server_cpu[@]+"${server_cpu[@]}"} ./target/release/goldylox serve --config "$work/goldylox.toml" --port $GX_PORT \
  --dir "$work/data" 2>"$work/serve.log" &
gx_pid=$!
trap 'kill $redis_pid $gx_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for port in $REDIS_PORT $GX_PORT; do
  ok=
  for _ in $(seq 100); do
    timeout 2 redis-cli -p $port ping 2>/dev/null | grep -q PONG && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "nothing answers PING on port $port" >&2; exit 1; }
done
configs=("-d 100 -c 50 -P 16")
case "${1:-}" in
  full) configs+=("-d 4096 -c 50 -P 16" "-d 100 -c 200 -P 16" "-d 100 -c 50 -P 1") ;;
  matrix) configs+=("-d 4096 -c 50 -P 16" "-d 100 -c 50 -P 1" "-d 4096 -c 50 -P 1") ;;
  "") ;;
  *) echo "usage: $0 [full|matrix]" >&2; exit 2 ;;
esac
# What each server spends per request, from perf stat on its process while
# the test runs: CPU time (task-clock, every thread, user and kernel), and
# instructions and last-level cache misses where the machine exposes
# hardware counters (`perf stat -e instructions true` says; on this
# project's virtual machine it says <not supported>, and those columns are
# empty). CPU time per request is the per-core figure without the
# scheduler's say: a server that sleeps while the client works is not
# charged for it.
counters=""
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  counters=task-clock
  if perf stat -x, -e instructions,LLC-load-misses true 2>&1 >/dev/null \
      | grep -qv "not supported"; then
    counters=task-clock,instructions,LLC-load-misses
  fi
fi
pid_of() { redis-cli -p "$1" info server | tr -d '\r' | sed -n 's/^process_id://p'; }
# perf stat's total for `event` in `file` (-x, output), or empty.
counted() { awk -F, -v e="$2" '$3 == e && $1 ~ /^[0-9.]+$/ {print $1}' "$1"; }
echo "server,test,config,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms,cpu_ns_per_req,instructions_per_req,llc_misses_per_req"
# GOLDYLOX_FIRST=1 runs goldylox before redis-server in each configuration
# (the report alternates, so neither always gets the warmer machine).
targets="redis-server:$REDIS_PORT goldylox:$GX_PORT"
[ "${GOLDYLOX_FIRST:-0}" = 1 ] && targets="goldylox:$GX_PORT redis-server:$REDIS_PORT"
# The configuration as the CSV names it: pinned runs say so.
label_of() { if [ "${PIN:-0}" = 1 ]; then echo "$1 pinned"; else echo "$1"; fi; }
for cfg in "${configs[@]}"; do
  for target in $targets; do
    name=${target%%:*} port=${target##*:}
    redis-cli -p "$port" flushall >/dev/null
    # Unpipelined runs are slower per request: fewer requests, similar time.
    case "$cfg" in *"-P 1") n=300000 ;; *) n=1000000 ;; esac
    # SET first, so that GET finds the keys.
    for test in set get; do
      stat="$work/perf.csv"
      if [ -n "$counters" ]; then
        perf stat -x, -e "$counters" -p "$(pid_of "$port")" -o "$stat" -- sleep 100000 2>/dev/null &
        perf_pid=$!
        sleep 0.2
      fi
      # shellcheck disable=SC2086
      # A server that stops answering fails the run instead of hanging it.
      line=$(timeout 900 ${client_cpu[@]+"${client_cpu[@]}"} redis-benchmark -p "$port" -t $test -n $n \
        -r 100000 $cfg --csv -q | tail -n +2 | tr -d '"')
      extra=",,"
      if [ -n "$counters" ]; then
        # perf stat ends, and writes its counts, when its `sleep` does (a
        # background job of a script ignores SIGINT).
        pkill -P "$perf_pid" sleep || true
        wait "$perf_pid" 2>/dev/null || true
        per() {
          local v; v=$(counted "$stat" "$1")
          [ -z "$v" ] || awk -v v="$v" -v n="$n" -v s="$2" 'BEGIN {printf "%.1f", v * s / n}'
        }
        extra="$(per task-clock 1000000),$(per instructions 1),$(per LLC-load-misses 1)"
      fi
      echo "$line,$extra" | sed "s/^/$name,/; s/,/,$(label_of "$cfg"),/2"
    done
  done
done
