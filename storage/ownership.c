/* ownership: applying the engine and ownership commands (docs/protocol.md, "Log entries"):
 * engine_set, heartbeat, engine_dead, assign, drain, pin, maintenance.
 *
 * The leader plans; this file only checks each command against the state it finds, so that
 * the log alone decides ownership and every member decides the same way (invariant 5):
 *   - assign is a compare-and-set on the current owner: a plan computed on an older state
 *     is refused ("busy") rather than applied on top of a newer one;
 *   - the epoch (Kylin's fencing token) changes in exactly one statement, the one that
 *     changes the owner, always by +1 (invariant 1); a no-op assign touches nothing;
 *   - only alive, non-draining all/job engines receive projects (invariant 3);
 *   - maintenance mode freezes every assignment.
 * Refusal codes: "invalid" (the target or the mode forbids it), "not_found" (unknown
 * engine or project), "busy" (stale compare-and-set), "failed" (anything else). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "storage/db.h"
#include "storage/fsm.h"
#include "storage/schema.h"

/* What ownership.c needs to know about one engine. */
struct engine_state {
    bool found;
    bool can_own; /* mode all or job */
    bool alive;
    bool draining;
    char mode[8];
};

/* The helpers below return 0 (go on), 1 (command refused: R says why) or -1 (fatal SQLite
 * failure, store errmsg set); a command function passes them on with outcome(). */
static int outcome(int rc)
{
    return rc < 0 ? -1 : 0;
}

/* Reads a SQLite failure of a helper into the convention above. */
static int failure(struct apply *a, int rc, const char *what, const char *quoted,
                   struct store_cmd_result *r)
{
    return fsm_sqlite_failure(a, rc, what, quoted, r) != 0 ? -1 : 1;
}

static int engine_state(struct apply *a, uint64_t id, struct engine_state *st, const char *what,
                        struct store_cmd_result *r)
{
    memset(st, 0, sizeof *st);
    sqlite3_stmt *stmt = db_stmt(a->s, DB_ENGINE_STATE);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        st->found = true;
        snprintf(st->mode, sizeof st->mode, "%s", mode != NULL ? mode : "?");
        st->can_own = strcmp(st->mode, "all") == 0 || strcmp(st->mode, "job") == 0;
        st->alive = sqlite3_column_int64(stmt, 1) != 0;
        st->draining = sqlite3_column_int64(stmt, 2) != 0;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        char quoted[24];
        snprintf(quoted, sizeof quoted, "%" PRIu64, id);
        return failure(a, rc, what, quoted, r);
    }
    return 0;
}

/* Steps a no-row statement whose bindings returned BIND_RC. */
static int step(struct apply *a, sqlite3_stmt *stmt, int bind_rc, const char *what,
                const char *quoted, struct store_cmd_result *r)
{
    int rc = bind_rc == SQLITE_OK ? db_step_done(a->s, stmt) : bind_rc;
    return rc == SQLITE_DONE ? 0 : failure(a, rc, what, quoted, r);
}

static int bind_bool(sqlite3_stmt *stmt, int col, bool v)
{
    return sqlite3_bind_int64(stmt, col, v ? 1 : 0);
}

/* Binds an id where 0 means none as SQL NULL. */
static int bind_id_or_null(sqlite3_stmt *stmt, int col, uint64_t id)
{
    return id == 0 ? sqlite3_bind_null(stmt, col) : sqlite3_bind_int64(stmt, col, (sqlite3_int64)id);
}

/* "3" or "none" for messages. */
static const char *id_text(char *buf, size_t cap, uint64_t id)
{
    if (id == 0) {
        return "none";
    }
    snprintf(buf, cap, "%" PRIu64, id);
    return buf;
}

/* ---- engines ---- */

static int apply_engine_set(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[24];
    snprintf(quoted, sizeof quoted, "%" PRIu64, c->u.engine.id);
    bool can_own = strcmp(c->u.engine.mode, "query") != 0;
    /* kylin.server.leader-race.enabled=false: that engine owns every project and nothing
     * fails over; two such engines would each believe they own everything. */
    if (!c->u.engine.race_enabled && can_own) {
        sqlite3_stmt *stmt = db_stmt(a->s, DB_ENGINE_SINGLE_OTHER);
        int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)c->u.engine.id);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(stmt);
        }
        sqlite3_int64 other = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
        sqlite3_reset(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return outcome(failure(a, rc, "engine_set", quoted, r));
        }
        if (rc == SQLITE_ROW) {
            fsm_result_set(r, STORE_INVALID,
                           "single-engine mode (kylin.server.leader-race.enabled=false): engine "
                           "%lld already owns every project; only one such engine may exist "
                           "(engine %s refused; enable the leader race on it)",
                           (long long)other, quoted);
            return 0;
        }
    }
    sqlite3_stmt *stmt = db_stmt(a->s, DB_ENGINE_UPSERT);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)c->u.engine.id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 2, c->u.engine.mode, -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 3, c->u.engine.weight);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 4, c->u.engine.identity, (int)c->u.engine.identity_len,
                               SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = bind_bool(stmt, 5, c->u.engine.race_enabled);
    }
    rc = step(a, stmt, rc, "engine_set", quoted, r);
    if (rc != 0) {
        return outcome(rc);
    }
    a->cmd_changed = sqlite3_changes(a->s->db) > 0;
    return 0;
}

/* The hot command: one prepared UPDATE per id. Reviving a dead engine is an ownership
 * change (it becomes eligible again), counting heartbeats is not; the dead count before and
 * after tells which without a second statement per id. Unknown ids change no row and are
 * ignored; an id listed twice is counted twice (the leader lists each engine once). */
static int apply_heartbeat(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    sqlite3_int64 dead_before = 0, dead_after = 0;
    sqlite3_stmt *count = db_stmt(a->s, DB_ENGINE_COUNT_DEAD);
    int rc = sqlite3_step(count);
    if (rc == SQLITE_ROW) {
        dead_before = sqlite3_column_int64(count, 0);
    }
    sqlite3_reset(count);
    if (rc != SQLITE_ROW) {
        return outcome(failure(a, rc, "heartbeat", "dead engines", r));
    }
    sqlite3_stmt *stmt = db_stmt(a->s, DB_ENGINE_HEARTBEAT);
    for (uint32_t i = 0; i < c->u.heartbeat.n; i++) {
        char quoted[24];
        uint64_t id = command_heartbeat_id(c, i);
        rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_int64(stmt, 2, (sqlite3_int64)a->index);
        }
        if (rc == SQLITE_OK) {
            rc = db_step_done(a->s, stmt); /* unknown ids change no row: ignored */
        }
        if (rc != SQLITE_DONE) {
            snprintf(quoted, sizeof quoted, "%" PRIu64, id);
            return outcome(failure(a, rc, "heartbeat", quoted, r));
        }
    }
    if (dead_before > 0) {
        rc = sqlite3_step(count);
        if (rc == SQLITE_ROW) {
            dead_after = sqlite3_column_int64(count, 0);
        }
        sqlite3_reset(count);
        if (rc != SQLITE_ROW) {
            return outcome(failure(a, rc, "heartbeat", "dead engines", r));
        }
        a->cmd_changed = dead_after < dead_before;
    }
    return 0;
}

/* engine_dead and drain: sets one flag of a known engine. */
static int set_engine_flag(struct apply *a, const char *what, uint64_t id, enum db_stmt which,
                           bool value, struct store_cmd_result *r)
{
    struct engine_state st;
    int rc = engine_state(a, id, &st, what, r);
    if (rc != 0) {
        return outcome(rc);
    }
    if (!st.found) {
        fsm_result_set(r, STORE_NOT_FOUND, "%s: no engine with id %" PRIu64,
                       what, id);
        return 0;
    }
    bool current = which == DB_ENGINE_SET_ALIVE ? st.alive : st.draining;
    if (current == value) {
        return 0;
    }
    char quoted[24];
    snprintf(quoted, sizeof quoted, "%" PRIu64, id);
    sqlite3_stmt *stmt = db_stmt(a->s, which);
    int brc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
    if (brc == SQLITE_OK) {
        brc = bind_bool(stmt, 2, value);
    }
    rc = step(a, stmt, brc, what, quoted, r);
    a->cmd_changed = rc == 0;
    return outcome(rc);
}

/* ---- projects ---- */

struct project_state {
    bool found;
    uint64_t owner; /* 0 = none */
    uint64_t pinned;
    sqlite3_int64 epoch;
};

static int project_state(struct apply *a, const char *name, size_t len, const char *what,
                         const char *quoted, struct project_state *st, struct store_cmd_result *r)
{
    memset(st, 0, sizeof *st);
    if (len > STORE_NAME_MAX) {
        return 0; /* cannot exist; also keeps the int cast below exact */
    }
    sqlite3_stmt *stmt = db_stmt(a->s, DB_PROJECT_GET);
    int rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        st->found = true;
        st->owner = (uint64_t)sqlite3_column_int64(stmt, 1); /* NULL reads as 0 */
        st->pinned = (uint64_t)sqlite3_column_int64(stmt, 2);
        st->epoch = sqlite3_column_int64(stmt, 3);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        return failure(a, rc, what, quoted, r);
    }
    return 0;
}

static int maintenance_on(struct apply *a, bool *on, struct store_cmd_result *r)
{
    sqlite3_stmt *stmt = db_stmt(a->s, DB_SETTING_GET);
    int rc = sqlite3_bind_text(stmt, 1, SCHEMA_SETTING_MAINTENANCE, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    *on = rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) != 0;
    sqlite3_reset(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : failure(a, rc, "assign", "maintenance", r);
}

/* Why engine ID cannot receive projects (invariant 3), or NULL when it can. */
static const char *ineligible(const struct engine_state *st)
{
    if (!st->found) {
        return "no such engine (see raftctl engine list)";
    }
    if (!st->can_own) {
        return "it runs in query mode; only all and job engines own projects";
    }
    if (!st->alive) {
        return "it is dead";
    }
    if (st->draining) {
        return "it is draining";
    }
    return NULL;
}

static int apply_assign(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[96], from_buf[24], owner_buf[24];
    const char *name = c->u.assign.project;
    size_t len = c->u.assign.len;
    uint64_t from = c->u.assign.from, to = c->u.assign.to;
    command_quote(quoted, sizeof quoted, name, len);

    struct project_state p;
    int rc = project_state(a, name, len, "assign", quoted, &p, r);
    if (rc != 0) {
        return outcome(rc);
    }
    if (!p.found) {
        fsm_result_set(r, STORE_NOT_FOUND,
                       "assign: project '%s' does not exist", quoted);
        return 0;
    }
    bool frozen;
    rc = maintenance_on(a, &frozen, r);
    if (rc != 0) {
        return outcome(rc);
    }
    if (frozen) {
        fsm_result_set(r, STORE_INVALID,
                       "maintenance mode is on: ownership is frozen (assign '%s' refused; "
                       "raftctl maintenance off to resume)",
                       quoted);
        return 0;
    }
    if (p.owner != from) {
        fsm_result_set(r, STORE_BUSY, "stale move of %s: owner is %s, not %s",
                       quoted, id_text(owner_buf, sizeof owner_buf, p.owner),
                       id_text(from_buf, sizeof from_buf, from));
        return 0;
    }
    if (to != 0) {
        struct engine_state st;
        rc = engine_state(a, to, &st, "assign", r);
        if (rc != 0) {
            return outcome(rc);
        }
        const char *why = ineligible(&st);
        if (why != NULL) {
            fsm_result_set(r, STORE_INVALID,
                           "cannot assign %s to engine %" PRIu64 ": %s", quoted, to, why);
            return 0;
        }
    }
    if (from == to) {
        return 0; /* no owner change: no epoch change, no history (invariant 1) */
    }
    if (p.epoch < 0 || p.epoch >= INT64_MAX) {
        fsm_result_set(r, STORE_FAILED,
                       "assign %s: epoch %lld cannot be incremented", quoted, (long long)p.epoch);
        return 0;
    }

    sqlite3_stmt *stmt = db_stmt(a->s, DB_PROJECT_ASSIGN);
    rc = sqlite3_bind_text(stmt, 1, name, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = bind_id_or_null(stmt, 2, to);
    }
    rc = step(a, stmt, rc, "assign", quoted, r);
    if (rc != 0) {
        return outcome(rc);
    }
    /* No savepoint (fsm.c): the UPDATE above cannot be undone from here, so this INSERT must
     * not be refused. It cannot fail on a constraint: every column is bound non-NULL but the
     * actor, the epoch was checked above and the decoder admits only the reasons the CHECK
     * lists. Should it fail all the same, the FSM stops (every member at this entry) rather
     * than keep an owner change without its history row. */
    stmt = db_stmt(a->s, DB_HISTORY_INSERT);
    rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)a->index);
    if (rc == SQLITE_OK) {
        /* term and time_ms come from the entry; stored as SQLite integers, so above
         * INT64_MAX they would wrap: the decoder bounds time_ms, terms never get there. */
        rc = sqlite3_bind_int64(stmt, 2, (sqlite3_int64)(a->term > INT64_MAX ? INT64_MAX : a->term));
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 3, (sqlite3_int64)c->u.assign.time_ms);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 4, name, (int)len, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = bind_id_or_null(stmt, 5, from);
    }
    if (rc == SQLITE_OK) {
        rc = bind_id_or_null(stmt, 6, to);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 7, p.epoch + 1);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 8, c->u.assign.reason, -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = c->u.assign.by == NULL ? sqlite3_bind_null(stmt, 9)
                                    : sqlite3_bind_text(stmt, 9, c->u.assign.by, (int)c->u.assign.by_len, SQLITE_STATIC);
    }
    rc = rc == SQLITE_OK ? db_step_done(a->s, stmt) : rc;
    if (rc != SQLITE_DONE) {
        db_error(a->s, "store: apply index %" PRIu64 ": assign '%s': history row after the owner "
                 "change: %s", a->index, quoted, sqlite3_errmsg(a->s->db));
        return -1;
    }
    a->cmd_changed = true;
    return 0;
}

static int apply_pin(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[96];
    command_quote(quoted, sizeof quoted, c->u.pin.project, c->u.pin.len);
    struct project_state p;
    int rc = project_state(a, c->u.pin.project, c->u.pin.len, "pin", quoted, &p, r);
    if (rc != 0) {
        return outcome(rc);
    }
    if (!p.found) {
        fsm_result_set(r, STORE_NOT_FOUND, "pin: project '%s' does not exist",
                       quoted);
        return 0;
    }
    if (c->u.pin.engine != 0) {
        struct engine_state st;
        rc = engine_state(a, c->u.pin.engine, &st, "pin", r);
        if (rc != 0) {
            return outcome(rc);
        }
        if (!st.found) {
            fsm_result_set(r, STORE_NOT_FOUND,
                           "pin %s: no engine with id %" PRIu64, quoted, c->u.pin.engine);
            return 0;
        }
    }
    if (p.pinned == c->u.pin.engine) {
        return 0;
    }
    sqlite3_stmt *stmt = db_stmt(a->s, DB_PROJECT_PIN);
    rc = sqlite3_bind_text(stmt, 1, c->u.pin.project, (int)c->u.pin.len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = bind_id_or_null(stmt, 2, c->u.pin.engine);
    }
    rc = step(a, stmt, rc, "pin", quoted, r);
    a->cmd_changed = rc == 0;
    return outcome(rc);
}

/* ---- settings ---- */

static int apply_maintenance(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    sqlite3_stmt *stmt = db_stmt(a->s, DB_SETTING_SET);
    int rc = sqlite3_bind_text(stmt, 1, SCHEMA_SETTING_MAINTENANCE, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = bind_bool(stmt, 2, c->u.maintenance.on);
    }
    rc = step(a, stmt, rc, "maintenance", "on", r);
    if (rc != 0) {
        return outcome(rc);
    }
    int changes = sqlite3_changes(a->s->db);
    stmt = db_stmt(a->s, DB_SETTING_SET);
    rc = sqlite3_bind_text(stmt, 1, SCHEMA_SETTING_MAINTENANCE_REASON, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 2, c->u.maintenance.reason, (int)c->u.maintenance.reason_len,
                               SQLITE_STATIC);
    }
    rc = step(a, stmt, rc, "maintenance", "reason", r);
    a->cmd_changed = rc == 0 && changes + sqlite3_changes(a->s->db) > 0;
    return outcome(rc);
}

int ownership_apply(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    switch (c->type) {
    case COMMAND_ENGINE_SET: return apply_engine_set(a, c, r);
    case COMMAND_HEARTBEAT: return apply_heartbeat(a, c, r);
    case COMMAND_ENGINE_DEAD:
        return set_engine_flag(a, "engine_dead", c->u.engine.id, DB_ENGINE_SET_ALIVE, false, r);
    case COMMAND_ASSIGN: return apply_assign(a, c, r);
    case COMMAND_DRAIN:
        return set_engine_flag(a, "drain", c->u.drain.id, DB_ENGINE_SET_DRAINING, c->u.drain.on, r);
    case COMMAND_PIN: return apply_pin(a, c, r);
    case COMMAND_MAINTENANCE: return apply_maintenance(a, c, r);
    default: return 0; /* not an ownership command: fsm.c handles it */
    }
}
