/* claims: the Kylin claims recorded in the replicated state (docs/kylin.md, "Recorded
 * claims"): applying kylin_claimed and reading the recorded claims back (store.h).
 *
 * A claim is recorded only for the decision it answers: the command names the owner and the
 * quorum epoch its member saw when it read the row back, and applies only while the project
 * still has that owner and epoch (a compare-and-set like assign's). A record for an older
 * decision is refused "busy" in its result, never a failure of the entry; every change of
 * owner clears the recorded claim (DB_PROJECT_ASSIGN), so a recorded claim is always the
 * current owner's. A claim equal to the one recorded changes nothing. Not an ownership change:
 * it leaves ownership_version and the decision index alone. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "storage/fsm.h"
#include "storage/store.h"

/* Steps DB_PROJECT_CLAIM_GET for NAME/LEN; leaves it on its row (caller resets). SQLite rc. */
static int claim_row(struct store *s, const char *name, size_t len, sqlite3_stmt **out)
{
    sqlite3_stmt *stmt = db_stmt(s, DB_PROJECT_CLAIM_GET);
    int rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    *out = stmt;
    return rc == SQLITE_OK ? sqlite3_step(stmt) : rc;
}

static bool same_text(sqlite3_stmt *stmt, int col, const char *p, size_t n)
{
    const char *t = (const char *)sqlite3_column_text(stmt, col);
    return t != NULL && (size_t)sqlite3_column_bytes(stmt, col) == n && memcmp(t, p, n) == 0;
}

int claims_apply(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[96];
    const char *name = c->u.claimed.project;
    size_t len = c->u.claimed.len;
    command_quote(quoted, sizeof quoted, name, len);
    if (len > STORE_NAME_MAX) {
        fsm_result_set(r, STORE_NOT_FOUND, "kylin_claimed: project '%s' does not exist", quoted);
        return 0;
    }
    sqlite3_stmt *stmt;
    int rc = claim_row(a->s, name, len, &stmt);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt);
        fsm_result_set(r, STORE_NOT_FOUND, "kylin_claimed: project '%s' does not exist", quoted);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);
        return fsm_sqlite_failure(a, rc, "kylin_claimed", quoted, r);
    }
    uint64_t owner = (uint64_t)sqlite3_column_int64(stmt, DB_CLAIM_COL_OWNER); /* NULL: 0 */
    uint64_t epoch = (uint64_t)sqlite3_column_int64(stmt, DB_CLAIM_COL_EPOCH);
    bool same = same_text(stmt, DB_CLAIM_COL_IDENTITY, c->u.claimed.identity,
                          c->u.claimed.identity_len) &&
                sqlite3_column_type(stmt, DB_CLAIM_COL_EPOCH_ID) == SQLITE_INTEGER &&
                sqlite3_column_int64(stmt, DB_CLAIM_COL_EPOCH_ID) == c->u.claimed.epoch_id;
    sqlite3_reset(stmt);
    if (owner != c->u.claimed.owner || epoch != c->u.claimed.epoch) {
        fsm_result_set(r, STORE_BUSY,
                       "stale claim of %s: made for engine %" PRIu64 " at epoch %" PRIu64
                       ", but the project is now engine %" PRIu64 "'s (0 = none) at epoch %" PRIu64,
                       quoted, c->u.claimed.owner, c->u.claimed.epoch, owner, epoch);
        return 0;
    }
    if (same) {
        return 0;
    }
    stmt = db_stmt(a->s, DB_PROJECT_CLAIM_SET);
    rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 2, c->u.claimed.identity, (int)c->u.claimed.identity_len,
                               SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 3, c->u.claimed.epoch_id);
    }
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    return rc == SQLITE_DONE ? 0 : fsm_sqlite_failure(a, rc, "kylin_claimed", quoted, r);
}

/* ---- reads ---- */

static char *column_dup(sqlite3_stmt *stmt, int col)
{
    const char *t = (const char *)sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    char *copy = t != NULL ? malloc(n + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, t, n);
        copy[n] = '\0';
    }
    return copy;
}

/* Fills OUT from a row in enum db_claim_col order. 0, or -1 when out of memory. */
static int claim_fill(sqlite3_stmt *stmt, struct store_claim *out)
{
    memset(out, 0, sizeof *out);
    out->name = column_dup(stmt, DB_CLAIM_COL_NAME);
    if (out->name == NULL) {
        return -1;
    }
    out->owner = (uint64_t)sqlite3_column_int64(stmt, DB_CLAIM_COL_OWNER);
    out->epoch = (uint64_t)sqlite3_column_int64(stmt, DB_CLAIM_COL_EPOCH);
    if (sqlite3_column_type(stmt, DB_CLAIM_COL_IDENTITY) != SQLITE_NULL) {
        out->identity = column_dup(stmt, DB_CLAIM_COL_IDENTITY);
        if (out->identity == NULL) {
            free(out->name);
            out->name = NULL;
            return -1;
        }
        out->epoch_id = sqlite3_column_int64(stmt, DB_CLAIM_COL_EPOCH_ID);
    }
    return 0;
}

void store_claim_clear(struct store_claim *c)
{
    free(c->name);
    free(c->identity);
    memset(c, 0, sizeof *c);
}

void store_free_claims(struct store_claim *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        store_claim_clear(&rows[i]);
    }
    free(rows);
}

int store_load_claims(struct store *s, uint64_t owner, struct store_claim **out, size_t *n)
{
    struct store_claim *rows = NULL;
    size_t got = 0, cap = 0;
    *out = NULL;
    *n = 0;
    if (owner > INT64_MAX) {
        return 0; /* no such engine */
    }
    sqlite3_stmt *stmt = db_stmt(s, owner == 0 ? DB_PROJECT_CLAIMS : DB_PROJECT_CLAIMS_OF);
    int rc = owner == 0 ? SQLITE_OK : sqlite3_bind_int64(stmt, 1, (sqlite3_int64)owner);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) {
            break;
        }
        if (got == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct store_claim *grown = realloc(rows, ncap * sizeof *rows);
            if (grown == NULL) {
                break;
            }
            rows = grown;
            cap = ncap;
        }
        if (claim_fill(stmt, &rows[got]) != 0) {
            break;
        }
        got++;
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: load recorded Kylin claims: %s",
                 rc == SQLITE_ROW ? "out of memory" : sqlite3_errmsg(s->db));
        sqlite3_reset(stmt);
        store_free_claims(rows, got);
        return -1;
    }
    sqlite3_reset(stmt);
    *out = rows;
    *n = got;
    return 0;
}

int store_claim_get(struct store *s, const char *name, size_t len, struct store_claim *out)
{
    memset(out, 0, sizeof *out);
    if (len > STORE_NAME_MAX) {
        return 0; /* cannot exist; also keeps the int cast exact */
    }
    sqlite3_stmt *stmt;
    int rc = claim_row(s, name, len, &stmt);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1 && claim_fill(stmt, out) != 0) {
        rc = SQLITE_NOMEM;
        found = -1;
    }
    if (found < 0) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, name, len);
        db_error(s, "store: recorded Kylin claim of '%s': %s", quoted,
                 rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
    }
    sqlite3_reset(stmt);
    return found;
}
