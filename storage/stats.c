/* stats: aggregate reads for /metrics (see stats.h). */
#include "stats.h"

#include <sqlite3.h>

#include "db.h"

int store_count_history_reasons(struct store *s, void (*cb)(void *data, const char *reason, uint64_t n),
                                void *data)
{
    sqlite3_stmt *stmt = NULL;
    /* A full scan of history each call: the caller caches by store->ownership_version. */
    int rc = sqlite3_prepare_v2(s->db, "SELECT reason, count(*) FROM history GROUP BY reason ORDER BY reason", -1,
                                &stmt, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            const unsigned char *reason = sqlite3_column_text(stmt, 0);
            sqlite3_int64 n = sqlite3_column_int64(stmt, 1);
            cb(data, reason != NULL ? (const char *)reason : "", n > 0 ? (uint64_t)n : 0);
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: history reasons: %s", sqlite3_errmsg(s->db));
        (void)sqlite3_finalize(stmt);
        return -1;
    }
    if (sqlite3_finalize(stmt) != SQLITE_OK) {
        db_error(s, "store: history reasons: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}
