#!/usr/bin/env bash
# cargo-zigbuild (crates.io) with zig (PyPI) for cross-linking linux-arm64. cargo-zigbuild finds
# zig as `python3 -m ziglang` when $venv/bin comes first on PATH (plugin-bundle.sh does that).
set -euo pipefail
venv=${ZIG_VENV:-$HOME/.cache/datasync-zig}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q ziglang
command -v cargo-zigbuild >/dev/null || cargo install -q --locked cargo-zigbuild
