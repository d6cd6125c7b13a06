"""Jepsen-style fault episodes: every raftnode on its own host (network namespace), a client
workload throughout (project add/remove, moves, rebalances, drains, engine kills, plain and
--consistent reads), one nemesis per episode, then heal, a healthy cluster asserted and the
recorded history checked against DESIGN.md's invariants 1-5 and linearizable consistent reads
(history.py).

Environment:
  FAULT_KINDS     comma-separated nemeses to run (default: all of KINDS below)
  FAULT_SEEDS     comma-separated seeds for every kind, or N for seeds 1..N (default: the fixed
                  CI list, one seed per kind)
  FAULT_EPISODES  number of "mixed" episodes (a random nemesis per fault), seeds from the first
                  mixed seed on (default: the mixed seeds of FAULT_SEEDS or the CI list)
  FAULT_DURATION  seconds of faults per episode (default 10)
  FAULT_DB=none   no metastore; FAULT_LOG_LEVEL (info); FAULT_HISTORY_DIR: keep every history
  FAULT_REPORT    write the per-episode figures as JSON there
A failing episode prints its seed, the replay line, the operations around each violation and
the state that disagrees."""
import os

import pytest

from episode import run_episode

KINDS = ["kill", "pause", "partition-leader", "partition-halves", "partition-bridge", "loss", "delay",
         "metastore", "disk-full", "clock-jump", "kill-voter"]
CI_SEEDS = {"kill": 101, "pause": 202, "partition-leader": 303, "partition-halves": 404, "partition-bridge": 505,
            "loss": 606, "delay": 707, "metastore": 808, "disk-full": 909, "clock-jump": 1010, "kill-voter": 1111,
            "mixed": 4242}


def _seeds(kind):
    s = os.environ.get("FAULT_SEEDS", "").strip()
    if not s:
        return [CI_SEEDS[kind]]
    if "," not in s and s.isdigit() and int(s) <= 1000:
        return list(range(1, int(s) + 1))
    return [int(x) for x in s.split(",") if x.strip()]


def _kinds():
    s = os.environ.get("FAULT_KINDS", "").strip()
    ks = [k.strip() for k in s.split(",") if k.strip()] if s else KINDS + ["mixed"]
    unknown = [k for k in ks if k not in KINDS + ["mixed"]]
    assert not unknown, f"FAULT_KINDS: unknown nemeses {unknown}; known: {KINDS + ['mixed']}"
    return ks


def _params():
    out = []
    for k in _kinds():
        if k == "mixed" and os.environ.get("FAULT_EPISODES"):
            first = _seeds("mixed")[0]
            out += [(k, first + i) for i in range(int(os.environ["FAULT_EPISODES"]))]
        else:
            out += [(k, s) for s in _seeds(k)]
    return out


@pytest.mark.parametrize("kind,seed", _params(), ids=[f"{k}-{s}" for k, s in _params()])
def test_fault_episode(tmp_path, metastore, kind, seed):
    run_episode(tmp_path, kind, seed, db=metastore)
