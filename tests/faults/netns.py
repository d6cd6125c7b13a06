"""Hosts for the fault tests: one network namespace per raftnode, joined by veth pairs to a
bridge in the root namespace, each with its own address in 10.77.X.0/24 (X picked free per
run; the bridge is 10.77.X.254, where raftctl and the sampler speak from). Names start with
"rnf" and carry X, so concurrent runs never touch each other's namespaces.

Network faults, all without sch_netem (this kernel has none, see probe()):
  partitions   a blackhole route to the peer's /32 inside each side's namespace (both ways)
  loss         iptables `-m statistic --mode random` DROP on INPUT from peers
  delay        iptables NFQUEUE on OUTPUT to peers + nfq_delay.py in the namespace
Client traffic (from the bridge address) is never affected: the workload keeps talking to
every member, as Jepsen's clients do, including to a member that has been cut off.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OWNER_DIR = "/tmp/rnf-faults"
IPTABLES = shutil.which("iptables") or "/usr/sbin/iptables"
PY = "/usr/bin/python3"


def sh(*args, check=True, timeout=30):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} -> {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _stale_cleanup():
    """Removes namespaces and bridges of earlier runs whose owning process is gone."""
    if not os.path.isdir(OWNER_DIR):
        return
    for f in os.listdir(OWNER_DIR):
        if not f.endswith(".pid"):
            continue
        try:
            x = int(f[:-4])
            with open(os.path.join(OWNER_DIR, f)) as fh:
                pid = int(fh.read().strip() or 0)
        except (ValueError, OSError):
            continue
        if pid and _pid_alive(pid):
            continue
        _teardown_tag(x)
        try:
            os.unlink(os.path.join(OWNER_DIR, f))
        except FileNotFoundError:
            pass


def _teardown_tag(x):
    try:
        with open("/proc/mounts") as f:
            mounts = [ln.split()[1] for ln in f if ln.split()[0] == f"rnf{x}disk"]
    except OSError:
        mounts = []
    for m in mounts:
        sh("umount", "-l", m, check=False)
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"rnf{x}h"):
            _kill_ns_pids(name)
            sh("ip", "netns", "del", name, check=False)
    sh("ip", "link", "del", f"rnfb{x}", check=False)


def _kill_ns_pids(ns):
    """Processes still inside namespace NS (only ours can be: the namespace is ours)."""
    p = sh("ip", "netns", "pids", ns, check=False)
    for tok in p.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


_probe_cache = {}


def probe():
    """What this kernel and these tools can do: {"netem", "loss", "delay", "faketime",
    "tmpfs"} -> (bool, reason). Probed once per process in a scratch namespace."""
    if _probe_cache:
        return _probe_cache
    res = {}
    ns = f"rnfprobe{os.getpid()}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        p = sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "10ms",
               check=False)
        res["netem"] = (p.returncode == 0, "sch_netem available" if p.returncode == 0 else
                        f"tc qdisc netem: {p.stderr.strip()} (kernel built without CONFIG_NET_SCH_NETEM)")
        if not os.path.exists(IPTABLES):
            res["loss"] = (False, "iptables is not installed (Debian package iptables)")
            res["delay"] = (False, "iptables is not installed (Debian package iptables)")
        else:
            p = sh("ip", "netns", "exec", ns, IPTABLES, "-A", "INPUT", "-s", "10.77.255.1", "-m", "statistic",
                   "--mode", "random", "--probability", "0.5", "-j", "DROP", check=False)
            res["loss"] = (p.returncode == 0, "iptables statistic match" if p.returncode == 0 else
                           f"iptables -m statistic: {p.stderr.strip()}")
            p = sh("ip", "netns", "exec", ns, IPTABLES, "-A", "OUTPUT", "-d", "10.77.255.1", "-j", "NFQUEUE",
                   "--queue-num", "9", "--queue-bypass", check=False)
            if p.returncode != 0:
                res["delay"] = (False, f"iptables NFQUEUE: {p.stderr.strip()}")
            else:
                d = subprocess.Popen(["ip", "netns", "exec", ns, PY, os.path.join(HERE, "nfq_delay.py"), "9", "1",
                                      "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    line = d.stdout.readline().strip()
                finally:
                    d.terminate()
                    try:
                        _, err = d.communicate(timeout=5)
                    except subprocess.TimeoutExpired:
                        d.kill()
                        _, err = d.communicate()
                res["delay"] = (line == "ready", "NFQUEUE + nfq_delay.py" if line == "ready" else
                                f"nfq_delay.py could not bind an NFQUEUE: {err.strip()[-300:]}")
        lib = faketime_lib()
        res["faketime"] = (lib is not None, lib or "libfaketime not installed (Debian package libfaketime)")
        res["tmpfs"] = (True, "tmpfs")
    finally:
        sh("ip", "netns", "del", ns, check=False)
    _probe_cache.update(res)
    return _probe_cache


def faketime_lib():
    for d in ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime"):
        for f in ("libfaketimeMT.so.1", "libfaketime.so.1"):
            if os.path.exists(os.path.join(d, f)):
                return os.path.join(d, f)
    return None


class Network:
    """N hosts (1..N) in namespaces rnf{X}h{i} with addresses 10.77.X.i, a bridge rnfb{X} at 10.77.X.254."""

    def __init__(self, n):
        self.n = n
        self.x = None
        self.blackholes = set()     # (i, j): host i drops what it sends to host j
        self.lossy = {}             # host -> probability
        self.delayers = {}          # host -> Popen of nfq_delay.py
        self.mounts = []

    # ---- names ----
    def ns(self, i):
        return f"rnf{self.x}h{i}"

    def addr(self, i):
        return f"10.77.{self.x}.{i}"

    @property
    def gateway(self):
        return f"10.77.{self.x}.254"

    @property
    def subnet(self):
        return f"10.77.{self.x}.0/24"

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.ns(i)]

    # ---- life ----
    def setup(self):
        os.makedirs(OWNER_DIR, exist_ok=True)
        _stale_cleanup()
        used = sh("ip", "-4", "-o", "addr", "show", check=False).stdout
        for x in list(range(10, 250)):
            if f"10.77.{x}." in used:
                continue
            # creating the bridge is the lock: it fails if another run took X first
            if sh("ip", "link", "add", f"rnfb{x}", "type", "bridge", check=False).returncode == 0:
                self.x = x
                break
        if self.x is None:
            raise RuntimeError("no free 10.77.X.0/24 subnet for the fault-test network")
        with open(os.path.join(OWNER_DIR, f"{self.x}.pid"), "w") as f:
            f.write(str(os.getpid()))
        br = f"rnfb{self.x}"
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", br)
        sh("ip", "link", "set", br, "up")
        for i in range(1, self.n + 1):
            ns, veth = self.ns(i), f"rnf{self.x}v{i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
            sh("ip", "link", "set", f"{veth}p", "netns", ns)
            sh("ip", "link", "set", veth, "master", br)
            sh("ip", "link", "set", veth, "up")
            sh("ip", "-n", ns, "link", "set", f"{veth}p", "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def teardown(self):
        if self.x is None:
            return
        errors = []
        for i in list(self.delayers):
            self.clear_delay(i)
        for m in reversed(self.mounts):
            self.umount(m, errors)
        for i in range(1, self.n + 1):
            _kill_ns_pids(self.ns(i))
            p = sh("ip", "netns", "del", self.ns(i), check=False)
            if p.returncode != 0 and "No such file" not in p.stderr:
                errors.append(p.stderr.strip())
        sh("ip", "link", "del", f"rnfb{self.x}", check=False)
        try:
            os.unlink(os.path.join(OWNER_DIR, f"{self.x}.pid"))
        except FileNotFoundError:
            pass
        left = [ln for ln in sh("ip", "netns", "list", check=False).stdout.splitlines()
                if ln.startswith(f"rnf{self.x}h")]
        if left or errors:
            raise AssertionError(f"network teardown left {left}; errors {errors}")
        self.x = None

    # ---- disks ----
    def mount_tmpfs(self, path, size_mb):
        os.makedirs(path, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", f"rnf{self.x}disk", path)
        self.mounts.append(path)

    def umount(self, path, errors=None):
        if path not in self.mounts:
            return
        for _ in range(50):
            p = sh("umount", path, check=False)
            if p.returncode == 0 or "not mounted" in p.stderr:
                self.mounts.remove(path)
                return
            time.sleep(0.1)  # a process of ours still exiting holds it
        p = sh("umount", "-l", path, check=False)
        self.mounts.remove(path)
        if p.returncode != 0 and errors is not None:
            errors.append(f"umount {path}: {p.stderr.strip()}")

    # ---- partitions ----
    def block(self, i, j):
        if (i, j) not in self.blackholes:
            sh("ip", "-n", self.ns(i), "route", "add", "blackhole", f"{self.addr(j)}/32")
            self.blackholes.add((i, j))

    def unblock(self, i, j):
        if (i, j) in self.blackholes:
            sh("ip", "-n", self.ns(i), "route", "del", "blackhole", f"{self.addr(j)}/32", check=False)
            self.blackholes.discard((i, j))

    def cut(self, a, b):
        """No traffic between hosts A and B, either way."""
        self.block(a, b)
        self.block(b, a)

    def partition(self, groups):
        """Hosts in different GROUPS cannot talk; hosts in no group talk to everyone."""
        where = {h: k for k, g in enumerate(groups) for h in g}
        for a in where:
            for b in where:
                if a < b and where[a] != where[b]:
                    self.cut(a, b)

    def heal_partitions(self):
        for (i, j) in sorted(self.blackholes):
            self.unblock(i, j)

    def reachable_pairs(self):
        return {(i, j) for i in range(1, self.n + 1) for j in range(1, self.n + 1)
                if i != j and (i, j) not in self.blackholes}

    # ---- loss ----
    def _peer_src_rules(self, i):
        return [self.addr(j) for j in range(1, self.n + 1) if j != i]

    def set_loss(self, i, probability):
        self.clear_loss(i)
        for src in self._peer_src_rules(i):
            sh("ip", "netns", "exec", self.ns(i), IPTABLES, "-A", "INPUT", "-s", src, "-m", "statistic",
               "--mode", "random", "--probability", f"{probability:.3f}", "-j", "DROP")
        self.lossy[i] = probability

    def clear_loss(self, i):
        if i in self.lossy:
            sh("ip", "netns", "exec", self.ns(i), IPTABLES, "-F", "INPUT", check=False)
            del self.lossy[i]

    # ---- delay ----
    def set_delay(self, i, delay_ms, jitter_ms, seed=0):
        self.clear_delay(i)
        q = 100 + i
        for dst in self._peer_src_rules(i):
            sh("ip", "netns", "exec", self.ns(i), IPTABLES, "-A", "OUTPUT", "-d", dst, "-j", "NFQUEUE",
               "--queue-num", q, "--queue-bypass")
        d = subprocess.Popen(self.exec_prefix(i) + [PY, os.path.join(HERE, "nfq_delay.py"), str(q), str(delay_ms),
                                                    str(jitter_ms), str(seed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.delayers[i] = d
        line = d.stdout.readline().strip()
        if line != "ready":
            self.clear_delay(i)
            raise RuntimeError(f"nfq_delay.py in host {i} did not start: {line}")

    def clear_delay(self, i):
        d = self.delayers.pop(i, None)
        sh("ip", "netns", "exec", self.ns(i), IPTABLES, "-F", "OUTPUT", check=False)
        if d is not None:
            if d.poll() is None:
                d.terminate()
            try:
                d.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                d.kill()
                d.communicate()

    def heal_all(self):
        self.heal_partitions()
        for i in list(self.lossy):
            self.clear_loss(i)
        for i in list(self.delayers):
            self.clear_delay(i)

    def faults(self):
        """A short description of the network faults in force."""
        out = []
        if self.blackholes:
            out.append("cut " + ",".join(f"{i}->{j}" for i, j in sorted(self.blackholes)))
        if self.lossy:
            out.append("loss " + ",".join(f"{i}:{p:.2f}" for i, p in sorted(self.lossy.items())))
        if self.delayers:
            out.append("delay " + ",".join(str(i) for i in sorted(self.delayers)))
        return "; ".join(out) or "none"


if __name__ == "__main__":  # `python3 netns.py` prints what this machine supports
    for k, (ok, why) in probe().items():
        print(f"{k:9s} {'yes' if ok else 'NO '}  {why}")
    sys.exit(0)
