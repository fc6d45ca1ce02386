#!/usr/bin/env bash
# Goldylox beyond one machine, on loopback: both topologies, and TLS.
#
#   1. Redis Cluster: three nodes sharing the slots (cluster.toml), driven
#      by redis-benchmark --cluster; against one node alone.
#   2. twemproxy: nutcracker (twemproxy.yml) in front of three plain nodes
#      (plain.toml); against one node directly.
#   3. TLS: one node with a TLS listener beside the plain one (a self-signed
#      certificate made here with openssl); TLS against plain.
#
# Each part prints ops/s and, for the topologies, the keys per node
# (goldylox cluster info). Everything it starts is stopped on exit.
# On a 2-core machine a three-node cluster shows the cost of redirection
# and of sharing the cores, not scaling.
#
# Usage: examples/cluster/run.sh [requests]   (default 200000)
# Needs: redis-benchmark and redis-cli (redis-tools), nutcracker, openssl.
# GOLDYLOX_BIN names the binary (default: target/release/goldylox, built
# if missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
requests="${1:-200000}"
# Absolute: the nodes run in directories of their own.
bin="$(realpath -m "${GOLDYLOX_BIN:-$root/target/release/goldylox}")"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p goldylox-host --bin goldylox)
fi
for tool in redis-benchmark redis-cli nutcracker openssl; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS…: a goldylox node in its own directory.
start() {
  local name="$1"; shift
  mkdir -p "$work/$name"
  (cd "$work/$name" && exec "$bin" serve "$@" >"$work/$name.log" 2>&1) &
  pids+=($!)
}
# ready PORT [redis-cli args…]: waits (up to a minute) until PORT answers
# PING; if it does not, shows the nodes' logs.
ready() {
  local port="$1"; shift
  for _ in $(seq 1 600); do
    if redis-cli -p "$port" "$@" PING 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "port $port did not answer" >&2
  tail -n 5 "$work"/*.log >&2
  exit 1
}
# bench NAME ARGS…: redis-benchmark SET and GET; sets NAME_set and NAME_get
# (ops/s). A failed run, or one without both figures, ends the script: a
# figure is never printed empty.
bench() {
  local name=$1 out figures s g
  shift
  if ! out=$(redis-benchmark "$@" -t set,get -n "$requests" -r 100000 -d 100 -c 50 -P 16 -q 2>&1); then
    echo "redis-benchmark $* failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  figures=$(tr '\r' '\n' <<<"$out" \
    | awk '/^(SET|GET): [0-9.]+ requests per second/ {printf "%s ", $2} END {print ""}')
  read -r s g <<<"$figures"
  if [ -z "${s:-}" ] || [ -z "${g:-}" ] || ! awk -v s="$s" -v g="$g" 'BEGIN { exit !(s > 0 && g > 0) }'; then
    echo "redis-benchmark $* gave no SET and GET figures:" >&2
    echo "$out" >&2
    exit 1
  fi
  printf -v "${name}_set" '%s' "$s"
  printf -v "${name}_get" '%s' "$g"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

common=(--config)
echo "== 1. Redis Cluster: 3 nodes (cluster.toml) against 1 node"
i=1
for name in a b c; do
  start "node-$name" "${common[@]}" "$here/cluster.toml" --node "$name" --port "700$i" --dir data
  i=$((i + 1))
done
start single "${common[@]}" "$here/plain.toml" --port 7021 --dir data
for port in 7001 7002 7003 7021; do ready "$port"; done
bench cluster --cluster -p 7001
bench single -p 7021
echo "3-node cluster: SET $cluster_set GET $cluster_get ops/s"
echo "1 node:         SET $single_set GET $single_get ops/s"
echo "ratio cluster/single: SET $(ratio "$cluster_set" "$single_set") GET $(ratio "$cluster_get" "$single_get")"
"$bin" cluster info 127.0.0.1:7001

echo
echo "== 2. twemproxy: nutcracker in front of 3 plain nodes, against 1 node directly"
for i in 1 2 3; do
  start "plain-$i" "${common[@]}" "$here/plain.toml" --port "701$i" --dir data
done
for port in 7011 7012 7013; do ready "$port"; done
nutcracker -c "$here/twemproxy.yml" -s 22222 -o "$work/nutcracker.log" &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p 22121 SET probe 1 2>/dev/null | grep -q OK && break
  sleep 0.05
done
bench proxy -p 22121
echo "through nutcracker: SET $proxy_set GET $proxy_get ops/s"
echo "1 node directly:    SET $single_set GET $single_get ops/s"
echo "ratio proxy/direct: SET $(ratio "$proxy_set" "$single_set") GET $(ratio "$proxy_get" "$single_get")"
"$bin" cluster info 127.0.0.1:7011 127.0.0.1:7012 127.0.0.1:7013

echo
echo "== 3. TLS against plain on one node"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/server.key" -out "$work/server.crt" 2>/dev/null
cat >"$work/tls.toml" <<EOF
[server]
listen = "127.0.0.1:7031"
[server.tls]
listen = "127.0.0.1:7032"
cert = "$work/server.crt"
key = "$work/server.key"
[cache]
memory_bytes = "256mb"
warm_bytes = 0
[cache.cold]
enabled = false
EOF
start tls --config "$work/tls.toml"
ready 7031
ready 7032 --tls --cacert "$work/server.crt"
bench tls --tls --cacert "$work/server.crt" -p 7032
bench plain -p 7031
echo "TLS:   SET $tls_set GET $tls_get ops/s"
echo "plain: SET $plain_set GET $plain_get ops/s"
echo "ratio tls/plain: SET $(ratio "$tls_set" "$plain_set") GET $(ratio "$tls_get" "$plain_get")"
