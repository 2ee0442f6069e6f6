#!/usr/bin/env bash
# Installs schemathesis (PyPI), pinned, into a virtualenv beside the build cache, for the
# API fuzzing test (crates/integration-tests/tests/it/api_fuzz.rs). Idempotent; prints the
# path of its `st` command.
set -euo pipefail
version=4.32.5
venv="${BOOM_SCHEMATHESIS_VENV:-${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/schemathesis-venv}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  echo "$venv/bin/st"
  exit 0
fi
printf '[schemathesis] installing schemathesis %s into %s\n' "$version" "$venv" >&2
if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
rm -rf "$venv"
python3 -m venv "$venv" || {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$venv"
}
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
echo "$venv/bin/st"
