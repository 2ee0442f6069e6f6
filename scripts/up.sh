#!/usr/bin/env bash
# Starts the LE BOOM stack on this machine: creates and migrates the `boom` database,
# creates a first admin (password generated and printed once) when there is no user yet,
# then runs the four services with a prefix per service on their log lines. Ctrl-C stops
# them all. `up.sh migrate-only` stops after the migrations.
#
# Expects PostgreSQL, Redis and NATS to run (`just services`). Any BOOM__… variable you set
# is passed through; ports default to 8080 (gateway) to 8083.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[up] %s\n' "$*" >&2; }

export BOOM__DATABASE__URL="${BOOM__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/boom}"
export BOOM__LOG__FORMAT="${BOOM__LOG__FORMAT:-pretty}"
database=${BOOM__DATABASE__URL##*/}
database=${database%%\?*}
server_url=${BOOM__DATABASE__URL%/*}/postgres

if [ "$(psql "$server_url" -Atqc "SELECT count(*) FROM pg_database WHERE datname = '$database'")" = 0 ]; then
  log "creating database $database"
  psql "$server_url" -qc "CREATE DATABASE \"$database\"" >/dev/null
fi

log "building"
cargo build --workspace --bins --quiet
bin=${CARGO_TARGET_DIR:-target}/debug

"$bin/boom-gateway" migrate
[ "${1:-}" = migrate-only ] && exit 0

if [ "$(psql "$BOOM__DATABASE__URL" -Atqc 'SELECT count(*) FROM users')" = 0 ]; then
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  printf '%s\n' "$password" | "$bin/boom-gateway" users add --username admin --role admin >/dev/null
  cat >&2 <<MSG
[up] ------------------------------------------------------------------
[up] first admin created — this password is shown once, keep it:
[up]   username: admin
[up]   password: $password
[up] ------------------------------------------------------------------
MSG
fi

pids=()
stop() {
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
  exit 0
}
trap stop INT TERM

start() { # name port
  local name=$1 port=$2
  # Process substitution keeps $! the service itself, so that Ctrl-C reaches it.
  BOOM__HTTP__ADDR="127.0.0.1:$port" "$bin/boom-$name" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}
start gateway "${BOOM_UP_GATEWAY_PORT:-8080}"
start stats-ingest "${BOOM_UP_INGEST_PORT:-8081}"
start notion-sync "${BOOM_UP_NOTION_PORT:-8082}"
start photomaton-control "${BOOM_UP_CONTROL_PORT:-8083}"

log "gateway:      http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}/api/health"
log "stats-ingest: http://127.0.0.1:${BOOM_UP_INGEST_PORT:-8081}/api/health"
log "Ctrl-C stops everything"
wait
