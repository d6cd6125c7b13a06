"""raftctl maintenance on/off with Kylin attached (docs/kylin.md "Maintenance"): the member of
the quorum's `_global` owner writes Kylin's maintenance marker `<ip>:0000|9223372036854775807`
on the `_global` row (compare-and-set on mvcc), so Kylin's checkInMaintenanceMode makes its
renew and update no-ops; maintenance off takes the row back for that Kylin's identity, and the
projects stay held by their owners. After each step checkEpochOwner holds on exactly the
owner's Kylin for every project, and an idle cluster writes no epoch row."""
import time

from harness import wait_for  # noqa: E402 (tests/cluster, on sys.path via conftest.py)
from test_kylin_cluster import (add_projects, assert_idle, epoch_row, epoch_table, owners, reports,  # noqa: E402
                                wait_agreement)

MARKER_SUFFIX = ":0000|9223372036854775807"


def wait_global(kc, want, what):
    try:
        wait_for(lambda: epoch_row(kc, "_global")[0] == want, 10, what)
    except AssertionError as e:
        logs = "\n".join(f"--- node {x.id} ---\n" + x.log()[-2500:] for x in kc.cluster.nodes.values())
        raise AssertionError(f"{e}: row {epoch_row(kc, '_global')}, want {want}\n{logs}") from None


def test_maintenance_on_off_reaches_kylin(kylin_cluster):
    kc = kylin_cluster()
    names = ["Sales", "Ops", "Web"]
    for name in names:
        st, body = kc.emus[1].post("/emu/projects", {"name": name})
        assert st == 200, body
    add_projects(kc, names)
    wait_agreement(kc, 30, "placement claimed by the owners' Kylin nodes", projects=names)
    own = owners(kc)
    g = own["_global"]
    # the marker is written once the _global owner's member knows its Kylin's identity, which
    # it learns from a claim of its own (docs/kylin.md "Maintenance"): give it a project
    if g not in [own[p] for p in names]:
        kc.cluster.ctl("project", "move", "Sales", g, json_out=False, check=0)
        wait_agreement(kc, 20, "Sales claimed by the _global owner's Kylin", projects=names)
    wait_global(kc, kc.emus[g].identity, "_global held by its owner's Kylin")
    assert_idle(kc, names)

    kc.cluster.ctl("maintenance", "on", "--reason", "upgrade", json_out=False, check=0)
    marker = "127.0.0.1" + MARKER_SUFFIX
    wait_global(kc, marker, "Kylin's maintenance marker on _global")
    reason = kc.db.query(f"SELECT maintenance_mode_reason FROM {kc.prefix}_epoch WHERE epoch_target = '_global'")
    assert reason[0][0] == "upgrade", reason
    # the projects stay held and run where they were, and nothing more is written
    assert_idle(kc, names)
    # Kylin in maintenance: a ZooKeeper-triggered updateAllEpochs on every node writes nothing
    before = (epoch_table(kc), {i: r["writes"] for i, r in reports(kc).items()})
    for e in kc.emus.values():
        assert e.post("/emu/zk-change")[0] == 200
    time.sleep(3)  # the observation window: nothing may happen in it
    after = (epoch_table(kc), {i: r["writes"] for i, r in reports(kc).items()})
    assert before == after, (before, after)

    kc.cluster.ctl("maintenance", "off", json_out=False, check=0)
    g = owners(kc)["_global"]
    wait_global(kc, kc.emus[g].identity, "_global taken back by its owner's Kylin after maintenance")
    wait_agreement(kc, 10, "projects held by their owners after maintenance", projects=names)
    assert_idle(kc, names)
