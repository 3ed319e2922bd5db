#!/usr/bin/env python3
"""The event stream (`GET /v1/events/stream`) driven by a real SSE client (sseclient-py, pinned in
scripts/ensure-tools.sh) against the `oms` binary: resume after a restart, two instances, scope,
slow readers, the per-key limit and shutdown.

One embedded PostgreSQL cluster in a temporary folder; instance A owns it, instance B attaches to
it. A runs with at most 3 streams per key and 8 queued messages per stream, so the limits are
met with few streams and events. Then:
  1. A stream from position 0 has the SSE headers and the `retry:` hint, and sends every event,
     positions contiguous; a bad Last-Event-ID is a 400.
  2. Past 3 open streams of one key the next is refused 429 with Retry-After.
  3. An integration key bound to PAR-01 sees PAR-01's events and nothing of PAR-02.
  4. SIGTERM with streams open: `oms` stops within a few seconds, and each stream ends with the
     shutdown comment.
  5. After the restart, reconnecting with Last-Event-ID gives the rest: no gap, no duplicate.
  6. A write through instance B reaches a stream served by A.
  7. A reader that keeps up gets a whole 9,000-event burst (one movements request). Two such
     bursts at once with long SKUs (about 14 MB on the wire, more than the kernel's socket
     buffers take): a reader that pauses 4 s (past the 2 s a queue may stay full, within the
     10 s a write may take) is cut off with a final comment, and resumes from its Last-Event-ID
     with nothing lost; /metrics counts the disconnect.
Loopback only; every read has a deadline and every loop a bound (about a minute in all).
"""
import datetime, http.client, json, os, signal, socket, sys, tempfile, threading, time, urllib.error, urllib.request

import sseclient

from campaign import Checks, create_key, start_oms, stop_oms

PER_KEY, QUEUE = 3, 8                 # OMS_STREAMS_PER_KEY_MAX and OMS_STREAM_QUEUE_MESSAGES of instance A
BURST = 9_000                         # events of one movements request (under the tail's 10,000 a subscriber)
PAUSE = 4.0                           # seconds the slow reader reads nothing after the burst is committed
SHUTDOWN_SECONDS = 5.0                # how long SIGTERM may take with streams open
check = Checks("streams")


def call(base, method, path, key, body=None, headers=None):
    """(status, headers, parsed JSON or text) of one request."""
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        # A 9,000-line movements request in a debug build, beside another, took over 30 s in CI.
        with urllib.request.urlopen(request, timeout=120) as response:
            status, head, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        status, head, text = error.code, error.headers, error.read().decode()
    try:
        return status, head, json.loads(text)
    except ValueError:
        return status, head, text


def receive(base, key, lines):
    """Posts one movements request of receipts, (sku, location[, reference]) per line; its status."""
    body = {"movements": [{"sku": line[0], "locationId": line[1], "kind": "receipt", "quantity": 1,
                           **({"reason": line[2], "reference": line[2]} if len(line) > 2 else {})} for line in lines]}
    return call(base, "POST", "/v1/stock/movements", key, body, {"Idempotency-Key": f"m-{time.time_ns()}"})[0]


def head(base, key):
    return call(base, "GET", "/v1/events?limit=1", key)[2]["headPosition"]


class Connection(http.client.HTTPConnection):
    """An HTTP connection whose receive buffer may be made small before it connects (a slow reader's window)."""

    def __init__(self, host, port, timeout, receive_buffer=None):
        super().__init__(host, port, timeout=timeout)
        self.receive_buffer = receive_buffer

    def connect(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


class Stream:
    """One open event stream, parsed by sseclient-py; `raw` keeps every byte (comments too)."""

    def __init__(self, base, key, last_id=None, after=None, receive_buffer=None, read_bytes=65536, pause=0.0, path=None):
        host, port = base.removeprefix("http://").split(":")
        self.connection = Connection(host, int(port), timeout=20, receive_buffer=receive_buffer)
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        path = path or "/v1/events/stream" + ("" if after is None else f"?after={after}")
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status, self.headers = self.response.status, self.response.headers
        self.raw, self.read_bytes, self.pause, self.ended, self.deadline = bytearray(), read_bytes, pause, False, 0.0
        self.events = sseclient.SSEClient(self._chunks()).events()

    def _chunks(self):
        # sseclient-py reads on through comments (the heartbeats), so the deadline is kept here.
        while time.time() < self.deadline:
            self.connection.sock.settimeout(max(0.1, self.deadline - time.time()))
            chunk = self.response.read1(self.read_bytes)
            if not chunk:
                self.ended = True
                return
            self.raw += chunk
            yield chunk
            if self.pause:
                time.sleep(self.pause)

    def read(self, until, seconds):
        """Events (position, type, data) until `until(events)` holds, the stream ends, or `seconds` pass."""
        events, self.deadline = [], time.time() + seconds
        while not until(events) and time.time() < self.deadline:
            try:
                event = next(self.events)
            except (StopIteration, OSError, http.client.HTTPException):
                break
            try:
                data = json.loads(event.data)
            except ValueError:
                break  # the last event of a connection cut off mid-write
            if event.id:
                events.append((int(event.id), event.event, data))
            elif event.event == "availability":
                # No id: the availability stream starts with a new snapshot on every connection.
                events.append((None, event.event, data, time.time()))
        return events

    def close(self):
        self.connection.close()


def upto(position):
    return lambda events: bool(events) and events[-1][0] >= position


def contiguous(positions, first, last):
    return positions == list(range(first, last + 1))


def setup(base, admin):
    for location in ("PAR-01", "PAR-02"):
        status = call(base, "PUT", f"/v1/locations/{location}", admin, {
            "name": f"Store {location}", "kind": "store", "latitude": 48.86, "longitude": 2.34,
            "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 100})[0]
        check(f"location {location} defined", status in (200, 201), str(status))
    status, _, created = call(base, "POST", "/v1/api-keys", admin, {"name": "erp PAR-01", "role": "integration", "locations": ["PAR-01"]})
    check("an integration key bound to PAR-01 is made", status == 201, str(status))
    for n in range(10):
        receive(base, admin, [(f"SKU-{n}", "PAR-01" if n % 2 == 0 else "PAR-02")])
    return created.get("key") if isinstance(created, dict) else None


def first_streams(base, admin, erp):
    """Parts 1 to 3; returns the admin's open streams (for the shutdown) and what the first one read."""
    last = head(base, admin)
    first = Stream(base, admin, after=0)
    check("a stream answers 200 with the SSE headers", first.status == 200 and first.headers.get("Content-Type") == "text/event-stream"
          and first.headers.get("Cache-Control") == "no-cache" and first.headers.get("X-Accel-Buffering") == "no",
          f"{first.status} {dict(first.headers)}")
    seen = first.read(upto(last), 15)
    check("the stream starts with the retry hint", bytes(first.raw).startswith(b"retry: 2000\n\n"), bytes(first.raw[:40]).decode(errors="replace"))
    check("a stream from 0 sends every event, positions contiguous", contiguous([p for p, _, _ in seen], 1, last), f"{len(seen)} of {last}")
    check("each event's data is the feed's item", all(data["position"] == p and data["type"] == t for p, t, data in seen))
    status = call(base, "GET", "/v1/events/stream", admin, headers={"Last-Event-ID": "abc"})[0]
    check("a bad Last-Event-ID is a 400", status == 400, str(status))

    others = [Stream(base, admin) for _ in range(PER_KEY - 1)]
    refused = Stream(base, admin)
    check(f"past {PER_KEY} open streams of a key the next is a 429 with Retry-After",
          refused.status == 429 and refused.headers.get("Retry-After") is not None
          and refused.headers.get("Content-Type") == "application/problem+json", f"{refused.status}")
    refused.close()
    # A client that closes an idle stream frees its place at once, not at the next heartbeat's
    # write (15 s on): the key at its limit opens another (a page reloaded, say) straight away.
    others[-1].close()
    closed_at, again = time.time(), None
    while time.time() - closed_at < 3:
        again = Stream(base, admin)
        if again.status == 200:
            break
        again.close()
        time.sleep(0.1)
    check("a stream its client closes frees its place at once (the key at its limit opens another)",
          again.status == 200, f"{again.status} {time.time() - closed_at:.1f} s after the close")
    others[-1] = again

    scoped = Stream(base, erp, after=0)
    feed = call(base, "GET", "/v1/events?limit=1000", admin)[2]["events"]
    own = [e["position"] for e in feed if "PAR-01" in e["locationIds"]]
    got = scoped.read(upto(own[-1]), 15)
    text = json.dumps([data for _, _, data in got])
    check("a bound key's stream shows its location's events", [p for p, _, _ in got] == own, f"{[p for p, _, _ in got]} vs {own}")
    check("a bound key's stream shows nothing of other locations", "PAR-02" not in text)
    scoped.close()
    return [first] + others, seen


def shutdown_and_resume(data, log, settings, streams, seen):
    """Parts 4 and 5; returns the restarted instance (process, base) and its admin key holder."""
    process, base, admin = streams["process"], streams["base"], streams["admin"]
    started = time.time()
    code = stop_oms(process)
    took = time.time() - started
    check(f"SIGTERM with {len(streams['open'])} streams open stops within {SHUTDOWN_SECONDS:.0f} s", code == 0 and took < SHUTDOWN_SECONDS,
          f"exit {code} after {took:.1f} s")
    for stream in streams["open"]:
        stream.read(lambda _: False, 3)
    ended = [b"shutting down" in bytes(stream.raw) for stream in streams["open"]]
    check("every open stream ends with the shutdown comment", all(ended), str(ended))
    for stream in streams["open"]:
        stream.close()

    process, base = start_oms(data, log, settings=settings)
    if base is None:
        check("oms restarts", False)
        return process, None
    for n in range(10):
        receive(base, admin, [(f"AFTER-{n}", "PAR-01")])
    last, resumed_from = head(base, admin), seen[-1][0]
    resumed = Stream(base, admin, last_id=resumed_from)
    rest = resumed.read(upto(last), 15)
    resumed.close()
    positions = [p for p, _, _ in seen] + [p for p, _, _ in rest]
    check("after a restart, Last-Event-ID resumes with no gap and no duplicate", contiguous(positions, 1, last),
          f"resumed after {resumed_from}, got {len(rest)}, head {last}")
    return process, base


def two_instances(data, log_b, base_a, admin):
    """Part 6: B attaches to A's cluster; a write through B reaches A's stream."""
    process_b, base_b = start_oms(data, log_b)
    if base_b is None:
        check("a second instance starts on the same database", False)
        return process_b, None
    stream = Stream(base_a, admin)
    stream.read(lambda _: True, 1)  # the head, the retry hint
    written = time.time()
    status = receive(base_b, admin, [("TWO-INSTANCES", "PAR-01")])
    got = stream.read(lambda events: any(data["data"].get("sku") == "TWO-INSTANCES" for _, _, data in events), 10)
    check("a write through instance B reaches a stream served by A", status == 201 and bool(got),
          f"{time.time() - written:.2f} s" if got else f"status {status}, nothing in 10 s")
    stream.close()
    return process_b, base_b


def figures(events, sku, location):
    return [e for e in events if e[2].get("sku") == sku and e[2].get("locationId") == location]


def availability(base_a, base_b, admin):
    """Part 8: the availability stream on A, writes through B: the snapshot, a hold, its expiry
    on time (no sweeper has recorded it within a second), a receipt."""
    status, _, made = call(base_a, "POST", "/v1/api-keys", admin, {"name": "shop page", "role": "checkout"})
    shop = made.get("key") if isinstance(made, dict) else None
    check("a checkout key for the product page is made", status == 201 and shop is not None, str(status))
    if shop is None:
        return
    check("10 units are received through B", receive(base_b, admin, [("AVAIL-1", "PAR-01")] * 10) == 201)
    time.sleep(0.5)
    stream = Stream(base_a, shop, path="/v1/availability/stream?sku=AVAIL-1&sku=AVAIL-NONE&locationId=PAR-01")
    check("the availability stream answers 200 text/event-stream", stream.status == 200
          and stream.headers.get("Content-Type", "").startswith("text/event-stream"), str(stream.status))
    snapshot = stream.read(lambda events: bool(figures(events, "AVAIL-1", "PAR-01")), 10)
    first = figures(snapshot, "AVAIL-1", "PAR-01")
    check("it starts with the position's figures and the ledger position they reflect",
          bool(first) and first[0][2]["available"] == 10 and first[0][2]["onHand"] == 10 and first[0][2]["position"] > 0,
          json.dumps(first[0][2]) if first else "nothing in 10 s")
    status, headers, hold = call(base_b, "POST", "/v1/holds", shop,
                                 {"lines": [{"sku": "AVAIL-1", "quantity": 3, "locationId": "PAR-01"}], "ttlSeconds": 2})
    check("a 2 s hold through B is answered 201 with its position", status == 201 and headers.get("Omnistock-Position"), str(status))
    if status != 201:
        return
    held = figures(stream.read(lambda events: any(e[2]["held"] == 3 for e in figures(events, "AVAIL-1", "PAR-01")), 10), "AVAIL-1", "PAR-01")
    check("the hold reaches the stream on A (held 3, available 7)", any(e[2]["held"] == 3 and e[2]["available"] == 7 for e in held),
          json.dumps([e[2]["held"] for e in held]))
    expires = datetime.datetime.fromisoformat(hold["expiresAt"].replace("Z", "+00:00")).timestamp()
    freed = figures(stream.read(lambda events: any(e[2]["held"] == 0 for e in figures(events, "AVAIL-1", "PAR-01")), 10), "AVAIL-1", "PAR-01")
    at = next((e[3] for e in freed if e[2]["held"] == 0 and e[2]["available"] == 10), None)
    check("its expiry frees the stock on the stream within a second of expiresAt", at is not None and -0.05 <= at - expires < 1.0,
          f"{at - expires:+.3f} s from expiresAt" if at is not None else "not in 10 s")
    status = receive(base_b, admin, [("AVAIL-1", "PAR-01")] * 5)
    more = figures(stream.read(lambda events: any(e[2]["onHand"] == 15 for e in figures(events, "AVAIL-1", "PAR-01")), 10), "AVAIL-1", "PAR-01")
    check("a receipt through B reaches it (onHand 15)", status == 201 and any(e[2]["onHand"] == 15 for e in more))
    stream.close()


def bursts(base, admin):
    """Part 7. A new key (closed streams of the admin's may still count for up to a heartbeat)."""
    status, _, made = call(base, "POST", "/v1/api-keys", admin, {"name": "burst reader", "role": "admin"})
    key = made.get("key") if isinstance(made, dict) else None
    check("a key for the burst readers is made", status == 201 and key is not None, str(status))
    if key is None:
        return
    # A reader that keeps up gets a whole burst (within the tail's 10,000 events a subscriber).
    start = head(base, key)
    fast = Stream(base, key)
    written = time.time()
    status = receive(base, key, [(f"FAST-{n}", "PAR-01") for n in range(BURST)])
    burst = fast.read(upto(start + BURST), 40)
    fast.close()
    check(f"a reader that keeps up gets the whole {BURST}-event burst through a queue of {QUEUE}",
          status == 201 and contiguous([p for p, _, _ in burst], start + 1, start + BURST) and b"too slowly" not in bytes(fast.raw),
          f"{len(burst)} events, {len(fast.raw) / 1e6:.1f} MB in {time.time() - written:.1f} s from the write")
    slow_reader(base, key)


def slow_reader(base, key):
    """A reader that pauses while two bursts commit at once (long SKUs and references: about
    14 MB on the wire, more than the kernel's socket buffers take, 4 to 6.5 MB measured) is cut
    off with a final comment, then resumes from its Last-Event-ID with nothing lost."""
    start = head(base, key)
    slow = Stream(base, key, receive_buffer=4096)
    text, last, statuses = "X" * 60, start + 2 * BURST, []
    writers = [threading.Thread(target=lambda b=b: statuses.append(
        receive(base, key, [(f"SLOW-{b}-{n}-{text}"[:64], "PAR-01", text) for n in range(BURST)]))) for b in range(2)]
    for writer in writers:
        writer.start()
    # Both bursts committed while the reader reads nothing: the stream's writes fill the socket
    # buffers, its queue fills behind them, and stays full.
    for writer in writers:
        writer.join(150)
    # Paused past the 2 s a queue may stay full, within the 10 s a write may take: then it reads on.
    time.sleep(PAUSE)
    before = slow.read(lambda _: False, 40)
    # Cut off by its own queue (full for 2 s), or by the tail (10,000 events behind): a final comment either way.
    raw = bytes(slow.raw)
    cut = b": disconnected: the client read too slowly; reconnect with Last-Event-ID" in raw or b"events behind the ledger; reconnect" in raw
    check("a reader that pauses during a burst is cut off with the final comment", statuses == [201, 201] and cut and slow.ended,
          f"statuses {statuses}, read {len(before)} events, {len(raw) / 1e6:.1f} MB, ended {slow.ended}, comment {cut}")
    slow.close()
    resumed_from = before[-1][0] if before else start
    again = Stream(base, key, last_id=resumed_from)
    rest = again.read(upto(last), 60)
    again.close()
    positions = [p for p, _, _ in before] + [p for p, _, _ in rest]
    check("the slow reader resumes from its Last-Event-ID with nothing lost", contiguous(positions, start + 1, last),
          f"{len(before)} + {len(rest)} events, {start + 1}..{last}")
    metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    lines = [line for line in metrics.splitlines()
             if line.startswith(('oms_streams_disconnects_total{reason="slow"}', 'oms_streams_disconnects_total{reason="tail"}'))]
    check("/metrics counts the slow reader's disconnect", sum(float(line.split()[-1]) for line in lines) >= 1, str(lines))


def main():
    # Every wait below is bounded; this bounds them all, should one of them not be.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("streams: FAIL the campaign took more than 240 s"))
    signal.alarm(240)
    with tempfile.TemporaryDirectory(prefix="oms-streams-") as folder:
        os.chmod(folder, 0o755)
        data, log_a, log_b = os.path.join(folder, "data"), os.path.join(folder, "a.log"), os.path.join(folder, "b.log")
        settings = {"OMS_STREAMS_PER_KEY_MAX": PER_KEY, "OMS_STREAM_QUEUE_MESSAGES": QUEUE}
        began = time.time()
        process, base = start_oms(data, log_a, settings=settings)
        process_b = None
        try:
            if base is None:
                check("oms serve becomes ready", False, f"see {log_a}")
                return check.close()
            admin = create_key(data, "admin", "streams admin")
            erp = setup(base, admin)
            open_streams, seen = first_streams(base, admin, erp)
            process, base = shutdown_and_resume(
                data, log_a, settings, {"process": process, "base": base, "admin": admin, "open": open_streams}, seen)
            if base is not None:
                process_b, base_b = two_instances(data, log_b, base, admin)
                if base_b is not None:
                    availability(base, base_b, admin)
                bursts(base, admin)
        finally:
            stop_oms(process_b)
            stop_oms(process)
        print(f"streams: {time.time() - began:.0f} s in all")
        if check.failures:
            for log in (log_a, log_b):
                if os.path.exists(log):
                    print(f"streams: the end of {os.path.basename(log)}:\n" + "".join(open(log, errors="replace").readlines()[-40:]))
        return check.close()


if __name__ == "__main__":
    sys.exit(main())
