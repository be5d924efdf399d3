#!/usr/bin/env bash
# Holds many WebSocket connections over several chat-server replicas on one Redis, runs a fanout
# in one room with members on every replica while they are held, probes /healthz and /readyz on
# every replica during the hold, and prints a table (plus one JSON line appended to OUT). docs/benchmarks.md
# ("Issue #10, round 2", 100,000 connections) was produced with it.
#
#   loadtest/bench/scale.sh REPLICAS CONNECTIONS [OUT]
#     REPLICAS     chat-server processes on one dedicated redis-server (fresh, empty)
#     CONNECTIONS  total client connections, fanout members included, spread evenly over the
#                  replicas (clients go round robin over every --url)
#
# A process here may hold at most 20,000 open files (the hard limit), so: each replica runs under
# `ulimit -n 20000` with the default --max-connections (19,000); the idle clients are split over
# several chat-bench processes of at most PER_BENCH (17,000) connections each, joined evenly to
# IDLE_ROOMS rooms, every socket bound round robin to one of SOURCE_ADDRS (127.0.0.2-127.0.0.9:
# one source address has ~28,000 ephemeral ports per server port). The processes start one after
# another, each once the previous one holds all its connections (PARALLEL=1: all at once; each
# waited for at most READY_SECS, 1200; every chat-bench's --max-secs is MAX_SECS, 2400; their
# --concurrency, handshakes in flight per process, is CONCURRENCY, 256). Then one
# more chat-bench joins
# FANOUT_MEMBERS (100 per replica) to one room and, once everything is held, sends FANOUT_RATE
# msg/s from FANOUT_SENDERS of them for FANOUT_SECS. RSS and CPU seconds of every replica and of
# Redis are read from /proc: at the start, with everything held, and after the fanout.
# Servers run like loadtest/bench/run.sh's (raised send, request, room and per-address limits,
# CHATAPP_GUEST_POSTING=true, RUST_LOG=warn). CHAT_SERVER and CHAT_BENCH pick other binaries.
# Needs: cargo build --release -p chat-server -p loadtest; redis-server, redis-cli, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

replicas=${1:?replicas}
total=${2:?connections}
out=${3:-/dev/null}
server=${CHAT_SERVER:-target/release/chat-server}
bench=${CHAT_BENCH:-target/release/chat-bench}
per_bench=${PER_BENCH:-17000}
idle_rooms=${IDLE_ROOMS:-10}
fanout_members=${FANOUT_MEMBERS:-$((100 * replicas))}
fanout_senders=${FANOUT_SENDERS:-10}
fanout_rate=${FANOUT_RATE:-200}
fanout_secs=${FANOUT_SECS:-5}
sources=${SOURCE_ADDRS:-127.0.0.2-127.0.0.9}
nofile=${NOFILE:-20000}
parallel=${PARALLEL:-0}
ready_secs=${READY_SECS:-1200}
max_secs=${MAX_SECS:-2400}
concurrency=${CONCURRENCY:-256}

idle=$((total - fanout_members))
if [ "$idle" -lt 0 ] || [ $((idle % idle_rooms)) -ne 0 ]; then
  echo "CONNECTIONS - FANOUT_MEMBERS ($idle) must be >= 0 and divide by IDLE_ROOMS ($idle_rooms)" >&2
  exit 2
fi

dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime + stime, in clock ticks (1/100 s)
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
metric() { curl -s -m 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

# Only the processes this script started, by pid.
redis_pid=
spids=()
bpids=()
probe_pid=
cleanup() {
  [ -d "$dir" ] && touch "$dir/stop" "$dir/go" "$dir/probe.stop"
  for p in "${bpids[@]}" $probe_pid; do kill "$p" 2>/dev/null || true; done
  for p in "${spids[@]}" $redis_pid; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_pid=$(cat "$dir/redis.pid")

ports=()
urls=()
for i in $(seq "$replicas"); do
  port=$(free_port)
  (
    ulimit -n "$nofile"
    exec env CHATAPP_GUEST_POSTING=true RUST_LOG=warn "$server" --listen "127.0.0.1:$port" \
      --redis-url "redis://127.0.0.1:$rport" --send-rate 100000 --send-burst 100000 \
      --address-send-rate 100000 --address-send-burst 100000 --max-connections-per-address 100000 \
      --max-rooms 10000 --rooms-per-address-per-hour 1000000 --request-rate 100000 \
      --request-burst 100000
  ) >"$dir/server-$i.log" 2>&1 &
  spids+=($!)
  ports+=("$port")
  urls+=(--url "ws://127.0.0.1:$port/ws")
done
for port in "${ports[@]}"; do
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
done

sample() { # name: RSS (kB) and CPU ticks of every replica, then Redis; connections per replica
  { for p in "${spids[@]}" "$redis_pid"; do echo "$(rss_kb "$p") $(cpu_ticks "$p")"; done; } >"$dir/$1.proc"
  { for port in "${ports[@]}"; do metric "$port" chat_connections; done; } >"$dir/$1.conns"
}
sample start

wait_ready() { # bench index: until it holds all its connections (or READY_SECS pass)
  local b=$1
  for _ in $(seq $((ready_secs * 10))); do
    [ -e "$dir/idle-$b.ready" ] && break
    kill -0 "${bpids[$b]}" 2>/dev/null || { echo "idle chat-bench $b stopped:" >&2; cat "$dir/idle-$b.out" >&2; exit 1; }
    sleep 0.1
  done
  echo "idle chat-bench $b: $(cat "$dir/idle-$b.ready" 2>/dev/null || echo "not ready after $ready_secs s") (connected failed), $(date -u +%T)" >&2
}

# The idle clients, each chat-bench holding until $dir/stop exists: one after another (each
# once the previous one holds all its connections), or all at once with PARALLEL=1.
benches=$(((idle + per_bench - 1) / per_bench))
[ "$benches" -gt 0 ] || benches=0
held_since=$(date +%s.%N)
for b in $(seq 0 $((benches - 1))); do
  # Sizes in whole rooms; the first ones take the rooms left over.
  rooms_total=$((idle / idle_rooms))
  per=$((rooms_total / benches + (b < rooms_total % benches ? 1 : 0)))
  n=$((per * idle_rooms))
  args=(connect --connections "$n" --rooms "$idle_rooms" "${urls[@]}" --source-addrs "$sources"
    --hold-secs 0 --concurrency "$concurrency" --ready-file "$dir/idle-$b.ready" --hold-until "$dir/stop" --max-secs "$max_secs" --json)
  echo "chat-bench ${args[*]}" >"$dir/idle-$b.cmd"
  ( ulimit -n "$nofile"; exec "$bench" "${args[@]}" ) >"$dir/idle-$b.out" 2>&1 &
  bpids+=($!)
  [ "$parallel" = 1 ] || wait_ready "$b"
done
if [ "$parallel" = 1 ]; then
  for b in $(seq 0 $((benches - 1))); do wait_ready "$b"; done
fi

# The fanout room, with members on every replica; it sends once $dir/go exists.
fargs=(fanout --members "$fanout_members" --senders "$fanout_senders" --rate "$fanout_rate"
  --duration "$fanout_secs" --hold-secs 0 "${urls[@]}" --source-addrs "$sources"
  --ready-file "$dir/fanout.ready" --hold-until "$dir/go" --max-secs "$max_secs" --json)
( ulimit -n "$nofile"; exec "$bench" "${fargs[@]}" ) >"$dir/fanout.out" 2>&1 &
fanout_pid=$!
bpids+=("$fanout_pid")
for _ in $(seq $((ready_secs * 10))); do
  [ -e "$dir/fanout.ready" ] && break
  kill -0 "$fanout_pid" 2>/dev/null || { echo "fanout chat-bench stopped:" >&2; cat "$dir/fanout.out" >&2; exit 1; }
  sleep 0.1
done
held_s=$(python3 -c "import time; print(round(time.time() - $held_since, 1))")
echo "fanout chat-bench: $(cat "$dir/fanout.ready") (connected failed); everything held after ${held_s} s" >&2

# /healthz on every replica, every 0.2 s, from now to the end of the fanout.
(
  while [ ! -e "$dir/probe.stop" ]; do
    for i in "${!ports[@]}"; do
      for path in healthz readyz; do
        curl -s -o /dev/null -m 5 -w "$i %{http_code} %{time_total}\n" \
          "http://127.0.0.1:${ports[$i]}/$path" >>"$dir/$path.log" || echo "$i 000 5" >>"$dir/$path.log"
      done
    done
    sleep 0.2
  done
) &
probe_pid=$!
sleep 2
sample held
touch "$dir/go"
wait "$fanout_pid" || true
sample after
touch "$dir/probe.stop"
wait "$probe_pid" 2>/dev/null || true
probe_pid=
touch "$dir/stop"
for p in "${bpids[@]}"; do wait "$p" 2>/dev/null || true; done
bpids=()

python3 - "$dir" "$replicas" "$total" "$benches" "$held_s" "$fanout_members" "$fanout_rate" \
  "$fanout_secs" "chat-bench ${fargs[*]}" "$0 $*" >>"$out" <<'PY'
import json, os, re, sys
d, replicas, total, benches, held_s, fmembers, frate, fsecs, fcmd, cmd = sys.argv[1:11]
replicas, benches = int(replicas), int(benches)

def proc(name):
    rows = [l.split() for l in open(os.path.join(d, name + ".proc"))]
    return [(int(r[0]), int(r[1]) / 100) for r in rows]

def conns(name):
    return [int(float(l)) if l.strip() else None for l in open(os.path.join(d, name + ".conns"))]

def last_json(path):
    for line in reversed(open(path).read().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None

start, held, after = proc("start"), proc("held"), proc("after")
held_conns = conns("held")
def probe_log(name):
    probes = {}
    path = os.path.join(d, name + ".log")
    for line in open(path) if os.path.exists(path) else []:
        i, code, t = line.split()
        probes.setdefault(int(i), []).append((code, float(t) * 1000))
    return probes
probes, ready = probe_log("healthz"), probe_log("readyz")
per_replica = []
for i in range(replicas):
    rss0, cpu0 = start[i]
    rss1, cpu1 = held[i]
    _, cpu2 = after[i]
    n = held_conns[i] or 0
    p = probes.get(i, [])
    ok = sorted(t for c, t in p if c == "200")
    warnings = {}
    log = os.path.join(d, f"server-{i + 1}.log")
    for line in open(log, errors="replace") if os.path.exists(log) else []:
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if " WARN " in line:
            what = re.sub(r"^\S+\s+WARN\s+", "", line).strip()[:80]
            warnings[what] = warnings.get(what, 0) + 1
    per_replica.append(dict(
        warnings=warnings, connections=n, rss_mib=round(rss1 / 1024, 1),
        rss_per_conn_kib=round((rss1 - rss0) / n, 1) if n else None,
        cpu_connect_s=round(cpu1 - cpu0, 2), cpu_fanout_s=round(cpu2 - cpu1, 2),
        healthz_ok=len(ok), healthz_probes=len(p),
        readyz_ok=sum(1 for c, _ in ready.get(i, []) if c == "200"), readyz_probes=len(ready.get(i, [])),
        healthz_p50_ms=round(ok[len(ok) // 2], 1) if ok else None,
        healthz_max_ms=round(ok[-1], 1) if ok else None))
redis = dict(rss_mib=round(held[-1][0] / 1024, 1), cpu_connect_s=round(held[-1][1] - start[-1][1], 2),
             cpu_fanout_s=round(after[-1][1] - held[-1][1], 2))
idle = []
for b in range(benches):
    r = last_json(os.path.join(d, f"idle-{b}.out")) or {}
    idle.append(dict(command=open(os.path.join(d, f"idle-{b}.cmd")).read().strip(),
                     connections=r.get("connections"), failures=r.get("connect_failures"),
                     errors=r.get("errors"), error_codes=r.get("error_codes"),
                     connect_s=r.get("connect_s"), client_cpu_s=r.get("client_cpu_s")))
f = last_json(os.path.join(d, "fanout.out")) or {}
fan = dict(command=fcmd, members=f.get("connections"), failures=f.get("connect_failures"),
           deliveries_per_s=f.get("deliveries_per_s"), delivered=f.get("delivered"),
           expected=f.get("expected_deliveries"), p50_ms=(f.get("latency_ms") or {}).get("p50"),
           p99_ms=(f.get("latency_ms") or {}).get("p99"), max_ms=(f.get("latency_ms") or {}).get("max"),
           errors=f.get("errors"), error_codes=f.get("error_codes"), gaps=f.get("gaps"))
reached = sum(x["connections"] or 0 for x in idle) + (fan["members"] or 0)
report = dict(command=cmd, replicas=replicas, asked=int(total), reached=reached,
              held_after_s=float(held_s), per_replica=per_replica, redis=redis, idle=idle, fanout=fan)

w = sys.stderr.write
w(f"\n{cmd}: {reached} of {total} connections held over {replicas} replicas after {held_s} s\n")
w("| replica | connections | RSS MiB | RSS/conn KiB | CPU s (connect) | CPU s (fanout) | /healthz ok | p50 ms | max ms | /readyz ok |\n|---|---|---|---|---|---|---|---|---|---|\n")
for i, r in enumerate(per_replica):
    w(f"| {i} | {r['connections']} | {r['rss_mib']} | {r['rss_per_conn_kib']} | {r['cpu_connect_s']} | {r['cpu_fanout_s']} | {r['healthz_ok']}/{r['healthz_probes']} | {r['healthz_p50_ms']} | {r['healthz_max_ms']} | {r['readyz_ok']}/{r['readyz_probes']} |\n")
for i, r in enumerate(per_replica):
    for what, count in r["warnings"].items():
        w(f"replica {i} logged {count}x: {what}\n")
w(f"| redis | | {redis['rss_mib']} | | {redis['cpu_connect_s']} | {redis['cpu_fanout_s']} | | | | |\n")
for i, b in enumerate(idle):
    w(f"idle {i}: {b['connections']} connected, {b['failures']} failed, errors {b['errors']} {b['error_codes']}, connect {b['connect_s']} s, bench CPU {b['client_cpu_s']} s\n")
w(f"fanout: {fan['members']} members, {fan['deliveries_per_s']} deliveries/s, p50 {fan['p50_ms']} p99 {fan['p99_ms']} max {fan['max_ms']} ms, delivered {fan['delivered']}/{fan['expected']}, errors {fan['errors']} {fan['error_codes']}, gaps {fan['gaps']}\n")
print(json.dumps(report))
PY
rm -rf "$dir"
