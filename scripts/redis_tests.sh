#!/usr/bin/env bash
# Redis 7.0.15's own test suite (../shared/redis-tests, unmodified) in
# external mode against `goldylox serve` (issue #13): one file at a time,
# pass / fail / skip per file, and the line where a file stopped.
#   bash scripts/redis_tests.sh                    # the files of issue #13
#   bash scripts/redis_tests.sh unit/type/string   # some files
# Needs tclsh (apt-get install tcl). A test is skipped only through
# scripts/redis_tests.skip, each entry with its reason.
# GOLDYLOX_BIN: the binary to test (default: a release build of this
# checkout). REDIS_TESTS_GATE: the files whose failure fails the run
# (default: all); the others are run and reported (CI gates the files that
# pass completely, so none of them can regress). REDIS_TESTS_LOGS: a
# directory to keep each file's full log in.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
suite="$repo/../shared/redis-tests"
[ -d "$suite" ] || { echo "needs $suite (the shared Redis test suite)" >&2; exit 1; }
command -v tclsh >/dev/null || { echo "needs tclsh: apt-get install tcl" >&2; exit 1; }
files=("$@")
# unit/auth is not listed: external mode skips all its tests, and a gated file
# that runs none fails.
[ ${#files[@]} -gt 0 ] || files=(unit/type/string unit/type/incr unit/expire unit/keyspace
  unit/scan unit/protocol unit/info-command unit/quit unit/type/hash
  unit/type/list unit/type/list-2 unit/type/list-3 unit/type/set unit/type/zset unit/sort
  unit/bitops unit/bitfield unit/pubsub unit/multi unit/scripting unit/functions
  unit/tracking unit/pause unit/slowlog unit/latency-monitor unit/introspection
  unit/introspection-2)
port=${GOLDYLOX_TEST_PORT:-6393}
# Seconds a single test may go without progress (the slowest test of the
# gated files takes under 10 s with a debug binary).
stall=${REDIS_TESTS_STALL:-120}
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill "$server" 2>/dev/null; then
    # A server that does not stop within 10 s (a test left it stuck) is
    # killed, so that no stray server outlives the run.
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
bin=${GOLDYLOX_BIN:-}
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build --release -q -p goldylox-host)
  bin="$repo/target/release/goldylox"
fi
bin=$(realpath "$bin")
gate=${REDIS_TESTS_GATE:-${files[*]}}
cp -r "$suite" "$work/redis-tests"
# The skip list: "file | test name | reason" or "tag | TAG | reason" lines.
skips=()
trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; echo "${s%"${s##*[![:space:]]}"}"; }
while IFS='|' read -r file name _reason; do
  file=$(trim "$file"); name=$(trim "${name:-}")
  if [ -z "$file" ] || [ "${file:0:1}" = "#" ]; then continue; fi
  skips+=("$file|$name")
done < "$repo/scripts/redis_tests.skip"

"$bin" serve --port "$port" --dir "$work/data" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

failed=0
printf '%-22s %5s %5s %5s %5s  %s\n' file gated pass fail skip note
for f in "${files[@]}"; do
  args=()
  for s in "${skips[@]+"${skips[@]}"}"; do
    case "${s%%|*}" in
      tag) args+=(--tags "-${s#*|}") ;;
      "$f") args+=(--skiptest "${s#*|}") ;;
    esac
  done
  log="$work/$(echo "$f" | tr / _).log"
  set +e
  # --ignore-encoding: Redis's internal encodings (listpack, hashtable, …)
  # are not Goldylox's; the skip list names the tests that need them anyway.
  # --timeout: a test that makes no progress for that long (a client left
  # blocked) ends the file with a [TIMEOUT] report naming the test, well
  # before the outer limit on the whole file.
  (cd "$work/redis-tests" && timeout "${REDIS_TESTS_TIMEOUT:-900}" tclsh tests/test_helper.tcl --host 127.0.0.1 \
    --port "$port" --singledb --ignore-encoding --timeout "$stall" --single "$f" \
    "${args[@]+"${args[@]}"}" > "$log" 2>&1)
  rc=$?
  set -e
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  pass=$(grep -c '^\[ok\]' <<<"$clean" || true)
  fail=$(grep -c '^\[\(err\|exception\)\]' <<<"$clean" || true)
  skip=$(grep -c '^\[\(skip\|ignore\)\]' <<<"$clean" || true)
  note=""
  gated=no
  case " $gate " in *" $f "*) gated=yes ;; esac
  # A file that ran no test proves nothing: a gated one fails.
  if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ] || { [ "$pass" -eq 0 ] && [ "$gated" = yes ]; }; then
    [ "$gated" = yes ] && failed=1
    note=$(grep -m1 -A3 '^\[\(err\|exception\)\]\|^Expected\|ERR ' <<<"$clean" | tr '\n' ' ' | cut -c1-160 || true)
    if grep -q '^\[TIMEOUT\]' <<<"$clean"; then
      note="no progress for ${stall} s: $(grep -m1 -A1 '^\[TIMEOUT\]' <<<"$clean" | tail -1 | cut -c1-120)"
    elif [ "$rc" -eq 124 ]; then
      note="timed out after ${REDIS_TESTS_TIMEOUT:-900} s; last passed: $(grep '^\[ok\]' <<<"$clean" | tail -1 | cut -c7-120)"
    fi
    [ "$fail" -eq 0 ] && fail=1
  fi
  printf '%-22s %5s %5s %5s %5s  %s\n' "$f" "$gated" "$pass" "$fail" "$skip" "$note"
  # A failing file shows what it printed besides its passes (CI keeps only
  # this output); REDIS_TESTS_VERBOSE shows it for every file.
  if [ -n "$note" ] || [ -n "${REDIS_TESTS_VERBOSE:-}" ]; then
    grep -v '^\[ok\]' <<<"$clean" | sed -n 1,40p
  fi
  if [ -n "${REDIS_TESTS_LOGS:-}" ]; then mkdir -p "$REDIS_TESTS_LOGS" && cp "$log" "$REDIS_TESTS_LOGS/"; fi
done
exit $failed
