"""Issue 10's core loop end to end: 3 raftnode members, each paired with an emulated Kylin 5
node (raft.kylin.url), on one PostgreSQL 15 or MariaDB database. After every step, within its bound: every
project's checkEpochOwner holds on exactly the quorum owner's Kylin node, and its scheduler
runs there and nowhere else."""
import os
import sys
import time

from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_http import value  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from apiclient import ApiError, Conn  # noqa: E402

PROJECTS = ["Sales", "Ops", "Finance", "Hr", "Web", "Mobile"]


def owners(kc):
    """{project: owner engine id} from the quorum (any live member)."""
    rc, out, err = kc.cluster.ctl("project", "list", "--consistent")
    assert rc == 0, err
    return {p["name"]: p["owner"] for p in out}


def reports(kc):
    return {i: e.report() for i, e in kc.emus.items() if e.alive()}


def agreement(kc, projects=PROJECTS):
    """None when every project is owned, held (checkEpochOwner) and run exactly on its owner's
    Kylin; else a description of the first difference (for the wait's message)."""
    own = owners(kc)
    reps = reports(kc)
    for p in projects:
        o = own.get(p)
        if o is None or o not in reps:
            return f"{p}: quorum owner {o} has no live Kylin"
        for i, r in reps.items():
            holds = r["owner_check"].get(p, False)
            runs = p in r["projects_running"]
            want = i == o
            if holds != want or runs != want:
                return f"{p}: owner {o}; Kylin {i} checkEpochOwner={holds} running={runs}"
    return None


def wait_agreement(kc, timeout, what, projects=PROJECTS):
    last = ["?"]

    def ok():
        try:
            d = agreement(kc, projects)
        except (OSError, AssertionError) as e:
            d = str(e)
        last[0] = d
        return d is None
    try:
        wait_for(ok, timeout, what, interval=0.3)
    except AssertionError as e:
        logs = "\n".join(f"--- node {x.id} ---\n" + x.log()[-4000:] for x in kc.cluster.nodes.values())
        raise AssertionError(f"{e}: {last[0]}\n{logs}") from None


def setup_projects(kc, names=PROJECTS):
    e = next(iter(kc.emus.values()))
    for name in names:
        st, body = e.post("/emu/projects", {"name": name})
        assert st == 200, body
    add_projects(kc, names)
    wait_agreement(kc, 30, "placement claimed by the owners' Kylin nodes")


def add_projects(kc, names):
    """raftctl project add NAMES; with raft.kylin.follow-projects (the default) the leader may
    have added some of them from Kylin's metadata already: "already exists" is fine."""
    rc, out, err = kc.cluster.ctl("project", "add", *names, json_out=False)
    unexpected = [ln for ln in err.splitlines() if ln.strip() and "already exists" not in ln]
    assert rc == 0 or not unexpected, (rc, out, err)


def epoch_row(kc, project):
    rows = kc.db.query(f"SELECT current_epoch_owner, epoch_id FROM {kc.prefix}_epoch WHERE epoch_target = %s",
                       (project,))
    return rows[0] if rows else None


def epoch_table(kc):
    """Every column Kylin or raftnode write, of every row: equal snapshots = nothing written."""
    return kc.db.query(f"SELECT epoch_target, current_epoch_owner, epoch_id, last_epoch_renew_time, mvcc, "
                       f"maintenance_mode_reason FROM {kc.prefix}_epoch ORDER BY epoch_target")


def assert_idle(kc, projects, window=5, settle=30):
    """After a step: agreement on PROJECTS, then once the table has settled (the pokes that
    follow a claim make Kylin renew its rows once), WINDOW seconds (several repair periods)
    in which nobody writes the epoch table, and agreement still at the end."""
    wait_agreement(kc, settle, "agreement before the idle window", projects=projects)
    prev = [epoch_table(kc), time.monotonic()]

    def settled():
        if time.monotonic() - prev[1] < 2:
            return False
        now = epoch_table(kc)
        same = now == prev[0]
        prev[:] = [now, time.monotonic()]
        return same
    wait_for(settled, settle, "the epoch table to settle after the step", interval=0.5)
    before = (epoch_table(kc), {i: r["writes"] for i, r in reports(kc).items()})
    time.sleep(window)  # the observation window itself: nothing may happen in it
    after = (epoch_table(kc), {i: r["writes"] for i, r in reports(kc).items()})
    assert before == after, f"epoch table written while idle:\nbefore {before}\nafter  {after}"
    assert agreement(kc, projects) is None, agreement(kc, projects)
def kylin_status_raw(kc, member):
    """Member MEMBER's kylin.status result (with its counters), straight from its API."""
    c = Conn(kc.cluster[member].api_addr, timeout=3)
    try:
        (_, _, reply), = c.calls([("kylin.status", {})])
    finally:
        c.close()
    assert reply["status"] == 0, reply
    return reply["result"]


def recorded_on(kc, member):
    """{project: (kylin_identity, epoch_id)} recorded in the replicated state, as member
    MEMBER answers `raftctl kylin status` from its own state; None if it does not answer."""
    rc, out, _ = kc.cluster.ctl("kylin", "status", endpoints=kc.cluster[member].api_addr, timeout_ms=2000)
    if rc != 0:
        return None
    return {r["project"]: (r["kylin_identity"], r["epoch_id"]) for r in out}


def table_claims(kc, projects=PROJECTS):
    """{project: (current_epoch_owner, epoch_id)} of the epoch table."""
    return {p: tuple(epoch_row(kc, p) or (None, None)) for p in projects}


def wait_recorded_everywhere(kc, members, timeout, what, projects=PROJECTS):
    """Every member in MEMBERS reports, for every project, the recorded claim equal to the
    table row and to the quorum owner's Kylin identity. Returns the claims."""
    last = ["?"]

    def ok():
        rows = table_claims(kc, projects)
        own = owners(kc)
        for p in projects:
            o = own.get(p)
            if o not in kc.emus or rows[p][0] != kc.emus[o].identity:
                last[0] = f"{p}: table {rows[p]}, owner {o}"
                return None
        for i in members:
            view = recorded_on(kc, i)
            if view is None:
                last[0] = f"member {i} does not answer"
                return None
            diff = [p for p in projects if view.get(p) != rows[p]]
            if diff:
                last[0] = f"member {i}: {diff[0]} recorded {view.get(diff[0])}, table {rows[diff[0]]}"
                return None
        return rows
    try:
        return wait_for(ok, timeout, what, interval=0.3)
    except AssertionError as e:
        raise AssertionError(f"{e}: {last[0]}") from None


def test_claims_recorded_on_every_member_and_survive_leader_change(kylin_cluster):
    """The identity and epoch_id each owner's Kylin wrote are read back by its member and
    recorded in the replicated state: every member reports the same claims, equal to the
    table (kylin status and project show, each member asked itself), and after the leader
    member is killed the survivors still report them; the failed-over projects are recorded
    again for their new owners."""
    kc = kylin_cluster()
    setup_projects(kc)
    claims = wait_recorded_everywhere(kc, [1, 2, 3], 20, "every member to report the recorded claims")
    for i in (1, 2, 3):
        for p in PROJECTS:
            rc, show, err = kc.cluster.ctl("project", "show", p, endpoints=kc.cluster[i].api_addr)
            assert rc == 0, err
            assert (show["kylin_identity"], show["kylin_epoch_id"]) == claims[p], (i, p, show)
    # 'agrees' also compares with the row as that member last read the table (every repair
    # period): a member whose last read predates the claim agrees after its next read
    disagreeing = []

    def rows_agree():
        st = {i: {r["project"]: r for r in kylin_status_raw(kc, i)["projects"]} for i in (1, 2, 3)}
        disagreeing[:] = [(i, st[i][p]) for i in (1, 2, 3) for p in PROJECTS
                          if not st[i][p]["agrees"]
                          or (st[i][p]["row_identity"], st[i][p]["row_epoch_id"]) != claims[p]]
        return not disagreeing
    try:
        wait_for(rows_agree, 20, "every member's kylin status to agree with the table")
    except AssertionError as e:
        raise AssertionError(f"{e}; still disagreeing: {disagreeing}") from None
    # every member's hash agrees: the claims are replicated state, the same everywhere
    kc.cluster.wait_converged(timeout=20)

    leader = kc.cluster.wait_leader(timeout=30)
    own = owners(kc)
    kept = [p for p in PROJECTS if own[p] != leader]
    kc.cluster[leader].kill()
    survivors = [i for i in (1, 2, 3) if i != leader]
    kc.cluster.wait_leader(timeout=60, among=[kc.cluster[i] for i in survivors])
    # what was recorded before is still there on the survivors (projects that stayed put)
    for i in survivors:
        view = wait_for(lambda: recorded_on(kc, i), 10, f"member {i} to answer kylin status")
        for p in kept:
            assert view[p] == claims[p], (i, p, view[p], claims[p])
    # the dead member's projects fail over; their new owners' claims are recorded everywhere
    lost = [p for p in PROJECTS if p not in kept]
    wait_for(lambda: all(owners(kc)[p] != leader for p in lost), 30,
             f"the projects of engine {leader} to move after its member died")
    after = wait_recorded_everywhere(kc, survivors, 30, "the survivors to report the failed-over claims")
    for p in kept:
        assert after[p] == claims[p]


def test_placement_status_and_idle(kylin_cluster):
    kc = kylin_cluster()
    setup_projects(kc)
    # every engine got projects (placement spreads them)
    assert set(owners(kc).values()) == {1, 2, 3}
    # raftctl kylin status: the owner's Kylin identity and epoch_id, agreeing
    def status_agrees():
        rc, out, err = kc.cluster.ctl("kylin", "status", endpoints=kc.cluster[1].api_addr)
        assert rc == 0, err
        rows = {r["project"]: r for r in out}
        return all(rows[p]["agrees"] for p in PROJECTS) and rows
    rows = wait_for(status_agrees, 10, "kylin status to agree")
    own = owners(kc)
    for p in PROJECTS:
        assert rows[p]["owner"] == own[p]
        assert rows[p]["kylin_identity"] == kc.emus[own[p]].identity
        owner, epoch_id = epoch_row(kc, p)
        assert owner == rows[p]["kylin_identity"] and epoch_id == rows[p]["epoch_id"]
    rc, text, err = kc.cluster.ctl("kylin", "status", json_out=False, endpoints=kc.cluster[2].api_addr)
    assert rc == 0 and "AGREES" in text and "Sales" in text, err
    # project show: the Kylin identity and epoch_id in the table next to the quorum's owner
    rc, show, err = kc.cluster.ctl("project", "show", "Sales")
    assert rc == 0, err
    assert show["owner"] == own["Sales"]
    assert show["kylin_identity"] == kc.emus[own["Sales"]].identity
    assert show["kylin_epoch_id"] == rows["Sales"]["epoch_id"]
    # idle: nothing writes the epoch table, nothing is recorded again (several repair periods)
    wait_recorded_everywhere(kc, [1, 2, 3], 20, "the claims recorded")
    time.sleep(2)
    before = {i: r["writes"] for i, r in reports(kc).items()}
    sent = {i: kylin_status_raw(kc, i)["records_sent"] for i in (1, 2, 3)}
    time.sleep(10)  # ten repair periods
    after = {i: r["writes"] for i, r in reports(kc).items()}
    assert before == after, (before, after)
    assert {i: kylin_status_raw(kc, i)["records_sent"] for i in (1, 2, 3)} == sent
    assert agreement(kc) is None


def test_kill_kylin_fails_over(kylin_cluster):
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    victim = own["Sales"]
    lost = [p for p, o in own.items() if o == victim]
    kc.emus[victim].kill()  # kill -9; its member stays alive
    def moved():
        o = owners(kc)
        return all(o[p] != victim for p in lost)
    wait_for(moved, 20, f"the projects of engine {victim} to move after its Kylin died")
    wait_agreement(kc, 20, "failed-over projects claimed by their new owners' Kylin nodes")
    assert kc.cluster[victim].alive()


def test_kill_member_fails_over(kylin_cluster):
    """kill -9 of a member (its Kylin alive): its engine stops heartbeating, its projects move
    and are claimed by the new owners' Kylin nodes; its Kylin stops their schedulers (the
    forced claims changed their epoch_id) and fails checkEpochOwner for them."""
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    victim = own["Finance"]
    lost = [p for p, o in own.items() if o == victim]
    kc.cluster[victim].kill()
    wait_for(lambda: all(owners(kc)[p] != victim for p in lost), 30,
             f"the projects of engine {victim} to move after its member died")
    wait_agreement(kc, 20, "the dead member's projects claimed by the live members' Kylin nodes")
    assert kc.emus[victim].alive()


def test_hung_kylin_fails_over_and_releases(kylin_cluster):
    """SIGSTOP of a Kylin (health probes time out): its projects move and are claimed by the
    new owners' Kylin nodes; after SIGCONT its member pokes it to release what it lost."""
    import os
    import signal
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    victim = own["Ops"]
    lost = [p for p, o in own.items() if o == victim]
    pid = kc.emus[victim].proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: all(owners(kc)[p] != victim for p in lost), 20,
                 f"the projects of engine {victim} to move while its Kylin hangs")
        others = [p for p in PROJECTS]
        hung = kc.emus.pop(victim)  # not asked while stopped
        try:
            wait_agreement(kc, 20, "moved projects claimed by the live Kylin nodes", others)
        finally:
            kc.emus[victim] = hung
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_agreement(kc, 20, "after SIGCONT the resumed Kylin holds and runs none of what it lost")
    m = kc.metrics(victim)
    assert value(m, "raftnode_kylin_health_failures_total") >= 1  # the probes that timed out


def test_move_and_drift_repair(kylin_cluster):
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    src = own["Sales"]
    dst = 1 if src != 1 else 2
    rc, out, err = kc.cluster.ctl("project", "move", "Sales", dst, json_out=False)
    assert rc == 0, err
    wait_for(lambda: owners(kc)["Sales"] == dst, 10, "the move of Sales applied")
    wait_agreement(kc, 15, f"Sales moved from {src} to {dst}: claimed by the target, released by the old")
    # drift: a person writes another identity into a row; the owner's member repairs it
    other = kc.emus[src].identity
    # the counter before the drift: read after it, the repair (within one period) may have
    # counted already
    owner_ops = owners(kc)["Ops"]
    m = kc.metrics(owner_ops)
    repairs = value(m, "raftnode_kylin_repairs_total")
    kc.db.query(f"UPDATE {kc.prefix}_epoch SET current_epoch_owner = %s WHERE epoch_target = 'Ops'", (other,))
    assert value(m, "raftnode_kylin_claims_total", result="ok") >= 1  # Ops at least
    assert value(m, "raftnode_kylin_health_up") == 1
    def repaired():
        r = epoch_row(kc, "Ops")
        return r is not None and r[0] == kc.emus[owner_ops].identity
    wait_for(repaired, 5, "the drifted Ops row repaired within the repair period")
    wait_for(lambda: value(kc.metrics(owner_ops), "raftnode_kylin_repairs_total") > repairs, 10,
             "the repair counted in raftnode_kylin_repairs_total")
    wait_agreement(kc, 15, "agreement after the repair")


def test_kylin_restart_reclaims(kylin_cluster):
    kc = kylin_cluster()
    setup_projects(kc)
    victim = 2
    old_identity = kc.emus[victim].identity
    kc.emus[victim].kill()
    kc.start_emu(victim)  # same port, new identity (a new incarnation)
    new_identity = kc.emus[victim].identity
    assert new_identity != old_identity
    wait_agreement(kc, 30, "after the Kylin restart every project is held by its owner's Kylin")
    # anything the quorum gives the restarted engine now is claimed by the new incarnation
    rc, out, err = kc.cluster.ctl("project", "move", "Web", victim, json_out=False)
    assert rc == 0, err
    wait_for(lambda: owners(kc)["Web"] == victim, 10, "the move of Web applied")
    wait_agreement(kc, 15, "Web moved to the restarted Kylin")
    wait_for(lambda: epoch_row(kc, "Web")[0] == new_identity, 5, "Web's row to show the new incarnation")


def test_graceful_stop_fails_over(kylin_cluster):
    """A Kylin's graceful stop blanks its rows and the other Kylin nodes race for them on its
    de-registration; the quorum moves its projects and the owners' members claim every row
    the race gave to the wrong node."""
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    victim = own["Hr"]
    lost = [p for p, o in own.items() if o == victim]
    assert kc.emus[victim].stop() == 0
    wait_for(lambda: all(owners(kc)[p] != victim for p in lost), 20,
             f"the projects of engine {victim} to move after its Kylin stopped")
    wait_agreement(kc, 20, "after the graceful stop every project is held by its owner's Kylin")


def test_zookeeper_renewal_and_metadata_reload_repaired(kylin_cluster):
    """Kylin's own epoch writes: a ZooKeeper membership change (updateAllEpochs on every node)
    and a metadata reload on one node (releases its rows, then reclaims what is not legal) are
    repaired by the owners' members; afterwards the table is quiet again."""
    kc = kylin_cluster()
    setup_projects(kc)
    for e in kc.emus.values():
        assert e.post("/emu/zk-change")[0] == 200
    wait_agreement(kc, 10, "agreement after a ZooKeeper-triggered renewal")
    node = kc.emus[owners(kc)["Sales"]]
    assert node.post("/emu/reload", {"phase": "both"})[0] == 200
    wait_agreement(kc, 15, "agreement after a metadata reload")
    time.sleep(3)  # repairs done, pokes answered
    before = {i: r["writes"] for i, r in reports(kc).items()}
    time.sleep(6)
    assert {i: r["writes"] for i, r in reports(kc).items()} == before


def test_drain_rebalance_pin_then_two_quiet_minutes(kylin_cluster):
    """The operator's moves reach Kylin: a drain empties an engine (its Kylin releases, the
    others claim), an undrain plus `raftctl rebalance` gives it projects again, a pin moves a
    project and a later rebalance leaves it where it is pinned. After each step every project
    is held and run on exactly its owner's Kylin; then two minutes with nothing happening
    (KYLIN_QUIET_S, default 120): the same still holds and nobody wrote the epoch table."""
    kc = kylin_cluster()
    setup_projects(kc)
    own = owners(kc)
    drained = own["Sales"]
    rc, out, err = kc.cluster.ctl("drain", str(drained), json_out=False)
    assert rc == 0, (out, err)
    wait_for(lambda: drained not in owners(kc).values(), 20, f"engine {drained} emptied by the drain")
    wait_agreement(kc, 20, f"the drained engine {drained}'s projects claimed by the others")

    rc, out, err = kc.cluster.ctl("undrain", str(drained), json_out=False)
    assert rc == 0, (out, err)
    rc, out, err = kc.cluster.ctl("rebalance", json_out=False)
    assert rc == 0, (out, err)

    seen = [None]

    def balanced():
        counts = {}
        for o in owners(kc).values():
            counts[o] = counts.get(o, 0) + 1
        seen[0] = counts
        # even within one (the quorum also places `_global`, Kylin's global epoch target)
        return set(counts) == {1, 2, 3} and max(counts.values()) - min(counts.values()) <= 1
    try:
        wait_for(balanced, 20, f"the rebalance to give engine {drained} its share again")
    except AssertionError as e:
        raise AssertionError(f"{e}: projects per engine {seen[0]}; rebalance said {out!r}") from None
    wait_agreement(kc, 20, "the rebalanced projects claimed by their owners' Kylin nodes")

    own = owners(kc)
    target = next(e for e in (1, 2, 3) if e != own["Ops"])
    rc, out, err = kc.cluster.ctl("project", "pin", "Ops", str(target), json_out=False)
    assert rc == 0, (out, err)
    wait_for(lambda: owners(kc)["Ops"] == target, 20, f"Ops pinned to engine {target}")
    wait_agreement(kc, 20, f"the pinned Ops claimed by engine {target}'s Kylin")
    rc, out, err = kc.cluster.ctl("rebalance", json_out=False)
    assert rc == 0, (out, err)
    wait_agreement(kc, 20, "agreement after a rebalance with a pinned project")
    assert owners(kc)["Ops"] == target, "a rebalance moved a pinned project"

    quiet = float(os.environ.get("KYLIN_QUIET_S", "120"))
    before_owners = owners(kc)
    assert_idle(kc, PROJECTS, window=quiet)
    assert owners(kc) == before_owners, (before_owners, owners(kc))
