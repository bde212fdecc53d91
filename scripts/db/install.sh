#!/usr/bin/env bash
# Installs PostgreSQL and MariaDB server binaries from Debian's packages, only if missing.
# The test servers themselves are started by start.sh in a temporary directory; the
# packaged system services are not used (and are stopped if the package starts them).
set -euo pipefail

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
have_mariadb() {
    command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1
}

packages=()
have_postgres || packages+=(postgresql)
have_mariadb || packages+=(mariadb-server mariadb-client)
# openssl makes the test CA and server certificates (TLS tests skip without it).
command -v openssl >/dev/null 2>&1 || packages+=(openssl)

if [ ${#packages[@]} -eq 0 ]; then
    echo "install.sh: postgresql, mariadb and openssl already present"
    exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

echo "install.sh: installing ${packages[*]}"
# policy-rc.d exit 101 keeps Debian's maintainer scripts from starting the system services
# (no init system in containers; we start our own servers on loopback anyway).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 0755 "$policy"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" = 1 ]; then
        "${sudo_cmd[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT

"${sudo_cmd[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
