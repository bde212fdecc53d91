#!/usr/bin/env bash
# Host tests: the real Mattermost plugin host code (server/public plugin.Environment,
# supervisor, hashicorp/go-plugin) starts the plugins under test from bundle directories and
# drives them with an in-memory API. Every run goes twice through `go test`: against
# server/public v0.3.0 (go.mod; the host sends HTTPRequestSubset) and v0.1.0 (go.v010.mod;
# the host sends *http.Request).
#
#   tests/host/run.sh          1. Go controls: go-hello + go-probe (official Go SDK)
#                              2. Rust: target/release/rs-hello + rs-probe, when built
#                                 (under $CARGO_TARGET_DIR when that is set), and
#                                 target/release/datasync-plugin when built
#                                 (datasync_test.go; skipped in the Go-controls run)
#   HOST_PLUGIN_BIN=target/release/rs-hello tests/host/run.sh     only that hello plugin
#   tests/host/run.sh -run TestServeHTTP -v                       extra flags go to `go test`
#
# HOST_PLUGIN_BIN: hello-type plugin executable (id = file name, or HOST_PLUGIN_ID);
#   its manifest is examples/hello/plugin.json for rs-hello, else a built-in copy.
# HOST_PROBE_BIN: probe executable (default target/release/rs-probe; "go-probe" = Go stand-in).
# HOST_DATASYNC_BIN: the Data Sync plugin executable (manifest: the repository's plugin.json);
#   its test needs the sqlite3 command-line tool (installed from Debian when missing, as root).
# HOST_LOG=1 echoes host logs.
# The heavy Data Sync proofs (kill -9 during delivery, two plugin processes sharing one
# server) run once: in the go.mod pass (HOST_DATASYNC_HEAVY=1). The PostgreSQL stories need
# DATASYNC_TEST_PG_URL (scripts/db/test.sh sets it; make test runs this script under it):
# without it they fail, unless DATASYNC_SKIP_DB_TESTS=1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
abspath() { case "$1" in /*|go-probe) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

runs=()   # "hello|probe|label|datasync"
datasync=""
if [ -n "${HOST_DATASYNC_BIN:-}" ]; then
  datasync="$(abspath "$HOST_DATASYNC_BIN")"
elif [ -x "$target/release/datasync-plugin" ]; then
  datasync="$target/release/datasync-plugin"
fi
if [ -n "${HOST_PLUGIN_BIN:-}" ]; then
  runs+=("$(abspath "$HOST_PLUGIN_BIN")|$(abspath "${HOST_PROBE_BIN:-${target}/release/rs-probe}")|selected|$datasync")
else
  runs+=("|go-probe|Go controls (official SDK)|")
  if [ -x "$target/release/rs-hello" ]; then
    runs+=("$target/release/rs-hello|$target/release/rs-probe|Rust|$datasync")
  fi
fi
if [ -n "$datasync" ] && ! command -v sqlite3 >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q sqlite3 || (apt-get update -q && apt-get install -y -q sqlite3)) >/dev/null
fi

cd "$here"
status=0
# The benchmark programs (cmd/bench, cmd/dsbench) are compiled and vetted here, never run
# (`make bench`, `make bench-plugin`).
for modfile in go.mod go.v010.mod; do
  GOFLAGS="-modfile=$modfile -buildvcs=false" go vet ./cmd/... || status=1
done
for run in "${runs[@]}"; do
  IFS='|' read -r hello probe label datasync <<<"$run"
  if [ -n "$hello" ] && [ ! -x "$hello" ]; then echo "missing $hello" >&2; status=1; continue; fi
  [ "$probe" = go-probe ] || [ -x "$probe" ] || probe=go-probe
  manifest=""
  if [ "$(basename "${hello:-x}")" = rs-hello ] && [ -f "$repo/examples/hello/plugin.json" ]; then
    manifest="$repo/examples/hello/plugin.json"
  fi
  for modfile in go.mod go.v010.mod; do
    heavy=""
    [ "$modfile" = go.mod ] && heavy=1
    version=$(go list -modfile="$modfile" -m -f '{{.Version}}' github.com/mattermost/mattermost/server/public)
    printf '\n==== host tests (%s): server/public %s, plugin %s, probe %s, datasync %s\n' \
      "$label" "$version" "${hello:-go-hello}" "$probe" "${datasync:-(skipped)}"
    if ! HOST_PLUGIN_BIN="$hello" HOST_PLUGIN_MANIFEST="${HOST_PLUGIN_MANIFEST:-$manifest}" HOST_PROBE_BIN="$probe" \
        HOST_DATASYNC_BIN="$datasync" HOST_DATASYNC_HEAVY="$heavy" \
        GOFLAGS="-modfile=$modfile -buildvcs=false" go test -count=1 "$@" ./...; then
      status=1
    fi
  done
done
exit $status
