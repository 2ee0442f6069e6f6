#!/usr/bin/env bash
# What `just bench` needs besides Rust: Node.js and npm with the original design's programs'
# packages (crates/bench/socketio: the Socket.IO peer and the seed's agent sync, socket.io and
# pg, installed from the npm registry with its lock file), and `perf`
# (Debian's linux-perf) for the per-scenario profiles. Installs what is missing; idempotent.
# Without perf the benchmarks still run, and the report says that no profile was taken.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bench-tools] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v perf >/dev/null 2>&1 || missing+=(linux-perf)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  for package in "${missing[@]}"; do
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
      || log "could not install $package"
  done
fi

peer=crates/bench/socketio
stamp=$peer/node_modules/.boom-lock
if ! cmp -s "$peer/package-lock.json" "$stamp" 2>/dev/null; then
  log "installing the Socket.IO peer (npm ci in $peer)"
  npm ci --prefix "$peer" --no-audit --no-fund --loglevel=error
  cp "$peer/package-lock.json" "$stamp"
fi
log "node $(node --version), socket.io $(node -p "require('./$peer/node_modules/socket.io/package.json').version"), $(perf --version 2>/dev/null || echo 'no perf')"
