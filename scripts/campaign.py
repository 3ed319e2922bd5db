"""What the campaign scripts share: named checks, a free loopback port, `oms serve` started and
waited for, and stopped. Imported by flash-sale.py, slow-clients.py, chaos.py and
schemathesis.py (Python puts a script's own folder first on its path).

Every wait here is bounded: a server that never becomes ready is given up on after
`ready_seconds`, one that ignores SIGTERM is killed after 20 s.
"""
import os, shutil, socket, subprocess, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OMS = os.environ.get("OMS_BIN", os.path.join(ROOT, ".build/debug/oms"))
STOP_SECONDS = 20


class Checks:
    """Named checks of one script, printed as `<prefix>: ok  <name>` or `<prefix>: FAIL <name>`,
    the form scripts/test.sh picks failures out of."""

    def __init__(self, prefix):
        self.prefix, self.failures = prefix, []

    def __call__(self, name, ok, detail=""):
        print(f"{self.prefix}: {'ok  ' if ok else 'FAIL'} {name}{(' (' + detail + ')') if detail else ''}", flush=True)
        if not ok:
            self.failures.append(name)

    def close(self):
        """Prints the closing line `<prefix>: passed` or `<prefix>: N failed`; the exit status."""
        print(f"{self.prefix}: {'passed' if not self.failures else str(len(self.failures)) + ' failed'}")
        return 1 if self.failures else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oms_env(**settings):
    """The environment for an `oms` process on an embedded cluster: quiet logs, the given settings
    (as strings), and no DATABASE_URL from the caller's shell."""
    env = dict(os.environ, OMS_LOG_LEVEL="warning", **{name: str(value) for name, value in settings.items()})
    env.pop("DATABASE_URL", None)
    return env


def start_oms(data, log, port=None, args=(), settings=None, ready_seconds=120):
    """Starts `oms serve` on 127.0.0.1 and the data folder, its output in the file `log`, and
    waits until /ready answers 200. Returns (process, base URL), or (process, None) when it did
    not become ready in time or exited (the caller decides how to fail)."""
    port = port or free_port()
    process = subprocess.Popen(
        [OMS, "serve", *args, "--data-dir", data, "--host", "127.0.0.1", "--port", str(port)],
        env=oms_env(**(settings or {})), stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + ready_seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(base + "/ready", timeout=2).status == 200:
                return process, base
        except Exception:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    return process, None


def stop_oms(process):
    """SIGTERM, then SIGKILL past STOP_SECONDS; the exit status (-9 when it had to be killed)."""
    if process is None:
        return None
    if process.poll() is not None:
        return process.returncode
    process.terminate()
    try:
        return process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        return -9


def create_key(data, role, name):
    """A new API key from `oms api-key create` on the data folder (the cluster may be running)."""
    return subprocess.run([OMS, "api-key", "create", "--role", role, "--name", name, "--data-dir", data], env=oms_env(),
                          capture_output=True, text=True, check=True, timeout=120).stdout.strip()


def finish(check, work, data):
    """Stops the embedded cluster of `data`, removes `work` when every check passed (else says
    where its logs are kept), and prints the closing line; the exit status."""
    subprocess.run(["bash", os.path.join(ROOT, "scripts/stop-cluster.sh"), os.path.join(data, "pgdata")], timeout=60)
    if not check.failures:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"{check.prefix}: logs kept in {work}")
    return check.close()
