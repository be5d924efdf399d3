#!/usr/bin/env bash
# Issue #10 item 7 on a Redis Cluster: the Redis-only store (no database) on a real cluster of
# three masters and three replicas (redis-server --cluster-enabled on loopback ports). For each N
# in REPLICAS (default 4): N chat-servers with --redis-cluster true, ROOMS rooms (default 400) of
# 4 members, every room's members on one replica (one chat-bench `rooms` run per replica, each
# with its own --room-prefix, RATE/N messages/s each; RATE default 400 in total, DURATION 10 s).
# Prints one JSON line per run to OUT and a summary line to stderr:
#   received_per_replica   pub/sub payloads each replica's subscriber received
#                          (chat_redis_pubsub_received_total): sharded pub/sub, so each hears
#                          its own rooms only
#   master_cpu_ms_per_msg  each master's CPU time (INFO cpu) over the run, per message sent
#   messages, errors, gaps, missing, p99_ms   from chat-bench
# The counts do not depend on load or on how fast the machine is; the CPU figures do.
#
#   loadtest/bench/cluster.sh OUT [REPLICAS...]
# CHAT_SERVER and CHAT_BENCH pick the binaries (default target/release/*), LABEL names the run,
# RATE, DURATION and ROOMS change the load.
# Needs: chat-server and chat-bench built, redis-server and redis-cli (7 or later), curl.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:?output file}
shift
if [ $# -gt 0 ]; then replica_counts=("$@"); else replica_counts=(4); fi
server=${CHAT_SERVER:-target/release/chat-server}
bench=${CHAT_BENCH:-target/release/chat-bench}
label=${LABEL:-$(git rev-parse --short HEAD)}
rate=${RATE:-400}
duration=${DURATION:-10}
rooms=${ROOMS:-400}

source loadtest/bench/lib.sh
# Only the processes this script started, by pid.
spids=()
node_pids=()
cleanup() {
  for p in "${spids[@]}" "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# A free port whose cluster bus port (10,000 higher) is free too: Redis refuses ports above 55535.
node_port() {
  python3 -c '
import random, socket
while True:
    port = random.randint(20000, 55535)
    try:
        for p in (port, port + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    print(port); break'
}

rdir=$(mktemp -d)
nodes=()
for i in $(seq 6); do
  port=$(node_port)
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 2000 \
    --save '' --appendonly no --dir "$rdir" --daemonize yes \
    --pidfile "$rdir/redis-$port.pid" --logfile "$rdir/redis-$port.log"
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && [ -s "$rdir/redis-$port.pid" ] && break
    sleep 0.1
  done
  node_pids+=("$(cat "$rdir/redis-$port.pid")")
  nodes+=("127.0.0.1:$port")
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
first=${nodes[0]##*:}
for _ in $(seq 100); do
  redis-cli -p "$first" cluster info | grep -q cluster_state:ok && break
  sleep 0.2
done
seeds=$(printf 'redis://%s,' "${nodes[@]}")
seeds=${seeds%,}
masters() { # ports of the masters
  redis-cli -p "$first" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]}' | sort -n
}
cpu_of() { redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }

for n in "${replica_counts[@]}"; do
  for m in $(masters); do redis-cli -p "$m" flushall >/dev/null; done
  start_replicas "$n" --redis-url "$seeds" --redis-cluster true
  master_ports=($(masters))
  before_recv=(); for p in "${ports[@]}"; do before_recv+=("$(received "$p")"); done
  cpu0=(); for m in "${master_ports[@]}"; do cpu0+=("$(cpu_of "$m")"); done
  run_shards "$rdir"
  sleep 1
  cpu1=(); for m in "${master_ports[@]}"; do cpu1+=("$(cpu_of "$m")"); done
  after_recv=(); for p in "${ports[@]}"; do after_recv+=("$(received "$p")"); done
  stop_replicas
  python3 - "$label" "$n" "$rooms" "$rate" "${cpu0[*]}" "${cpu1[*]}" \
    "${before_recv[*]}" "${after_recv[*]}" "$rdir"/bench-"$n"-*.json >>"$out" <<'PY'
import json, sys
label, n, rooms, rate, cpu0, cpu1, before, after = sys.argv[1:9]
runs = [json.loads(open(f).read()) for f in sys.argv[9:]]
sent = sum(r["acked"] for r in runs)
received = [int(float(a)) - int(float(b)) for a, b in zip(after.split(), before.split())]
cpu = [round((float(b) - float(a)) * 1000 / max(sent, 1), 4)
       for a, b in zip(cpu0.split(), cpu1.split())]
print(json.dumps({
    "label": label, "store": "redis-only on a cluster", "replicas": int(n), "rooms": int(rooms),
    "rate": float(rate), "messages": sent, "errors": sum(r["errors"] for r in runs),
    "gaps": sum(r["gaps"] for r in runs), "missing": sum(r["missing"] for r in runs),
    "received_per_replica": received, "master_cpu_ms_per_msg": cpu,
    "p99_ms": max(r["latency_ms"]["p99"] for r in runs),
}))
PY
  tail -n 1 "$out" >&2
done
