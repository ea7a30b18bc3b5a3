#!/usr/bin/env bash
# Installs the database servers the integration tests start (PostgreSQL and
# MariaDB) and the sqlite3 program the bench compares with, only when
# missing. Idempotent; needs root or sudo. The tests themselves start and
# stop the servers (tests/common/servers.rs).
set -euo pipefail

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null
}

have_mariadb() {
    { command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } &&
        command -v mariadb-install-db >/dev/null
}

packages=()
have_postgres || packages+=(postgresql)
have_mariadb || packages+=(mariadb-server)
# The bench's P1-sqlite row compares a migration with `sqlite3 .backup`.
command -v sqlite3 >/dev/null 2>&1 || packages+=(sqlite3)

if [ ${#packages[@]} -eq 0 ]; then
    echo "install-servers: PostgreSQL and MariaDB already installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

echo "install-servers: installing ${packages[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

# Debian's packages may start system-wide services; the tests use their own
# servers on free ports, so those are not needed (and fail harmlessly in
# containers without an init system).
have_postgres || { echo "install-servers: PostgreSQL still missing" >&2; exit 1; }
have_mariadb || { echo "install-servers: MariaDB still missing" >&2; exit 1; }
echo "install-servers: done"
