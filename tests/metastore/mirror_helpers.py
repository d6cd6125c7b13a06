"""Helpers of the metastore-mirror tests: a pipelining API client (bulk writes without one
raftctl process per write), what Kylin's epoch rows must hold for the quorum's state, and the
comparisons the tests wait on (api_many itself lives in tests/cluster/pipeline.py)."""
from harness import wait_for
from pipeline import api_many

LONG_MAX = 9223372036854775807


def add_projects(c, names, leader_node):
    """Adds NAMES through the leader, pipelined; every reply must be ok."""
    replies = api_many(leader_node.api_addr, "project.add", [{"name": n} for n in names])
    bad = [r for r in replies if r["status"] != 0]
    assert not bad, f"{len(bad)} adds failed, first: {bad[0]}"


def leader_node(c):
    lid = c.wait_leader()
    return c[lid]


def metastore_status(c, node=None):
    rc, out, err = c.ctl("metastore", "status", endpoints=node.api_addr if node else None)
    assert rc == 0, err
    return out


def expected_epochs(c, maintenance=None, maint_host="127.0.0.1"):
    """{project: (epoch_id, owner, renew, server_mode, reason)} as Kylin must read it, from the
    leader's state (DESIGN.md, "Compatibility with Kylin")."""
    rc, projects, err = c.ctl("--consistent", "project", "list")
    if rc != 0:
        return None
    rc, engines, err = c.ctl("engine", "list")
    if rc != 0:
        return None
    modes = {e["id"]: e["mode"] for e in engines}
    rows = {}
    for p in projects:
        owned = p["owner"] is not None
        owner = p["owner_identity"] if owned else ""
        renew = LONG_MAX if owned else -1
        mode = modes.get(p["owner"]) if owned else None
        reason = None
        if maintenance is not None:
            owner, renew, reason = f"{maint_host}:0000|{LONG_MAX}", LONG_MAX, maintenance
        rows[p["name"]] = (p["epoch"], owner, renew, mode, reason)
    return rows


def db_epochs(db, prefix):
    rows = db.query(f"SELECT epoch_target, epoch_id, current_epoch_owner, last_epoch_renew_time, server_mode,"
                    f" maintenance_mode_reason FROM {prefix}_epoch")
    return {r[0]: (int(r[1]), r[2], int(r[3]), r[4], r[5]) for r in rows}


def db_mvcc(db, prefix):
    return {r[0]: int(r[1]) for r in db.query(f"SELECT epoch_target, mvcc FROM {prefix}_epoch")}


def db_sync(db, prefix):
    rows = db.query(f"SELECT applied_index, term, leader_id FROM {prefix}_raft_sync WHERE sync_id = 1")
    return tuple(int(x) for x in rows[0]) if rows else None


def wait_mirrored(c, db, prefix, timeout=30, maintenance=None, what="the epoch table to equal the quorum"):
    """Waits until the epoch table equals the quorum's state and the leader reports no lag."""
    def check():
        want = expected_epochs(c, maintenance)
        if want is None or not db.table_exists(f"{prefix}_epoch"):
            return None
        have = db_epochs(db, prefix)
        if have != want:
            return None
        st = metastore_status(c)
        if not st["mirroring"] or st["lag_entries"] != 0:
            return None
        return want
    try:
        return wait_for(check, timeout, what, interval=0.2)
    except AssertionError:
        want = expected_epochs(c, maintenance) or {}
        have = db_epochs(db, prefix) if db.table_exists(f"{prefix}_epoch") else {}
        diff = {k: (want.get(k), have.get(k)) for k in set(want) | set(have) if want.get(k) != have.get(k)}
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; status "
                             f"{metastore_status(c)}; differing rows (want, have), up to 10: "
                             f"{dict(list(diff.items())[:10])}")


def history_from_ctl(c):
    rc, rows, err = c.ctl("history", "--limit", "0", timeout_ms=20000)
    assert rc == 0, err
    return sorted((r["index"], r["term"], r["time_ms"], r["project"], r["from"], r["to"], r["epoch"], r["reason"])
                  for r in rows)


def history_from_db(db, prefix):
    rows = db.query(f"SELECT raft_index, term, time_ms, project, from_engine, to_engine, epoch, reason"
                    f" FROM {prefix}_raft_history")
    return sorted(tuple(None if v is None else (int(v) if i not in (3, 7) else v) for i, v in enumerate(r))
                  for r in rows)


def all_placed(c):
    # --consistent: a plain read may reach a follower that has not applied the adds yet, and
    # "every project owned" is then true of _global alone (seen with group commit on, where
    # the leader replies before its SQLite commit and followers learn the commit a beat later).
    rc, projects, err = c.ctl("--consistent", "project", "list")
    return rc == 0 and all(p["owner"] is not None for p in projects)
