"""Fixtures of the Kylin-emulator tests: the emulator jar (built once per session with
tests/kylin/build.sh), one PostgreSQL 15 and one MariaDB server for the whole session
(tests/metastore/dbservers.py, stopped by PID at the end), a `db` fixture that runs a test once
against each, and `kylin`, which starts emulated Kylin nodes and stops every one by PID.
"""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
sys.path.insert(0, os.path.join(ROOT, "tests", "metastore"))
from harness import free_ports, wait_for  # noqa: E402

from db_fixtures import db, server_root, stop_servers  # noqa: E402,F401

OUT = os.environ.get("KYLIN_EMU_OUT", os.path.join(ROOT, "build", "kylin-emu"))
JAR = os.path.join(OUT, "kylin-emulator.jar")
DRIVERS = ["/usr/share/java/postgresql.jar", "/usr/share/java/mariadb-java-client.jar"]

# kylin.properties of the recommended set-up (protocol doc section 7): the race stays enabled
# and no timer ever fires; tests add their own keys.
RECOMMENDED = {
    "kylin.server.leader-race.enabled": "true",
    "kylin.server.leader-race.heart-beat-interval": "999999999",
    "kylin.server.leader-race.heart-beat-timeout": "315360000",
    "kylin.job.scheduler.poll-interval-second": "600",
    "kylin.env.health-check-interval": "200",
    "kylin.emu.zk-poll-ms": "100",
}

@pytest.fixture(scope="session")
def emulator_jar():
    p = subprocess.run(["nice", "-n", "5", os.path.join(HERE, "build.sh"), OUT], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    for d in DRIVERS:
        assert os.path.exists(d), f"{d} missing: apt-get install libpostgresql-jdbc-java libmariadb-java"
    return JAR


@pytest.fixture
def prefix(request):
    """A metadata identifier of this test's own (tables <prefix>, <prefix>_epoch, ...)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    return "k_" + name.lower()


class Emu:
    """One emulated Kylin node (a java process)."""

    def __init__(self, jar, db, prefix, log_dir, props=None, mode="all", schema="kv", port=None):
        self.port = port or free_ports(1)[0]
        self.addr = f"127.0.0.1:{self.port}"
        self.log_path = os.path.join(str(log_dir), f"emu-{self.port}.log")
        conf = dict(RECOMMENDED)
        conf.update(props or {})
        cmd = ["nice", "-n", "5", "java", "-Xmx96m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
               "-cp", ":".join([jar] + DRIVERS), "org.apache.kylin.emu.Main",
               "--port", str(self.port), "--ip", "127.0.0.1", "--metadata-url", db.kylin_url(prefix),
               "--mode", mode, "--schema", schema, "--props"] + [f"{k}={v}" for k, v in conf.items()]
        self.started_ms = int(time.time() * 1000)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    # -- HTTP
    def request(self, method, path, body=None, headers=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        h = {"Content-Type": "application/json", "Accept": "application/vnd.apache.kylin-v4-public+json"}
        h.update(headers or {})
        req = urllib.request.Request(f"http://{self.addr}{path}", data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def get(self, path):
        return self.request("GET", path)

    def report(self):
        st, r = self.get("/emu/report")
        assert st == 200, r
        return r

    def claim(self, projects, force=True, client=True, **kw):
        """POST /kylin/api/epoch as a coordinator would."""
        return self.post("/kylin/api/epoch", {"projects": projects, "force": force, "client": client}, **kw)

    def poke(self):
        """POST /kylin/api/broadcast with EpochCheckBroadcastNotifier (header routed: true)."""
        return self.post("/kylin/api/broadcast",
                         {"@class": "org.apache.kylin.common.persistence.transaction.EpochCheckBroadcastNotifier"},
                         headers={"routed": "true"})

    def health(self):
        return self.get("/kylin/api/health")

    @property
    def identity(self):
        return self.report()["identity"]

    def running(self):
        return set(self.report()["projects_running"])

    # -- process
    def wait_ready(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"emulator exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return self.report()
            except OSError:
                return None
        try:
            wait_for(ready, timeout, f"emulator on {self.addr} to answer")
            wait_for(lambda: self.health()[0] == 200, timeout, f"emulator on {self.addr} healthy")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- emulator log ---\n{self.log()}") from None
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-6000:]
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"emulator {self.addr} did not exit:\n{self.log()}")

    def stop(self):
        """Graceful stop through the test hook (POST /emu/stop)."""
        self.post("/emu/stop")
        return self.wait_exit()

    def term(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def kylin(emulator_jar, db, prefix, tmp_path):
    """kylin(**kw) starts an emulated node on DB with PREFIX and waits until it is healthy."""
    made = []

    def start(wait=True, **kw):
        n = Emu(emulator_jar, db, kw.pop("prefix", prefix), tmp_path, **kw)
        made.append(n)
        return n.wait_ready() if wait else n
    yield start
    for n in made:  # SIGTERM to all first: the graceful stops run side by side
        if n.alive():
            n.proc.send_signal(signal.SIGTERM)
    for n in made:
        try:
            n.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            n.kill()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    p = len(st.get("passed", []))
    f = len(st.get("failed", [])) + len(st.get("error", []))
    terminalreporter.write_line(f"kylin-emulator: {p} passed, {f} failed")
