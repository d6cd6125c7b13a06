"""Fixtures of the metastore-mirror tests: one PostgreSQL 15 and one MariaDB 10.11 server for
the whole session (started on first use, stopped by PID at the end), a `db` fixture that runs
a test once against each, and `make_cluster` (real raftnode processes, tests/cluster/harness.py).

Each test uses its own table prefix, so tests share the servers without seeing each other.
"""
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
sys.path.insert(0, HERE)
from harness import Cluster  # noqa: E402

from db_fixtures import db, server_root, stop_servers  # noqa: E402,F401

@pytest.fixture
def prefix(request):
    """A table prefix of this test's own (an SQL identifier)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    return "t_" + name.lower()


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(n=3, **kw):
        c = Cluster(tmp_path / f"c{len(made)}", n, **kw)
        made.append(c)
        return c
    yield make
    reports = []
    for c in made:
        c.close()
        reports += c.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    p = len(st.get("passed", []))
    f = len(st.get("failed", [])) + len(st.get("error", []))
    terminalreporter.write_line(f"metastore: {p} passed, {f} failed")
