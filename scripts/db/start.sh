#!/usr/bin/env bash
# Starts a throw-away PostgreSQL or MariaDB server from Debian's packages on 127.0.0.1,
# with its data, socket and logs under <dir>, creates the database `datasync_test` and
# the user `datasync` (random password), and appends the connection URL to <dir>/env:
#   DATASYNC_TEST_PG_URL=postgres://datasync:…@127.0.0.1:<port>/datasync_test
#   DATASYNC_TEST_PG_CA=<dir>/tls/ca.crt   (the CA that signed the servers' TLS certificate)
#   DATASYNC_TEST_MYSQL_URL=mysql://datasync:…@127.0.0.1:<port>/datasync_test
#   DATASYNC_TEST_MYSQL_CA=<dir>/tls/ca.crt
# Usage: scripts/db/start.sh <postgres|mariadb> <dir>     (stop with scripts/db/stop.sh)
set -euo pipefail

kind=${1:?usage: start.sh <postgres|mariadb> <dir>}
dir=${2:?usage: start.sh <postgres|mariadb> <dir>}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The server may run as another user (postgres): it must be able to reach its directory.
chmod 0755 "$dir"

log() { echo "start.sh: $*" >&2; }

free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

random_password() {
    # Letters, digits and URL-safe punctuation, so the URL needs no escaping.
    echo "pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
}

wait_for() {
    local what=$1; shift
    for _ in $(seq 1 120); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    log "$what did not become ready"
    return 1
}

# A throw-away CA and a server certificate for "localhost" signed by it (once per <dir>),
# so the TLS modes (require, verify-ca, verify-full with a root certificate) can be tested.
# Returns non-zero (and the servers run without TLS) when openssl is missing.
make_certs() {
    [ -f "$dir/tls/server.crt" ] && return 0
    command -v openssl >/dev/null 2>&1 || return 1
    mkdir -p "$dir/tls"
    (
        cd "$dir/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=datasync test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
            -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
        printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 2 -extfile server.ext -out server.crt
        chmod 0644 ca.crt server.crt
    ) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; return 1; }
}

start_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [ -x "$bin/initdb" ] || { log "PostgreSQL binaries not found (run scripts/db/install.sh)"; exit 1; }
    local data="$dir/pg" port password as=()
    port=$(free_port)
    password=$(random_password)
    mkdir -p "$data/data" "$data/run"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$data"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$bin/initdb" -D "$data/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
        || { cat "$data/initdb.log" >&2; exit 1; }
    local ssl_opts=()
    if make_certs; then
        cp "$dir/tls/server.crt" "$dir/tls/server.key" "$data/"
        chmod 0600 "$data/server.key"
        [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data/server.key" "$data/server.crt"
        ssl_opts=(-c ssl=on -c "ssl_cert_file=$data/server.crt" -c "ssl_key_file=$data/server.key")
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$data/data" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data/run ${ssl_opts[*]}" \
        start >/dev/null || { cat "$data/server.log" >&2; exit 1; }
    echo "$bin" >"$data/bin"
    "${as[@]}" "$bin/psql" -h "$data/run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE datasync LOGIN PASSWORD '$password';
CREATE DATABASE datasync_test OWNER datasync;
SQL
    {
        echo "export DATASYNC_TEST_PG_URL='postgres://datasync:$password@127.0.0.1:$port/datasync_test'"
        if [ ${#ssl_opts[@]} -gt 0 ]; then echo "export DATASYNC_TEST_PG_CA='$dir/tls/ca.crt'"; fi
    } >>"$dir/env"
    log "PostgreSQL on 127.0.0.1:$port (data in $data)"
}

start_mariadb() {
    command -v mariadbd >/dev/null || { log "MariaDB not found (run scripts/db/install.sh)"; exit 1; }
    local data="$dir/mariadb" port password
    port=$(free_port)
    password=$(random_password)
    mkdir -p "$data/data"
    mariadb-install-db --no-defaults --datadir="$data/data" --user="$(id -un)" \
        --auth-root-authentication-method=socket --skip-test-db >"$data/install.log" 2>&1 \
        || { cat "$data/install.log" >&2; exit 1; }
    local ssl_opts=()
    if make_certs; then
        ssl_opts=(--ssl-ca="$dir/tls/ca.crt" --ssl-cert="$dir/tls/server.crt" --ssl-key="$dir/tls/server.key")
    fi
    mariadbd --no-defaults --datadir="$data/data" --socket="$data/mariadb.sock" "${ssl_opts[@]}" \
        --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" \
        --pid-file="$data/mariadb.pid" --log-error="$data/server.log" \
        --skip-name-resolve --character-set-server=utf8mb4 \
        </dev/null >>"$data/stdout.log" 2>&1 &
    echo $! >"$data/launcher.pid"
    local client=(mariadb --no-defaults --socket="$data/mariadb.sock" -uroot)
    if ! wait_for MariaDB "${client[@]}" -e 'SELECT 1'; then
        cat "$data/server.log" >&2
        exit 1
    fi
    "${client[@]}" <<SQL
CREATE DATABASE datasync_test CHARACTER SET utf8mb4;
CREATE USER 'datasync'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER 'datasync'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON datasync_test.* TO 'datasync'@'127.0.0.1';
GRANT ALL ON datasync_test.* TO 'datasync'@'localhost';
SQL
    {
        echo "export DATASYNC_TEST_MYSQL_URL='mysql://datasync:$password@127.0.0.1:$port/datasync_test'"
        if [ ${#ssl_opts[@]} -gt 0 ]; then echo "export DATASYNC_TEST_MYSQL_CA='$dir/tls/ca.crt'"; fi
    } >>"$dir/env"
    log "MariaDB on 127.0.0.1:$port (data in $data)"
}

case "$kind" in
    postgres | postgresql) start_postgres ;;
    mariadb | mysql) start_mariadb ;;
    *) log "unknown server kind: $kind (postgres or mariadb)"; exit 2 ;;
esac
