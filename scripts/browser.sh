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

# axe-core (npm, pinned, checked against the registry's integrity) for the accessibility test:
# fetched beside the build cache, never vendored into the repository.
axe_version=4.14.1
axe_integrity='FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=='
axe_dir="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/axe-core-$axe_version"
if [ ! -s "$axe_dir/axe.min.js" ]; then
  printf '[browser] fetching axe-core %s\n' "$axe_version" >&2
  for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  done
  tarball="$(mktemp)"
  curl -fsSL "https://registry.npmjs.org/axe-core/-/axe-core-$axe_version.tgz" -o "$tarball"
  if [ "$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)" != "$axe_integrity" ]; then
    echo "[browser] axe-core $axe_version does not match its npm integrity" >&2
    exit 1
  fi
  mkdir -p "$axe_dir"
  tar -xzf "$tarball" -C "$axe_dir" --strip-components=1 package/axe.min.js package/LICENSE
  rm -f "$tarball"
fi
