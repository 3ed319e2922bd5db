#!/usr/bin/env bash
# Stops a PostgreSQL cluster left running in a data folder (a test run or a killed `oms serve`).
# Usage: stop-cluster.sh PGDATA
set -u
pgdata=$1
[ -f "$pgdata/postmaster.pid" ] || exit 0
pg_ctl=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
[ -n "$pg_ctl" ] || exit 0
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
else
  "$pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
fi
