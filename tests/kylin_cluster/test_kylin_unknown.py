"""A project that exists only in the quorum (raftctl's, Kylin's metadata does not have it):
Kylin refuses every POST /api/epoch that names it (PROJECT_NOT_EXIST, checked for every name
before any claim), so batched with other projects it used to keep them unclaimed too. Its
member splits refused batches, claims the others, leaves the unknown project out for a while
and says why in `raftctl kylin status` (docs/kylin.md, "Projects Kylin does not know")."""
from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_kylin_cluster import (PROJECTS, add_projects, assert_idle, epoch_row, owners,  # noqa: E402
                                reports, wait_agreement)


def test_unknown_project_does_not_block_its_batch(kylin_cluster):
    kc = kylin_cluster()
    e = kc.emus[1]
    for name in PROJECTS:
        st, body = e.post("/emu/projects", {"name": name})
        assert st == 200, body
    # one add: the projects are placed together, so `manual`'s engine claims it together
    # with the known projects it got
    add_projects(kc, ["manual"] + PROJECTS)
    wait_agreement(kc, 30, "the known projects claimed despite `manual` (unknown to Kylin)")
    # every engine reclaims all its projects at once after a person blanked the table (the
    # previous binary sent `manual` in that batch again and Kylin refused all of it)
    kc.db.query(f"UPDATE {kc.prefix}_epoch SET current_epoch_owner = '' WHERE epoch_target <> '_global'")
    wait_agreement(kc, 30, "the blanked rows claimed again, `manual`'s batch included")
    assert epoch_row(kc, "manual") is None  # Kylin never claimed it
    owner = owners(kc)["manual"]
    assert owner is not None
    # its member says why, in JSON and in the table
    def noted():
        rc, out, err = kc.cluster.ctl("kylin", "status", endpoints=kc.cluster[owner].api_addr)
        assert rc == 0, err
        return {r["project"]: r for r in out}["manual"]["note"]
    note = wait_for(noted, 10, "the note on `manual` in kylin status")
    assert "Kylin does not know this project" in note and 'project "manual"' in note, note
    rc, text, err = kc.cluster.ctl("kylin", "status", json_out=False, endpoints=kc.cluster[owner].api_addr)
    assert rc == 0 and "note: manual: Kylin does not know this project" in text, (text, err)
    # (whether a batch was split depends on whether `manual`'s first claim shared a batch:
    # once noted it is left out, so the blanked rows above are claimed without it)
    assert "does not know project manual" in kc.cluster[owner].log()
    # the known projects' rows are left alone afterwards: `manual` is tried again only every
    # 30 s, and a refused claim writes nothing
    assert_idle(kc, PROJECTS)
    assert all(r["owner_check"].get("manual") is not True for r in reports(kc).values())
    # raft.kylin.follow-projects is on by default (nothing set here): `manual` stays (Kylin
    # never listed it), the Kylin projects are marked as listed by Kylin
    assert all("projects follow Kylin's metadata" in kc.cluster[i].log() for i in (1, 2, 3))
    assert "manual" in owners(kc)
