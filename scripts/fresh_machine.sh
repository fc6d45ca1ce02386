#!/usr/bin/env bash
# The README's run command on a machine whose pinned toolchain lacks the
# wasm32 target (issue #13): removes the target, runs the command from a
# fresh clone, and checks that the server answers and the target is back.
#   bash scripts/fresh_machine.sh              # remove the wasm32 target
#   bash scripts/fresh_machine.sh --toolchain  # uninstall the whole pinned
#                                              # toolchain first (downloads it)
# Compiled dependencies are reused from this checkout's target directory, so
# only the host and the policies are rebuilt (about 2 minutes, not 12).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$repo/rust-toolchain.toml")
target=wasm32-unknown-unknown
port=${GOLDYLOX_FRESH_PORT:-6397}
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

if [ "${1:-}" = "--toolchain" ]; then
  echo "== uninstalling the toolchain $toolchain"
  rustup toolchain uninstall "$toolchain"
else
  echo "== removing $target from the toolchain $toolchain"
  rustup target remove --toolchain "$toolchain" "$target" 2>&1 || true
fi
if rustup target list --toolchain "$toolchain" --installed 2>/dev/null | grep -qx "$target"; then
  echo "FAIL: the target is still installed; nothing to show" >&2
  exit 1
fi

git clone -q "$repo" "$work/goldylox"
cd "$work/goldylox"
echo "== the README's run command, from a fresh clone (log: $work/serve.log)"
CARGO_TARGET_DIR="$repo/target" cargo run --release -p goldylox-host -- serve \
  --port "$port" --dir "$work/data" > "$work/serve.log" 2>&1 &
server=$!
ready=
for _ in $(seq 900); do
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "FAIL: the server did not start; the log says:" >&2
  tail -40 "$work/serve.log" >&2
  exit 1
fi
reply=$(printf 'PING\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; head -c 7 <&3")
grep -a "wasm32\|listening\|hot \|warm \|cold \|recovery" "$work/serve.log" || true
if [ "${reply%$'\r'}" != "+PONG" ]; then
  echo "FAIL: PING got ${reply@Q}" >&2
  exit 1
fi
rustup target list --toolchain "$toolchain" --installed | grep -qx "$target" || {
  echo "FAIL: the server runs but the target was not installed" >&2; exit 1; }
if grep -q "panicked" "$work/serve.log"; then
  echo "FAIL: the build panicked" >&2; exit 1
fi
echo "PASS: the build installed $target in one announced step and the server answers PONG"
