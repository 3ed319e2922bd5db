"""The stream scenario of the benchmark (imported by bench.py): many Server-Sent Event clients
open while holds are written at full speed.

The mix is a retailer's: EVENTS_SHARE of the clients are integrations following
`GET /v1/events/stream?type=hold.placed` with a key bound to one location (a store system, a
warehouse connector: the locations in turn), the rest are product pages and carts following
`GET /v1/availability/stream` for 1 or 10 random SKUs (a few of them the probe SKUs). Half the
clients on the unfiltered feed, as a first version of this scenario had it, would be 500
copies of every hold: about 700,000 messages/s at this machine's hold rate, more than its two
cores can write and its one Python reader can read, so that run measured the reader.

A prober places one hold on a probe SKU at PROBE_LOCATION every PROBE_INTERVAL_SECONDS and
notes when its 201 arrived; every events client bound to PROBE_LOCATION notes when that hold's
`hold.placed` reached it. Commit-to-client latency is the difference (p50/p99 over those
clients and every probe hold). The clients are read by one thread with `selectors` over
non-blocking sockets; they only look for hold ids in the complete messages that arrive. Every
loop is bounded in time.
"""
import http.client, json, os, random, re, resource, selectors, socket, threading, time

PROBE_SKUS = [f"SKU-{n:05d}" for n in range(20)]
PROBE_LOCATION = "LOC-01"
EVENTS_SHARE = 0.1
PROBE_INTERVAL_SECONDS = 0.02
CONNECT_BATCH = 50


def raise_descriptor_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


class Clients:
    """`count` stream clients on one port, read by one thread until `stop()`. `keys` maps each
    location to a key bound to it (the events clients'); `key` opens the availability streams."""

    def __init__(self, port, key, keys, count, skus):
        self.port, self.key, self.keys, self.count, self.skus = port, key, keys, count, skus
        self.events_every = max(1, round(1 / EVENTS_SHARE))
        self.selector = selectors.DefaultSelector()
        self.arrivals = {}      # hold id -> list of arrival times (one per events client that saw it)
        self.bytes = 0
        self.messages = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.read, daemon=True)

    def location_of(self, n):
        """The location of events client n (None for an availability client)."""
        if n % self.events_every != 0:
            return None
        locations = sorted(self.keys)
        return locations[(n // self.events_every) % len(locations)]

    @property
    def probe_watchers(self):
        """The events clients that see the probe holds."""
        return sum(1 for n in range(self.count) if self.location_of(n) == PROBE_LOCATION)

    def path_and_key(self, n):
        location = self.location_of(n)
        if location is not None:
            return "/v1/events/stream?type=hold.placed", self.keys[location]
        rng = random.Random(n)
        size = 10 if rng.random() < 0.5 else 1
        skus = [f"SKU-{rng.randrange(10_000):05d}" for _ in range(size)]
        if n % 7 == 1:
            skus[0] = PROBE_SKUS[n % len(PROBE_SKUS)]
        return "/v1/availability/stream?" + "&".join(f"sku={s}" for s in dict.fromkeys(skus)), self.key

    def open(self):
        raise_descriptor_limit(self.count + 256)
        for n in range(self.count):
            path, key = self.path_and_key(n)
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, {"events": self.location_of(n) is not None, "tail": b"", "head": True})
            if n % CONNECT_BATCH == CONNECT_BATCH - 1:
                time.sleep(0.05)
        self.thread.start()

    def read(self):
        # The payload is the JSON text as stored: compact, or with a space after each colon (jsonb's form, events from before 0017).
        marker = re.compile(rb'"holdId":\s*"([^"]+)"')
        while self.running:
            for key, _ in self.selector.select(timeout=0.2):
                state = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                now = time.monotonic()
                if not chunk:
                    self.selector.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                if state["head"]:
                    state["head"] = False
                    if not chunk.startswith(b"HTTP/1.1 200"):
                        with self.lock:
                            self.refused += 1
                self.bytes += len(chunk)
                text = state["tail"] + chunk
                self.messages += chunk.count(b"\n\n")
                if state["events"]:
                    # Only what follows the last complete message is kept for the next chunk,
                    # so that a hold id is counted once per client.
                    cut = text.rfind(b"\n\n") + 2 if b"\n\n" in text else 0
                    for found in marker.finditer(text, 0, cut):
                        with self.lock:
                            self.arrivals.setdefault(found.group(1).decode(), []).append(now)
                    state["tail"] = text[cut:][-65536:]

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass


def probe(port, key, seconds, acknowledged):
    """Places one hold on a probe SKU every PROBE_INTERVAL_SECONDS for `seconds`; notes each 201's time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        sku = PROBE_SKUS[n % len(PROBE_SKUS)]
        body = json.dumps({"lines": [{"sku": sku, "quantity": 1, "locationId": PROBE_LOCATION}], "ttlSeconds": 900})
        try:
            connection.request("POST", "/v1/holds", body=body, headers={
                "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": f"probe-{os.getpid()}-{n}"})
            response = connection.getresponse()
            answer = response.read()
            if response.status == 201:
                acknowledged[json.loads(answer)["id"]] = time.monotonic()
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n += 1
        time.sleep(PROBE_INTERVAL_SECONDS)


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bound_keys(port, key, locations):
    """An integration key bound to each location, made with the admin key: location -> key."""
    keys = {}
    for location in locations:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"name": f"bench-{location}", "role": "integration", "locations": [location]})
        connection.request("POST", "/v1/api-keys", body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        if response.status not in (200, 201):
            raise SystemExit(f"bench: could not create a key for {location}: {response.status} {answer}")
        keys[location] = answer["key"]
    return keys


def cpu_seconds(pid):
    """User and system CPU seconds a process has used so far (from /proc), or nan."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stream_scenario(port, key, locations, count, seconds, run_holds, rss_mb, server_pid):
    """Returns a dict of figures: hold rates without and with the clients, latency p50/p99 (ms),
    messages per second delivered, RSS, and how many clients were refused."""
    without = run_holds()
    clients = Clients(port, key, bound_keys(port, key, locations), count, PROBE_SKUS)
    clients.open()
    time.sleep(2)  # the snapshots of the availability streams arrive
    rss_idle, _ = rss_mb(server_pid)
    acknowledged = {}
    prober = threading.Thread(target=probe, args=(port, key, seconds, acknowledged), daemon=True)
    messages_before, started = clients.messages, time.monotonic()
    server_cpu, client_cpu = cpu_seconds(server_pid), cpu_seconds(os.getpid())
    prober.start()
    with_clients = run_holds()
    server_cpu, client_cpu = cpu_seconds(server_pid) - server_cpu, cpu_seconds(os.getpid()) - client_cpu
    prober.join(timeout=seconds + 30)
    time.sleep(1)  # the last probe holds reach the clients
    elapsed = time.monotonic() - started
    rss_busy, _ = rss_mb(server_pid)
    clients.stop()
    events_clients = clients.probe_watchers
    latencies, missing = [], 0
    with clients.lock:
        for hold_id, at in acknowledged.items():
            arrivals = clients.arrivals.get(hold_id, [])
            missing += events_clients - len(arrivals)
            latencies += [(arrival - at) * 1000 for arrival in arrivals]
    return {
        "holds_without": without, "holds_with": with_clients, "clients": count, "refused": clients.refused,
        "probes": len(acknowledged), "missing": missing, "watchers": events_clients,
        "events_clients": sum(1 for n in range(count) if clients.location_of(n) is not None),
        "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99),
        "messages_per_second": (clients.messages - messages_before) / elapsed if elapsed > 0 else float("nan"),
        "rss_idle_mb": rss_idle, "rss_busy_mb": rss_busy,
        "server_cpu_seconds": server_cpu, "client_cpu_seconds": client_cpu, "busy_seconds": elapsed,
    }
