"""Fixtures of the Kylin cluster tests (issue 10): 3 raftnode members, each paired with an
emulated Kylin 5 node (tests/kylin/) on the same database, against real PostgreSQL 15 and
MariaDB. Reuses tests/cluster/harness.py, tests/metastore/dbservers.py and the emulator
launcher of tests/kylin/conftest.py (its fixtures emulator_jar, server_root, db, prefix and
the session's database servers are imported from there)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kylin"))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
sys.path.insert(0, os.path.join(ROOT, "tests", "metastore"))

import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("kylin_emu_conftest", os.path.join(ROOT, "tests", "kylin", "conftest.py"))
kylin_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kylin_conftest)
from harness import Cluster, free_ports, wait_for  # noqa: E402,F401

Emu = kylin_conftest.Emu
emulator_jar = kylin_conftest.emulator_jar
server_root = kylin_conftest.server_root
stop_servers = kylin_conftest.stop_servers
prefix = kylin_conftest.prefix

# The emulators' settings: the recommended set-up (race enabled, no timer ever fires) and a
# short scheduler poll, so a node whose epoch_id changed stops the project's scheduler soon.
EMU_PROPS = {"kylin.job.scheduler.poll-interval-second": "1"}


# Each test runs on PostgreSQL 15 and, if in BOTH_DATABASES below, on MariaDB (tests/kylin/conftest.py's db).
db = kylin_conftest.db


class KylinCluster:
    """Member i (1..n) with raft.kylin.url = emulator i's; emulator i's identity prefix is
    kylin.server.identity of member i."""

    def __init__(self, root, jar, db, prefix, n=3, extra=None, schema="kv"):
        self.jar, self.db, self.prefix, self.root = jar, db, prefix, str(root)
        self.schema = schema  # the emulators' metadata schema (tests/kylin: kv or later)
        self.ports = free_ports(n)
        self.http_ports = free_ports(n)  # raft.http.address: the Kylin counters in /metrics
        node_extra = {}
        for i, port in enumerate(self.ports, 1):
            node_extra[i] = {
                "raft.http.address": f"127.0.0.1:{self.http_ports[i - 1]}",
                "raft.kylin.url": f"http://127.0.0.1:{port}/kylin",
                "kylin.server.identity": f"127.0.0.1:{port}",
                "raft.kylin.health-interval-ms": 300,
                "raft.kylin.repair-ms": 1000,
                "raft.kylin.timeout-ms": 1000,
            }
        conf = {"raft.metastore.url": db.url(prefix), "kylin.metadata.url": db.kylin_url(prefix)}
        conf.update(extra or {})
        self.cluster = Cluster(os.path.join(self.root, "c"), n, extra=conf, node_extra=node_extra)
        self.emus = {}

    def start_emu(self, i, wait=True):
        e = Emu(self.jar, self.db, self.prefix, self.root, props=EMU_PROPS, port=self.ports[i - 1],
                schema=self.schema)
        self.emus[i] = e
        return e.wait_ready() if wait else e

    def start(self):
        for i in range(1, len(self.ports) + 1):
            self.start_emu(i, wait=False)
        for e in self.emus.values():
            e.wait_ready(timeout=60)
        self.cluster.start()
        # generous: sanitizer build, three JVMs on a 2-core machine that CI may share
        self.cluster.wait_leader(timeout=60)
        # an engine is alive only once its Kylin's health probe passed and its heartbeat
        # committed; projects added before that would all be placed on the first alive engine
        self.cluster.wait_engines_alive(timeout=60)
        return self

    def metrics(self, i):
        """Member i's /metrics, parsed (tests/cluster/test_http.py's parser)."""
        from test_http import get, parse_prom
        st, _, body = get(self.http_ports[i - 1], "/metrics")
        assert st == 200, body
        return parse_prom(body)

    def close(self):
        for e in self.emus.values():
            if e.alive():
                e.kill()
        self.cluster.close()


@pytest.fixture
def kylin_cluster(emulator_jar, db, prefix, tmp_path):
    made = []

    def make(**kw):
        kc = KylinCluster(tmp_path / f"k{len(made)}", emulator_jar, db, prefix, **kw)
        made.append(kc)
        return kc.start()
    yield make
    reports = []
    for kc in made:
        kc.close()
        reports += kc.cluster.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# Every test runs on PostgreSQL 15; these also run on MariaDB, whose own paths they cover (its
# SQL dialect in the epoch reader and the _global compare-and-set, its case-insensitive names,
# its metadata tables, InnoDB deadlocks at registration). The others (failover mechanics, claim
# recording, ZooKeeper renewal) do not depend on the database and run once, to keep make test
# well under 30 minutes; `KYLIN_CLUSTER_ALL_DBS=1` runs every test on both.
BOTH_DATABASES = {
    "test_placement_status_and_idle", "test_kill_kylin_fails_over", "test_move_and_drift_repair",
    "test_kylin_restart_reclaims", "test_projects_follow_kylin", "test_later_schema_refused",
    "test_projects_follow_per_type_table", "test_maintenance_on_off_reaches_kylin",
}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("KYLIN_CLUSTER_ALL_DBS") == "1":
        return
    keep, once = [], []
    for item in items:
        param = getattr(getattr(item, "callspec", None), "params", {}).get("db")
        if param == "mysql" and item.originalname not in BOTH_DATABASES:
            once.append(item)
        else:
            keep.append(item)
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    p = len(st.get("passed", []))
    f = len(st.get("failed", [])) + len(st.get("error", []))
    d = len(st.get("deselected", []))
    terminalreporter.write_line(f"kylin-cluster: {p} passed, {f} failed"
                                + (f" ({d} PostgreSQL-only tests not repeated on MariaDB)" if d else ""))
