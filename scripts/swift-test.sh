#!/usr/bin/env bash
# `swift test` (Swift Testing only) under a watchdog: a test that waits for ever must fail the run
# within minutes and say which test it was, not hold CI until its 90-minute limit (a run on
# record printed its last line at 20 s and was killed at 5,400 s, and its last kilobytes were lost
# in the pipe's buffer). So the output is line-buffered, the run is bounded, and past the bound
# this prints the tests that started and never ended, and the threads of the test process.
# Usage: scripts/swift-test.sh [swift test arguments...]; OMS_TEST_SECONDS_MAX sets the bound.
set -uo pipefail
cd "$(dirname "$0")/.."

# The whole suite takes about 30 s in CI and 60-90 s on a loaded two-core machine.
seconds_max=${OMS_TEST_SECONDS_MAX:-900}
log=$(mktemp /tmp/omnistock-swift-test.XXXXXX)
trap 'rm -f "$log"' EXIT

# stdbuf makes the test process's stdout line-buffered (it is block-buffered into a pipe).
stdbuf -oL -eL swift test --skip-build --disable-xctest "$@" > >(tee "$log") 2>&1 &
runner=$!
started=$(date +%s)
while kill -0 "$runner" 2>/dev/null; do
  if (( $(date +%s) - started >= seconds_max )); then
    echo "swift-test: FAIL: no end after $seconds_max s; the tests that started and did not end:"
    # "◇ Test name() started." opens a test; "✔ Test name() passed after", "✘ Test name() failed
    # after" (with "with N test cases" when parameterised) or "➜ Test name() skipped" ends it.
    sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
      /^◇ Test [^ ]+ started\.$/ && $3 != "run" { name = $3; open[name]++ }
      /^(✔|✘) Test [^ ]+ (with [0-9]+ test cases? )?(passed|failed) after / { name = $3; if (open[name] > 0) open[name]-- }
      /^➜ Test [^ ]+ skipped/ { name = $3; if (open[name] > 0) open[name]-- }
      END { for (name in open) if (open[name] > 0) print "swift-test:   " name }'
    process=$(pgrep -P "$runner" -f 'PackageTests.xctest' | head -n 1)
    if [ -n "$process" ]; then
      echo "swift-test: the threads of the test process $process:"
      if command -v gdb > /dev/null; then
        timeout 60 gdb -p "$process" -batch -ex 'thread apply all bt 30' 2>&1 | grep -E '^(Thread|#)' | head -n 600
      elif command -v lldb > /dev/null; then
        timeout 60 lldb -p "$process" --batch -o 'thread backtrace all -c 30' 2>&1 | head -n 600
      fi
      kill -9 "$process" 2>/dev/null
    fi
    kill "$runner" 2>/dev/null
    wait "$runner" 2>/dev/null
    exit 1
  fi
  sleep 2
done
wait "$runner"
