#!/usr/bin/env bash
# Host tests: the real Mattermost plugin host code (server/public plugin.Environment,
# supervisor, hashicorp/go-plugin) starts the plugin under test from a bundle directory
# and drives it. Runs the suite twice: against server/public v0.3.0 (go.mod, host sends
# HTTPRequestSubset) and v0.1.0 (go.v010.mod, host sends *http.Request).
#
#   tests/host/run.sh                                   Go reference plugin (go-hello)
#   HOST_PLUGIN_BIN=target/release/rs-hello tests/host/run.sh    the Rust plugin
#   tests/host/run.sh -run TestServeHTTP -v             extra flags go to `go test`
#
# HOST_PLUGIN_ID defaults to the executable's file name; HOST_PLUGIN_MANIFEST (a plugin.json)
# defaults to examples/hello/plugin.json for rs-hello, else a built-in copy of that manifest.
# HOST_LOG=1 echoes host logs. The probe tests (probe_test.go) drive HOST_PROBE_BIN, else
# target/release/rs-probe if it exists, else go-probe (refprobe/, same contract, Go SDK).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${HOST_PLUGIN_BIN:-}" ]; then
  HOST_PLUGIN_BIN="$(cd "$(dirname "$HOST_PLUGIN_BIN")" && pwd)/$(basename "$HOST_PLUGIN_BIN")"
  export HOST_PLUGIN_BIN
  # Use the plugin's own manifest when it is one of ours (examples/<name>/plugin.json).
  if [ -z "${HOST_PLUGIN_MANIFEST:-}" ]; then
    case "$(basename "$HOST_PLUGIN_BIN")" in
      rs-hello) HOST_PLUGIN_MANIFEST="$here/../../examples/hello/plugin.json" ;;
    esac
    if [ -n "${HOST_PLUGIN_MANIFEST:-}" ] && [ -f "$HOST_PLUGIN_MANIFEST" ]; then export HOST_PLUGIN_MANIFEST; else unset HOST_PLUGIN_MANIFEST; fi
  fi
fi
cd "$here"
status=0
for modfile in go.mod go.v010.mod; do
  version=$(go list -modfile="$modfile" -m -f '{{.Version}}' github.com/mattermost/mattermost/server/public)
  probe="${HOST_PROBE_BIN:-}"
  if [ -z "$probe" ]; then
    if [ -x "$here/../../target/release/rs-probe" ]; then probe="target/release/rs-probe"; else probe="go-probe (Go stand-in)"; fi
  fi
  printf '\n==== host tests: server/public %s (%s), plugin %s, probe %s\n' "$version" "$modfile" "${HOST_PLUGIN_BIN:-go-hello (Go reference)}" "$probe"
  if ! GOFLAGS="-modfile=$modfile -buildvcs=false" go test -count=1 "$@" ./...; then
    status=1
  fi
done
exit $status
