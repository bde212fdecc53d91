#!/usr/bin/env bash
# Builds rs-hello as static musl executables and writes dist/rs-hello-<version>.tar.gz.
# linux-amd64 always; linux-arm64 too when cargo-zigbuild is installed (or ARM64=1 asks us to
# install it with zig from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(cargo metadata --no-deps --format-version 1 \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="rs-hello"))')
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
# The allocator (mimalloc) is C: compiled for musl with Debian's musl-gcc.
if ! command -v musl-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q musl-tools || (apt-get update -q && apt-get install -y -q musl-tools)) >/dev/null
  else
    echo "hello-bundle: musl-gcc is missing; install it first (Debian/Ubuntu: sudo apt-get install musl-tools)" >&2
    exit 1
  fi
fi
CC_x86_64_unknown_linux_musl=musl-gcc cargo build -q -p rs-hello --profile dist --target x86_64-unknown-linux-musl
target="${CARGO_TARGET_DIR:-target}"
binaries=(--binary "linux-amd64=$target/x86_64-unknown-linux-musl/dist/rs-hello")
if [ "${ARM64:-0}" = 1 ] && ! command -v cargo-zigbuild >/dev/null; then
  bash scripts/install-zig.sh
fi
if command -v cargo-zigbuild >/dev/null; then
  rustup target list --installed | grep -q aarch64-unknown-linux-musl || rustup target add aarch64-unknown-linux-musl
  # With no `zig` on PATH, cargo-zigbuild runs `python3 -m ziglang`: the venv's python has it.
  zig_venv=${ZIG_VENV:-$HOME/.cache/datasync-zig}
  PATH="$zig_venv/bin:$PATH" cargo zigbuild -q -p rs-hello --profile dist --target aarch64-unknown-linux-musl
  binaries+=(--binary "linux-arm64=$target/aarch64-unknown-linux-musl/dist/rs-hello")
fi
python3 scripts/bundle.py --manifest examples/hello/plugin.json --version "$version" "${binaries[@]}" --out dist
