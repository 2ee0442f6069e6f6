#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (with JetStream) run on this machine and answer on
# 127.0.0.1 (5432, 6379, 4222): installs the Debian packages that are missing, starts what
# is stopped, and waits until each one answers. Idempotent: does nothing when all run.
#
# This is for development and CI machines. On a fresh Debian cluster it lets local
# connections to PostgreSQL on the loopback use trust authentication, as the tests connect
# as `postgres` without a password; never run it on a production database host.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then log "$name is up"; return 0; fi
    sleep 0.5
  done
  log "$name did not answer within 60 s"; return 1
}

pg_answers() { psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

# Install only what is neither running (a CI service container, say) nor installed.
missing=()
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
pg_answers || command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
redis_answers || command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
port_open 4222 || [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- PostgreSQL ----------------------------------------------------------------------------
if ! pg_answers; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    log "creating PostgreSQL $version cluster"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "PostgreSQL server" pg_isready -q -h 127.0.0.1 -p 5432
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! pg_answers && ! as_root grep -q 'boom-dev-trust' "$hba"; then
    log "allowing trust authentication on the loopback for local development ($hba)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust # boom-dev-trust\nhost all all ::1/128 trust # boom-dev-trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  fi
fi
wait_for PostgreSQL pg_answers

# --- Redis ---------------------------------------------------------------------------------
if ! redis_answers; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/boom-dev.log
fi
wait_for Redis redis_answers

# --- NATS with JetStream -------------------------------------------------------------------
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
jetstream_answers() {
  # A NATS server whose monitoring is off still greets with INFO; JetStream must be on.
  port_open 4222 && timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222; head -n 1 <&3' 2>/dev/null | grep -q '"jetstream":true'
}
if ! port_open 4222; then
  log "starting NATS with JetStream"
  as_root mkdir -p /var/lib/nats-server
  if command -v start-stop-daemon >/dev/null 2>&1; then
    as_root start-stop-daemon --start --oknodo --background --exec "$nats_bin" -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  else
    as_root nohup "$nats_bin" -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >/dev/null 2>&1 &
  fi
fi
wait_for "NATS (JetStream)" jetstream_answers
