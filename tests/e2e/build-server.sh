#!/usr/bin/env bash
# Builds the Mattermost server used by the end-to-end suite, once: the binary and the
# directories it needs at run time (i18n, templates, fonts) are cached under
# $DATASYNC_E2E_CACHE (default ~/.cache/datasync-e2e/<version>), and a second call only
# prints the path. The version is a master snapshot the Go module proxy serves here
# (shared facts: the proxy has no version lists, no checksum-database entries).
# Prints the cache directory on stdout.
set -euo pipefail

server_v8=v8.0.0-20260113162330-9e1d4c2072c0
server_public=v0.1.22-0.20260113165922-8e4cadbc88ee
cache="${DATASYNC_E2E_CACHE:-$HOME/.cache/datasync-e2e}/$server_v8"

if [ -x "$cache/bin/mattermost" ] && [ -d "$cache/i18n" ]; then
    echo "$cache"
    exit 0
fi

log() { echo "build-server.sh: $*" >&2; }
mkdir -p "$cache/src"
cd "$cache/src"
cat >go.mod <<MOD
module datasync-e2e-server

go 1.24

require (
	github.com/mattermost/mattermost/server/v8 $server_v8
	github.com/mattermost/mattermost/server/public $server_public
)

// The server module's own replace; a dependency's replace lines do not apply here.
replace github.com/olekukonko/tablewriter => github.com/olekukonko/tablewriter v0.0.5
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/mattermost/mattermost/server/v8/cmd/mattermost"
GO
export GONOSUMDB=github.com/mattermost GOFLAGS=-mod=mod GOTOOLCHAIN=local
log "downloading and building mattermost $server_v8 (minutes, once)"
start=$SECONDS
go build -trimpath -o "$cache/bin/mattermost.tmp" github.com/mattermost/mattermost/server/v8/cmd/mattermost >&2
mod=$(go list -m -f '{{.Dir}}' github.com/mattermost/mattermost/server/v8)
for d in i18n templates fonts; do
    rm -rf "$cache/$d"
    cp -r "$mod/$d" "$cache/$d"
    chmod -R u+w "$cache/$d"
done
mv "$cache/bin/mattermost.tmp" "$cache/bin/mattermost"
log "built in $((SECONDS - start)) s"
echo "$cache"
