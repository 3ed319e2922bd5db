"""The webhook scenario of the benchmark (imported by bench.py): deliveries to a local receiver.

The receiver is an asyncio HTTP/1.1 server on 127.0.0.1 in this process (keep-alive, answers
200 at once, no body). Its hot path reads the request line and the headers it needs (the
content length, webhook-id) and notes when each position arrived per subscription (its path);
it verifies nothing there, but keeps a sample of whole requests (the first few and one in
SAMPLE_EVERY per subscription) that are verified with the standardwebhooks library after each
run. Each subscription starts at the head (redeliver fromPosition = headPosition + 1) and is
deleted after its run, so one run's backlog never weighs on the next.
  1. Throughput: WEBHOOK_SUBSCRIPTIONS = 1, then 50 subscriptions (every event type); EVENTS
     receipts are written in movement batches; the time from the first write until every
     subscription has them all (in order, counted at the receiver) gives events/s delivered.
  2. Latency: holds at full speed (wrk and bench/holds.lua, as the hold scenarios) with one
     subscription of every event; commit-to-receipt latency is the receipt time minus the
     event's recordedAt (`timestamp` in the body), p50/p99 over every event of the run, and
     how long the subscription took to catch up once the holds stopped. Again with one
     subscription to hold.placed at one location (a store system's share of the load). The
     hold rate without any subscription is measured first, for comparison.
Every wait is bounded (WEBHOOK_WAIT_SECONDS a run).
"""
import asyncio, json, os, random, re, threading, time, urllib.error, urllib.request
import datetime

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "5000"))
SUBSCRIPTION_COUNTS = [int(n) for n in os.environ.get("BENCH_WEBHOOK_SUBSCRIPTIONS", "1,50").split(",")]
WAIT_SECONDS = float(os.environ.get("BENCH_WEBHOOK_WAIT_SECONDS", "300"))
BATCH_LINES = 500
SAMPLE_FIRST, SAMPLE_EVERY = 3, 997
FILTER_LOCATION = "LOC-01"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)
CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.I)
WEBHOOK_ID = re.compile(rb"\r\nwebhook-id:\s*evt_(\d+)", re.I)


class Path:
    """What one subscription's path received: position -> first arrival (and, when timing, the
    body's timestamp), how many arrived out of order or twice, the sampled requests."""

    def __init__(self, timing):
        self.timing, self.arrivals, self.last, self.backwards, self.repeats, self.count, self.samples = timing, {}, 0, 0, 0, 0, []

    def got(self, head, body, now):
        found = WEBHOOK_ID.search(head)
        position = int(found.group(1)) if found else -1
        self.count += 1
        if position < self.last:
            self.backwards += 1
        self.last = max(self.last, position)
        if position in self.arrivals:
            self.repeats += 1
            return
        if self.timing:
            self.arrivals[position] = (now, json.loads(body).get("timestamp"))
        else:
            self.arrivals[position] = now
        if self.count <= SAMPLE_FIRST or self.count % SAMPLE_EVERY == 0:
            self.samples.append((head, body))


class Hook(asyncio.Protocol):
    def __init__(self, receiver):
        self.receiver, self.buffer, self.transport = receiver, b"", None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        now = time.time()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = LENGTH.search(head)
            if length:
                stop = end + 4 + int(length.group(1))
                if len(self.buffer) < stop:
                    return
                body, rest = self.buffer[end + 4:stop], self.buffer[stop:]
            elif CHUNKED.search(head):
                body, rest = self.dechunk(end + 4)
                if body is None:
                    return
            else:
                body, rest = b"", self.buffer[end + 4:]
            self.buffer = rest
            path = head[head.find(b" ") + 1:head.find(b" HTTP/")].decode()
            state = self.receiver.paths.get(path)
            if state is not None:
                state.got(head, body, now)
            self.transport.write(RESPONSE)

    def dechunk(self, at):
        """(body, rest) of a chunked body starting at `at`, or (None, None) when incomplete."""
        body, buffer = b"", self.buffer
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None, None
            size = int(buffer[at:line_end].split(b";")[0] or b"0", 16)
            if size == 0:
                trailer = buffer.find(b"\r\n\r\n", line_end)
                if trailer < 0:
                    return None, None
                return body, buffer[trailer + 4:]
            if len(buffer) < line_end + 2 + size + 2:
                return None, None
            body += buffer[line_end + 2:line_end + 2 + size]
            at = line_end + 2 + size + 2


class Receiver:
    """The asyncio receiver, on its own thread; `paths` maps a subscription's path to its Path."""

    def __init__(self, port):
        self.port, self.paths = port, {}
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(lambda: Hook(self), "127.0.0.1", port, backlog=1024, reuse_address=True))
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        started.wait(10)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


# ---- The API ----------------------------------------------------------------------------------

def call(base, method, path, key, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, method=method, data=data, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")


def head(base, key):
    return call(base, "GET", "/v1/events?limit=1", key)[1]["headPosition"]


def subscribe(base, key, receiver, path, timing=False, **filters):
    """A subscription to `path` that starts at the head. Returns its id and secret."""
    status, made = call(base, "POST", "/v1/webhooks", key, {"url": receiver.url(path), **filters})
    if status != 201:
        raise SystemExit(f"bench: POST /v1/webhooks answered {status}: {made}")
    receiver.paths[path] = Path(timing)
    top = head(base, key)
    if made.get("cursor") != top:
        status, moved = call(base, "POST", f"/v1/webhooks/{made['id']}/redeliver", key, {"fromPosition": top + 1})
        if status != 200:
            print(f"  warning: redeliver to the head answered {status}: {str(moved)[:200]}; the subscription starts at {made.get('cursor')}")
    return made["id"], made["secret"]


def unsubscribe(base, key, ids):
    for sub in ids:
        call(base, "DELETE", f"/v1/webhooks/{sub}", key)


def verify_samples(receiver, secrets):
    """(verified, sampled) over the paths' sampled requests, with standardwebhooks."""
    from standardwebhooks.webhooks import Webhook
    verified = sampled = 0
    for path, secret in secrets.items():
        for head_bytes, body in receiver.paths[path].samples:
            headers = dict(line.split(": ", 1) for line in head_bytes.decode().split("\r\n")[1:] if ": " in line)
            sampled += 1
            try:
                Webhook(secret).verify(body, headers)
                verified += 1
            except Exception:
                pass
    return verified, sampled


def wait(condition, seconds, step=0.05):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- The runs ---------------------------------------------------------------------------------

def throughput(base, key, receiver, pairs, count, run, cpu_seconds, server_pid):
    """EVENTS receipts, `count` subscriptions: a dict of figures."""
    paths = [f"/bench/{run}/{n}" for n in range(count)]
    secrets, ids = {}, []
    for path in paths:
        sub, secret = subscribe(base, key, receiver, path)
        ids.append(sub)
        secrets[path] = secret
    rng = random.Random(count)
    start = head(base, key)
    server_cpu, client_cpu = cpu_seconds(server_pid), cpu_seconds(os.getpid())
    began = time.time()
    for first in range(0, EVENTS, BATCH_LINES):
        lines = [{"sku": sku, "locationId": location, "kind": "receipt", "quantity": 1}
                 for sku, location in rng.sample(pairs, min(BATCH_LINES, EVENTS - first))]
        status, answer = call(base, "POST", "/v1/stock/movements", key, {"movements": lines})
        if status != 201:
            raise SystemExit(f"bench: movements answered {status}: {str(answer)[:200]}")
    written = time.time() - began
    last = head(base, key)
    done = wait(lambda: all(last in receiver.paths[p].arrivals for p in paths), WAIT_SECONDS, 0.02)
    server_cpu, client_cpu = cpu_seconds(server_pid) - server_cpu, cpu_seconds(os.getpid()) - client_cpu
    ends = [receiver.paths[p].arrivals.get(last) for p in paths]
    got = sum(sum(1 for position in receiver.paths[p].arrivals if start < position <= last) for p in paths)
    finished = max(ends) if all(ends) else time.time()
    elapsed = finished - began
    verified, sampled = verify_samples(receiver, secrets)
    figures = {"subscriptions": count, "events": last - start, "delivered": got, "complete": done, "seconds": elapsed,
               "written_seconds": written, "rate": got / elapsed if elapsed > 0 else float("nan"),
               "backwards": sum(receiver.paths[p].backwards for p in paths), "repeats": sum(receiver.paths[p].repeats for p in paths),
               "verified": verified, "sampled": sampled, "server_cpu": server_cpu, "client_cpu": client_cpu}
    unsubscribe(base, key, ids)
    for path in paths:
        receiver.paths.pop(path, None)
    return figures


def latency(base, key, receiver, run_holds, hold_seconds, name, **filters):
    """Holds at full speed (for `hold_seconds`, then wrk idles) with one subscription: a dict of figures."""
    path = f"/bench/latency-{name}"
    sub, secret = subscribe(base, key, receiver, path, timing=True, **filters)
    start, began = head(base, key), time.time()
    holds = run_holds()
    stopped, last = began + hold_seconds, head(base, key)
    caught = wait(lambda: (call(base, "GET", f"/v1/webhooks/{sub}", key)[1] or {}).get("cursor", 0) >= last, WAIT_SECONDS, 0.1)
    state = receiver.paths[path]
    latencies, arrivals = [], []
    for position, (arrived, recorded) in list(state.arrivals.items()):
        if start < position <= last and recorded:
            latencies.append(arrived - datetime.datetime.fromisoformat(recorded.replace("Z", "+00:00")).timestamp())
            arrivals.append(arrived)
    arrivals.sort()
    during = sum(1 for at in arrivals if at <= stopped)
    drained = arrivals[-1] - stopped if arrivals else float("nan")   # the last event's arrival
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:]) if a <= stopped]
    verified, sampled = verify_samples(receiver, {path: secret})
    unsubscribe(base, key, [sub])
    receiver.paths.pop(path, None)
    return {"holds": holds, "events": last - start, "delivered": len(latencies), "caught_up": caught, "drained_seconds": drained,
            "delivered_per_second": during / hold_seconds, "longest_gap_ms": max(gaps) * 1000 if gaps else float("nan"),
            "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
            "max_ms": max(latencies) * 1000 if latencies else float("nan"),
            "backwards": state.backwards, "repeats": state.repeats, "verified": verified, "sampled": sampled}


def webhook_scenario(base, key, pairs, port, run_holds, hold_seconds, cpu_seconds, server_pid):
    """Returns the figures of every run: {"throughput": [...], "baseline": HoldRun, "latency": {...}}."""
    receiver = Receiver(port)
    try:
        out = {"throughput": [], "latency": {}}
        for n, count in enumerate(SUBSCRIPTION_COUNTS):
            out["throughput"].append(throughput(base, key, receiver, pairs, count, f"t{n}", cpu_seconds, server_pid))
        out["baseline"] = run_holds()
        out["latency"]["every event"] = latency(base, key, receiver, run_holds, hold_seconds, "all")
        out["latency"][f"hold.placed at {FILTER_LOCATION}"] = latency(
            base, key, receiver, run_holds, hold_seconds, "filtered", eventTypes=["hold.placed"], locationIds=[FILTER_LOCATION])
        return out
    finally:
        receiver.close()
