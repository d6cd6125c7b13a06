"""Autopilot (docs/operations-autopilot.md): a voter killed for good is replaced by a caught-up
standby and demoted to spare; a demoted voter that comes back is re-admitted as a standby and
replaces the next dead voter; with cleanup it is removed; without a standby nothing changes;
`raftctl autopilot status` shows it all from the leader."""
import urllib.request

from harness import free_ports, wait_for

# Short timers so a test takes seconds; the rules are the same at the defaults.
FAST = {"raft.autopilot.dead-member-timeout-ms": 3000}


def roles(c, among=None):
    """{id: role} as a live member sees the configuration, or None."""
    for x in among or [x for x in c.nodes.values() if x.alive()]:
        st = c.status(x)
        if st:
            return {m["id"]: m["role"] for m in st["members"]}
    return None


def autopilot(c, endpoints=None):
    rc, out, _ = c.ctl("autopilot", "status", endpoints=endpoints)
    return out if rc == 0 else None


def follower_voter(c, leader):
    return next(x for x in c.nodes.values() if x.id != leader and x.role == "voter")


def metrics(port):
    """{name: value} of the unlabelled samples of GET /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if line and not line.startswith("#") and "{" not in parts[0] and len(parts) == 2:
            out[parts[0]] = float(parts[1])
    return out


def test_dead_voter_replaced_by_standby(make_cluster):
    ports = free_ports(4)
    c = make_cluster(4, standby=(4,), extra=FAST,
                     node_extra={i: {"raft.http.address": f"127.0.0.1:{ports[i - 1]}"} for i in range(1, 5)}).start()
    leader = c.wait_leader()
    c.ctl("project", "add", "before", check=0)
    # healthy at first: 3 voters, 1 failure tolerated, the standby caught up and stable
    ap = wait_for(lambda: (lambda a: a if a and a["healthy"] and all(m["stable_ms"] is not None for m in a["members"])
                           else None)(autopilot(c)), 30, "autopilot status to be healthy and stable")
    assert ap["leader_id"] == leader and ap["voters"] == 3 and ap["failure_tolerance"] == 1
    assert ap["target_voters"] == 3 and ap["last_action"] is None
    assert {m["id"]: m["role"] for m in ap["members"]} == {1: "voter", 2: "voter", 3: "voter", 4: "standby"}

    victim = follower_voter(c, leader)
    victim.kill()  # kill -9, for good
    want = {x: "voter" for x in (1, 2, 3, 4) if x != victim.id}
    want[victim.id] = "spare"
    wait_for(lambda: roles(c) == want, 60, f"member 4 promoted and member {victim.id} demoted to spare")
    c.ctl("project", "add", "after", check=0)

    ap = wait_for(lambda: (lambda a: a if a and a["healthy"] and not a["change_pending"] else None)(autopilot(c)),
                  30, "autopilot status healthy again")
    dead = next(m for m in ap["members"] if m["id"] == victim.id)
    assert dead["role"] == "spare" and dead["health"] == "dead" and not dead["healthy"]
    assert dead["last_contact_ms"] >= 3000
    assert ap["voters"] == 3 and ap["healthy_voters"] == 3 and ap["failure_tolerance"] == 1
    # the dead voter is demoted first, then the standby promoted (docs/operations-autopilot.md)
    assert ap["actions"] >= 2 and ap["last_action"]["action"] == "promote"
    assert ap["last_action"]["id"] == 4 and ap["last_action"]["result"] == "done"
    lead_log = c[ap["leader_id"]].log()
    demoted = lead_log.find(f"autopilot: demote to spare member {victim.id}")
    promoted = lead_log.find("autopilot: promote to voter member 4")
    assert 0 <= demoted < promoted, lead_log[-3000:]

    # the leader's metrics (docs/observability.md); a follower has none of them
    m = metrics(ports[ap["leader_id"] - 1])
    assert m["raftnode_autopilot_healthy"] == 1 and m["raftnode_autopilot_failure_tolerance"] == 1
    assert m["raftnode_autopilot_healthy_voters"] == 3 and m["raftnode_autopilot_actions_total"] >= 2
    follower = next(x for x in c.nodes.values() if x.alive() and x.id != ap["leader_id"])
    assert not any(k.startswith("raftnode_autopilot_") for k in metrics(ports[follower.id - 1]))

    # the text form, asked of a follower (redirected to the leader)
    other = next(x for x in c.nodes.values() if x.alive() and x.id != ap["leader_id"])
    rc, text, err = c.ctl("autopilot", "status", endpoints=other.api_addr, json_out=False)
    assert rc == 0, err
    assert "Healthy:            true" in text and "Failure tolerance:  1" in text
    assert "promote member 4" in text
    row = next(line.split() for line in text.splitlines() if line.split()[:1] == [str(victim.id)])
    assert row[2] == "spare" and row[3] == "dead"

    # the replacement restored the tolerance: one more voter may fail and writes go on
    second = next(x for x in c.nodes.values() if x.alive() and x.id not in (ap["leader_id"], 4))
    second.kill()
    wait_for(lambda: c.ctl("project", "add", "after_second", timeout_ms=2000)[0] == 0, 30,
             "a write with two of three voters")


def wait_stable(c):
    return wait_for(lambda: (lambda a: a if a and a["healthy"] and all(m["stable_ms"] is not None
                                                                        for m in a["members"]) else None)(
        autopilot(c)), 60, "autopilot status to be healthy and stable")


def test_returning_member_readmitted_then_replaces_next_dead_voter(make_cluster):
    """A voter down longer than the dead timeout is demoted and the standby promoted; restarted,
    it still believes it is a voter and campaigns; the leader hears it, makes it a standby, it
    catches up, and when another voter dies for good it is promoted: 3 healthy voters again."""
    c = make_cluster(4, standby=(4,), extra=FAST).start()
    leader = c.wait_leader()
    c.ctl("project", "add", "before", check=0)
    wait_stable(c)
    victim = follower_voter(c, leader)
    victim.kill()  # kill -9; restarted below
    want = {x: "voter" for x in (1, 2, 3, 4) if x != victim.id}
    want[victim.id] = "spare"
    wait_for(lambda: roles(c) == want, 90, f"member 4 promoted and member {victim.id} demoted to spare")
    for i in range(20):  # entries it misses while away
        c.ctl("project", "add", f"while_away_{i}", check=0)

    victim.start()
    want[victim.id] = "standby"
    wait_for(lambda: roles(c) == want, 90, f"member {victim.id} re-admitted as a standby")
    ap = autopilot(c)
    assert ap is not None
    lead_log = c[ap["leader_id"]].log()
    assert f"autopilot: re-admit as standby member {victim.id} (a demoted member is back" in lead_log, lead_log[-3000:]
    assert ap["last_action"]["action"] in ("readmit",) and ap["last_action"]["id"] == victim.id, ap["last_action"]

    # it catches up: its applied index reaches the leader's
    def caught_up():
        lid = c.leader_id()
        rows = {r["id"]: r for r in c.hashes() if r["reachable"]}
        return (lid in rows and victim.id in rows and
                rows[victim.id]["applied_index"] >= rows[lid]["applied_index"] and rows)
    wait_for(caught_up, 90, f"member {victim.id} to reach the leader's applied index")
    projects = c.projects_on(victim)
    assert projects is not None and "while_away_19" in projects

    # another voter dies for good: the returned member replaces it
    ap = wait_stable(c)
    second = next(x for x in c.nodes.values() if x.alive() and x.id not in (ap["leader_id"], victim.id))
    second.kill()
    want = {x: "voter" for x in (1, 2, 3, 4) if x != second.id}
    want[second.id] = "spare"
    wait_for(lambda: roles(c) == want, 120, f"member {victim.id} promoted and member {second.id} demoted")
    ap = wait_for(lambda: (lambda a: a if a and a["healthy"] and not a["change_pending"] else None)(autopilot(c)),
                  60, "autopilot status healthy again")
    assert ap["voters"] == 3 and ap["healthy_voters"] == 3 and ap["failure_tolerance"] == 1
    back = next(m for m in ap["members"] if m["id"] == victim.id)
    assert back["role"] == "voter" and back["healthy"]
    c.ctl("project", "add", "whole_again", check=0)


def test_returning_member_reaches_a_leader_it_knew_as_standby(make_cluster):
    """The member promoted in the returning member's place leads: the returning member's old
    configuration has it as a standby, and libraft sends vote requests to voters only; raftnode
    copies pre-votes to the non-voters (raftnode/raft_fix.h, "Eighth"), so this leader hears it."""
    c = make_cluster(4, standby=(4,), extra=FAST).start()
    leader = c.wait_leader()
    wait_stable(c)
    victim = follower_voter(c, leader)
    victim.kill()
    want = {x: "voter" for x in (1, 2, 3, 4) if x != victim.id}
    want[victim.id] = "spare"
    wait_for(lambda: roles(c) == want, 90, f"member 4 promoted and member {victim.id} demoted to spare")
    if c.leader_id() != 4:
        c.ctl("leader", "transfer", "4", check=0)
    wait_for(lambda: c.leader_id() == 4, 60, "member 4 to lead")

    victim.start()
    want[victim.id] = "standby"
    wait_for(lambda: roles(c) == want, 90, f"member {victim.id} re-admitted as a standby by leader 4")
    assert c.leader_id() == 4
    assert f"autopilot: re-admit as standby member {victim.id}" in c[4].log(), c[4].log()[-3000:]
    c.wait_converged(timeout=90)


def test_cleanup_removes_dead_member(make_cluster):
    extra = dict(FAST, **{"raft.autopilot.cleanup-dead-members": "true",
                          "raft.autopilot.cleanup-after-ms": 6000})
    c = make_cluster(4, standby=(4,), extra=extra).start()
    leader = c.wait_leader()
    wait_for(lambda: (lambda a: a and a["healthy"] and all(m["stable_ms"] is not None for m in a["members"]))(
        autopilot(c)), 30, "autopilot status to be healthy and stable")
    victim = follower_voter(c, leader)
    victim.kill()
    want = {x: "voter" for x in (1, 2, 3, 4) if x != victim.id}
    wait_for(lambda: roles(c) == want, 60, f"member 4 promoted and member {victim.id} removed")
    c.ctl("project", "add", "after", check=0)
    lead_log = c[c.wait_leader()].log()
    assert f"autopilot: remove member {victim.id}" in lead_log


def test_no_standby_no_change(make_cluster):
    """Without a standby a dead voter stays a voter: demoting it would not restore a voter,
    and removing it is cleanup's job (off by default)."""
    c = make_cluster(3, extra=FAST).start()
    leader = c.wait_leader()
    victim = follower_voter(c, leader)
    victim.kill()
    ap = wait_for(lambda: (lambda a: a if a and any(m["id"] == victim.id and m["health"] == "dead"
                                                   for m in a["members"]) else None)(autopilot(c)),
                  30, f"member {victim.id} to count as dead")
    assert not ap["healthy"] and ap["failure_tolerance"] == 0 and ap["voters"] == 3
    assert ap["healthy_voters"] == 2
    # a few more leader ticks: still no action
    for _ in range(5):
        ap = autopilot(c)
        assert ap is not None and ap["actions"] == 0 and ap["last_action"] is None
    assert roles(c) == {1: "voter", 2: "voter", 3: "voter"}
    c.ctl("project", "add", "still_writes", check=0)


def test_config_rejects_cleanup_before_dead(make_cluster):
    c = make_cluster(1, extra={"raft.autopilot.dead-member-timeout-ms": 5000,
                               "raft.autopilot.cleanup-after-ms": 2000})
    n = c[1].start()
    wait_for(lambda: not n.alive(), 20, "raftnode to refuse the configuration")
    assert n.proc.returncode != 0
    assert "raft.autopilot.cleanup-after-ms" in n.log() and "2000" in n.log()
