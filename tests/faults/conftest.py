"""Fixtures of the fault tests: root is required (namespaces, routes, iptables, mounts); one
PostgreSQL server for the session, started on first use (the metastore every episode mirrors
into, reached over its unix socket), stopped by PID at the end."""
import json
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, os.path.join(HERE, "..", "metastore"))

import episode  # noqa: E402

_pg = {}


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="fault tests need root (network namespaces, routes, iptables, tmpfs)")
        for it in items:
            if "test_faults.py" in it.nodeid:
                it.add_marker(skip)


@pytest.fixture(scope="session")
def metastore():
    """The session's PostgreSQL server, or None when PostgreSQL is not installed (FAULT_DB=none
    turns it off)."""
    if os.environ.get("FAULT_DB", "postgresql") == "none":
        return None
    from dbservers import PG_BIN, PostgresServer
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        return None
    if "pg" not in _pg:
        _pg["pg"] = PostgresServer(tempfile.mkdtemp(prefix="raftnode-flt-pg-")).start()
    s = _pg["pg"]
    if s.pid is None:
        s.start()
    return s


@pytest.fixture(scope="session", autouse=True)
def _stop_metastore():
    yield
    s = _pg.pop("pg", None)
    if s is not None:
        try:
            s.resume()
            s.stop()
        finally:
            shutil.rmtree(s.root, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    res = episode.RESULTS
    import netns
    if netns._probe_cache:
        tr.write_line("fault mechanisms on this machine:")
        for k, (ok, why) in netns._probe_cache.items():
            tr.write_line(f"  {k:9s} {'yes' if ok else 'NO '}  {why}")
        if not netns._probe_cache["netem"][0]:
            tr.write_line("  (no sch_netem: loss is iptables' random DROP, delay is NFQUEUE + nfq_delay.py)")
    if res:
        tr.write_line("fault episodes (kind seed members: ops ok/fail/unknown, nemesis actions (faults), acting "
                      "samples (samples of a stale owner, which must not act), consistent reads, violations, member "
                      "exits (id, status), seconds):")
        tot = {"ops": 0, "ok": 0, "fail": 0, "unknown": 0, "nemesis": 0, "lease_samples": 0, "acting_samples": 0,
               "hash_samples": 0, "views": 0, "stale_owner_samples": 0, "consistent_reads": 0,
               "acked_writes": 0, "history_rows": 0}
        for r in res:
            ch = r.get("checked", {})
            tr.write_line(f"  {r['kind']:17s} {r['seed']:>6} n={r['members']}: ops {r.get('ops', 0)} "
                          f"({r.get('ok', 0)}/{r.get('fail', 0)}/{r.get('unknown', 0)}), nemesis "
                          f"{r.get('nemesis', 0)} ({r.get('nemesis_cycles', 0)} faults), acting "
                          f"{r.get('acting_samples', 0)} (stale owners seen {ch.get('stale_owner_samples', 0)}), consistent reads "
                          f"{ch.get('consistent_reads', 0)}, "
                          f"violations {len(r.get('violations', []))}, exits {r.get('member_exits', [])}, "
                          f"{r.get('elapsed_s', 0)}s")
            for k in tot:
                tot[k] += (r.get(k, 0) if k in r else ch.get(k, 0)) or 0
        tr.write_line(f"faults totals: {len(res)} episodes, " + ", ".join(f"{k} {v}" for k, v in tot.items()))
        if os.environ.get("FAULT_REPORT"):
            with open(os.environ["FAULT_REPORT"], "w") as f:
                json.dump(res, f, indent=1, default=str)
    st = tr.stats
    p = len(st.get("passed", []))
    f = len(st.get("failed", [])) + len(st.get("error", []))
    s = len(st.get("skipped", []))
    tr.write_line(f"faults: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
