"""The history checker against hand-made histories: each check must fire on the violation it
exists for, and stay silent on the legal history next to it (no root, no processes)."""
from history import Final, History, check, stale_owner_samples


def rows(*specs):
    """(index, project, from, to, epoch, reason)"""
    return [{"index": i, "term": 1, "time_ms": 0, "project": p, "from": f, "to": t, "epoch": e, "reason": r}
            for (i, p, f, t, e, r) in specs]


MODES = {1: "all", 2: "all", 3: "job", 4: "query"}
ENGINES = {i: {"id": i, "draining": False, "alive": True, "mode": m} for i, m in MODES.items()}
BASE = rows((10, "a", None, 1, 1, "new"), (20, "a", 1, 2, 2, "move"), (30, "a", 2, 3, 3, "failover"))


def final(r=BASE, projects=None):
    return Final(r, projects if projects is not None else {"a": (3, 3)}, ENGINES, MODES)


def op(h, f, t0, t1, type_, value=None, **args):
    o = h.invoke("w0", f, **args)
    o["t_invoke"], o["t_complete"], o["type"], o["value"] = t0, t1, type_, value
    return o


def kinds(v):
    return sorted({x.invariant for x in v})


def lease(m, p, t0, t1, epoch, acting=True, left=2000):
    return {"member": m, "project": p, "t0": t0, "t1": t1, "owner": m, "epoch": epoch, "acting": acting,
            "lease_valid": True, "lease_ms_left": left, "grace_ms_left": 0}


def test_legal_history_passes():
    h = History(1)
    op(h, "add", 0.0, 0.1, "ok", {"index": 9}, name="a")
    op(h, "move", 1.0, 1.1, "ok", {"index": 20}, name="a", engine=2)
    op(h, "show-c", 1.2, 1.3, "ok", {"name": "a", "owner": 2, "epoch": 2}, name="a")
    op(h, "show-c", 2.0, 2.1, "ok", {"name": "a", "owner": 3, "epoch": 3}, name="a")
    h.leases += [lease(1, "a", 0.5, 0.51, 1), lease(2, "a", 1.5, 1.51, 2), lease(3, "a", 2.5, 2.51, 3)]
    h.hashes += [(1, 0, 0, 30, "x"), (2, 0, 0, 30, "x"), (3, 0, 0, 29, "y")]
    h.views += [(1, 0.5, 0.6, "a", True, 1, 1), (1, 1.5, 1.6, "a", True, 2, 2)]
    v, _ = check(h, final())
    assert v == [], v


def test_stale_owner_acting_after_newer_owner_is_caught():
    h = History(1)
    h.leases += [lease(2, "a", 1.0, 1.01, 2), lease(1, "a", 1.5, 1.51, 1)]
    assert kinds(check(h, final())[0]) == ["2"]


def test_acting_under_someone_elses_epoch_is_caught():
    h = History(1)
    h.leases += [lease(1, "a", 1.0, 1.01, 2)]
    assert kinds(check(h, final())[0]) == ["2"]


def test_lost_acknowledged_add_and_remove_are_caught():
    h = History(1)
    op(h, "add", 0.0, 0.1, "ok", {"index": 5}, name="b")
    assert kinds(check(h, final())[0]) == ["4"]
    h = History(1)
    op(h, "add", 0.0, 0.1, "ok", {"index": 5}, name="b")
    op(h, "remove", 0.2, 0.3, "unknown", None, name="b")
    assert check(h, final())[0] == []
    h = History(1)
    op(h, "add", 0.0, 0.1, "ok", {"index": 5}, name="a")
    op(h, "remove", 0.2, 0.3, "ok", {"index": 6}, name="a")
    assert kinds(check(h, final())[0]) == ["4"]


def test_lost_acknowledged_move_is_caught():
    h = History(1)
    op(h, "move", 0.0, 0.1, "ok", {"index": 20}, name="a", engine=1)
    assert kinds(check(h, final())[0]) == ["4"]


def test_moves_of_one_entry_are_checked_in_order():
    """Two clients' moves of one project in one entry (index 30): the first to its current owner
    (no change, no row), the second on to 3 (CI, disk-full seed 909). Both acknowledged with
    index 30 is legal; a move to 1 acknowledged at 30 is not (1 held it only before 20)."""
    h = History(1)
    op(h, "move", 0.0, 0.2, "ok", {"index": 30}, name="a", engine=2)
    op(h, "move", 0.0, 0.2, "ok", {"index": 30}, name="a", engine=3)
    assert check(h, final())[0] == []
    h = History(1)
    op(h, "move", 0.0, 0.2, "ok", {"index": 30}, name="a", engine=1)
    assert kinds(check(h, final())[0]) == ["4"]


def test_stale_consistent_read_is_caught():
    h = History(1)
    op(h, "move", 1.0, 1.1, "ok", {"index": 20}, name="a", engine=2)
    op(h, "show-c", 1.2, 1.3, "ok", {"name": "a", "owner": 1, "epoch": 1}, name="a")
    assert "linearizability" in kinds(check(h, final())[0])
    # concurrent with the move: either answer is linearizable
    h = History(1)
    op(h, "move", 1.0, 1.1, "ok", {"index": 20}, name="a", engine=2)
    op(h, "show-c", 1.05, 1.3, "ok", {"name": "a", "owner": 1, "epoch": 1}, name="a")
    assert check(h, final())[0] == []


def test_consistent_reads_going_back_are_caught():
    h = History(1)
    op(h, "show-c", 1.0, 1.1, "ok", {"name": "a", "owner": 2, "epoch": 2}, name="a")
    op(h, "show-c", 1.2, 1.3, "ok", {"name": "a", "owner": 1, "epoch": 1}, name="a")
    assert kinds(check(h, final())[0]) == ["linearizability"]


def test_member_view_going_back_and_unknown_epoch_are_caught():
    h = History(1)
    h.views += [(2, 1.0, 1.1, "a", True, 2, 2), (2, 1.2, 1.3, "a", True, 1, 1)]
    assert kinds(check(h, final())[0]) == ["1"]
    h = History(1)
    h.views += [(2, 1.0, 1.1, "a", True, 2, 7)]
    assert kinds(check(h, final())[0]) == ["1"]


def test_bad_history_rows_are_caught():
    for bad in (rows((10, "a", None, 1, 1, "new"), (20, "a", 1, 2, 3, "move")),      # epoch skips
                rows((10, "a", None, 1, 1, "new"), (20, "a", 2, 3, 2, "move")),      # from != previous to
                rows((10, "a", None, 1, 1, "new"), (20, "a", 1, 4, 2, "move"))):     # a query engine
        h = History(1)
        v, _ = check(h, final(bad, {"a": (bad[-1]["to"], bad[-1]["epoch"])}))
        assert v and set(kinds(v)) <= {"1", "3"}, (bad, v)


def test_diverging_hashes_are_caught():
    h = History(1)
    h.hashes += [(1, 0, 0, 30, "x"), (2, 0, 0, 30, "z")]
    assert kinds(check(h, final())[0]) == ["5"]


def test_project_given_to_a_draining_engine_is_caught():
    h = History(1)
    op(h, "drain", 0.0, 0.1, "ok", {"index": 15}, engine=2)
    v, _ = check(h, final())
    assert "3" in kinds(v)


def test_stale_owner_that_does_not_act_is_counted_not_flagged():
    h = History(1)
    h.leases += [lease(2, "a", 1.0, 1.01, 2), lease(1, "a", 1.5, 1.51, 1, acting=False, left=0)]
    assert check(h, final())[0] == []
    assert stale_owner_samples(h) == 1
