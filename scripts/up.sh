#!/usr/bin/env bash
# Starts the LE BOOM stack on this machine: creates and migrates the `boom` database,
# creates a first admin (password generated and printed once) when there is no user yet,
# then runs the five services and a demo fleet (boom-demo: simulated booths with real
# boom-agent processes, a local Notion-compatible server, Wake-on-LAN listeners), with a
# prefix per program on their log lines. Ctrl-C stops them all. `up.sh migrate-only` stops
# after the migrations; BOOM_DEMO=0 starts no demo fleet; BOOM_DEMO_SSO=1 also starts a local
# OpenID Connect provider (oidc-provider, on 8091) for single sign-on: any login at its pages
# is the account `login@leboom.test` (the `demo` user has demo@leboom.test).
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

# The demo fleet signs in as `demo` (an admin whose password lives in the build directory).
demo=${BOOM_DEMO:-1}
demo_dir=${CARGO_TARGET_DIR:-target}/demo
if [ "$demo" = 1 ]; then
  mkdir -p "$demo_dir"
  if [ ! -s "$demo_dir/password" ]; then
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$demo_dir/password"
    psql "$BOOM__DATABASE__URL" -qc "DELETE FROM users WHERE username = 'demo'" >/dev/null
  fi
  if [ "$(psql "$BOOM__DATABASE__URL" -Atqc "SELECT count(*) FROM users WHERE username = 'demo'")" = 0 ]; then
    "$bin/boom-gateway" users add --username demo --role admin < "$demo_dir/password" >/dev/null
  fi
  # The demo's booths live on loopback addresses: probe their ports, not ICMP (loopback
  # always answers), and read events from the demo's Notion-compatible server.
  export BOOM__CONTROL__ICMP=false BOOM__CONTROL__PC_TCP_PORT=13389 BOOM__CONTROL__ROUTER_TCP_PORT=8443 \
    BOOM__CONTROL__PROBE_INTERVAL_SECS=10 BOOM__CONTROL__WAKE_TIMEOUT_SECS=60 \
    BOOM__NOTION__BASE_URL=http://127.0.0.1:8090/v1 BOOM__NOTION__TOKEN=ntn_test_token \
    BOOM__NOTION__DATABASE_ID=0f0e0d0c-0b0a-4909-8807-060504030201 BOOM__NOTION__SYNC_INTERVAL_SECS=60
  # Alert messages go to the demo's inbox: a local mail catcher (SMTP) and a receiver of
  # webhooks and Telegram Bot API calls, listed at http://127.0.0.1:8025/.
  export BOOM__NOTIFY__SMTP_URL="${BOOM__NOTIFY__SMTP_URL:-smtp://127.0.0.1:${BOOM_DEMO_SMTP_PORT:-2525}}" \
    BOOM__NOTIFY__TELEGRAM_BASE_URL="${BOOM__NOTIFY__TELEGRAM_BASE_URL:-http://127.0.0.1:${BOOM_DEMO_INBOX_PORT:-8025}}" \
    BOOM__NOTIFY__TELEGRAM_BOT_TOKEN="${BOOM__NOTIFY__TELEGRAM_BOT_TOKEN:-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}" \
    BOOM__NOTIFY__WEBHOOK_PRIVATE_NETWORKS="${BOOM__NOTIFY__WEBHOOK_PRIVATE_NETWORKS:-true}"
fi
# Single sign-on against a local provider, for trying it (the tests run the same provider).
if [ "${BOOM_DEMO_SSO:-0}" = 1 ]; then
  provider_script=$(./scripts/sso-provider.sh)
  sso_secret=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  sso_redirect="http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}/api/auth/oidc/callback"
  export BOOM__OIDC__ISSUER_URL=http://127.0.0.1:${BOOM_DEMO_SSO_PORT:-8091} BOOM__OIDC__CLIENT_ID=boom \
    BOOM__OIDC__CLIENT_SECRET="$sso_secret" BOOM__OIDC__REDIRECT_URL="$sso_redirect"
  psql "$BOOM__DATABASE__URL" -qc "UPDATE users SET email = 'demo@leboom.test' WHERE username = 'demo' AND email IS NULL" >/dev/null
fi

export BOOM__NOTIFY__DASHBOARD_URL="${BOOM__NOTIFY__DASHBOARD_URL:-http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}}"

pids=()
declare -A name_of=()
stop() {
  log "stopping"
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait
  exit 0
}
trap stop INT TERM

start() { # name port
  local name=$1 port=$2
  # Process substitution keeps $! the service itself, so that Ctrl-C reaches it.
  BOOM__HTTP__ADDR="127.0.0.1:$port" "$bin/boom-$name" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
  name_of[$!]=$name
}
if [ "${BOOM_DEMO_SSO:-0}" = 1 ]; then
  OIDC_PORT=${BOOM_DEMO_SSO_PORT:-8091} OIDC_CLIENT_ID=boom OIDC_CLIENT_SECRET="$sso_secret" OIDC_REDIRECT_URL="$sso_redirect" \
    node "$provider_script" > >(sed -u "s/^/[sso-provider] /") 2>&1 &
  pids+=($!)
  name_of[$!]=sso-provider
fi
start gateway "${BOOM_UP_GATEWAY_PORT:-8080}"
start stats-ingest "${BOOM_UP_INGEST_PORT:-8081}"
start notion-sync "${BOOM_UP_NOTION_PORT:-8082}"
start photomaton-control "${BOOM_UP_CONTROL_PORT:-8083}"
start notifier "${BOOM_UP_NOTIFIER_PORT:-8084}"

if [ "$demo" = 1 ]; then
  BOOM_DEMO_GATEWAY="http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}" BOOM_DEMO_INGEST="http://127.0.0.1:${BOOM_UP_INGEST_PORT:-8081}" \
    BOOM_DEMO_PASSWORD="$(cat "$demo_dir/password")" BOOM_DEMO_AGENT_BIN="$bin/boom-agent" BOOM_DEMO_DATA="$demo_dir" \
    BOOM_DEMO_SMTP_PORT="${BOOM_DEMO_SMTP_PORT:-2525}" BOOM_DEMO_INBOX_PORT="${BOOM_DEMO_INBOX_PORT:-8025}" \
    "$bin/boom-demo" &
  pids+=($!)
  name_of[$!]=demo
fi

log "dashboard:    http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}/  (sign in as admin, or as demo with the password in $demo_dir/password)"
log "gateway:      http://127.0.0.1:${BOOM_UP_GATEWAY_PORT:-8080}/api/health"
log "stats-ingest: http://127.0.0.1:${BOOM_UP_INGEST_PORT:-8081}/api/health"
if [ "$demo" = 1 ]; then
  log "alert messages (the demo's mail catcher and webhook sink): http://127.0.0.1:${BOOM_DEMO_INBOX_PORT:-8025}/"
fi
if [ "${BOOM_DEMO_SSO:-0}" = 1 ]; then
  log "single sign-on: a local provider on ${BOOM__OIDC__ISSUER_URL} (any login: \"demo\" is the demo user)"
fi
log "Ctrl-C stops everything"
# A program that ends ends the stack, saying which: a dead service or demo never leaves the
# rest looking healthy.
while true; do
  ended=
  status=0
  wait -n -p ended "${pids[@]}" || status=$?
  [ -n "$ended" ] || continue
  log "${name_of[$ended]:-a program} ended (exit status $status): stopping the stack"
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait
  exit 1
done
