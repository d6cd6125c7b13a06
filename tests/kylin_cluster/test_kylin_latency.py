"""Measurement, not a pass/fail timing test (timing targets belong in `make bench`): how long
from a decision to the owner's Kylin row, and from a project created in Kylin to its row
showing the quorum owner's Kylin, with raft.kylin.repair-ms=1000. Skipped unless
KYLIN_MEASURE=1 (KYLIN_MEASURE_RUNS, default 7); prints every run and the medians:

  KYLIN_MEASURE=1 KYLIN_EMU_OUT=$PWD/build/kylin-emu RAFTNODE_BIN=$PWD/build-san/bin/raftnode \
    RAFTCTL_BIN=$PWD/build-san/bin/raftctl /usr/bin/python3 -m pytest -q -s tests/kylin_cluster/test_kylin_latency.py
"""
import os
import random
import statistics
import time

import pytest

from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_kylin_cluster import PROJECTS, agreement, epoch_row, owners, setup_projects  # noqa: E402
from test_kylin_follow import FOLLOW, kylin_call  # noqa: E402

pytestmark = pytest.mark.skipif(os.environ.get("KYLIN_MEASURE") != "1", reason="measurement: KYLIN_MEASURE=1")
RUNS = int(os.environ.get("KYLIN_MEASURE_RUNS", "7"))


def row_owner_is(kc, project, engine):
    r = epoch_row(kc, project)
    return r is not None and r[0] == kc.emus[engine].identity


def test_latency_decision_and_created(kylin_cluster):
    kc = kylin_cluster(extra=FOLLOW)
    setup_projects(kc)
    moves, created, listed, agreed = [], [], [], []
    for i in range(RUNS):
        time.sleep(random.uniform(0, 1))  # a random phase against the 1 s repair period
        p = PROJECTS[i % len(PROJECTS)]
        own = owners(kc)
        dst = next(e for e in (1, 2, 3) if e != own[p])
        t0 = time.monotonic()
        rc, _, err = kc.cluster.ctl("project", "move", p, dst, json_out=False)
        assert rc == 0, err
        wait_for(lambda: row_owner_is(kc, p, dst), 20, f"{p}'s row to show engine {dst}'s Kylin", interval=0.02)
        moves.append(time.monotonic() - t0)

        time.sleep(random.uniform(0, 1))
        name = f"Lat{i}"
        t0 = time.monotonic()
        kylin_call(kc, "POST", "/emu/projects", {"name": name})
        owner = wait_for(lambda: owners(kc).get(name), 20, f"{name} added and placed", interval=0.02)
        listed.append(time.monotonic() - t0)
        wait_for(lambda: row_owner_is(kc, name, owners(kc)[name]), 20, f"{name}'s row to show its owner's Kylin",
                 interval=0.02)
        created.append(time.monotonic() - t0)
        # and until its scheduler runs on the owner's Kylin only (the creating Kylin, which
        # claimed it at creation, stops its own at its scheduler poll: 1 s here)
        wait_for(lambda: agreement(kc, [name]) is None, 20, f"{name} run only by its owner's Kylin", interval=0.05)
        agreed.append(time.monotonic() - t0)
        print(f"run {i}: move -> row {moves[-1]:.2f} s; created in Kylin -> placed {listed[-1]:.2f} s "
              f"-> row of owner {owner} {created[-1]:.2f} s -> agreement {agreed[-1]:.2f} s")
    print(f"median of {RUNS}: move -> row {statistics.median(moves):.2f} s (max {max(moves):.2f}); created in "
          f"Kylin -> placed {statistics.median(listed):.2f} s; -> owner's row {statistics.median(created):.2f} s "
          f"(max {max(created):.2f}); -> agreement {statistics.median(agreed):.2f} s (max {max(agreed):.2f}); "
          f"repair period 1.0 s")
