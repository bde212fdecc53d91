#!/usr/bin/env bash
# `make e2e`: Data Sync and rs-hello on a real Mattermost server, driven through its REST API.
#  1. prerequisites: PostgreSQL (Debian), sqlite3, the server (built once from the Go module
#     proxy and cached by build-server.sh), the bundles (make dist for linux-amd64, make
#     hello-bundle), the example row transforms (make transforms) the transform test uploads
#  2. a private PostgreSQL on a free loopback port in a temporary directory: the server's
#     database `mattermost` and the warehouse `datasync_test` the syncs read
#  3. go test in tests/e2e: TestMain starts the server, the tests drive it; everything is
#     stopped and the directory removed afterwards, also on failure or interrupt
#
#   tests/e2e/run.sh                     the suite
#   tests/e2e/run.sh -run TestHello -v   extra flags go to `go test`
#   E2E_BENCH=1 tests/e2e/run.sh         the benchmark (cmd/bench) instead of the suite
#   E2E_KEEP=1                           keep the temporary directory (logs) afterwards
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

step() { printf '\n---- e2e: %s\n' "$*"; }

step "prerequisites"
bash scripts/db/install.sh >/dev/null
if ! command -v sqlite3 >/dev/null; then
    sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    ("${sudo_cmd[@]}" apt-get install -y -q sqlite3 || ("${sudo_cmd[@]}" apt-get update -q && "${sudo_cmd[@]}" apt-get install -y -q sqlite3)) >/dev/null
fi
E2E_SERVER_DIR="$(bash "$here/build-server.sh")"
DIST_PLATFORMS=linux-amd64 bash scripts/plugin-bundle.sh datasync-plugin plugin.json assets >/dev/null
bash scripts/plugin-bundle.sh rs-hello examples/hello/plugin.json >/dev/null
bash scripts/transforms.sh >/dev/null
version() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$1"; }
E2E_DATASYNC_BUNDLE="$repo/dist/datasync-$(version plugin.json).tar.gz"
E2E_HELLO_BUNDLE="$repo/dist/rs-hello-$(version examples/hello/plugin.json).tar.gz"

work=$(mktemp -d "${TMPDIR:-/tmp}/datasync-e2e.XXXXXX")
cleanup() {
    # The server and its plugins all run from under $work (tests/e2e/harness/server.go).
    pkill -KILL -f "$work/" 2>/dev/null || true
    bash scripts/db/stop.sh "$work" >/dev/null 2>&1 || true
    if [ -n "${E2E_KEEP:-}" ]; then echo "e2e: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

step "PostgreSQL for the server and the warehouse"
bash scripts/db/start.sh postgres "$work" 2>/dev/null
# shellcheck disable=SC1091
source "$work/env"
pg_bin=$(cat "$work/pg/bin")
as=(); [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
pg_port=${DATASYNC_TEST_PG_URL##*:}; pg_port=${pg_port%%/*}
# The server has its own role: the warehouse password (the syncs' secret) appears nowhere
# else, so the suite can look for it in everything the server wrote (main_test.go).
mm_password="mm-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
"${as[@]}" "$pg_bin/psql" -h "$work/pg/run" -p "$pg_port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE mattermost LOGIN PASSWORD '$mm_password'" -c "CREATE DATABASE mattermost OWNER mattermost"
E2E_MM_DSN="postgres://mattermost:$mm_password@127.0.0.1:$pg_port/mattermost?sslmode=disable&connect_timeout=10"
export E2E_SERVER_DIR E2E_DATASYNC_BUNDLE E2E_HELLO_BUNDLE E2E_MM_DSN
export E2E_WAREHOUSE_URL="$DATASYNC_TEST_PG_URL" E2E_WORK="$work"
export GOFLAGS=-buildvcs=false

cd "$here"
if [ -n "${E2E_BENCH:-}" ]; then
    step "benchmark against the real server"
    go run ./cmd/bench "$@"
else
    step "the suite"
    go test -count=1 -timeout 30m "$@" ./...
fi
