#!/usr/bin/env python3
"""Flash sale across two `oms serve` instances on one database: never oversell, proven by units.

Two real server processes share one embedded PostgreSQL cluster (the second attaches to the
cluster the first started in the same data folder). Five SKUs have 50 units each at one store.
Then:
  1. 3,000 requests race at once, alternating between the instances: holds of 1 or 2 units (some
     with a 1-2 s TTL that expire, some released by the other instance shortly after, some
     converted into pickup orders by the other instance) and pickup orders placed directly.
  2. After the short holds have expired, single units are held until both instances refuse:
     demand exceeds supply, so every unit must end up held or ordered (all sold, none twice),
     and the units the answers accepted (live holds plus orders) must be exactly 50 per SKU.
  3. The ledger is read back and replayed by time: at the moment of every accepted hold or order,
     the units of holds still live (placed, not ended before it, not expired at its time) plus
     the units ordered never exceed the stock. This counts units, not successes.
  4. Both servers stop (SIGTERM) and `oms verify` must find the projections equal to a replay.
Loopback only; every loop and wait is bounded. Exit status 0 when every check passes.
"""
import concurrent.futures, json, os, random, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

from campaign import OMS, Checks, create_key, oms_env, start_oms, stop_oms, finish

SKUS = ["FLASH-A", "FLASH-B", "FLASH-C", "FLASH-D", "FLASH-E"]
UNITS = 50
REQUESTS = 3000
LOCATION = "FS-01"
check = Checks("flash-sale")


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
    process, base = start_oms(data, log)
    if base is None:
        stop_oms(process)
        sys.exit(f"flash-sale: oms serve did not become ready; see {log}")
    return process, base


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
        key = create_key(data, "admin", "flash-admin")
        checkout = create_key(data, "checkout", "flash-checkout")
        status, _ = call("PUT", f"{base_a}/v1/locations/{LOCATION}", key, {
            "name": "Flash store", "kind": "store", "latitude": 48.86, "longitude": 2.34,
            "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 1000})
        check("the store is defined", status in (200, 201), str(status))
        status, _ = call("POST", f"{base_b}/v1/stock/movements", key, {"movements": [
            {"sku": sku, "locationId": LOCATION, "kind": "receipt", "quantity": UNITS} for sku in SKUS]})
        check("50 units of each SKU are received", status == 201, str(status))

        # 1. The storm: 3,000 requests at once over both instances: holds (with expiries,
        # releases and conversions into orders) and orders placed directly.
        rng = random.Random(20261201)
        plans = []
        for n in range(REQUESTS):
            sku, quantity, draw = rng.choice(SKUS), rng.choice([1, 1, 2]), rng.random()
            if draw < 0.25:
                plans.append((n, sku, quantity, "order", 0))
            elif draw < 0.40:
                plans.append((n, sku, quantity, "convert", 600))
            elif draw < 0.60:
                plans.append((n, sku, quantity, "release", 600))
            else:
                plans.append((n, sku, quantity, "hold", rng.choice([1, 2, 600, 600, 600])))
        outcome = {}  # n -> what the answers say the request holds at the end: ("held"|"ordered"|"ended"|"expiring", sku, units)
        refused, other = [], []
        lock = threading.Lock()
        gate = threading.Barrier(100)
        pickup = {"type": "pickup", "locationId": LOCATION}

        def record(n, state, sku, quantity):
            with lock:
                outcome[n] = (state, sku, quantity)

        def one(plan):
            n, sku, quantity, kind, ttl = plan
            if n < 100:
                gate.wait(timeout=30)  # the first hundred leave together
            line = {"sku": sku, "quantity": quantity, "locationId": LOCATION}
            base, other_base = bases[n % 2], bases[(n + 1) % 2]
            if kind == "order":
                status, body = call("POST", f"{base}/v1/orders", checkout, {
                    "orderNumber": f"FS-{n}", "lines": [line], "fulfilment": pickup})
            else:
                # A pickup hold names its store in the fulfilment, not on the line.
                status, body = call("POST", f"{base}/v1/holds", checkout, {
                    "lines": [{"sku": sku, "quantity": quantity}], "ttlSeconds": ttl, "reference": f"cart-{n}",
                    "fulfilment": pickup})
            if status == 409:
                with lock:
                    refused.append((plan, status, body))
                return
            if status != 201:
                with lock:
                    other.append((plan, status, body))
                return
            if kind == "order":
                return record(n, "ordered", sku, quantity)
            if ttl < 600:
                return record(n, "expiring", sku, quantity)
            if kind == "hold":
                return record(n, "held", sku, quantity)
            time.sleep(rng.random() * 0.2)
            if kind == "release":
                status, answer = call("DELETE", f"{other_base}/v1/holds/{body['id']}", checkout)
                ok = status == 200 and answer["status"] == "released"
                state = "ended"
            else:
                status, answer = call("POST", f"{other_base}/v1/orders", checkout, {"holdId": body["id"], "orderNumber": f"FS-{n}"})
                ok = status == 201
                state = "ordered"
            if not ok:
                with lock:
                    other.append((plan, status, answer))
                return record(n, "held", sku, quantity)
            record(n, state, sku, quantity)

        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            list(pool.map(one, plans, timeout=600))
        check("every storm request got 201 or 409 (and every release or conversion succeeded)", not other,
              f"{len(other)} others: {other[:2]}")
        kinds = {k: sum(1 for _, _, _, kind, _ in plans if kind == k) for k in ("hold", "release", "convert", "order")}
        placed_orders = sum(1 for state, _, _ in outcome.values() if state == "ordered")
        check("demand exceeded supply in the storm", len(refused) > 0,
              f"{REQUESTS} requests ({kinds}); {len(outcome)} accepted, {placed_orders} became orders, {len(refused)} refused")
        insufficient = all(body.get("errors", [{}])[0].get("code") == "insufficient-stock" for _, _, body in refused)
        check("refusals are insufficient-stock problems naming the figures", insufficient)

        # 2. All of it is sold: once the short holds have expired, hold single units until both refuse.
        time.sleep(2.5)
        for sku in SKUS:
            refusals_in_row, topped_up = 0, 0
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
                    topped_up += 1
            status, position = call("GET", f"{bases[0]}/v1/stock/{LOCATION}/{sku}", key)
            committed = position["held"] + position["allocated"]
            check(f"{sku}: every unit is held or ordered once demand exceeds supply (all sold, none twice)",
                  committed == UNITS and position["available"] == 0 and position["onHand"] == UNITS,
                  f"onHand {position['onHand']}, held {position['held']}, allocated {position['allocated']}, available {position['available']}")
            answered = topped_up + sum(units for state, s, units in outcome.values() if s == sku and state in ("held", "ordered"))
            check(f"{sku}: the accepted answers add up to the stock exactly", answered == UNITS,
                  f"{answered} units in live holds and orders by the answers")

        # 3. Units, from the ledger: at every accepted hold or order, live units never exceed the stock.
        ledger = events(base_b, key)
        live = {}  # hold id -> (sku, units, expiresAtMs)
        allocated = {sku: 0 for sku in SKUS}
        worst = {sku: 0 for sku in SKUS}
        oversold = 0
        for event in ledger:
            payload, grown = event["data"], []
            at = payload.get("occurredAtMs")
            if at is not None:
                for hold_id in [h for h, (_, _, expires) in live.items() if expires <= at]:
                    del live[hold_id]  # expired by this instant, recorded or not
            if event["type"] == "hold.placed":
                line = payload["lines"][0]
                live[payload["holdId"]] = (line["sku"], line["quantity"], payload["expiresAtMs"])
                grown.append(line["sku"])
            elif event["type"] in ("hold.released", "hold.expired", "hold.converted"):
                live.pop(payload["holdId"], None)
            elif event["type"].startswith("order."):
                for change in payload["changes"]:
                    allocated[change["sku"]] += change["allocated"]
                    if change["allocated"] > 0:
                        grown.append(change["sku"])
            for sku in grown:
                units = allocated[sku] + sum(q for s, q, _ in live.values() if s == sku)
                worst[sku] = max(worst[sku], units)
                if units > UNITS:
                    oversold += 1
        placed = sum(1 for e in ledger if e["type"] == "hold.placed")
        ordered = sum(1 for e in ledger if e["type"] == "order.created")
        check("the ledger never promises more units than the stock at any accepted hold or order", oversold == 0,
              f"{placed} holds placed, {ordered} orders created; most units promised at once per SKU: {worst}")
        expired = sum(1 for e in ledger if e["type"] == "hold.expired")
        released = sum(1 for e in ledger if e["type"] == "hold.released")
        converted = sum(1 for e in ledger if e["type"] == "hold.converted")
        check("expiries, releases and conversions happened in between", expired > 0 and released > 0 and converted > 0,
              f"{released} released, {converted} converted, {expired} expiries recorded")
    finally:
        # The first instance started the embedded cluster and stops it: it goes last.
        codes = [stop_oms(second), stop_oms(first)]
    check("both instances stop cleanly on SIGTERM", codes == [0, 0], str(codes))
    out = subprocess.run([OMS, "verify", "--data-dir", data], env=oms_env(), capture_output=True, text=True, timeout=300)
    check("oms verify is clean afterwards", out.returncode == 0 and "equal a replay" in out.stdout, out.stdout.strip()[-200:])
    return finish(check, work, data)


if __name__ == "__main__":
    sys.exit(main())
