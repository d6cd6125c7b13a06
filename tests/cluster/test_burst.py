"""Load held (issue 13): a burst of 10,000 pipelined project.add on one connection to the
leader of a 3-member cluster, with its engines registered (so the scheduler places the new
projects meanwhile), costs no leadership: every add is acknowledged ok, no member's term
moves (any election would raise it) and the leader stays the same. Correctness only: the
loop's longest stall during the burst is printed (the bench's burst phase reports it), not
asserted."""
import urllib.request

from harness import free_ports, wait_for
from pipeline import api_many

BURST = 10000


def loop_busy_max(port):
    """raftnode_loop_busy_max_seconds (the longest loop turn since start) of the member
    serving /metrics on PORT."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("raftnode_loop_busy_max_seconds "):
                return float(line.split()[1])
    raise AssertionError("raftnode_loop_busy_max_seconds missing from /metrics")


def terms(c):
    """{member id: (term, leader id)} of every member, or None while one does not answer."""
    out = {}
    for i in (1, 2, 3):
        st = c.status(c[i])
        if not st:
            return None
        out[i] = (st["term"], st["leader_id"])
    return out


def test_burst_of_10000_pipelined_adds_keeps_the_leader(make_cluster):
    ports = free_ports(3)
    c = make_cluster(3, node_extra={i + 1: {"raft.http.address": f"127.0.0.1:{ports[i]}"} for i in range(3)})
    c.start()
    lid = c.wait_leader()
    wait_for(lambda: len(c.engines()) == 3, 30, "3 engines registered")
    before = wait_for(lambda: terms(c), 30, "every member's status")
    assert len(set(before.values())) == 1, f"members disagree before the burst: {before}"

    names = [f"burst_{i:05d}" for i in range(BURST)]
    replies = api_many(c[lid].api_addr, "project.add", [{"name": n} for n in names], timeout=600)
    bad = [r for r in replies if r["status"] != 0]
    assert not bad, f"{len(bad)} of {BURST} adds failed, first: {bad[0]}"

    after = wait_for(lambda: terms(c), 30, "every member's status")
    assert after == before, f"a leader change during the burst: before {before}, after {after}"
    rc, listed, err = c.ctl("--consistent", "project", "list", timeout_ms=30000)
    assert rc == 0, err
    assert {p["name"] for p in listed} >= set(names)
    stalls = ", ".join(f"{i}: {loop_busy_max(ports[i - 1]) * 1000:.1f} ms" for i in (1, 2, 3))
    print(f"longest loop turn since start, by member (leader {lid}): {stalls}")
