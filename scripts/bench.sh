#!/usr/bin/env bash
# `make bench`: rs-hello against the official Go SDK's equivalent (tests/host/refplugin),
# driven by the same real host code, printed side by side with Rust/Go ratios.
# Extra arguments go to the bench program (see tests/host/BENCH.md), e.g. -json bench.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p rs-hello
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
cd tests/host && go run ./cmd/bench -rust "$target/release/rs-hello" "$@"
