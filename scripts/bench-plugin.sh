#!/usr/bin/env bash
# `make bench-plugin`: the Data Sync plugin (datasync-plugin, release build) driven by the
# real Mattermost plugin host code and the in-memory API of tests/host/harness: posts/s with
# and without pacing, idle RSS with 0 and 100 syncs, a 1,000,000-row sync's peak RSS and
# durations, executable sizes, saved configuration → first run. Figures are printed, not
# asserted (tests/host/BENCH-PLUGIN.md; about 3 minutes). Needs the sqlite3 command-line tool.
# Extra arguments go to the bench program, e.g. -only big,rss or -rows 2000.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p datasync-plugin
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
cd tests/host && go run ./cmd/dsbench -plugin "$target/release/datasync-plugin" "$@"
