"""Rolling upgrade across a store schema version, checked by hand (not collected by pytest:
it needs the older release's binary as well):

    RAFTCTL_BIN=build/bin/raftctl /usr/bin/python3 tests/cluster/upgrade_check.py OLD_RAFTNODE NEW_RAFTNODE

Three members on OLD (snapshots every 8 entries); a follower restarted on NEW (its store
migrated at open); the other follower stopped, left behind a snapshot of the OLD leader and
started on NEW (the image migrated on the way in); the OLD leader stopped, left behind a
snapshot of a NEW leader and started on OLD (it must refuse the image with its schema-version
message and change nothing, then not start again on OLD), and at last started on NEW. After
every step the live members must agree on applied index and store hash (OLD and NEW hash the
same rows alike). Exit status 0 when every step held; the data stays in a temporary
directory that is removed at the end. Every member started is stopped by PID."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Cluster, wait_for  # noqa: E402

EXTRA = {"raft.snapshot-threshold": 8, "raft.snapshot-trailing": 2}


def start(node, binary):
    harness.RAFTNODE = binary  # Node.start reads the module's binary
    node.start()


def adds(c, prefix, n, nodes=None):
    for i in range(n):
        c.ctl("project", "add", f"{prefix}{i:03d}", check=0, endpoints=c.endpoints(nodes) if nodes else None)


def agreed(c, what, nodes=None):
    rows = c.wait_converged(timeout=40, nodes=nodes)
    print(f"{what}: " + ", ".join(f"node {r['id']} index {r['applied_index']} hash {r['hash']}" for r in rows))


def main(old, new):
    with tempfile.TemporaryDirectory(prefix="raftnode-upgrade.") as root:
        c = Cluster(os.path.join(root, "c"), 3, extra=EXTRA)
        try:
            harness.RAFTNODE = old
            c.start()
            c.wait_leader()
            adds(c, "a", 20)
            agreed(c, "all on OLD")
            lead = c[c.leader_id()]
            f1, f2 = [c[i] for i in (1, 2, 3) if i != lead.id]
            assert f1.stop() == 0
            start(f1, new)
            adds(c, "b", 20)
            agreed(c, f"node {f1.id} on NEW (store migrated at open)")
            assert f2.stop() == 0
            adds(c, "c", 40)
            start(f2, new)
            agreed(c, f"node {f2.id} on NEW after an OLD leader's snapshot")
            assert "state restored from snapshot" in f2.log(), "no OLD image was restored on NEW"
            assert lead.stop() == 0
            c.wait_leader(timeout=30, among=[f1, f2])
            adds(c, "d", 40, nodes=[f1, f2])
            start(lead, old)
            refusal = "this binary reads versions"
            wait_for(lambda: refusal in lead.log(), 40, f"node {lead.id} on OLD to refuse the NEW snapshot")
            print(f"node {lead.id} on OLD refused the NEW snapshot (alive: {lead.alive()})")
            rc, _, _ = c.ctl("project", "add", "e000", endpoints=c.endpoints([f1, f2]))
            assert rc == 0, "the two NEW members stopped serving writes"
            if lead.alive():
                lead.stop()
            start(lead, old)
            wait_for(lambda: not lead.alive(), 30, f"node {lead.id} on OLD to refuse to start")
            print(f"node {lead.id} does not start again on OLD (exit status {lead.proc.returncode})")
            start(lead, new)
            agreed(c, f"node {lead.id} on NEW")
            rc, projects, _ = c.ctl("project", "list", endpoints=lead.api_addr)
            assert rc == 0 and len(projects) == 1 + 20 + 20 + 40 + 40 + 1, (rc, len(projects))
            print(f"upgrade_check: every step held ({len(projects)} projects on every member)")
        finally:
            c.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: upgrade_check.py OLD_RAFTNODE NEW_RAFTNODE")
    main(sys.argv[1], sys.argv[2])
