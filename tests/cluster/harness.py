"""Cluster-test harness: real raftnode processes on 127.0.0.1, driven through raftctl.

Every process is started by PID and stopped by PID at teardown (AIO contexts are a
host-wide resource). Nothing sleeps blindly: wait_for polls a condition with a deadline.
"""
import json
import os
import random
import signal
import socket
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RAFTNODE = os.environ.get("RAFTNODE_BIN", os.path.join(REPO, "bin", "raftnode"))
# Members on the sanitizer build: libraft's one known leak at exit is suppressed (lsan.supp).
LSAN_SUPPRESSIONS = ("suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan.supp")
                     + ":print_suppressions=0")


def sanitizer_env():
    """The environment of a member started now: the caller's (read at each start, so a test's
    monkeypatch.setenv reaches the member) with the LSan suppressions unless set."""
    env = dict(os.environ)
    env.setdefault("LSAN_OPTIONS", LSAN_SUPPRESSIONS)
    return env


RAFTCTL = os.environ.get("RAFTCTL_BIN", os.path.join(REPO, "bin", "raftctl"))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


_HANDED_OUT = set()  # ports this test process already gave out: never the same one twice


def _port_range():
    """Ports below the kernel's ephemeral range (net.ipv4.ip_local_port_range), where outgoing
    connections take their local ports: a port found free there can be taken by any connect()
    before the server binds it ("Address already in use", seen with the Kylin emulator).
    From 21000: the Debian package test, which make test runs beside these suites, listens on
    17000-20999 (tests/deb/test-deb.sh)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (21000, low) if low > 23000 else (low + 1, 65000)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound then released), drawn at random outside
    the ephemeral range (_port_range), none handed out before by this process: a cluster whose
    member and emulator picked the same port never elects a leader (seen once in CI)."""
    lo, hi = _port_range()
    rng = random.Random()  # seeded from os.urandom: test processes draw different ports
    ports = []
    for _ in range(n * 200):
        if len(ports) == n:
            break
        port = rng.randrange(lo, hi)
        if port in _HANDED_OUT or port in ports:
            continue
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            continue  # in use
        finally:
            s.close()
        ports.append(port)
        _HANDED_OUT.add(port)
    assert len(ports) == n, f"could not find {n} unused ports on 127.0.0.1 in {lo}..{hi} in {n * 200} tries"
    return ports


def wait_for(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a truthy value; fails with WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # a member may be restarting: keep polling
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Node:
    def __init__(self, cluster, node_id, role="voter"):
        self.cluster = cluster
        self.id = node_id
        self.role = role
        self.raft_port, self.api_port = free_ports(2)
        self.dir = os.path.join(cluster.root, f"node{node_id}")
        self.log_path = os.path.join(cluster.root, f"node{node_id}.log")
        self.conf_path = os.path.join(cluster.root, f"node{node_id}.properties")
        self.proc = None
        self.extra = {}

    @property
    def raft_addr(self):
        return f"127.0.0.1:{self.raft_port}"

    @property
    def api_addr(self):
        return f"127.0.0.1:{self.api_port}"

    def write_conf(self, initial_cluster=None, join=None):
        conf = {
            "raft.node.id": self.id,
            "raft.node.address": self.raft_addr,
            "raft.api.address": self.api_addr,
            "raft.data-dir": self.dir,
            "raft.election-timeout-ms": 1000,
            "raft.heartbeat-timeout-ms": 100,
            "raft.log-level": "debug",
            "kylin.server.leader-race.heart-beat-interval": 1,
            "kylin.server.leader-race.heart-beat-timeout": 3,
        }
        if initial_cluster:
            conf["raft.initial-cluster"] = initial_cluster
        if join:
            conf["raft.join"] = join
        conf.update(self.cluster.extra)
        conf.update(self.extra)
        with open(self.conf_path, "w") as f:
            for k, v in conf.items():
                f.write(f"{k}={v}\n")

    def start(self, *args):
        """Starts raftnode -c CONF ARGS... (e.g. "--force-new-cluster", or "--restore", FILE)."""
        assert self.proc is None or self.proc.poll() is not None, f"node {self.id} already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([RAFTNODE, "-c", self.conf_path, *args], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=sanitizer_env())
        log.close()
        self.cluster.pids.add(self.proc.pid)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            os.kill(self.proc.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.proc.wait(timeout=30)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"node {self.id} did not exit within {timeout}s of SIGTERM")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class Cluster:
    def __init__(self, root, n, standby=(), extra=None, node_extra=None):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.extra = dict(extra or {})
        self.ctl_env = {}  # extra environment for raftctl (RAFTCTL_CACERT/CERT/KEY with API TLS)
        self.pids = set()
        self.nodes = {}
        for i in range(1, n + 1):
            self.nodes[i] = Node(self, i, "standby" if i in standby else "voter")
            self.nodes[i].extra = dict((node_extra or {}).get(i, {}))
        initial = ",".join(f"{x.id}={x.raft_addr}" + ("/standby" if x.role == "standby" else "")
                           for x in self.nodes.values())
        for x in self.nodes.values():
            x.write_conf(initial_cluster=initial)

    def __getitem__(self, i):
        return self.nodes[i]

    def add_joiner(self, node_id, extra=None):
        """A new node configured with raft.join pointing at every live member's API."""
        node = Node(self, node_id)
        node.extra = dict(extra or {})
        live = [x for x in self.nodes.values() if x.alive()]
        node.write_conf(join=live[0].api_addr)
        self.nodes[node_id] = node
        return node

    def start(self):
        for x in self.nodes.values():
            x.start()
        return self

    def endpoints(self, nodes=None):
        nodes = nodes or [x for x in self.nodes.values()]
        return ",".join(x.api_addr for x in nodes)

    def ctl(self, *args, endpoints=None, json_out=True, timeout_ms=3000, check=None):
        """Runs raftctl; returns (exit status, parsed JSON or stdout text, stderr)."""
        cmd = [RAFTCTL, "--endpoints", endpoints or self.endpoints(), "--timeout", str(timeout_ms)]
        if json_out:
            cmd += ["-w", "json"]
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **self.ctl_env})
        out = p.stdout
        if json_out and p.returncode == 0 and out.strip():
            out = json.loads(out)
        if check is not None:
            assert p.returncode == check, f"{cmd} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        return p.returncode, out, p.stderr

    def status(self, node=None):
        eps = node.api_addr if node else None
        rc, out, err = self.ctl("status", endpoints=eps)
        return out if rc == 0 else None

    def leader_id(self, among=None):
        """The leader id every live member agrees on, or None."""
        among = among or [x for x in self.nodes.values() if x.alive()]
        ids = set()
        for x in among:
            rc, out, _ = self.ctl("status", endpoints=x.api_addr, timeout_ms=1000)
            if rc != 0 or not out or out.get("leader_id") is None:
                return None
            ids.add(out["leader_id"])
        return ids.pop() if len(ids) == 1 else None

    def wait_leader(self, timeout=15, among=None):
        return wait_for(lambda: self.leader_id(among), timeout, "an agreed leader")

    def wait_engines_alive(self, timeout=30, ids=None):
        """Every engine in IDS (default: every member) registered and alive in the quorum."""
        ids = set(ids or self.nodes)

        def ok():
            rc, out, _ = self.ctl("engine", "list", timeout_ms=1500)
            if rc != 0:
                return None
            e = {r["id"]: r for r in out}
            return e if set(e) >= ids and all(e[i]["alive"] for i in ids) else None
        return wait_for(ok, timeout, f"engines {sorted(ids)} registered and alive", interval=0.2)

    def projects_on(self, node):
        """{name: (owner, epoch)} as member NODE sees it, or None if it does not answer."""
        rc, out, _ = self.ctl("project", "list", endpoints=node.api_addr, timeout_ms=1000)
        if rc != 0:
            return None
        return {p["name"]: (p["owner"], p["epoch"]) for p in out}

    def engines(self):
        rc, out, err = self.ctl("engine", "list")
        assert rc == 0, err
        return {e["id"]: e for e in out}

    def hashes(self):
        rc, out, err = self.ctl("hash")
        assert rc == 0, err
        return out

    def wait_converged(self, timeout=15, nodes=None):
        """Every live member reports the same applied index and hash."""
        want = {x.id for x in (nodes or self.nodes.values()) if x.alive()}

        def check():
            rows = [r for r in self.hashes() if r["id"] in want]
            if len(rows) != len(want) or not all(r["reachable"] for r in rows):
                return None
            if len({(r["applied_index"], r["hash"]) for r in rows}) == 1:
                return rows
            return None
        return wait_for(check, timeout, f"members {sorted(want)} to agree on applied index and hash")

    def sanitizer_reports(self):
        bad = []
        for x in self.nodes.values():
            text = x.log()
            for m in SANITIZER_MARKERS:
                if m in text:
                    i = text.index(m)
                    bad.append(f"node {x.id}: {text[max(0, i - 200):i + 1500]}")
                    break
        return bad

    def close(self):
        for x in self.nodes.values():
            if x.alive():
                try:
                    os.kill(x.proc.pid, signal.SIGCONT)
                    x.stop(timeout=15)
                except AssertionError:
                    pass
        for x in self.nodes.values():
            if x.proc is not None and x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()
