"""`make demo` (run by tools/demo.sh): a private PostgreSQL 15, 3 raftnode members and 3 emulated
Kylin 5 all/job nodes (tests/kylin/), member i paired with Kylin node i. Creates projects on the
Kylin side (POST /emu/projects: Kylin's own SQL and encoding), adds them to the quorum (raftctl
project add), prints the quorum's view next to Kylin's (epoch table, schedulers,
checkEpochOwner), kills -9 the Kylin process owning the most projects and shows them move,
restarts it and rebalances. SIGTERM (demo.sh forwards Ctrl-C) or the end of the show with
DEMO_EXIT_WHEN_DONE=1 stops everything it started, by PID."""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kylin_stack import JAR, PREFIX, ROOT, Stack, wait_for  # noqa: E402

DIR = os.path.join(ROOT, "var", "demo")
PROJECTS = ["sales_cube", "marketing", "finance_daily", "iot_events", "supply_chain", "web_logs", "ad_clicks",
            "churn"]


def say(s):
    print(f"\n== {s}", flush=True)


def agreement(st, projects):
    """None when every project's quorum owner has a live Kylin node whose identity is in the
    table's row, which alone passes checkEpochOwner and runs the scheduler; else the first
    difference."""
    q, t, reps = st.quorum(), st.table(), st.reports()
    for p in projects:
        o = q.get(p, (None,))[0]
        if o not in reps:
            return f"{p}: quorum owner {o} has no live Kylin node"
        if t.get(p, ("",))[0] != reps[o]["identity"]:
            return f"{p}: table owner {t.get(p)} is not Kylin {o}"
        for i, r in reps.items():
            want = i == o
            if r["owner_check"].get(p, False) != want or (p in r["projects_running"]) != want:
                return f"{p}: Kylin {i} checkEpochOwner/scheduler not yet in step"
    return None


def wait_agreement(st, projects, secs, what):
    last = ["?"]

    def ok():
        last[0] = agreement(st, projects)
        return last[0] is None
    try:
        wait_for(ok, secs, what, interval=0.2)
    except AssertionError:
        raise SystemExit(f"demo: no {what} after {secs} s: {last[0]} (logs in {DIR})")


def show(st, projects):
    q, t, reps = st.quorum(), st.table(), st.reports()
    ids = st.identities(reps)
    print(f"{'':14} | {'quorum (raftctl project list)':42} | {'Kylin: ' + PREFIX + '_epoch':49} | {'Kylin: /emu/report':22}")
    print(f"{'PROJECT':14} | {'OWNER ENGINE (ENGINE IDENTITY)':36} {'EPOCH':>5} | "
          f"{'CURRENT_EPOCH_OWNER':40} {'EPOCH_ID':>8} | {'SCHEDULER':9} {'CHECK_OWNER':12}")
    for p in projects:
        o, oid, ep = q.get(p, (None, "-", "-"))
        towner, eid = t.get(p, ("-", "-"))
        tk = ids.get(towner)
        tcol = f"{towner}" + (f" (kylin{tk})" if tk else (" (dead)" if towner not in ("", "-") else ""))
        run = ",".join(f"kylin{i}" for i, r in sorted(reps.items()) if p in r["projects_running"]) or "-"
        chk = ",".join(f"kylin{i}" for i, r in sorted(reps.items()) if r["owner_check"].get(p)) or "-"
        print(f"{p:14} | {str(o) + ' (' + oid + ')':36} {ep:>5} | {tcol:40} {eid:>8} | {run:9} {chk:12}")
    print("(ENGINE IDENTITY is the member's engine, kylin.server.identity|member start; CURRENT_EPOCH_OWNER is"
          " Kylin's own identity ip:port|Kylin start)")
    d = agreement(st, projects)
    print("(in step: each project's table row names its quorum owner's Kylin node, which alone runs its"
          " scheduler and passes checkEpochOwner)" if d is None else f"(catching up: {d})", flush=True)


def engines(st):
    rc, out, err = st.ctl("engine", "list", json_out=False)
    print(out.rstrip() if rc == 0 else err.rstrip(), flush=True)


def main():
    if not os.path.exists(JAR):
        raise SystemExit(f"demo: {JAR} missing (make kylin-emulator)")
    shutil.rmtree(DIR, ignore_errors=True)  # every run starts from scratch
    os.makedirs(DIR)
    st = Stack(DIR)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        st.start()
        for i, x in sorted(st.cluster.nodes.items()):
            e = st.emus[i]
            print(f"member {i}: pid {x.proc.pid}, API {x.api_addr}  <->  Kylin node {i} (emulator): pid "
                  f"{e.proc.pid}, http://{e.addr}/kylin, identity {e.identity}", flush=True)
        wait_for(lambda: sum(1 for e in st.cluster.engines().values() if e["alive"]) >= 3, 30,
                 "heartbeats from 3 engines")
        say(f"create {len(PROJECTS)} projects in Kylin (POST /emu/projects), then raftctl project add")
        st.create_projects_http(PROJECTS)
        st.add_to_quorum(PROJECTS)
        wait_agreement(st, PROJECTS, 60, "placement claimed by the owners' Kylin nodes")
        say("raftctl engine list")
        engines(st)
        say("the quorum's decisions next to Kylin's epoch table and schedulers")
        show(st, PROJECTS)

        q = st.quorum()
        counts = {i: sum(1 for p in PROJECTS if q[p][0] == i) for i in st.emus}
        victim = max(counts, key=counts.get)
        e = st.emus[victim]
        say(f"kill -9 Kylin node {victim} (pid {e.proc.pid}, {counts[victim]} projects); member {victim} stays up")
        t0 = time.monotonic()
        e.kill()
        wait_agreement(st, PROJECTS, 60, f"failover of Kylin node {victim}'s projects")
        print(f"every project of Kylin node {victim} is claimed by a live Kylin node (quorum, table, schedulers) "
              f"{time.monotonic() - t0:.1f} s after the kill", flush=True)
        show(st, PROJECTS)
        say("raftctl engine list")
        engines(st)

        say(f"restart Kylin node {victim} (same port, new identity), then raftctl rebalance")
        st.kc.start_emu(victim)
        wait_for(lambda: sum(1 for x in st.cluster.engines().values() if x["alive"]) >= 3, 30,
                 f"engine {victim} alive again")
        rc, out, err = st.ctl("rebalance", json_out=False)
        print(out.rstrip() if rc == 0 else err.rstrip())
        wait_agreement(st, PROJECTS, 60, "the rebalance claimed by the Kylin nodes")
        show(st, PROJECTS)

        eps = st.cluster.endpoints()
        print(f"""
Try, in another shell (as root):
  export RAFTCTL_ENDPOINTS={eps}
  {ROOT}/bin/raftctl project list; {ROOT}/bin/raftctl kylin status
  curl -s http://{st.emus[1].addr}/emu/report
  runuser -u postgres -- psql -h {st.pg.root} -p {st.pg.port} -d kylin -c 'SELECT * FROM {PREFIX}_epoch'
Ctrl-C stops the Kylin nodes, the members and PostgreSQL. Logs: {DIR}""", flush=True)
        if os.environ.get("DEMO_EXIT_WHEN_DONE", "0") == "1":
            return 0
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print()
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        st.close()


if __name__ == "__main__":
    sys.exit(main())
