#!/usr/bin/env python3
"""Schemathesis against the served OpenAPI document: the server and the document must agree.

Starts its own `oms serve --demo` on a fresh embedded PostgreSQL cluster in a temporary folder,
on a free loopback port, and runs schemathesis (`st run`) on `/openapi.yaml` with every check
(`--checks all`: not_a_server_error, status, content type, headers and response schema
conformance, negative and positive data, missing headers, unsupported methods, auth, ...), a
fixed seed and a bounded number of examples per operation, with the demo admin key (the
`bearer` scheme of the document's securitySchemes). Then it
prints the totals from schemathesis' NDJSON report: cases generated, answers by status class,
failures by check (each failure named), and a closing line
`schemathesis: passed (N cases, 0 server errors, 0 violations)` or `schemathesis: FAILED ...`.
Exit status 0 when it passed, 1 otherwise. oms and its cluster are stopped whatever happens.

Two runs, because `DELETE /v1/api-keys/{apiKeyId}` can revoke the very key the campaign uses
(the key's id is in every `createdBy` and in `GET /v1/api-keys`): the first run tests every
other operation, the second that one alone, last.

Settings (environment): OMS_BIN (the binary, default .build/debug/oms), SCHEMATHESIS_SEED (20261201),
SCHEMATHESIS_MAX_EXAMPLES (examples per operation and phase, 150), SCHEMATHESIS_SECONDS (the
bound on the whole campaign, 720). Loopback only; every wait is bounded.
"""
import collections, glob, json, os, shutil, signal, subprocess, sys, tempfile, time


from campaign import OMS, ROOT, start_oms, stop_oms

SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261201"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "150"))
# The whole campaign's bound: the measured run (150 examples, about 4,200 cases, 2 cores, debug
# build) took 140 s, so only a hang reaches it.
SECONDS = int(os.environ.get("SCHEMATHESIS_SECONDS", "720"))
# One request's bound: the slowest answer measured in the campaign is under a second.
REQUEST_SECONDS = 20
REVOKE = "DELETE /v1/api-keys/{apiKeyId}"

# Answers to schema-valid requests that a rule stated in the document's words, but not in
# JSON Schema, explains; schemathesis' positive_data_acceptance check expects 2xx, 401, 403, 404
# or 409 of a schema-valid request otherwise. 422: an id in a body that names nothing (an
# unknown hold, line or location), an amount checked against the ledger (more than was handed
# over or sent), a time too far from the clock, or an Idempotency-Key already used with
# another body (schemathesis repeats its simplest keys). 400: `radiusKm` needs `near`, which
# OpenAPI cannot say of two query parameters.
DOCUMENTED_REFUSALS = {
    "GET /v1/availability": ["400"],
    # Rules across parameters a schema cannot state: `to` after `from`, at most 366 days after
    # it, and at most 1,000 buckets of the series (400 out-of-range or too-many).
    "GET /v1/kpis": ["400"],
    **{label: ["422"] for label in [
        "POST /v1/api-keys", "POST /v1/holds", "POST /v1/holds/{holdId}/extend", "POST /v1/orders",
        "POST /v1/orders/{orderId}/cancel", "POST /v1/orders/{orderId}/collect",
        "POST /v1/orders/{orderId}/lines/{lineId}/not-found", "POST /v1/orders/{orderId}/picking",
        "POST /v1/orders/{orderId}/ready", "POST /v1/orders/{orderId}/returns", "POST /v1/orders/{orderId}/ship",
        "POST /v1/orders/{orderId}/unlock", "POST /v1/sourcing/plan", "POST /v1/stock/counts",
        "POST /v1/stock/movements", "POST /v1/transfers", "POST /v1/transfers/{transferId}/receive",
        "PUT /v1/locations/{locationId}", "PUT /v1/stock/{locationId}/{sku}/safety-stock",
        # A generated URL's host rarely resolves (422 webhook-target-refused); a generated
        # fromPosition is mostly past the head (422 out-of-range).
        "POST /v1/webhooks", "POST /v1/webhooks/{webhookId}/redeliver",
        # Bodiless steps: a generated Idempotency-Key already sent with another request is 422
        # idempotency-key-reused before the subscription is looked up, as for the order steps.
        "POST /v1/webhooks/{webhookId}/resume", "POST /v1/webhooks/{webhookId}/rotate-secret",
        "POST /v1/orders/{orderId}/tracking/revoke",
    ]},
}
EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Errors of schemathesis' own generation, not answers of the server: Hypothesis calling a
# generated input flaky (the server's state moved between two runs of one example), or no
# input or link to run. They are printed, and do not fail the campaign; any other error does
# (a connection refused or reset, a timeout, a document schemathesis cannot read).
GENERATION_ERRORS = {"FlakyFailure", "FlakyStrategyDefinition", "Unsatisfiable", "NoLinksFound"}


def say(text):
    print(f"schemathesis: {text}", flush=True)


def start_demo(data, log):
    """Starts `oms serve --demo`; returns (process, base URL, admin key), base None when it did not start."""
    # The campaign's subscriptions are not delivered: a generated URL whose host resolves is a
    # host on the internet, which a test must not POST to.
    process, base = start_oms(data, log, args=["--demo"], settings={"OMS_WEBHOOK_DELIVERY": "false"})
    if base is None:
        return process, None, None
    with open(os.path.join(data, "demo-admin-key")) as key:
        return process, base, key.read().strip()


def stop_demo(process, data):
    """Stops oms (it stops its embedded cluster), and the cluster too if oms had to be killed."""
    stop_oms(process)
    subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")], timeout=60)


def write_config(path):
    """The schemathesis.toml of the run: the documented refusals above, per operation."""
    lines = []
    for label, statuses in DOCUMENTED_REFUSALS.items():
        expected = ", ".join(f'"{status}"' for status in EXPECTED + statuses)
        lines += ["[[operations]]", f'include-name = "{label}"', f"checks.positive_data_acceptance.expected-statuses = [{expected}]", ""]
    with open(path, "w") as config:
        config.write("\n".join(lines))


def run_st(config, base, key, report, selection, examples, seconds):
    """One `st run`; returns its exit status (124 when the bound stopped it)."""
    # `python3 -m schemathesis.cli` is the `st` command, found without PATH.
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", config, "--no-color", "run", f"{base}/openapi.yaml", "--url", base,
               "--checks", "all", "--seed", str(SEED), "--max-examples", str(examples),
               # One worker: with two, Hypothesis's threads once parsed source at the same time and
               # CPython 3.11 failed inside `ast.parse` ("AST constructor recursion depth
               # mismatch"), a runtime error of the tool that failed the campaign with no finding.
               "--header", f"Authorization: Bearer {key}", "--workers", "1",
               "--request-timeout", str(REQUEST_SECONDS), "--report", "ndjson", "--report-dir", report,
               "--generation-database", "none", "--suppress-health-check", "all",
               # A stream's answer never ends (until the server or client closes it): they are
               # tested with a real SSE client (scripts/streams.py), not with request/response.
               "--exclude-path-regex", "/stream$"] + selection
    # Run in the report folder: schemathesis keeps a cache of failures in its working directory.
    process = subprocess.Popen(command, cwd=report, start_new_session=True)
    try:
        return process.wait(timeout=max(seconds, 1))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return 124


def tally(report):
    """What the NDJSON reports say: cases, answers by status class, failures, errors."""
    cases, classes, failures, errors, operations = 0, collections.Counter(), [], [], set()
    phases = collections.Counter()
    for path in sorted(glob.glob(os.path.join(report, "*.ndjson"))):
        for line in open(path):
            event = json.loads(line)
            kind, body = next(iter(event.items()))
            if kind == "NonFatalError" or kind == "FatalError":
                value = body.get("value", {})
                errors.append((value.get("type", "?"), body.get("label", "?"), value.get("message", "")[:200]))
            if kind != "ScenarioFinished":
                continue
            recorder = body["recorder"]
            operations.add(recorder["label"])
            for interaction in recorder.get("interactions", {}).values():
                cases += 1
                phases[body.get("phase", "?")] += 1
                status = (interaction.get("response") or {}).get("status_code")
                classes[f"{status // 100}xx" if status else "no answer"] += 1
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check["status"] == "failure":
                        failure = check.get("failure_info", {}).get("failure", {})
                        # The message's first line names what was sent (an undeclared method, say).
                        message = (failure.get("message") or "").splitlines()
                        title = failure.get("title", "") + (f": {message[0]}" if message else "")
                        failures.append((check["name"], recorder["label"], title, case_id))
    return cases, classes, failures, errors, operations, phases


def summarise(report, statuses, seconds):
    cases, classes, failures, errors, operations, phases = tally(report)
    unique = sorted(set(failures))
    by_check = collections.Counter(name for name, *_ in unique)
    server_errors = classes.get("5xx", 0)
    say(f"{cases} cases over {len(operations)} operations in {seconds:.0f} s (seed {SEED}, {MAX_EXAMPLES} examples per operation and phase)")
    say("cases by phase: " + ", ".join(f"{name} {count}" for name, count in sorted(phases.items())))
    say("answers: " + ", ".join(f"{name} {count}" for name, count in sorted(classes.items())))
    say("failures by check: " + (", ".join(f"{name} {count}" for name, count in sorted(by_check.items())) or "none"))
    for name, label, title, case_id in unique:
        say(f"FAIL {name}: {label}: {title} (test case {case_id})")
    for kind, label, message in errors:
        if kind in GENERATION_ERRORS:
            say(f"note: schemathesis' own {kind} on {label} (not an answer of the server): {message.splitlines()[0] if message else ''}")
        else:
            say(f"FAIL error: {kind} on {label}: {message}")
    errors = [error for error in errors if error[0] not in GENERATION_ERRORS]
    bounded = [status for status in statuses if status == 124]
    if bounded:
        say(f"FAIL the campaign did not finish within {SECONDS} s")
    # 0 and 1 are schemathesis' verdicts (1 for the failures and errors tallied above); any
    # other status is a run that did not finish (a usage error, a crash).
    unfinished = [status for status in statuses if status not in (0, 1, 124)]
    if unfinished:
        say(f"FAIL schemathesis exited with status {unfinished[0]} (see its output above)")
    violations = len(unique)
    passed = not unique and not errors and not bounded and not unfinished and server_errors == 0 and cases > 0
    verdict = "passed" if passed else "FAILED"
    say(f"{verdict} ({cases} cases, {server_errors} server errors, {violations} violations)")
    return passed


def main():
    if not os.access(OMS, os.X_OK):
        say(f"FAILED ({OMS} is missing; build it first)")
        return 1
    try:
        import schemathesis  # noqa: F401 (installed by scripts/ensure-tools.sh)
    except ImportError:
        say("FAILED (schemathesis is not installed for python3; run scripts/ensure-tools.sh)")
        return 1
    work = tempfile.mkdtemp(prefix="omnistock-schemathesis.")
    os.chmod(work, 0o755)
    data, report, config = os.path.join(work, "data"), os.path.join(work, "report"), os.path.join(work, "schemathesis.toml")
    write_config(config)
    os.makedirs(report)
    started = time.time()
    process, base, key = start_demo(data, os.path.join(work, "oms.log"))
    try:
        if base is None:
            say("oms serve did not become ready; its output:")
            print(open(os.path.join(work, "oms.log")).read()[-4000:])
            say("FAILED (oms serve did not start)")
            return 1
        say(f"oms serves {base} (demo data); running schemathesis on {base}/openapi.yaml")
        statuses = [run_st(config, base, key, report, ["--exclude-name", REVOKE], MAX_EXAMPLES, SECONDS)]
        left = SECONDS - (time.time() - started)
        # One operation has no links to follow: no stateful phase.
        statuses.append(run_st(config, base, key, report, ["--include-name", REVOKE, "--phases", "examples,coverage,fuzzing"], MAX_EXAMPLES, left))
        return 0 if summarise(report, statuses, time.time() - started) else 1
    finally:
        stop_demo(process, data)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
