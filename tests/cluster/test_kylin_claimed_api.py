"""The kylin.claimed API method and the recorded claims it writes (docs/kylin.md, "Recorded
claims"), without Kylin nodes: the leader records a claim only for the project's current owner
and epoch (a stale record is counted, not applied), every member then shows it (project show,
kylin status, on members without raft.kylin.url too), a move clears it, followers redirect."""
import os
import sys

from harness import wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from apiclient import Conn  # noqa: E402


def call(node, method, args):
    c = Conn(node.api_addr, timeout=5)
    try:
        (_, _, reply), = c.calls([(method, args)])
    finally:
        c.close()
    return reply


def shown(c, node, project):
    rc, show, err = c.ctl("project", "show", project, endpoints=node.api_addr)
    assert rc == 0, err
    return show["kylin_identity"], show["kylin_epoch_id"]


def test_claims_recorded_for_the_current_decision_only(make_cluster):
    c = make_cluster(3).start()
    leader = c[c.wait_leader()]
    c.wait_engines_alive()
    c.ctl("project", "add", "p1", check=0)
    owner, epoch = wait_for(lambda: (c.projects_on(leader) or {}).get("p1", (None, 0))[0] is not None
                            and c.projects_on(leader)["p1"], 15, "p1 placed")
    other = next(i for i in c.nodes if i != owner)
    prefix = c.engines()[owner]["identity"].split("|")[0]
    ident = f"{prefix}|1700000000000"

    rec = {"project": "p1", "owner": owner, "epoch": epoch, "identity": ident, "epoch_id": 7}
    stale = dict(rec, owner=other, identity="10.9.9.9:7070|1", epoch_id=9)
    older = dict(rec, epoch=epoch - 1, epoch_id=8)
    r = call(leader, "kylin.claimed", {"claims": [rec, stale, older]})
    assert r["status"] == 0, r
    assert (r["result"]["recorded"], r["result"]["stale"], r["result"]["refused"]) == (1, 2, 0), r
    c.wait_converged()
    for x in c.nodes.values():
        assert shown(c, x, "p1") == (ident, 7)
        rc, show, err = c.ctl("project", "show", "p1", endpoints=x.api_addr)
        assert rc == 0 and show["kylin_listed"] is False, (show, err)  # raftctl's, not Kylin's
        rc, rows, err = c.ctl("kylin", "status", endpoints=x.api_addr)
        assert rc == 0, err  # members without a Kylin answer too
        row = next(r for r in rows if r["project"] == "p1")
        assert (row["kylin_identity"], row["epoch_id"], row["agrees"]) == (ident, 7, True), row
        assert row["row_identity"] is None and row["row_epoch_id"] is None
    rc, text, err = c.ctl("kylin", "status", json_out=False)
    assert rc == 0 and "kylin: NONE" in text and ident in text, (text, err)

    # a follower redirects to the leader; bad records are refused before anything is proposed
    follower = next(x for x in c.nodes.values() if x.id != leader.id)
    r = call(follower, "kylin.claimed", {"claims": [rec]})
    assert r["status"] == 3 and r["code"] == "not_leader" and r["leader_api"] == leader.api_addr, r
    for bad in ({"claims": []}, {"claims": [dict(rec, identity="")]}, {"claims": [dict(rec, owner=0)]},
                {"claims": [{"project": "p1"}]}, {},
                {"id": rec["owner"] + 1, "claims": [rec]}, {"id": 0, "claims": [rec]}):  # not the sender's
        r = call(leader, "kylin.claimed", bad)
        assert r["status"] == 2 and r["code"] == "bad_request", (bad, r)
    assert shown(c, leader, "p1") == (ident, 7)

    # a move clears the claim everywhere; the old owner's late record is stale
    c.ctl("project", "move", "p1", other, json_out=False, check=0)
    c.wait_converged()
    for x in c.nodes.values():
        assert shown(c, x, "p1") == (None, None)
    r = call(leader, "kylin.claimed", {"claims": [dict(rec, epoch_id=10)]})
    assert r["status"] == 0 and r["result"]["stale"] == 1, r
    assert shown(c, leader, "p1") == (None, None)
