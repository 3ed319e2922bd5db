#!/usr/bin/env python3
"""Omnistock benchmark: a program that prints figures, run on demand with `make bench`.

It starts a release `oms serve` on a fresh embedded PostgreSQL cluster (loopback only), then:
  1. ingests movements over HTTP in 10,000-line requests: 10,000 SKUs x 20 locations, then more
     until the ledger holds EVENTS events (default 1,000,000);
  2. measures GET /v1/availability for 100 SKUs x 20 locations with wrk (p50/p99, calls/s),
     and GET /health under the same load generator (this machine's HTTP ceiling);
  3. runs the hold (checkout reservation) scenarios over HTTP with wrk and bench/holds.lua:
     (a) holds on random positions, (b) a flash sale on 10 hot SKUs and a scarce one that must
     sell exactly its stock, (c) churn: holds placed, released, and left to expire;
  4. runs store journeys over HTTP (hold -> order -> picking -> ready -> collect at one pickup
     store), BENCH_ORDER_WORKERS keep-alive connections for BENCH_ORDER_SECONDS: journeys/s and
     p50/p99 of each step, from this Python client, then again from wrk and bench/journeys.lua
     (the server's figure without the Python client's share of the two cores);
  5. times `oms replay` over the whole ledger and checks `oms verify`;
  6. runs ../shared/bench/pg-limit.sh in the same run for the raw PostgreSQL figures, and prints
     the hold and journey figures against it (holds also against /health, with their targets).
BENCH_SCENARIOS=holds reruns the hold scenarios in a few minutes: only the first ingest pass
(every position once), no availability, no replay; /health, verify and pg-limit still run.
BENCH_SCENARIOS=orders runs the journeys alone (no ingest, no hold scenarios, no replay; verify
and pg-limit still run); a comma list (holds,orders) runs several.
BENCH_SCENARIOS=availability measures the three availability reads (a product page: 1 SKU near
a point; a cart: 10 SKUs near a point; a listing: 100 SKUs) against /health, after the first
ingest pass. BENCH_SCENARIOS=streams opens BENCH_STREAM_CLIENTS (1,000) stream clients while
holds are written at full speed (bench/streams.py): commit-to-client latency, messages/s,
server memory, and the hold rate with and without the clients. BENCH_SCENARIOS=webhooks
(bench/webhooks.py) delivers to a local receiver: events/s with 1 and with 50 subscriptions
(BENCH_WEBHOOK_EVENTS receipts, 5,000), and the commit-to-receipt latency p50/p99 while holds
are written at full speed, with one subscription. BENCH_SCENARIOS=kpis ingests until the
ledger holds EVENTS events and reads GET /v1/kpis with wrk (every location over 30 days by day,
one store over 7 days, one store over a year by day): calls/s and p50/p99 against /health.
Every loop is bounded in count and time. Absolute numbers drift on shared machines; compare
the ratios printed at the end, measured in the same run. BENCH_KEEP_DATA=1 keeps the data folder
(its path is printed), to replay or profile that ledger again.
"""
import http.client, json, math, os, random, re, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMS = os.environ.get("OMS_BIN", os.path.join(ROOT, ".build/release/oms"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "all").strip()
SCENARIO_NAMES = ("holds", "orders", "availability", "streams", "webhooks", "kpis")   # what "all" runs, besides ingest and replay
FULL = SCENARIOS == "all"
SKUS, LOCATIONS, LINES = 10_000, 20, 10_000
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "64"))
PG_LIMIT = os.path.join(ROOT, "..", "shared", "bench", "pg-limit.sh")

# Hold scenarios. Positions get TOP_UP_UNITS more so (a) and (c) measure holding, not refusals.
HOLDS_LUA = os.path.join(ROOT, "bench", "holds.lua")
JOURNEYS_LUA = os.path.join(ROOT, "bench", "journeys.lua")
TOP_UP_UNITS = 1_000
FLASH_CONNECTIONS, FLASH_LOCATION = 256, "LOC-01"
HOT_SKUS, HOT_UNITS = [f"HOT-{n:02d}" for n in range(10)], 1_000_000
SCARCE_SKUS, SCARCE_UNITS, SCARCE_SECONDS = [f"SCARCE-{n}" for n in range(3)], 50, 3
HOLD_TTL_SECONDS = 900
# wrk runs this much longer than holds are sent, with idle connections, so that every hold sent
# is answered and counted: the counts are then compared with what the server holds.
HOLD_GRACE_SECONDS = 3
# After churn: its ttlSeconds-1 holds must be gone from `held` (read-time filter or sweeper, 1 s).
CHURN_SETTLE_SECONDS = 3
CHURN_CHECK_POSITIONS = 8
AVAILABILITY_SKUS_PER_CALL = 200
STREAM_CLIENTS = int(os.environ.get("BENCH_STREAM_CLIENTS", "1000"))
# Where the product-page and cart calls stand: central Paris, among the 20 locations.
NEAR = "48.8566,2.3522"

# Order journeys: hold -> order -> picking -> ready -> collect, one unit, at one pickup store of
# its own (so its queue and capacity are the bench's alone). Journey n takes ORDER_SKUS[n % len]:
# consecutive journeys touch different positions, and ORDER_UNITS_PER_SKU covers every journey
# number that can be handed out (ORDER_JOURNEYS_MAX), so collects never run the stock out.
ORDER_STORE = "STORE-BENCH"
ORDER_SKUS = [f"ORD-{n:05d}" for n in range(2_000)]
ORDER_WORKERS = int(os.environ.get("BENCH_ORDER_WORKERS", "64"))
ORDER_SECONDS = float(os.environ.get("BENCH_ORDER_SECONDS", "20"))
ORDER_JOURNEYS_MAX = int(os.environ.get("BENCH_ORDER_JOURNEYS_MAX", "200000"))
ORDER_UNITS_PER_SKU = -(-ORDER_JOURNEYS_MAX // len(ORDER_SKUS))
ORDER_FAILURES_MAX = 1_000        # workers stop taking journeys once this many failed
ORDER_REQUEST_TIMEOUT = 30        # seconds per request; a journey is 5 requests
ORDER_STEPS = ("hold", "order", "picking", "ready", "collect")
ORDER_BODIES_SHOWN = 5
JOURNEY_GRACE_SECONDS = 5         # wrk runs this much longer than journeys start, for those under way to finish
CLIENT_CEILING_SECONDS = 3


# The server's pid, for the CPU it and the PostgreSQL processes spend per hold and per journey:
# on this shared machine rates drift by a quarter from run to run, CPU per operation much less.
SERVER_PID = None


def cpu_seconds():
    """(oms, PostgreSQL) CPU seconds so far, from /proc: the server, and every postgres process."""
    tick = os.sysconf("SC_CLK_TCK")
    oms = postgres = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(pid) == SERVER_PID:
            oms += used
        elif comm == "postgres":
            postgres += used
    return oms, postgres


def cpu_per(before, count):
    """'oms X us, PostgreSQL Y us' of CPU per operation since `before`."""
    after = cpu_seconds()
    if count <= 0:
        return "n/a"
    return f"oms {(after[0] - before[0]) / count * 1e6:,.0f} us, PostgreSQL {(after[1] - before[1]) / count * 1e6:,.0f} us"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, key, body=None, timeout=300):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.status, response.read()


def get_json(url, key):
    return json.loads(request("GET", url, key, timeout=60)[1])


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except OSError:
        return float("nan"), float("nan")


def wrk(url, key, script=None, connections=WRK_CONNECTIONS, seconds=WRK_SECONDS):
    """Runs wrk and returns (requests/s, p50 ms, p99 ms)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {key}"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = p50 = p99 = float("nan")
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rate = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            ms = float(value[:-2]) if value.endswith("ms") else float(value[:-2]) / 1000 if value.endswith("us") else float(value[:-1]) * 1000
            if parts[0] == "50%":
                p50 = ms
            else:
                p99 = ms
        elif "Non-2xx" in line:
            print(f"  wrk: {line.strip()}")
    return rate, p50, p99


def start_server(data, port, env, work):
    """Starts `oms serve` and waits (at most 120 s) until /ready answers."""
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([OMS, "serve", "--data-dir", data, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
    deadline = time.time() + 120
    while True:
        try:
            if urllib.request.urlopen(base + "/ready", timeout=2).status == 200:
                return server
        except Exception:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            sys.exit("bench: oms serve did not become ready; see " + work)
        time.sleep(0.2)


def define_locations(base, key, locations, rng):
    for n, location in enumerate(locations):
        request("PUT", f"{base}/v1/locations/{location}", key, {
            "name": f"Location {n + 1}", "kind": "warehouse" if n == 0 else "store",
            "latitude": 48.8 + rng.random() / 5, "longitude": 2.2 + rng.random() / 3,
            "capabilities": {"pickup": n != 0, "ships": n < 5}, "dailyCapacity": 500})


def receipts(lines):
    """The body of one movements request: a receipt per (sku, location, quantity)."""
    return {"movements": [{"sku": s, "locationId": l, "kind": "receipt", "quantity": q} for s, l, q in lines]}


def post_movements(base, key, body):
    status, _ = request("POST", f"{base}/v1/stock/movements", key, body)
    if status != 201:
        sys.exit(f"bench: movements answered {status}")


def ingest(base, key, pairs, rng):
    """Step 1: every (sku, location) once, then (mode all) more receipts until EVENTS events.
    Returns movements/s, client-side JSON excluded."""
    # The KPI reads are measured with a ledger of EVENTS events too.
    full_ledger = FULL or "kpis" in SCENARIOS
    requests_needed = max(len(pairs) // LINES, EVENTS // LINES) if full_ledger else len(pairs) // LINES
    print(f"ingest: {requests_needed} requests of {LINES} lines ({requests_needed * LINES:,} movements)")
    bodies_time = 0.0
    started = time.perf_counter()
    latencies = []
    for r in range(requests_needed):
        t0 = time.perf_counter()
        if r * LINES < len(pairs):
            chunk = pairs[r * LINES:(r + 1) * LINES]
        else:
            chunk = [rng.choice(pairs) for _ in range(LINES)]
        body = json.dumps(receipts([(s, l, 1 + (i % 9)) for i, (s, l) in enumerate(chunk)])).encode()
        bodies_time += time.perf_counter() - t0
        t1 = time.perf_counter()
        post_movements(base, key, body)
        latencies.append(time.perf_counter() - t1)
        if time.perf_counter() - started > 1800:
            sys.exit("bench: ingest took over 30 minutes; stopping")
    elapsed = time.perf_counter() - started - bodies_time
    ingest_rate = requests_needed * LINES / elapsed
    latencies.sort()
    print(f"ingest: {ingest_rate:,.0f} movements/s over HTTP "
          f"(request p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; client-side JSON excluded)")
    return ingest_rate


def measure_availability(base, key, work):
    """Step 2: availability, 100 SKUs per call, random sets, against /health as the HTTP ceiling.
    Returns (availability calls/s, health requests/s)."""
    script = os.path.join(work, "availability.lua")
    with open(script, "w") as f:
        f.write("math.randomseed(42)\nrequest = function()\n  local q = {}\n"
                f"  for i = 1, 100 do q[i] = string.format('sku=SKU-%05d', math.random(0, {SKUS - 1})) end\n"
                "  return wrk.format('GET', '/v1/availability?' .. table.concat(q, '&'))\nend\n")
    health_rate, health_p50, health_p99 = wrk(base + "/health", key)
    avail_rate, avail_p50, avail_p99 = wrk(base + "/v1/availability", key, script)
    print(f"availability (100 SKUs x 20 locations per call, {WRK_CONNECTIONS} connections): "
          f"{avail_rate:,.0f} calls/s, p50 {avail_p50:.2f} ms, p99 {avail_p99:.2f} ms")
    print(f"health (same load generator): {health_rate:,.0f} requests/s, p50 {health_p50:.2f} ms, p99 {health_p99:.2f} ms")
    return avail_rate, health_rate


def availability_script(work, name, skus_per_call, near):
    path = os.path.join(work, f"{name}.lua")
    near_part = f"&near={near}" if near else ""
    with open(path, "w") as f:
        f.write("math.randomseed(42)\nrequest = function()\n  local q = {}\n"
                f"  for i = 1, {skus_per_call} do q[i] = string.format('sku=SKU-%05d', math.random(0, {SKUS - 1})) end\n"
                f"  return wrk.format('GET', '/v1/availability?' .. table.concat(q, '&') .. '{near_part}')\nend\n")
    return path


def availability_reads(base, key, work, health_rate):
    """The three availability calls a shop makes, against /health of the same run. Returns a dict."""
    figures = {}
    for name, skus, near, target in [("product page", 1, NEAR, 0.5), ("cart", 10, NEAR, 1 / 3), ("listing", 100, None, None)]:
        rate, p50, p99 = wrk(base + "/v1/availability", key, availability_script(work, name.replace(" ", "-"), skus, near))
        figures[name] = (rate, p50, p99)
        goal = f", target >= {target:.2f}" if target else ""
        print(f"availability, {name} ({skus} SKU{'s' if skus > 1 else ''}{' near a point' if near else ''}, {LOCATIONS} locations, "
              f"{WRK_CONNECTIONS} connections): {rate:,.0f} calls/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"/ health = {rate / health_rate:.3f}{goal}")
    return figures


def stream_bench(base, port, key, pairs, server):
    import streams
    top_up(base, key, pairs)
    def holds():
        return run_holds(base, key, WRK_CONNECTIONS, WRK_SECONDS, mode="random", skus=SKUS, locations=LOCATIONS, ttl=HOLD_TTL_SECONDS)
    locations = [f"LOC-{n:02d}" for n in range(1, LOCATIONS + 1)]
    r = streams.stream_scenario(port, key, locations, STREAM_CLIENTS, WRK_SECONDS, holds, rss_mb, server.pid)
    without, with_clients = r["holds_without"].per_second("status.201"), r["holds_with"].per_second("status.201")
    print(f"streams: {r['clients']:,} clients open ({r['events_clients']} on the event stream with a key bound to one location, "
          f"the others on availability streams of 1 or 10 SKUs; {r['refused']} refused), holds at full speed ({WRK_CONNECTIONS} connections, {WRK_SECONDS} s)")
    print(f"streams: commit-to-client latency (hold 201 to its hold.placed at the {r['watchers']} events clients of its location, {r['probes']} probe holds): "
          f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (target p99 < 100 ms); {r['missing']:,} arrivals missing")
    print(f"streams: {r['messages_per_second']:,.0f} messages/s delivered; server RSS {r['rss_idle_mb']:.0f} MiB with the clients idle, "
          f"{r['rss_busy_mb']:.0f} MiB after the load")
    print(f"streams: CPU while the holds ran with the clients ({r['busy_seconds']:.0f} s, {os.cpu_count()} cores): server "
          f"{r['server_cpu_seconds']:.1f} s, the clients' reader and prober (this Python process) {r['client_cpu_seconds']:.1f} s")
    print(f"streams: holds {without:,.0f}/s without the clients, {with_clients:,.0f}/s with them "
          f"(change {with_clients / without - 1:+.1%}, target no worse than -15%)")
    return r


def webhook_bench(base, port, key, pairs, server, health_rate):
    import streams, webhooks
    top_up(base, key, pairs)
    def holds():
        return run_holds(base, key, WRK_CONNECTIONS, WRK_SECONDS, mode="random", skus=SKUS, locations=LOCATIONS, ttl=HOLD_TTL_SECONDS)
    r = webhooks.webhook_scenario(base, key, pairs, free_port(), holds, WRK_SECONDS, streams.cpu_seconds, server.pid)
    health = health_rate or float("nan")
    for t in r["throughput"]:
        state = "" if t["complete"] else f", INCOMPLETE after {webhooks.WAIT_SECONDS:.0f} s"
        print(f"webhooks: {t['subscriptions']} subscription{'s' if t['subscriptions'] > 1 else ''} x {t['events']:,} events "
              f"(receipts in {webhooks.BATCH_LINES}-line movement requests, written in {t['written_seconds']:.1f} s): "
              f"{t['delivered']:,} deliveries in {t['seconds']:.1f} s = {t['rate']:,.0f} events delivered/s "
              f"({t['rate'] / t['subscriptions']:,.0f}/s a subscription), / health = {t['rate'] / health:.3f}{state}")
        print(f"  out of order {t['backwards']:,}, sent twice {t['repeats']:,}; signatures verified (standardwebhooks) on a sample: "
              f"{t['verified']}/{t['sampled']}; CPU: server {t['server_cpu']:.1f} s, receiver and client (this Python process) "
              f"{t['client_cpu']:.1f} s")
    base_rate = r["baseline"].per_second("status.201")
    print(f"webhooks: holds without any subscription ({WRK_CONNECTIONS} connections, {WRK_SECONDS} s): {base_rate:,.0f} holds/s, "
          f"p99 {r['baseline'].p99_ms:.2f} ms")
    for name, l in r["latency"].items():
        rate = l["holds"].per_second("status.201")
        print(f"webhooks: commit-to-receipt latency, 1 subscription ({name}), holds at full speed ({WRK_CONNECTIONS} connections, "
              f"{WRK_SECONDS} s, {rate:,.0f} holds/s, change {rate / base_rate - 1:+.1%}): p50 {l['p50_ms']:.1f} ms, "
              f"p99 {l['p99_ms']:.1f} ms, max {l['max_ms']:.1f} ms over {l['delivered']:,} deliveries of {l['events']:,} events written")
        print(f"  {l['delivered_per_second']:,.0f} deliveries/s while the holds ran (longest pause between two "
              f"{l['longest_gap_ms']:,.0f} ms); the last delivery came {l['drained_seconds']:.1f} s after the last hold was sent"
              f"{'' if l['caught_up'] else ' (the cursor did NOT reach the head: bounded wait)'}; out of order {l['backwards']:,}, sent twice {l['repeats']:,}; "
              f"signatures verified on a sample: {l['verified']}/{l['sampled']}")
    return r


def kpi_bench(base, key, health_rate):
    """GET /v1/kpis with wrk, over the ledger as the other scenarios left it: every location over
    30 days by day (the admin's page), one store over 7 days, one store over a year by day.
    Prints calls/s and p50/p99 beside /health; the read is of the KPI projection's rows (one
    per location and hour with events), never of the ledger."""
    now = time.time()
    def iso(seconds):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    day = 86_400
    cases = [
        ("every location, 30 days by day", f"from={iso(now - 30 * day)}&to={iso(now + 3600)}&granularity=day"),
        ("one store, 7 days", f"from={iso(now - 7 * day)}&to={iso(now + 3600)}&locationId=LOC-01"),
        ("one store, a year by day", f"from={iso(now - 365 * day)}&to={iso(now + 3600)}&locationId=LOC-01&granularity=day"),
    ]
    for name, query in cases:
        answer = get_json(base + "/v1/kpis?" + query, key)
        rate, p50, p99 = wrk(base + "/v1/kpis?" + query, key)
        print(f"kpis, {name} ({WRK_CONNECTIONS} connections, ledger head {answer['position']:,}): {rate:,.0f} calls/s, "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms (target < 50), / health = {rate / health_rate:.3f}; "
              f"{answer['orderToReady']['orders']} orders ready in the period")


def measure_health(base, key, connections):
    rate, p50, p99 = wrk(base + "/health", key, connections=connections)
    print(f"health ({connections} connections, {WRK_SECONDS} s): {rate:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return rate


# ---- Hold scenarios -------------------------------------------------------------------------

class HoldRun:
    """What one holds.lua run counted, summed over wrk threads (see its done())."""

    def __init__(self, counts):
        self.counts = counts

    def __getitem__(self, key):
        return self.counts.get(key, 0)

    def per_second(self, key):
        seconds = self["elapsed_ms"] / 1000
        return self[key] / seconds if seconds > 0 else float("nan")

    @property
    def accepted(self):
        return self["status.201"]

    @property
    def p50_ms(self):
        return self["p50_us"] / 1000

    @property
    def p99_ms(self):
        return self["p99_us"] / 1000

    def statuses(self):
        return " ".join(f"{k[7:]}={v:,}" for k, v in sorted(self.counts.items()) if k.startswith("status."))

    def refused_share(self):
        """Share of answers that are not 201 (409 refusals, 503 queue full, anything else)."""
        return (self["answered"] - self.accepted) / self["answered"] if self["answered"] else float("nan")

    def warnings(self):
        """Lines to print when the counts cannot be trusted to match the server."""
        out = []
        if self["sent"] > self["answered"]:
            out.append(f"{self['sent'] - self['answered']:,} requests unanswered when wrk stopped (the server may hold more than counted)")
        if self["errors"] or self["timeouts"]:
            out.append(f"wrk socket errors {self['errors']:,}, timeouts {self['timeouts']:,}")
        if self["unparsed"] or self["sku.unknown"]:
            out.append(f"{self['unparsed'] + self['sku.unknown']:,} answers 201 without a readable hold id or SKU")
        return out


def run_holds(base, key, connections, seconds, **options):
    """Runs bench/holds.lua under wrk: holds are sent for `seconds`, then the connections idle for
    HOLD_GRACE_SECONDS so every answer is counted."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds + HOLD_GRACE_SECONDS}s", "--timeout", "30s",
               "-H", f"Authorization: Bearer {key}", "-s", HOLDS_LUA, base, "--", f"seconds={seconds}"]
    command += [f"{name}={value}" for name, value in options.items()]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + HOLD_GRACE_SECONDS + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("bench-holds ")), None)
    if line is None:
        sys.exit(f"bench: wrk printed no hold counts:\n{out.stdout}{out.stderr}")
    run = HoldRun({name: int(value) for name, value in (field.split("=", 1) for field in line.split()[1:])})
    for warning in run.warnings():
        print(f"  warning: {warning}")
    return run


def top_up(base, key, pairs):
    """Receipts for the hold scenarios: the first ingest pass leaves only 1-9 units a position, and
    the flash-sale SKUs are new."""
    started = time.perf_counter()
    for r in range(0, len(pairs), LINES):
        post_movements(base, key, receipts([(s, l, TOP_UP_UNITS) for s, l in pairs[r:r + LINES]]))
        if time.perf_counter() - started > 600:
            sys.exit("bench: top-up receipts took over 10 minutes; stopping")
    post_movements(base, key, receipts([(s, FLASH_LOCATION, HOT_UNITS) for s in HOT_SKUS] +
                                       [(s, FLASH_LOCATION, SCARCE_UNITS) for s in SCARCE_SKUS]))
    print(f"hold stock: +{TOP_UP_UNITS:,} units at each of {len(pairs):,} positions; at {FLASH_LOCATION} "
          f"{len(HOT_SKUS)} hot SKUs x {HOT_UNITS:,} and {len(SCARCE_SKUS)} scarce SKUs x {SCARCE_UNITS} "
          f"({time.perf_counter() - started:.1f} s)")


def position(base, key, location, sku):
    return get_json(f"{base}/v1/stock/{location}/{sku}", key)


def flash_stock_check(base, key, skus, run):
    """Per SKU at FLASH_LOCATION: the server's held against the 201s counted, and oversell
    (units held or allocated beyond on hand). Returns (oversold units, mismatch descriptions)."""
    oversold, mismatches = 0, []
    for sku in skus:
        p = position(base, key, FLASH_LOCATION, sku)
        oversold += max(0, p["held"] + p["allocated"] - p["onHand"])
        if p["held"] != run[f"sku.{sku}"]:
            mismatches.append(f"{sku} held {p['held']:,} vs {run[f'sku.{sku}']:,} answered 201")
    return oversold, mismatches


def holds_random(base, key):
    """(a) one-unit holds on random positions of the 200,000, WRK_CONNECTIONS connections."""
    before = cpu_seconds()
    run = run_holds(base, key, WRK_CONNECTIONS, WRK_SECONDS, mode="random", skus=SKUS, locations=LOCATIONS, ttl=HOLD_TTL_SECONDS)
    cpu = cpu_per(before, run.counts.get("answered", 0))
    print(f"(a) holds random ({SKUS:,} SKUs x {LOCATIONS} locations, 1 unit, ttl {HOLD_TTL_SECONDS} s, "
          f"{WRK_CONNECTIONS} connections, {WRK_SECONDS} s): {run.per_second('status.201'):,.0f} holds/s, "
          f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, non-201 {run.refused_share():.2%} ({run.statuses()})")
    print(f"(a) CPU per hold answered: {cpu}")
    return run


def flash_sale(base, key):
    """(b) everyone holds one of 10 hot SKUs at one location; returns (run, oversold units, held mismatches)."""
    run = run_holds(base, key, FLASH_CONNECTIONS, WRK_SECONDS, mode="flash", hot=",".join(HOT_SKUS),
                    location=FLASH_LOCATION, ttl=HOLD_TTL_SECONDS)
    oversold, mismatches = flash_stock_check(base, key, HOT_SKUS, run)
    print(f"(b) flash sale ({len(HOT_SKUS)} hot SKUs x {HOT_UNITS:,} units at {FLASH_LOCATION}, 1 unit, "
          f"{FLASH_CONNECTIONS} connections, {WRK_SECONDS} s): {run.per_second('status.201'):,.0f} holds/s, "
          f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, non-201 {run.refused_share():.2%} ({run.statuses()})")
    print(f"(b) flash sale check: oversell: {oversold}; held = 201s per SKU: "
          f"{'yes, all ' + str(len(HOT_SKUS)) if not mismatches else 'NO: ' + '; '.join(mismatches)}")
    return run, oversold, len(mismatches)


def scarce_sale(base, key):
    """(b') demand far above supply: exactly the stock must be accepted, no unit more or less.
    Returns (units accepted, units in stock, problems found on the server: 0 when right)."""
    run = run_holds(base, key, FLASH_CONNECTIONS, SCARCE_SECONDS, mode="flash", hot=",".join(SCARCE_SKUS),
                    location=FLASH_LOCATION, ttl=HOLD_TTL_SECONDS)
    stock = len(SCARCE_SKUS) * SCARCE_UNITS
    oversell = max(0, run.accepted - stock)
    server_oversold, mismatches = flash_stock_check(base, key, SCARCE_SKUS, run)
    verdict = "right" if run.accepted == stock else "WRONG (" + ("oversold" if oversell else "undersold") + ")"
    print(f"(b) scarce flash sale ({len(SCARCE_SKUS)} SKUs x {SCARCE_UNITS} units at {FLASH_LOCATION}, "
          f"{FLASH_CONNECTIONS} connections, {SCARCE_SECONDS} s): {run.accepted:,} units accepted for {stock} in stock, "
          f"expected exactly {stock}: {verdict}; oversell: {oversell} ({run.statuses()})")
    print(f"(b) scarce check on the server: oversold units {server_oversold}; held = 201s per SKU: "
          f"{'yes' if not mismatches else 'NO: ' + '; '.join(mismatches)}")
    return run.accepted, stock, server_oversold + len(mismatches)


def churn(base, key):
    """(c) holds placed and released in turn, a quarter left to expire (ttlSeconds 1)."""
    run = run_holds(base, key, WRK_CONNECTIONS, WRK_SECONDS, mode="churn", skus=SKUS, locations=LOCATIONS, ttl=HOLD_TTL_SECONDS)
    print(f"(c) churn ({WRK_CONNECTIONS} connections, {WRK_SECONDS} s, place and release in turn, 1 in 4 holds ttl 1 s "
          f"never released): {run.per_second('placed'):,.0f} holds placed/s, {run.per_second('released'):,.0f} releases/s, "
          f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms over all requests "
          f"({run['placed']:,} placed of which {run['expiring']:,} left to expire, {run['released']:,} released; {run.statuses()})")
    return run


def held_by_position(base, key):
    """Every SKU-* position's stock figures from /v1/availability, AVAILABILITY_SKUS_PER_CALL SKUs a call."""
    figures = {}
    for first in range(0, SKUS, AVAILABILITY_SKUS_PER_CALL):
        query = "&".join(f"sku=SKU-{n:05d}" for n in range(first, min(SKUS, first + AVAILABILITY_SKUS_PER_CALL)))
        for item in get_json(f"{base}/v1/availability?{query}", key)["items"]:
            for entry in item["locations"]:
                figures[(item["sku"], entry["locationId"])] = entry
    return figures


def position_problems(p):
    """What is inconsistent in one GET /v1/stock answer ([] when nothing)."""
    problems = []
    if min(p["onHand"], p["held"], p["allocated"]) < 0:
        problems.append("a negative figure")
    if p["available"] != max(0, p["onHand"] - p["held"] - p["allocated"] - p["safetyStock"]):
        problems.append("available != onHand - held - allocated - safetyStock")
    if p["short"] != max(0, p["held"] + p["allocated"] - p["onHand"]):
        problems.append("short != held + allocated - onHand")
    return problems


def churn_check(base, key, holds_a, run_c, rng):
    """After churn settles: the total held over SKU-* positions must be the holds still active
    ((a)'s, and churn's kept and not released), so expired and released ones are gone; and a
    handful of held positions, read one by one, must be consistent. Returns the problem count."""
    time.sleep(CHURN_SETTLE_SECONDS)
    figures = held_by_position(base, key)
    held_total = sum(entry["held"] for entry in figures.values())
    expected = holds_a.accepted + run_c.accepted - run_c["expiring"] - run_c["released"]
    print(f"(c) churn check after {CHURN_SETTLE_SECONDS} s: held over all SKU-* positions {held_total:,}, expected {expected:,} "
          f"((a) 201s + churn 201s - churn ttl-1 s holds - releases): "
          f"{'equal' if held_total == expected else f'DIFFERENT by {held_total - expected:+,}'}")
    held = sorted(k for k, entry in figures.items() if entry["held"] > 0)
    sample = rng.sample(held, min(CHURN_CHECK_POSITIONS, len(held)))
    problems = []
    for sku, location in sample:
        p = position(base, key, location, sku)
        found = position_problems(p)
        if p["held"] != figures[(sku, location)]["held"]:
            found.append(f"held {p['held']} but availability said {figures[(sku, location)]['held']}")
        problems += [f"{location}/{sku}: {text}" for text in found]
    print(f"(c) churn check of {len(sample)} held positions via GET /v1/stock (held >= 0, available and short "
          f"consistent, same held as availability): {'ok' if not problems else 'PROBLEMS: ' + '; '.join(problems)}")
    return (held_total != expected) + len(problems)


def hold_scenarios(base, key, pairs, rng):
    """Step 3. Returns the figures the summary at the end needs."""
    top_up(base, key, pairs)
    results = {"health_flash": measure_health(base, key, FLASH_CONNECTIONS)}
    a_started = time.monotonic()
    results["a"] = holds_random(base, key)
    results["b"], results["b_oversell"], results["b_mismatches"] = flash_sale(base, key)
    results["scarce"] = scarce_sale(base, key)
    results["c"] = churn(base, key)
    if time.monotonic() - a_started < HOLD_TTL_SECONDS - 60:
        results["c_problems"] = churn_check(base, key, results["a"], results["c"], rng)
    else:
        print("(c) churn check skipped: (a)'s holds are near the end of their ttl, the total held would not match")
        results["c_problems"] = 0
    return results


# ---- Order journeys -------------------------------------------------------------------------

def order_setup(base, key):
    """The journeys' store, its stock and their keys. Returns (checkout key, store key)."""
    started = time.perf_counter()
    request("PUT", f"{base}/v1/locations/{ORDER_STORE}", key, {
        "name": "Bench pickup store", "kind": "store", "latitude": 48.86, "longitude": 2.35,
        "capabilities": {"pickup": True, "ships": False}, "dailyCapacity": 1_000_000})
    post_movements(base, key, receipts([(sku, ORDER_STORE, ORDER_UNITS_PER_SKU) for sku in ORDER_SKUS]))
    checkout = json.loads(request("POST", f"{base}/v1/api-keys", key, {"name": "bench checkout", "role": "checkout"})[1])["key"]
    store = json.loads(request("POST", f"{base}/v1/api-keys", key,
                               {"name": "bench store", "role": "store", "locations": [ORDER_STORE]})[1])["key"]
    print(f"order stock: {len(ORDER_SKUS):,} SKUs x {ORDER_UNITS_PER_SKU:,} units at {ORDER_STORE} (pickup), "
          f"checkout and store keys ({time.perf_counter() - started:.1f} s)")
    return checkout, store


class Journeys:
    """What the journey workers share: the next journey number, the failures and their first bodies."""

    def __init__(self, deadline):
        self.lock = threading.Lock()
        self.deadline = deadline
        self.taken = 0
        self.failures = {}
        self.samples = []

    @property
    def failed(self):
        return sum(self.failures.values())

    def take(self):
        """The next journey number, or None once the time, the count or the failure budget is spent."""
        with self.lock:
            if time.perf_counter() >= self.deadline or self.taken >= ORDER_JOURNEYS_MAX or self.failed >= ORDER_FAILURES_MAX:
                return None
            self.taken += 1
            return self.taken - 1

    def fail(self, step, detail):
        with self.lock:
            self.failures[step] = self.failures.get(step, 0) + 1
            if len(self.samples) < ORDER_BODIES_SHOWN:
                self.samples.append(f"{step}: {detail}")


class JourneyFailed(Exception):
    """A step that did not answer as expected; `broken` when the connection cannot be reused."""

    def __init__(self, step, detail, broken=False):
        super().__init__(f"{step}: {detail}")
        self.step, self.detail, self.broken = step, detail, broken


def post_json(connection, path, key, body):
    """One POST on a keep-alive connection, with a fresh Idempotency-Key. Returns (status, body)."""
    connection.request("POST", path, body=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
    response = connection.getresponse()
    return response.status, response.read()


def journey(connection, n, checkout, store, run, latencies):
    """One store journey for ORDER_SKUS[n]; each step's latency is kept when it answered as expected.
    Raises JourneyFailed at the first step that did not."""
    def step(name, path, key, body, expected):
        t0 = time.perf_counter()
        try:
            status, answer = post_json(connection, path, key, body)
        except (OSError, http.client.HTTPException) as error:
            raise JourneyFailed(name, f"{type(error).__name__}: {error}", broken=True) from error
        elapsed = time.perf_counter() - t0
        if status != expected:
            raise JourneyFailed(name, f"{status} {answer[:400].decode(errors='replace')}")
        try:
            document = json.loads(answer)
        except ValueError:
            raise JourneyFailed(name, f"{status} unreadable JSON {answer[:200]!r}")
        latencies[name].append(elapsed)
        return document

    def field(document, step_name, name):
        if not isinstance(document, dict) or not isinstance(document.get(name), str):
            raise JourneyFailed(step_name, f"answer without '{name}': {json.dumps(document)[:400]}")
        return document[name]

    sku = ORDER_SKUS[n % len(ORDER_SKUS)]
    hold = step("hold", "/v1/holds", checkout, {"lines": [{"sku": sku, "quantity": 1}],
                                               "fulfilment": {"type": "pickup", "locationId": ORDER_STORE}}, 201)
    order = step("order", "/v1/orders", checkout, {"orderNumber": f"BENCH-{run}-{n}", "holdId": field(hold, "hold", "id")}, 201)
    order_id, code = field(order, "order", "id"), field(order, "order", "pickupCode")
    step("picking", f"/v1/orders/{order_id}/picking", store, {}, 200)
    step("ready", f"/v1/orders/{order_id}/ready", store, {}, 200)
    collected = step("collect", f"/v1/orders/{order_id}/collect", store, {"pickupCode": code}, 200)
    if isinstance(collected, dict) and collected.get("status") != "collected":
        raise JourneyFailed("collect", f"200 but status {collected.get('status')!r}")


def journey_worker(port, checkout, store, run, shared, latencies, completed):
    """Loops journeys on one keep-alive connection until shared.take() says stop; reconnects after
    a socket error. Appends its completed count to `completed`."""
    connection, done = None, 0
    while (n := shared.take()) is not None:
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ORDER_REQUEST_TIMEOUT)
        try:
            journey(connection, n, checkout, store, run, latencies)
            done += 1
        except JourneyFailed as failure:
            shared.fail(failure.step, failure.detail)
            if failure.broken:
                connection.close()
                connection = None
    if connection is not None:
        connection.close()
    completed.append(done)


def client_ceiling(port, key):
    """GET /health from ORDER_WORKERS threads of this Python client for CLIENT_CEILING_SECONDS:
    requests/s the client itself can drive (a journey is 5 requests)."""
    deadline = time.perf_counter() + CLIENT_CEILING_SECONDS
    counts = []

    def loop():
        connection, count = http.client.HTTPConnection("127.0.0.1", port, timeout=ORDER_REQUEST_TIMEOUT), 0
        try:
            while time.perf_counter() < deadline:
                connection.request("GET", "/health", headers={"Authorization": f"Bearer {key}"})
                connection.getresponse().read()
                count += 1
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        counts.append(count)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(ORDER_WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CLIENT_CEILING_SECONDS + ORDER_REQUEST_TIMEOUT + 10)
    return sum(counts) / (time.perf_counter() - started)


def percentile_ms(values, q):
    """Nearest-rank percentile of sorted seconds, in milliseconds (nan when empty)."""
    return values[max(0, math.ceil(q * len(values)) - 1)] * 1000 if values else float("nan")


def order_check(base, key, completed, failed):
    """After the journeys, the store's positions of ORDER_SKUS: onHand must have dropped by one unit
    a collected journey, and nothing may stay held or allocated. Only a verdict when no journey
    failed (a failed one may have left a hold or an order behind). Returns the problem count."""
    onhand = held = allocated = 0
    for first in range(0, len(ORDER_SKUS), AVAILABILITY_SKUS_PER_CALL):
        query = "&".join(f"sku={sku}" for sku in ORDER_SKUS[first:first + AVAILABILITY_SKUS_PER_CALL])
        for item in get_json(f"{base}/v1/availability?{query}&locationId={ORDER_STORE}", key)["items"]:
            for entry in item["locations"]:
                if entry["locationId"] == ORDER_STORE:
                    onhand, held, allocated = onhand + entry["onHand"], held + entry["held"], allocated + entry["allocated"]
    expected = len(ORDER_SKUS) * ORDER_UNITS_PER_SKU - completed
    problems = (onhand != expected) + (held != 0) + (allocated != 0)
    verdict = ("ok" if not problems else "PROBLEMS") if not failed else f"not judged ({failed:,} journeys failed)"
    print(f"orders check at {ORDER_STORE}: onHand {onhand:,} (received {len(ORDER_SKUS) * ORDER_UNITS_PER_SKU:,} - "
          f"{completed:,} collected = {expected:,}), held {held:,}, allocated {allocated:,} (0 expected): {verdict}")
    return problems if not failed else 0


def wrk_journeys(base, checkout, store):
    """The same journeys driven by wrk and bench/journeys.lua, one connection per thread: the
    server's figure without the Python client's fifth of the CPU. Returns (rate, completed, failed)."""
    before = cpu_seconds()
    command = ["wrk", f"-t{ORDER_WORKERS}", f"-c{ORDER_WORKERS}", f"-d{ORDER_SECONDS + JOURNEY_GRACE_SECONDS:g}s",
               "--timeout", f"{ORDER_REQUEST_TIMEOUT}s", "-s", JOURNEYS_LUA, base, "--", f"checkout={checkout}",
               f"store={store}", f"location={ORDER_STORE}", f"skus={len(ORDER_SKUS)}", f"run={uuid.uuid4().hex[:8]}",
               f"seconds={ORDER_SECONDS:g}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=ORDER_SECONDS + JOURNEY_GRACE_SECONDS + 60).stdout
    counts, steps = {}, {}
    for line in out.splitlines():
        if line.startswith("bench-journeys "):
            counts = {k: float(v) for k, v in (part.split("=", 1) for part in line.split()[1:])}
        elif line.startswith("bench-journeys-latency "):
            parts = line.split()
            name = parts[1].split("=", 1)[1]
            values = []
            for pair in (parts[2].split(",") if len(parts) > 2 else []):
                bucket, n = pair.split(":")
                values += [(int(bucket) + 0.5) / 4000] * int(n)   # quarter-millisecond buckets, in seconds
            steps[name] = values
    completed = int(counts.get("completed", 0))
    failed = int(sum(v for k, v in counts.items() if k.startswith("failed_")))
    elapsed = counts.get("elapsed_ms", 0) / 1000
    rate = completed / elapsed if elapsed > 0 else float("nan")
    print(f"orders, wrk client (the same journeys, {ORDER_WORKERS} connections, one per wrk thread, {ORDER_SECONDS:g} s): "
          f"{completed:,} complete in {elapsed:.1f} s = {rate:,.0f} journeys/s, failures {failed:,}"
          + "".join(f", {k[7:]} {int(v):,}" for k, v in counts.items() if k.startswith("failed_") and v))
    print(f"orders, wrk client: CPU per complete journey: {cpu_per(before, completed)}")
    print("  " + "   ".join(f"{name} p50 {percentile_ms(steps.get(name, []), 0.50):.2f} ms p99 {percentile_ms(steps.get(name, []), 0.99):.2f} ms"
                           for name in ORDER_STEPS))
    return rate, completed, failed


def order_scenario(base, port, key):
    """Step 4: complete store journeys, ORDER_WORKERS workers, each on its own keep-alive connection,
    for ORDER_SECONDS or ORDER_JOURNEYS_MAX journeys. Returns the figures the summary needs."""
    checkout, store = order_setup(base, key)
    ceiling = client_ceiling(port, key)
    run = uuid.uuid4().hex[:8]
    shared = Journeys(time.perf_counter() + ORDER_SECONDS)
    per_worker = [{name: [] for name in ORDER_STEPS} for _ in range(ORDER_WORKERS)]
    completed = []
    before = cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=journey_worker, args=(port, checkout, store, run, shared, per_worker[w], completed),
                                daemon=True) for w in range(ORDER_WORKERS)]
    for thread in threads:
        thread.start()
    join_deadline = time.perf_counter() + ORDER_SECONDS + 5 * ORDER_REQUEST_TIMEOUT + 10
    for thread in threads:
        thread.join(timeout=max(0.0, join_deadline - time.perf_counter()))
    elapsed = time.perf_counter() - started
    stuck = sum(thread.is_alive() for thread in threads)
    journeys = sum(completed)
    rate = journeys / elapsed if elapsed > 0 else float("nan")
    steps = {name: sorted(t for worker in per_worker for t in worker[name]) for name in ORDER_STEPS}
    failed = shared.failed
    print(f"orders: store journeys (hold -> order -> picking -> ready -> collect, 1 unit, pickup at {ORDER_STORE}, "
          f"{ORDER_WORKERS} workers on keep-alive connections, {ORDER_SECONDS:g} s, at most {ORDER_JOURNEYS_MAX:,}): "
          f"{journeys:,} complete in {elapsed:.1f} s = {rate:,.0f} journeys/s ({5 * rate:,.0f} requests/s), failures {failed:,}"
          + (f" ({', '.join(f'{k} {v:,}' for k, v in shared.failures.items())})" if failed else ""))
    print(f"orders: CPU per complete journey: {cpu_per(before, journeys)} (the Python client's own is not counted)")
    for name in ORDER_STEPS:
        print(f"  {name:<8} p50 {percentile_ms(steps[name], 0.50):7.2f} ms   p99 {percentile_ms(steps[name], 0.99):7.2f} ms   "
              f"({len(steps[name]):,} answered as expected)")
    print(f"  client ceiling: this Python client drives {ceiling:,.0f} GET /health requests/s on {ORDER_WORKERS} threads "
          f"(= {ceiling / 5:,.0f} journeys/s of 5 requests; near it, the client is the bottleneck)")
    if failed >= ORDER_FAILURES_MAX:
        print(f"  warning: stopped early after {failed:,} failed journeys")
    if stuck:
        print(f"  warning: {stuck} workers still running after their time; their journeys are not counted")
    for sample in shared.samples:
        print(f"  failure: {sample}")
    wrk_rate, wrk_completed, wrk_failed = wrk_journeys(base, checkout, store)
    problems = order_check(base, key, journeys + wrk_completed, failed + wrk_failed) if not stuck else 0
    return {"rate": rate, "journeys": journeys, "failed": failed, "steps": steps, "ceiling": ceiling, "problems": problems,
            "wrk_rate": wrk_rate, "wrk_journeys": wrk_completed, "wrk_failed": wrk_failed}


def print_order_summary(o, single, batched):
    """The journey figures against PostgreSQL, like the hold figures (no target is set for them)."""
    single, batched = single or float("nan"), batched or float("nan")
    print("orders summary:")
    print(f"  journeys: {o['rate']:,.0f} complete journeys/s ({o['journeys']:,}), failures {o['failed']:,}, "
          f"check problems {o['problems']}; p99 " + ", ".join(f"{name} {percentile_ms(o['steps'][name], 0.99):.2f} ms" for name in ORDER_STEPS))
    print(f"      / pg single {ratio(o['rate'], single):.2f}x, / pg batched {ratio(o['rate'], batched):.2f}x "
          f"(a journey is 5 writes); client ceiling {o['ceiling'] / 5:,.0f} journeys/s")
    print(f"  journeys, wrk client: {o['wrk_rate']:,.0f} complete journeys/s ({o['wrk_journeys']:,}), failures {o['wrk_failed']:,}")


# ---- Replay, verify, PostgreSQL limit, summary ----------------------------------------------

def replay(data, env):
    t0 = time.perf_counter()
    # At info, the replay logs how long it read and folded the ledger and how long it wrote.
    out = subprocess.run([OMS, "replay", "--data-dir", data], env=dict(env, OMS_LOG_LEVEL="info"), capture_output=True,
                         text=True, timeout=3600)
    phases = re.search(r"fold=([0-9.]+) seconds write=([0-9.]+) seconds", out.stderr + out.stdout)
    split = f"; fold {float(phases[1]):.2f} s, write {float(phases[2]):.2f} s" if phases else ""
    print(f"replay: {out.stdout.strip()} (wall {time.perf_counter() - t0:.1f} s including cluster start{split})")
    done = re.search(r"replayed (\d+) events in ([0-9.]+) seconds", out.stdout)
    if done:
        per_million = float(done[2]) / int(done[1]) * 1_000_000
        print(f"replay: {per_million:.2f} s per million events [< 5 s: {'met' if per_million < 5 else 'MISSED'}]")
    return int(done[1]) if done else None


def verify(data, env, events=None):
    """`events` (the replay's count) turns the wall time, cluster start included, into seconds per million events."""
    t0 = time.perf_counter()
    out = subprocess.run([OMS, "verify", "--data-dir", data], env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    print(f"{out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()} ({seconds:.1f} s)")
    if events:
        per_million = seconds / events * 1_000_000
        print(f"verify: {per_million:.2f} s per million events, cluster start included [< 5 s: {'met' if per_million < 5 else 'MISSED'}]")


def pg_limit():
    """Step 6: the raw PostgreSQL limit, same machine, same run. Returns (single, batched) or Nones."""
    single = batched = None
    if not os.path.exists(PG_LIMIT):
        print(f"pg-limit: {PG_LIMIT} is missing; no PostgreSQL ratios")
        return single, batched
    out = subprocess.run(["bash", PG_LIMIT, "10"], capture_output=True, text=True, timeout=600).stdout
    print(out.strip())
    for line in out.splitlines():
        if line.startswith("pg-limit single:"):
            single = float(line.split()[2].replace(",", ""))
        if line.startswith("pg-limit batched:"):
            batched = float(line.split()[2].replace(",", ""))
    return single, batched


def ratio(numerator, denominator):
    return numerator / denominator if denominator else float("nan")


def target(value, at_least=None, below=None):
    """'met' or 'MISSED' for a target; 'n/a' when the figure is missing."""
    if math.isnan(value):
        return "n/a"
    return "met" if (at_least is None or value >= at_least) and (below is None or value < below) else "MISSED"


def print_hold_summary(r, health, single, batched):
    """The hold figures against PostgreSQL and /health, each with its target, for the report."""
    a, b = r["a"].per_second("status.201"), r["b"].per_second("status.201")
    single, batched = single or float("nan"), batched or float("nan")
    print("holds summary (targets in brackets):")
    print(f"  (a) holds random: {a:,.0f} holds/s; p99 {r['a'].p99_ms:.2f} ms [< 50 ms: {target(r['a'].p99_ms, below=50)}]")
    print(f"      / pg single {ratio(a, single):.2f}x [>= 5x: {target(ratio(a, single), at_least=5)}], "
          f"/ pg batched {ratio(a, batched):.2f}x, "
          f"/ health({WRK_CONNECTIONS}) {ratio(a, health):.2f}x [>= 0.5x: {target(ratio(a, health), at_least=0.5)}]")
    print(f"  (b) flash sale: {b:,.0f} holds/s; p99 {r['b'].p99_ms:.2f} ms; oversell: {r['b_oversell']} "
          f"[0: {'met' if r['b_oversell'] == 0 else 'MISSED'}]; SKUs whose held != 201s: {r['b_mismatches']}")
    print(f"      / pg single {ratio(b, single):.2f}x [>= 3x: {target(ratio(b, single), at_least=3)}], "
          f"/ health({FLASH_CONNECTIONS}) {ratio(b, r['health_flash']):.2f}x")
    accepted, stock, server_problems = r["scarce"]
    print(f"  (b) scarce sale: {accepted:,} units accepted for {stock} in stock [exactly {stock}: "
          f"{'met' if accepted == stock else 'MISSED'}], oversell: {max(0, accepted - stock)}, "
          f"server-side oversell or held mismatches: {server_problems}")
    print(f"  (c) churn: {r['c'].per_second('placed'):,.0f} placed/s, {r['c'].per_second('released'):,.0f} released/s, "
          f"p99 {r['c'].p99_ms:.2f} ms; check problems {r['c_problems']}")


def main():
    chosen = set(SCENARIO_NAMES) if FULL else {name.strip() for name in SCENARIOS.split(",") if name.strip()}
    if not chosen or not chosen <= set(SCENARIO_NAMES):
        sys.exit(f"bench: BENCH_SCENARIOS is '{SCENARIOS}'; use 'all' (default), or one or more of "
                 f"{', '.join(SCENARIO_NAMES)} separated by commas")
    if "orders" in chosen and not (1 <= ORDER_JOURNEYS_MAX <= 1_000_000 and ORDER_WORKERS >= 1 and ORDER_SECONDS > 0):
        # The store's dailyCapacity (orders per UTC day) is at most 1,000,000.
        sys.exit("bench: BENCH_ORDER_JOURNEYS_MAX must be 1 to 1,000,000, BENCH_ORDER_WORKERS >= 1, BENCH_ORDER_SECONDS > 0")
    if not os.access(OMS, os.X_OK):
        sys.exit(f"bench: {OMS} is missing; build it with `swift build -c release --product oms`")
    if (FULL or chosen & {"holds", "streams", "webhooks", "kpis"}) and not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="omnistock-bench.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Room for the stream scenario's clients, all on the bench's one key.
    env = dict(os.environ, OMS_LOG_LEVEL="warning", OMS_STREAMS_MAX=str(max(2_000, STREAM_CLIENTS + 100)),
               OMS_STREAMS_PER_KEY_MAX=str(max(2_000, STREAM_CLIENTS + 100)))
    env.pop("DATABASE_URL", None)
    if "webhooks" in chosen:
        # The receiver is on loopback.
        env["OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    ingest_rate = avail_rate = health_rate = holds = orders = None
    print(f"bench: {OMS}, scenarios {SCENARIOS}, wrk {WRK_CONNECTIONS} connections x {WRK_SECONDS} s")
    server = start_server(data, port, env, work)
    global SERVER_PID
    SERVER_PID = server.pid
    try:
        key = subprocess.run([OMS, "api-key", "create", "--role", "admin", "--name", "bench-admin", "--data-dir", data], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        rng = random.Random(7)
        if FULL or chosen & {"holds", "availability", "streams", "webhooks", "kpis"}:
            locations = [f"LOC-{n:02d}" for n in range(1, LOCATIONS + 1)]
            define_locations(base, key, locations, rng)
            skus = [f"SKU-{n:05d}" for n in range(SKUS)]
            pairs = [(sku, location) for sku in skus for location in locations]
            rss_before, _ = rss_mb(server.pid)
            ingest_rate = ingest(base, key, pairs, rng)
            # The availability model holds every position in memory: the growth of the server
            # over the ingest, per position, bounds what a position costs it (an upper bound:
            # the pool's and the allocator's growth count too).
            time.sleep(1)
            rss_after, _ = rss_mb(server.pid)
            per_position = (rss_after - rss_before) * 1024 * 1024 / len(pairs)
            print(f"availability model: RSS {rss_before:.0f} -> {rss_after:.0f} MiB over {len(pairs):,} positions, "
                  f"at most {per_position:,.0f} bytes a position; 10 million positions would need about "
                  f"{per_position * 10_000_000 / 2**30:.1f} GiB (the model stands down past 5,000,000)")
            if FULL:
                avail_rate, health_rate = measure_availability(base, key, work)
            else:
                health_rate = measure_health(base, key, WRK_CONNECTIONS)
            if "availability" in chosen:
                availability_reads(base, key, work, health_rate)
            rss, hwm = rss_mb(server.pid)
            print(f"server memory: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
        if "holds" in chosen:
            holds = hold_scenarios(base, key, pairs, rng)
            rss, hwm = rss_mb(server.pid)
            print(f"server memory after the hold scenarios: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
        if "streams" in chosen:
            stream_bench(base, port, key, pairs, server)
            rss, hwm = rss_mb(server.pid)
            print(f"server memory after the streams: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
        if "webhooks" in chosen:
            webhook_bench(base, port, key, pairs, server, health_rate)
            rss, hwm = rss_mb(server.pid)
            print(f"server memory after the webhooks: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
        if "orders" in chosen:
            orders = order_scenario(base, port, key)
            rss, hwm = rss_mb(server.pid)
            print(f"server memory after the order journeys: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
        if "kpis" in chosen:
            kpi_bench(base, key, health_rate)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    # 5. Replay and verify over the whole ledger, hold and order events included (each command starts the cluster).
    replayed = replay(data, env) if FULL else None
    verify(data, env, replayed)
    subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")])

    single, batched = pg_limit()
    if single and batched and avail_rate is not None:
        print(f"ratios: ingest / pg single-row = {ingest_rate / single:.2f}, ingest / pg batched = {ingest_rate / batched:.2f}, "
              f"availability / health = {avail_rate / health_rate:.2f}")
    if holds is not None:
        print_hold_summary(holds, health_rate, single, batched)
    if orders is not None:
        print_order_summary(orders, single, batched)
    if os.environ.get("BENCH_KEEP_DATA"):
        print(f"bench: the data folder is kept in {data} (BENCH_KEEP_DATA)")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
