"""Regression test of the first bug the fault tests found (partition-leader, seed 303): project.show
ignored "consistent": true, so `raftctl --consistent project show` was answered by whichever
member raftctl asked first, from its local state, and raftctl then replaced even a leader's
answer with the owner's member's (possibly older) one. A read that began after a move was
acknowledged returned the epoch before the move."""
import pytest

from apiclient import Conn
from harness import Cluster, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "c", 3)
    yield c
    c.close()
    reports = c.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def test_consistent_project_show_is_served_by_the_leader_after_a_barrier(cluster):
    c = cluster.start()
    lid = c.wait_leader()
    c.ctl("project", "add", "pp", check=0)
    follower = next(x for x in c.nodes.values() if x.id != lid)
    # the follower itself answers the plain read once it applied the placement and the owner's
    # heartbeats (until then: KE-010021002)
    wait_for(lambda: Conn(follower.api_addr, timeout=2).calls([("project.show", {"name": "pp"})])[0][2]["status"] == 0,
             20, "pp placed, as the follower sees it")
    (_, _, r), = Conn(follower.api_addr, timeout=2).calls([("project.show", {"name": "pp", "consistent": True})])
    assert r["status"] == 3 and r["code"] == "not_leader", r
    (_, _, r), = Conn(c[lid].api_addr, timeout=2).calls([("project.show", {"name": "pp", "consistent": True})])
    assert r["status"] == 0 and r["result"]["name"] == "pp", r
    # raftctl --consistent through a follower endpoint first: redirected, same epoch as the leader's list
    rc, out, err = c.ctl("--consistent", "project", "show", "pp", endpoints=c.endpoints([follower, c[lid]]))
    assert rc == 0, err
    rc, lst, err = c.ctl("--consistent", "project", "list")
    assert rc == 0, err
    assert out["epoch"] == next(p["epoch"] for p in lst if p["name"] == "pp")
