/* query: the reads the API and the scheduler serve from the store: projects, members,
 * engines, decision history and maintenance mode (declared in store.h).
 *
 * Every read is one prepared statement from db.c (a join or a grouped join where rows of two
 * tables meet, never one query per row), run on the loop thread between applies, so it sees
 * one committed state. Ownership of returned memory is in store.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "storage/command_decode.h"
#include "storage/db.h"
#include "storage/schema.h"
#include "storage/store.h"

/* ---- projects and members ---- */

int store_project_exists(struct store *s, const char *name, size_t len)
{
    if (len > STORE_NAME_MAX) {
        return 0; /* cannot exist; also keeps the int cast below exact */
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_PROJECT_EXISTS);
    int rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found < 0) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, name, len);
        db_error(s, "store: project exists '%s': %s", quoted, sqlite3_errmsg(s->db));
    }
    sqlite3_reset(stmt);
    return found;
}

int store_member_api(struct store *s, uint64_t id, char *buf, size_t cap)
{
    if (id == 0 || id > INT64_MAX) {
        return 0;
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_MEMBER_API);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found;
    if (rc == SQLITE_ROW) {
        const unsigned char *api = sqlite3_column_text(stmt, 0);
        int n = sqlite3_column_bytes(stmt, 0);
        if (api == NULL || (size_t)n >= cap) {
            db_error(s, "store: member %" PRIu64 " api address: %s", id,
                     api == NULL ? sqlite3_errmsg(s->db) : "does not fit the buffer");
            found = -1;
        } else {
            memcpy(buf, api, (size_t)n + 1);
            found = 1;
        }
    } else if (rc == SQLITE_DONE) {
        found = 0;
    } else {
        db_error(s, "store: member %" PRIu64 " api address: %s", id, sqlite3_errmsg(s->db));
        found = -1;
    }
    sqlite3_reset(stmt);
    return found;
}

/* Count of projects, for the array headers and allocations below. */
static int project_count(struct store *s, const char *what, size_t *n)
{
    sqlite3_stmt *count = db_stmt(s, DB_PROJECT_COUNT);
    int rc = sqlite3_step(count);
    sqlite3_int64 v = rc == SQLITE_ROW ? sqlite3_column_int64(count, 0) : -1;
    sqlite3_reset(count);
    if (rc != SQLITE_ROW || v < 0 || (uint64_t)v > UINT32_MAX) {
        db_error(s, "store: %s: count: %s", what,
                 rc != SQLITE_ROW ? sqlite3_errmsg(s->db) : "out of range");
        return -1;
    }
    *n = (size_t)v;
    return 0;
}

static int pack_id_or_nil(msgpack_packer *pk, const char *key, sqlite3_stmt *stmt, int col)
{
    return sqlite3_column_type(stmt, col) == SQLITE_NULL
               ? mp_pack_kv_nil(pk, key)
               : mp_pack_kv_u64(pk, key, (uint64_t)sqlite3_column_int64(stmt, col));
}

int store_pack_projects(struct store *s, msgpack_packer *pk)
{
    /* Count, then rows: both read the same state because only this thread writes. */
    size_t n;
    if (project_count(s, "list projects", &n) != 0) {
        return -1;
    }
    if (msgpack_pack_array(pk, n) != 0) {
        db_error(s, "store: list projects: packing %zu projects failed", n);
        return -1;
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_PROJECT_LIST_IDENTITY);
    size_t packed = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        int name_len = sqlite3_column_bytes(stmt, 0);
        int prc = name == NULL || packed == n ? -1 : msgpack_pack_map(pk, 4);
        if (prc == 0) {
            prc = mp_pack_kv_strn(pk, "name", name, (size_t)name_len);
        }
        if (prc == 0) {
            prc = pack_id_or_nil(pk, "owner", stmt, 1);
        }
        if (prc == 0) {
            /* NULL without an owner, or when the owner has no engine row (yet). */
            const char *identity = (const char *)sqlite3_column_text(stmt, 2);
            prc = identity == NULL
                      ? mp_pack_kv_nil(pk, "owner_identity")
                      : mp_pack_kv_strn(pk, "owner_identity", identity,
                                        (size_t)sqlite3_column_bytes(stmt, 2));
        }
        if (prc == 0) {
            prc = mp_pack_kv_u64(pk, "epoch", (uint64_t)sqlite3_column_int64(stmt, 3));
        }
        if (prc != 0) {
            db_error(s, "store: list projects: packing row %zu failed", packed);
            sqlite3_reset(stmt);
            return -1;
        }
        packed++;
    }
    if (rc != SQLITE_DONE || packed != n) {
        db_error(s, "store: list projects: %s",
                 rc != SQLITE_DONE ? sqlite3_errmsg(s->db) : "row count changed while reading");
        sqlite3_reset(stmt);
        return -1;
    }
    sqlite3_reset(stmt);
    return 0;
}

/* Fills OUT from a DB_PROJECT_LIST / DB_PROJECT_GET row (name, owner, pinned, epoch,
 * kylin_listed). */
static int project_row(sqlite3_stmt *stmt, struct store_project_row *out)
{
    const char *name = (const char *)sqlite3_column_text(stmt, 0);
    int len = sqlite3_column_bytes(stmt, 0);
    out->name = name != NULL ? malloc((size_t)len + 1) : NULL;
    if (out->name == NULL) {
        return -1;
    }
    memcpy(out->name, name, (size_t)len);
    out->name[len] = '\0';
    out->owner = (uint64_t)sqlite3_column_int64(stmt, 1); /* NULL reads as 0 = none */
    out->pinned = (uint64_t)sqlite3_column_int64(stmt, 2);
    out->epoch = (uint64_t)sqlite3_column_int64(stmt, 3);
    out->kylin_listed = sqlite3_column_int64(stmt, 4) != 0;
    return 0;
}

void store_free_projects(struct store_project_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        free(rows[i].name);
    }
    free(rows);
}

int store_load_projects(struct store *s, struct store_project_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t count;
    if (project_count(s, "load projects", &count) != 0) {
        return -1;
    }
    struct store_project_row *rows = calloc(count > 0 ? count : 1, sizeof *rows);
    if (rows == NULL) {
        db_error(s, "store: load projects: out of memory for %zu rows", count);
        return -1;
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_PROJECT_LIST);
    size_t got = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (got == count) {
            break; /* reported below */
        }
        if (project_row(stmt, &rows[got]) != 0) {
            db_error(s, "store: load projects: out of memory at row %zu", got);
            goto fail;
        }
        got++;
    }
    if (rc != SQLITE_DONE || got != count) {
        db_error(s, "store: load projects: %s",
                 rc != SQLITE_DONE && rc != SQLITE_ROW ? sqlite3_errmsg(s->db)
                                                       : "row count changed while reading");
        goto fail;
    }
    sqlite3_reset(stmt);
    *out = rows;
    *n = got;
    return 0;

fail:
    sqlite3_reset(stmt);
    store_free_projects(rows, got);
    return -1;
}

int store_project_get(struct store *s, const char *name, size_t len, struct store_project_row *out)
{
    memset(out, 0, sizeof *out);
    if (len > STORE_NAME_MAX) {
        return 0; /* cannot exist; also keeps the int cast below exact */
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_PROJECT_GET);
    int rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    char quoted[96];
    if (found < 0) {
        command_quote(quoted, sizeof quoted, name, len);
        db_error(s, "store: project '%s': %s", quoted, sqlite3_errmsg(s->db));
    } else if (found == 1 && project_row(stmt, out) != 0) {
        command_quote(quoted, sizeof quoted, name, len);
        db_error(s, "store: project '%s': out of memory", quoted);
        found = -1;
    }
    sqlite3_reset(stmt);
    return found;
}

/* ---- engines ---- */

/* Fills OUT from a DB_ENGINE_LIST / DB_ENGINE_GET row, or any row in enum db_engine_col order
 * (loads.c's engines with tracked counts). */
static void engine_row(sqlite3_stmt *stmt, struct store_engine *out)
{
    memset(out, 0, sizeof *out);
    out->id = (uint64_t)sqlite3_column_int64(stmt, DB_ENGINE_COL_ID);
    const char *mode = (const char *)sqlite3_column_text(stmt, DB_ENGINE_COL_MODE);
    snprintf(out->mode, sizeof out->mode, "%s", mode != NULL ? mode : "");
    sqlite3_int64 weight = sqlite3_column_int64(stmt, DB_ENGINE_COL_WEIGHT);
    out->weight = weight < 1 ? 1 : weight > UINT32_MAX ? UINT32_MAX : (unsigned)weight;
    /* Identities are at most COMMAND_IDENTITY_MAX bytes (command_decode), so this fits. */
    const char *identity = (const char *)sqlite3_column_text(stmt, DB_ENGINE_COL_IDENTITY);
    snprintf(out->identity, sizeof out->identity, "%s", identity != NULL ? identity : "");
    out->race_enabled = sqlite3_column_int64(stmt, DB_ENGINE_COL_RACE_ENABLED) != 0;
    out->alive = sqlite3_column_int64(stmt, DB_ENGINE_COL_ALIVE) != 0;
    out->draining = sqlite3_column_int64(stmt, DB_ENGINE_COL_DRAINING) != 0;
    out->heartbeats = (uint64_t)sqlite3_column_int64(stmt, DB_ENGINE_COL_HEARTBEATS);
    out->last_heartbeat_index =
        (uint64_t)sqlite3_column_int64(stmt, DB_ENGINE_COL_LAST_HEARTBEAT_INDEX);
    sqlite3_int64 projects = sqlite3_column_int64(stmt, DB_ENGINE_COL_PROJECTS);
    out->projects = projects > 0 ? (uint64_t)projects : 0;
}

int db_read_engines(struct store *s, sqlite3_stmt *stmt, const char *what, struct store_engine **out,
                    size_t *n)
{
    struct store_engine *rows = NULL;
    size_t got = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct store_engine *grown = realloc(rows, ncap * sizeof *rows);
            if (grown == NULL) {
                db_error(s, "store: %s: out of memory at row %zu", what, got);
                free(rows);
                return -1;
            }
            rows = grown;
            cap = ncap;
        }
        engine_row(stmt, &rows[got++]);
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: %s: %s", what, sqlite3_errmsg(s->db));
        free(rows);
        return -1;
    }
    *out = rows;
    *n = got;
    return 0;
}

int store_load_engines(struct store *s, struct store_engine **out, size_t *n)
{
    sqlite3_stmt *stmt = db_stmt(s, DB_ENGINE_LIST);
    int rc = db_read_engines(s, stmt, "load engines", out, n);
    sqlite3_reset(stmt);
    return rc;
}

int store_engine_get(struct store *s, uint64_t id, struct store_engine *out)
{
    memset(out, 0, sizeof *out);
    if (id == 0 || id > INT64_MAX) {
        return 0;
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_ENGINE_GET);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        engine_row(stmt, out);
    } else if (found < 0) {
        db_error(s, "store: engine %" PRIu64 ": %s", id, sqlite3_errmsg(s->db));
    }
    sqlite3_reset(stmt);
    return found;
}

int store_pack_engines(struct store *s, msgpack_packer *pk)
{
    struct store_engine *engines;
    size_t n;
    if (store_load_engines(s, &engines, &n) != 0) {
        return -1;
    }
    int rc = msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_engine *e = &engines[i];
        rc = msgpack_pack_map(pk, 10);
        if (rc == 0) {
            rc = mp_pack_kv_u64(pk, "id", e->id);
        }
        if (rc == 0) {
            rc = mp_pack_kv_str(pk, "mode", e->mode);
        }
        if (rc == 0) {
            rc = mp_pack_kv_bool(pk, "alive", e->alive);
        }
        if (rc == 0) {
            rc = mp_pack_kv_bool(pk, "draining", e->draining);
        }
        if (rc == 0) {
            rc = mp_pack_kv_u64(pk, "projects", e->projects);
        }
        if (rc == 0) {
            rc = mp_pack_kv_u64(pk, "weight", e->weight);
        }
        if (rc == 0) {
            rc = mp_pack_kv_str(pk, "identity", e->identity);
        }
        if (rc == 0) {
            rc = mp_pack_kv_bool(pk, "race_enabled", e->race_enabled);
        }
        if (rc == 0) {
            rc = mp_pack_kv_u64(pk, "heartbeats", e->heartbeats);
        }
        if (rc == 0) {
            rc = mp_pack_kv_u64(pk, "last_heartbeat_index", e->last_heartbeat_index);
        }
    }
    free(engines);
    if (rc != 0) {
        db_error(s, "store: list engines: packing failed");
        return -1;
    }
    return 0;
}

/* ---- history and settings ---- */

static int pack_history_row(msgpack_packer *pk, sqlite3_stmt *stmt)
{
    const char *project = (const char *)sqlite3_column_text(stmt, DB_HISTORY_COL_PROJECT);
    const char *reason = (const char *)sqlite3_column_text(stmt, DB_HISTORY_COL_REASON);
    if (project == NULL || reason == NULL) {
        return -1;
    }
    const char *actor = (const char *)sqlite3_column_text(stmt, DB_HISTORY_COL_ACTOR);
    int rc = msgpack_pack_map(pk, 9);
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "index", (uint64_t)sqlite3_column_int64(stmt, DB_HISTORY_COL_INDEX));
    }
    if (rc == 0) { /* who asked; nil = automatic, or before the field existed */
        rc = actor != NULL ? mp_pack_kv_strn(pk, "by", actor, (size_t)sqlite3_column_bytes(stmt, DB_HISTORY_COL_ACTOR))
                           : mp_pack_kv_nil(pk, "by");
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "term", (uint64_t)sqlite3_column_int64(stmt, DB_HISTORY_COL_TERM));
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "time_ms",
                            (uint64_t)sqlite3_column_int64(stmt, DB_HISTORY_COL_TIME_MS));
    }
    if (rc == 0) {
        rc = mp_pack_kv_strn(pk, "project", project,
                             (size_t)sqlite3_column_bytes(stmt, DB_HISTORY_COL_PROJECT));
    }
    if (rc == 0) {
        rc = pack_id_or_nil(pk, "from", stmt, DB_HISTORY_COL_FROM);
    }
    if (rc == 0) {
        rc = pack_id_or_nil(pk, "to", stmt, DB_HISTORY_COL_TO);
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "epoch", (uint64_t)sqlite3_column_int64(stmt, DB_HISTORY_COL_EPOCH));
    }
    if (rc == 0) {
        rc = mp_pack_kv_strn(pk, "reason", reason,
                             (size_t)sqlite3_column_bytes(stmt, DB_HISTORY_COL_REASON));
    }
    return rc;
}

static int pack_audit_row(msgpack_packer *pk, sqlite3_stmt *stmt)
{
    static const struct {
        const char *key;
        int col;
    } texts[] = {{"by", DB_AUDIT_COL_ACTOR}, {"method", DB_AUDIT_COL_METHOD}, {"detail", DB_AUDIT_COL_DETAIL}};
    int rc = msgpack_pack_map(pk, 6);
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "index", (uint64_t)sqlite3_column_int64(stmt, DB_AUDIT_COL_INDEX));
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "term", (uint64_t)sqlite3_column_int64(stmt, DB_AUDIT_COL_TERM));
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "time_ms", (uint64_t)sqlite3_column_int64(stmt, DB_AUDIT_COL_TIME_MS));
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && rc == 0; i++) {
        const char *v = (const char *)sqlite3_column_text(stmt, texts[i].col);
        rc = v != NULL ? mp_pack_kv_strn(pk, texts[i].key, v, (size_t)sqlite3_column_bytes(stmt, texts[i].col))
                       : -1;
    }
    return rc;
}

/* Packs an array of every row STMT (bound) yields with PACK_ROW, then resets STMT. The rows
 * are packed into a side buffer first: a msgpack array needs its length up front, and
 * counting the newest LIMIT rows of a long table would cost a second scan. */
static int pack_rows(struct store *s, sqlite3_stmt *stmt, int rc, const char *what,
                     int (*pack_row)(msgpack_packer *, sqlite3_stmt *), msgpack_packer *pk)
{
    msgpack_sbuffer rows;
    msgpack_packer rows_pk;
    msgpack_sbuffer_init(&rows);
    msgpack_packer_init(&rows_pk, &rows, msgpack_sbuffer_write);
    size_t count = 0;
    int prc = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            prc = pack_row(&rows_pk, stmt);
            if (prc != 0) {
                break;
            }
            count++;
        }
    }
    sqlite3_reset(stmt);
    if (prc != 0 || rc != SQLITE_DONE) {
        db_error(s, "store: %s: %s", what,
                 prc != 0 ? "packing failed (out of memory?)" : sqlite3_errmsg(s->db));
        msgpack_sbuffer_destroy(&rows);
        return -1;
    }
    prc = msgpack_pack_array(pk, count);
    if (prc == 0 && rows.size > 0) {
        prc = pk->callback(pk->data, rows.data, rows.size);
    }
    msgpack_sbuffer_destroy(&rows);
    if (prc != 0) {
        db_error(s, "store: %s: packing %zu rows failed", what, count);
        return -1;
    }
    return 0;
}

int store_pack_history(struct store *s, const char *project, size_t len, unsigned limit,
                       msgpack_packer *pk)
{
    if (project != NULL && len > STORE_NAME_MAX) {
        return msgpack_pack_array(pk, 0) == 0 ? 0 : -1; /* no such project, no history */
    }
    sqlite3_stmt *stmt = db_stmt(s, project != NULL ? DB_HISTORY_TAIL_PROJECT : DB_HISTORY_TAIL);
    int rc = sqlite3_bind_int64(stmt, 1, limit == 0 ? -1 : (sqlite3_int64)limit);
    if (rc == SQLITE_OK && project != NULL) {
        rc = sqlite3_bind_text(stmt, 2, project, (int)len, SQLITE_STATIC);
    }
    return pack_rows(s, stmt, rc, "history", pack_history_row, pk);
}

int store_pack_audit(struct store *s, unsigned limit, msgpack_packer *pk)
{
    sqlite3_stmt *stmt = db_stmt(s, DB_AUDIT_TAIL);
    int rc = sqlite3_bind_int64(stmt, 1, limit == 0 ? -1 : (sqlite3_int64)limit);
    return pack_rows(s, stmt, rc, "audit", pack_audit_row, pk);
}

int store_each_handover(struct store *s, uint64_t index, store_handover_fn fn, void *data)
{
    sqlite3_stmt *stmt = db_stmt(s, DB_HISTORY_HANDOVERS);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        sqlite3_int64 at = sqlite3_column_int64(stmt, 0);
        if (at < 0 || (uint64_t)at < index) {
            break; /* older entries */
        }
        if ((uint64_t)at == index && sqlite3_column_int(stmt, 2) != 0) {
            const char *name = (const char *)sqlite3_column_text(stmt, 1);
            if (name != NULL) {
                fn(data, name, (size_t)sqlite3_column_bytes(stmt, 1));
            }
        }
    }
    bool failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    if (failed) {
        db_error(s, "store: hand-overs at index %" PRIu64 ": %s", index, sqlite3_errmsg(s->db));
    }
    sqlite3_reset(stmt);
    return failed ? -1 : 0;
}

/* Reads settings KEY; *STMT_OUT is left stepped on its row (reset it). 1 found, 0, -1. */
static int setting_get(struct store *s, const char *key, sqlite3_stmt **stmt_out)
{
    sqlite3_stmt *stmt = db_stmt(s, DB_SETTING_GET);
    int rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    *stmt_out = stmt;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(s, "store: setting %s: %s", key, sqlite3_errmsg(s->db));
        sqlite3_reset(stmt);
        return -1;
    }
    return rc == SQLITE_ROW;
}

int store_maintenance(struct store *s, bool *on, char *reason, size_t cap)
{
    sqlite3_stmt *stmt;
    *on = false;
    if (cap > 0) {
        reason[0] = '\0';
    }
    int found = setting_get(s, SCHEMA_SETTING_MAINTENANCE, &stmt);
    if (found < 0) {
        return -1;
    }
    *on = found == 1 && sqlite3_column_int64(stmt, 0) != 0;
    sqlite3_reset(stmt);
    found = setting_get(s, SCHEMA_SETTING_MAINTENANCE_REASON, &stmt);
    if (found < 0) {
        return -1;
    }
    if (found == 1 && cap > 0) {
        const char *text = (const char *)sqlite3_column_text(stmt, 0);
        size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
        n = text == NULL ? 0 : n < cap - 1 ? n : cap - 1;
        /* Cut on a character boundary: half a UTF-8 character makes PostgreSQL (and strict
         * MySQL) refuse every write of the `_global` row that carries the reason. */
        while (text != NULL && n > 0 && n < (size_t)sqlite3_column_bytes(stmt, 0) &&
               ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
        memcpy(reason, text != NULL ? text : "", n);
        reason[n] = '\0';
    }
    sqlite3_reset(stmt);
    return 0;
}
