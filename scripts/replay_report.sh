#!/usr/bin/env bash
# Regenerates reports/hit-ratios.md and reports/*.svg: every built-in policy
# next to Belady's OPT on the shared traces, through `goldylox replay`.
#   bash scripts/replay_report.sh [../shared/traces]
set -euo pipefail
cd "$(dirname "$0")/.."
traces="${1:-../shared/traces}"
policies="builtin:lru,builtin:fifo,builtin:clock,builtin:sieve,builtin:s3fifo,builtin:arc,builtin:wtinylfu,builtin:lecar,opt"
cargo build --release -q -p goldylox-host
bin=target/release/goldylox
out=reports/hit-ratios.md
{
  echo "# Hit ratios of the built-in policies on the shared traces"
  echo
  echo "Made by \`bash scripts/replay_report.sh\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD)."
  echo "Every object weighs 1 (sizes in entries); OPT is Belady's; \"infinite\" is the ceiling of an unbounded cache."
  echo "LRU, FIFO, CLOCK, SIEVE, S3-FIFO and ARC equal libCacheSim 0.3.5 exactly; W-TinyLFU and LeCaR are held within 5 points of it, 1.5 and 0.5 on average (host/tests/host/conformance.rs)."
} > "$out"
while read -r file sizes; do
  [ -f "$traces/$file" ] || { echo "skipping $file (absent)" >&2; continue; }
  name=$(basename "$file"); name=${name%%.*}
  echo "== $file" >&2
  {
    echo
    echo "## $name"
    echo
    echo "\`goldylox replay --trace $file --sizes $sizes --policies $policies --svg reports/$name.svg\`"
    echo
    "$bin" replay --trace "$traces/$file" --sizes "$sizes" --policies "$policies" --svg "reports/$name.svg" | sed '$d'
    echo
    echo "![$name](./$name.svg)"
  } >> "$out"
done <<'LIST'
moka-cache-trace/OLTP.lis.zst 250,500,1000,2000,4000,8000,16000
moka-cache-trace/P3.lis.zst 1000,4000,16000,64000,256000
caffeine/lirs/gli.trace.gz 250,500,1000,1500,2000,2500
caffeine/lirs/multi2.trace.gz 250,500,1000,2000,3000,4000
caffeine/lirs/sprite.trace.gz 100,250,500,1000,2000
caffeine/lirs/loop.trace.gz 250,500,750,1000,1100
caffeine/lirs/2_pools.trace.gz 250,500,1000,2000,4000
libcachesim/cloudPhysicsIO.oracleGeneral.bin 500,1000,2000,4000,8000,16000
LIST
echo "wrote $out" >&2
