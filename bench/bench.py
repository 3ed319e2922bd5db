#!/usr/bin/env python3
"""Omnistock benchmark: a program that prints figures, run on demand with `make bench`.

It starts a release `oms serve` on a fresh embedded PostgreSQL cluster (loopback only), then:
  1. ingests movements over HTTP in 10,000-line requests: 10,000 SKUs x 20 locations, then more
     until the ledger holds EVENTS events (default 1,000,000);
  2. measures GET /v1/availability for 100 SKUs x 20 locations with wrk (p50/p99, calls/s),
     and GET /health under the same load generator (this machine's HTTP ceiling);
  3. times `oms replay` over the whole ledger and checks `oms verify`;
  4. runs ../shared/bench/pg-limit.sh in the same run for the raw PostgreSQL figures.
Every loop is bounded in count and time. Absolute numbers drift on shared machines; compare
the ratios printed at the end, measured in the same run.
"""
import json, os, random, shutil, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMS = os.environ.get("OMS_BIN", os.path.join(ROOT, ".build/release/oms"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
SKUS, LOCATIONS, LINES = 10_000, 20, 10_000
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "64"))
PG_LIMIT = os.path.join(ROOT, "..", "shared", "bench", "pg-limit.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, key, body=None, timeout=300):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.status, response.read()


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except OSError:
        return float("nan"), float("nan")


def wrk(url, key, script=None):
    """Runs wrk and returns (requests/s, p50 ms, p99 ms)."""
    command = ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency", "-H", f"Authorization: Bearer {key}"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=WRK_SECONDS + 60).stdout
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


def main():
    if not os.access(OMS, os.X_OK):
        sys.exit(f"bench: {OMS} is missing; build it with `swift build -c release --product oms`")
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="omnistock-bench.")
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, OMS_LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen([OMS, "serve", "--data-dir", data, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
    try:
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(base + "/ready", timeout=2).status == 200:
                    break
            except Exception:
                pass
            if time.time() > deadline or server.poll() is not None:
                sys.exit("bench: oms serve did not become ready; see " + work)
            time.sleep(0.2)
        key = subprocess.run([OMS, "api-key", "create", "--role", "admin", "--data-dir", data], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        locations = [f"LOC-{n:02d}" for n in range(1, LOCATIONS + 1)]
        rng = random.Random(7)
        for n, location in enumerate(locations):
            request("PUT", f"{base}/v1/locations/{location}", key, {
                "name": f"Location {n + 1}", "kind": "warehouse" if n == 0 else "store",
                "latitude": 48.8 + rng.random() / 5, "longitude": 2.2 + rng.random() / 3,
                "capabilities": {"pickup": n != 0, "ships": n < 5}, "dailyCapacity": 500})
        skus = [f"SKU-{n:05d}" for n in range(SKUS)]

        # 1. Ingest: first every (sku, location) once, then more receipts until EVENTS events.
        pairs = [(sku, location) for sku in skus for location in locations]
        requests_needed = max(len(pairs) // LINES, EVENTS // LINES)
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
            body = {"movements": [{"sku": s, "locationId": l, "kind": "receipt", "quantity": 1 + (i % 9)} for i, (s, l) in enumerate(chunk)]}
            bodies_time += time.perf_counter() - t0
            t1 = time.perf_counter()
            status, _ = request("POST", f"{base}/v1/stock/movements", key, body)
            latencies.append(time.perf_counter() - t1)
            if status != 201:
                sys.exit(f"bench: ingest answered {status}")
            if time.perf_counter() - started > 1800:
                sys.exit("bench: ingest took over 30 minutes; stopping")
        elapsed = time.perf_counter() - started - bodies_time
        ingest_rate = requests_needed * LINES / elapsed
        latencies.sort()
        print(f"ingest: {ingest_rate:,.0f} movements/s over HTTP "
              f"(request p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; client-side JSON excluded)")

        # 2. Availability, 100 SKUs per call, random sets, against /health as the HTTP ceiling.
        script = os.path.join(work, "availability.lua")
        with open(script, "w") as f:
            f.write("math.randomseed(42)\nrequest = function()\n  local q = {}\n"
                    f"  for i = 1, 100 do q[i] = string.format('sku=SKU-%05d', math.random(0, {SKUS - 1})) end\n"
                    "  return wrk.format('GET', '/v1/availability?' .. table.concat(q, '&'))\nend\n")
        health_rate, health_p50, health_p99 = wrk(base + "/health", key)
        avail_rate, avail_p50, avail_p99 = wrk(base + "/v1/availability", key, script)
        rss, hwm = rss_mb(server.pid)
        print(f"availability (100 SKUs x 20 locations per call, {WRK_CONNECTIONS} connections): "
              f"{avail_rate:,.0f} calls/s, p50 {avail_p50:.2f} ms, p99 {avail_p99:.2f} ms")
        print(f"health (same load generator): {health_rate:,.0f} requests/s, p50 {health_p50:.2f} ms, p99 {health_p99:.2f} ms")
        print(f"server memory: RSS {rss:.0f} MiB now, peak {hwm:.0f} MiB")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    # 3. Replay and verify over the whole ledger (the cluster is started by the command itself).
    t0 = time.perf_counter()
    out = subprocess.run([OMS, "replay", "--data-dir", data], env=env, capture_output=True, text=True, timeout=3600)
    replay_seconds = time.perf_counter() - t0
    print(f"replay: {out.stdout.strip()} (wall {replay_seconds:.1f} s including cluster start)")
    t0 = time.perf_counter()
    out = subprocess.run([OMS, "verify", "--data-dir", data], env=env, capture_output=True, text=True, timeout=3600)
    print(f"verify: {out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()} ({time.perf_counter() - t0:.1f} s)")
    subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")])

    # 4. The raw PostgreSQL limit, same machine, same run.
    if os.path.exists(PG_LIMIT):
        out = subprocess.run(["bash", PG_LIMIT, "10"], capture_output=True, text=True, timeout=600).stdout
        print(out.strip())
        single = batched = None
        for line in out.splitlines():
            if line.startswith("pg-limit single:"):
                single = float(line.split()[2].replace(",", ""))
            if line.startswith("pg-limit batched:"):
                batched = float(line.split()[2].replace(",", ""))
        if single and batched:
            print(f"ratios: ingest / pg single-row = {ingest_rate / single:.2f}, ingest / pg batched = {ingest_rate / batched:.2f}, "
                  f"availability / health = {avail_rate / health_rate:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
