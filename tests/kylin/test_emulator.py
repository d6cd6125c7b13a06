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


def settle_renew(db, prefix, node, targets):
    """Waits until NODE's renew (after a peer joined) has put TARGETS in lastRenewEpochSet."""
    wait_for(lambda: set(node.report()["last_renew_epoch_set"]) == set(targets), 10,
             f"{node.addr}'s renew of {sorted(targets)}")


def test_forced_claim_and_poke_stop_old_scheduler(kylin, db, prefix):
    """POST /api/epoch force=true, client=true on B moves p1 (epoch_id+1, B's identity); B starts
    its scheduler; A's checkEpochOwner fails at once (EnhancedUnitOfWork writes refused) but its
    scheduler (poll 600 s) runs until the poke: broadcast EpochCheckBroadcastNotifier ->
    updateAllEpochs -> renew sees p1 gone from lastRenewEpochSet -> ProjectEscapedNotifier."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    wait_for(lambda: a.running() == {"p1", "p2"}, 20, "A runs p1, p2")
    b = kylin()
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    assert a.post("/emu/write", {"project": "p1"})[1]["ok"] is True
    assert b.post("/emu/write", {"project": "p1"})[1]["ok"] is False
    st, body = b.claim(["p1"])
    assert (st, body) == (200, OK)
    e = epochs(db, prefix)
    assert e["p1"][:2] == (2, b.identity)
    assert e["p2"][1] == a.identity
    wait_for(lambda: b.running() == {"p1"}, 10, "B runs p1")
    assert b.report()["epoch_ids"] == {"p1": 2}
    ra = a.report()
    assert ra["owner_check"]["p1"] is False and ra["owner_check"]["p2"] is True
    assert "p1" in ra["projects_running"]  # the release window: until the poke or A's next poll
    assert a.post("/emu/write", {"project": "p1"})[1]["ok"] is False
    assert b.post("/emu/write", {"project": "p1"})[1]["ok"] is True
    assert a.poke() == (200, OK)
    wait_for(lambda: a.running() == {"p2"}, 10, "A's escape of p1")
    assert epochs(db, prefix)["p1"][:2] == (2, b.identity)


def test_forced_claim_old_scheduler_stops_at_poll(kylin, db, prefix):
    """Without a poke the old owner's runner sees the epoch_id change at its next poll
    (AbstractDefaultSchedulerRunner.checkEpochIdFailed -> forceShutdown) and writes nothing."""
    seed_projects(db, prefix, ["p1", "p2"])
    fast = {"kylin.job.scheduler.poll-interval-second": "0.3"}  # fractional seconds accepted
    a = kylin(props=fast)
    wait_for(lambda: a.running() == {"p1", "p2"}, 20, "A runs p1, p2")
    b = kylin(props=fast)
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    writes_a = a.report()["writes"]
    assert b.claim(["p2"]) == (200, OK)
    wait_for(lambda: a.running() == {"p1"}, 10, "A's runner to stop p2 at its poll")
    wait_for(lambda: b.running() == {"p2"}, 10, "B runs p2")
    assert a.report()["writes"] == writes_a
    assert epochs(db, prefix)["p2"][:2] == (2, b.identity)


def test_escape_caveats(kylin, db, prefix):
    """Caveat (a): a project claimed via /api/epoch is not in lastRenewEpochSet until a renew, so
    a move + poke does not escape it. Caveat (b): a node that owns nothing after the move ends
    its renew early ("current node own none project") and posts no escape. In both cases only
    the epoch_id check at the next poll would stop the scheduler (poll 600 s here)."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    seed_projects(db, prefix, ["p3"])  # a project that appears later, claimed by A via the API
    assert a.claim(["p3"]) == (200, OK)
    wait_for(lambda: "p3" in a.running(), 10, "A runs p3")
    assert "p3" not in a.report()["last_renew_epoch_set"]
    assert b.claim(["p3"]) == (200, OK)
    assert a.poke() == (200, OK)
    wait_for(lambda: "p3" in b.running(), 10, "B runs p3")
    assert "p3" in a.running(), "caveat (a): no escape for a project never renewed"
    # (b): B takes everything (/api/epoch/all needs an authenticated user), A owns nothing
    assert b.post("/kylin/api/epoch/all", {"force": True, "client": True}, headers=basic("ADMIN", "KYLIN")) \
        == (200, OK)
    assert all(v[1] == b.identity for v in epochs(db, prefix).values())
    assert a.poke() == (200, OK)
    wait_for(lambda: b.running() == {"p1", "p2", "p3"}, 10, "B runs everything")
    assert a.running() == {"p1", "p2", "p3"}, "caveat (b): an owner of nothing posts no escape"
    assert not any(a.report()["owner_check"].values())


def test_epoch_api_answers_000_when_the_claim_fails(kylin, db, prefix):
    """NEpochController/EpochService: per-project failures are swallowed and the answer is always
    code 000: a wrong-case name (not normalised, fails checkEpochValid) and a non-forced claim of
    a legal row write nothing. Unknown names are PROJECT_NOT_EXIST; client=false needs an admin;
    /api/epoch/all needs an authenticated user."""
    seed_projects(db, prefix, ["p1"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", GLOBAL})
    before = epochs(db, prefix)
    assert b.claim(["P1"]) == (200, OK)
    assert b.claim(["p1"], force=False) == (200, OK)
    # KylinExceptions: HTTP 500 (NBasicController.handleErrorCode); one unknown name refuses
    # the whole call before anything is claimed (checkProjectName on every name first)
    st, body = b.claim(["nope"])
    assert st == 500 and body["code"] == "999" and body["error_code"] == "PROJECT_NOT_EXIST"
    assert 'Can\'t find project "nope"' in body["msg"], body
    st, body = b.claim(["p1", "nope"])
    assert st == 500 and body["error_code"] == "PROJECT_NOT_EXIST"
    st, body = b.claim([GLOBAL])  # _global is no project: not claimable through /api/epoch
    assert st == 500 and body["error_code"] == "PROJECT_NOT_EXIST"
    st, body = b.claim([])
    assert st == 500 and body["code"] == "999"
    st, body = b.claim(["p1"], client=False)
    assert st == 403 and body["code"] == "999"
    st, body = b.post("/kylin/api/epoch/all", {"force": True, "client": True})
    assert st == 401
    assert epochs(db, prefix) == before
    assert b.report()["writes"] == 0
    assert b.claim(["p1"], client=False, headers=basic("ADMIN", "KYLIN")) == (200, OK)
    assert epochs(db, prefix)["p1"][:2] == (2, b.identity)


def test_graceful_stop_blanks_rows_and_peers_reclaim(kylin, db, prefix):
    """A graceful stop releases the node's rows (owner "", renew -1; EpochManager.releaseOwnedEpochs)
    and de-registers; the peer's updateAllEpochs (ZooKeeper change) claims the released rows
    (epoch_id+1). The last node's stop leaves every row blank."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    a.term()  # SIGTERM
    wait_for(lambda: owned_by(db, prefix, b, ["p1", "p2", GLOBAL]), 15, "B reclaims A's rows")
    assert {t: v[0] for t, v in epochs(db, prefix).items()} == {"p1": 2, "p2": 2, GLOBAL: 2}
    wait_for(lambda: b.running() == {"p1", "p2"}, 10, "B runs p1, p2")
    assert b.stop() == 0  # POST /emu/stop
    e = epochs(db, prefix)
    assert {t: (v[0], v[1], v[2]) for t, v in e.items()} == {t: (2, "", -1) for t in ("p1", "p2", GLOBAL)}
    c = kylin()  # start-up check claims the blank rows
    wait_for(lambda: c.running() == {"p1", "p2"}, 10, "C runs p1, p2")
    assert {t: v[:2] for t, v in epochs(db, prefix).items()} == {t: (3, c.identity) for t in ("p1", "p2", GLOBAL)}


def test_kill9_moves_nothing_with_recommended_settings(kylin, db, prefix):
    """A node killed with SIGKILL leaves its rows legal for heart-beat-timeout (10 years here): the
    peer's updateAllEpochs on the membership change claims nothing and writes nothing."""
    seed_projects(db, prefix, ["p1"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", GLOBAL})
    before = epochs(db, prefix)
    a.kill()
    wait_for(lambda: "members changed" in b.log().split("registered")[-1], 15, "B sees A leave")
    assert b.post("/emu/zk-change") == (200, {"ok": True})
    assert epochs(db, prefix) == before
    assert b.report()["writes"] == 0 and b.running() == set()


def test_health_up_down(kylin, db, prefix):
    """GET /kylin/api/health: actuator JSON with components.metaStore; DOWN (503) when forced by the
    test hook or while the metastore hangs, UP again after."""
    a = kylin(props={"kylin.health.metastore-error-response-ms": "500"})
    st, h = a.health()
    assert st == 200 and h["status"] == "UP" and h["components"]["metaStore"]["status"] == "UP"
    a.post("/emu/health-down")
    st, h = a.health()
    assert st == 503 and h["components"]["metaStore"]["status"] == "DOWN"
    a.post("/emu/health-down", {"down": False})
    assert a.health()[0] == 200
    db.pause()
    try:
        wait_for(lambda: a.health()[0] == 503, 15, "DOWN while the metastore hangs")
    finally:
        db.resume()
    wait_for(lambda: a.health()[0] == 200, 40, "UP after the metastore resumes")


def test_project_create_and_drop(kylin, db, prefix):
    """Projects in Kylin's key/value table under /_global/project/NAME.json, content "GZIP" + zlib;
    creation on the _global owner (a request to another node is routed there) claims the new
    project (NProjectController.saveProject -> updateEpoch); a name that exists in any case is
    refused (NProjectManager); drop (routed to the project's owner) deletes the key and the
    epoch row and stops the scheduler (ProjectDropListener)."""
    a = kylin()
    b = kylin()
    st, body = a.post("/emu/projects", {"name": "Sales"})
    assert st == 200 and body["code"] == "000", body
    c = project_content(db, prefix, "Sales")
    assert c[:4] == b"GZIP"
    doc = json.loads(zlib.decompress(c[4:]))
    assert doc["name"] == "Sales" and len(doc["uuid"]) == 36
    assert epochs(db, prefix)["Sales"][:2] == (1, a.identity)
    wait_for(lambda: a.running() == {"Sales"}, 10, "A runs Sales")
    for node, name in ((a, "SALES"), (b, "sales")):
        st, body = node.post("/emu/projects", {"name": name})
        assert st == 400 and body["error_code"] == "DUPLICATE_PROJECT_NAME", body
    st, body = a.post("/emu/projects", {"name": "bad-name"})
    assert st == 400
    st, body = b.post("/emu/projects", {"name": "Ops"})  # routed to A, the _global owner
    assert st == 200, body
    assert epochs(db, prefix)["Ops"][1] == a.identity
    # B serves its project list from memory: A's creations reach it at its next re-read
    # (Kylin: the audit-log replay)
    wait_for(lambda: sorted(b.get("/emu/projects")[1]) == ["Ops", "Sales"], 10, "B's project list with Ops, Sales")
    st, body = b.request("DELETE", "/emu/projects/sales")  # routed to Sales' owner, A
    assert st == 200, body
    assert project_content(db, prefix, "Sales") is None
    assert "Sales" not in epochs(db, prefix)
    wait_for(lambda: a.running() == {"Ops"}, 10, "A stops Sales")
    plain = kylin(prefix=prefix + "_p", props={"kylin.metadata.compress.enabled": "false"})
    assert plain.post("/emu/projects", {"name": "Plain"})[0] == 200
    assert json.loads(project_content(db, prefix + "_p", "Plain"))["name"] == "Plain"


def test_idle_nodes_write_nothing(kylin, db, prefix):
    """With the recommended settings (race enabled, interval 999999999, timeout 315360000) idle
    nodes write no epoch row, while their schedulers poll, health checks run and membership is
    watched."""
    seed_projects(db, prefix, [f"p{i}" for i in range(5)])
    busy = {"kylin.emu.scheduler.poll-interval-ms": "100", "kylin.env.health-check-interval": "100"}
    a = kylin(props=busy)
    b = kylin(props=busy)
    settle_renew(db, prefix, a, {f"p{i}" for i in range(5)} | {GLOBAL})
    before = epochs(db, prefix)
    wa, wb = a.report()["writes"], b.report()["writes"]
    assert wb == 0
    end = time.monotonic() + 2.0  # 20 scheduler polls, health checks and membership polls per node
    while time.monotonic() < end:
        assert epochs(db, prefix) == before
        time.sleep(0.25)
    assert (a.report()["writes"], b.report()["writes"]) == (wa, wb)
    assert a.running() == {f"p{i}" for i in range(5)}


def test_timers_renew_and_expiry(kylin, db, prefix):
    """Short timers: the EpochRenewer rewrites the owner's rows every interval (mvcc grows, epoch_id
    kept); after the owner dies, its rows expire after heart-beat-timeout and the peer's
    EpochChecker claims them (epoch_id+1)."""
    seed_projects(db, prefix, ["p1"])
    t = {"kylin.server.leader-race.heart-beat-interval": "0.5", "kylin.server.leader-race.heart-beat-timeout": "2"}
    a = kylin(props=t)
    m0 = epochs(db, prefix)["p1"][3]
    wait_for(lambda: epochs(db, prefix)["p1"][3] >= m0 + 2, 10, "A's renewer")
    assert epochs(db, prefix)["p1"][:2] == (1, a.identity)
    b = kylin(props=t)
    a.kill()
    wait_for(lambda: owned_by(db, prefix, b, ["p1", GLOBAL]), 15, "B's checker claims expired rows")
    assert epochs(db, prefix)["p1"][0] == 2
    wait_for(lambda: b.running() == {"p1"}, 10, "B runs p1")


def test_leader_race_disabled(kylin, db, prefix):
    """leader-race.enabled=false (section 6): claims are unconditional with epoch_id 1 and renew
    Long.MAX_VALUE, so a steal does not change epoch_id and the old owner's runner never stops:
    two nodes run the project, only the row's owner passes checkEpochOwner."""
    seed_projects(db, prefix, ["p1"])
    off = {"kylin.server.leader-race.enabled": "false", "kylin.emu.scheduler.poll-interval-ms": "200"}
    a = kylin(props=off)
    e = epochs(db, prefix)
    assert e["p1"][:3] == (1, a.identity, 9223372036854775807)
    wait_for(lambda: a.running() == {"p1"}, 10, "A runs p1")
    b = kylin(props=off)  # its start-up check claims everything; A's reaction to B joining takes all back
    wait_for(lambda: owned_by(db, prefix, a, ["p1", GLOBAL]), 10, "A's updateAllEpochs after B joined")
    assert epochs(db, prefix)["p1"][0] == 1
    wait_for(lambda: b.running() == {"p1"}, 10, "B runs p1 (from its start-up claim)")
    assert a.running() == {"p1"}
    assert b.claim(["p1"], force=False) == (200, OK)  # unconditional: force and legality ignored
    assert epochs(db, prefix)["p1"][:2] == (1, b.identity)
    end = time.monotonic() + 1.5  # several polls of A's runner
    while time.monotonic() < end:
        assert a.running() == {"p1"}, "epoch_id unchanged: A's runner cannot notice"
        time.sleep(0.2)
    assert a.report()["owner_check"]["p1"] is False and b.report()["owner_check"]["p1"] is True


def test_maintenance_mode(kylin, db, prefix):
    """Maintenance mode: every row's owner <ip>:0000|9223372036854775807 (setMaintenanceMode);
    checkInMaintenanceMode makes start-up checks, pokes and non-forced claims no-ops; unset
    blanks the rows and the next updateAllEpochs (a ZooKeeper change) claims them."""
    seed_projects(db, prefix, ["p1"])
    a = kylin()
    assert a.post("/emu/maintenance", {"on": True, "reason": "upgrade"})[1]["changed"] is True
    marker = "127.0.0.1:0000|9223372036854775807"
    assert {v[1] for v in epochs(db, prefix).values()} == {marker}
    b = kylin()
    # A reacts to B joining (updateAllEpochs) after its next membership poll: let that no-op happen
    # inside maintenance, or it would claim the rows blanked below before B's own change does
    wait_for(lambda: b.identity in a.report()["zk_members"], 20, "A acted on B joining")
    w = a.report()["writes"]
    assert b.claim(["p1"], force=False) == (200, OK)
    assert a.poke() == (200, OK)
    assert b.post("/emu/zk-change")[0] == 200
    assert {v[1] for v in epochs(db, prefix).values()} == {marker}
    assert b.report()["writes"] == 0 and a.report()["writes"] == w
    assert a.post("/emu/maintenance", {"on": False})[1]["changed"] is True
    assert {v[1] for v in epochs(db, prefix).values()} == {""}
    assert b.post("/emu/zk-change")[0] == 200
    assert owned_by(db, prefix, b, ["p1", GLOBAL])


def test_metadata_reload(kylin, db, prefix):
    """Metadata reload: StartReloadEvent pauses the checker and releases the rows (epoch_id kept,
    so the schedulers keep running); EndReloadEvent runs updateAllEpochs, which reclaims them with
    epoch_id+1, and the schedulers restart with the new epoch_id."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin(props={"kylin.emu.scheduler.poll-interval-ms": "200"})
    wait_for(lambda: a.running() == {"p1", "p2"}, 10, "A runs p1, p2")
    assert a.post("/emu/reload", {"phase": "start"})[0] == 200
    assert {t: v[:3] for t, v in epochs(db, prefix).items()} == {t: (1, "", -1) for t in ("p1", "p2", GLOBAL)}
    assert a.report()["checker_running"] is False
    assert a.post("/emu/reload", {"phase": "end"})[0] == 200
    assert {t: v[:2] for t, v in epochs(db, prefix).items()} == {t: (2, a.identity) for t in ("p1", "p2", GLOBAL)}
    wait_for(lambda: a.report()["epoch_ids"] == {"p1": 2, "p2": 2}, 10, "schedulers on epoch_id 2")


def test_later_schema(kylin, db, prefix):
    """--schema later creates the later code line's <identifier>_project table (and no key/value
    table), for tests that a coordinator detects and refuses that schema."""
    a = kylin(schema="later")
    assert db.table_exists(f"{prefix}_project")
    assert not db.table_exists(prefix)
    assert a.post("/emu/projects", {"name": "L1"})[0] == 200
    assert [r[0] for r in db.query(f"SELECT name FROM {prefix}_project")] == ["L1"]
    assert epochs(db, prefix)["L1"][1] == a.identity


def test_health_down_until_first_check(kylin, db, prefix):
    """MetaStoreHealthIndicator starts unhealthy: DOWN until its first check passes (the first
    check is delayed here by a test-only key, standing for a slow start)."""
    a = kylin(wait=False, props={"kylin.emu.health-first-delay-ms": "1500"})
    st, h = wait_for(lambda: (lambda r: r if r[0] in (200, 503) else None)(a.health()), 20, "health answers")
    assert (st, h["components"]["metaStore"]["status"]) == (503, "DOWN")
    wait_for(lambda: a.health()[0] == 200, 20, "UP after the first check")


def test_broadcast_is_routed_to_global_owner_without_header(kylin, db, prefix):
    """Without header routed: true, QueryNodeFilter sends /api/broadcast to the _global owner:
    poking B then runs updateAllEpochs on A, not on B."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    assert b.claim(["p1"]) == (200, OK)
    st, body = b.post("/kylin/api/broadcast",
                      {"@class": "org.apache.kylin.common.persistence.transaction.EpochCheckBroadcastNotifier"})
    assert (st, body) == (200, OK)
    wait_for(lambda: a.running() == {"p2"}, 10, "A's escape of p1 (the poke reached A)")
    assert b.report()["last_renew_epoch_set"] == []  # B itself did not renew


def test_query_node_runs_no_orchestrator(kylin, db, prefix):
    """kylin.server.mode=query: no EpochOrchestrator (no start-up claim, no timers), no
    scheduler; its registration is no all/job change for the others."""
    seed_projects(db, prefix, ["p1"])
    a = kylin()
    q = kylin(mode="query")
    assert q.report()["writes"] == 0 and q.running() == set()
    assert q.post("/emu/zk-change")[0] == 200
    assert q.report()["writes"] == 0
    end = time.monotonic() + 1.0  # ten of A's membership polls
    while time.monotonic() < end:
        assert a.report()["last_renew_epoch_set"] == [], "A saw no all/job change"
        time.sleep(0.1)
    assert q.health()[1]["components"]["metaStore"]["status"] == "UP"


def cas_update(db, prefix, target, owner, renew, bump_epoch=True):
    """An external compare-and-set write as a coordinator would make it (protocol doc section 0):
    epoch_id+1, mvcc+1, only if mvcc is still the one read. True if a row changed."""
    eid, _, _, mvcc = epochs(db, prefix)[target]
    db.query(f"UPDATE {prefix}_epoch SET epoch_id = %s, current_epoch_owner = %s, last_epoch_renew_time = %s,"
             f" mvcc = %s WHERE epoch_target = %s AND mvcc = %s",
             (eid + (1 if bump_epoch else 0), owner, renew, mvcc + 1, target, mvcc))
    return epochs(db, prefix)[target][3] == mvcc + 1


def test_external_park_and_global_handover(kylin, db, prefix):
    """Section 7 procedure steps against the emulator: parking p1 on a legal placeholder identity
    (CAS, epoch_id+1) then poking A makes A escape p1, and nobody claims the parked row by
    itself; handing the _global row to B by CAS plus a poke makes B the _global owner (renew
    sees it newly owned), so project creation then runs on B."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    b = kylin()
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    now = int(time.time() * 1000)
    assert cas_update(db, prefix, "p1", "127.0.0.1:1|0", now)
    assert a.poke() == (200, OK) and b.poke() == (200, OK)
    wait_for(lambda: a.running() == {"p2"}, 10, "A's escape of parked p1")
    assert epochs(db, prefix)["p1"][:2] == (2, "127.0.0.1:1|0")
    assert b.claim(["p1"]) == (200, OK)
    assert epochs(db, prefix)["p1"][:2] == (3, b.identity)
    assert cas_update(db, prefix, GLOBAL, b.identity, int(time.time() * 1000))
    assert b.poke() == (200, OK)
    wait_for(lambda: GLOBAL in b.report()["last_renew_epoch_set"], 10, "B renews _global")
    assert b.report()["owner_check"][GLOBAL] is True and a.report()["owner_check"][GLOBAL] is False
    st, body = a.post("/emu/projects", {"name": "New1"})  # routed to B
    assert st == 200, body
    assert epochs(db, prefix)["New1"][:2] == (1, b.identity)


def test_stale_kylin_write_fails_against_cas(kylin, db, prefix):
    """JdbcEpochStore's UPDATE is a compare-and-set on mvcc: a claim whose row was changed by an
    external CAS write between its read and its write matches no row and fails (swallowed:
    /api/epoch still answers 000), leaving the external write in place. The read-to-write window
    is widened by a test-only key. A's renew on a poke leaves the moved row alone."""
    import threading
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    b = kylin(props={"kylin.emu.claim-delay-ms": "1500"})
    settle_renew(db, prefix, a, {"p1", "p2", GLOBAL})
    result = {}
    t = threading.Thread(target=lambda: result.update(r=b.claim(["p1"])))
    t.start()
    try:
        wait_for(lambda: "claim of p1 read mvcc" in b.log(), 10, "B's claim to read the row")
        assert cas_update(db, prefix, "p1", "127.0.0.1:1|0", int(time.time() * 1000))
    finally:
        t.join(30)
    assert result["r"] == (200, OK)
    moved = epochs(db, prefix)["p1"]
    assert moved[1] == "127.0.0.1:1|0"
    assert b.report()["writes"] == 0 and b.running() == set()
    assert a.poke() == (200, OK)
    e = epochs(db, prefix)
    assert e["p1"] == moved and e["p2"][:2] == (1, a.identity)


def test_vanished_project_row_removed_by_owner_renew(kylin, db, prefix):
    """EpochUpdateManager.removeOutdatedOwnedEpoch: when a project disappears from the metadata
    (deleted behind Kylin's back), its owner's next renew deletes the epoch row and escapes it.
    The node serves its project list from memory (NProjectManager's cache): the deletion is
    seen at its next re-read of the table, not before."""
    seed_projects(db, prefix, ["p1", "p2"])
    a = kylin()
    wait_for(lambda: a.running() == {"p1", "p2"}, 10, "A runs p1, p2")
    db.query(f"DELETE FROM {prefix} WHERE META_TABLE_KEY = %s", ("/_global/project/p2.json",))
    wait_for(lambda: a.get("/emu/projects")[1] == ["p1"], 10, "A's project cache without p2")
    assert a.poke() == (200, OK)
    assert "p2" not in epochs(db, prefix)
    wait_for(lambda: a.running() == {"p1"}, 10, "A's escape of p2")
