"""One fault episode: a cluster on its own hosts, a workload and a sampler running throughout,
a nemesis for DURATION seconds, heal, a healthy cluster asserted, then the history checked.

Timing: heart-beat interval 1 s, timeout 3 s, election timeout 1 s (harness.py's profile)."""
import os
import random
import re
import time

import pytest

from faultcluster import FaultCluster
from harness import wait_for
from history import Final, History, Violation, check, report
from netns import Network, probe
from nemesis import KINDS, Mixed
from workload import Sampler, Workload, raftctl

TIMEOUT_S = 3
DURATION = float(os.environ.get("FAULT_DURATION", "10"))
POST_HEAL_S = 1.5          # the workload keeps running this long on the healed cluster
HEAL_DEADLINE_S = 60       # a healed cluster must be healthy within this

MODES = {3: ["all", "all", "job"], 4: ["all", "all", "job", "all"], 5: ["all", "all", "job", "job", "query"]}

# per kind: members, what the machine must offer, extra configuration
SPECS = {
    "kill": {"n": 3},
    "pause": {"n": 3},
    "partition-leader": {"n": 3},
    "partition-halves": {"n": 5},
    "partition-bridge": {"n": 5},
    "loss": {"n": 3, "needs": "loss"},
    "delay": {"n": 3, "needs": "delay"},
    "metastore": {"n": 3, "db": True},
    # a small tmpfs as every member's data directory; frequent snapshots, so that a full
    # disk is hit by snapshot and SQLite writes within the episode
    "disk-full": {"n": 3, "tmpfs": 48, "extra": {"raft.snapshot-threshold": 64, "raft.snapshot-trailing": 32}},
    # the wall clock jumps: no engine kills then, so that any failover would be the clock's doing
    "clock-jump": {"n": 3, "needs": "faketime", "faketime": True, "kills": False},
    # 3 voters and a standby; one voter killed for good: the autopilot replaces it (dead after
    # 10 s, the default), and the healed cluster is checked without it. The dead timeout must
    # outlast the workload's own engine kill (restarted 3.5-5 s later, plus its start-up on a
    # busy machine): at 4 s the autopilot demoted that member too, and a demoted member that
    # comes back is a spare the leader never replicates to (docs/operations-autopilot.md), so
    # the cluster could not be made whole again (seed 3333, 2 of 12 runs on a loaded machine)
    "kill-voter": {"n": 4, "standby": (4,), "extra": {"raft.autopilot.dead-member-timeout-ms": 10000}},
    "mixed": {"n": 5, "tmpfs": 48, "faketime": True,
              "extra": {"raft.snapshot-threshold": 128, "raft.snapshot-trailing": 32}},
}

RESULTS = []   # one dict per episode, for the closing figures (conftest.py)


def pg_url(db, prefix):
    from dbservers import DATABASE, PASSWORD, USER
    # the unix socket: the members' namespaces share the file system, not the root namespace's loopback
    return f"postgresql://{USER}:{PASSWORD}@:{db.port}/{DATABASE}?host={db.root}&prefix={prefix}"


def mixed_kinds(caps):
    out = []
    for k in ("kill", "pause", "partition-leader", "partition-halves", "partition-bridge", "loss", "delay",
              "metastore", "disk-full", "clock-jump"):
        need = SPECS[k].get("needs")
        if need and not caps[need][0]:
            continue
        out.append(k)
    return out


def wait_healthy(c, db, prefix, timeout=HEAL_DEADLINE_S):
    """Every member running, one agreed leader, every engine alive, every project owned, every
    member at the same applied index and hash, and (with a metastore) the mirror equal to the
    quorum. Returns None, or a description of what is still wrong at the deadline."""
    deadline = time.monotonic() + timeout
    state = {}

    def left():
        return max(1.0, deadline - time.monotonic())
    try:
        dead = [x.id for x in c.nodes.values() if (not x.alive() or x.paused) and x.id not in c.gone]
        if dead:
            return {"members not running after heal": dead}
        state["leader"] = c.wait_leader(timeout=left())
        state["engines"] = c.wait_engines_alive(timeout=left())

        def placed():
            rc, out, _ = c.ctl("--consistent", "project", "list", timeout_ms=2000)
            return out if rc == 0 and all(p["owner"] is not None for p in out) else None
        wait_for(placed, left(), "every project owned", interval=0.2)
        state["hashes"] = c.wait_converged(timeout=left())
        if c.gone:
            state["autopilot"] = wait_replaced(c, left())
        if db is not None:
            from mirror_helpers import history_from_ctl, history_from_db, wait_mirrored
            wait_mirrored(c, db, prefix, timeout=left())
            wait_for(lambda: history_from_db(db, prefix) == history_from_ctl(c), left(),
                     "the mirror's history to equal raftctl history", interval=0.3)
        return None
    except AssertionError as e:
        state["error"] = str(e)[:3000]
        rc, out, err = c.ctl("hash", timeout_ms=2000)
        state["hash"] = out if rc == 0 else err
        views = {}
        for x in c.nodes.values():
            p = c.projects_on(x)
            views[x.id] = p
        base = views.get(state.get("leader")) or next((v for v in views.values() if v), {})
        state["differing_project_views"] = {
            m: {k: (v or {}).get(k) for k in set(base) | set(v or {}) if (v or {}).get(k) != base.get(k)}
            for m, v in views.items() if v != base}
        return state


def wait_replaced(c, timeout):
    """The members killed for good are spares (or removed), and as many live voters as at the start
    serve: the leader's `raftctl autopilot status`, healthy."""
    want_voters = sum(1 for x in c.nodes.values() if x.role == "voter")

    def replaced():
        rc, ap, _ = c.ctl("autopilot", "status", timeout_ms=2000)
        if rc != 0:
            return None
        roles = {m["id"]: m["role"] for m in ap["members"]}
        if any(roles.get(g, "spare") != "spare" for g in c.gone) or ap["voters"] != want_voters or not ap["healthy"]:
            return None
        return ap
    return wait_for(replaced, timeout, f"the autopilot to replace members {sorted(c.gone)}", interval=0.3)


def read_final(c):
    rc, rows, err = c.ctl("history", "--limit", "0", timeout_ms=20000)
    assert rc == 0, f"raftctl history: {err}"
    rc, projects, err = c.ctl("--consistent", "project", "list", timeout_ms=5000)
    assert rc == 0, f"raftctl project list: {err}"
    rc, engines, err = c.ctl("engine", "list", timeout_ms=5000)
    assert rc == 0, f"raftctl engine list: {err}"
    modes = {x.id: x.mode for x in c.nodes.values()}
    return Final(rows, {p["name"]: (p["owner"], p["epoch"]) for p in projects}, {e["id"]: e for e in engines}, modes)


def run_episode(tmp_path, kind, seed, db=None, duration=DURATION):
    caps = probe()
    spec = SPECS[kind]
    need = spec.get("needs")
    if need and not caps[need][0]:
        pytest.skip(f"nemesis {kind}: {caps[need][1]}")
    if spec.get("db") and db is None:
        pytest.skip(f"nemesis {kind}: no PostgreSQL server (Debian package postgresql)")
    faketime = spec.get("faketime", False) and caps["faketime"][0]
    t_start = time.monotonic()
    rng = random.Random(f"{kind}/{seed}/workload")
    nem_rng = random.Random(f"{kind}/{seed}/nemesis")  # its own: its choices do not depend on the workload's
    h = History(seed, label=f"{kind} seed {seed}")
    prefix = re.sub(r"[^a-z0-9_]", "_", f"f{kind}_{seed}_".lower())
    db_prefix = ("flt_" + prefix)[:40].rstrip("_")
    n = spec["n"]
    net = Network(n)
    c = w = sampler = nem = None
    result = {"kind": kind, "seed": seed, "members": n, "duration_s": duration}
    RESULTS.append(result)
    try:
        net.setup()
        extra = {"raft.log-level": os.environ.get("FAULT_LOG_LEVEL", "info")}
        extra.update(spec.get("extra", {}))
        if db is not None:
            extra["raft.metastore.url"] = pg_url(db, db_prefix)
        tmpfs = {i: spec["tmpfs"] for i in range(1, n + 1)} if spec.get("tmpfs") else None
        c = FaultCluster(tmp_path / "cluster", net, MODES[n], extra=extra, faketime=faketime, tmpfs=tmpfs,
                         standby=spec.get("standby", ()))
        c.start()
        c.wait_leader(timeout=30)
        c.wait_engines_alive(timeout=30)

        hot = [f"{prefix}hot{i}" for i in range(4)]
        w = Workload(c, h, rng, prefix, hot, allow_kills=spec.get("kills", True), timeout_s=TIMEOUT_S)
        for name in hot + [w.new_name() for _ in range(6)]:
            op = w.write("setup", "add", ["project", "add", name], name=name)
            assert op["type"] == "ok", f"setup add {name}: {op}"
            if name not in w.live:
                w.live.append(name)

        def placed():
            rc, out, _ = raftctl(c, ["--consistent", "project", "list"])
            return rc == 0 and all(p["owner"] is not None for p in out)
        wait_for(placed, 20, "the first projects placed", interval=0.2)

        sampler = Sampler(c, h, hot + ["_global"])
        if kind == "mixed":
            nem = Mixed(c, net, h, nem_rng, db=db, hot=hot, kinds=mixed_kinds(caps) if db is not None else
                        [k for k in mixed_kinds(caps) if k != "metastore"])
        else:
            nem = KINDS[kind](c, net, h, nem_rng, db=db, hot=hot)
        sampler.start(duration + HEAL_DEADLINE_S + 60)
        w.start(duration + 30)
        t_fault = time.monotonic()
        nem.start(duration)
        nem.thread.join(duration + 30)
        nem.finish()
        h.note("healed")
        t_heal = time.monotonic()
        w.stop.wait(POST_HEAL_S)
        w.finish()
        sampler.finish()
        result["fault_phase_s"] = round(t_heal - t_fault, 1)
        result["nemesis_cycles"] = nem.cycles

        bad = wait_healthy(c, db, db_prefix)
        violations = []
        if bad is not None:
            violations.append(Violation("healthy", "the cluster is not healthy after the nemesis healed "
                                                   f"(within {HEAL_DEADLINE_S}s)", state=bad))
        fin = read_final(c) if bad is None else None
        if fin is not None:
            v, checked = check(h, fin, timeout_ms=TIMEOUT_S * 1000)
            violations += v
            result["checked"] = checked
            if kind == "clock-jump":
                # no engine was killed or cut off: a failover could only come from the clock
                fo = [r for r in fin.rows if r["reason"] == "failover"]
                if fo:
                    violations.append(Violation("liveness", f"{len(fo)} failover(s) while only wall clocks jumped",
                                                state={"rows": fo[:10]}))
        exits = [e for e in nem.unexpected_exits if kind not in ("disk-full", "mixed")]
        for (m, st, t) in exits:
            violations.append(Violation("crash", f"member {m} exited by itself with status {st}", t=t))
        result["member_exits"] = [(m, st) for (m, st, _) in nem.unexpected_exits]
        san = c.sanitizer_reports()
        for s in san:
            violations.append(Violation("crash", f"sanitizer report: {s[:3000]}"))
        result.update(h.summary())
        result["op_counts"] = h.counts()
        result["violations"] = [repr(v) for v in violations]
        result["elapsed_s"] = round(time.monotonic() - t_start, 1)
        if os.environ.get("FAULT_HISTORY_DIR"):
            os.makedirs(os.environ["FAULT_HISTORY_DIR"], exist_ok=True)
            h.dump(os.path.join(os.environ["FAULT_HISTORY_DIR"], f"{kind}-{seed}.json"))
        if violations:
            path = os.path.join(str(tmp_path), "history.json")
            h.dump(path)
            raise AssertionError(f"{kind} seed {seed}: replay with FAULT_KINDS={kind} FAULT_SEEDS={seed}; "
                                 f"history in {path}; member logs in {c.root}\n" + report(h, violations))
    finally:
        result.setdefault("elapsed_s", round(time.monotonic() - t_start, 1))
        try:
            # after a failure midway: stop every thread before the processes go, and give the
            # session's metastore back running
            for x in (nem, w, sampler):
                if x is not None:
                    x.stop.set()
            for t in ([nem.thread] if nem is not None and nem.thread else []) + (w.threads if w else []) + \
                    ([sampler.thread] if sampler is not None and sampler.thread else []):
                t.join(30)
            if c is not None:
                c.close()
        finally:
            try:
                net.teardown()
            finally:
                if db is not None:
                    if db.pid is None:
                        db.start()
                    else:
                        db.resume()

