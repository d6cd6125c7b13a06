/* restore_fence: turning a backup image into the first state of a new cluster
 * (store_fence_restore, store.h; the procedure is in docs/operations.md).
 *
 * Why the epochs move (DESIGN.md invariant 1, "fencing must hold across a restore"): the old
 * cluster may have kept deciding after the backup was taken, so its engines (and the Kylin
 * nodes it told) may hold epochs above the image's. Every project's epoch is raised by
 * STORE_RESTORE_EPOCH_MARGIN, more owner changes of one project than the old cluster can
 * plausibly have made after the backup, and the raise is one history row with reason
 * 'restore' per project. Everything here is a function of the image alone (the raise, the
 * rows' time and term come from the file's header), so every member restored from the same
 * file holds the same state, byte for byte in store_hash's terms. */
#include <inttypes.h>
#include <stdio.h>

#include "storage/db.h"
#include "storage/schema.h"
#include "storage/store.h"

static int exec_bound(struct store *s, const char *sql, uint64_t a, uint64_t b, uint64_t c)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        int n = sqlite3_bind_parameter_count(stmt);
        const uint64_t v[3] = {a, b, c};
        for (int i = 0; i < n && i < 3 && rc == SQLITE_OK; i++) {
            rc = sqlite3_bind_int64(stmt, i + 1, (sqlite3_int64)v[i]);
        }
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_error(s, "store: restore: %s: %s", sql, sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int max_epoch(struct store *s, uint64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(epoch), 0) FROM projects", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(stmt, 0);
    } else {
        db_error(s, "store: restore: reading the highest epoch: %s", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_fence_restore(struct store *s, uint64_t term, uint64_t time_ms)
{
    uint64_t highest = 0;
    if (store_commit(s) != 0) { /* its own transaction follows */
        return -1;
    }
    if (max_epoch(s, &highest) != 0) {
        return -1;
    }
    if (highest > STORE_EPOCH_MAX - STORE_RESTORE_EPOCH_MARGIN) {
        db_error(s,
                 "store: restore: the highest epoch in the image is %" PRIu64 "; raising it by %d would pass "
                 "%d, the largest epoch_id Kylin's int column holds: this image cannot be fenced by a restore",
                 highest, STORE_RESTORE_EPOCH_MARGIN, STORE_EPOCH_MAX);
        return -1;
    }
    if (exec_bound(s, "BEGIN IMMEDIATE", 0, 0, 0) != 0) {
        return -1;
    }
    /* history first reads the raised epochs; ORDER BY name makes seq the same everywhere */
    if (exec_bound(s, "UPDATE projects SET epoch = epoch + ?1", STORE_RESTORE_EPOCH_MARGIN, 0, 0) != 0 ||
        exec_bound(s,
                   "INSERT INTO history (raft_index, term, time_ms, project, from_owner, to_owner, epoch, reason)"
                   " SELECT " STORE_RESTORE_INDEX_SQL ", ?1, ?2, name, owner, owner, epoch, 'restore'"
                   " FROM projects ORDER BY name",
                   term, time_ms, 0) != 0 ||
        exec_bound(s, "UPDATE meta SET value = " STORE_RESTORE_INDEX_SQL " WHERE key = '" SCHEMA_META_APPLIED_INDEX "'",
                   0, 0, 0) != 0 ||
        exec_bound(s,
                   "INSERT INTO meta (key, value) VALUES ('" SCHEMA_META_DECISION_INDEX "', " STORE_RESTORE_INDEX_SQL
                   ") ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   0, 0, 0) != 0 ||
        exec_bound(s, "COMMIT", 0, 0, 0) != 0) {
        (void)db_rollback(s);
        return -1;
    }
    s->applied_index = STORE_RESTORE_INDEX;
    s->decision_index = STORE_RESTORE_INDEX;
    db_mark_committed(s);
    s->ownership_version++;
    return 0;
}
