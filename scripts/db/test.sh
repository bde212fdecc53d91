#!/usr/bin/env bash
# Runs the Data Sync source tests against real PostgreSQL and MariaDB servers:
# installs the packages if missing, starts both servers in a temporary directory,
# exports DATASYNC_TEST_PG_URL, DATASYNC_TEST_MYSQL_URL (and DATASYNC_TEST_PG_CA /
# DATASYNC_TEST_MYSQL_CA, the CA of the servers' TLS certificates), runs a command
# (default: the source tests), and always stops the servers afterwards.
# Usage: scripts/db/test.sh [command…]   e.g. scripts/db/test.sh cargo test --workspace
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

"$here/install.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/datasync-db.XXXXXX")
cleanup() { "$here/stop.sh" "$tmp" --remove; }
trap cleanup EXIT INT TERM

"$here/start.sh" postgres "$tmp"
"$here/start.sh" mariadb "$tmp"
# shellcheck disable=SC1091
source "$tmp/env"
export DATASYNC_TEST_PG_URL DATASYNC_TEST_MYSQL_URL
export DATASYNC_TEST_PG_CA="${DATASYNC_TEST_PG_CA:-}" DATASYNC_TEST_MYSQL_CA="${DATASYNC_TEST_MYSQL_CA:-}"

cd "$root"
if [ $# -eq 0 ]; then
    set -- cargo test -p datasync --test 'source_*'
fi
"$@"
