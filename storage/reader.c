/* reader: the read-only connection and its reads (see reader.h). The SQL follows schema.c. */
#include "storage/reader.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A reader waits this long for the loop's writer only in rare cases (a checkpoint that
 * resets the WAL); WAL readers do not otherwise block. */
#define READER_BUSY_TIMEOUT_MS 2000

static int rerr(struct store_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int rerr(struct store_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return -1;
}

int store_reader_open(struct store_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rerr(r, "opening %s read-only: %s", path, r->db != NULL ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        sqlite3_close(r->db);
        r->db = NULL;
        return -1;
    }
    if (sqlite3_busy_timeout(r->db, READER_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        rerr(r, "%s: busy_timeout: %s", path, sqlite3_errmsg(r->db));
        sqlite3_close(r->db);
        r->db = NULL;
        return -1;
    }
    return 0;
}

void store_reader_close(struct store_reader *r)
{
    if (r->db != NULL) {
        sqlite3_close(r->db); /* every statement is finalized where it is made */
        r->db = NULL;
    }
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? (const char *)t : "";
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
    sqlite3_int64 v = sqlite3_column_int64(st, col);
    return v > 0 ? (uint64_t)v : 0;
}

/* Prepares SQL; 0 or -1 (errmsg). */
static int prepare(struct store_reader *r, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK) {
        rerr(r, "%s: preparing \"%.60s\": %s", r->path, sql, sqlite3_errmsg(r->db));
        sqlite3_finalize(*st);
        *st = NULL;
        return -1;
    }
    return 0;
}

/* Hands the current row of ST on (to CTX): 0 go on, 1 stop, -1 out of memory. */
typedef int (*row_fn)(sqlite3_stmt *st, void *ctx);

/* The caller's callback of one read. */
struct sink {
    union {
        store_reader_project_fn project;
        store_reader_engine_fn engine;
        store_reader_history_fn history;
        store_reader_member_fn member;
        store_reader_claim_fn claim;
    } fn;
    void *data;
};

/* Steps ST (prepared from SQL, bound by the caller) and hands every row to ROW. 0 or -1. */
static int step_rows(struct store_reader *r, const char *sql, sqlite3_stmt *st, row_fn row, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int frc = row(st, ctx);
        if (frc < 0) {
            return rerr(r, "%s: out of memory reading \"%.60s\"", r->path, sql);
        }
        if (frc > 0) {
            return 0;
        }
    }
    if (rc != SQLITE_DONE) {
        return rerr(r, "%s: reading \"%.60s\": %s", r->path, sql, sqlite3_errmsg(r->db));
    }
    return 0;
}

/* Runs SQL and hands every row to ROW. 0 or -1. */
static int each_row(struct store_reader *r, const char *sql, row_fn row, void *ctx)
{
    sqlite3_stmt *st;
    if (prepare(r, sql, &st) != 0) {
        return -1;
    }
    int rc = step_rows(r, sql, st, row, ctx);
    sqlite3_finalize(st);
    return rc;
}

static int exec(struct store_reader *r, const char *sql)
{
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return rerr(r, "%s: %s: %s", r->path, sql, sqlite3_errmsg(r->db));
    }
    return 0;
}

static int check_schema(struct store_reader *r)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_int64 version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW) {
        rerr(r, "%s: reading meta.schema_version: %s", r->path, rc == SQLITE_DONE ? "missing" : sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        return -1;
    }
    if (version < STORE_READER_MIN_SCHEMA) {
        return rerr(r, "%s: schema version %lld; the mirror needs %d or later (meta.decision_index)", r->path,
                    (long long)version, STORE_READER_MIN_SCHEMA);
    }
    return 0;
}

int store_reader_begin(struct store_reader *r)
{
    /* One read transaction: the snapshot starts at the first SELECT and holds until COMMIT. */
    if (exec(r, "BEGIN") != 0) {
        return -1;
    }
    if (check_schema(r) != 0) {
        store_reader_abort(r);
        return -1;
    }
    return 0;
}

int store_reader_end(struct store_reader *r)
{
    return exec(r, "COMMIT");
}

void store_reader_abort(struct store_reader *r)
{
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL); /* a read: nothing to undo */
}

/* ---- meta and settings ---- */

struct indexes {
    uint64_t applied, decision;
};

static int meta_row(sqlite3_stmt *st, void *ctx)
{
    struct indexes *ix = ctx;
    const unsigned char *key = sqlite3_column_text(st, 0);
    if (key == NULL) {
        return 0;
    }
    if (strcmp((const char *)key, "applied_index") == 0) {
        ix->applied = col_u64(st, 1);
    } else if (strcmp((const char *)key, "decision_index") == 0) {
        ix->decision = col_u64(st, 1);
    }
    return 0;
}

int store_reader_indexes(struct store_reader *r, uint64_t *applied, uint64_t *decision)
{
    struct indexes ix = {0, 0};
    if (each_row(r, "SELECT key, value FROM meta WHERE key IN ('applied_index', 'decision_index')", meta_row, &ix) != 0) {
        return -1;
    }
    *applied = ix.applied;
    *decision = ix.decision;
    return 0;
}

struct maintenance {
    bool on;
    char *reason;
};

static int setting_row(sqlite3_stmt *st, void *ctx)
{
    struct maintenance *m = ctx;
    const unsigned char *key = sqlite3_column_text(st, 0);
    if (key != NULL && strcmp((const char *)key, "maintenance") == 0) {
        m->on = sqlite3_column_int64(st, 1) != 0;
    } else if (key != NULL && strcmp((const char *)key, "maintenance_reason") == 0) {
        free(m->reason);
        m->reason = strdup(col_text(st, 1));
        if (m->reason == NULL) {
            return -1;
        }
    }
    return 0;
}

int store_reader_maintenance(struct store_reader *r, bool *on, char **reason)
{
    struct maintenance m = {false, NULL};
    int rc = each_row(r, "SELECT key, value FROM settings WHERE key IN ('maintenance', 'maintenance_reason')",
                      setting_row, &m);
    *on = m.on;
    *reason = m.reason;
    return rc;
}

/* ---- engines, history, members ---- */

static int engine_row(sqlite3_stmt *st, void *ctx)
{
    const struct sink *k = ctx;
    struct store_reader_engine e = {
        .id = col_u64(st, 0),
        .mode = col_text(st, 1),
        .weight = (unsigned)sqlite3_column_int64(st, 2),
        .identity = col_text(st, 3),
        .alive = sqlite3_column_int64(st, 4) != 0,
        .draining = sqlite3_column_int64(st, 5) != 0,
    };
    return k->fn.engine(k->data, &e);
}

int store_reader_engines(struct store_reader *r, store_reader_engine_fn fn, void *data)
{
    struct sink k = {.fn.engine = fn, .data = data};
    return each_row(r, "SELECT id, mode, weight, identity, alive, draining FROM engines ORDER BY id", engine_row, &k);
}

static int history_row(sqlite3_stmt *st, void *ctx)
{
    const struct sink *k = ctx;
    struct store_reader_history h = {
        .raft_index = col_u64(st, 0),
        .term = col_u64(st, 1),
        .time_ms = col_u64(st, 2),
        .project = col_text(st, 3),
        .from = col_u64(st, 4), /* NULL reads as 0 = none */
        .to = col_u64(st, 5),
        .epoch = col_u64(st, 6),
        .reason = col_text(st, 7),
    };
    return k->fn.history(k->data, &h);
}

int store_reader_history_newest_first(struct store_reader *r, store_reader_history_fn fn, void *data)
{
    struct sink k = {.fn.history = fn, .data = data};
    return each_row(r,
                    "SELECT raft_index, term, time_ms, project, from_owner, to_owner, epoch, reason"
                    " FROM history ORDER BY seq DESC",
                    history_row, &k);
}

static int member_row(sqlite3_stmt *st, void *ctx)
{
    const struct sink *k = ctx;
    struct store_reader_member m = {.id = col_u64(st, 0), .api_address = col_text(st, 1)};
    return k->fn.member(k->data, &m);
}

int store_reader_members(struct store_reader *r, store_reader_member_fn fn, void *data)
{
    struct sink k = {.fn.member = fn, .data = data};
    return each_row(r, "SELECT id, api_address FROM members ORDER BY id", member_row, &k);
}

/* ---- projects ---- */

static int project_row(sqlite3_stmt *st, void *ctx)
{
    const struct sink *k = ctx;
    struct store_reader_project p = {.name = col_text(st, 0), .owner = col_u64(st, 1), .epoch = col_u64(st, 2),
                                     .pinned = col_u64(st, 3),
                                     .kylin_listed = sqlite3_column_count(st) > 4 && col_u64(st, 4) != 0};
    return k->fn.project(k->data, &p);
}

int store_reader_projects(struct store_reader *r, store_reader_project_fn fn, void *data)
{
    struct sink k = {.fn.project = fn, .data = data};
    return each_row(r, "SELECT name, owner, epoch, pinned FROM projects ORDER BY name", project_row, &k);
}

int store_reader_projects_listed(struct store_reader *r, store_reader_project_fn fn, void *data)
{
    struct sink k = {.fn.project = fn, .data = data};
    return each_row(r, "SELECT name, owner, epoch, pinned, kylin_listed FROM projects ORDER BY name", project_row, &k);
}

static int claim_row(sqlite3_stmt *st, void *ctx)
{
    const struct sink *k = ctx;
    struct store_reader_claim c = {.name = col_text(st, 0), .owner = col_u64(st, 1), .epoch = col_u64(st, 2),
                                   .identity = (const char *)sqlite3_column_text(st, 3),
                                   .epoch_id = sqlite3_column_int64(st, 4)};
    return k->fn.claim(k->data, &c);
}

int store_reader_claims_of(struct store_reader *r, uint64_t owner, store_reader_claim_fn fn, void *data)
{
    static const char sql[] = "SELECT name, owner, epoch, kylin_identity, kylin_epoch_id FROM projects"
                              " WHERE owner = ?1 ORDER BY name";
    struct sink k = {.fn.claim = fn, .data = data};
    sqlite3_stmt *st;
    if (owner > INT64_MAX) {
        return 0; /* no such engine */
    }
    if (prepare(r, sql, &st) != 0) {
        return -1;
    }
    int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)owner) == SQLITE_OK
                 ? step_rows(r, sql, st, claim_row, &k)
                 : rerr(r, "%s: binding an owner: %s", r->path, sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    return rc;
}

int store_reader_unowned_projects(struct store_reader *r, store_reader_project_fn fn, void *data)
{
    struct sink k = {.fn.project = fn, .data = data};
    return each_row(r, "SELECT name, owner, epoch, pinned FROM projects WHERE owner IS NULL", project_row, &k);
}

/* The named read's callback: the row found (at most one: name is the key). */
struct named {
    store_reader_named_fn fn;
    void *data;
    const char *name;
    bool found;
};

static int named_row(sqlite3_stmt *st, void *ctx)
{
    struct named *n = ctx;
    struct store_reader_project p = {.name = col_text(st, 0), .owner = col_u64(st, 1), .epoch = col_u64(st, 2),
                                     .pinned = col_u64(st, 3)};
    n->found = true;
    return n->fn(n->data, n->name, &p);
}

int store_reader_owned_projects(struct store_reader *r, const char *const *names, size_t n,
                                store_reader_named_fn fn, void *data)
{
    static const char sql[] = "SELECT name, owner, epoch, pinned FROM projects"
                              " WHERE name = ?1 COLLATE NOCASE AND name = ?1 AND owner IS NOT NULL";
    sqlite3_stmt *st;
    int rc = 0;
    if (prepare(r, sql, &st) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct named ctx = {.fn = fn, .data = data, .name = names[i], .found = false};
        (void)sqlite3_reset(st); /* returns the previous step's error, handled already */
        if (sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC) != SQLITE_OK) {
            rc = rerr(r, "%s: binding a project name: %s", r->path, sqlite3_errmsg(r->db));
            break;
        }
        rc = step_rows(r, sql, st, named_row, &ctx);
        if (rc == 0 && !ctx.found && fn(data, names[i], NULL) < 0) {
            rc = rerr(r, "%s: out of memory reading \"%.60s\"", r->path, sql);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int store_reader_count_projects(struct store_reader *r, uint64_t *count)
{
    sqlite3_stmt *st;
    if (prepare(r, "SELECT count(*) FROM projects", &st) != 0) {
        return -1;
    }
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = rerr(r, "%s: counting projects: %s", r->path, sqlite3_errmsg(r->db));
    } else {
        *count = col_u64(st, 0);
    }
    sqlite3_finalize(st);
    return rc;
}
