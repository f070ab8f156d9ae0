#!/usr/bin/env bash
# The whole test suite, every engine: the README's second command and what CI runs.
#
# Installs what the tests need when it is missing (PostgreSQL's server and libpq, MariaDB's server and
# client library; Debian packages, as root), then runs `cargo test --workspace` with the MariaDB/MySQL
# features on. The servers themselves are started by the tests (throwaway clusters in temp dirs).
# Extra arguments go to cargo test (`scripts/test.sh -p migrator-tests --test boot`).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
dpkg -s libpq-dev >/dev/null 2>&1 || need+=(libpq-dev)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
dpkg -s libmariadb-dev-compat >/dev/null 2>&1 || need+=(libmariadb-dev-compat)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The features that link libmariadb: the MySQL engine in the tests, the example app and the tool; and
# the async example (tokio), which CI builds and tests too.
exec cargo test --workspace --no-fail-fast --features migrator-tests/mysql,example-app/mysql,migrator-tool/mysql,example-app/async "$@"
