/* loads: per-engine project counts kept by TEMP triggers, and the projects needing an owner
 * through the owner index (see loads.h for what and why).
 *
 * TEMP objects of this connection (never in the database file):
 *   engine_load(engine PK, n)            projects per owner id; rows may reach n = 0
 *   engine_load_state(applied, broken,   the applied index the triggers last saw, and whether
 *                     pinned)            the database changed without them (a restore); and
 *                                        how many projects are pinned (pinned not NULL or 0)
 *   triggers on main.projects            +1 / -1 on insert, delete and owner change; pinned
 *                                        +1 / -1 on insert, delete and pin change
 *   trigger on main.meta applied_index   every apply updates it once, in its transaction: if
 *                                        the row's old value is not the one the trigger last
 *                                        saw, pages were replaced behind the triggers' back
 * Not a per-apply path for the caller: statements are prepared per call (a few per scheduler
 * tick), so nothing here has to be finalized before store_close. */
#include "storage/loads.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "storage/schema.h"

static const char install_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS engine_load ("
    "  engine INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS engine_load_state ("
    "  k INTEGER PRIMARY KEY CHECK (k = 0), applied INTEGER NOT NULL, broken INTEGER NOT NULL,"
    "  pinned INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO engine_load_state (k, applied, broken, pinned) VALUES (0, -1, 1, 0);"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_insert AFTER INSERT ON main.projects"
    " WHEN NEW.owner IS NOT NULL BEGIN"
    "  INSERT INTO engine_load (engine, n) VALUES (NEW.owner, 1)"
    "   ON CONFLICT (engine) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_delete AFTER DELETE ON main.projects"
    " WHEN OLD.owner IS NOT NULL BEGIN"
    "  UPDATE engine_load SET n = n - 1 WHERE engine = OLD.owner;"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_owner AFTER UPDATE OF owner ON main.projects"
    " WHEN OLD.owner IS NOT NEW.owner BEGIN"
    "  UPDATE engine_load SET n = n - 1 WHERE engine = OLD.owner;"
    /* WHERE makes the SELECT unambiguous before ON CONFLICT (SQLite's UPSERT parsing rule). */
    "  INSERT INTO engine_load (engine, n) SELECT NEW.owner, 1 WHERE NEW.owner IS NOT NULL"
    "   ON CONFLICT (engine) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_pin_insert AFTER INSERT ON main.projects"
    " WHEN coalesce(NEW.pinned, 0) != 0 BEGIN"
    "  UPDATE engine_load_state SET pinned = pinned + 1;"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_pin_delete AFTER DELETE ON main.projects"
    " WHEN coalesce(OLD.pinned, 0) != 0 BEGIN"
    "  UPDATE engine_load_state SET pinned = pinned - 1;"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_pin AFTER UPDATE OF pinned ON main.projects"
    " WHEN (coalesce(OLD.pinned, 0) != 0) != (coalesce(NEW.pinned, 0) != 0) BEGIN"
    "  UPDATE engine_load_state SET pinned = pinned + (CASE WHEN coalesce(NEW.pinned, 0) != 0 THEN 1 ELSE -1 END);"
    " END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS engine_load_applied AFTER UPDATE OF value ON main.meta"
    " WHEN NEW.key = '" SCHEMA_META_APPLIED_INDEX "' BEGIN"
    "  UPDATE engine_load_state SET broken = 1 WHERE applied IS NOT OLD.value;"
    "  UPDATE engine_load_state SET applied = NEW.value;"
    " END;";

static const char recount_sql[] =
    "SAVEPOINT engine_load_recount;"
    "DELETE FROM temp.engine_load;"
    "INSERT INTO temp.engine_load (engine, n)"
    " SELECT owner, count(*) FROM main.projects WHERE owner IS NOT NULL GROUP BY owner;"
    "UPDATE temp.engine_load_state SET broken = 0,"
    " pinned = (SELECT count(*) FROM main.projects WHERE coalesce(pinned, 0) != 0),"
    " applied = (SELECT value FROM main.meta WHERE key = '" SCHEMA_META_APPLIED_INDEX "');"
    "RELEASE engine_load_recount;";

/* Runs SQL (several statements); on failure undoes an open recount savepoint. 0 or -1. */
static int exec(struct store *s, const char *sql, const char *what)
{
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        db_error(s, "store: engine loads: %s: %s", what, err != NULL ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        if (!sqlite3_get_autocommit(s->db)) {
            /* Only the recount opens a transaction (its savepoint); nothing else is open
             * between applies. Failing to undo it leaves it to the next apply's BEGIN to
             * report, so the return values add nothing here. */
            (void)sqlite3_exec(s->db, "ROLLBACK TO engine_load_recount; RELEASE engine_load_recount;", NULL, NULL,
                               NULL);
        }
        return -1;
    }
    return 0;
}

int store_loads_recount(struct store *s)
{
    if (exec(s, install_sql, "installing the triggers") != 0) {
        return -1;
    }
    return exec(s, recount_sql, "recounting");
}

/* Makes the counts usable: installs on first use, recounts when the triggers cannot vouch for
 * them (never counted, or the database changed without them). 0 or -1. */
static int loads_ready(struct store *s)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT applied, broken FROM temp.engine_load_state WHERE k = 0", -1, &stmt,
                                NULL);
    bool ok = false;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            sqlite3_int64 applied = sqlite3_column_int64(stmt, 0);
            ok = sqlite3_column_int64(stmt, 1) == 0 && applied >= 0 && (uint64_t)applied == s->applied_index;
        }
    }
    sqlite3_finalize(stmt);
    /* A missing table (first use) fails the prepare: installing is the answer to that too. */
    return ok ? 0 : store_loads_recount(s);
}

/* Prepares SQL; 0 or -1 (errmsg). */
static int prepare(struct store *s, const char *sql, sqlite3_stmt **stmt, const char *what)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, "store: %s: %s", what, sqlite3_errmsg(s->db));
        sqlite3_finalize(*stmt);
        *stmt = NULL;
        return -1;
    }
    return 0;
}

/* Grows *P (elements of SIZE) to hold at least N + 1. 0 or -1. */
static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return 0;
    }
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * size);
    if (q == NULL) {
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

int store_loads(struct store *s, struct store_load **out, size_t *n)
{
    sqlite3_stmt *stmt = NULL;
    struct store_load *rows = NULL;
    size_t got = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (loads_ready(s) != 0 ||
        prepare(s, "SELECT engine, n FROM temp.engine_load WHERE n > 0 ORDER BY engine", &stmt, "engine loads") != 0) {
        return -1;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (grow((void **)&rows, &cap, got, sizeof *rows) != 0) {
            db_error(s, "store: engine loads: out of memory at row %zu", got);
            goto fail;
        }
        rows[got].engine = (uint64_t)sqlite3_column_int64(stmt, 0);
        rows[got].projects = (uint64_t)sqlite3_column_int64(stmt, 1);
        got++;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: engine loads: %s", sqlite3_errmsg(s->db));
        goto fail;
    }
    sqlite3_finalize(stmt);
    *out = rows;
    *n = got;
    return 0;

fail:
    sqlite3_finalize(stmt);
    free(rows);
    return -1;
}

int store_loads_engines(struct store *s, struct store_engine **out, size_t *n)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    /* Columns in enum db_engine_col order, so query.c's one engine reader reads them. */
    if (loads_ready(s) != 0 ||
        prepare(s,
                "SELECT e.id, e.mode, e.weight, e.identity, e.race_enabled, e.alive, e.draining,"
                " e.heartbeats, e.last_heartbeat_index, coalesce(l.n, 0)"
                " FROM main.engines e LEFT JOIN temp.engine_load l ON l.engine = e.id ORDER BY e.id",
                &stmt, "engines with loads") != 0) {
        return -1;
    }
    rc = db_read_engines(s, stmt, "engines with loads", out, n);
    sqlite3_finalize(stmt);
    return rc;
}

/* Appends every row STMT returns (name, owner, pinned, epoch) to *ROWS. 0 or -1. */
static int read_projects(struct store *s, sqlite3_stmt *stmt, struct store_project_row **rows, size_t *got,
                         size_t *cap)
{
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        int len = sqlite3_column_bytes(stmt, 0);
        if (grow((void **)rows, cap, *got, sizeof **rows) != 0 || name == NULL) {
            db_error(s, "store: projects needing an owner: out of memory at row %zu", *got);
            return -1;
        }
        struct store_project_row *r = &(*rows)[*got];
        r->name = malloc((size_t)len + 1);
        if (r->name == NULL) {
            db_error(s, "store: projects needing an owner: out of memory at row %zu", *got);
            return -1;
        }
        memcpy(r->name, name, (size_t)len);
        r->name[len] = '\0';
        r->owner = (uint64_t)sqlite3_column_int64(stmt, 1); /* NULL reads as 0 = none */
        r->pinned = (uint64_t)sqlite3_column_int64(stmt, 2);
        r->epoch = (uint64_t)sqlite3_column_int64(stmt, 3);
        (*got)++;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: projects needing an owner: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* SQLite's BINARY collation (memcmp, then length) equals strcmp on NUL-free text. */
static int row_cmp_name(const void *a, const void *b)
{
    const struct store_project_row *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* How many projects are pinned (the triggers' count); 0 or -1. */
static int pinned_count(struct store *s, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    if (loads_ready(s) != 0 ||
        prepare(s, "SELECT pinned FROM temp.engine_load_state WHERE k = 0", &stmt, "pinned projects") != 0) {
        return -1;
    }
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        db_error(s, "store: pinned projects: %s", rc == SQLITE_DONE ? "no count row" : sqlite3_errmsg(s->db));
        sqlite3_finalize(stmt);
        return -1;
    }
    *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
}

int store_load_projects_needing(struct store *s, bool unowned, const uint64_t *owners, size_t n_owners, size_t limit,
                                struct store_project_row **out, size_t *n)
{
    sqlite3_stmt *stmt = NULL;
    struct store_project_row *rows = NULL;
    size_t got = 0, cap = 0;
    unsigned groups = 0;
    int64_t pinned = 0;

    *out = NULL;
    *n = 0;
    if (limit > 0 && pinned_count(s, &pinned) != 0) {
        return -1;
    }
    /* LIMIT -1 is SQLite's "no limit". */
    sqlite3_int64 lim = limit > 0 && limit <= INT64_MAX && pinned == 0 ? (sqlite3_int64)limit : -1;
    /* Both use projects_by_owner, whose entries are (owner, name): each group comes out in
     * name order without a sort. */
    if (unowned) {
        if (prepare(s, "SELECT name, owner, pinned, epoch FROM main.projects WHERE owner IS NULL ORDER BY name LIMIT ?1",
                    &stmt, "projects without an owner") != 0) {
            goto fail;
        }
        int rc = sqlite3_bind_int64(stmt, 1, lim);
        if (rc != SQLITE_OK) {
            db_error(s, "store: projects without an owner: %s", sqlite3_errmsg(s->db));
            goto fail;
        }
        if (read_projects(s, stmt, &rows, &got, &cap) != 0) {
            goto fail;
        }
        sqlite3_finalize(stmt);
        stmt = NULL;
        groups++;
    }
    if (n_owners > 0) {
        if (prepare(s, "SELECT name, owner, pinned, epoch FROM main.projects WHERE owner = ?1 ORDER BY name LIMIT ?2",
                    &stmt, "projects of an owner") != 0) {
            goto fail;
        }
        for (size_t i = 0; i < n_owners; i++) {
            if (owners[i] == 0 || owners[i] > INT64_MAX) {
                continue;
            }
            sqlite3_reset(stmt); /* repeats the last step's outcome, already handled */
            int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)owners[i]);
            if (rc == SQLITE_OK) {
                rc = sqlite3_bind_int64(stmt, 2, lim);
            }
            if (rc != SQLITE_OK) {
                db_error(s, "store: projects of engine %" PRIu64 ": %s", owners[i], sqlite3_errmsg(s->db));
                goto fail;
            }
            if (read_projects(s, stmt, &rows, &got, &cap) != 0) {
                goto fail;
            }
            groups++;
        }
        sqlite3_finalize(stmt);
        stmt = NULL;
    }
    if (groups > 1) {
        qsort(rows, got, sizeof *rows, row_cmp_name);
    }
    *out = rows;
    *n = got;
    return 0;

fail:
    sqlite3_finalize(stmt);
    store_free_projects(rows, got);
    return -1;
}
