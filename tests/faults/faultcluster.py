"""A raftnode cluster whose members each run on their own host (network namespace, netns.py),
driven through raftctl like tests/cluster/harness.py (whose Cluster this extends: ctl,
leader_id, wait_leader, engines, hashes, wait_converged, sanitizer_reports, close).

Every process is started and stopped by PID; a member may run under libfaketime (its wall
clock can then jump, its monotonic clock never does) and on a tmpfs data directory (a disk
that can be filled).
"""
import os
import signal
import subprocess
import threading

from harness import RAFTNODE, Cluster, Node, sanitizer_env, wait_for
from netns import faketime_lib

RAFT_PORT = 7101
API_PORT = 7201


class NsNode(Node):
    def __init__(self, cluster, node_id, role, mode):
        self.cluster = cluster
        self.id = node_id
        self.role = role
        self.mode = mode
        self.host = cluster.net.addr(node_id)
        self.raft_port, self.api_port = RAFT_PORT, API_PORT
        self.dir = os.path.join(cluster.root, f"node{node_id}")
        self.log_path = os.path.join(cluster.root, f"node{node_id}.log")
        self.conf_path = os.path.join(cluster.root, f"node{node_id}.properties")
        self.clock_path = os.path.join(cluster.root, f"node{node_id}.faketime")
        self.proc = None
        self.paused = False
        self.extra = {"kylin.server.mode": mode}
        self.starts = 0

    @property
    def raft_addr(self):
        return f"{self.host}:{self.raft_port}"

    @property
    def api_addr(self):
        return f"{self.host}:{self.api_port}"

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, f"node {self.id} already running"
        cmd = self.cluster.net.exec_prefix(self.id)
        env = sanitizer_env()
        env.setdefault("ASAN_OPTIONS", "")
        if self.cluster.faketime:
            # Only the wall clock is faked (the offset is read from clock_path on every call);
            # CLOCK_MONOTONIC stays real. ASan must tolerate a library preloaded before it.
            if not os.path.exists(self.clock_path):
                with open(self.clock_path, "w") as f:
                    f.write("+0\n")
            cmd += ["env", f"LD_PRELOAD={faketime_lib()}", f"FAKETIME_TIMESTAMP_FILE={self.clock_path}",
                    "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1",
                    "ASAN_OPTIONS=verify_asan_link_order=0:" + env["ASAN_OPTIONS"]]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd + [RAFTNODE, "-c", self.conf_path], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()
        self.cluster.pids.add(self.proc.pid)
        self.paused = False
        self.starts += 1
        return self

    def pause(self):
        if self.alive() and not self.paused:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive() and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def kill9(self):
        if self.alive():
            if self.paused:
                os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.paused = False

    def set_clock(self, offset):
        """OFFSET in libfaketime's relative form: "+0", "+3600", "-2h"..."""
        tmp = self.clock_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{offset}\n")
        os.replace(tmp, self.clock_path)

    def exit_status(self):
        return None if self.proc is None else self.proc.poll()


class FaultCluster(Cluster):
    """N members on hosts 1..N of NET; MODES[i-1] is member i's kylin.server.mode; the members in
    STANDBY start as standbys (raft.initial-cluster's /standby)."""

    def __init__(self, root, net, modes, extra=None, faketime=False, tmpfs=None, standby=()):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.net = net
        self.extra = dict(extra or {})
        self.pids = set()
        self.ctl_env = {}  # as Cluster.__init__ (not called here): raftctl's extra environment
        self.nodes = {}
        self.faketime = faketime
        self.lock = threading.RLock()   # nemesis and workload both start/stop members
        self.busy = set()               # members a fault currently holds (kill/pause/disk)
        self.faults = 0                 # nemesis faults in force (the workload kills no engine then)
        self.gone = set()               # members killed for good (never restarted; kill-voter)
        for i, mode in enumerate(modes, 1):
            self.nodes[i] = NsNode(self, i, "standby" if i in standby else "voter", mode)
        for i, size_mb in (tmpfs or {}).items():
            net.mount_tmpfs(self.nodes[i].dir, size_mb)
        initial = ",".join(f"{x.id}={x.raft_addr}" + ("/standby" if x.role == "standby" else "")
                           for x in self.nodes.values())
        for x in self.nodes.values():
            x.write_conf(initial_cluster=initial)

    def owners_capable(self):
        return [x.id for x in self.nodes.values() if x.mode in ("all", "job")]

    def close(self):
        for x in self.nodes.values():
            if x.alive():
                try:
                    os.kill(x.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        super().close()

    def running(self):
        return [x for x in self.nodes.values() if x.alive() and not x.paused]

    def wait_engines_alive(self, timeout=30):
        """Every engine but those of members gone for good (kill-voter) registered and alive."""
        return super().wait_engines_alive(timeout, ids=set(self.nodes) - self.gone)
