#!/usr/bin/env bash
# Stops the servers that start.sh started under <dir> (both kinds if present).
# Usage: scripts/db/stop.sh <dir> [--remove]    (--remove also deletes <dir>)
set -uo pipefail

dir=${1:?usage: stop.sh <dir> [--remove]}
[ -d "$dir" ] || exit 0

if [ -f "$dir/pg/bin" ] && [ -d "$dir/pg/data" ]; then
    bin=$(cat "$dir/pg/bin")
    as=()
    [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
        || echo "stop.sh: PostgreSQL was not running" >&2
fi

# mariadbd writes its pid file once running; before that only the launcher pid exists.
pidfile="$dir/mariadb/mariadb.pid"
[ -f "$pidfile" ] || pidfile="$dir/mariadb/launcher.pid"
if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
fi

if [ "${2:-}" = "--remove" ]; then
    rm -rf "$dir"
fi
exit 0
