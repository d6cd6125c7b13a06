"""Recovery when members are lost for good (issue 15): raftnode --force-new-cluster on the
survivor of a lost quorum, new members joining it, and a removed member stopping itself."""
import os
import shutil
import socket
import struct

import msgpack

from harness import free_ports, wait_for

FORCE = "--force-new-cluster"


def member(c, node_id, node=None):
    st = c.status(node)
    for m in (st or {}).get("members", []):
        if m["id"] == node_id:
            return m
    return None


def exited(node, timeout):
    return wait_for(lambda: node.proc.poll() is not None, timeout, f"node {node.id} to exit") and node.proc.returncode


def api_call(node, method, args):
    """One request to NODE's API; the reply map."""
    body = msgpack.packb({"id": 1, "method": method, "args": args})
    with socket.create_connection(("127.0.0.1", node.api_port), timeout=5) as s:
        s.sendall(struct.pack(">I", len(body)) + body)
        head = b""
        while len(head) < 4:
            head += s.recv(4 - len(head))
        (n,) = struct.unpack(">I", head)
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            assert chunk, "connection closed mid-reply"
            data += chunk
    return msgpack.unpackb(data, raw=False)


def names(projects):
    return sorted(projects or {})


def test_two_disks_lost_survivor_forces_new_cluster(make_cluster):
    c = make_cluster(3).start()
    c.wait_leader()
    for i in range(12):
        c.ctl("project", "add", f"proj{i:02d}", check=0)
    c.wait_converged()
    survivor, lost = c[1], [c[2], c[3]]
    before = c.projects_on(survivor)
    assert {f"proj{i:02d}" for i in range(12)} <= set(before)

    # two members lose their disks for good; the survivor alone has no quorum
    for x in lost:
        x.kill()
        shutil.rmtree(x.dir)
    survivor.stop(timeout=30)

    survivor.start(FORCE)
    assert c.wait_leader(among=[survivor], timeout=30) == 1
    log = survivor.log()
    for x in lost:
        assert f"FORCE-NEW-CLUSTER: discarded member {x.id} at {x.raft_addr}" in log, log[-3000:]
    assert "becomes the ONLY voter" in log
    assert os.path.exists(os.path.join(survivor.dir, "force-new-cluster"))
    assert names(wait_for(lambda: c.projects_on(survivor), 15, "the survivor's projects")) == names(before)
    st = c.status(survivor)
    assert [(m["id"], m["role"]) for m in st["members"]] == [(1, "voter")]

    # running it again by mistake before anyone joined: nothing to do, it starts normally
    survivor.stop(timeout=30)
    survivor.start(FORCE)
    assert c.wait_leader(among=[survivor], timeout=30) == 1
    assert "FORCE-NEW-CLUSTER: nothing to do" in survivor.log()

    # two new members (new ids, empty data dirs) join through raft.join and become voters
    joiners = [c.add_joiner(4).start(), c.add_joiner(5).start()]
    for x in joiners:
        wait_for(lambda: (member(c, x.id, survivor) or {}).get("role") == "standby", 30, f"node {x.id} to join")
        # the other joiner's configuration change may still be in flight: 'busy' is retried
        def promoted(x=x):
            rc, out, err = c.ctl("member", "promote", x.id, endpoints=survivor.api_addr)
            assert rc == 0 or "(busy)" in err, err
            return rc == 0
        wait_for(promoted, 30, f"node {x.id}'s promotion to be accepted")
        wait_for(lambda: (member(c, x.id, survivor) or {}).get("role") == "voter", 30, f"node {x.id} to be a voter")
    everyone = [survivor] + joiners
    rows = c.wait_converged(timeout=30, nodes=everyone)
    assert {r["id"] for r in rows} == {1, 4, 5}
    for x in joiners:
        assert names(c.projects_on(x)) == names(before)

    # writes work, and reach every member
    c.ctl("project", "add", "after_recovery", endpoints=c.endpoints(everyone), check=0)
    c.wait_converged(timeout=30, nodes=everyone)
    for x in everyone:
        assert "after_recovery" in c.projects_on(x)

    # running it again once members joined would throw them out: refused, nothing changed
    survivor.stop(timeout=30)
    survivor.start(FORCE)
    assert exited(survivor, 30) == 2
    assert "--force-new-cluster refused: this member already forced a new cluster" in survivor.log()
    survivor.start()
    c.wait_leader(among=everyone, timeout=30)
    rows = c.wait_converged(timeout=30, nodes=everyone)
    assert {r["id"] for r in rows} == {1, 4, 5}


def test_discarded_member_coming_back_with_its_data_stops_itself(make_cluster):
    """The runbook says the discarded members must never come back with their data. If one does
    anyway (alone: the old majority is gone), the new cluster's leader refuses its votes and
    tells it that it was removed: it stops with exit status 3, and the new cluster is untouched."""
    c = make_cluster(3).start()
    c.wait_leader()
    for i in range(5):
        c.ctl("project", "add", f"proj{i}", check=0)
    c.wait_converged()
    survivor, returner, gone = c[1], c[2], c[3]
    returner.kill()
    gone.kill()
    shutil.rmtree(gone.dir)
    survivor.stop(timeout=30)
    survivor.start(FORCE)
    assert c.wait_leader(among=[survivor], timeout=30) == 1
    before = c.projects_on(survivor)
    c.ctl("project", "add", "after_recovery", endpoints=survivor.api_addr, check=0)

    returner.start()  # old data, old configuration {1, 2, 3}
    assert exited(returner, 60) == 3
    assert "REMOVED: member 2 was removed from the cluster" in returner.log()
    assert c.leader_id(among=[survivor]) == 1
    after = c.projects_on(survivor)
    assert set(before) | {"after_recovery"} == set(after)


def test_force_new_cluster_refuses_empty_data_dir(make_cluster):
    c = make_cluster(1)
    n = c[1]
    n.start(FORCE)
    assert exited(n, 30) == 2
    assert "--force-new-cluster refused: the data directory" in n.log()
    assert not os.path.exists(os.path.join(n.dir, "raft"))


def test_removed_members_stop_themselves(make_cluster):
    c = make_cluster(3).start()
    leader = c.wait_leader()
    c.ctl("project", "add", "p", check=0)
    c.wait_converged()
    follower = next(x for x in c.nodes.values() if x.id != leader)

    # a follower never receives the configuration that removes it: it asks the leader
    c.ctl("member", "remove", follower.id, check=0)
    assert exited(follower, 60) == 3
    assert f"REMOVED: member {follower.id} was removed from the cluster" in follower.log()
    # and it does not come back on its old data
    follower.start()
    assert exited(follower, 30) == 3
    assert "does not start again on its old data" in follower.log()

    # the two others go on (raftnode refuses to remove the leader itself: leader transfer first)
    rest = [x for x in c.nodes.values() if x.alive()]
    c.ctl("project", "add", "q", endpoints=c.endpoints(rest), check=0)
    c.wait_converged(nodes=rest)


def test_member_check_tells_only_removed_members(make_cluster):
    """The leader's rule (removal.h): members, members it may not know yet, and askers with a
    newer term are never told they were removed."""
    c = make_cluster(3).start()
    leader = c[c.wait_leader()]
    st = api_call(leader, "status", {})
    assert st["status"] == 0
    term = st["result"]["term"]
    ok = api_call(leader, "member.check", {"id": 2, "term": term, "listed_index": 0})
    assert ok["status"] == 0 and ok["result"]["member"] is True
    removed = api_call(leader, "member.check", {"id": 9, "term": term, "listed_index": 0})
    assert removed["status"] == 1 and removed["code"] == "removed", removed
    newer = api_call(leader, "member.check", {"id": 9, "term": term, "listed_index": 10**9})
    assert newer["status"] == 0 and newer["result"]["member"] is False
    higher_term = api_call(leader, "member.check", {"id": 9, "term": term + 100, "listed_index": 0})
    assert higher_term["status"] == 0
    bad = api_call(leader, "member.check", {"id": 9})
    assert bad["status"] == 2
    # a follower redirects to the leader
    follower = next(x for x in c.nodes.values() if x.id != leader.id)
    redirect = wait_for(lambda: (lambda r: r if r["code"] == "not_leader" else None)(
        api_call(follower, "member.check", {"id": 9, "term": term, "listed_index": 0})), 15, "a redirect")
    assert redirect["leader_api"] == leader.api_addr


def test_cut_off_member_is_not_mistaken_for_removed(make_cluster):
    """A member that hears from no leader (here: restarted on a raft port nobody sends to, so the
    leader's messages never reach it) asks the leader, is told it is still a member, and keeps
    running; back on its address it catches up."""
    c = make_cluster(3).start()
    leader = c.wait_leader()
    cut = next(x for x in c.nodes.values() if x.id != leader)
    cut.stop()
    with open(cut.conf_path) as f:
        conf = f.read()
    (other_port,) = free_ports(1)
    # bootstrapped already: raft.join stands in for raft.initial-cluster, whose address would differ
    moved = [f"raft.node.address=127.0.0.1:{other_port}" if line.startswith("raft.node.address=") else line
             for line in conf.splitlines() if not line.startswith("raft.initial-cluster=")]
    moved.append(f"raft.join={c[leader].api_addr}")
    with open(cut.conf_path, "w") as f:
        f.write("\n".join(moved) + "\n")
    cut.start()
    c.ctl("project", "add", "while_cut_off", endpoints=c[leader].api_addr, check=0)
    wait_for(lambda: "member.check: still a member" in cut.log(), 60, "the cut-off member to ask the leader")
    assert cut.alive()
    assert "REMOVED" not in cut.log()
    cut.stop()
    with open(cut.conf_path, "w") as f:
        f.write(conf)
    cut.start()
    c.wait_converged(timeout=30)
    assert "while_cut_off" in c.projects_on(cut)
