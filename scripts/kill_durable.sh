#!/usr/bin/env bash
# The SIGKILL loop of acknowledged-means-durable, longer than CI runs it:
# goldylox serve (write-through, sync = "always") killed N times under
# pipelined SETs from four connections; after each restart every write
# that got its +OK must be there.
#   bash scripts/kill_durable.sh [N]      # default 1000
set -euo pipefail
cd "$(dirname "$0")/.."
GOLDYLOX_KILL_ROUNDS="${1:-1000}" cargo test --release -p goldylox-host --test host \
  -- serve_durable --nocapture
