#!/usr/bin/env bash
# Durable acknowledgements against Redis's: SET on goldylox serve with a
# write-through cold tier and sync = "always" (a reply waits for the fsync
# covering its write, group commit across clients) against
# redis-server --appendonly yes --appendfsync always, same machine, same
# run, both writing to the same file system (a scratch directory under
# $TMPDIR, or the one given). Prints CSV and the goldylox/redis ratios.
#   bash scripts/bench_durable.sh [DIR]
# Needs redis-server and redis-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "needs redis-server and redis-benchmark: apt-get install redis-server redis-tools" >&2; exit 1; }
cargo build --release -q -p goldylox-host
REDIS_PORT=6393 GX_PORT=6394
work=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/goldylox-durable.XXXXXX")
mkdir -p "$work/redis" "$work/goldylox"
cat > "$work/goldylox.toml" <<TOML
[cache]
warm_bytes = 0
[cache.cold]
sync = "always"
write_policy = "write-through"
[log]
level = "warn"
TOML
redis-server --port $REDIS_PORT --save "" --appendonly yes --appendfsync always \
  --dir "$work/redis" --bind 127.0.0.1 >/dev/null &
redis_pid=$!
./target/release/goldylox serve --config "$work/goldylox.toml" --port $GX_PORT \
  --dir "$work/goldylox/data" 2>"$work/serve.log" &
gx_pid=$!
trap 'kill $redis_pid $gx_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for port in $REDIS_PORT $GX_PORT; do
  for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
done
echo "file system: $(df -T "$work" | awk 'NR == 2 {print $2}')"
echo "server,config,rps,p50_ms,p99_ms"
declare -A rps
for cfg in "-d 100 -c 50 -P 1" "-d 100 -c 50 -P 16"; do
  for target in redis-server:$REDIS_PORT goldylox:$GX_PORT; do
    name=${target%%:*} port=${target##*:}
    # shellcheck disable=SC2086
    line=$(redis-benchmark -p "$port" -t set -n 100000 -r 100000 $cfg --csv -q \
      | tail -n 1 | tr -d '"')
    IFS=, read -r _ r _ _ p50 _ p99 _ <<<"$line"
    rps[$name$cfg]=$r
    echo "$name,$cfg,$r,$p50,$p99"
  done
  awk -v g="${rps[goldylox$cfg]}" -v r="${rps[redis-server$cfg]}" -v c="$cfg" \
    'BEGIN { printf "ratio goldylox/redis-server SET %s: %.2f\n", c, g / r }'
done
syncs=$(redis-cli -p $GX_PORT info persistence | tr -d '\r' | awk -F: '$1 == "cold_syncs" {print $2}')
echo "goldylox cold_syncs: $syncs for 200000 SETs"
