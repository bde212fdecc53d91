#!/usr/bin/env bash
# `make test`: everything CI runs, on a clean machine. Installs what it needs.
#  1. database servers (PostgreSQL, MariaDB from Debian) for the source tests
#  2. the Rust workspace tests (unit, golden vectors, fuzz smoke, engine, sources on real DBs)
#  3. the host tests: the real Mattermost plugin host code drives our release executables,
#     against a recent server/public and one from before the HTTPRequestSubset change
#  4. `make deploy`'s script against a fake server (request shapes only; seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s\n' "$*"; }

step "prerequisites"
bash scripts/db/install.sh

step "Rust workspace tests (database servers started for the source tests)"
bash scripts/db/test.sh cargo test --workspace --no-fail-fast

step "host tests: real Mattermost plugin host driving rs-hello, rs-probe and datasync-plugin"
cargo build --release -p rs-hello -p rs-probe -p datasync-plugin
bash tests/host/run.sh

step "deploy script against a fake Mattermost (loopback HTTP and a unix socket)"
python3 tests/deploy/test_deploy.py
