"""A slow Kylin is not flooded with pokes: Kylin runs a poke (`POST /api/broadcast`:
updateAllEpochs, one renew write per owned row) in the request's thread to the end even after
the member stopped waiting (raft.kylin.timeout-ms, 1 s here). With thousands of rows that takes
longer than the timeout, and pokes sent meanwhile queue behind it. After an unanswered poke the
member holds the next (docs/kylin.md, "The cycle"), so at most two run in that Kylin at once,
and the projects still end up held and run exactly on their owners."""
from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_http import value  # noqa: E402
from test_kylin_cluster import PROJECTS, owners, setup_projects, wait_agreement  # noqa: E402


def test_unanswered_poke_holds_the_next(kylin_cluster):
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    slow = own["Sales"]
    emu = kc.emus[slow]
    st, body = emu.post("/emu/slow-broadcast", {"ms": 6000})  # six timeouts per poke
    assert st == 200, body
    base = emu.report()["broadcasts"]
    # moves onto the slow node one at a time: each is claimed, recorded, then poked
    movers = [p for p in PROJECTS if own[p] != slow][:4]
    for p in movers:
        rc, out, err = kc.cluster.ctl("project", "move", p, str(slow), json_out=False)
        assert rc == 0, (out, err)
        wait_for(lambda: owners(kc)[p] == slow, 20, f"{p} moved to engine {slow}")
        wait_for(lambda: p in emu.report()["owner_check"] and emu.report()["owner_check"][p], 20,
                 f"{p} claimed by engine {slow}'s Kylin")
    rep = emu.report()
    assert rep["broadcasts_running_max"] <= 2, \
        f"{rep['broadcasts_running_max']} pokes ran at once in the slow Kylin: they queued"
    wait_for(lambda: value(kc.metrics(slow), "raftnode_kylin_pokes_held_total") >= 1, 30,
             "a poke held while the unanswered one still runs in Kylin")
    rep = emu.report()
    assert rep["broadcasts"] > base, rep  # the member did poke its Kylin
    assert rep["broadcasts_running_max"] <= 2, \
        f"{rep['broadcasts_running_max']} pokes ran at once in the slow Kylin: they queued"
    st, body = emu.post("/emu/slow-broadcast", {"ms": 0})
    assert st == 200, body
    wait_for(lambda: emu.report()["broadcasts_running"] == 0, 60, "the slow pokes to finish")
    wait_agreement(kc, 60, "agreement once the slow pokes ended")
