#!/usr/bin/env bash
# `make transforms`: the example row transforms (examples/transforms/*) built for
# wasm32-unknown-unknown, into target/wasm32-unknown-unknown/release/transform_*.wasm.
# The engine's transform tests and benchmark load them from there.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown
cargo build -q --release --target wasm32-unknown-unknown \
    -p transform-identity -p transform-mask-email -p transform-score -p transform-flatten-json
ls -l target/wasm32-unknown-unknown/release/transform_*.wasm | awk '{print $5, $9}'
