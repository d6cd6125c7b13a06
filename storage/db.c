/* db: opening and closing the store's SQLite connection, its pragmas, and the statements
 * prepared once at open so that store_apply never parses SQL (see db.h). */
#include "storage/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/checkpoint.h"
#include "storage/schema.h"
#include "storage/walbuf.h"

/* How long a write waits for another connection (an operator's sqlite3 shell reading the
 * file, say) before failing. Kept short: it blocks the event loop while it waits. */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define DB_BUSY_TIMEOUT_MS 2000

/* Projects are keyed by (name COLLATE NOCASE, name) (schema.c, version 8): an exact lookup
 * names both terms, "name = ?1 COLLATE NOCASE AND name = ?1", so that it is one search of
 * the primary key (the second term alone is a scan: the key's first column is case-folded).
 * test_fsm.c checks every statement below that reads or writes a project by name. */

/* Fixed rather than the build's default: a restore copies pages into a WAL database, which
 * cannot change its page size, so every member's store must use the same one. It only takes
 * effect when the file is created. */
#define DB_PAGE_SIZE 4096

static const char *const stmt_sql[DB_STMT_COUNT] = {
    [DB_BEGIN] = "BEGIN IMMEDIATE",
    [DB_COMMIT] = "COMMIT",
    [DB_ROLLBACK] = "ROLLBACK",
    [DB_SAVEPOINT] = "SAVEPOINT cmd",
    [DB_RELEASE] = "RELEASE cmd",
    [DB_ROLLBACK_TO] = "ROLLBACK TO cmd",
    [DB_META_SET_APPLIED] = "UPDATE meta SET value = ?1 WHERE key = '" SCHEMA_META_APPLIED_INDEX "'",
    [DB_META_SET_DECISION] = ("INSERT INTO meta (key, value) VALUES ('" SCHEMA_META_DECISION_INDEX "', ?1)"
                              " ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    [DB_PROJECT_INSERT] = ("INSERT INTO projects (name) VALUES (?1)"
                           " ON CONFLICT (name COLLATE NOCASE, name) DO NOTHING"),
    [DB_PROJECT_INSERT_KYLIN] = ("INSERT INTO projects (name, kylin_listed) VALUES (?1, 1)"
                                 " ON CONFLICT (name COLLATE NOCASE, name) DO NOTHING"),
    [DB_PROJECT_MARK_KYLIN] = ("UPDATE projects SET kylin_listed = 1"
                               " WHERE name = ?1 COLLATE NOCASE AND name = ?1 AND kylin_listed = 0"),
    [DB_PROJECT_DELETE] = "DELETE FROM projects WHERE name = ?1 COLLATE NOCASE AND name = ?1",
    [DB_PROJECT_EXISTS] = "SELECT 1 FROM projects WHERE name = ?1 COLLATE NOCASE AND name = ?1",
    /* An old log may hold two names equal ignoring case (command.h): the exact one, else the
     * first in byte order, so the refusal's message is the same on every member. */
    [DB_PROJECT_CASE_TWIN] = "SELECT name FROM projects WHERE name = ?1 COLLATE NOCASE "
                             "ORDER BY name = ?1 DESC, name LIMIT 1",
    [DB_PROJECT_COUNT] = "SELECT count(*) FROM projects",
    /* Listings in byte order of the name, as before version 8: the key is in case-folded
     * order, so SQLite sorts the rows (in memory: temp_store) after one scan. */
    [DB_PROJECT_LIST] = "SELECT name, owner, pinned, epoch, kylin_listed FROM projects ORDER BY name",
    /* One join, in name order: one scan of the key, each owner is one lookup, then the sort. */
    [DB_PROJECT_LIST_IDENTITY] = ("SELECT p.name, p.owner, e.identity, p.epoch FROM projects p"
                                  " LEFT JOIN engines e ON e.id = p.owner ORDER BY p.name"),
    [DB_PROJECT_GET] = ("SELECT name, owner, pinned, epoch, kylin_listed FROM projects"
                        " WHERE name = ?1 COLLATE NOCASE AND name = ?1"),
    [DB_PROJECT_ASSIGN] = ("UPDATE projects SET owner = ?2, epoch = epoch + 1,"
                           " kylin_identity = NULL, kylin_epoch_id = NULL"
                           " WHERE name = ?1 COLLATE NOCASE AND name = ?1"),
    [DB_PROJECT_CLAIM_GET] = ("SELECT name, owner, epoch, kylin_identity, kylin_epoch_id"
                              " FROM projects WHERE name = ?1 COLLATE NOCASE AND name = ?1"),
    [DB_PROJECT_CLAIM_SET] = ("UPDATE projects SET kylin_identity = ?2, kylin_epoch_id = ?3"
                              " WHERE name = ?1 COLLATE NOCASE AND name = ?1"),
    [DB_PROJECT_CLAIMS] = ("SELECT name, owner, epoch, kylin_identity, kylin_epoch_id"
                           " FROM projects ORDER BY name"),
    [DB_PROJECT_CLAIMS_OF] = ("SELECT name, owner, epoch, kylin_identity, kylin_epoch_id"
                              " FROM projects WHERE owner = ?1 ORDER BY name"),
    [DB_PROJECT_PIN] = ("UPDATE projects SET pinned = ?2 WHERE name = ?1 COLLATE NOCASE AND name = ?1"
                        " AND pinned IS NOT ?2"),
    [DB_MEMBER_UPSERT] = ("INSERT INTO members (id, api_address) VALUES (?1, ?2)"
                          " ON CONFLICT (id) DO UPDATE SET api_address = excluded.api_address"),
    [DB_MEMBER_DELETE] = "DELETE FROM members WHERE id = ?1",
    [DB_MEMBER_API] = "SELECT api_address FROM members WHERE id = ?1",
    /* The WHERE of the update makes changes() say whether anything changed, so that an
     * engine re-announcing the same settings does not count as an ownership change. */
    [DB_ENGINE_UPSERT] =
        ("INSERT INTO engines (id, mode, weight, identity, race_enabled, alive, draining)"
         " VALUES (?1, ?2, ?3, ?4, ?5, 1, 0)"
         " ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, weight = excluded.weight,"
         "  identity = excluded.identity, race_enabled = excluded.race_enabled"
         " WHERE mode IS NOT excluded.mode OR weight IS NOT excluded.weight"
         "  OR identity IS NOT excluded.identity OR race_enabled IS NOT excluded.race_enabled"),
    [DB_ENGINE_SINGLE_OTHER] = ("SELECT id FROM engines WHERE race_enabled = 0"
                                " AND mode IN ('all', 'job') AND id <> ?1 ORDER BY id LIMIT 1"),
    [DB_ENGINE_STATE] = "SELECT mode, alive, draining FROM engines WHERE id = ?1",
    [DB_ENGINE_HEARTBEAT] = ("UPDATE engines SET heartbeats = heartbeats + 1,"
                             " last_heartbeat_index = ?2, alive = 1 WHERE id = ?1"),
    [DB_ENGINE_COUNT_DEAD] = "SELECT count(*) FROM engines WHERE alive = 0",
    [DB_ENGINE_SET_ALIVE] = "UPDATE engines SET alive = ?2 WHERE id = ?1",
    [DB_ENGINE_SET_DRAINING] = "UPDATE engines SET draining = ?2 WHERE id = ?1",
    /* Columns in enum db_engine_col order. One grouped join: each engine's projects are
     * counted through projects_by_owner, not by one query per engine. */
    [DB_ENGINE_LIST] = ("SELECT e.id, e.mode, e.weight, e.identity, e.race_enabled, e.alive,"
                        " e.draining, e.heartbeats, e.last_heartbeat_index, count(p.owner)"
                        " FROM engines e LEFT JOIN projects p ON p.owner = e.id"
                        " GROUP BY e.id ORDER BY e.id"),
    [DB_ENGINE_GET] = ("SELECT e.id, e.mode, e.weight, e.identity, e.race_enabled, e.alive,"
                       " e.draining, e.heartbeats, e.last_heartbeat_index,"
                       " (SELECT count(*) FROM projects p WHERE p.owner = e.id)"
                       " FROM engines e WHERE e.id = ?1"),
    [DB_HISTORY_INSERT] = ("INSERT INTO history (raft_index, term, time_ms, project, from_owner,"
                           " to_owner, epoch, reason, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
    /* Newest LIMIT rows, returned oldest first (columns in enum db_history_col order). */
    [DB_HISTORY_TAIL] = ("SELECT raft_index, term, time_ms, project, from_owner, to_owner,"
                         " epoch, reason, actor FROM (SELECT * FROM history ORDER BY seq DESC"
                         " LIMIT ?1) ORDER BY seq"),
    [DB_HISTORY_TAIL_PROJECT] = ("SELECT raft_index, term, time_ms, project, from_owner,"
                                 " to_owner, epoch, reason, actor FROM (SELECT * FROM history"
                                 " WHERE project = ?2 ORDER BY seq DESC LIMIT ?1) ORDER BY seq"),
    /* Newest first through the rowid, so reading one entry's rows costs those rows only.
     * taken_from_live: the old owner is an engine not recorded dead (a voluntary move: it may
     * still act until its lease ends), or none although an earlier owner existed. */
    [DB_HISTORY_HANDOVERS] = ("SELECT h.raft_index, h.project,"
                              " CASE WHEN h.from_owner IS NULL THEN h.epoch > 1"
                              " ELSE coalesce(e.alive, 1) END"
                              " FROM history h LEFT JOIN engines e ON e.id = h.from_owner"
                              " ORDER BY h.seq DESC"),
    [DB_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [DB_SETTING_SET] = ("INSERT INTO settings (key, value) VALUES (?1, ?2)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                        " WHERE value IS NOT excluded.value"),
    [DB_AUDIT_INSERT] = ("INSERT INTO audit (raft_index, term, time_ms, actor, method, detail)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
    [DB_AUDIT_TAIL] = ("SELECT raft_index, term, time_ms, actor, method, detail FROM (SELECT * FROM audit"
                       " ORDER BY seq DESC LIMIT ?1) ORDER BY seq"),
};

void db_error(struct store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
}

sqlite3_stmt *db_stmt(struct store *s, enum db_stmt id)
{
    sqlite3_stmt *stmt = s->stmts->stmt[id];
    /* Statements are reset after every use; these only matter after an error path. Their
     * return values repeat the last step's error, which was already reported. */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

int db_step_done(struct store *s, sqlite3_stmt *stmt)
{
    (void)s;
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt); /* returns the step's error again, or SQLITE_OK */
    return rc;
}

int db_rollback(struct store *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        return 0; /* SQLite already rolled back (I/O error, full disk, out of memory) */
    }
    int rc = db_step_done(s, db_stmt(s, DB_ROLLBACK));
    return rc == SQLITE_DONE ? 0 : rc;
}

void db_mark_committed(struct store *s)
{
    s->committed_index = s->applied_index;
    s->committed_decision_index = s->decision_index;
    s->group_entries = 0;
}

int db_load_decision_index(struct store *s)
{
    char err[STORE_ERRMSG_MAX];
    int64_t decision = 0;
    int found = schema_meta_get(s->db, SCHEMA_META_DECISION_INDEX, &decision, err, sizeof err);
    if (found <= 0 || decision < 0) {
        db_error(s, "store: %s: %s", s->path,
                 found < 0 ? err : "meta.decision_index is missing or negative");
        return -1;
    }
    s->decision_index = (uint64_t)decision;
    db_mark_committed(s); /* loaded from the file: committed by definition */
    return 0;
}

int db_prepare_all(struct store *s)
{
    for (int i = 0; i < DB_STMT_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmts->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            db_error(s, "store: open %s: preparing \"%s\": %s", s->path, stmt_sql[i],
                     sqlite3_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

void db_finalize_all(struct store *s)
{
    for (int i = 0; i < DB_STMT_COUNT; i++) {
        sqlite3_finalize(s->stmts->stmt[i]); /* NULL is a harmless no-op */
        s->stmts->stmt[i] = NULL;
    }
}

/* What the operator can do about an open failure. */
static const char *open_hint(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
        return "; check the data directory exists and is writable";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return "; the file is damaged or not a raftnode store: move it away and let the member "
               "catch up from a snapshot";
    case SQLITE_FULL:
        return "; free disk space";
    default:
        return "";
    }
}

/* Runs a pragma that returns one text row and checks the value (journal_mode does not fail
 * when it cannot switch: it answers the mode it kept). */
static int pragma_expect(struct store *s, const char *sql, const char *want, const char *also)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(s, "store: open %s: %s: %s%s", s->path, sql, sqlite3_errmsg(s->db), open_hint(rc));
        sqlite3_finalize(stmt);
        return -1;
    }
    if (want != NULL) {
        const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
        if (got == NULL || (strcmp(got, want) != 0 && (also == NULL || strcmp(got, also) != 0))) {
            db_error(s, "store: open %s: %s: got '%s', want '%s'; the file system may not support "
                        "it (network file systems often do not)",
                     s->path, sql, got != NULL ? got : "", want);
            sqlite3_finalize(stmt);
            return -1;
        }
    }
    sqlite3_finalize(stmt);
    return 0;
}

int store_open(struct store *s, const char *path)
{
    memset(s, 0, sizeof *s);
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof s->path) {
        db_error(s, "store: open: path of %zu bytes; it must have 1..%zu bytes", n,
                 sizeof s->path - 1);
        return -1;
    }
    memcpy(s->path, path, n + 1);

    s->stmts = calloc(1, sizeof *s->stmts);
    if (s->stmts == NULL) {
        db_error(s, "store: open %s: out of memory", path);
        return -1;
    }
    /* Created 0600 by us, not 0644 by SQLite; an older file is tightened (issue 12). */
    if (strcmp(path, ":memory:") != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            db_error(s, "store: open %s: %s%s", path, strerror(errno),
                     open_hint(errno == ENOENT || errno == EACCES ? SQLITE_CANTOPEN : SQLITE_ERROR));
            goto err_close;
        }
        if (fchmod(fd, 0600) != 0) {
            db_error(s, "store: open %s: cannot make it mode 0600: %s", path, strerror(errno));
            (void)close(fd);
            goto err_close;
        }
        if (close(fd) != 0) {
            db_error(s, "store: open %s: close: %s", path, strerror(errno));
            goto err_close;
        }
    }
    /* NOMUTEX: one connection used by the loop thread only (store.h). walbuf: a commit's WAL
     * frames reach the file in one write instead of two per frame (walbuf.h). */
    int rc = walbuf_register();
    if (rc != SQLITE_OK) {
        db_error(s, "store: open %s: registering the %s VFS: %s", path, WALBUF_VFS, sqlite3_errstr(rc));
        goto err_close;
    }
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         WALBUF_VFS);
    if (rc != SQLITE_OK) {
        db_error(s, "store: open %s: %s%s", path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), open_hint(rc));
        goto err_close;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = sqlite3_busy_timeout(s->db, DB_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        db_error(s, "store: open %s: busy_timeout: %s", path, sqlite3_errmsg(s->db));
        goto err_close;
    }
    /* WAL + synchronous=NORMAL: a commit is not fsync'd, so a power loss may drop the last
     * transactions; each carries its applied index, so the state falls back to an earlier
     * index as a whole and libraft replays the rest from its log (fsync'd before any entry
     * is acknowledged: the durability of a decision is the log's) or snapshot. What NORMAL
     * keeps is the file's consistency: a checkpoint fsyncs the WAL before it copies frames
     * into the database and the database before the WAL may be reused, so no crash leaves
     * pages of different transactions mixed. synchronous=OFF would drop those two fsyncs
     * and with them that guarantee (a power loss after the WAL restarted could leave copied
     * pages unwritten and their frames overwritten: a corrupt file, not an older state), so
     * the checkpoint moves off the loop instead (checkpoint.h). kill -9 loses nothing
     * either way: the page cache survives the process. An in-memory database answers
     * "memory" to journal_mode. temp_store: the scheduler's TEMP load counts (loads.h) stay
     * in memory; it must be set before any TEMP object exists (setting it drops them). */
    if (pragma_expect(s, "PRAGMA page_size=" STRINGIFY(DB_PAGE_SIZE), NULL, NULL) != 0 ||
        pragma_expect(s, "PRAGMA journal_mode=WAL", "wal", "memory") != 0 ||
        pragma_expect(s, "PRAGMA synchronous=NORMAL", NULL, NULL) != 0 ||
        pragma_expect(s, "PRAGMA temp_store=MEMORY", NULL, NULL) != 0 ||
        pragma_expect(s, "PRAGMA journal_size_limit=" STRINGIFY(STORE_WAL_SIZE_LIMIT), NULL, NULL) != 0 ||
        pragma_expect(s, "PRAGMA foreign_keys=ON", NULL, NULL) != 0) {
        goto err_close;
    }
    /* SQLite's automatic checkpoint (inside the committing apply) off; checkpoint.h's WAL
     * hook keeps a larger inline fallback until a checkpointer watches the WAL. */
    store_wal_watch(s, NULL);
    char err[STORE_ERRMSG_MAX];
    if (schema_ensure(s->db, err, sizeof err) != 0) {
        db_error(s, "store: open %s: %s", path, err);
        goto err_close;
    }
    int64_t applied = 0;
    int found = schema_meta_get(s->db, SCHEMA_META_APPLIED_INDEX, &applied, err, sizeof err);
    if (found <= 0 || applied < 0) {
        db_error(s, "store: open %s: %s", path,
                 found < 0 ? err : "meta.applied_index is missing or negative");
        goto err_close;
    }
    s->applied_index = (uint64_t)applied;
    if (db_load_decision_index(s) != 0) {
        goto err_close;
    }
    if (db_prepare_all(s) != 0) {
        goto err_finalize;
    }
    return 0;

err_finalize:
    db_finalize_all(s);
err_close:
    if (s->db != NULL) {
        int code = sqlite3_extended_errcode(s->db) & 0xff;
        s->corrupt = code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
    }
    sqlite3_close(s->db); /* NULL is a harmless no-op */
    s->db = NULL;
    free(s->stmts);
    s->stmts = NULL;
    return -1;
}

void store_close(struct store *s)
{
    if (s->stmts != NULL && s->db != NULL) {
        /* A clean stop keeps the open group; if the commit fails, the raft log still holds
         * its entries and the next start replays them (errmsg says what failed). */
        (void)store_commit(s);
    }
    if (s->stmts != NULL) {
        db_finalize_all(s);
        free(s->stmts);
        s->stmts = NULL;
    }
    if (s->db != NULL) {
        /* Fails only while statements are unfinalized; all of ours are, just above. */
        sqlite3_close(s->db);
        s->db = NULL;
    }
}
