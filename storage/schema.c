/* schema: DDL, schema versions and migrations of the store database (see schema.h).
 *
 * Layout at version 1 (DESIGN.md, "Domain model"):
 *   meta(key TEXT PK, value)              applied_index, schema_version (local bookkeeping,
 *                                         not hashed; settings have their own table since v2)
 *   members(id INTEGER PK, api_address)   registered API address of each raft member
 *   projects(name TEXT PK, owner, epoch, pinned)
 *                                         owner/pinned: engine (= member) id or NULL; epoch is
 *                                         the fencing token, +1 on every owner change (inv. 1)
 *   history(seq INTEGER PK, raft_index, term, time_ms, project, from_owner, to_owner, epoch,
 *           reason)                       one row per ownership change; no foreign key to
 *                                         projects on purpose: history outlives removed projects
 * Version 2 (engines and ownership) adds:
 *   engines(id INTEGER PK, mode, weight, identity, race_enabled, alive, draining, heartbeats,
 *           last_heartbeat_index)     one row per Kylin engine (engine id = member id);
 *                                     heartbeats / last_heartbeat_index count the leader's
 *                                     heartbeat batches that recorded the engine
 *   settings(key TEXT PK, value)      cluster-wide settings: maintenance (0/1),
 *                                     maintenance_reason (text); a missing key = default
 *   index projects_by_owner           load per engine (store_load_engines) and failover
 * Version 3 (metastore mirror) adds:
 *   meta.decision_index               index of the last entry that changed ownership state;
 *                                     a store migrated from v2 starts at its applied index
 *                                     (unknown, so "everything may have changed": the mirror
 *                                     compares before it writes, so this costs no writes)
 * Version 4 (audit, issue 12) adds:
 *   history.actor                     who asked for the change (certificate CN, or "peer
 *                                     IP:PORT" without API TLS); NULL = automatic or unknown
 *                                     (every row from before version 4)
 *   audit(seq INTEGER PK, raft_index, term, time_ms, actor, method, detail)
 *                                     one row per admin write request the leader accepted
 * Version 5 (recorded Kylin claims, docs/kylin.md) adds to projects:
 *   kylin_identity, kylin_epoch_id    the identity and epoch_id the owner's Kylin wrote in
 *                                     its epoch row, as its member read them back (command
 *                                     kylin_claimed); NULL until recorded, cleared by every
 *                                     change of owner. Replicated and hashed like the rest:
 *                                     every member gets them from the log alone. A store
 *                                     migrated from v4 has them NULL, as a replay of its log
 *                                     (which holds no kylin_claimed) would
 * Version 6 (names unique ignoring case) adds:
 *   index projects_by_name_nocase     project_add's case-twin lookup (fsm.c) without a scan
 *                                     of every project per add (10,000 adds in one entry
 *                                     would otherwise hold the loop for seconds)
 * Version 7 (projects follow Kylin across leader changes, docs/kylin.md) adds to projects:
 *   kylin_listed                      1 once Kylin's project metadata listed the project
 *                                     (project_add with "kylin": true, proposed by the
 *                                     leader's follow loop); such a project is removed when
 *                                     Kylin no longer lists it. 0 for raftctl's projects and
 *                                     for every project of a store migrated from v6 (a replay
 *                                     of its log, which holds no "kylin" field, gives the same)
 * Version 8 (fewer B-trees per project.add, issue 13) rebuilds projects, same columns and rows:
 *   projects PRIMARY KEY (name COLLATE NOCASE, name)
 *                                     one B-tree serves the exact lookup (both terms: see
 *                                     db.c) and project_add's case-twin lookup (the first
 *                                     term), so projects_by_name_nocase is dropped: an add
 *                                     dirties one page fewer. Unique on name exactly, as
 *                                     before (two names equal ignoring case from an old log
 *                                     stay two rows). store_hash orders rows by the key's
 *                                     column, name, in its declared (binary) collation, as
 *                                     before, so a v7 and a v8 member holding the same
 *                                     state hash equal
 *   index projects_by_owner (owner, name)
 *                                     name now explicit: the key's first column is
 *                                     case-folded, and the scheduler reads each owner's
 *                                     projects in name order (loads.c) through this index
 * A later version appends one migration step below; never edit a released step. */
#include "storage/schema.h"

#include <stdio.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* migrations[v] upgrades a database at version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE members ("
    "  id INTEGER PRIMARY KEY CHECK (id > 0),"
    "  api_address TEXT NOT NULL"
    ");"
    "CREATE TABLE projects ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  owner INTEGER NULL,"
    "  epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),"
    "  pinned INTEGER NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE history ("
    "  seq INTEGER PRIMARY KEY,"
    "  raft_index INTEGER NOT NULL,"
    "  term INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  project TEXT NOT NULL,"
    "  from_owner INTEGER NULL,"
    "  to_owner INTEGER NULL,"
    "  epoch INTEGER NOT NULL,"
    "  reason TEXT NOT NULL"
    "    CHECK (reason IN ('new','failover','rebalance','move','drain','restore'))"
    ");"
    "CREATE INDEX history_by_project ON history (project, seq);"
    "INSERT INTO meta (key, value) VALUES ('" SCHEMA_META_APPLIED_INDEX "', 0);",
    /* 1 -> 2: engines and ownership. Booleans are stored as 0/1 integers. */
    "CREATE TABLE engines ("
    "  id INTEGER PRIMARY KEY CHECK (id > 0),"
    "  mode TEXT NOT NULL CHECK (mode IN ('all','job','query')),"
    "  weight INTEGER NOT NULL CHECK (weight >= 1),"
    "  identity TEXT NOT NULL,"
    "  race_enabled INTEGER NOT NULL,"
    "  alive INTEGER NOT NULL,"
    "  draining INTEGER NOT NULL DEFAULT 0,"
    "  heartbeats INTEGER NOT NULL DEFAULT 0,"
    "  last_heartbeat_index INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value"
    ") WITHOUT ROWID;"
    "CREATE INDEX projects_by_owner ON projects (owner);",
    /* 2 -> 3: the decision index the metastore mirror follows. */
    "INSERT INTO meta (key, value) SELECT '" SCHEMA_META_DECISION_INDEX "', value FROM meta"
    "  WHERE key = '" SCHEMA_META_APPLIED_INDEX "';",
    /* 3 -> 4: who made each change. */
    "ALTER TABLE history ADD COLUMN actor TEXT NULL;"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  raft_index INTEGER NOT NULL,"
    "  term INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  detail TEXT NOT NULL"
    ");",
    /* 4 -> 5: the claim the owner's Kylin wrote, recorded through the log. */
    ("ALTER TABLE projects ADD COLUMN kylin_identity TEXT NULL;" /* one step: two statements */
     "ALTER TABLE projects ADD COLUMN kylin_epoch_id INTEGER NULL;"),
    /* 5 -> 6: the case-twin lookup of project_add. An index is not hashed (only tables are). */
    "CREATE INDEX IF NOT EXISTS projects_by_name_nocase ON projects (name COLLATE NOCASE);",
    /* 6 -> 7: which projects came from Kylin's metadata (replicated: any leader can follow). */
    "ALTER TABLE projects ADD COLUMN kylin_listed INTEGER NOT NULL DEFAULT 0;",
    /* 7 -> 8: one B-tree for the name and its case-folded form. SQLite cannot change a
     * primary key in place: a new table, the rows copied, the old one dropped (with its
     * indexes), the new one renamed. Columns in the same order, so SELECT * (store_hash)
     * reads the same rows as before. */
    "CREATE TABLE projects_v8 ("
    "  name TEXT NOT NULL,"
    "  owner INTEGER NULL,"
    "  epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),"
    "  pinned INTEGER NULL,"
    "  kylin_identity TEXT NULL,"
    "  kylin_epoch_id INTEGER NULL,"
    "  kylin_listed INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (name COLLATE NOCASE, name)"
    ") WITHOUT ROWID;"
    "INSERT INTO projects_v8 (name, owner, epoch, pinned, kylin_identity, kylin_epoch_id, kylin_listed)"
    "  SELECT name, owner, epoch, pinned, kylin_identity, kylin_epoch_id, kylin_listed FROM projects;"
    "DROP TABLE projects;"
    "ALTER TABLE projects_v8 RENAME TO projects;"
    "CREATE INDEX projects_by_owner ON projects (owner, name);",
};

/* Tables that are NOT replicated (none yet); everything else is covered by store_hash. */
static const char *const local_tables[] = {NULL};

bool schema_table_is_replicated(const char *name)
{
    if (strncmp(name, "sqlite_", 7) == 0) {
        return false;
    }
    for (size_t i = 0; local_tables[i] != NULL; i++) {
        if (strcmp(local_tables[i], name) == 0) {
            return false;
        }
    }
    return true;
}

bool schema_meta_key_is_local(const char *key, size_t len)
{
    static const char *const keys[] = {SCHEMA_META_APPLIED_INDEX, SCHEMA_META_VERSION,
                                       SCHEMA_META_DECISION_INDEX};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strlen(keys[i]) == len && memcmp(keys[i], key, len) == 0) {
            return true;
        }
    }
    return false;
}

/* 1 when table NAME exists, 0 when not, -1 on error. */
static int table_exists(sqlite3 *db, const char *name, char *err, size_t cap)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, cap, "reading the schema: %s", sqlite3_errmsg(db));
        found = -1;
    }
    sqlite3_finalize(stmt);
    return found;
}

int schema_meta_get(sqlite3 *db, const char *key, int64_t *out, char *err, size_t cap)
{
    int exists = table_exists(db, "meta", err, cap);
    if (exists <= 0) {
        return exists;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found;
    if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) == SQLITE_INTEGER) {
        *out = sqlite3_column_int64(stmt, 0);
        found = 1;
    } else if (rc == SQLITE_ROW) {
        snprintf(err, cap, "meta.%s is not an integer", key);
        found = -1;
    } else if (rc == SQLITE_DONE) {
        found = 0;
    } else {
        snprintf(err, cap, "reading meta.%s: %s", key, sqlite3_errmsg(db));
        found = -1;
    }
    sqlite3_finalize(stmt);
    return found;
}

/* Counts the tables of DB (outside sqlite_*): tells an empty file from a foreign database. */
static int count_tables(sqlite3 *db, int64_t *n, char *err, size_t cap)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_ROW) {
        snprintf(err, cap, "reading the schema: %s", sqlite3_errmsg(db));
        sqlite3_finalize(stmt);
        return -1;
    }
    *n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
}

static int exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t cap)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", what, msg != NULL ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Reads the version of a database inside the open transaction: 0 for an empty file. */
static int read_version(sqlite3 *db, int64_t *version, char *err, size_t cap)
{
    int64_t tables;
    if (count_tables(db, &tables, err, cap) != 0) {
        return -1;
    }
    if (tables == 0) {
        *version = 0;
        return 0;
    }
    int found = schema_meta_get(db, SCHEMA_META_VERSION, version, err, cap);
    if (found < 0) {
        return -1;
    }
    if (found == 0) {
        snprintf(err, cap,
                 "not a raftnode store: %lld table(s) but no meta.%s; move the file away or "
                 "point raft.data-dir elsewhere",
                 (long long)tables, SCHEMA_META_VERSION);
        return -1;
    }
    if (*version < 1 || *version > SCHEMA_VERSION) {
        snprintf(err, cap,
                 "schema version %lld is not supported by this binary (it reads 1..%d); "
                 "run the newer raftnode that wrote it",
                 (long long)*version, SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

int schema_ensure(sqlite3 *db, char *err, size_t cap)
{
    if (exec(db, "BEGIN IMMEDIATE", "begin", err, cap) != 0) {
        return -1;
    }
    int64_t version;
    if (read_version(db, &version, err, cap) != 0) {
        goto fail;
    }
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrating schema %lld -> %lld", (long long)v, (long long)v + 1);
        if (exec(db, migrations[v], what, err, cap) != 0) {
            goto fail;
        }
    }
    /* `_global` always exists (DESIGN.md, "Domain model"): re-asserted at every open, which is
     * a no-op on any database this module wrote. */
    static const char finish[] =
        "INSERT INTO meta (key, value) VALUES ('" SCHEMA_META_VERSION "', " STRINGIFY(SCHEMA_VERSION) ")"
        "  ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value <> excluded.value;"
        "INSERT OR IGNORE INTO projects (name) VALUES ('" SCHEMA_GLOBAL_PROJECT "');";
    if (exec(db, finish, "seeding meta and _global", err, cap) != 0) {
        goto fail;
    }
    if (exec(db, "COMMIT", "commit", err, cap) != 0) {
        goto fail;
    }
    return 0;

fail:
    if (!sqlite3_get_autocommit(db)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return -1;
}
