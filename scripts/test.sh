#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (Redis, PostgreSQL,
# Chromium and its WebDriver with apt; Locust with pip and axe-core with npm, both under target/), starts a
# Redis on a free loopback port, and runs every test in the workspace. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- system packages: a real Redis, a real headless browser and its WebDriver -----------------
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
if [ -z "$(pg_bin)" ] && ! command -v pg_ctl >/dev/null; then need+=(postgresql); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} with apt"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- Python tools for the Locust test, in a venv under target/ so nothing global changes ------
venv=target/venv
if [ ! -x "$venv/bin/locust" ]; then
  echo "test.sh: installing locust into $venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 needs python3-venv for this.
    echo "test.sh: installing python3-venv with apt"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "locust~=2.47" "websocket-client~=1.9"
fi
export CHATAPP_LOCUST="$PWD/$venv/bin/locust"

# --- axe-core for the browser UI's accessibility test, from npm into target/ ------------------
# The browser test injects its axe.min.js over WebDriver (CHATAPP_AXE_JS says where it is).
axe_dir=target/node_modules-axe
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "test.sh: installing npm with apt"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq npm >/dev/null
  fi
  echo "test.sh: installing axe-core into $axe_dir"
  npm install --prefix "$axe_dir" --no-audit --no-fund --silent "axe-core@4"
fi
export CHATAPP_AXE_JS="$PWD/$axe_dir/node_modules/axe-core/axe.min.js"

# --- one shared Redis for the tests (tests that restart Redis start their own) ---------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis_dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
  --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
stop_redis_only() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
  rm -rf "$redis_dir" 2>/dev/null || true
}
stop_redis() {
  local status=$?
  stop_redis_only
  exit "$status"
}
trap stop_redis EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export CHATAPP_TEST_REDIS_URL="redis://127.0.0.1:$port"
echo "test.sh: redis on $CHATAPP_TEST_REDIS_URL"

# --- one shared PostgreSQL (each test makes its own database; tests that kill it start their own) ---
# initdb refuses to run as root, so as root the server runs as the `postgres` user.
pgbin=$(pg_bin)
[ -n "$pgbin" ] || pgbin=$(dirname "$(command -v pg_ctl)")
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg_dir=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
as_pg "$pgbin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/pg.log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pg_dir -c max_connections=300" \
  start >/dev/null
stop_all() {
  local status=$?
  as_pg "$pgbin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir" 2>/dev/null || true
  stop_redis_only
  exit "$status"
}
trap stop_all EXIT
export CHATAPP_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
echo "test.sh: postgres on $CHATAPP_TEST_DATABASE_URL"

# --- the tests ---------------------------------------------------------------------------------
# tests/redis_cluster.rs starts its own Redis Cluster (six redis-servers on free loopback ports,
# joined with redis-cli --cluster create; tests/common/redis_cluster.rs): nothing to start here.
# Browser tests and the Kubernetes e2e suite find chromium/chromedriver and CHATAPP_E2E_KUBECONFIG
# themselves; the e2e suite says it is skipped when no cluster is given.
cargo test --workspace --all-targets "$@"
