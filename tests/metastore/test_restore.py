"""Issue 15, item 2 with the metastore mirror (every test runs once per database): a cluster
restored from a backup brings Kylin's epoch table in line with the restored state, although the
old cluster had mirrored later decisions at a higher term and index (its sync row is deleted by
the restore, docs/operations.md "Back up and restore")."""
from harness import wait_for
from mirror_helpers import add_projects, all_placed, db_sync, history_from_db, leader_node, wait_mirrored

MARGIN = 1000000  # STORE_RESTORE_EPOCH_MARGIN (storage/store.h)


def test_restore_brings_the_epoch_table_in_line(make_cluster, db, prefix, tmp_path):
    extra = {"raft.metastore.url": db.url(prefix)}
    old = make_cluster(3, extra=extra).start()
    ld = leader_node(old)
    wait_for(lambda: len(old.engines()) == 3, 20, "3 engines registered")
    add_projects(old, [f"sales_{i}" for i in range(10)], ld)
    wait_for(lambda: all_placed(old), 20, "every project placed")
    snap = str(tmp_path / "backup.snap")

    def saved_unchanged():
        """The mirrored rows, when they did not change while the backup was taken."""
        rows = wait_mirrored(old, db, prefix, what="rows before the backup")
        if any(owner == "" for _, owner, *_ in rows.values()):
            return None
        old.ctl("snapshot", "save", snap, check=0)
        return rows if wait_mirrored(old, db, prefix, what="rows after the backup") == rows else None
    saved = wait_for(saved_unchanged, 60, "a backup of a settled state")
    # the old cluster decides more after the backup: its rows and sync row move past the image
    _, projects, _ = old.ctl("project", "list", check=0)
    p0 = next(p for p in projects if p["name"] == "sales_0")
    old.ctl("project", "move", "sales_0", 1 if p0["owner"] != 1 else 2, check=0)
    moved = wait_mirrored(old, db, prefix, what="rows after the move")
    assert moved["sales_0"][0] == saved["sales_0"][0] + 1
    old_sync = db_sync(db, prefix)
    for x in old.nodes.values():
        x.stop()

    new = make_cluster(3, extra=extra)
    for x in new.nodes.values():
        x.start("--restore", snap)
    new.wait_leader(timeout=30)
    for x in new.nodes.values():
        assert "deleted the old cluster's row" in x.log(), x.log()[-3000:]
    rows = wait_mirrored(new, db, prefix, timeout=60, what="the epoch table to equal the restored state")
    for name, (epoch, *_rest) in saved.items():
        assert rows[name][0] == epoch + MARGIN, (name, saved[name], rows[name])
    # sales_0 was moved after the backup: the restored epoch is still above the old cluster's
    assert rows["sales_0"][0] > moved["sales_0"][0]
    sync = db_sync(db, prefix)
    assert sync != old_sync and sync[2] == new.leader_id(), (old_sync, sync)
    restored = [r for r in history_from_db(db, prefix) if r[7] == "restore"]
    assert sorted(r[3] for r in restored) == sorted(saved), restored
