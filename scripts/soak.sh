#!/usr/bin/env bash
# The soak: goldylox serve with all three tiers (hot 64 MiB, warm 64 MiB,
# cold on disk) under scripts/soak.py's self-verifying clients for SECONDS
# (default 1800): values from 10 B to 1 MiB that embed key, version and
# CRC; 0 wrong values and 0 errors expected; RSS against the configured
# memory sampled every 10 s (the memory bound as an operator sees it).
#   bash scripts/soak.sh [SECONDS] [WORKERS]
# Needs redis-py (pip install redis).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
workers="${2:-8}"
cargo build --release -q -p goldylox-host
port=6395
work=$(mktemp -d)
cat > "$work/soak.toml" <<TOML
[cache]
memory_bytes = "64mb"
warm_bytes = "64mb"
[cache.cold]
capacity_bytes = "2gb"
segment_bytes = "32mb"
[log]
level = "warn"
TOML
./target/release/goldylox serve --config "$work/soak.toml" --port $port \
  --dir "$work/data" 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 scripts/soak.py --port $port --seconds "$seconds" --workers "$workers"
