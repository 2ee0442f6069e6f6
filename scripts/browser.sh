#!/usr/bin/env bash
# Makes sure the headless browser of the dashboard tests is here: Debian's chromium and
# chromium-driver (installed when missing). Idempotent.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromedriver >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then
  printf '[browser] installing chromium and chromium-driver\n' >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
printf '[browser] %s\n' "$(chromedriver --version | head -n 1)" >&2
