"""The Kylin 5 epoch emulator (tests/kylin) against real PostgreSQL 15 and MariaDB: every test
runs once per database. Facts under test: /work/shared/kylin5-epoch-protocol.md (sections in
the docstrings). Nothing sleeps blindly: every wait polls with a deadline."""
import json
import time
import zlib

from conftest import basic
from harness import wait_for

GLOBAL = "_global"
OK = {"code": "000", "data": "", "msg": ""}


def epochs(db, prefix):
    """{target: (epoch_id, owner, renew, mvcc)} from <prefix>_epoch."""
    rows = db.query(f"SELECT epoch_target, epoch_id, current_epoch_owner, last_epoch_renew_time, mvcc"
                    f" FROM {prefix}_epoch")
    return {t: (int(i), o, int(r), int(m)) for t, i, o, r, m in rows}


def kv_ddl(db, prefix):
    if db.kind == "postgresql":
        return (f'create table if not exists {prefix} ( META_TABLE_KEY varchar(255) primary key COLLATE "C",'
                f" META_TABLE_CONTENT bytea, META_TABLE_TS bigint, META_TABLE_MVCC bigint )")
    return (f"create table if not exists {prefix} ( META_TABLE_KEY varchar(255) primary key COLLATE utf8_bin,"
            f" META_TABLE_CONTENT longblob, META_TABLE_TS bigint, META_TABLE_MVCC bigint ) ENGINE=INNODB"
            f" DEFAULT CHARSET=utf8")


def seed_projects(db, prefix, names):
    """Projects written as Kylin writes them (GZIP + zlib level 1), before any node starts."""
    db.query(kv_ddl(db, prefix))
    if db.kind == "postgresql":  # made by the superuser: hand it to Kylin's user
        db.query(f"ALTER TABLE {prefix} OWNER TO kylin")
    for n in names:
        body = json.dumps({"uuid": f"00000000-0000-0000-0000-{len(n):012d}", "name": n, "status": "ENABLED"})
        content = b"GZIP" + zlib.compress(body.encode(), 1)
        db.query(f"INSERT INTO {prefix} (META_TABLE_KEY, META_TABLE_CONTENT, META_TABLE_TS, META_TABLE_MVCC)"
                 f" VALUES (%s, %s, %s, 0)", (f"/_global/project/{n}.json", content, int(time.time() * 1000)))


def project_content(db, prefix, name):
    rows = db.query(f"SELECT META_TABLE_CONTENT FROM {prefix} WHERE META_TABLE_KEY = %s",
                    (f"/_global/project/{name}.json",))
    return bytes(rows[0][0]) if rows else None


def owned_by(db, prefix, node, targets):
    e = epochs(db, prefix)
    ident = node.identity
    return all(t in e and e[t][1] == ident for t in targets)


def test_identity_and_startup_claim(kylin, db, prefix):
    """Identity ip:port|millis taken at start (EO OWNER_IDENTITY); the epoch table made with
    Kylin's DDL; the start-up EpochChecker claims every unowned row (insert, epoch_id 1,
    mvcc 0) and the node's schedulers start (ProjectControlledNotifier); a second node started
    later claims nothing, since the rows are legal."""
    seed_projects(db, prefix, ["p1", "p2", "P3"])
    before = int(time.time() * 1000)
    a = kylin()
    ident = a.identity
    host, millis = ident.split("|")
    assert host == a.addr
    assert before - 5000 <= int(millis) <= int(time.time() * 1000)
    cols = [c[0] for c in db.columns(f"{prefix}_epoch")]
    assert cols == ["epoch_id", "epoch_target", "current_epoch_owner", "last_epoch_renew_time", "server_mode",
                    "maintenance_mode_reason", "mvcc", "reserved_field_1", "reserved_field_2", "reserved_field_3"]
    assert db.primary_key(f"{prefix}_epoch") == ["epoch_target"]
    e = epochs(db, prefix)
    assert set(e) == {"p1", "p2", "P3", GLOBAL}
    for t, (eid, owner, renew, mvcc) in e.items():
        assert (eid, owner, mvcc) == (1, ident, 0), (t, e[t])
        assert before - 5000 <= renew <= int(time.time() * 1000)
    wait_for(lambda: a.running() == {"p1", "p2", "P3"}, 20, "schedulers of p1, p2, P3 on A")
    r = a.report()
    assert r["owner_check"] == {"p1": True, "p2": True, "P3": True, GLOBAL: True}
    assert r["epoch_ids"] == {"p1": 1, "p2": 1, "P3": 1}
    assert r["writes"] == 4
    b = kylin()
    assert b.identity != ident
    assert b.report()["writes"] == 0
    assert b.running() == set()
    assert b.report()["owner_check"] == {"p1": False, "p2": False, "P3": False, GLOBAL: False}
    # B's registration is a ZooKeeper change for A: A's updateAllEpochs renews its rows once
    wait_for(lambda: all(v[3] == 1 for v in epochs(db, prefix).values()), 10, "A's renew after B joined")
    assert {t: v[:2] for t, v in epochs(db, prefix).items()} == {t: v[:2] for t, v in e.items()}
    assert set(a.report()["last_renew_epoch_set"]) == {"p1", "p2", "P3", GLOBAL}
    assert b.report()["writes"] == 0
