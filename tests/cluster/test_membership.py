"""Membership: join, promote, demote, remove; catching up by snapshot install."""
from harness import wait_for


def member(c, node_id):
    st = c.status()
    if not st:
        return None
    for m in st["members"]:
        if m["id"] == node_id:
            return m
    return None


def test_join_promote_demote_remove(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    c.ctl("project", "add", "before_join", check=0)
    n4 = c.add_joiner(4).start()
    m = wait_for(lambda: (lambda m: m if m and m["role"] == "standby" and m["reachable"] else None)(member(c, 4)),
                 15, "node 4 to join as standby")
    assert m["address"] == n4.raft_addr
    c.wait_converged()
    c.ctl("member", "promote", 4, check=0)
    wait_for(lambda: (member(c, 4) or {}).get("role") == "voter", 10, "node 4 to become a voter")
    # unknown ids and repeated promotions get plain refusals
    rc, _, err = c.ctl("member", "promote", 42)
    assert rc == 1 and "42" in err
    rc, _, err = c.ctl("member", "promote", 4)
    assert rc == 1 and "already" in err
    c.ctl("member", "demote", 4, check=0)
    wait_for(lambda: (member(c, 4) or {}).get("role") == "standby", 10, "node 4 to become a standby")
    c.ctl("member", "remove", 4, check=0)
    wait_for(lambda: member(c, 4) is None and c.status() is not None, 10, "node 4 to leave the configuration")
    c.ctl("project", "add", "after_remove", check=0)


def test_member_joining_after_compaction_gets_snapshot(make_cluster):
    extra = {"raft.snapshot-threshold": 8, "raft.snapshot-trailing": 2}
    c = make_cluster(3, extra=extra).start()
    c.wait_leader()
    for i in range(60):
        c.ctl("project", "add", f"p{i:03d}", check=0)
    n4 = c.add_joiner(4, extra=extra).start()
    wait_for(lambda: (member(c, 4) or {}).get("role") == "standby", 15, "node 4 to join")
    rows = c.wait_converged(timeout=20)
    assert {r["id"] for r in rows} == {1, 2, 3, 4}
    assert "snapshot" in n4.log()
    rc, projects, _ = c.ctl("project", "list", endpoints=n4.api_addr)
    assert rc == 0 and len(projects) == 61
