#!/usr/bin/env bash
# cargo-zigbuild (crates.io) with zig (PyPI) for cross-linking linux-arm64.
set -euo pipefail
venv=${ZIG_VENV:-$HOME/.cache/datasync-zig}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q ziglang
command -v cargo-zigbuild >/dev/null || cargo install -q --locked cargo-zigbuild
echo "add $venv/bin to PATH so cargo-zigbuild finds zig" >&2
