#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another,
# with cargo-fuzz on the nightly toolchain (installed through rustup if
# missing, like the pinned toolchain). New inputs go to fuzz/work/<target>
# (not committed); a crash is saved under fuzz/artifacts/<target>/ and
# stops the run. Reports each target's executions and coverage.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
rustup toolchain list | grep -q '^nightly' \
  || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The engine's targets (fuzz/) and the host's (fuzz/host/, which build
# wasmtime): TARGET names one; none: all of both.
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz; cargo +nightly fuzz list --fuzz-dir fuzz/host)
fi
for t in "${targets[@]}"; do
  dir=fuzz
  [ -f "fuzz/host/fuzz_targets/$t.rs" ] && dir=fuzz/host
  mkdir -p "fuzz/work/$t" "fuzz/corpus/$t"
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir "$dir" "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|ERROR|panicked|SUMMARY" || true
  if [ -n "$(ls -A "$dir/artifacts/$t" 2>/dev/null)" ]; then
    echo "$t: crash saved in $dir/artifacts/$t" >&2
    exit 1
  fi
done
