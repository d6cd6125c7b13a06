#!/usr/bin/python3
"""Makes docs/observability-failover.png: Prometheus's graph page (Debian's prometheus 2.42,
classic UI) during a kill -9 run of a 3-member cluster, taken with headless Chromium (Debian's
chromium). Run by hand after `make` and `WITH_SCREENSHOT=1 tools/install-deps.sh`:
/usr/bin/python3 tools/obs-screenshot.py [OUT.png]

Timeline: 9 projects placed; every ~25 s the current leader is killed with SIGKILL, its projects
fail over after the heartbeat timeout (3 s here), and it is started again 15 s later. Two
graphs: raftnode_leader_id as each member sees it (the leader moving; a gap while a member is
dead) and the projects each engine owns in the leader's view (failover and re-placement; a
restarted member's own view lags until it caught up, so only the leader's is shown)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))
from harness import Cluster, free_ports, wait_for  # noqa: E402
from obsservers import Prometheus  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROJECTS = [f"proj{i}" for i in range(1, 10)]


def owners(c):
    rc, out, _ = c.ctl("project", "list")
    return {p["name"]: p["owner"] for p in out} if rc == 0 else {}


def main():
    out_png = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "docs",
                                                                                 "observability-failover.png"))
    assert os.access(CHROMIUM, os.X_OK), "chromium is not installed (WITH_SCREENSHOT=1 tools/install-deps.sh)"
    root = tempfile.mkdtemp(prefix="raftnode-shot-")
    ports = free_ports(3)
    c = Cluster(os.path.join(root, "c"), 3,
                node_extra={i + 1: {"raft.http.address": f"127.0.0.1:{ports[i]}", "raft.log-level": "info"}
                            for i in range(3)})
    prom = Prometheus(os.path.join(root, "prometheus"), [f"127.0.0.1:{p}" for p in ports], scrape_interval="1s")
    try:
        c.start()
        c.wait_leader(timeout=30)
        c.wait_engines_alive(timeout=30)
        prom.start()
        c.ctl("project", "add", *PROJECTS, check=0)
        wait_for(lambda: all(owners(c).get(p) for p in PROJECTS), 30, "every project placed")
        time.sleep(35)  # a steady stretch before the first kill
        for _ in range(3):
            leader = c.wait_leader(timeout=30)
            print(f"kill -9 member {leader} (the leader)", flush=True)
            c[leader].kill(signal.SIGKILL)
            wait_for(lambda: c.leader_id() not in (None, leader), 30, "a new leader")
            wait_for(lambda: leader not in owners(c).values(), 30, f"engine {leader}'s projects failed over")
            time.sleep(15)
            print(f"start member {leader} again", flush=True)
            c[leader].start()
            c.wait_engines_alive(timeout=30)
            time.sleep(10)
        g = {"g0.expr": "raftnode_leader_id", "g0.tab": "0", "g0.range_input": "3m",
             "g1.expr": "sum by (engine) (raftnode_engine_projects and on (instance) raftnode_is_leader == 1)", "g1.tab": "0", "g1.range_input": "3m"}
        url = prom.url + "/classic/graph?" + urllib.parse.urlencode(g)
        profile = os.path.join(root, "chromium-profile")
        os.makedirs(profile)
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={profile}", "--window-size=1300,1560",
                            "--hide-scrollbars", "--virtual-time-budget=15000", f"--screenshot={out_png}", url],
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0 and os.path.getsize(out_png) > 10000, p.stderr[-3000:]
        print(f"wrote {out_png} from {url}")
    finally:
        prom.stop()
        c.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
