"""Real Prometheus 2.42 and InfluxDB 1.6 servers from Debian for the observability tests.

Each server runs from its own directory (config, data, log) on 127.0.0.1 ports of its own and
is stopped by PID. A server that does not come up fails the test with its log: nothing is
skipped. Readiness is polled with a deadline (Prometheus's /-/ready, InfluxDB's /ping)."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import free_ports, wait_for

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
INFLUXD = "/usr/bin/influxd"


def http_get(url, timeout=5):
    """(status, body text); a 4xx/5xx answer is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http_post(url, data, timeout=5):
    req = urllib.request.Request(url, data=data.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class _Server:
    name = "server"

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.log_path = os.path.join(self.root, "server.log")
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-6000:]
        except FileNotFoundError:
            return "(no log)"

    def _spawn(self, argv):
        assert os.access(argv[0], os.X_OK), f"{argv[0]} is not installed: run tools/install-deps.sh"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.root)
        log.close()

    def _wait_ready(self, probe, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} while starting; its log:\n"
                                     f"{self.log()}")
            try:
                if probe():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.name} not ready within {timeout}s; its log:\n{self.log()}")

    def stop(self, timeout=30):
        if self.pid is None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Prometheus(_Server):
    """Scrapes TARGETS (host:port list) every SCRAPE_INTERVAL."""
    name = "prometheus"

    def __init__(self, root, targets, scrape_interval="500ms"):
        super().__init__(root)
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = os.path.join(self.root, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(scrape_config(targets, scrape_interval))

    def start(self):
        self._spawn([PROMETHEUS, f"--config.file={self.config}", f"--storage.tsdb.path={self.root}/data",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        return self._wait_ready(lambda: http_get(self.url + "/-/ready")[0] == 200)

    def query(self, expr):
        """The instant vector of EXPR: [(labels, float value)]; asserts success."""
        st, body = http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        doc = json.loads(body)
        assert st == 200 and doc["status"] == "success", f"query {expr}: {st} {body}"
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def query_raw(self, expr):
        return http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))[1]


def scrape_config(targets, scrape_interval="15s"):
    """The scrape config docs/observability.md shows, with TARGETS."""
    listed = ", ".join(f'"{t}"' for t in targets)
    return (f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
            f"scrape_configs:\n  - job_name: raftnode\n    scrape_timeout: {scrape_interval}\n"
            f"    static_configs:\n      - targets: [{listed}]\n")


class InfluxDB(_Server):
    name = "influxd"

    def __init__(self, root):
        super().__init__(root)
        self.port, self.rpc_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = os.path.join(self.root, "influxdb.conf")
        d = self.root
        with open(self.config, "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  enabled = false
""")

    def start(self):
        self._spawn([INFLUXD, "run", "-config", self.config])
        return self._wait_ready(lambda: http_get(self.url + "/ping")[0] == 204)

    def query(self, q, db=None):
        """InfluxQL Q over GET/POST /query; the JSON 'results' list; asserts no error."""
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        st, body = http_post(self.url + "/query?" + urllib.parse.urlencode(params), "")
        doc = json.loads(body)
        assert st == 200 and all("error" not in r for r in doc.get("results", [])), f"query {q}: {st} {body}"
        return doc["results"]

    def series_values(self, q, db):
        """Rows of the first series of Q's first result as dicts (column -> value); [] if none."""
        res = self.query(q, db)[0]
        rows = []
        for s in res.get("series", []):
            for v in s["values"]:
                rows.append(dict(zip(s["columns"], v), **s.get("tags", {})))
        return rows


class TcpGate:
    """A TCP forwarder on a port of its own in front of TARGET_PORT on 127.0.0.1. close() refuses
    new connections and cuts the open ones, as a stopped server would; open() accepts again at
    once on the same port, so an outage ends at a known instant instead of after the server's
    start-up time (which on a loaded machine is longer than a bounded push queue lasts)."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.sock = None
        self.conns = []

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return  # closed by close()
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        with self.lock:
            conns, self.conns = self.conns, []
        for x in conns:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def stop(self):
        self.close()


def promtool_check(text, root):
    """`promtool check metrics` on TEXT: (returncode, output)."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                       cwd=str(root))
    return p.returncode, p.stdout + p.stderr


def wait_until(cond, timeout, what):
    return wait_for(cond, timeout, what, interval=0.2)
