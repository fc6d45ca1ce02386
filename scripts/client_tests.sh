#!/usr/bin/env bash
# Test suites no one here wrote, against `goldylox serve`: redis-py's own
# test files (from its pinned PyPI source release, which ships tests/) and
# Django's own cache tests for its Redis backend (from Django's pinned
# source release), pass/fail/deselected per file. Any failure fails the run.
#   bash scripts/client_tests.sh                 # every suite below
#   bash scripts/client_tests.sh test_pipeline   # some redis-py files
# Tests are left out only through scripts/client_tests.skip, each with its
# reason (pytest --deselect). Tests redis-py marks `onlycluster` need a
# Redis Cluster at --redis-url and are not run (`-m "not onlycluster"`).
# GOLDYLOX_BIN: the binary to test (default: a release build of this
# checkout). CLIENT_TESTS_CACHE: where the virtualenv and the sources are
# kept between runs (default: target/client-tests).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
REDIS_PY=8.2.0
DJANGO=5.2.19
LIBCACHESIM=0.3.5
cache=${CLIENT_TESTS_CACHE:-$repo/target/client-tests}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test_commands test_pipeline test_lock test_scripting
  test_function test_pubsub test_keyspace_notifications test_cache django capture)
port=${GOLDYLOX_TEST_PORT:-6394}
bin=${GOLDYLOX_BIN:-}
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build --release -q -p goldylox-host)
  bin="$repo/target/release/goldylox"
fi
bin=$(realpath "$bin")

# A virtualenv with the pinned clients and test runners, and the sources.
mkdir -p "$cache"
venv="$cache/venv-$REDIS_PY-$DJANGO"
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "redis==$REDIS_PY" "django==$DJANGO" pytest pytest-asyncio \
    pytest-timeout packaging
fi
# libCacheSim reads the captures `GOLDYLOX TRACE` writes (suite `capture`).
if ! "$venv/bin/python" -c "import libcachesim" 2>/dev/null; then
  "$venv/bin/pip" install --quiet "libcachesim==$LIBCACHESIM"
fi
fetch() { # package version → its unpacked source release
  local dir="$cache/$1-$2"
  if [ ! -d "$dir" ]; then
    "$venv/bin/pip" download --quiet --no-deps --no-binary :all: "$1==$2" -d "$cache/dl"
    tar xzf "$cache/dl/$1-$2.tar.gz" -C "$cache"
  fi
  echo "$dir"
}
redis_py=$(fetch redis "$REDIS_PY")
django=$(fetch django "$DJANGO")

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" serve --port "$port" --dir "$work/data" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# The tests left out of `file`, one node id a line, from the skip list's
# "file | test id | reason" lines (scripts/client_tests_plugin.py applies
# them exactly).
deselect() {
  local file=$1 f id _reason
  trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; echo "${s%"${s##*[![:space:]]}"}"; }
  while IFS='|' read -r f id _reason; do
    f=$(trim "$f"); id=$(trim "${id:-}")
    [ -z "$f" ] || [ "${f:0:1}" = "#" ] && continue
    if [ "$f" = "$file" ]; then echo "tests/$file.py::$id"; fi
  done < "$repo/scripts/client_tests.skip"
}

failed=0
printf '%-28s %6s %6s %6s %6s\n' suite pass fail error desel
for f in "${files[@]}"; do
  log="$work/$f.log"
  set +e
  if [ "$f" = django ]; then
    mkdir -p "$work/django_settings"
    cat > "$work/django_settings/goldylox_settings.py" <<PY
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"},
             "other": {"ENGINE": "django.db.backends.sqlite3"}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": "redis://127.0.0.1:$port"}}
PY
    (cd "$django/tests" && PYTHONPATH="$work/django_settings" timeout 900 "$venv/bin/python" \
      runtests.py cache.tests.RedisCacheTests --settings=goldylox_settings --parallel 1 -v 2 > "$log" 2>&1)
    rc=$?
    pass=$(grep -c ' \.\.\. ok$' "$log" || true)
    fail=$(grep -c ' \.\.\. \(FAIL\|ERROR\)$' "$log" || true)
    errors=0; desel=0
  elif [ "$f" = capture ]; then
    # A capture of a redis-py client's workload, read by libCacheSim.
    (cd "$work" && GOLDYLOX_URL="redis://127.0.0.1:$port/0" timeout 300 "$venv/bin/python" \
      -m pytest -q -p no:cacheprovider -W ignore "$repo/scripts/test_capture_libcachesim.py" \
      -rfE --tb=short > "$log" 2>&1)
    rc=$?
    summary=$(tail -1 "$log")
    num() { grep -o "[0-9]\+ $1" <<<"$summary" | grep -o '[0-9]\+' || echo 0; }
    pass=$(num passed); fail=$(num failed); errors=$(num error); desel=$(num deselected)
  else
    deselect "$f" > "$work/$f.deselect"
    # Client-side caching needs RESP3.
    proto=(); [ "$f" = test_cache ] && proto=(--protocol=3)
    (cd "$redis_py" && GOLDYLOX_DESELECT="$work/$f.deselect" PYTHONPATH="$repo/scripts" \
      timeout 900 "$venv/bin/python" -m pytest -q -p no:cacheprovider -p client_tests_plugin -W ignore \
      --timeout 60 -m "not onlycluster" "${proto[@]+"${proto[@]}"}" \
      --redis-url="redis://127.0.0.1:$port/0" "tests/$f.py" -rfE --tb=short > "$log" 2>&1)
    rc=$?
    summary=$(tail -1 "$log")
    num() { grep -o "[0-9]\+ $1" <<<"$summary" | grep -o '[0-9]\+' || echo 0; }
    pass=$(num passed); fail=$(num failed); errors=$(num error); desel=$(num deselected)
  fi
  set -e
  if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$pass" -eq 0 ]; then
    failed=1
    grep -E '^(FAILED|ERROR)|\.\.\. (FAIL|ERROR)$' "$log" | head -20 >&2 || tail -20 "$log" >&2
  fi
  printf '%-28s %6s %6s %6s %6s\n' "$f" "$pass" "$fail" "$errors" "$desel"
done
if ! kill -0 "$server" 2>/dev/null; then
  echo "goldylox serve died during the run:" >&2
  tail -20 "$work/serve.log" >&2
  failed=1
fi
exit $failed
