import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cluster  # noqa: E402


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(n=3, **kw):
        c = Cluster(tmp_path / f"c{len(made)}", n, **kw)
        os.makedirs(c.root, exist_ok=True)
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
    terminalreporter.write_line(f"cluster: {p} passed, {f} failed")
