#!/usr/bin/env bash
# Runs chat-bench scenarios against fresh release chat-servers on loopback and appends one JSON
# line per run to OUT (the chat-bench report plus the command, the backend and the CPU seconds of
# every server process and of Redis). docs/benchmarks.md was produced with it.
#
#   loadtest/bench/run.sh BACKEND OUT [REPEATS] [SCENARIO ...]
#     BACKEND   memory (one in-memory server) | redis (one server on Redis) | replicas (two
#               servers on one Redis) | durable (one server on Redis + PostgreSQL) |
#               durable-replicas (two servers on one Redis + one PostgreSQL)
#     SCENARIO  a name from the table below (default: every one that fits the backend); a name
#               ending in -signals runs with typing and read receipts on (chat-bench --signals,
#               one registered user's --cookie, 999 more readers seeded in Redis); support-*
#               runs the support desk (issue #15: the servers get CHATAPP_SUPPORT_AGENTS=bench-agent,
#               CHATAPP_GUEST_SUPPORT=true and, for --register, CHATAPP_CLIENT_ADDRESS_HEADER so
#               chat-bench's sign-ups each count against their own X-Forwarded-For); not in the
#               default list, name it
#
# Every run gets a fresh server (and an empty Redis, and for durable a new database), so RSS figures start from the same point
# and no run inherits another's history. Servers run with raised send limits (--send-rate and
# --send-burst 100000, the most chat-server allows: the default 10/s, burst 20 per connection is
# for people, not a benchmark), raised request and room-creation limits (the `rooms` scenarios
# create every room from one connection), CHATAPP_GUEST_POSTING=true (chat-bench's clients are
# guests; on a chat that requires accounts chat-bench stops before it starts) and RUST_LOG=warn. CHAT_SERVER and CHAT_BENCH pick other
# binaries, e.g. a build of an older commit for a before/after pair.
# Needs: cargo build --release -p chat-server -p loadtest; redis-server and redis-cli; curl; for
# durable, PostgreSQL's server binaries (scripts/test.sh installs them) and psql. PostgreSQL runs
# with its defaults (fsync on, synchronous_commit on): an ack waits for the WAL flush.
set -euo pipefail
cd "$(dirname "$0")/../.."

backend=${1:?backend: memory|redis|replicas|durable|durable-replicas}
out=${2:?output file}
repeats=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
server=${CHAT_SERVER:-target/release/chat-server}
bench=${CHAT_BENCH:-target/release/chat-bench}

declare -A scenario=(
  [connect]="connect --connections 5000"
  [connect-10k]="connect --connections 10000"
  [rooms-100x5]="rooms --rooms 100 --members 5 --senders 1 --rate 1000 --duration 5"
  [seed450]="seed450"
  [seed450-c100]="seed450 --concurrency 100"
  [fanout-100x1k]="fanout --members 100 --senders 10 --rate 1000 --duration 5"
  [fanout-100x2k]="fanout --members 100 --senders 10 --rate 2000 --duration 5"
  [fanout-100x4k]="fanout --members 100 --senders 10 --rate 4000 --duration 5"
  [fanout-1000x100]="fanout --members 1000 --senders 10 --rate 100 --duration 5"
  [fanout-1000x400]="fanout --members 1000 --senders 10 --rate 400 --duration 5"
  [fanout-1000x400-signals]="fanout --members 1000 --senders 10 --rate 400 --duration 5 --signals"
  [fanout-100x500-2k]="fanout --members 100 --senders 10 --rate 500 --size 2000 --duration 5"
  [rooms-200x5]="rooms --rooms 200 --members 5 --senders 1 --rate 2000 --duration 5"
  [rooms-200x5-5k]="rooms --rooms 200 --members 5 --senders 1 --rate 5000 --duration 5"
  [rooms-200x5-10k]="rooms --rooms 200 --members 5 --senders 1 --rate 10000 --duration 5"
  [rooms-200x5-15k]="rooms --rooms 200 --members 5 --senders 1 --rate 15000 --duration 5"
  [rooms-200x5-max]="rooms --rooms 200 --members 5 --senders 1 --rate 0 --duration 5"
  [replicas-200x5]="replicas --rooms 200 --members 5 --senders 1 --rate 2000 --duration 5"
  [replicas-200x5-5k]="replicas --rooms 200 --members 5 --senders 1 --rate 5000 --duration 5"
  [replicas-200x5-max]="replicas --rooms 200 --members 5 --senders 1 --rate 0 --duration 5"
  [support-200]="support --clients 200 --take 20 --rate 100 --duration 10"
  [support-200-registered]="support --clients 200 --take 20 --rate 100 --duration 10 --register"
  [support-1000]="support --clients 1000 --take 20 --rate 500 --duration 10"
)
if [ $# -gt 0 ]; then
  names=("$@")
elif [ "$backend" = replicas ] || [ "$backend" = durable-replicas ]; then
  names=(replicas-200x5 replicas-200x5-max)
else
  names=(connect seed450 seed450-c100 fanout-100x1k fanout-100x2k fanout-100x4k fanout-1000x100
    fanout-1000x400 rooms-200x5 rooms-200x5-max)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime + stime, in clock ticks (1/100 s)
redis_pid=
spids=()
# Only the processes this script started, by pid.
pg_pid=
cleanup() {
  for p in "${spids[@]}" $redis_pid; do kill "$p" 2>/dev/null || true; done
  [ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null || true
}
trap cleanup EXIT

if [ "$backend" != memory ]; then
  rport=$(free_port)
  rdir=$(mktemp -d)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$rdir" \
    --daemonize yes --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log"
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis_pid=$(cat "$rdir/redis.pid")
fi

db_url=
if [[ "$backend" == durable* ]]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$pgbin" ] || pgbin=$(dirname "$(command -v pg_ctl)")
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  pport=$(free_port)
  pdir=$(mktemp -d)
  [ "$(id -u)" = 0 ] && chown postgres "$pdir"
  as_pg "$pgbin/initdb" -D "$pdir/data" -U postgres -A trust >/dev/null
  as_pg "$pgbin/pg_ctl" -D "$pdir/data" -l "$pdir/pg.log" -w \
    -o "-p $pport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pdir" start >/dev/null
  pg_pid=$(head -n1 "$pdir/data/postmaster.pid")
fi

start_server() { # port; sets started_pid (no subshell: the server stays our child)
  local flags=(--listen "127.0.0.1:$1" --send-rate 100000 --send-burst 100000
    --address-send-rate 100000 --address-send-burst 100000 --max-connections-per-address 100000
    --max-connections 20000 --max-rooms 10000 --rooms-per-address-per-hour 1000000
    --request-rate 100000 --request-burst 100000)
  [ -n "$redis_pid" ] && flags+=(--redis-url "redis://127.0.0.1:$rport")
  [ -n "$db_url" ] && flags+=(--database-url "$db_url")
  # Variables, not flags: an older CHAT_SERVER (before accounts, before the support desk)
  # ignores them. Only support runs get the support settings, so other runs stay as they were.
  local support=()
  [[ "$name" == support* ]] && support=(CHATAPP_SUPPORT_AGENTS=bench-agent CHATAPP_GUEST_SUPPORT=true
    CHATAPP_CLIENT_ADDRESS_HEADER=X-Forwarded-For)
  env "${support[@]}" CHATAPP_GUEST_POSTING=true RUST_LOG=warn "$server" "${flags[@]}" >/dev/null 2>&1 &
  started_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
}

for name in "${names[@]}"; do
  for run in $(seq "$repeats"); do
    [ -n "$redis_pid" ] && redis-cli -p "$rport" flushall >/dev/null
    n=1; [[ "$backend" == *replicas ]] && n=2
    if [ -n "$pg_pid" ]; then
      db="bench_${name//-/_}_$run"
      psql -q -h 127.0.0.1 -p "$pport" -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      db_url="postgres://postgres@127.0.0.1:$pport/$db"
    fi
    urls=()
    spids=()
    for _ in $(seq "$n"); do
      port=$(free_port)
      start_server "$port"
      spids+=("$started_pid"); urls+=(--url "ws://127.0.0.1:$port/ws")
    done
    args=(${scenario[$name]} "${urls[@]}" --server-pid "${spids[0]}" --json)
    if [[ "$name" == *-signals ]]; then
      # Read receipts are for signed-in users: every client is one registered user, and the
      # room's read positions hold 999 more readers (Redis), so receipts count and name a full room.
      cookie=$(curl -s -i -X POST -H 'Content-Type: application/json' \
        -d '{"username":"bench","password":"benchmark password","display_name":"Bench"}' \
        "http://127.0.0.1:$port/api/register" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')
      args+=(--cookie "$cookie")
      if [ -n "$redis_pid" ] && [ -z "$pg_pid" ]; then
        readers=(); for i in $(seq 999); do readers+=("reader$i" "1 Reader $i"); done
        redis-cli -p "$rport" HSET chatapp:room:bench-fanout:reads "${readers[@]}" >/dev/null
      fi
    fi
    before=$(for p in "${spids[@]}" $redis_pid; do cpu_ticks "$p"; done | paste -sd' ')
    line=$("$bench" "${args[@]}" | tail -n 1)
    after=$(for p in "${spids[@]}" $redis_pid; do cpu_ticks "$p"; done | paste -sd' ')
    for p in "${spids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
    [ -n "$pg_pid" ] && python3 - "$pport" "$db" >&2 <<'PY' || true
import subprocess, sys
port, db = sys.argv[1:3]
q = "SELECT count(*), count(DISTINCT (room, off)), max(off) FROM messages"
print("durable: stored, distinct, max offset:", subprocess.run(["psql", "-tA", "-h", "127.0.0.1", "-p", port, "-U", "postgres", db, "-c", q], capture_output=True, text=True).stdout.strip())
PY
    python3 - "$backend" "$name" "$run" "chat-bench ${args[*]}" "$before" "$after" "$line" \
      "${redis_pid:+1}" >>"$out" <<'PY'
import json, sys
backend, name, run, cmd, before, after, line, has_redis = sys.argv[1:9]
r = json.loads(line)
cpu = [(int(a) - int(b)) / 100 for a, b in zip(after.split(), before.split())]
r.update(backend=backend, name=name, run=int(run), command=cmd,
         redis_cpu_s=cpu.pop() if has_redis else None, servers_cpu_s=cpu)
print(json.dumps(r))
PY
    tail -n 1 "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
if r["scenario"] == "support":
    print(r["backend"], r["name"], r["run"], "queue p99", r["queue_latency_ms"]["p99"], "agent p99", r["agent_latency_ms"]["p99"], "unreflected", r["queue_unreflected"], "err", r["errors"], "cpu srv", r["servers_cpu_s"], "bench", r["client_cpu_s"])
else:
    print(r["backend"], r["name"], r["run"], "conn/s", r["connections_per_s"], "deliv/s", r["deliveries_per_s"], "p99", r["latency_ms"]["p99"], "err", r["errors"], "gaps", r["gaps"], "cpu srv", r["servers_cpu_s"], "bench", r["client_cpu_s"])' >&2
  done
done
