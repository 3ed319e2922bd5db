#!/usr/bin/env bash
# The whole test suite: the end-to-end smoke test of the `oms` binary, the flash-sale check, then
# `swift test` (unit, store and HTTP tests) on a throwaway PostgreSQL cluster that is removed
# afterwards, whatever happens. Set DATABASE_URL to run the store and HTTP tests on an existing
# server instead. Every part runs even when an earlier one fails, and the run ends with a summary
# of the parts (and the failing checks and tests), so that a failure is not buried thousands of
# lines above the last one; the exit status is non-zero when any part failed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-tools.sh
work=$(mktemp -d /tmp/omnistock-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  bash scripts/stop-cluster.sh "$work/cluster/pgdata"
  rm -rf "$work"
}
trap cleanup EXIT

# The failing checks and tests the summary lists per part, at most; the rest are in the output.
failures_shown_max=30

names=()
results=()
logs=()
# part NAME COMMAND... runs one part, its output shown as it comes and kept in a log for the
# summary, and records whether it passed. The command is the condition of an `if`, where
# `set -e` does not apply, so a failing part cannot end the script before the summary; pipefail
# makes the part's status the command's, not tee's.
part() {
  local name=$1; shift
  local log
  log="$work/part-${#names[@]}.log"
  echo "test: ── $name ──"
  names+=("$name")
  logs+=("$log")
  if "$@" 2>&1 | tee "$log"; then results+=(passed); else results+=(FAILED); fi
}

# What a part's log says about its failures: the build's compiler errors, the "FAIL" line of each
# failed check of the smoke test and the flash-sale check, each failed test of Swift Testing
# ("✘ Test … failed after …"; its issues are in the output above), and crashes. Repeats are
# shown once: the compiler reports an error again for every file of its module.
failures_in() {  # failures_in LOG
  # Colour codes are removed first, in case a tool colours its output even into a pipe.
  sed 's/\x1b\[[0-9;]*m//g' "$1" |
    grep -E ': error: |^error: |^(smoke|flash-sale|slow-clients|chaos|streams|webhooks|store-app|track-page|schemathesis|swift-test): FAIL|^swift-test:   |^✘ Test .* failed after |Fatal error' |
    grep -v '^✘ Test run with' | awk '!seen[$0]++' || true
}
# The part's own closing count ("smoke: 20 passed, 1 failed", "✘ Test run with 182 tests …").
closing_line() {  # closing_line LOG
  sed 's/\x1b\[[0-9;]*m//g' "$1" |
    grep -E '^smoke: [0-9]+ passed, [0-9]+ failed|^(flash-sale|slow-clients|chaos|streams|webhooks|store-app|track-page): (passed|[0-9]+ failed)$|^schemathesis: (passed|FAILED)|^(✔|✘) Test run with [0-9]+ test' |
    tail -n 1 || true
}

part "build (swift build --build-tests)" swift build --build-tests
if [ "${results[0]}" = passed ]; then
  part "smoke test (scripts/smoke.sh)" bash scripts/smoke.sh
  # Never oversell, proven across two `oms serve` processes on one database (counts units).
  part "flash-sale check (scripts/flash-sale.py)" python3 scripts/flash-sale.py
  # Idle, slowloris and slow-body clients and more connections than the bound: /health answers,
  # the process lives, the server closes them within its timeouts.
  part "slow clients (scripts/slow-clients.py)" python3 scripts/slow-clients.py
  # kill -9 of PostgreSQL and of oms under a write load: 503 with Retry-After while the database
  # is away, recovery on its own, every acknowledged write found, verify clean.
  part "chaos (scripts/chaos.py)" python3 scripts/chaos.py
  # The event stream with a real SSE client: resume after a restart, two instances, scope, a
  # slow reader cut off and resumed, the per-key limit, shutdown; the availability stream.
  part "streams (scripts/streams.py)" python3 scripts/streams.py
  # Webhooks to a real receiver, every signature checked with the standardwebhooks library:
  # retries, a receiver down, a SIGKILL takeover by a second instance, 410, rotation, replay.
  part "webhooks (scripts/webhooks.py)" python3 scripts/webhooks.py
  # The store app in headless Chromium: sign-in, the live queue, the store's steps, collect
  # with a wrong code then the right one, a return, stock and transfers, another store's key
  # refused, accessibility, no console errors; screenshots under .build/screenshots/.
  part "store app (scripts/store-app.py)" python3 scripts/store-app.py
  # The customer's tracking page in headless Chromium at phone size: live to ready within 2 s
  # of the store's tap, French and English, unknown and revoked links; screenshots too.
  part "tracking page (scripts/track-page.py)" python3 scripts/track-page.py
  # Generated requests against the served OpenAPI document, a fixed seed: no 5xx, every answer
  # valid against the document, every documented rule enforced.
  part "schemathesis (scripts/schemathesis.py)" python3 scripts/schemathesis.py
  # Swift Testing only (the XCTest runner would print a misleading "Executed 0 tests"), under a
  # watchdog that fails a run that does not end and names the tests that did not.
  part "swift test" env OMS_TEST_DATA_DIR="$work/cluster" bash scripts/swift-test.sh
fi

echo
echo "test: ── summary ──"
failed=0
for index in "${!names[@]}"; do
  printf 'test: %-7s %s\n' "${results[$index]}" "${names[$index]}"
  closing=$(closing_line "${logs[$index]}")
  if [ -n "$closing" ]; then echo "test:         $closing"; fi
  if [ "${results[$index]}" = passed ]; then continue; fi
  failed=1
  failures=$(failures_in "${logs[$index]}")
  if [ -z "$failures" ]; then
    echo "test:         (no failing check or test named; see the part's output above)"
    continue
  fi
  count=$(wc -l <<<"$failures")
  head -n "$failures_shown_max" <<<"$failures" | sed 's/^/test:         /'
  if [ "$count" -gt "$failures_shown_max" ]; then
    echo "test:         … and $((count - failures_shown_max)) more in the output above"
  fi
done
if [ "${results[0]}" != passed ]; then
  echo "test: not run: the smoke test, the flash-sale check and swift test (the build failed)"
fi
if [ "$failed" = 0 ]; then
  echo "test: every part passed"
else
  echo "test: FAILED"
fi
exit "$failed"
