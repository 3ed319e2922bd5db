#!/usr/bin/env bash
# Installs what Omnistock needs beside the Swift toolchain when it is missing (`--bench` adds wrk,
# `--ha` the failover test's Patroni, etcd, HAProxy and wrk): the PostgreSQL
# server programs (initdb, pg_ctl, postgres) for the embedded cluster and the tests, curl for
# the end-to-end smoke test, schemathesis (from PyPI, pinned) for the OpenAPI campaign
# (scripts/schemathesis.py), sseclient-py (from PyPI, pinned) for the stream campaign
# (scripts/streams.py), standardwebhooks (from PyPI, pinned) for the webhook campaign
# (scripts/webhooks.py), and for the store app's browser test (scripts/store-app.py) Debian's
# chromium and chromium-driver with selenium (from PyPI, pinned). Debian/Ubuntu only (apt-get);
# elsewhere it says what to install.
# Quiet when everything is there.
set -euo pipefail

# The Python packages of the campaigns, from PyPI, each pinned to the release it was measured with:
# - schemathesis (Python 3.9 or later): `st run` with `--checks all`, `--seed`, `--max-examples`
#   and response schema validation (scripts/schemathesis.py);
# - sseclient-py, the SSE client of the stream campaign: `sseclient.SSEClient(chunks).events()`;
# - standardwebhooks, the official Standard Webhooks library the webhook campaign verifies every
#   delivery with: `standardwebhooks.webhooks.Webhook(secret).verify(body, headers)`;
# - selenium, the WebDriver client of the store app's browser test, given Debian's chromium and
#   chromedriver by path so that it never downloads a browser or a driver (4.52.0 needs a
#   certifi newer than PyPI had when it was pinned).
pinned=("schemathesis==4.32.5" "sseclient-py==1.9.0" "standardwebhooks==1.1.0" "selenium==4.51.0")

have_pinned() {  # have_pinned NAME==VERSION
  [ "$(python3 -c "from importlib.metadata import version; print(version('${1%%==*}'))" 2>/dev/null)" = "${1##*==}" ]
}

have_every_pinned() {
  for package in "${pinned[@]}"; do have_pinned "$package" || return 1; done
}

# pip into the python3 that runs the scripts; where the system Python is marked as managed by
# the distribution (PEP 668), pip needs to be told that installing into it is meant.
install_pinned() {
  for package in "${pinned[@]}"; do
    have_pinned "$package" && continue
    echo "Installing $package with pip…" >&2
    local pip=(python3 -m pip install --quiet --disable-pip-version-check "$package")
    "${pip[@]}" >/dev/null 2>&1 || "${pip[@]}" --break-system-packages >/dev/null ||
      { echo "could not install $package with pip" >&2; exit 1; }
    have_pinned "$package" || { echo "$package is still missing after pip install" >&2; exit 1; }
  done
}

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
# The browser of the store app's test, and its WebDriver (Debian's own builds, matched).
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# pip itself, when a pinned Python package has to be installed and the system Python lacks it.
if ! have_every_pinned && command -v python3 >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
# The benchmark's load generator.
[ "${1:-}" = "--bench" ] && ! command -v wrk >/dev/null 2>&1 && missing+=(wrk)
# The failover test (scripts/ha-test.py): Patroni, etcd and HAProxy as deploy/ha/ runs them, and
# wrk for its holds/s figures.
if [ "${1:-}" = "--ha" ]; then
  command -v patroni >/dev/null 2>&1 || missing+=(patroni)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi
if [ ${#missing[@]} -eq 0 ]; then
  install_pinned
  exit 0
fi

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
install_pinned
