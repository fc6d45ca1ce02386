#!/usr/bin/env bash
# Builds every policy crate in policies/ as a WebAssembly core module
# exporting the goldylox:policy/eviction-policy world (through the SDK's
# export_eviction_policy!). A host turns the module into a component with the
# wit-component crate (or `wasm-tools component new`).
#   bash scripts/build_policies.sh   ->  target/wasm32-unknown-unknown/policy/*.wasm
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null
for dir in policies/*/; do
  name=$(basename "$dir")
  [ "$name" = sdk ] && continue
  cargo rustc -q -p "goldylox-policy-$name" --target wasm32-unknown-unknown --profile policy --crate-type cdylib
done
ls -l target/wasm32-unknown-unknown/policy/*.wasm
