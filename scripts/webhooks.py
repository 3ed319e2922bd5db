#!/usr/bin/env python3
"""Webhooks (`/v1/webhooks`) against the `oms` binary, with a real receiver on loopback that
checks every delivery with the official Standard Webhooks library (standardwebhooks, pinned in
scripts/ensure-tools.sh).

One embedded PostgreSQL cluster in a temporary folder; instance A owns it. Every instance that
delivers runs with OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS=true (the receiver is on 127.0.0.1), a
short retry schedule (SCHEDULE) and a short lease (LEASE). The receiver is a threaded HTTP
server in this script; each subscription has a path of its own there, whose answer can be
switched (200, 500, 410, a slow 200) or the whole server stopped (down). It keeps every request
(webhook-id, the position in the body's data, the body, the headers, when, what it answered).
  a. Subscriptions: an instance without the allow setting (C, attached to A's cluster, run only
     while no subscription exists) refuses loopback, private and metadata targets 422; bad
     URLs, unknown event types and other roles are refused; 201 with a `whsec_` secret; a
     replay with the same Idempotency-Key is 201 without it; an integration key sees none.
  b. Events written are delivered, every one, in position order, each body the feed's item,
     every signature verified; duplicates only by an identical webhook-id (and body).
  c. The receiver answers 500 for 2 s, then 200: everything arrives in order; the deliveries
     list shows the `retrying` attempts (500) and the delivered ones.
  d. The receiver is down for 3 s while events are written: all arrive, in order.
  e. Instance B joins; the receiver answers slowly; the instance delivering the subscription
     (found from /metrics) gets SIGKILL mid-delivery: the other takes over within the lease and
     a few seconds, the event in flight is sent again with the same webhook-id, nothing lost.
  f. A 410 disables the subscription (`gone`); nothing is sent while disabled; `resume`
     continues from the kept cursor, nothing lost.
  g. rotate-secret: the next deliveries carry two signatures, one per secret, and verify with
     the old secret and with the new one.
  h. redeliver from an earlier position sends those events again, same webhook-ids and bodies.
  i. A receiver answering 500 for ever: retries on the schedule (within its jitter), then
     `disabled` (`retries_exhausted`), cursor kept, while another subscription goes on being
     served; `resume` delivers everything.
  k. An integration key bound to WH-01: refused WH-02 (403); its subscription takes the key's
     locations, is the only one it lists, and gets WH-01's stock.moved events only, each body's
     data the item of the key's own feed.
  j. /metrics has oms_webhook_deliveries_total and oms_webhook_lag_events per subscription.
Loopback only; every wait is bounded (about a minute and a half in all with a debug build).
`OMS_BIN` picks the binary (default .build/debug/oms).
"""
import base64, datetime, http.client, json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, traceback, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from campaign import OMS, ROOT, Checks, create_key, finish, free_port, start_oms, stop_oms

SCHEDULE = [1, 1, 1, 2, 2]           # OMS_WEBHOOK_RETRY_SCHEDULE_SECONDS
JITTER = 0.2                         # each delay within +-20 % of the scheduled one
LEASE = 3                            # OMS_WEBHOOK_LEASE_SECONDS
ROTATION_GRACE = 1.5                 # a change through another instance reaches the delivering one within about a second
SLOW_SECONDS = 1.0                   # how long the slow receiver takes to answer
ARRIVAL_SECONDS = 20                 # how long events may take to arrive when nothing fails
LOCATION, OTHER = "WH-01", "WH-02"
check = Checks("webhooks")


def settings(allow=True):
    out = {"OMS_WEBHOOK_RETRY_SCHEDULE_SECONDS": ",".join(str(s) for s in SCHEDULE), "OMS_WEBHOOK_LEASE_SECONDS": LEASE}
    if allow:
        out["OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    return out


# ---- HTTP client ------------------------------------------------------------------------------

def call(base, method, path, key, body=None, headers=None, timeout=30):
    """(status, headers, parsed JSON or text) of one request; status 0 when it got no answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, method=method, data=data)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, head, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        status, head, text = error.code, error.headers, error.read().decode()
    except (OSError, http.client.HTTPException) as error:
        return 0, {}, str(error)
    try:
        return status, head, json.loads(text)
    except ValueError:
        return status, head, text


def receive(base, key, count, tag, locations=None):
    """One movements request of `count` receipts (one event each), at the locations in turn;
    (status, head before, head after)."""
    before, locations = head(base, key), locations or [LOCATION]
    body = {"movements": [{"sku": f"{tag}-{n}", "locationId": locations[n % len(locations)], "kind": "receipt", "quantity": 1,
                           "reason": "webhooks", "reference": f"{tag}-{n}"} for n in range(count)]}
    status = call(base, "POST", "/v1/stock/movements", key, body, {"Idempotency-Key": f"wh-{tag}-{time.time_ns()}"})[0]
    return status, before, head(base, key)


def head(base, key):
    answer = call(base, "GET", "/v1/events?limit=1", key)[2]
    return answer["headPosition"] if isinstance(answer, dict) else None


def feed(base, key, after, until):
    """The feed's items after `after` up to `until`, by position."""
    out = {}
    while after < until:
        status, _, page = call(base, "GET", f"/v1/events?after={after}&limit=1000", key)
        if status != 200 or not page["events"]:
            break
        for event in page["events"]:
            out[event["position"]] = event
        after = page["events"][-1]["position"]
    return out


def wait_for(condition, seconds, step=0.05):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def problem_names(answer):
    """The problem's kind (the last segment of `type`) and its errors' codes."""
    if not isinstance(answer, dict):
        return []
    return [str(answer.get("type", "")).rsplit("/", 1)[-1]] + [str(e.get("code")) for e in answer.get("errors") or []]


def metrics(base):
    """/metrics as [(name, labels, value)]; [] when it cannot be read."""
    try:
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    except (OSError, http.client.HTTPException):
        return []
    out = []
    for line in text.splitlines():
        found = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if found and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(2) or ""))
            try:
                out.append((found.group(1), labels, float(found.group(3))))
            except ValueError:
                pass
    return out


def metric_sum(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


def iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- The receiver -----------------------------------------------------------------------------

class Receiver:
    """A threaded HTTP server on 127.0.0.1 (keep-alive, as a real one). `modes[path]` is how a
    path answers: 200, 500, 410 or "slow" (200 after SLOW_SECONDS). `down()` closes it, listener
    and connections, and `up()` opens it again on the same port."""

    def __init__(self):
        self.port, self.lock, self.records, self.modes, self.connections = free_port(), threading.Lock(), [], {}, set()
        self.incomplete = []   # requests cut off before their whole body arrived
        self.server = None
        self.up()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def setup(self):
                super().setup()
                with receiver.lock:
                    receiver.connections.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass
                with receiver.lock:
                    receiver.connections.discard(self.connection)

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self):
                body, at = self.body(), time.time()
                declared = self.headers.get("Content-Length")
                if declared is not None and len(body) < int(declared):
                    # The sender closed the connection mid-request: nothing a receiver could take.
                    with receiver.lock:
                        receiver.incomplete.append({"path": self.path, "id": self.headers.get("webhook-id"), "at": at,
                                                    "bytes": len(body), "declared": int(declared)})
                    self.close_connection = True
                    return
                mode = receiver.modes.get(self.path, 200)
                answer = 200 if mode == "slow" else mode
                try:
                    position = json.loads(body)["data"]["position"]
                except (ValueError, KeyError, TypeError):
                    position = None
                with receiver.lock:
                    receiver.records.append({"path": self.path, "id": self.headers.get("webhook-id"), "position": position,
                                             "body": body, "headers": {k.lower(): v for k, v in self.headers.items()},
                                             "at": at, "answer": answer})
                if mode == "slow":
                    time.sleep(SLOW_SECONDS)
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads, server.block_on_close = True, False
        server.handle_error = lambda request, address: None
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.server = server

    def down(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        if self.server:
            self.down()

    def mark(self):
        with self.lock:
            return len(self.records)

    def since(self, path, mark=0):
        with self.lock:
            return [r for r in self.records[mark:] if r["path"] == path]

    def delivered(self, path, mark=0):
        """Positions answered 2xx on `path` since `mark`."""
        return {r["position"] for r in self.since(path, mark) if 200 <= r["answer"] < 300}


def order_problems(records, expected, restart=None):
    """What is wrong with the requests one subscription got in a phase, against the positions it
    should have got ([] when nothing): in position order (a retry repeats the position it
    retries), each expected one answered 2xx, nothing else, a duplicate only by an identical
    webhook-id and body, webhook-id evt_<position>. With `restart` (a time: an instance died),
    the requests before and after it are each in order; the other instance may start again from
    an earlier position (its cursor is the last one written), which sends a suffix twice."""
    unreadable = [r["body"][:120] for r in records if not isinstance(r["position"], int)]
    if unreadable:
        return [f"{len(unreadable)} bodies without data.position, e.g. {unreadable[0]!r}"]
    problems, positions = [], [r["position"] for r in records]
    segments = [[r["position"] for r in records if r["at"] <= restart], [r["position"] for r in records if r["at"] > restart]] \
        if restart is not None else [positions]
    backwards = [(a, b) for segment in segments for a, b in zip(segment, segment[1:]) if b < a]
    if backwards:
        problems.append(f"out of order: {backwards[:5]}")
    delivered = sorted({r["position"] for r in records if 200 <= r["answer"] < 300})
    if delivered != sorted(expected):
        missing, extra = sorted(set(expected) - set(delivered)), sorted(set(delivered) - set(expected))
        problems.append(f"missing {missing[:10]}" + (f", unexpected {extra[:10]}" if extra else ""))
    wrong_ids = [(r["id"], r["position"]) for r in records if r["id"] != f"evt_{r['position']}"]
    if wrong_ids:
        problems.append(f"webhook-id not evt_<position>: {wrong_ids[:3]}")
    first = {}
    for r in records:
        if r["id"] in first and json.loads(first[r["id"]]) != json.loads(r["body"]):
            problems.append(f"{r['id']} sent twice with different bodies")
        first.setdefault(r["id"], r["body"])
    return problems


def duplicates(records):
    return len(records) - len({r["id"] for r in records})


def verifies(secret, record, signatures=None):
    """Whether standardwebhooks verifies the request with the secret (only the given signatures, when named)."""
    headers = dict(record["headers"])
    if signatures is not None:
        headers["webhook-signature"] = signatures
    try:
        Webhook(secret).verify(record["body"], headers)
        return True
    except (WebhookVerificationError, ValueError):
        return False


# ---- The campaign -----------------------------------------------------------------------------

class Run:
    """What the parts share: the instances, the keys, the receiver, the subscriptions."""

    def __init__(self, work, data, receiver):
        self.work, self.data, self.receiver = work, data, receiver
        self.processes, self.admin, self.base, self.erp, self.killed_at = {}, None, None, None, None
        self.subs = {}      # name -> {"id", "path", "secrets", "cursor"}

    def sub(self, name):
        return self.subs[name]

    def get(self, name):
        status, _, answer = call(self.base, "GET", f"/v1/webhooks/{self.sub(name)['id']}", self.admin)
        return answer if status == 200 and isinstance(answer, dict) else {}

    def deliveries(self, name, limit=100):
        status, _, answer = call(self.base, "GET", f"/v1/webhooks/{self.sub(name)['id']}/deliveries?limit={limit}", self.admin)
        return answer.get("items", []) if status == 200 and isinstance(answer, dict) else []

    def write(self, count, tag, locations=None):
        status, before, after = receive(self.base, self.admin, count, tag, locations)
        if status != 201 or before is None or after is None:
            check(f"{count} receipts ({tag}) are written", False, f"status {status}")
            return []
        return list(range(before + 1, after + 1))

    def caught_up(self, name, seconds=ARRIVAL_SECONDS):
        """Waits until the subscription's lag is 0 and nothing is in flight."""
        return wait_for(lambda: self.get(name).get("lag") == 0, seconds, 0.1)


def subscriptions(run):
    """Part a."""
    base, admin, receiver = run.base, run.admin, run.receiver
    url = receiver.url("/r/main")
    # C: attached to A's cluster, without the allow setting, while no subscription exists.
    process_c, base_c = start_oms(run.data, os.path.join(run.work, "c.log"), settings=settings(allow=False))
    try:
        if base_c is None:
            check("instance C (no OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS) starts on the same database", False)
        else:
            for target in (url, f"http://localhost:{receiver.port}/r/main", "http://10.1.2.3/hook", "http://192.168.1.10/hook",
                           "http://169.254.169.254/latest/meta-data", "http://[::1]:9/hook"):
                status, _, answer = call(base_c, "POST", "/v1/webhooks", admin, {"url": target})
                names = problem_names(answer)
                check(f"without the allow setting {target} is refused 422 webhook_target_refused",
                      status == 422 and ("webhook_target_refused" in names or "webhook-target-refused" in names),
                      f"{status} {json.dumps(answer)[:300]}")
                if status == 201 and isinstance(answer, dict):
                    call(base_c, "DELETE", f"/v1/webhooks/{answer.get('id')}", admin)
    finally:
        stop_oms(process_c)

    for body, what in (({"url": "ftp://example.com/hook"}, "an ftp URL"), ({"url": "not a url"}, "a URL that is no URL"),
                       ({"url": "http://example.com/" + "x" * 2048}, "a URL of more than 2048 characters"),
                       ({"url": url, "eventTypes": ["stock.nonsense"]}, "an unknown event type"),
                       ({"url": url, "eventTypes": []}, "an empty eventTypes"),
                       ({"url": url, "description": "d" * 501}, "a description of 501 characters")):
        status, _, answer = call(base, "POST", "/v1/webhooks", admin, body)
        check(f"{what} is refused 422", status == 422, f"{status} {json.dumps(answer)[:200]}")
    status, _, made = call(base, "POST", "/v1/api-keys", admin, {"name": "wh checkout", "role": "checkout"})
    checkout = made.get("key") if isinstance(made, dict) else None
    status, _, answer = call(base, "POST", "/v1/webhooks", checkout or "x", {"url": url})
    check("a checkout key may not create a subscription (403)", status == 403, f"{status} {json.dumps(answer)[:200]}")

    key = f"wh-create-{time.time_ns()}"
    body = {"url": url, "description": "the test's main receiver"}
    status, _, created = call(base, "POST", "/v1/webhooks", admin, body, {"Idempotency-Key": key})
    created = created if isinstance(created, dict) else {}
    secret = created.get("secret") or ""
    try:
        secret_ok = secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
    except ValueError:
        secret_ok = False
    check("a subscription is created 201, active, with a whsec_ secret of 32 bytes",
          status == 201 and str(created.get("id", "")).startswith("wh_") and created.get("status") == "active" and secret_ok
          and created.get("url") == url and created.get("eventTypes") is None and created.get("createdAt"),
          f"{status} {json.dumps({k: v for k, v in created.items() if k != 'secret'})[:400]}")
    if status != 201 or not secret_ok:
        return False
    run.subs["main"] = {"id": created["id"], "path": "/r/main", "secrets": [secret], "cursor": created.get("cursor", 0)}
    status, headers, again = call(base, "POST", "/v1/webhooks", admin, body, {"Idempotency-Key": key})
    check("a replay with the same Idempotency-Key is 201, the same subscription, without the secret",
          status == 201 and isinstance(again, dict) and again.get("id") == created["id"] and "secret" not in again,
          f"{status} replayed {headers.get('Idempotent-Replayed') if headers else None} {json.dumps(again)[:300]}")
    status, _, listed = call(base, "GET", "/v1/webhooks", admin)
    ids = [item.get("id") for item in listed.get("items", [])] if isinstance(listed, dict) else []
    check("GET /v1/webhooks lists it, without its secret", status == 200 and ids.count(created["id"]) == 1
          and "whsec_" not in json.dumps(listed), f"{status} {ids}")
    shown = run.get("main")
    check("GET /v1/webhooks/{id} shows it with cursor, headPosition and lag, without the secret",
          shown.get("id") == created["id"] and isinstance(shown.get("cursor"), int) and isinstance(shown.get("headPosition"), int)
          and shown.get("lag") == shown.get("headPosition", 0) - shown.get("cursor", 0) and "secret" not in shown,
          json.dumps(shown)[:300])
    status = call(base, "GET", "/v1/webhooks/wh_unknown", admin)[0]
    check("an unknown subscription is 404", status == 404, str(status))
    status, _, made = call(base, "POST", "/v1/api-keys", admin, {"name": "wh erp", "role": "integration", "locations": [LOCATION]})
    erp = run.erp = made.get("key") if isinstance(made, dict) else "x"
    status, _, theirs = call(base, "GET", "/v1/webhooks", erp)
    seen = [item.get("id") for item in theirs.get("items", [])] if isinstance(theirs, dict) else None
    other = call(base, "GET", f"/v1/webhooks/{created['id']}", erp)[0]
    check("an integration key sees none of the admin's subscriptions (list empty, GET 404)",
          status == 200 and seen == [] and other == 404, f"list {status} {seen}, GET {other}")
    status, _, throwaway = call(base, "POST", "/v1/webhooks", admin, {"url": receiver.url("/r/deleted"), "eventTypes": ["hold.placed"]})
    if status == 201:
        status, _, deleted = call(base, "DELETE", f"/v1/webhooks/{throwaway['id']}", admin)
        check("DELETE answers 200 with the subscription, status deleted", status == 200 and isinstance(deleted, dict)
              and deleted.get("id") == throwaway["id"] and deleted.get("status") == "deleted", f"{status} {json.dumps(deleted)[:200]}")
        after = call(base, "GET", f"/v1/webhooks/{throwaway['id']}", admin)[0]
        check("a deleted subscription is 404 afterwards", after == 404, str(after))
    else:
        check("a subscription filtered to hold.placed is created", False, f"{status} {json.dumps(throwaway)[:200]}")
    return True


def first_deliveries(run):
    """Part b."""
    receiver, path = run.receiver, "/r/main"
    cursor = run.sub("main")["cursor"]
    mark = receiver.mark()
    expected = run.write(10, "b1") + run.write(5, "b2")
    if not expected:
        return
    expected = list(range(cursor + 1, expected[-1] + 1))   # the subscription starts after its cursor at creation
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    check(f"every event written arrives ({len(expected)}), in position order, duplicates only by webhook-id",
          arrived and not problems, "; ".join(problems) or f"{len(records)} requests, {duplicates(records)} duplicates")
    secret = run.sub("main")["secrets"][0]
    bad = [r["id"] for r in records if not verifies(secret, r)]
    check("every delivery verifies with standardwebhooks and the subscription's secret", records and not bad, f"failed: {bad[:5]}")
    items = feed(run.base, run.admin, expected[0] - 1, expected[-1])
    wrong = []
    for r in records:
        body = json.loads(r["body"])
        item = items.get(r["position"])
        if not (body.get("type") == (item or {}).get("type") and body.get("timestamp") == (item or {}).get("recordedAt")
                and body.get("data") == item and set(body) == {"type", "timestamp", "data"}):
            wrong.append(f"{r['id']}: {r['body'][:200]!r} vs the feed's {json.dumps(item)[:200]}")
    check("each body is {type, timestamp: recordedAt, data: the feed's item}", records and not wrong, "; ".join(wrong[:2]))
    headers = [r["headers"] for r in records]
    check("each request has content-type application/json, webhook-id, webhook-timestamp (now) and a v1 signature",
          records and all(h.get("content-type", "").startswith("application/json") and h.get("webhook-id", "").startswith("evt_")
                          and abs(int(h.get("webhook-timestamp", "0")) - r["at"]) < 30
                          and h.get("webhook-signature", "").startswith("v1,") for h, r in zip(headers, records)),
          json.dumps(headers[0]) if headers else "no request")
    shown = run.get("main")
    check("GET shows cursor = head, lag 0, the last delivery", wait_for(lambda: run.get("main").get("lag") == 0, 5)
          and (run.get("main").get("lastDelivery") or {}).get("outcome") == "delivered", json.dumps(shown)[:400])


def failing_then_fine(run):
    """Part c: 500 for 2 s, then 200."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    receiver.modes[path] = 500
    mark = receiver.mark()
    expected = run.write(5, "c")
    time.sleep(2)
    receiver.modes[path] = 200
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    failed = [r for r in records if r["answer"] == 500]
    check("500 for 2 s, then 200: every event arrives, in order, duplicates only by webhook-id",
          expected and arrived and not problems and failed and all(r["position"] == expected[0] for r in failed),
          "; ".join(problems) or f"{len(records)} requests, {len(failed)} answered 500 (of position {expected[0] if expected else None})")
    # The delivery log is written with the cursor, up to 200 ms after the receiver's answer.
    logged = lambda items: set(expected) <= {d.get("position") for d in items if d.get("outcome") == "delivered"}
    wait_for(lambda: logged(run.deliveries("main")), 3, 0.1)
    items = run.deliveries("main")
    retrying = [d for d in items if d.get("position") == expected[0] and d.get("outcome") == "retrying"] if expected else []
    delivered = {d.get("position") for d in items if d.get("outcome") == "delivered" and d.get("statusCode") == 200}
    check("the deliveries list shows the retrying attempts (500, nextRetryAt) and the delivered ones",
          len(retrying) >= 1 and all(d.get("statusCode") == 500 and d.get("nextRetryAt") and d.get("webhookId") == f"evt_{expected[0]}"
                                     for d in retrying) and set(expected) <= delivered,
          f"retrying {json.dumps(retrying[:2])[:300]}, delivered {sorted(delivered)[-8:]}")
    attempts = sorted(d.get("attempt") for d in items if expected and d.get("position") == expected[0])
    check("the attempts of the failed event are numbered 1, 2, ...", attempts == list(range(1, len(attempts) + 1)) and len(attempts) >= 2,
          str(attempts))
    times = [d.get("attemptedAt") for d in items]
    check("the deliveries list is newest first", all(iso(a) >= iso(b) for a, b in zip(times, times[1:]) if a and b), str(times[:4]))


def down_then_up(run):
    """Part d: the receiver down for 3 s while events are written."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    mark = receiver.mark()
    receiver.down()
    expected = run.write(5, "d")
    time.sleep(3)
    receiver.up()
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    check("the receiver down for 3 s: every event arrives once it is back, in order", expected and arrived and not problems,
          "; ".join(problems) or f"{len(records)} requests")
    items = run.deliveries("main")
    network = [d for d in items if expected and d.get("position") == expected[0] and d.get("outcome") == "retrying"]
    check("a network error is recorded as retrying, no status code, with an error",
          bool(network) and all(d.get("statusCode") is None and d.get("error") for d in network), json.dumps(network[:2])[:300])


def takeover(run):
    """Part e: B joins; the delivering instance gets SIGKILL mid-delivery; the other takes over."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    process_b, base_b = start_oms(run.data, os.path.join(run.work, "b.log"), settings=settings())
    if base_b is None:
        check("instance B starts on the same database", False)
        return
    run.processes["B"] = (process_b, base_b)
    bases = {name: b for name, (_, b) in run.processes.items()}
    sub_id = run.sub("main")["id"]
    counted = lambda b: metric_sum(metrics(b), "oms_webhook_deliveries_total", subscription=sub_id)
    before = {name: counted(b) for name, b in bases.items()}
    receiver.modes[path] = "slow"
    mark = receiver.mark()
    expected = run.write(6, "e")
    wait_for(lambda: len(receiver.since(path, mark)) >= 2, 15)
    after = {name: counted(b) for name, b in bases.items()}
    grew = [name for name in bases if after[name] > before[name]]
    check("one instance delivers the subscription (its /metrics counts the deliveries)", len(grew) == 1,
          f"deliveries counted before {before}, after {after}")
    victim = grew[0] if len(grew) == 1 else "A"
    survivor = "B" if victim == "A" else "A"
    in_flight = receiver.since(path, mark)[-1]["position"] if receiver.since(path, mark) else None
    process, _ = run.processes.pop(victim)
    process.kill()
    process.wait(timeout=10)
    killed = run.killed_at = time.time()
    print(f"webhooks: SIGKILL to instance {victim} while position {in_flight} was in flight; {survivor} remains", flush=True)
    run.base = run.processes[survivor][1]
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), LEASE + 6 * SLOW_SECONDS + ARRIVAL_SECONDS)
    receiver.modes[path] = 200
    records = receiver.since(path, mark)
    later = [r for r in records if r["at"] > killed]
    taken = later[0]["at"] - killed if later else None
    check(f"instance {survivor} takes over within the lease ({LEASE} s) and a few seconds", taken is not None and taken < LEASE + 5,
          f"{taken:.1f} s after the kill" if taken is not None else "nothing sent after the kill")
    problems = order_problems(records, expected, restart=killed)
    resent = [r["position"] for r in later if r["position"] in {e["position"] for e in records if e["at"] <= killed}]
    print(f"webhooks: {victim} sent {[r['position'] for r in records if r['at'] <= killed]}, {survivor} sent "
          f"{[r['position'] for r in later]} ({len(resent)} again)", flush=True)
    check("after the takeover every event arrives, in order, duplicates only by webhook-id", expected and arrived and not problems,
          "; ".join(problems) or f"{len(records)} requests, {duplicates(records)} duplicates")
    check("the event in flight at the kill is sent again with the same webhook-id",
          in_flight is not None and sum(1 for r in records if r["id"] == f"evt_{in_flight}") >= 2,
          f"evt_{in_flight} sent {sum(1 for r in records if r['id'] == f'evt_{in_flight}')} times")


def gone_then_resume(run):
    """Part f: a 410 disables; resume continues from the kept cursor."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    receiver.modes[path] = 410
    mark = receiver.mark()
    first = run.write(2, "f1")
    disabled = wait_for(lambda: run.get("main").get("status") == "disabled", ARRIVAL_SECONDS, 0.1)
    shown = run.get("main")
    check("a 410 disables the subscription at once (status disabled, disabledReason gone)",
          disabled and shown.get("disabledReason") == "gone", json.dumps(shown)[:300])
    gone = [r for r in receiver.since(path, mark)]
    check("the 410 was not retried", first and len(gone) == 1 and gone[0]["position"] == first[0], f"{[(r['position'], r['answer']) for r in gone]}")
    check("the subscription keeps its cursor before the refused event", first and shown.get("cursor") == first[0] - 1,
          f"cursor {shown.get('cursor')}, refused {first[:1]}")
    items = run.deliveries("main", 5)
    check("the deliveries list shows the attempt as gone (410)", bool(items) and items[0].get("outcome") == "gone"
          and items[0].get("statusCode") == 410, json.dumps(items[:1])[:300])
    receiver.modes[path] = 200
    more = run.write(2, "f2")
    time.sleep(1.5)
    check("nothing is sent while it is disabled", len(receiver.since(path, mark)) == 1, f"{len(receiver.since(path, mark))} requests")
    status, _, resumed = call(run.base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/resume", run.admin)
    check("resume answers 200, status active, failedAttempts 0", status == 200 and isinstance(resumed, dict)
          and resumed.get("status") == "active" and resumed.get("failedAttempts") == 0 and resumed.get("disabledReason") is None,
          f"{status} {json.dumps(resumed)[:300]}")
    expected = first + more
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    check("after resume delivery continues from the kept cursor: the refused event first, nothing lost",
          expected and arrived and not problems and records[1]["position"] == first[0],
          "; ".join(problems) or f"{[r['position'] for r in records]}")
    return expected[0] if expected else None


def rotation(run, base, where, grace=0.0):
    """One rotate-secret through `base`, then three events written through it: the checks of part g.
    With `grace` (a change through an instance that does not deliver reaches the one that does
    within about a second), deliveries attempted within `grace` of the answer may still carry the
    old pair and be sent again, from the first one the new secret signs; three more events are
    written once `grace` has passed, and everything attempted after it carries the new pair."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    older, old = run.sub("main")["secrets"][-2:] if len(run.sub("main")["secrets"]) > 1 else (None, run.sub("main")["secrets"][0])
    status, _, rotated = call(base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/rotate-secret", run.admin)
    new = rotated.get("secret", "") if isinstance(rotated, dict) else ""
    expires = rotated.get("previousSecretExpiresAt") if isinstance(rotated, dict) else None
    check(f"rotate-secret {where} answers 200 with a new whsec_ secret and previousSecretExpiresAt 24 h on",
          status == 200 and new.startswith("whsec_") and new != old and expires and abs(iso(expires) - time.time() - 86400) < 600,
          f"{status} {json.dumps({k: v for k, v in (rotated if isinstance(rotated, dict) else {}).items() if k != 'secret'})[:300]}")
    if not new.startswith("whsec_"):
        return
    run.sub("main")["secrets"].append(new)
    rotated_at, mark = time.time(), receiver.mark()
    status, before, after = receive(base, run.admin, 3, f"g-{where[:7]}")
    expected = list(range(before + 1, after + 1)) if status == 201 else []
    if grace:
        time.sleep(max(0.0, rotated_at + grace - time.time()))
        status, _, after = receive(base, run.admin, 3, f"g-{where[:7]}-later")
        expected = list(range(before + 1, after + 1)) if status == 201 and expected else []
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    time.sleep(0.5)   # anything sent again shows
    everything = receiver.since(path, mark)
    timeline = ", ".join(f"{r['position']} ({len(r['headers'].get('webhook-signature', '').split(' '))} sig"
                         f"{', new' if verifies(new, r) else ''}, +{r['at'] - rotated_at:.3f} s)" for r in everything)
    if grace:
        early = [r for r in everything if r["at"] < rotated_at + grace]
        records = [r for r in everything if r["at"] >= rotated_at + grace]
        switched = next((r["at"] for r in everything if verifies(new, r)), None)
        problems = order_problems(everything, expected, restart=switched - 0.0005 if switched else None)
        check(f"within {grace:g} s of a rotation {where} a delivery carries the old pair or the new one",
              all(verifies(old, r) for r in early), timeline)
        check(f"the events written after the rotation {where} all arrive, in order (again from the first the new secret signs)",
              expected and arrived and not problems, "; ".join(problems) + f" requests (time from the rotation's answer): {timeline}")
    else:
        records = everything
        check(f"the events written after the rotation {where} arrive, in order, once each",
              expected and arrived and not order_problems(records, expected) and len(records) == len(expected),
              "; ".join(order_problems(records, expected)) + f" requests (time from the rotation's answer): {timeline}")
    two = [r for r in records if len(r["headers"].get("webhook-signature", "").split(" ")) == 2]
    check("they carry two v1 signatures, separated by a space", records and len(two) == len(records),
          f"{len(two)} of {len(records)}: {timeline}")
    check("each verifies with the old secret and with the new one (standardwebhooks)",
          records and all(verifies(old, r) and verifies(new, r) for r in records),
          f"old {[verifies(old, r) for r in records]}, new {[verifies(new, r) for r in records]}")
    each = []
    for r in two:
        first, second = r["headers"]["webhook-signature"].split(" ")
        each.append(({verifies(old, r, first), verifies(old, r, second)} == {True, False})
                    and verifies(new, r, first) != verifies(old, r, first) and verifies(new, r, second) != verifies(old, r, second))
    check("one signature is the old secret's and the other the new one's", two and all(each), str(each))
    if older is not None:
        check("the secret before the old one signs no more", records and not any(verifies(older, r) for r in records))
    run.caught_up("main")
    shown = run.get("main")
    check("GET shows previousSecretExpiresAt", shown.get("previousSecretExpiresAt") == expires, json.dumps(shown)[:300])


def rotate(run):
    """Part g: through the instance that delivers, then through another one (D, started for it):
    every delivery after the answer is signed with both secrets."""
    rotation(run, run.base, "through the delivering instance")
    process_d, base_d = start_oms(run.data, os.path.join(run.work, "d.log"), settings=settings())
    try:
        if base_d is None:
            check("instance D starts on the same database", False)
        else:
            rotation(run, base_d, "through another instance", grace=ROTATION_GRACE)
    finally:
        stop_oms(process_d)


def redeliver(run, start):
    """Part h: redeliver from an earlier position."""
    receiver, path = run.receiver, "/r/main"
    run.caught_up("main")
    top = run.get("main").get("headPosition")
    status, _, answer = call(run.base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/redeliver", run.admin, {"fromPosition": top + 2})
    check("redeliver past headPosition + 1 is refused 422", status == 422, f"{status} {json.dumps(answer)[:200]}")
    status, _, answer = call(run.base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/redeliver", run.admin, {"fromPosition": 0})
    check("redeliver from 0 is refused 422", status == 422, f"{status} {json.dumps(answer)[:200]}")
    if start is None:
        return
    earlier = {r["id"]: r for r in receiver.since(path) if 200 <= r["answer"] < 300}
    mark = receiver.mark()
    status, _, answer = call(run.base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/redeliver", run.admin, {"fromPosition": start},
                             {"Idempotency-Key": f"wh-redeliver-{time.time_ns()}"})
    check(f"redeliver from {start} answers 200 with cursor {start - 1}", status == 200 and isinstance(answer, dict)
          and answer.get("cursor") == start - 1, f"{status} {json.dumps(answer)[:300]}")
    expected = list(range(start, top + 1))
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    check(f"the events from {start} to {top} are sent again, in order", arrived and not problems, "; ".join(problems))
    same = [r["id"] in earlier and json.loads(earlier[r["id"]]["body"]) == json.loads(r["body"]) for r in records]
    check("with the same webhook-ids and bodies as the first time", records and all(same), f"{same.count(False)} differ")


def exhausted(run):
    """Part i: 500 for ever: the schedule is spent, disabled retries_exhausted; resume delivers."""
    receiver, path = run.receiver, "/r/fail"
    receiver.modes[path] = 500
    status, _, created = call(run.base, "POST", "/v1/webhooks", run.admin, {"url": receiver.url(path)})
    if status != 201:
        check("a second subscription is created", False, f"{status} {json.dumps(created)[:200]}")
        return
    run.subs["fail"] = {"id": created["id"], "path": path, "secrets": [created["secret"]], "cursor": created.get("cursor", 0)}
    cursor = created.get("cursor", 0)
    mark = receiver.mark()
    written = run.write(1, "i")
    if not written:
        return
    disabled = wait_for(lambda: run.get("fail").get("status") == "disabled", sum(SCHEDULE) * (1 + JITTER) + ARRIVAL_SECONDS, 0.1)
    shown = run.get("fail")
    check("a receiver answering 500 for ever: disabled retries_exhausted once the schedule is spent",
          disabled and shown.get("disabledReason") == "retries_exhausted", json.dumps(shown)[:300])
    check("its cursor is kept", shown.get("cursor") == cursor, f"cursor {shown.get('cursor')}, at creation {cursor}")
    records = receiver.since(path, mark)
    first = records[0]["position"] if records else None
    times = [r["at"] for r in records if r["position"] == first]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(f"the event was tried 1 + {len(SCHEDULE)} times, only it", len(times) == 1 + len(SCHEDULE) and len(records) == len(times),
          f"{len(times)} attempts of position {first}, {len(records)} requests")
    check(f"the retries wait the schedule {SCHEDULE} s within +-{JITTER:.0%} jitter",
          len(gaps) == len(SCHEDULE) and all(d * (1 - JITTER) - 0.1 <= g <= d * (1 + JITTER) + 0.6 for d, g in zip(SCHEDULE, gaps)),
          " ".join(f"{g:.2f}" for g in gaps))
    main_ok = written[-1] in receiver.delivered("/r/main", mark)
    check("the other subscription got the same event meanwhile (a failing endpoint holds back only its own)", main_ok)
    receiver.modes[path] = 200
    status, _, resumed = call(run.base, "POST", f"/v1/webhooks/{created['id']}/resume", run.admin)
    check("resume answers 200, active", status == 200 and isinstance(resumed, dict) and resumed.get("status") == "active",
          f"{status} {json.dumps(resumed)[:200]}")
    expected = list(range(cursor + 1, written[-1] + 1))
    resumed_at = receiver.mark()
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    records = receiver.since(path, resumed_at)
    problems = order_problems(records, expected)
    check(f"after resume the {len(expected)} events from its cursor arrive, in order", arrived and not problems, "; ".join(problems))
    bad = [r["id"] for r in receiver.since(path) if not verifies(created["secret"], r)]
    check("they verify with its own secret", not bad, str(bad[:5]))


def integration(run):
    """Part k: an integration key bound to WH-01 manages its own subscription, which takes the
    key's locations: it gets the stock.moved events of WH-01 only, each as the key's feed shows it."""
    receiver, path, erp = run.receiver, "/r/erp", run.erp
    status, _, answer = call(run.base, "POST", "/v1/webhooks", erp, {"url": receiver.url(path), "locationIds": [OTHER]})
    check(f"an integration key bound to {LOCATION} may not subscribe to {OTHER} (403)", status == 403, f"{status} {json.dumps(answer)[:200]}")
    status, _, made = call(run.base, "POST", "/v1/webhooks", erp, {"url": receiver.url(path), "eventTypes": ["stock.moved"]})
    check(f"its subscription without locationIds takes the key's ({LOCATION})", status == 201 and isinstance(made, dict)
          and made.get("locationIds") == [LOCATION] and made.get("eventTypes") == ["stock.moved"], f"{status} {json.dumps(made)[:300]}")
    if status != 201:
        return
    run.subs["erp"] = {"id": made["id"], "path": path, "secrets": [made["secret"]], "cursor": made.get("cursor", 0)}
    status, _, theirs = call(run.base, "GET", "/v1/webhooks", erp)
    seen = [item.get("id") for item in theirs.get("items", [])] if isinstance(theirs, dict) else None
    status_all, _, everything = call(run.base, "GET", "/v1/webhooks", run.admin)
    all_ids = [item.get("id") for item in everything.get("items", [])] if isinstance(everything, dict) else []
    check("the integration key lists its own subscription only; the admin sees it too",
          seen == [made["id"]] and made["id"] in all_ids and run.sub("main")["id"] in all_ids, f"key {seen}, admin {all_ids}")
    status = call(run.base, "POST", f"/v1/webhooks/{run.sub('main')['id']}/resume", erp)[0]
    check("the integration key may not act on the admin's subscription (404)", status == 404, str(status))
    mark = receiver.mark()
    written = run.write(6, "k", [LOCATION, OTHER])
    if not written:
        return
    own = feed(run.base, erp, written[0] - 1, written[-1])
    expected = [p for p, e in own.items() if e["type"] == "stock.moved" and LOCATION in e["locationIds"]]
    arrived = wait_for(lambda: set(expected) <= receiver.delivered(path, mark), ARRIVAL_SECONDS)
    run.caught_up("erp")
    records = receiver.since(path, mark)
    problems = order_problems(records, expected)
    check(f"it gets the {len(expected)} stock.moved events of {LOCATION} and none of {OTHER}, in order",
          len(expected) == 3 and arrived and not problems, "; ".join(problems) or f"{[r['position'] for r in records]}")
    wrong = [r["id"] for r in records if json.loads(r["body"]).get("data") != own.get(r["position"])]
    check("each body's data is the item of the key's own feed", records and not wrong, str(wrong[:3]))
    shown = run.get("erp")
    check(f"its cursor passes over the events it does not want (cursor = head {written[-1]})",
          shown.get("cursor", 0) >= written[-1], f"cursor {shown.get('cursor')}")
    status, _, deleted = call(run.base, "DELETE", f"/v1/webhooks/{made['id']}", erp)
    check("the integration key deletes its subscription (200, deleted)", status == 200 and isinstance(deleted, dict)
          and deleted.get("status") == "deleted", f"{status} {json.dumps(deleted)[:200]}")
    deleted_at, mark = time.time(), receiver.mark()
    after = run.write(2, "k-deleted")
    time.sleep(1.5)
    sent = [f"{r['position']} at +{r['at'] - deleted_at:.3f} s" for r in receiver.since(path, mark)]
    check("nothing is sent to a deleted subscription (events written after the DELETE's answer)", after and not sent,
          f"written {after}, sent {sent}")


def metric_checks(run):
    """Part j."""
    samples = metrics(run.base)
    for name in ("main", "fail"):
        if name not in run.subs:
            continue
        sub_id = run.sub(name)["id"]
        delivered = metric_sum(samples, "oms_webhook_deliveries_total", subscription=sub_id, outcome="delivered")
        lag = [v for n, l, v in samples if n == "oms_webhook_lag_events" and l.get("subscription") == sub_id]
        shown = run.get(name)
        check(f"/metrics has oms_webhook_deliveries_total{{outcome=delivered}} and oms_webhook_lag_events of {name}",
              delivered > 0 and len(lag) == 1, f"delivered {delivered}, lag {lag}; GET: status {shown.get('status')}, "
              f"cursor {shown.get('cursor')}, head {shown.get('headPosition')}")
    if "fail" in run.subs:
        retrying = metric_sum(samples, "oms_webhook_deliveries_total", subscription=run.sub("fail")["id"], outcome="retrying")
        check("/metrics counts the failing subscription's retrying attempts", retrying >= len(SCHEDULE), str(retrying))
    if "main" in run.subs:
        gone = metric_sum(samples, "oms_webhook_deliveries_total", subscription=run.sub("main")["id"], outcome="gone")
        histogram = metric_sum(samples, "oms_webhook_delivery_duration_seconds_count", subscription=run.sub("main")["id"])
        check("/metrics has the gone outcome and the delivery duration histogram", gone >= 1 and histogram > 0,
              f"gone {gone}, duration count {histogram}")


def every_signature(run):
    """Every request the receiver got verifies with one of its subscription's secrets."""
    by_path = {sub["path"]: sub["secrets"] for sub in run.subs.values()}
    with run.receiver.lock:
        records = list(run.receiver.records)
    bad = [f"{r['path']} {r['id']}" for r in records if not any(verifies(s, r) for s in by_path.get(r["path"], []))]
    check(f"every one of the {len(records)} requests received verifies with standardwebhooks", records and not bad, str(bad[:5]))
    with run.receiver.lock:
        cut = list(run.receiver.incomplete)
    check("no request was cut off before its whole body (no instance died meanwhile but the one killed)",
          all(abs(c["at"] - run.killed_at) < 2 for c in cut) if run.killed_at else not cut, json.dumps(cut[:3]))


def main():
    # Every wait below is bounded; this bounds them all, should one of them not be.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("webhooks: FAIL the campaign took more than 200 s"))
    signal.alarm(200)
    if not os.access(OMS, os.X_OK):
        sys.exit(f"webhooks: {OMS} is missing; build it first")
    work = tempfile.mkdtemp(prefix="omnistock-webhooks.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    receiver = Receiver()
    began = time.time()
    run = Run(work, data, receiver)
    try:
        process, base = start_oms(data, os.path.join(work, "a.log"), settings=settings())
        run.processes["A"] = (process, base)
        if base is None:
            check("oms serve becomes ready", False, f"see {work}/a.log")
        else:
            run.base, run.admin = base, create_key(data, "admin", "webhooks admin")
            for location in (LOCATION, OTHER):
                status = call(base, "PUT", f"/v1/locations/{location}", run.admin, {
                    "name": f"Webhook store {location}", "kind": "store", "latitude": 48.86, "longitude": 2.34,
                    "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 100})[0]
                check(f"location {location} defined", status in (200, 201), str(status))
            try:
                if subscriptions(run):
                    first_deliveries(run)
                    failing_then_fine(run)
                    down_then_up(run)
                    takeover(run)
                    start = gone_then_resume(run)
                    rotate(run)
                    redeliver(run, start)
                    exhausted(run)
                    integration(run)
                    metric_checks(run)
                    every_signature(run)
            except Exception:
                check("the campaign runs to its end", False, traceback.format_exc()[-1500:])
    finally:
        signal.alarm(0)
        receiver.close()
        for process, _ in run.processes.values():
            stop_oms(process)
        # The cluster outlives an instance killed with SIGKILL (and a campaign cut short).
        subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")], timeout=60)
    print(f"webhooks: {time.time() - began:.0f} s in all")
    if check.failures:
        for log in ("a.log", "b.log", "c.log", "d.log"):
            path = os.path.join(work, log)
            if os.path.exists(path):
                print(f"webhooks: the end of {log}:\n" + "".join(open(path, errors="replace").readlines()[-30:]))
    return finish(check, work, data)


if __name__ == "__main__":
    sys.exit(main())
