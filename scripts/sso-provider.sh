#!/usr/bin/env bash
# The local OpenID Connect provider of the single sign-on tests and of `BOOM_DEMO_SSO=1 ./dev up`:
# oidc-provider (npm, pinned by its lock file) in crates/integration-tests/oidc. Installs
# Node.js and npm (Debian's) when missing, then the packages when the lock file changed.
# Idempotent; prints the provider script's path.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  printf '[sso-provider] installing nodejs and npm\n' >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
dir=crates/integration-tests/oidc
stamp=$dir/node_modules/.boom-lock
if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
  printf '[sso-provider] installing oidc-provider (npm ci in %s)\n' "$dir" >&2
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
  cp "$dir/package-lock.json" "$stamp"
fi
echo "$PWD/$dir/provider.mjs"
