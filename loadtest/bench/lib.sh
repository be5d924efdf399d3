# What the Redis scaling benchmarks (shards.sh, cluster.sh) share; sourced, after they set
# `server`, `bench`, `rooms`, `rate`, `duration` and `spids`.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_replicas N ARGS...: N chat-servers with ARGS (the store) on free ports, every per-client
# and per-address limit raised so that only the load decides, each ready before the next starts.
# Appends their pids to `spids` and sets `ports`.
start_replicas() {
  local n=$1 port
  shift
  ports=()
  for _ in $(seq "$n"); do
    port=$(free_port)
    CHATAPP_GUEST_POSTING=true RUST_LOG=warn "$server" --listen "127.0.0.1:$port" "$@" \
      --send-rate 100000 --send-burst 100000 \
      --address-send-rate 100000 --address-send-burst 100000 \
      --max-connections-per-address 100000 --max-connections 20000 --max-rooms 10000 \
      --rooms-per-address-per-hour 1000000 --request-rate 100000 --request-burst 100000 \
      >/dev/null 2>&1 &
    spids+=($!)
    ports+=("$port")
    for _ in $(seq 200); do
      curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.05
    done
  done
}

# run_shards DIR: one chat-bench `rooms` run per replica in `ports`, all at once, each with its
# own rooms (--room-prefix shard<i>, rooms/N of 4 members) at rate/N messages a second; waits
# for all, leaving each report in DIR/bench-<N>-<i>.json.
run_shards() {
  local dir=$1 n=${#ports[@]} i
  local benches=()
  for i in $(seq 0 $((n - 1))); do
    "$bench" rooms --url "ws://127.0.0.1:${ports[$i]}/ws" --room-prefix "shard$i" \
      --rooms $((rooms / n)) --members 4 --senders 1 \
      --rate "$(python3 -c "print($rate / $n)")" --duration "$duration" --json \
      2>/dev/null | tail -n 1 >"$dir/bench-$n-$i.json" &
    benches+=($!)
  done
  for i in "${benches[@]}"; do wait "$i"; done
}

# received PORT: the replica's pub/sub payload count, or "" for a server without the metric.
received() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "chat_redis_pubsub_received_total" {print $2}'
}

# stop_replicas: stop the servers in `spids` and wait for them.
stop_replicas() {
  local p
  for p in "${spids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  spids=()
}
