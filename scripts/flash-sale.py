#!/usr/bin/env python3
"""Flash sale across two `oms serve` instances on one database: never oversell, proven by units.

Two real server processes share one embedded PostgreSQL cluster (the second attaches to the
cluster the first started in the same data folder). Three SKUs have 50 units each at one store.
Then:
  1. 500 holds (1 or 2 units, random SKU) are fired at once, alternating between the instances;
     some have a 1-2 s TTL and expire, some are released by the other instance shortly after.
  2. After the short holds have expired, single units are held until both instances refuse:
     demand exceeds supply, so every unit must end up held (all of it is sold, none twice).
  3. The ledger is read back and replayed by time: at the moment of every accepted hold, the
     units of holds still live (placed, not released before it, not expired at its time) never
     exceed the stock. This counts units, not successes.
  4. Both servers stop (SIGTERM) and `oms verify` must find the projections equal to a replay.
Loopback only; every loop and wait is bounded. Exit status 0 when every check passes.
"""
import concurrent.futures, json, os, random, socket, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMS = os.environ.get("OMS_BIN", os.path.join(ROOT, ".build/debug/oms"))
SKUS = ["FLASH-A", "FLASH-B", "FLASH-C"]
UNITS = 50
HOLDS = 500
LOCATION = "FS-01"
failures = []


def check(name, ok, detail=""):
    print(f"flash-sale: {'ok  ' if ok else 'FAIL'} {name}{(' (' + detail + ')') if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, key, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start(data, log):
    port = free_port()
    env = dict(os.environ, OMS_LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([OMS, "serve", "--data-dir", data, "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(base + "/ready", timeout=2).status == 200:
                return process, base
        except Exception:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    sys.exit(f"flash-sale: oms serve did not become ready; see {log}")


def stop(process):
    process.terminate()
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return -9


def events(base, key):
    """The whole (small) ledger, page by page, bounded."""
    out, after = [], 0
    for _ in range(1000):
        status, page = call("GET", f"{base}/v1/events?after={after}&limit=1000", key)
        assert status == 200, page
        out += page["events"]
        if not page["events"]:
            return out
        after = page["events"][-1]["position"]
    return out


def main():
    if not os.access(OMS, os.X_OK):
        sys.exit(f"flash-sale: {OMS} is missing; build it first")
    work = tempfile.mkdtemp(prefix="omnistock-flash.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    first, base_a = start(data, os.path.join(work, "a.log"))
    second, base_b = start(data, os.path.join(work, "b.log"))
    bases = [base_a, base_b]
    try:
        env = dict(os.environ, OMS_LOG_LEVEL="warning")
        env.pop("DATABASE_URL", None)
        key = subprocess.run([OMS, "api-key", "create", "--role", "admin", "--data-dir", data], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        checkout = subprocess.run([OMS, "api-key", "create", "--role", "checkout", "--data-dir", data], env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()
        status, _ = call("PUT", f"{base_a}/v1/locations/{LOCATION}", key, {
            "name": "Flash store", "kind": "store", "latitude": 48.86, "longitude": 2.34,
            "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 1000})
        check("the store is defined", status in (200, 201), str(status))
        status, _ = call("POST", f"{base_b}/v1/stock/movements", key, {"movements": [
            {"sku": sku, "locationId": LOCATION, "kind": "receipt", "quantity": UNITS} for sku in SKUS]})
        check("50 units of each SKU are received", status == 201, str(status))

        # 1. The storm: 500 holds at once over both instances, with expiries and releases.
        rng = random.Random(20261123)
        plans = [(n, rng.choice(SKUS), rng.choice([1, 1, 2]), rng.choice([1, 2] + [600] * 6), rng.random() < 0.3)
                 for n in range(HOLDS)]
        accepted, refused, other = [], [], []
        lock = threading.Lock()
        gate = threading.Barrier(100)

        def one(plan):
            n, sku, quantity, ttl, release = plan
            if n < 100:
                gate.wait(timeout=30)  # the first hundred leave together
            status, body = call("POST", f"{bases[n % 2]}/v1/holds", checkout, {
                "lines": [{"sku": sku, "quantity": quantity, "locationId": LOCATION}], "ttlSeconds": ttl, "reference": f"cart-{n}"})
            with lock:
                (accepted if status == 201 else refused if status == 409 else other).append((plan, status, body))
            if status == 201 and release:
                time.sleep(rng.random() * 0.2)
                status, body = call("DELETE", f"{bases[(n + 1) % 2]}/v1/holds/{body['id']}", checkout)
                if status != 200 or body["status"] not in ("released", "expired"):
                    with lock:
                        other.append((plan, status, body))

        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            list(pool.map(one, plans, timeout=300))
        check("every storm request got 201 or 409", not other, f"{len(other)} others: {other[:2]}")
        check("demand exceeded supply in the storm", len(refused) > 0,
              f"{len(accepted)} accepted, {len(refused)} refused")
        insufficient = all(body.get("errors", [{}])[0].get("code") == "insufficient-stock" for _, _, body in refused)
        check("refusals are insufficient-stock problems naming the figures", insufficient)

        # 2. All of it is sold: once the short holds have expired, hold single units until both refuse.
        time.sleep(2.5)
        for sku in SKUS:
            refusals_in_row = 0
            for attempt in range(2 * UNITS + 10):
                status, body = call("POST", f"{bases[attempt % 2]}/v1/holds", checkout, {
                    "lines": [{"sku": sku, "quantity": 1, "locationId": LOCATION}], "ttlSeconds": 600})
                if status == 409:
                    refusals_in_row += 1
                    if refusals_in_row == 2:
                        break
                else:
                    refusals_in_row = 0
                    if status != 201:
                        check(f"{sku}: top-up holds are answered 201 or 409", False, f"{status} {body}")
                        break
            status, position = call("GET", f"{bases[0]}/v1/stock/{LOCATION}/{sku}", key)
            check(f"{sku}: every unit is held once demand exceeds supply (all sold, none twice)",
                  position["held"] == UNITS and position["available"] == 0 and position["onHand"] == UNITS,
                  f"onHand {position['onHand']}, held {position['held']}, available {position['available']}")

        # 3. Units, from the ledger: at every accepted hold, live units never exceed the stock.
        ledger = events(base_b, key)
        live = {}  # hold id -> (sku, units, expiresAtMs)
        worst = {sku: 0 for sku in SKUS}
        oversold = 0
        for event in ledger:
            payload = event["data"]
            if event["type"] == "hold.placed":
                at = payload["occurredAtMs"]
                for hold_id in [h for h, (_, _, expires) in live.items() if expires <= at]:
                    del live[hold_id]  # expired by this instant, recorded or not
                line = payload["lines"][0]
                live[payload["holdId"]] = (line["sku"], line["quantity"], payload["expiresAtMs"])
                units = sum(q for s, q, _ in live.values() if s == line["sku"])
                worst[line["sku"]] = max(worst[line["sku"]], units)
                if units > UNITS:
                    oversold += 1
            elif event["type"] in ("hold.released", "hold.expired"):
                live.pop(payload["holdId"], None)
        placed = sum(1 for e in ledger if e["type"] == "hold.placed")
        check("the ledger never holds more units than the stock at any accepted hold", oversold == 0,
              f"{placed} holds placed; most units live at once per SKU: {worst}")
        expired = sum(1 for e in ledger if e["type"] == "hold.expired")
        released = sum(1 for e in ledger if e["type"] == "hold.released")
        check("expiries and releases happened in between", expired > 0 and released > 0,
              f"{released} released, {expired} expiries recorded")
    finally:
        # The first instance started the embedded cluster and stops it: it goes last.
        codes = [stop(second), stop(first)]
    check("both instances stop cleanly on SIGTERM", codes == [0, 0], str(codes))
    env = dict(os.environ, OMS_LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    out = subprocess.run([OMS, "verify", "--data-dir", data], env=env, capture_output=True, text=True, timeout=300)
    check("oms verify is clean afterwards", out.returncode == 0 and "equal a replay" in out.stdout, out.stdout.strip()[-200:])
    subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")])
    if not failures:
        subprocess.run(["rm", "-rf", work])
    else:
        print(f"flash-sale: logs kept in {work}")
    print(f"flash-sale: {'passed' if not failures else str(len(failures)) + ' failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
