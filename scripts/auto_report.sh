#!/usr/bin/env bash
# Regenerates reports/auto.md: `auto` (the selector racing every built-in
# policy on shadow caches) against every single policy and Belady's OPT, on
# every shared trace this build reads, at four sizes per trace (0.5 %, 2 %,
# 8 % and 32 % of the trace's distinct keys), in one run. Also reports each
# candidate's whole-run shadow hit ratio against its full replay (the
# shadows' accuracy at the sample rates used) and the switches.
#   bash scripts/auto_report.sh [../shared/traces]
set -euo pipefail
cd "$(dirname "$0")/.."
traces="${1:-../shared/traces}"
cargo build --release -q -p goldylox-host
bin=target/release/goldylox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
policies="builtin:s3fifo,builtin:lru,builtin:sieve,builtin:fifo,builtin:clock,builtin:arc,builtin:wtinylfu,builtin:lecar,auto,opt"
found=0
for file in $(cd "$traces" && find . -type f \( -name '*.trace.gz' -o -name '*.lis.zst' \
    -o -name '*oracleGeneral*' -o -name '*.csv' -o -name '*.txt' \) \
    ! -name 'LICENSE*' ! -name 'SOURCES*' ! -name 'README*' | sed 's|^\./||' | sort); do
  name=$(echo "$file" | tr '/' '_')
  # The four sizes, from the number of distinct keys the trace holds.
  distinct=$("$bin" replay --trace "$traces/$file" --sizes 1 --policies builtin:fifo --csv 2>&1 >/dev/null \
    | sed -n 's/.* requests, \([0-9]*\) distinct keys/\1/p')
  [ -n "$distinct" ] || { echo "skipping $file (unreadable)" >&2; continue; }
  sizes=$(python3 -c "d=$distinct; print(','.join(str(max(10, int(d*f))) for f in (0.005, 0.02, 0.08, 0.32)))")
  echo "== $file ($distinct distinct; sizes $sizes)" >&2
  "$bin" replay --trace "$traces/$file" --sizes "$sizes" --policies "$policies" --csv \
    > "$work/$name.csv" 2> "$work/$name.err"
  found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "no traces under $traces" >&2; exit 1; }
python3 scripts/auto_summary.py "$work" "$(git rev-parse --short HEAD)" > reports/auto.md
echo "wrote reports/auto.md" >&2
