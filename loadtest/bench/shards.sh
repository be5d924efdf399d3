#!/usr/bin/env bash
# Issue #10 item 7: what each replica hears from Redis as replicas are added. For each N in
# REPLICAS (default 1 2 4): N chat-servers on one fresh Redis, ROOMS rooms (default 400) of 4
# members, every room's members on one replica (one chat-bench `rooms` run per replica, each with
# its own --room-prefix, RATE/N messages/s each; RATE default 400 in total, DURATION 10 s). Prints
# one JSON line per run to OUT and a summary line to stderr:
#   received_per_replica  pub/sub payloads each replica's subscriber received
#                         (chat_redis_pubsub_received_total; a server without that metric, such
#                         as b2c1963, subscribed to `<prefix>:events` only, so it is what an
#                         observer subscribed to that channel received)
#   events_channel        payloads on `<prefix>:events` (an observing redis-cli)
#   redis_cpu_ms_per_msg, redis_out_bytes_per_msg   Redis's CPU time and output bytes over the
#                         run, per message sent (INFO cpu / stats)
# The counts do not depend on load or on how fast the machine is; the CPU figures do.
#
#   loadtest/bench/shards.sh OUT [REPLICAS...]
# CHAT_SERVER and CHAT_BENCH pick the binaries (default target/release/*), LABEL names the run
# (e.g. before / after), RATE, DURATION and ROOMS change the load.
# Needs: chat-server and chat-bench built, redis-server and redis-cli, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:?output file}
shift
if [ $# -gt 0 ]; then replica_counts=("$@"); else replica_counts=(1 2 4); fi
server=${CHAT_SERVER:-target/release/chat-server}
bench=${CHAT_BENCH:-target/release/chat-bench}
label=${LABEL:-$(git rev-parse --short HEAD)}
rate=${RATE:-400}
duration=${DURATION:-10}
rooms=${ROOMS:-400}

source loadtest/bench/lib.sh
# Only the processes this script started, by pid.
spids=()
observer=
redis_pid=
cleanup() {
  for p in "${spids[@]}" $observer $redis_pid; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

rport=$(free_port)
rdir=$(mktemp -d)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$rdir" \
  --daemonize yes --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log"
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_pid=$(cat "$rdir/redis.pid")

redis_cpu() { redis-cli -p "$rport" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
redis_out() { redis-cli -p "$rport" info stats | tr -d '\r' | awk -F: '/^total_net_output_bytes:/ {print $2}'; }

for n in "${replica_counts[@]}"; do
  redis-cli -p "$rport" flushall >/dev/null
  start_replicas "$n" --redis-url "redis://127.0.0.1:$rport"
  events_log="$rdir/events-$n.log"
  redis-cli -p "$rport" subscribe chatapp:events >"$events_log" &
  observer=$!
  sleep 0.5
  before_recv=(); for p in "${ports[@]}"; do before_recv+=("$(received "$p")"); done
  cpu0=$(redis_cpu); out0=$(redis_out)
  run_shards "$rdir"
  sleep 1
  cpu1=$(redis_cpu); out1=$(redis_out)
  after_recv=(); for p in "${ports[@]}"; do after_recv+=("$(received "$p")"); done
  kill "$observer" 2>/dev/null || true
  wait "$observer" 2>/dev/null || true
  observer=
  stop_replicas
  python3 - "$label" "$n" "$rooms" "$rate" "$cpu0" "$cpu1" "$out0" "$out1" "$events_log" \
    "${before_recv[*]:-}" "${after_recv[*]:-}" "$rdir"/bench-"$n"-*.json >>"$out" <<'PY'
import json, sys
label, n, rooms, rate, cpu0, cpu1, out0, out1, events_log, before, after = sys.argv[1:12]
runs = [json.loads(open(f).read()) for f in sys.argv[12:]]
sent = sum(r["acked"] for r in runs)
with open(events_log) as f:
    lines = f.read().split("\n")
# redis-cli prints each message as three lines: "message", the channel, the payload.
events = sum(1 for i, l in enumerate(lines) if l == "message" and i + 1 < len(lines))
if after.split() and all(after.split()):
    received = [int(float(a)) - int(float(b)) for a, b in zip(after.split(), before.split())]
else:
    received = [events] * int(n)
print(json.dumps({
    "label": label, "replicas": int(n), "rooms": int(rooms), "rate": float(rate),
    "messages": sent, "errors": sum(r["errors"] for r in runs),
    "gaps": sum(r["gaps"] for r in runs), "missing": sum(r["missing"] for r in runs),
    "received_per_replica": received, "events_channel": events,
    "redis_cpu_ms_per_msg": round((float(cpu1) - float(cpu0)) * 1000 / max(sent, 1), 4),
    "redis_out_bytes_per_msg": round((int(out1) - int(out0)) / max(sent, 1), 1),
    "p99_ms": max(r["latency_ms"]["p99"] for r in runs),
}))
PY
  tail -n 1 "$out" >&2
done
