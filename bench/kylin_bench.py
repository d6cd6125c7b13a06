"""bench/run.sh's kylin phase (issue 10 item 8): a private PostgreSQL 15, 3 raftnode members and
3 emulated Kylin 5 all/job nodes, member i paired with Kylin node i (tools/kylin_stack.py, the
set-up of tests/kylin_cluster/: heart-beat interval/timeout 1 s / 3 s, raft.kylin
health-interval 300 ms, emulators with the recommended settings and a 1 s scheduler poll).

  (a) Kylin-node failover: kill -9 of one Kylin process (its member alive); time from the kill
      until every project it owned has, in <identifier>_epoch, the identity of a live Kylin
      node (polled every 20 ms). KILLS kills, rotating over the nodes; between kills the
      killed emulator is restarted (same port, new identity), its engine is alive again, and
      `raftctl rebalance` gives it projects again (claimed in the table) before the next kill.
  (b) PROJECTS projects written into Kylin's metadata table <identifier> in one transaction
      (Kylin's key /_global/project/NAME.json and GZIP+zlib encoding), added to the quorum
      with raftctl project add in batches of 500, placed and claimed; then
  (c) idle: once the epoch table's counters (pg_stat_user_tables n_tup_ins+n_tup_upd+n_tup_del)
      have not moved for SETTLE s, those counters and the emulators' own write counters
      (/emu/report writes) over IDLE s (the table's read SETTLE s after the window, since
      PostgreSQL publishes a backend's counters up to 10 s late), per minute;
      then (b) kill -9 of the Kylin node owning the most projects: time until all of them
      are claimed by the survivors in the table.
  In (b) and (c) the longest event-loop turn of any member (every member's /metrics, as
  bench/burst.py reads them: issue 13's "load held", aim < 20 ms).
Prints RESULT lines (bench/run.sh collects them). Every process is stopped by its PID."""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from kylin_stack import PREFIX, Stack, wait_for  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from burst import STALL_AIM_S, scrape, window_busy  # noqa: E402


def log(s):
    print(f"kylin: {s}", file=sys.stderr, flush=True)


def result(name, value, unit):
    print(f"RESULT {name} {value} {unit}", flush=True)


def stats(name, unit, vals):
    if not vals:
        result(f"{name}_median", "fail", unit)
        result(f"{name}_max", "fail", unit)
        return
    v = sorted(vals)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    result(f"{name}_median", f"{med:.0f}", unit)
    result(f"{name}_max", f"{v[-1]:.0f}", unit)
    result(f"{name}_samples", ",".join(f"{x:.0f}" for x in vals), unit)


class TablePoller:
    """One open connection; owners of a set of projects in <identifier>_epoch."""

    def __init__(self, pg):
        self.c = pg.connect()
        self.c.autocommit = True

    def owners(self):
        with self.c.cursor() as cur:
            cur.execute(f"SELECT epoch_target, current_epoch_owner FROM {PREFIX}_epoch")
            return dict(cur.fetchall())

    def close(self):
        self.c.close()


# {emulator index: Kylin identity} of the live emulators. Read while the emulators hold few
# projects: /emu/report evaluates checkEpochOwner for every project (slow with 10,000); an
# identity changes only when the emulator restarts.
IDS = {}


def refresh_ids(st):
    IDS.clear()
    IDS.update({i: e.identity for i, e in st.live_emus().items()})


def emu_writes(st):
    """Sum of the live emulators' committed epoch-table writes (/emu/report writes)."""
    n = 0
    for e in st.live_emus().values():
        code, r = e.request("GET", "/emu/report", timeout=300)
        n += int(r["writes"])
    return n


def claimed_by(st, projects, deadline_s, what):
    """Waits until the table's row of each project names its quorum owner's live Kylin node."""
    ids = {i: x for i, x in IDS.items() if st.emus[i].alive()}

    def ok():
        q, t = st.quorum(), st.table()
        for p in projects:
            o = q.get(p, (None,))[0]
            if o not in ids or t.get(p, ("",))[0] != ids[o]:
                return False
        return True
    wait_for(ok, deadline_s, what, interval=0.5)


def time_failover(st, poll, victim, projects, deadline_s):
    """kill -9 of Kylin node VICTIM; ms until every one of PROJECTS has a live identity in the table."""
    live = {x for i, x in IDS.items() if i != victim and st.emus[i].alive()}
    e = st.emus[victim]
    t0 = time.monotonic()
    e.proc.kill()
    e.proc.wait()
    end = t0 + deadline_s
    while time.monotonic() < end:
        own = poll.owners()
        if all(own.get(p) in live for p in projects):
            return (time.monotonic() - t0) * 1000.0
        time.sleep(0.02)
    return None


def engines_alive(st, n):
    return sum(1 for e in st.cluster.engines().values() if e["alive"]) >= n


def restart_and_rebalance(st, victim, projects, deadline_s):
    st.kc.start_emu(victim)
    refresh_ids(st)
    wait_for(lambda: engines_alive(st, 3), deadline_s, f"engine {victim} alive again", interval=0.3)
    rc, out, err = st.ctl("rebalance", json_out=False, timeout_ms=20000)
    if rc != 0:
        raise RuntimeError(f"raftctl rebalance: {err.strip()}")
    ident = IDS[victim]

    def back():
        q = st.quorum()
        mine = [p for p in projects if q[p][0] == victim]
        t = st.table()
        return mine and all(t.get(p, ("",))[0] == ident for p in mine)
    wait_for(back, deadline_s, f"Kylin node {victim} given projects again and claiming them", interval=0.3)
    claimed_by(st, projects, deadline_s, "every project claimed after the rebalance")


def wait_quiet(st, settle_s, deadline_s):
    """Until the epoch table's write counter has not moved for settle_s."""
    last, since = st.table_writes(), time.monotonic()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        time.sleep(1)
        w = st.table_writes()
        if w != last:
            last, since = w, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return True
    return False


def loop_scrapes(st):
    return [scrape(f"127.0.0.1:{p}") for p in st.kc.http_ports]


def loop_report(name, before, after):
    """The longest event-loop turn of any member between two scrapes (burst.py's rule: exact
    when a member's raftnode_loop_busy_max_seconds rose in the window, else the bound of the
    highest histogram bucket that gained turns), and the turns over STALL_AIM_S."""
    longest, bound_only, over = 0.0, False, 0
    for b, a in zip(before, after):
        n_over, bound = window_busy(b, a)
        over += n_over
        if a["raftnode_loop_busy_max_seconds"] > b["raftnode_loop_busy_max_seconds"]:
            v, is_bound = a["raftnode_loop_busy_max_seconds"], False
        else:
            v, is_bound = bound, True
        if v > longest or (v == longest and not is_bound):
            longest, bound_only = v, is_bound
    log(f"{name}: longest loop turn of any member {'<= ' if bound_only else ''}{longest * 1000:.1f} ms, "
        f"{over:.0f} turn(s) over {STALL_AIM_S * 1000:.0f} ms")
    result(f"{name}_loop_busy_max_window", f"{longest * 1000:.2f}", "ms")
    result(f"{name}_loop_busy_max_window_is_bound", 1 if bound_only else 0, "")
    result(f"{name}_loop_busy_over_aim", f"{over:.0f}", "turns")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--small", type=int, default=12, help="projects during the (a) kills")
    ap.add_argument("--projects", type=int, default=10000)
    ap.add_argument("--idle-s", type=int, default=20)
    ap.add_argument("--settle-s", type=int, default=11)
    ap.add_argument("--poll-s", type=int, default=30, help="kylin.job.scheduler.poll-interval-second")
    ap.add_argument("--kylin-timeout-ms", type=int, default=3000, help="raft.kylin.timeout-ms")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    root = tempfile.mkdtemp(prefix="raftnode-bench-kylin-")  # the postgres user must reach it
    os.chmod(root, 0o755)
    # Kylin's default scheduler poll (30 s) and a 3 s health-probe timeout: with 10,000 projects
    # on a small machine, a 1 s poll (3,333 schedulers per node, each reading its epoch_id every
    # second) and a 1 s probe timeout make the health probes time out and every engine flap.
    # follow-projects off: projects reach the quorum through raftctl only, as in the figures
    # of docs/benchmarks.md (following Kylin would add the same 10,000 projects concurrently)
    st = Stack(root, member_extra={"raft.kylin.timeout-ms": a.kylin_timeout_ms, "raft.kylin.follow-projects": "false"},
               emu_props={"kylin.job.scheduler.poll-interval-second": str(a.poll_s)})

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        st.start(log=log)
        wait_for(lambda: engines_alive(st, 3), 60, "heartbeats from 3 engines", interval=0.3)
        refresh_ids(st)
        # (a)
        small = [f"fo_{i:03d}" for i in range(a.small)]
        st.create_projects_http(small)
        st.add_to_quorum(small)
        claimed_by(st, small, 60, "the small set placed and claimed")
        poll = TablePoller(st.pg)
        samples = []
        for k in range(a.kills):
            q = st.quorum()
            victim = 1 + k % 3
            mine = [p for p in small if q[p][0] == victim]
            ms = time_failover(st, poll, victim, mine, 60)
            log(f"kill {k + 1}/{a.kills}: Kylin node {victim}, {len(mine)} projects: "
                + ("no failover within 60 s" if ms is None else f"{ms:.0f} ms"))
            if ms is not None:
                samples.append(ms)
            restart_and_rebalance(st, victim, small, 60)
        stats("kylin_node_failover", "ms", samples)
        # (b), (c)
        big = [f"bulk_{i:05d}" for i in range(a.projects)]
        busy0 = loop_scrapes(st)
        t0 = time.monotonic()
        st.create_projects_sql(big)
        log(f"{a.projects} projects written into {PREFIX} in one transaction in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        st.add_to_quorum(big, batch=500)
        log(f"raftctl project add in batches of 500: {time.monotonic() - t0:.1f} s")
        everything = small + big
        claimed_by(st, everything, 900, f"{len(everything)} projects placed and claimed")
        result(f"kylin_add_and_claim_{a.projects // 1000}k_ms", f"{(time.monotonic() - t0) * 1000:.0f}", "ms")
        loop_report(f"kylin_add_and_claim_{a.projects // 1000}k", busy0, loop_scrapes(st))
        if not wait_quiet(st, a.settle_s, 300):
            log("the epoch table kept being written for 300 s")
        te0 = time.monotonic()
        busy_idle0 = loop_scrapes(st)
        ew0 = emu_writes(st)
        tw0, tt0 = st.table_writes(), time.monotonic()
        time.sleep(a.idle_s)
        ew1 = emu_writes(st)
        te1 = time.monotonic()
        loop_report(f"kylin_idle_{a.projects // 1000}k", busy_idle0, loop_scrapes(st))
        time.sleep(a.settle_s)
        tw1, tt1 = st.table_writes(), time.monotonic()
        tag = f"{a.projects // 1000}k"
        log(f"idle: epoch table +{tw1 - tw0} rows over {tt1 - tt0:.0f} s; emulators +{ew1 - ew0} writes over "
            f"{te1 - te0:.0f} s")
        result(f"kylin_epoch_writes_per_min_idle_{tag}", f"{(tw1 - tw0) * 60.0 / (tt1 - tt0):.1f}", "writes/min")
        result(f"kylin_emu_writes_per_min_idle_{tag}", f"{(ew1 - ew0) * 60.0 / (te1 - te0):.1f}", "writes/min")
        q = st.quorum()
        counts = {i: sum(1 for p in everything if q[p][0] == i) for i in st.emus}
        victim = max(counts, key=counts.get)
        mine = [p for p in everything if q[p][0] == victim]
        ms = time_failover(st, poll, victim, mine, 600)
        log(f"kill -9 of Kylin node {victim} with {len(mine)} projects: "
            + ("no failover within 600 s" if ms is None else f"{ms:.0f} ms"))
        result(f"kylin_node_failover_{tag}_ms", "fail" if ms is None else f"{ms:.0f}", "ms")
        result(f"kylin_node_failover_{tag}_projects", len(mine), "projects")
        poll.close()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        st.close(log=log)
        if a.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
