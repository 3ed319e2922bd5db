#!/usr/bin/env bash
# End-to-end check of the built `oms` binary as an operator uses it: its help and version, `oms
# serve` on a fresh embedded PostgreSQL cluster with the demo data, a key made with `oms api-key
# create` while the server runs, the operations endpoints, a role refusal, graceful shutdown, a
# second start, and the messages of a start that cannot listen or has a bad setting.
# Prints the start-up times and a closing "N passed, N failed" line. Loopback only; every wait
# is bounded.
set -uo pipefail
cd "$(dirname "$0")/.."
# The smoke test always runs on its own embedded cluster, never on a shared server.
unset DATABASE_URL
oms=${OMS_BIN:-.build/debug/oms}
work=$(mktemp -d /tmp/omnistock-smoke.XXXXXX)
chmod 755 "$work"
data="$work/data"
passed=0
failed=0
server=""

cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  bash scripts/stop-cluster.sh "$data/pgdata"
  rm -rf "$work"
}
trap cleanup EXIT

check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); echo "smoke: ok   $name"
  else failed=$((failed + 1)); echo "smoke: FAIL $name"; fi
}
status_of() {  # status_of METHOD URL KEY [BODY]
  curl -s -o /dev/null -w '%{http_code}' -X "$1" "$2" -H "Authorization: Bearer $3" \
       ${4:+-H 'Content-Type: application/json' --data "$4"}
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

start_server() {  # start_server LOG -> sets server, port; returns 0 when /ready answers 200
  port=$(free_port)
  "$oms" serve --data-dir "$data" --port "$port" --demo >"$1" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return 0
    kill -0 "$server" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_server() {  # SIGTERM, then wait at most 15 s for a clean exit; returns its exit status
  kill -TERM "$server"
  for _ in $(seq 1 150); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  # Past the bound it is a failure, and the server is killed so the wait below returns.
  kill -0 "$server" 2>/dev/null && kill -KILL "$server"
  wait "$server"; local rc=$?
  server=""
  return $rc
}

# The command line itself, before any database: help and the version print and exit 0, a bad
# option exits 64 (EX_USAGE) with the usage.
prints() {  # prints TEXT COMMAND...: the command exits 0 and its output contains TEXT
  local text=$1; shift
  local out
  out=$("$@" 2>&1) && grep -qF -- "$text" <<<"$out"
}
check "oms --help prints the usage (exit 0)" prints "USAGE: oms" "$oms" --help
check "oms -h prints the usage (exit 0)" prints "USAGE: oms" "$oms" -h
check "oms help prints the usage (exit 0)" prints "USAGE: oms" "$oms" help
check "a bare oms prints the usage (exit 0)" prints "USAGE: oms" "$oms"
check "oms serve --help prints its options (exit 0)" prints "--port" "$oms" serve --help
check "oms help serve prints its options (exit 0)" prints "--port" "$oms" help serve
check "oms api-key --help lists its subcommands (exit 0)" prints "revoke" "$oms" api-key --help
check "oms api-key create --help prints its options (exit 0)" prints "--role" "$oms" api-key create --help
check "oms --version prints the version (exit 0)" \
  bash -c "out=\$('$oms' --version) && grep -qxE '[0-9]+\.[0-9]+\.[0-9]+' <<<\"\$out\""
check "an unknown option exits 64 with the usage" \
  bash -c "out=\$('$oms' serve --no-such-option 2>&1); [ \$? -eq 64 ] && grep -q 'Usage: oms serve' <<<\"\$out\""

t0=$(now_ms)
if ! start_server "$work/serve1.log"; then
  echo "smoke: oms serve did not become ready; its output:"; cat "$work/serve1.log"
  echo "smoke: 0 passed, 1 failed"; exit 1
fi
first_ms=$(( $(now_ms) - t0 ))
base="http://127.0.0.1:$port"
admin=$(cat "$data/demo-admin-key")

check "serve prints the URL and the demo admin key" grep -q "Demo admin key: $admin" "$work/serve1.log"
check "GET /health is 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" = 200
check "GET /ready is 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200
check "the demo locations are there" test "$(curl -s "$base/v1/locations" -H "Authorization: Bearer $admin" | grep -o '"id":"[A-Z]*-0[0-9]"' | wc -l)" = 5
check "the admin key creates a location" test "$(status_of PUT "$base/v1/locations/PAR-05" "$admin" \
  '{"name":"Paris Marais","kind":"store","latitude":48.857,"longitude":2.362,"capabilities":{"pickup":true,"ships":false},"dailyCapacity":60}')" = 201
store=$("$oms" api-key create --role store --location PAR-02 --name smoke-store --data-dir "$data" 2>"$work/cli.log")
check "oms api-key create works while the server runs" test -n "$store"
check "a store key of another location cannot change PAR-01 (403)" test "$(status_of PUT "$base/v1/locations/PAR-01" "$store" \
  '{"name":"Hijack","kind":"store","latitude":48,"longitude":2,"capabilities":{"pickup":true,"ships":true},"dailyCapacity":1}')" = 403
check "a store key reads the event feed of its own store (200)" test "$(status_of GET "$base/v1/events?after=0" "$store")" = 200
check "… and nothing of PAR-01 in it" bash -c '! curl -s "$1/v1/events?after=0&limit=1000" -H "Authorization: Bearer $2" | grep -q "PAR-01"' _ "$base" "$store"
check "an unknown key is 401" test "$(status_of GET "$base/v1/locations" "oms_nope")" = 401
curl -s "$base/metrics" >"$work/metrics.txt"
check "/metrics has per-route request figures" grep -q 'oms_http_requests_total{method="PUT",route="/v1/locations/{locationId}",status="201"' "$work/metrics.txt"
check "/metrics has pool figures" grep -q '^oms_db_pool_connections_max' "$work/metrics.txt"
curl -s "$base/openapi.yaml" >"$work/openapi.yaml"
if python3 -c 'import yaml, openapi_spec_validator' 2>/dev/null; then
  check "/openapi.yaml is a valid OpenAPI 3.1 document" python3 -c \
    "import yaml, sys; from openapi_spec_validator import validate; validate(yaml.safe_load(open(sys.argv[1])))" "$work/openapi.yaml"
elif python3 -c 'import yaml' 2>/dev/null; then
  check "/openapi.yaml parses as YAML" python3 -c "import yaml, sys; yaml.safe_load(open(sys.argv[1]))" "$work/openapi.yaml"
else
  check "/openapi.yaml starts as an OpenAPI 3.1 document" grep -q '^openapi: 3.1.0' "$work/openapi.yaml"
fi
check "the demo stock shows in availability" bash -c "curl -s '$base/v1/availability?sku=JACKET-M' -H 'Authorization: Bearer $admin' | grep -q '\"available\":51'"
printf 'sku,locationId,kind,quantity,reason,reference\nSCARF-1,PAR-03,receipt,4,asn,ASN-1\n"SCARF-1",WH-01,receipt,10,asn,"ASN-1, part 2"\n' >"$work/movements.csv"
# A click & collect journey through the binary: order, ready, collect with the code shown once.
order=$(curl -s -X POST "$base/v1/orders" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  --data '{"orderNumber": "SMOKE-1", "lines": [{"sku": "TEE-WHITE-S", "quantity": 1}], "fulfilment": {"type": "pickup", "locationId": "PAR-01"}}')
order_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))' <<<"$order" 2>/dev/null || true)
pickup_code=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("pickupCode", ""))' <<<"$order" 2>/dev/null || true)
check "a click & collect order is created with its pickup code" test -n "$order_id" -a -n "$pickup_code"
check "the store marks it ready (200)" test "$(status_of POST "$base/v1/orders/$order_id/ready" "$admin" '{}')" = 200
check "a wrong pickup code is refused (422)" test "$(status_of POST "$base/v1/orders/$order_id/collect" "$admin" '{"pickupCode": "WRONG234"}')" = 422
check "the right pickup code hands it over (200)" \
  test "$(status_of POST "$base/v1/orders/$order_id/collect" "$admin" "{\"pickupCode\": \"$pickup_code\"}")" = 200
check "the order reads back collected" bash -c "curl -s '$base/v1/orders/$order_id' -H 'Authorization: Bearer $admin' | grep -q '\"status\":\"collected\"'"
check "oms import movements loads a CSV" bash -c "'$oms' import movements '$work/movements.csv' --data-dir '$data' | grep -q '1 applied'"
check "importing the same file twice changes nothing" bash -c "'$oms' import movements '$work/movements.csv' --data-dir '$data' | grep -q '1 already imported'"
printf 'sku,locationId,kind,quantity\nSCARF-1,PAR-03,receipt,1\nSCARF-1,NOWHERE,receipt,2\n' >"$work/bad.csv"
check "a faulty CSV is refused with its line number and applies nothing" \
  bash -c "out=\$('$oms' import movements '$work/bad.csv' --data-dir '$data' 2>&1); [ \$? -ne 0 ] && grep -q 'line 3: No location' <<<\"\$out\""
python3 -c "
import sys
rows = ['sku,locationId,kind,quantity'] + ['BULK-%05d,WH-01,receipt,1' % n for n in range(10000)] + ['BULK-00000,PAR-01,sale,5']
open(sys.argv[1], 'w').write('\n'.join(rows) + '\n')" "$work/two-batches.csv"
check "a file whose second batch fails applies neither batch" \
  bash -c "out=\$('$oms' import movements '$work/two-batches.csv' --data-dir '$data' 2>&1); [ \$? -ne 0 ] && grep -q 'line 10002' <<<\"\$out\" && grep -q 'nothing was imported' <<<\"\$out\" \
           && curl -s '$base/v1/stock/WH-01/BULK-00000' -H 'Authorization: Bearer $admin' | grep -q '\"version\":0'"
printf 'locationId,countedAt,sku,quantity\nPAR-03,%s,SCARF-1,3\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/counts.csv"
check "oms import counts reconciles a count" bash -c "'$oms' import counts '$work/counts.csv' --data-dir '$data' | grep -q '1 applied'"
check "oms verify is clean after the demo data and the import" bash -c "'$oms' verify --data-dir '$data' | grep -q 'equal a replay'"
check "SIGTERM shuts down cleanly (exit 0)" stop_server
check "the embedded PostgreSQL is stopped with it" test ! -f "$data/pgdata/postmaster.pid"

t0=$(now_ms)
if start_server "$work/serve2.log"; then
  later_ms=$(( $(now_ms) - t0 ))
  check "a later start keeps the data" test "$(status_of GET "http://127.0.0.1:$port/v1/locations/PAR-05" "$admin")" = 200
  check "a later start adds no second opening stock" bash -c "curl -s 'http://127.0.0.1:$port/v1/availability?sku=JACKET-M' -H 'Authorization: Bearer $admin' | grep -q '\"available\":51'"
  check "the second start stops cleanly" stop_server
else
  later_ms=-1
  check "a later start becomes ready" false
fi
check "oms api-key create starts and stops the cluster itself when no server runs" \
  bash -c "'$oms' api-key create --role checkout --name smoke-checkout --data-dir '$data' >/dev/null 2>&1 && test ! -f '$data/pgdata/postmaster.pid'"
check "oms serve with a bad setting exits non-zero and names it" \
  bash -c "out=\$(OMS_HTTP_PORT=99999 '$oms' serve --data-dir '$data' 2>&1); [ \$? -ne 0 ] && grep -q oms.http.port <<<\"\$out\""
# A start that cannot listen once hung for ever about one time in ten (its services waited on
# queries the cancelled pool had lost), so it is tried ten times; `timeout -k` ends a hang.
refused_starts() {  # refused_starts PORT: ten starts on a taken port each exit non-zero and say why
  python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$1)); s.listen(); time.sleep(300)" &
  local holder=$! out rc ok=0
  sleep 0.5
  for _ in $(seq 1 10); do
    out=$(timeout -k 10 60 "$oms" serve --data-dir "$data" --port "$1" 2>&1); rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 124 ] \
       || ! grep -q "cannot listen on 127.0.0.1:$1: the address is already in use" <<<"$out" \
       || ! grep -q -- '--port 9090' <<<"$out"; then ok=1; break; fi
  done
  kill "$holder"; wait "$holder" 2>/dev/null
  return $ok
}
check "oms serve on a port in use exits non-zero, naming the address and how to choose another (ten starts)" refused_starts "$port"
check "a failed start leaves no server running" test ! -f "$data/pgdata/postmaster.pid"

echo "smoke: start-up to ready: first start (initdb + migrations) ${first_ms} ms, later start ${later_ms} ms"
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
