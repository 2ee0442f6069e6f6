#!/usr/bin/env bash
# What `just bench` needs besides Rust: Node.js and npm with the original design's programs'
# packages (crates/bench/socketio: the Socket.IO peer and the seed's agent sync, socket.io, pg
# and Prisma, installed from the npm registry with its lock file, and the seed's Prisma Client
# generated from crates/bench/socketio/prisma/schema.prisma), and `perf`
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
# Installed again when the lock file changes, generated again when the schema does.
stamp=$peer/node_modules/.boom-lock
if ! cmp -s "$peer/package-lock.json" "$stamp" 2>/dev/null; then
  log "installing the Socket.IO peer and the seed (npm ci in $peer)"
  # No install scripts: the only ones are Prisma's, which download its schema engine from
  # Prisma's own servers (unreachable here, and not needed to generate the client).
  npm ci --prefix "$peer" --no-audit --no-fund --loglevel=error --ignore-scripts
  cp "$peer/package-lock.json" "$stamp"
fi
generated=$peer/node_modules/.boom-prisma-schema
if ! cmp -s "$peer/prisma/schema.prisma" "$generated" 2>/dev/null; then
  # Prisma 7 needs Node.js 20.19 or later; without it the benchmark reports the seed's
  # Prisma reference as not measured, and runs the rest.
  if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    log "generating the seed's Prisma Client ($peer/prisma/schema.prisma)"
    # Prisma 7's client has no query engine. Its CLI still looks for the schema engine
    # (migrations only) at start and would download it: it is pointed at a program that
    # `generate` never runs.
    if (cd "$peer" && PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_HIDE_UPDATE_MESSAGE=1 \
        npx --no-install prisma generate >/dev/null); then
      cp "$peer/prisma/schema.prisma" "$generated"
    else
      log "prisma generate failed: the benchmark reports the seed's Prisma reference as not measured"
    fi
  else
    log "Node.js $(node --version) is older than Prisma 7 needs (20.19): the benchmark reports the seed's Prisma reference as not measured"
  fi
fi
log "node $(node --version), socket.io $(node -p "require('./$peer/node_modules/socket.io/package.json').version"), prisma $(node -p "require('./$peer/node_modules/prisma/package.json').version"), $(perf --version 2>/dev/null || echo 'no perf')"
