#!/usr/bin/env bash
# Installs what Omnistock needs beside the Swift toolchain when it is missing: the PostgreSQL
# server programs (initdb, pg_ctl, postgres) for the embedded cluster and the tests, and curl for
# the end-to-end smoke test. Debian/Ubuntu only (apt-get); elsewhere it says what to install.
set -euo pipefail

have_postgres() {
  for dir in $(echo "$PATH" | tr ':' ' ') /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && return 0
  done
  return 1
}

missing=()
have_postgres || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The benchmark's load generator.
[ "${1:-}" = "--bench" ] && ! command -v wrk >/dev/null 2>&1 && missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Omnistock needs: ${missing[*]} (the PostgreSQL server package provides initdb, pg_ctl and postgres)." >&2
  echo "Install them with your system's package manager, or set DATABASE_URL to an existing server." >&2
  exit 1
fi
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "Installing ${missing[*]} with apt-get…" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's package would create and start a system-wide "main" cluster on port 5432; Omnistock
# runs its own clusters, so ask for none.
"${sudo[@]}" mkdir -p /etc/postgresql-common
echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
have_postgres || { echo "the PostgreSQL server programs are still missing after installing postgresql" >&2; exit 1; }
