#!/usr/bin/env bash
# Builds a plugin's server executable as static musl executables and writes
# dist/<id>-<version>.tar.gz in Mattermost's bundle layout.
#   scripts/plugin-bundle.sh PACKAGE MANIFEST [ASSETS_DIR]
# `make dist` bundles Data Sync (datasync-plugin, plugin.json, assets/); `make hello-bundle`
# the example plugin. linux-amd64 always; linux-arm64 too when cargo-zigbuild is installed
# (or ARM64=1 asks us to install it with zig from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
package=$1
manifest=$2
assets=${3:-}
version=$(cargo metadata --no-deps --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]==sys.argv[1]))' "$package")
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
# The allocator (mimalloc) is C: compiled for musl with Debian's musl-gcc.
if ! command -v musl-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q musl-tools || (apt-get update -q && apt-get install -y -q musl-tools)) >/dev/null
  else
    echo "plugin-bundle: musl-gcc is missing; install it first (Debian/Ubuntu: sudo apt-get install musl-tools)" >&2
    exit 1
  fi
fi
CC_x86_64_unknown_linux_musl=musl-gcc cargo build -q -p "$package" --profile dist --target x86_64-unknown-linux-musl
target="${CARGO_TARGET_DIR:-target}"
binaries=(--binary "linux-amd64=$target/x86_64-unknown-linux-musl/dist/$package")
if [ "${ARM64:-0}" = 1 ] && ! command -v cargo-zigbuild >/dev/null; then
  bash scripts/install-zig.sh
fi
if command -v cargo-zigbuild >/dev/null; then
  rustup target list --installed | grep -q aarch64-unknown-linux-musl || rustup target add aarch64-unknown-linux-musl
  # With no `zig` on PATH, cargo-zigbuild runs `python3 -m ziglang`: the venv's python has it.
  zig_venv=${ZIG_VENV:-$HOME/.cache/datasync-zig}
  PATH="$zig_venv/bin:$PATH" cargo zigbuild -q -p "$package" --profile dist --target aarch64-unknown-linux-musl
  binaries+=(--binary "linux-arm64=$target/aarch64-unknown-linux-musl/dist/$package")
fi
extra=()
[ -n "$assets" ] && extra=(--assets "$assets")
python3 scripts/bundle.py --manifest "$manifest" --version "$version" "${binaries[@]}" "${extra[@]}" --out dist
