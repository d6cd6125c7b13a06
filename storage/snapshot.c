/* snapshot: whole-database images for libraft's snapshots (store_snapshot) and their
 * installation on a member that lags behind (store_restore).
 *
 * Restore, step by step; every step before the last only reads or touches a scratch copy,
 * so a failure anywhere leaves the live state exactly as it was:
 *   1. copy the image into a fresh in-memory database (sqlite3_deserialize);
 *   2. quick_check it and read its meta: a garbage or truncated buffer fails here;
 *   3. compare its applied index with ours: not newer -> no-op (committed state at an index
 *      is the same on every member, and going back would undo acknowledged writes);
 *   4. check its page size, and bring an image from an older binary up to our schema
 *      (schema_ensure, on the copy);
 *   5. copy every page into the live database with one sqlite3_backup_step(-1): a single
 *      write transaction, which SQLite rolls back if it fails half-way. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "storage/db.h"
#include "storage/schema.h"
#include "storage/store.h"

int store_snapshot(struct store *s, void **buf, size_t *len)
{
    /* The image must hold every applied entry: libraft compacts the log behind it. */
    if (store_commit(s) != 0) {
        return -1;
    }
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize(s->db, "main", &size, 0);
    if (image == NULL || size <= 0) {
        db_error(s, "store: snapshot at index %" PRIu64 ": sqlite3_serialize failed: %s",
                 s->applied_index,
                 sqlite3_errcode(s->db) != SQLITE_OK ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_free(image);
        return -1;
    }
    *buf = image;
    *len = (size_t)size;
    return 0;
}

/* Reads the applied index of the image in TMP after checking it is a sound store image. */
static int image_check(struct store *s, sqlite3 *tmp, size_t len, int64_t *applied)
{
    char err[STORE_ERRMSG_MAX];
    sqlite3_stmt *stmt = NULL;
    /* quick_check answers "ok" or one row per problem; the first few say enough. */
    int rc = sqlite3_prepare_v2(tmp, "PRAGMA quick_check(3)", -1, &stmt, NULL);
    size_t used = 0;
    err[0] = '\0';
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            const char *row = (const char *)sqlite3_column_text(stmt, 0);
            int n = snprintf(err + used, sizeof err - used, "%s%s", used > 0 ? "; " : "",
                             row != NULL ? row : "?");
            used += n > 0 && (size_t)n < sizeof err - used ? (size_t)n : 0;
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: restore image of %zu bytes: not a sound SQLite image: %s", len,
                 sqlite3_errmsg(tmp));
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_finalize(stmt);
    if (strcmp(err, "ok") != 0) {
        for (char *c = err; *c != '\0'; c++) {
            *c = *c == '\n' ? ' ' : *c; /* rows come as "*** in database main ***\nPage 2: ..." */
        }
        db_error(s, "store: restore image of %zu bytes: image is corrupt: %s", len, err);
        return -1;
    }

    int64_t version = 0;
    int found = schema_meta_get(tmp, SCHEMA_META_VERSION, &version, err, sizeof err);
    if (found == 1) {
        found = schema_meta_get(tmp, SCHEMA_META_APPLIED_INDEX, applied, err, sizeof err);
    }
    if (found <= 0) {
        db_error(s, "store: restore image of %zu bytes: %s", len,
                 found < 0 ? err : "not a store image (no meta.schema_version/applied_index)");
        return -1;
    }
    if (version < 1 || version > SCHEMA_VERSION || *applied < 0) {
        db_error(s,
                 "store: restore image of %zu bytes: schema version %lld, applied index %lld; "
                 "this binary reads versions 1..%d",
                 len, (long long)version, (long long)*applied, SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

static int page_size(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA main.page_size", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The backup cannot change the page size of a WAL database. Every store is created with
 * DB_PAGE_SIZE (db.c), so images from our members match; refuse anything else clearly. */
static int check_page_size(struct store *s, sqlite3 *tmp, int64_t image_applied)
{
    int64_t want = 0, have = 0;
    if (page_size(s->db, &want) != 0 || page_size(tmp, &have) != 0) {
        db_error(s, "store: restore image at index %lld: reading page sizes: %s",
                 (long long)image_applied, sqlite3_errmsg(want == 0 ? s->db : tmp));
        return -1;
    }
    if (want != have) {
        db_error(s,
                 "store: restore image at index %lld: its page size is %lld bytes, the local "
                 "store's %lld; a WAL database cannot change it",
                 (long long)image_applied, (long long)have, (long long)want);
        return -1;
    }
    return 0;
}

int store_restore(struct store *s, const void *buf, size_t len)
{
    if (len == 0) {
        db_error(s, "store: restore: empty image");
        return -1;
    }
    if (store_commit(s) != 0) { /* the backup below needs no transaction open */
        return -1;
    }
    unsigned char *copy = sqlite3_malloc64(len);
    sqlite3 *tmp = NULL;
    if (copy == NULL) {
        db_error(s, "store: restore image of %zu bytes: out of memory", len);
        return -1;
    }
    memcpy(copy, buf, len);
    /* The image of a WAL database says so in its header (bytes 18-19 = 2); the in-memory
     * copy cannot do WAL, so mark it a rollback-journal database, as SQLite's own shell does
     * for .restore of such images. The backup keeps the live database in WAL mode. */
    if (len >= 100 && copy[18] == 2 && copy[19] == 2) {
        copy[18] = 1;
        copy[19] = 1;
    }
    int rc = sqlite3_open_v2(":memory:", &tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, "store: restore image of %zu bytes: opening scratch database: %s", len,
                 tmp != NULL ? sqlite3_errmsg(tmp) : sqlite3_errstr(rc));
        sqlite3_free(copy);
        goto out;
    }
    /* FREEONCLOSE: from here on SQLite owns COPY, even when deserialize fails. */
    rc = sqlite3_deserialize(tmp, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
                             SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK) {
        db_error(s, "store: restore image of %zu bytes: deserialize: %s", len, sqlite3_errmsg(tmp));
        goto out;
    }
    int64_t image_applied = 0;
    if (image_check(s, tmp, len, &image_applied) != 0) {
        goto out;
    }
    if ((uint64_t)image_applied <= s->applied_index) {
        sqlite3_close(tmp);
        return 0;
    }
    char err[STORE_ERRMSG_MAX];
    if (schema_ensure(tmp, err, sizeof err) != 0) {
        db_error(s, "store: restore image at index %lld: %s", (long long)image_applied, err);
        goto out;
    }
    if (check_page_size(s, tmp, image_applied) != 0) {
        goto out;
    }
    sqlite3_backup *backup = sqlite3_backup_init(s->db, "main", tmp, "main");
    if (backup == NULL) {
        db_error(s, "store: restore image at index %lld: backup: %s", (long long)image_applied,
                 sqlite3_errmsg(s->db));
        goto out;
    }
    rc = sqlite3_backup_step(backup, -1);
    int frc = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        db_error(s, "store: restore image at index %lld: copying into %s: %s",
                 (long long)image_applied, s->path,
                 sqlite3_errstr(rc != SQLITE_DONE ? rc : frc));
        goto out;
    }
    s->applied_index = (uint64_t)image_applied;
    if (db_load_decision_index(s) != 0) {
        /* The image passed schema_ensure, which creates the key: only a failing read of
         * the live database gets here, and the caller stops the member on -1. */
        sqlite3_close(tmp);
        return -1;
    }
    s->ownership_version++; /* the whole state may have changed: planners must look again */
    sqlite3_close(tmp);
    return 0;

out:
    sqlite3_close(tmp);
    return -1;
}
