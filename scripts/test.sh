#!/usr/bin/env bash
# `make test`: everything CI runs, on a clean machine. Installs what it needs.
#  1. database servers (PostgreSQL, MariaDB from Debian), started once for steps 2 and 3
#  2. the example row transforms built for wasm32, then the Rust workspace tests (unit,
#     golden vectors, fuzz smoke, engine, transforms, sources on real DBs), and the
#     transform tests once more on the optional wasmtime runtime
#  3. the host tests: the real Mattermost plugin host code drives our release executables,
#     against a recent server/public and one from before the HTTPRequestSubset change
#     (the Data Sync stories read the PostgreSQL server of step 1)
#  4. `make deploy`'s script against a fake server (request shapes only; seconds)
#  5. the end-to-end suite (`make e2e`): a real Mattermost server, built once from the Go
#     module proxy, runs the bundles of `make dist` and `make hello-bundle`
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s\n' "$*"; }

# The database tests may be skipped by hand (DATASYNC_SKIP_DB_TESTS=1), never here: under
# make test a missing server must fail them.
unset DATASYNC_SKIP_DB_TESTS

# The database servers start once, for both the Rust source tests and the host tests
# (the Data Sync stories read PostgreSQL): the script runs itself again under
# scripts/db/test.sh, which exports DATASYNC_TEST_PG_URL / DATASYNC_TEST_MYSQL_URL.
if [ -z "${DATASYNC_TEST_SERVERS_UP:-}" ]; then
    step "prerequisites, database servers (PostgreSQL, MariaDB) for the source and host tests"
    DATASYNC_TEST_SERVERS_UP=1 exec bash scripts/db/test.sh bash scripts/test.sh "$@"
fi

step "the example row transforms, built for wasm32 (the transform tests load them)"
bash scripts/transforms.sh

step "Rust workspace tests (sources on the real database servers)"
cargo test --workspace --no-fail-fast

step "the transform tests again on wasmtime (the runtime behind --features wasmtime)"
cargo test -p datasync --features wasmtime --test engine_transform

step "host tests: real Mattermost plugin host driving rs-hello, rs-probe and datasync-plugin"
cargo build --release -p rs-hello -p rs-probe -p datasync-plugin
bash tests/host/run.sh

step "deploy script against a fake Mattermost (loopback HTTP and a unix socket)"
python3 tests/deploy/test_deploy.py

step "end-to-end: Data Sync and rs-hello on a real Mattermost server"
bash tests/e2e/run.sh
