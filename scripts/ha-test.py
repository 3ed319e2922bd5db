#!/usr/bin/env python3
"""Failover test (`make ha-test`): nothing acknowledged is lost when the PostgreSQL primary dies.

On this one machine, on loopback ports: etcd, three Patroni members (PostgreSQL 15, synchronous
replication in strict mode) and HAProxy, each from the very files of deploy/ha/ (their
placeholders filled in), and one `oms serve` whose DATABASE_URL is HAProxy's address. Eight writers
place holds, turn some into orders and receive stock, every request with an Idempotency-Key, and
log every 2xx (scripts/chaos.py's load). Then:
  1. Crash: `kill -9` of the primary's postmaster under load. Patroni fails over to the
     synchronous standby (primary_start_timeout 0), HAProxy follows, `oms` reconnects on its own.
  2. Planned switchover (Patroni's REST API) to the synchronous standby, under the same load,
     once the crashed member has come back as a standby (pg_rewind).
For each: while there is no primary every request is answered 503 with Retry-After or 2xx, never
500, never left without an answer; `/ready` says 503 and then 200 again; the seconds writes
stopped (the longest gap between two acknowledged writes) are printed. At the end every key is
retried until it has a 2xx, and every acknowledged hold and order is read back by id and every
acknowledged write found in the feed exactly once (`acknowledged N, found N`), `/metrics` counts
the failovers seen, and `oms verify` against the cluster is clean.
Last, holds/s (bench/holds.lua under wrk, 64 connections, 10 s) through HAProxy to the
synchronous cluster beside the same on a single local PostgreSQL (an embedded cluster): the
price of synchronous replication on this machine.

Loopback only; every wait is bounded (about five minutes in all). Installs what it needs with
scripts/ensure-tools.sh --ha. Run as root (the PostgreSQL members run as the postgres user) or
as an ordinary user. `OMS_BIN` picks the binary (default .build/debug/oms; a release build gives
the meaningful holds/s).
"""
import json, os, secrets, shutil, signal, string, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import chaos
from campaign import OMS, ROOT, Checks, free_port, stop_oms

check = Checks("ha")
chaos.check = check          # the load's own checks (settle) print under this script's name
HA = os.path.join(ROOT, "deploy", "ha")
PG_BIN = "/usr/lib/postgresql/15/bin"
MEMBERS = 3
SETTLE_SECONDS = 4           # load before each change of primary
AFTER_SECONDS = 6            # load after writes came back
ANSWER_SECONDS_MAX = 5.0     # the acquire bound (1.5 s) plus a COMMIT waiting for a new standby
FAILOVER_SECONDS_MAX = 60    # Patroni: ttl 20 s; a crash is seen within loop_wait (2 s)
REJOIN_SECONDS_MAX = 120     # the old primary rewound and streaming again
HOLD_SKUS = 200


def as_server_user(command):
    return ["runuser", "-u", "postgres", "--"] + command if os.getuid() == 0 else command


def own(path):
    """Makes `path` the PostgreSQL user's when running as root (PostgreSQL refuses root)."""
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def render(name, values):
    """deploy/ha/<name> with its placeholders filled in; one left unfilled is an error."""
    with open(os.path.join(HA, name)) as f:
        return string.Template(f.read()).substitute(values)


def http_json(method, url, body=None, timeout=3):
    """(status, parsed body); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw.strip().startswith(b"{") else raw.decode())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (OSError, ValueError) as error:
        return 0, str(error)


class Cluster:
    """etcd, three Patroni members and HAProxy, from deploy/ha/, in the folder `work`."""

    def __init__(self, work):
        self.work = work
        self.processes = {}
        self.etcd_client, self.etcd_peer, self.haproxy_port = free_port(), free_port(), free_port()
        self.members = {f"member{n}": {"pg": free_port(), "api": free_port(), "dir": os.path.join(work, f"member{n}")}
                        for n in range(1, MEMBERS + 1)}
        self.superuser_password = secrets.token_hex(16)
        self.values = {
            "MEMBER_HOST": "127.0.0.1", "MEMBER_NETWORK": "127.0.0.1/32", "CLIENT_NETWORK": "127.0.0.1/32",
            "ETCD_HOSTS": f"127.0.0.1:{self.etcd_client}", "WATCHDOG_MODE": "off",
            "SUPERUSER_PASSWORD": self.superuser_password, "REPLICATION_PASSWORD": secrets.token_hex(16),
            "REWIND_PASSWORD": secrets.token_hex(16),
        }

    def start_process(self, name, command, as_server=False):
        log = open(os.path.join(self.work, f"{name}.log"), "a")
        self.processes[name] = subprocess.Popen(as_server_user(command) if as_server else command, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.work)

    def start_etcd(self):
        folder = os.path.join(self.work, "etcd")
        os.makedirs(folder, mode=0o700)
        path = os.path.join(folder, "etcd.yml")
        with open(path, "w") as f:
            f.write(render("etcd.yml", {
                "ETCD_NAME": "etcd1", "ETCD_DATA_DIR": os.path.join(folder, "data"), "ETCD_HOST": "127.0.0.1",
                "ETCD_CLIENT_PORT": self.etcd_client, "ETCD_PEER_PORT": self.etcd_peer,
                "ETCD_INITIAL_CLUSTER": f"etcd1=http://127.0.0.1:{self.etcd_peer}"}))
        self.start_process("etcd", ["etcd", "--config-file", path])
        return wait_for(lambda: http_json("GET", f"http://127.0.0.1:{self.etcd_client}/health")[0] == 200, 30)

    def start_members(self):
        for name, member in self.members.items():
            os.makedirs(member["dir"], mode=0o700)
            own(member["dir"])
            path = os.path.join(member["dir"], "patroni.yml")
            with open(path, "w") as f:
                f.write(render("patroni.yml", dict(self.values, MEMBER_NAME=name, PG_PORT=member["pg"], API_PORT=member["api"],
                                                   DATA_DIR=os.path.join(member["dir"], "data"),
                                                   PGPASS_FILE=os.path.join(member["dir"], "pgpass"), SOCKET_DIR=member["dir"])))
            own(path)
            self.start_process(name, ["patroni", path], as_server=True)
            # The first member bootstraps the cluster; the others copy it (pg_basebackup) once it has.
            if name == "member1" and not wait_for(lambda: self.leader() == "member1", 90):
                return False
        return True

    def start_haproxy(self):
        servers = "\n".join(f"    server {name} 127.0.0.1:{m['pg']} check port {m['api']}" for name, m in self.members.items())
        path = os.path.join(self.work, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(render("haproxy.cfg", {"HAPROXY_BIND": f"127.0.0.1:{self.haproxy_port}", "HAPROXY_SERVERS": servers}))
        out = subprocess.run(["haproxy", "-c", "-q", "-f", path], capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            sys.exit(f"ha: deploy/ha/haproxy.cfg does not check: {out.stdout}{out.stderr}")
        self.start_process("haproxy", ["haproxy", "-db", "-f", path])

    def state(self):
        """Patroni's view of the members ({name: (role, state)}), from the first member that answers."""
        for member in self.members.values():
            status, body = http_json("GET", f"http://127.0.0.1:{member['api']}/cluster", timeout=2)
            if status == 200 and isinstance(body, dict):
                return {m["name"]: (m.get("role"), m.get("state")) for m in body.get("members", [])}
        return {}

    def leader(self):
        return next((name for name, (role, state) in self.state().items() if role == "leader" and state == "running"), None)

    def sync_standby(self):
        return next((name for name, (role, state) in self.state().items()
                     if role == "sync_standby" and state in ("running", "streaming")), None)

    def healthy(self):
        """A running leader, a synchronous standby, and every member running."""
        members = self.state()
        return (len(members) == MEMBERS and self.leader() is not None and self.sync_standby() is not None
                and all(state in ("running", "streaming") for _, state in members.values()))

    def postmaster_pid(self, name):
        with open(os.path.join(self.members[name]["dir"], "data", "postmaster.pid")) as f:
            return int(f.readline())

    def switchover(self, leader, candidate):
        api = self.members[leader]["api"]
        return http_json("POST", f"http://127.0.0.1:{api}/switchover", {"leader": leader, "candidate": candidate}, timeout=60)

    def psql(self, sql, user="postgres", password=None, database="postgres"):
        env = dict(os.environ, PGPASSWORD=password or self.superuser_password, PGCONNECT_TIMEOUT="5")
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.haproxy_port),
                               "-U", user, "-d", database, "-At", "-c", sql], env=env, capture_output=True, text=True, timeout=60)

    def stop(self):
        """HAProxy and the members (SIGTERM: Patroni stops its PostgreSQL), then etcd; bounded."""
        for name in ["haproxy"] + list(self.members) + ["etcd"]:
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for member in self.members.values():
            data = os.path.join(member["dir"], "data")
            if os.path.exists(os.path.join(data, "postmaster.pid")):
                subprocess.run(as_server_user([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                               capture_output=True, timeout=60)


def wait_for(condition, seconds, pause=0.25):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(pause)
    return condition()


class Oms:
    """One `oms serve` on DATABASE_URL; `base` as scripts/chaos.py's load wants it."""

    def __init__(self, work, url, name="oms", data=None):
        self.work, self.url, self.name, self.data, self.port, self.process = work, url, name, data, free_port(), None
        self.base = ("127.0.0.1", self.port)

    def env(self):
        env = dict(os.environ, OMS_LOG_LEVEL="notice")
        env.pop("DATABASE_URL", None)
        if self.url:
            env["DATABASE_URL"] = self.url
        return env

    def where(self):
        return [] if self.url else ["--data-dir", self.data]

    def run(self, *args, timeout=300):
        return subprocess.run([OMS, *args, *self.where()], env=self.env(), capture_output=True, text=True, timeout=timeout)

    def start(self):
        log = open(os.path.join(self.work, f"{self.name}.log"), "a")
        self.process = subprocess.Popen([OMS, "serve", *self.where(), "--host", "127.0.0.1", "--port", str(self.port)],
                                        env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return wait_for(lambda: chaos.call("GET", self.base, "/ready", timeout=2)[0] == 200 or self.process.poll() is not None, 120) \
            and self.process.poll() is None

    def stop(self):
        return stop_oms(self.process)


class ReadyWatch:
    """Asks `/ready` four times a second while a change of primary happens."""

    def __init__(self, server):
        self.server, self.seen, self.stop_event = server, [], threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self):
        while not self.stop_event.is_set():
            status, _, _, seconds = chaos.call("GET", self.server.base, "/ready", timeout=chaos.REQUEST_TIMEOUT_SECONDS)
            self.seen.append((time.monotonic(), status, seconds))
            self.stop_event.wait(0.25)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop_event.set()
        self.thread.join(timeout=chaos.REQUEST_TIMEOUT_SECONDS + 2)


def write_gap(load, start, end):
    """The longest time between two acknowledged writes answered from `start` to `end`."""
    with load.lock:
        times = sorted(t for t, status, _, _, _ in load.answers if 200 <= status < 300 and start <= t <= end)
    return max((b - a for a, b in zip(times, times[1:])), default=end - start)


def change_primary(title, cluster, load, server, act):
    """Runs `act` (which ends the old primary's reign) under load and checks the ride through it."""
    old = cluster.leader()
    time.sleep(SETTLE_SECONDS)
    with ReadyWatch(server) as ready:
        began = time.monotonic()
        detail = act(old)
        print(f"ha: {title}: {detail}", flush=True)
        moved = wait_for(lambda: cluster.leader() not in (None, old), FAILOVER_SECONDS_MAX)
        new = cluster.leader()
        check(f"{title}: Patroni made another member primary", moved, f"{old} -> {new}")
        back = wait_for(lambda: load.first_success_after(began + 0.5) is not None, FAILOVER_SECONDS_MAX)
        returned = load.first_success_after(began + 0.5)
        check(f"{title}: oms writes again through HAProxy without a restart", back,
              f"first 2xx {returned - began:.1f} s after" if returned else "no 2xx")
        time.sleep(AFTER_SECONDS)
        ended = time.monotonic()
    load.wait_answered(ended)
    during = load.started_between(began, ended)
    statuses = {}
    for _, status, _, _, _ in during:
        statuses[status] = statuses.get(status, 0) + 1
    longest = max((seconds for _, _, seconds, _, _ in during), default=0.0)
    unexpected = {s: n for s, n in statuses.items() if not (200 <= s < 300 or s == 503)}
    check(f"{title}: every answer was 2xx or 503 (no 500, none left unanswered)", not unexpected,
          f"statuses {statuses}" + (" (0: no answer within 10 s)" if 0 in unexpected else ""))
    check(f"{title}: every 503 carries Retry-After", all(a[3] for a in during if a[1] == 503),
          f"{statuses.get(503, 0)} 503s")
    check(f"{title}: the longest answer is under {ANSWER_SECONDS_MAX:.0f} s", longest < ANSWER_SECONDS_MAX, f"{longest:.2f} s")
    refused = [s for _, s, _ in ready.seen if s == 503]
    check(f"{title}: /ready said 503 while there was no primary, and 200 again", bool(refused) and ready.seen[-1][1] == 200,
          f"{len(refused)} of {len(ready.seen)} answers 503, the last {ready.seen[-1][1] if ready.seen else None}")
    gap = write_gap(load, began - 1, ended)
    print(f"ha: {title}: writes stopped for {gap:.1f} s (the longest gap between two acknowledged writes); "
          f"{len(during)} answers {statuses}", flush=True)
    return gap


def crash(cluster):
    def act(old):
        pid = cluster.postmaster_pid(old)
        os.kill(pid, signal.SIGKILL)
        return f"kill -9 of {old}'s postmaster (pid {pid})"
    return act


def switchover(cluster):
    def act(old):
        candidate = cluster.sync_standby()
        status, body = cluster.switchover(old, candidate)
        check("switchover: Patroni accepted it", status == 200, f"{status} {str(body)[:200]}")
        return f"switchover from {old} to {candidate} ({status})"
    return act


def audit(load, server, key):
    """Every acknowledged write read back by id and found in the feed exactly once."""
    acknowledged = load.acknowledged
    kinds = {kind: {k: v for k, v in acknowledged.items() if v[0] == kind} for kind in ("hold", "order", "move")}
    ledger = chaos.events(server, key) or []
    by_key = {}
    for event in ledger:
        idem = (event.get("metadata") or {}).get("idempotencyKey")
        if idem:
            by_key.setdefault(idem, []).append(event["type"])
    found = 0
    for kind, path, event_type in (("hold", "/v1/holds/", "hold.placed"), ("order", "/v1/orders/", "order.created"), ("move", None, "stock.moved")):
        writes = kinds[kind]
        by_id = sum(1 for _, _, answer in writes.values() if path is None or chaos.call("GET", server.base, path + answer["id"], key)[0] == 200)
        in_feed = sum(1 for k in writes if by_key.get(k, []).count(event_type) == 1)
        check(f"every acknowledged {kind} is found{' by id and' if path else ''} in the feed exactly once",
              by_id == in_feed == len(writes), f"acknowledged {len(writes)}, found {min(by_id, in_feed)}")
        found += min(by_id, in_feed)
    print(f"ha: acknowledged {len(acknowledged)}, found {found} "
          f"({len(kinds['hold'])} holds, {len(kinds['order'])} orders, {len(kinds['move'])} movements)", flush=True)


def metric(server, name):
    status, _, text, _ = chaos.call("GET", server.base, "/metrics")
    for line in (text if isinstance(text, str) else "").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def hold_rate(server, key, label, slug):
    """Holds/s of bench/holds.lua (random single-line holds over HOLD_SKUS SKUs at LOC-01)."""
    import bench
    status, _, _, _ = chaos.call("PUT", server.base, "/v1/locations/LOC-01", key, {
        "name": "Bench store", "kind": "store", "latitude": 48.86, "longitude": 2.34,
        "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 1_000_000})
    status, _, _, _ = chaos.call("POST", server.base, "/v1/stock/movements", key, {"movements": [
        {"sku": f"SKU-{n:05d}", "locationId": "LOC-01", "kind": "receipt", "quantity": 1_000_000} for n in range(HOLD_SKUS)]},
        f"ha-bench-stock-{slug}")
    check(f"{label}: the hold stock is received", status == 201, str(status))
    run = bench.run_holds(f"http://127.0.0.1:{server.port}", key, 64, 10, mode="random", skus=HOLD_SKUS, locations=1)
    rate = run.per_second("status.201")
    print(f"ha: holds {label}: {rate:,.0f} holds/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms ({run.statuses()})", flush=True)
    return rate


def single_server_rate(work):
    """The same hold load on one embedded PostgreSQL (no replica), in the same run."""
    single = Oms(work, None, name="oms-single", data=os.path.join(work, "single"))
    if not single.start():
        check("the single-server oms starts", False, "see oms-single.log")
        return None
    try:
        key = single.run("api-key", "create", "--role", "admin", "--name", "ha-single").stdout.strip()
        return hold_rate(single, key, "on one local PostgreSQL", "single")
    finally:
        single.stop()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(work, "single", "pgdata")], timeout=60)


def prepare(cluster, work):
    """The cluster, HAProxy, the database and role, and oms on it; returns (server, key)."""
    check("etcd answers", cluster.start_etcd())
    check("the first Patroni member bootstraps the cluster", cluster.start_members())
    cluster.start_haproxy()
    check("three members, one primary and a synchronous standby", wait_for(cluster.healthy, 120), str(cluster.state()))
    password = secrets.token_hex(16)
    created = wait_for(lambda: cluster.psql("SELECT 1").returncode == 0, 30)
    out = cluster.psql(f"CREATE ROLE omnistock LOGIN PASSWORD '{password}'")
    out2 = cluster.psql("CREATE DATABASE omnistock OWNER omnistock")
    check("the omnistock role and database are created through HAProxy", created and out.returncode == 0 and out2.returncode == 0,
          (out.stderr + out2.stderr).strip())
    server = Oms(work, f"postgres://omnistock:{password}@127.0.0.1:{cluster.haproxy_port}/omnistock")
    migrated = server.run("migrate")
    check("oms migrate applies the schema through HAProxy", migrated.returncode == 0, (migrated.stdout + migrated.stderr).strip()[-200:])
    key = server.run("api-key", "create", "--role", "admin", "--name", "ha-admin").stdout.strip()
    check("oms serve is ready behind HAProxy", server.start(), "see oms.log")
    status, _, _, _ = chaos.call("PUT", server.base, f"/v1/locations/{chaos.LOCATION}", key, {
        "name": "Failover store", "kind": "store", "latitude": 48.86, "longitude": 2.34,
        "capabilities": {"pickup": True, "ships": True}, "dailyCapacity": 1_000_000})
    status2, _, _, _ = chaos.call("POST", server.base, "/v1/stock/movements", key, {"movements": [
        {"sku": sku, "locationId": chaos.LOCATION, "kind": "receipt", "quantity": chaos.STOCK} for sku in chaos.SKUS]}, "ha-initial-stock")
    check("the store and its stock are set up", status in (200, 201) and status2 == 201, f"{status} {status2}")
    return server, key


def main():
    subprocess.run(["bash", os.path.join(ROOT, "scripts/ensure-tools.sh"), "--ha"], check=True, timeout=1800)
    if not os.access(OMS, os.X_OK):
        sys.exit(f"ha: {OMS} is missing; build it first")
    began = time.monotonic()
    work = tempfile.mkdtemp(prefix="omnistock-ha.")
    os.chmod(work, 0o755)
    cluster = Cluster(work)
    server = load = None
    gaps = {}
    try:
        server, key = prepare(cluster, work)
        if check.failures:
            return 1
        load = chaos.Load(server, key)
        load.start()
        gaps["crash"] = change_primary("crash", cluster, load, server, crash(cluster))
        check("the crashed member comes back as a standby (pg_rewind)", wait_for(cluster.healthy, REJOIN_SECONDS_MAX), str(cluster.state()))
        gaps["switchover"] = change_primary("switchover", cluster, load, server, switchover(cluster))
        load.stop()
        chaos.settle(load)
        audit(load, server, key)
        failovers = metric(server, "oms_db_failovers_seen")
        check("/metrics counts the two changes of primary", failovers is not None and failovers >= 2,
              f"oms_db_failovers_seen {failovers}, oms_db_reconnects {metric(server, 'oms_db_reconnects')}")
        check("the cluster is whole again", wait_for(cluster.healthy, REJOIN_SECONDS_MAX), str(cluster.state()))
        ha_rate = hold_rate(server, key, "through HAProxy to the synchronous cluster", "cluster")
        code = server.stop()
        check("oms stops cleanly on SIGTERM", code == 0, str(code))
        out = server.run("verify")
        check("oms verify is clean on the new primary", out.returncode == 0 and "equal a replay" in out.stdout, out.stdout.strip()[-200:])
        single_rate = single_server_rate(work)
        if single_rate:
            print(f"ha: holds/s synchronous cluster {ha_rate:,.0f} vs single local server {single_rate:,.0f}: "
                  f"{ha_rate / single_rate:.2f}x", flush=True)
        print(f"ha: unavailability: crash {gaps['crash']:.1f} s, switchover {gaps['switchover']:.1f} s", flush=True)
    finally:
        if load:
            load.stop()
        if server:
            server.stop()
        cluster.stop()
        finish(work, began)
    return check.close()


def finish(work, began):
    print(f"ha: took {time.monotonic() - began:.0f} s")
    if not check.failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"ha: logs kept in {work}")


if __name__ == "__main__":
    sys.exit(main())
