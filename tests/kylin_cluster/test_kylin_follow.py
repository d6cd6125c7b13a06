"""Projects follow Kylin (issue 10 item 4; docs/kylin.md "Projects follow Kylin"), with
raft.kylin.follow-projects on: a project created in Kylin (the emulator's POST /emu/projects,
Kylin's SQL and encoding) is added by the leader and claimed by its quorum owner's Kylin
within the bound; one dropped in Kylin is removed; a project Kylin never listed (raftctl's)
stays; names equal ignoring case are refused and never added; a later-line schema (job-lock
tables) is refused with an ERROR in the member log while the member keeps running. After
every step checkEpochOwner holds on exactly the owner's Kylin, and an idle cluster writes no
epoch row."""
import time

from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_kylin_cluster import assert_idle, owners, wait_agreement  # noqa: E402

FOLLOW = {"raft.kylin.follow-projects": "true"}
# repair-ms is 1000 in these clusters: one period to list and add, then the claim round;
# the bound leaves room for a loaded 2-core machine (the times taken are printed)
BOUND_S = 10


def names(kc):
    return set(owners(kc))


def member_logs(kc):
    return "".join(n.log() for n in kc.cluster.nodes.values())


def kylin_call(kc, method, path, body=None):
    """One metadata change through emulator 1, retried while Kylin answers that it is
    recovering (the _global row moving to the quorum's choice right then)."""
    last = [None]

    def once():
        st, reply = kc.emus[1].request(method, path, body)
        last[0] = reply
        return st == 200
    wait_for(once, BOUND_S, f"{method} {path}: {last[0]}", interval=0.5)


def test_projects_follow_kylin(kylin_cluster):
    kc = kylin_cluster(extra=FOLLOW)
    created = ["Sales", "Ops", "Web"]
    t0 = time.monotonic()
    for name in created:
        kylin_call(kc, "POST", "/emu/projects", {"name": name})
    wait_for(lambda: set(created) <= names(kc), BOUND_S, "projects created in Kylin added to the quorum",
             interval=0.1)
    added_s = time.monotonic() - t0  # from the first create
    wait_agreement(kc, BOUND_S, "projects created in Kylin added and claimed by their owners", projects=created)
    claimed_s = time.monotonic() - t0
    assert_idle(kc, created)

    # names are unique ignoring case: raftctl's add of a case-twin is refused, with the name
    # it collides with ...
    rc, _, err = kc.cluster.ctl("project", "add", "sales", json_out=False)
    assert rc != 0 and "project 'sales' already exists as 'Sales' (names are unique ignoring case)" in err, err
    # ... a Kylin project whose name is a case-twin of a quorum one is never added (`manual`
    # exists only in the quorum: a raftctl project of a setup without Kylin, kept here only
    # for this rule and the removal rule below) ...
    kc.cluster.ctl("project", "add", "manual", json_out=False, check=0)
    kylin_call(kc, "POST", "/emu/projects", {"name": "MANUAL"})
    # ... and neither of two Kylin rows equal ignoring case (written behind Kylin's back, as
    # Kylin itself refuses the second: NProjectManager.createProject) is added
    for twin in ("Promo", "PROMO"):
        kc.db.query(f"INSERT INTO {kc.prefix} (META_TABLE_KEY, META_TABLE_CONTENT, META_TABLE_TS, META_TABLE_MVCC) "
                    f"VALUES (%s, %s, 0, 0)", (f"/_global/project/{twin}.json", f'{{"name": "{twin}"}}'.encode()))
    wait_for(lambda: "Kylin project rows have names equal ignoring case" in member_logs(kc), BOUND_S,
             "the clash of Promo and PROMO reported by the leader")

    # dropped in Kylin -> removed; a project Kylin never listed stays
    kylin_call(kc, "DELETE", "/emu/projects/Ops")
    t0 = time.monotonic()
    wait_for(lambda: "Ops" not in names(kc), BOUND_S, "Ops removed after its drop in Kylin", interval=0.1)
    dropped_s = time.monotonic() - t0
    kept = ["Sales", "Web"]
    assert_idle(kc, kept)  # several more periods of listing: nothing else changes either
    assert names(kc) == {"_global", "manual", "Sales", "Web"}, names(kc)
    # where each came from (the replicated projects.kylin_listed), in both outputs
    for name, listed in (("Sales", True), ("manual", False)):
        rc, show, err = kc.cluster.ctl("project", "show", name)
        assert rc == 0 and show["kylin_listed"] is listed, (show, err)
        rc, text, err = kc.cluster.ctl("project", "show", name, json_out=False)
        assert rc == 0 and f"source: {'kylin' if listed else 'operator'}\n" in text, (text, err)
    log = member_logs(kc)
    assert "project Sales exists in Kylin: adding it" in log
    assert "project Ops was dropped in Kylin: removing it" in log
    for never in ("MANUAL", "Promo", "PROMO"):
        assert f"project {never} exists in Kylin" not in log
    print(f"created in Kylin -> in the quorum {added_s:.1f} s, claimed by the owners {claimed_s:.1f} s; "
          f"dropped -> removed {dropped_s:.1f} s (repair period 1 s)")


def test_later_schema_refused(kylin_cluster, db, prefix):
    # the later line's job-lock table next to its <identifier>_project (emulator --schema later),
    # there before the members plan their reads; owned by Kylin's database user, as Kylin's
    # tables are (information_schema lists only the tables a user may use)
    db.query(f"CREATE TABLE {prefix}_job_lock (lock_id varchar(255) PRIMARY KEY, lock_node varchar(50), "
             f"lock_expire_time bigint)")
    if "postgres" in type(db).__name__.lower():
        db.query(f"ALTER TABLE {prefix}_job_lock OWNER TO kylin")
    kc = kylin_cluster(extra=FOLLOW, schema="later")
    kylin_call(kc, "POST", "/emu/projects", {"name": "L1"})

    def refused():
        return any(f"table {prefix}_job_lock found" in n.log() and "projects do not follow Kylin" in n.log()
                   for n in kc.cluster.nodes.values())
    try:
        wait_for(refused, BOUND_S, "the later schema refused in a member log")
    except AssertionError as e:
        logs = "\n".join(f"--- node {x.id} ---\n" + x.log()[-3000:] for x in kc.cluster.nodes.values())
        raise AssertionError(f"{e}\n{logs}") from None
    assert "L1" not in names(kc)
    # the member keeps running: raftctl still adds projects
    kc.cluster.ctl("project", "add", "L1", json_out=False, check=0)
    wait_agreement(kc, 20, "L1 placed and claimed", projects=["L1"])
    assert_idle(kc, ["L1"])


def test_projects_follow_per_type_table(kylin_cluster):
    """The per-type `<identifier>_project` table (the emulator's --schema later without the
    job-lock tables): projects created there are added and claimed, one dropped is removed."""
    kc = kylin_cluster(extra=FOLLOW, schema="later")
    for name in ("Alpha", "Beta"):
        kylin_call(kc, "POST", "/emu/projects", {"name": name})
    wait_agreement(kc, BOUND_S, "projects of the _project table added and claimed", projects=["Alpha", "Beta"])
    assert_idle(kc, ["Alpha", "Beta"])
    kylin_call(kc, "DELETE", "/emu/projects/Alpha")
    wait_for(lambda: "Alpha" not in names(kc), BOUND_S, "Alpha removed after its drop in Kylin", interval=0.1)
    assert_idle(kc, ["Beta"])
    assert names(kc) == {"_global", "Beta"}, names(kc)
    # where Kylin keeps them: the per-type table only (the emulator creates no key/value table then)
    assert [r[0] for r in kc.db.query(f"SELECT name FROM {kc.prefix}_project")] == ["Beta"]
    assert not kc.db.query("SELECT table_name FROM information_schema.tables WHERE table_name = %s", (kc.prefix,))


def test_drop_during_leader_change_removed(kylin_cluster):
    """Which quorum projects came from Kylin is replicated state (projects.kylin_listed), not
    the leader's memory: a project dropped in Kylin while the leader member is killed (-9, so
    it cannot propose the removal) is removed by the next leader from its first read."""
    kc = kylin_cluster(extra=FOLLOW)
    for name in ("Keep", "Gone"):
        kylin_call(kc, "POST", "/emu/projects", {"name": name})
    wait_agreement(kc, BOUND_S, "projects created in Kylin added and claimed", projects=["Keep", "Gone"])
    leader = kc.cluster.wait_leader(timeout=30)
    kc.cluster[leader].kill()
    kylin_call(kc, "DELETE", "/emu/projects/Gone")
    survivors = [kc.cluster[i] for i in (1, 2, 3) if i != leader]

    def new_leader():  # the survivors report the dead leader until their election timeout passed
        x = kc.cluster.leader_id(survivors)
        return x if x not in (None, leader) else None
    new = wait_for(new_leader, 60, "a new leader among the survivors")
    # generous: an election, the dead engine's failover and a few list periods on a loaded machine
    wait_for(lambda: "Gone" not in names(kc), 30, "Gone, dropped in Kylin while the leader died, removed by "
             "the new leader", interval=0.2)
    assert "project Gone was dropped in Kylin: removing it" in kc.cluster[new].log()
    wait_agreement(kc, 30, "Keep held by its (possibly new) owner's Kylin", projects=["Keep"])
    assert names(kc) == {"_global", "Keep"}, names(kc)
