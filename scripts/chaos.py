#!/usr/bin/env python3
"""Chaos check: `kill -9` of PostgreSQL and of `oms` under write load; nothing acknowledged is lost.

One `oms serve` runs on an embedded PostgreSQL cluster in a temporary data folder. Eight writers
place holds, turn some into orders and receive stock, every request with an Idempotency-Key,
and log every 2xx. A request answered 503 (or cut off) is retried later with the same key.
  1. PostgreSQL outage: the postmaster (first line of DATA/pgdata/postmaster.pid) gets SIGKILL.
     While it is down every request must be answered within 2.5 s (never a hang), 503 with
     Retry-After and never 500; `/ready` says 503 and `/health` 200. PostgreSQL is started
     again (pg_ctl, on the same port, from postmaster.opts) and `oms`, not restarted, must
     write again (2xx) within 15 s.
  2. `oms` crash: the `oms` process gets SIGKILL under the same load and is started again on
     the same data folder (it attaches to the running cluster); the load goes on.
  3. Every key is retried until it gets a 2xx (a write cut off during COMMIT gets its first
     answer back, or runs once); then every acknowledged hold and order is read back by id,
     every key's events are found in the feed (GET /v1/events, by the metadata's
     idempotencyKey) exactly once, the stock received equals the receipts made, and after a
     SIGTERM `oms verify` is clean.
Loopback only; every loop and wait is bounded (about a minute in all). Exit status 0 when
every check passes. `OMS_BIN` picks the binary (default .build/debug/oms).
"""
import concurrent.futures, json, os, random, shlex, signal, subprocess, sys, tempfile, threading, time
import http.client

from campaign import OMS, Checks, create_key, free_port, oms_env, start_oms, stop_oms, finish
LOCATION = "CHAOS-01"
SKUS = [f"CHAOS-{n}" for n in range(6)]
WRITERS = 8
STOCK = 100_000
ANSWER_SECONDS_MAX = 2.5   # while the database is away: the acquire bound is 1.5 s
RECOVERY_SECONDS_MAX = 15.0
REQUEST_TIMEOUT_SECONDS = 10.0
check = Checks("chaos")


class Server:
    """One `oms serve` process on the data folder; `base` is its URL."""

    def __init__(self, data, work):
        self.data, self.work, self.port, self.process, self.starts = data, work, free_port(), None, 0

    @property
    def base(self):
        return ("127.0.0.1", self.port)

    def start(self):
        self.starts += 1
        log = os.path.join(self.work, f"oms-{self.starts}.log")
        self.process, ready = start_oms(self.data, log, port=self.port, ready_seconds=90)
        if ready is None:
            stop_oms(self.process)
            sys.exit(f"chaos: oms serve did not become ready; see {log}")

    def stop(self):
        return stop_oms(self.process)


def call(method, base, path, key=None, body=None, idempotency_key=None, timeout=REQUEST_TIMEOUT_SECONDS):
    """(status, headers, parsed body, seconds); status 0 when the connection failed or timed out."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(*base, timeout=timeout)
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, dict(response.getheaders()), parsed, time.monotonic() - started
    except (OSError, http.client.HTTPException) as error:
        return 0, {}, str(error), time.monotonic() - started
    finally:
        connection.close()


class Load:
    """Writers that never stop on their own: each picks a write, sends it with a new key, and
    keeps the keys that got no 2xx to send again later (same key, same body)."""

    def __init__(self, server, key):
        self.server, self.key = server, key
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.acknowledged = {}   # key -> (kind, body, response)
        self.pending = {}        # key -> (kind, path, body)
        self.refused = {}        # key -> (status, problem): a 4xx, which no write here should get
        self.ordered = set()     # keys of holds an order was asked for (one order per hold)
        self.answers = []        # (time, status, seconds, retry_after, path)
        self.counter = 0
        self.threads = []
        self.inflight = {}       # request number -> when it was sent

    def new_write(self, rng):
        with self.lock:
            self.counter += 1
            n = self.counter
            held = [k for k, (kind, _, _) in self.acknowledged.items() if kind == "hold" and k not in self.ordered]
        choice = rng.random()
        sku = rng.choice(SKUS)
        if choice < 0.4:
            return f"hold-{n}", "hold", "/v1/holds", {
                "lines": [{"sku": sku, "quantity": 1, "locationId": LOCATION}], "ttlSeconds": 3600, "reference": f"chaos-{n}"}
        if choice < 0.6 and held:
            with self.lock:
                hold_key = rng.choice(held)
                hold_id = self.acknowledged[hold_key][2]["id"]
                # A hold becomes one order at most.
                self.ordered.add(hold_key)
            return f"order-{n}", "order", "/v1/orders", {
                "holdId": hold_id, "orderNumber": f"CHAOS-{n}", "fulfilment": {"type": "pickup", "locationId": LOCATION}}
        return f"move-{n}", "move", "/v1/stock/movements", {"movements": [
            {"sku": sku, "locationId": LOCATION, "kind": "receipt", "quantity": 2, "reason": "chaos", "reference": f"move-{n}"}]}

    def send(self, idem, kind, path, body):
        with self.lock:
            self.counter += 1
            ticket = self.counter
            self.inflight[ticket] = time.monotonic()
        status, headers, answer, seconds = call("POST", self.server.base, path, self.key, body, idem)
        with self.lock:
            del self.inflight[ticket]
            self.answers.append((time.monotonic(), status, seconds, headers.get("Retry-After"), path))
            if 200 <= status < 300:
                self.acknowledged[idem] = (kind, body, answer)
                self.pending.pop(idem, None)
            elif 400 <= status < 500:
                self.refused[idem] = (status, answer)
                self.pending.pop(idem, None)
            else:
                self.pending[idem] = (kind, path, body)
        return status

    def writer(self, seed):
        rng = random.Random(seed)
        while not self.stop_event.is_set():
            with self.lock:
                retry = next(iter(self.pending.items())) if self.pending and rng.random() < 0.3 else None
            if retry:
                idem, (kind, path, body) = retry
            else:
                idem, kind, path, body = self.new_write(rng)
            status = self.send(idem, kind, path, body)
            if status in (0, 503):
                time.sleep(0.05)

    def start(self):
        self.stop_event.clear()
        self.threads = [threading.Thread(target=self.writer, args=(20261201 + n,), daemon=True) for n in range(WRITERS)]
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)

    def wait_answered(self, before):
        """Waits (bounded) until every request sent before `before` has its answer."""
        deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS + 2
        while time.monotonic() < deadline:
            with self.lock:
                if not any(sent < before for sent in self.inflight.values()):
                    return
            time.sleep(0.05)

    def started_between(self, start, end):
        """The answers to requests sent from `start` to `end`, whenever they came."""
        with self.lock:
            return [a for a in self.answers if start <= a[0] - a[2] <= end]

    def first_success_after(self, moment):
        with self.lock:
            times = [t for t, status, seconds, _, _ in self.answers if 200 <= status < 300 and t - seconds >= moment]
        return min(times) if times else None


def pg_ctl():
    candidates = sorted((p for p in (os.path.join("/usr/lib/postgresql", v, "bin/pg_ctl") for v in os.listdir("/usr/lib/postgresql"))
                         if os.path.exists(p)), key=lambda p: int(p.split("/")[4])) if os.path.isdir("/usr/lib/postgresql") else []
    return candidates[-1] if candidates else "pg_ctl"


def as_server_user(command):
    return ["runuser", "-u", "postgres", "--"] + command if os.getuid() == 0 else command


def kill_postmaster(data):
    with open(os.path.join(data, "pgdata", "postmaster.pid")) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGKILL)
    return pid


def start_postgres(data, options):
    """Starts the cluster again as oms started it (postmaster.opts, same port). Its orphaned
    backends hold the shared memory for a moment after the kill: tried again, bounded."""
    deadline = time.time() + 30
    while True:
        out = subprocess.run(as_server_user([pg_ctl(), "-D", os.path.join(data, "pgdata"), "-l", os.path.join(data, "postgres.log"),
                                             "-w", "-t", "30", "-o", options, "start"]), capture_output=True, text=True)
        if out.returncode == 0 or time.time() > deadline:
            return out.returncode == 0, (out.stdout + out.stderr).strip()[-300:]
        time.sleep(0.3)


def server_options(data):
    """The postmaster's options from postmaster.opts, without the program and its -D."""
    with open(os.path.join(data, "pgdata", "postmaster.opts")) as f:
        words = shlex.split(f.read())[1:]
    options, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-D":
            skip = True
        else:
            options.append(word)
    return " ".join(shlex.quote(w) for w in options)


def events(server, key):
    """The whole ledger, page by page, bounded."""
    out, after = [], 0
    for _ in range(1000):
        status, _, page, _ = call("GET", server.base, f"/v1/events?after={after}&limit=1000", key)
        if status != 200:
            return None
        out += page["events"]
        if not page["events"]:
            return out
        after = page["events"][-1]["position"]
    return out


def outage(load, server, data):
    options = server_options(data)
    time.sleep(3)
    killed_at = time.monotonic()
    pid = kill_postmaster(data)
    print(f"chaos: killed the postmaster (pid {pid}) under load", flush=True)
    time.sleep(1.0)
    ready = call("GET", server.base, "/ready", timeout=REQUEST_TIMEOUT_SECONDS)
    health = call("GET", server.base, "/health", timeout=REQUEST_TIMEOUT_SECONDS)
    time.sleep(4.0)
    restart_at = time.monotonic()
    started, output = start_postgres(data, options)
    check("PostgreSQL starts again on its port", started, output if not started else "")
    back_at = time.monotonic()
    # Requests sent from the first second of the outage (the killed postmaster's backends may
    # finish what they were doing) until 2.5 s before the restart, so that none could be
    # answered by the restarted server; their answers are awaited (10 s at most each).
    load.wait_answered(restart_at - ANSWER_SECONDS_MAX)
    during = load.started_between(killed_at + 1.0, restart_at - ANSWER_SECONDS_MAX)
    statuses = {}
    for _, status, _, _, _ in during:
        statuses[status] = statuses.get(status, 0) + 1
    longest = max((seconds for _, _, seconds, _, _ in during), default=0.0)
    unavailable = [a for a in during if a[1] == 503]
    check("requests were made while PostgreSQL was down", len(during) > 20, f"{len(during)} answers")
    check("every answer while it was down was 503 (no 500, no hang, no 2xx)", set(statuses) == {503},
          f"statuses {statuses}" + (" (0: no answer within 10 s)" if 0 in statuses else ""))
    check("every 503 carries Retry-After", all(a[3] for a in unavailable), f"{len(unavailable)} 503s seen")
    check(f"the longest answer while it was down is under {ANSWER_SECONDS_MAX} s", longest < ANSWER_SECONDS_MAX, f"{longest:.2f} s")
    check("/ready says 503 while it is down, quickly", ready[0] == 503 and ready[3] < ANSWER_SECONDS_MAX, f"{ready[0]} in {ready[3]:.2f} s")
    check("/health says 200 while it is down", health[0] == 200, f"{health[0]} in {health[3]:.2f} s")
    deadline = back_at + RECOVERY_SECONDS_MAX
    while time.monotonic() < deadline and load.first_success_after(back_at) is None:
        time.sleep(0.1)
    first = load.first_success_after(back_at)
    check(f"oms writes again on its own within {RECOVERY_SECONDS_MAX:.0f} s of PostgreSQL's return", first is not None,
          f"first 2xx {first - back_at:.2f} s after the restart" if first else "no 2xx")
    time.sleep(2)


def crash(load, server):
    time.sleep(2)
    server.process.kill()
    server.process.wait(timeout=10)
    print("chaos: killed oms (SIGKILL) under load", flush=True)
    restarted_at = time.monotonic()
    server.start()
    check("oms starts again on the same data folder", True, f"ready {time.monotonic() - restarted_at:.2f} s after the kill")
    time.sleep(3)


def settle(load):
    """Every key is sent again until it gets a 2xx (bounded)."""
    deadline = time.monotonic() + 30
    while load.pending and time.monotonic() < deadline:
        for idem, (kind, path, body) in list(load.pending.items()):
            load.send(idem, kind, path, body)
    check("every write was acknowledged in the end (retried with its key)", not load.pending, f"{len(load.pending)} without a 2xx")
    sample = next(iter(load.refused.values()), None)
    check("no write was refused (a retry gets its first answer, never a conflict with itself)", not load.refused,
          f"{len(load.refused)} refused, e.g. {sample}" if sample else "")


def audit(load, server, key):
    acknowledged = load.acknowledged
    holds = {k: v for k, v in acknowledged.items() if v[0] == "hold"}
    orders = {k: v for k, v in acknowledged.items() if v[0] == "order"}
    moves = {k: v for k, v in acknowledged.items() if v[0] == "move"}
    found_holds = sum(1 for _, _, answer in holds.values() if call("GET", server.base, f"/v1/holds/{answer['id']}", key)[0] == 200)
    found_orders = sum(1 for _, _, answer in orders.values() if call("GET", server.base, f"/v1/orders/{answer['id']}", key)[0] == 200)
    check("every acknowledged hold is found by id", found_holds == len(holds), f"acknowledged {len(holds)}, found {found_holds}")
    check("every acknowledged order is found by id", found_orders == len(orders), f"acknowledged {len(orders)}, found {found_orders}")
    ledger = events(server, key) or []
    by_key = {}
    for event in ledger:
        idem = (event.get("metadata") or {}).get("idempotencyKey")
        if idem:
            by_key.setdefault(idem, []).append(event["type"])
    placed = {k for k in holds if by_key.get(k, []).count("hold.placed") == 1}
    moved = {k for k in moves if by_key.get(k, []).count("stock.moved") == 1}
    created = {k for k in orders if by_key.get(k, []).count("order.created") == 1}
    check("every acknowledged hold is in the feed exactly once", len(placed) == len(holds), f"acknowledged {len(holds)}, found {len(placed)}")
    check("every acknowledged movement is in the feed exactly once", len(moved) == len(moves), f"acknowledged {len(moves)}, found {len(moved)}")
    check("every acknowledged order is in the feed exactly once", len(created) == len(orders), f"acknowledged {len(orders)}, found {len(created)}")
    received = {sku: 0 for sku in SKUS}
    for _, body, _ in moves.values():
        received[body["movements"][0]["sku"]] += body["movements"][0]["quantity"]
    wrong = []
    for sku in SKUS:
        status, _, position, _ = call("GET", server.base, f"/v1/stock/{LOCATION}/{sku}", key)
        if status != 200 or position["onHand"] != STOCK + received[sku]:
            wrong.append(f"{sku}: onHand {position.get('onHand') if isinstance(position, dict) else status}, expected {STOCK + received[sku]}")
    check("on hand equals the stock received, each receipt once", not wrong, "; ".join(wrong[:3]) or f"{sum(received.values())} units in {len(moves)} receipts")
    print(f"chaos: acknowledged {len(acknowledged)} writes ({len(holds)} holds, {len(orders)} orders, {len(moves)} movements)", flush=True)


def main():
    if not os.access(OMS, os.X_OK):
        sys.exit(f"chaos: {OMS} is missing; build it first")
    began = time.monotonic()
    work = tempfile.mkdtemp(prefix="omnistock-chaos.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    server = Server(data, work)
    server.start()
    load = None
    try:
        key = create_key(data, "admin", "chaos-admin")
        status, _, _, _ = call("PUT", server.base, f"/v1/locations/{LOCATION}", key, {
            "name": "Chaos store", "kind": "store", "latitude": 48.86, "longitude": 2.34,
            "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 1_000_000})
        check("the store is defined", status in (200, 201), str(status))
        status, _, _, _ = call("POST", server.base, "/v1/stock/movements", key, {"movements": [
            {"sku": sku, "locationId": LOCATION, "kind": "receipt", "quantity": STOCK} for sku in SKUS]}, "chaos-initial-stock")
        check("the initial stock is received", status == 201, str(status))
        load = Load(server, key)
        load.start()
        outage(load, server, data)
        crash(load, server)
        load.stop()
        settle(load)
        audit(load, server, key)
        with load.lock:
            all_503 = sum(1 for a in load.answers if a[1] == 503)
            five_hundreds = sum(1 for a in load.answers if a[1] >= 500 and a[1] != 503)
        check("no 5xx other than 503 in the whole run", five_hundreds == 0, f"{len(load.answers)} answers, {all_503} 503s, {five_hundreds} other 5xx")
    finally:
        if load:
            load.stop()
        code = server.stop()
    check("oms stops cleanly on SIGTERM", code == 0, str(code))
    out = subprocess.run([OMS, "verify", "--data-dir", data], env=oms_env(), capture_output=True, text=True, timeout=300)
    check("oms verify is clean afterwards", out.returncode == 0 and "equal a replay" in out.stdout, out.stdout.strip()[-200:])
    print(f"chaos: took {time.monotonic() - began:.0f} s")
    return finish(check, work, data)


if __name__ == "__main__":
    sys.exit(main())
