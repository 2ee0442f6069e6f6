#!/usr/bin/env bash
# Builds boom-agent.exe, the booth agent for the booth PCs (Windows, x86_64-pc-windows-gnu),
# and prepares a Wine prefix in which the tests run it as a booth would. Installs what is
# missing first (MinGW-w64, Wine; Debian's Rust with its standard library's source when
# rustup cannot fetch the Windows standard library). Idempotent; prints the .exe's path.
#
#   ./scripts/agent-windows.sh                              # build (release) and prepare Wine
#   BOOM_WINDOWS_STD=source ./scripts/agent-windows.sh      # force the from-source path
#
# Output: $CARGO_TARGET_DIR/x86_64-pc-windows-gnu/release/boom-agent.exe and its
# .sha256, and the Wine prefix $CARGO_TARGET_DIR/wine-prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[agent-windows] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

TARGET=x86_64-pc-windows-gnu
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
exe="$target_dir/$TARGET/release/boom-agent.exe"
prefix="$target_dir/wine-prefix"

install_missing() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_missing gcc-mingw-w64-x86-64 wine64
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar

# rustup's Windows standard library when it can be had; otherwise Debian's Rust builds the
# standard library from source (-Zbuild-std), which needs no download from rust-lang.org.
if [ "${BOOM_WINDOWS_STD:-}" != source ] \
  && { rustup target list --installed 2>/dev/null | grep -qx "$TARGET" \
    || timeout 300 rustup target add "$TARGET" >/dev/null 2>&1; }; then
  log "building with rustup's $TARGET standard library"
  cargo build --quiet --release --target "$TARGET" -p boom-agent
else
  log "rustup cannot fetch the $TARGET standard library: building it from source with Debian's Rust"
  install_missing rustc-web rust-web-src cargo-web
  PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    /usr/bin/cargo build --quiet --release -Zbuild-std=std,panic_abort --target "$TARGET" -p boom-agent
fi
(cd "$(dirname "$exe")" && sha256sum boom-agent.exe > boom-agent.exe.sha256)

# The Wine prefix the tests run the agent in, with the ProcessPrng stand-in.
wine=/usr/lib/wine/wine64
[ -x "$wine" ] || wine=$(command -v wine64 || command -v wine)
shim="$prefix/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$shim" ] || [ scripts/wine/bcryptprimitives.c -nt "$shim" ]; then
  log "preparing the Wine prefix $prefix"
  mkdir -p "$prefix"
  WINEPREFIX="$prefix" WINEDEBUG=-all "$wine" wineboot --init >/dev/null 2>&1 || true
  WINEPREFIX="$prefix" WINEDEBUG=-all "$(dirname "$wine")/wineserver" --wait 2>/dev/null || true
  x86_64-w64-mingw32-gcc -O2 -shared -o "$target_dir/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32
  cp "$target_dir/bcryptprimitives.dll" "$shim"
fi
log "$(file -b "$exe" | cut -d, -f1): $exe"
echo "$exe"
