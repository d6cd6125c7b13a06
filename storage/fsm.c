/* fsm: applying committed entries to the store (store_apply): the entry skeleton and the
 * project and member commands; the engine and ownership commands are in ownership.c, the
 * recorded Kylin claims in claims.c, the reads the API serves in query.c.
 *
 * Entries are applied in a transaction that also records the applied index, so a restart
 * resumes exactly (entries at or below meta.applied_index are skipped). Group commit: the
 * transaction stays open across consecutive entries until store_commit (store.h says when
 * and why). A refused command leaves no trace while its siblings still apply: it is refused
 * before it writes, or its one write statement fails and SQLite undoes that statement, or
 * (a command with several writes that can fail between them) it runs in its own savepoint.
 * Refusals depend only on the entry and the state, never on the machine, so every member
 * refuses the same commands (invariant 5); a machine-dependent failure (I/O, full disk, out
 * of memory) rolls the open group back and returns -1, which the caller treats as fatal. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/command_decode.h"
#include "storage/db.h"
#include "storage/fsm.h"
#include "storage/schema.h"
#include "storage/store.h"

const char *store_check_project_name(const char *name, size_t len)
{
    if (len == 0) {
        return "a project name must not be empty";
    }
    if (len > STORE_NAME_MAX) {
        return "a project name has at most 255 bytes";
    }
    if (name[0] == '_') {
        return "a leading '_' is reserved for internal projects";
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return "a project name may contain only letters, digits and '_'";
        }
    }
    return NULL;
}

void fsm_result_refuse(struct store_cmd_result *r, enum store_err err)
{
    r->err = err;
}

void fsm_result_set(struct store_cmd_result *r, enum store_err err, const char *fmt, ...)
{
    fsm_result_refuse(r, err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

int fsm_sqlite_failure(struct apply *a, int rc, const char *what, const char *quoted,
                       struct store_cmd_result *r)
{
    if (db_is_deterministic_failure(rc)) {
        fsm_result_set(r, STORE_FAILED, "%s '%s': %s", what, quoted,
                       sqlite3_errmsg(a->s->db));
        return 0;
    }
    db_error(a->s, "store: apply index %" PRIu64 ": %s '%s': %s", a->index, what, quoted,
             sqlite3_errmsg(a->s->db));
    return -1;
}

/* Names are unique ignoring case, as in Kylin (DESIGN.md; NProjectManager.getProject L92-98):
 * `Sales` is refused while `sales` exists; an exact duplicate is left to the INSERT, as before.
 * NOCASE folds ASCII only, which is all a valid name holds. Only for commands that carry
 * "nocase" (command.h): an older entry is applied by the rule it was written under, so a log
 * holding both `Sales` and `sales` replays to the same state on every member.
 * 1 = refused (R set), 0 = go on, -1 = the FSM must stop. */
static int refuse_case_twin(struct apply *a, const struct command *c, const char *quoted,
                            struct store_cmd_result *r)
{
    if (!c->u.project.nocase) {
        return 0;
    }
    sqlite3_stmt *twin = db_stmt(a->s, DB_PROJECT_CASE_TWIN);
    int rc = sqlite3_bind_text(twin, 1, c->u.project.name, (int)c->u.project.len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(twin);
    }
    if (rc == SQLITE_ROW) {
        const unsigned char *stored = sqlite3_column_text(twin, 0);
        int stored_len = sqlite3_column_bytes(twin, 0);
        bool exact = stored != NULL && (size_t)stored_len == c->u.project.len &&
                     memcmp(stored, c->u.project.name, c->u.project.len) == 0;
        if (!exact) {
            char as[96];
            command_quote(as, sizeof as, stored != NULL ? (const char *)stored : "",
                          stored != NULL ? (size_t)stored_len : 0);
            fsm_result_set(r, STORE_EXISTS,
                           "project '%s' already exists as '%s' (names are unique ignoring case)",
                           quoted, as);
            (void)sqlite3_reset(twin); /* the step succeeded */
            return 1;
        }
        rc = SQLITE_DONE;
    }
    (void)sqlite3_reset(twin); /* a step error is in rc already */
    if (rc != SQLITE_DONE) {
        return fsm_sqlite_failure(a, rc, "project_add", quoted, r) == 0 ? 1 : -1;
    }
    return 0;
}

static int apply_project_add(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[96];
    command_quote(quoted, sizeof quoted, c->u.project.name, c->u.project.len);
    const char *why = store_check_project_name(c->u.project.name, c->u.project.len);
    if (why != NULL) {
        fsm_result_set(r, STORE_INVALID, "invalid project name '%s': %s",
                       quoted, why);
        return 0;
    }
    int twin = refuse_case_twin(a, c, quoted, r);
    if (twin != 0) {
        return twin > 0 ? 0 : -1;
    }
    sqlite3_stmt *stmt = db_stmt(a->s, c->u.project.kylin ? DB_PROJECT_INSERT_KYLIN : DB_PROJECT_INSERT);
    int rc = sqlite3_bind_text(stmt, 1, c->u.project.name, (int)c->u.project.len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    if (rc != SQLITE_DONE) {
        return fsm_sqlite_failure(a, rc, "project_add", quoted, r);
    }
    if (sqlite3_changes(a->s->db) > 0) {
        a->cmd_changed = true;
        return 0;
    }
    if (c->u.project.kylin) {
        /* Kylin lists a project the quorum already holds (raftctl's, say): from now on it
         * follows Kylin (removed when Kylin drops it). Not an ownership change. */
        stmt = db_stmt(a->s, DB_PROJECT_MARK_KYLIN);
        rc = sqlite3_bind_text(stmt, 1, c->u.project.name, (int)c->u.project.len, SQLITE_STATIC);
        if (rc == SQLITE_OK) {
            rc = db_step_done(a->s, stmt);
        }
        if (rc != SQLITE_DONE) {
            return fsm_sqlite_failure(a, rc, "project_add", quoted, r);
        }
        if (sqlite3_changes(a->s->db) > 0) {
            return 0;
        }
    }
    fsm_result_set(r, STORE_EXISTS, "project '%s' already exists", quoted);
    return 0;
}

static int apply_project_remove(struct apply *a, const struct command *c,
                                struct store_cmd_result *r)
{
    char quoted[96];
    command_quote(quoted, sizeof quoted, c->u.project.name, c->u.project.len);
    const size_t global_len = sizeof SCHEMA_GLOBAL_PROJECT - 1;
    if (c->u.project.len == global_len &&
        memcmp(c->u.project.name, SCHEMA_GLOBAL_PROJECT, global_len) == 0) {
        fsm_result_set(r, STORE_INVALID, "%s cannot be removed",
                       SCHEMA_GLOBAL_PROJECT);
        return 0;
    }
    const char *why = store_check_project_name(c->u.project.name, c->u.project.len);
    if (why != NULL) {
        fsm_result_set(r, STORE_INVALID, "invalid project name '%s': %s",
                       quoted, why);
        return 0;
    }
    sqlite3_stmt *stmt = db_stmt(a->s, DB_PROJECT_DELETE);
    int rc = sqlite3_bind_text(stmt, 1, c->u.project.name, (int)c->u.project.len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    if (rc != SQLITE_DONE) {
        return fsm_sqlite_failure(a, rc, "project_remove", quoted, r);
    }
    if (sqlite3_changes(a->s->db) == 0) {
        fsm_result_set(r, STORE_NOT_FOUND, "project '%s' does not exist", quoted);
    }
    a->cmd_changed = true; /* whatever its owner: history keeps its rows */
    return 0;
}

static int apply_member_set(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    char quoted[24];
    snprintf(quoted, sizeof quoted, "%" PRIu64, c->u.member.id);
    sqlite3_stmt *stmt = db_stmt(a->s, DB_MEMBER_UPSERT);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)c->u.member.id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 2, c->u.member.api_address, (int)c->u.member.api_len,
                               SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    return rc == SQLITE_DONE ? 0 : fsm_sqlite_failure(a, rc, "member_set", quoted, r);
}

static int apply_member_forget(struct apply *a, const struct command *c,
                               struct store_cmd_result *r)
{
    char quoted[24];
    snprintf(quoted, sizeof quoted, "%" PRIu64, c->u.member.id);
    sqlite3_stmt *stmt = db_stmt(a->s, DB_MEMBER_DELETE);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)c->u.member.id);
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    /* Forgetting an unknown member is fine: the goal state holds either way. */
    return rc == SQLITE_DONE ? 0 : fsm_sqlite_failure(a, rc, "member_forget", quoted, r);
}

/* An admin write request, recorded with who made it (the table is replicated like the rest). */
static int apply_audit(struct apply *a, const struct command *c, struct store_cmd_result *r)
{
    sqlite3_stmt *stmt = db_stmt(a->s, DB_AUDIT_INSERT);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)a->index);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 2, (sqlite3_int64)(a->term > INT64_MAX ? INT64_MAX : a->term));
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 3, (sqlite3_int64)c->u.audit.time_ms);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 4, c->u.audit.by, (int)c->u.audit.by_len, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 5, c->u.audit.method, (int)c->u.audit.method_len, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 6, c->u.audit.detail, (int)c->u.audit.detail_len, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = db_step_done(a->s, stmt);
    }
    return rc == SQLITE_DONE ? 0 : fsm_sqlite_failure(a, rc, "audit", "", r);
}

/* Steps one of the no-row statements of the entry's skeleton (BEGIN, SAVEPOINT, ...). */
static int step_fixed(struct apply *a, enum db_stmt id, const char *what)
{
    int rc = db_step_done(a->s, db_stmt(a->s, id));
    if (rc != SQLITE_DONE) {
        db_error(a->s, "store: apply index %" PRIu64 ": %s: %s", a->index, what,
                 sqlite3_errmsg(a->s->db));
        return -1;
    }
    return 0;
}

/* Whether command type T runs in a savepoint. A command that makes at most one write
 * statement after its checks needs none: a refusal before that write left nothing, and a
 * write that fails on a constraint is undone by SQLite itself (a statement is atomic inside
 * the open transaction). Only a command with several writes can fail half-way; a savepoint
 * costs a statement and a copy of each page its writes touch (SQLite's sub-journal). */
static bool needs_savepoint(enum command_type t)
{
    switch (t) {
    case COMMAND_PROJECT_ADD: /* one INSERT; the kylin mark runs only if it changed nothing */
    case COMMAND_PROJECT_REMOVE:
    case COMMAND_MEMBER_SET:
    case COMMAND_MEMBER_FORGET:
    case COMMAND_ENGINE_SET:
    case COMMAND_ENGINE_DEAD:
    case COMMAND_DRAIN:
    case COMMAND_PIN:
    case COMMAND_AUDIT:
    case COMMAND_KYLIN_CLAIMED: return false;
    /* Two writes (the owner, then its history row), but neither can fail on a constraint
     * once its checks passed (ownership.c says why); any failure of the second one stops
     * the FSM rather than leave the first applied. Half the commands of a project.add. */
    case COMMAND_ASSIGN: return false;
    default: return true; /* heartbeat (one UPDATE per engine), maintenance (two upserts) */
    }
}

/* Runs command I of E (in a savepoint if it needs one); 0 (result in R) or -1 (fatal,
 * errmsg set). */
static int apply_command(struct apply *a, const struct command_entry *e, uint32_t i,
                         struct store_cmd_result *r)
{
    struct command c;
    fsm_result_set(r, STORE_OK, "%s", "");
    if (command_decode(e, i, &c, r->message, sizeof r->message) != 0) {
        fsm_result_refuse(r, STORE_INVALID);
        return 0;
    }
    bool savepoint = needs_savepoint(c.type);
    if (savepoint && step_fixed(a, DB_SAVEPOINT, "savepoint") != 0) {
        return -1;
    }
    int rc;
    a->cmd_changed = false;
    switch (c.type) {
    case COMMAND_PROJECT_ADD: rc = apply_project_add(a, &c, r); break;
    case COMMAND_PROJECT_REMOVE: rc = apply_project_remove(a, &c, r); break;
    case COMMAND_MEMBER_SET: rc = apply_member_set(a, &c, r); break;
    case COMMAND_MEMBER_FORGET: rc = apply_member_forget(a, &c, r); break;
    case COMMAND_AUDIT: rc = apply_audit(a, &c, r); break;
    case COMMAND_KYLIN_CLAIMED: rc = claims_apply(a, &c, r); break;
    default: rc = ownership_apply(a, &c, r); break;
    }
    if (rc != 0) {
        return -1;
    }
    a->changed = a->changed || (r->err == STORE_OK && a->cmd_changed);
    if (!savepoint) {
        return 0;
    }
    if (r->err != STORE_OK && step_fixed(a, DB_ROLLBACK_TO, "rollback to savepoint") != 0) {
        return -1;
    }
    return step_fixed(a, DB_RELEASE, "release savepoint");
}

/* A machine failure inside the open group: everything since the last commit goes (the raft
 * log keeps those entries for the replay after a restart). errmsg already says what failed;
 * a failed rollback adds nothing. */
static void group_rollback(struct store *s)
{
    if (s->applied_index > s->committed_index && !s->broken) {
        /* Entries up to applied_index were applied (their results may be answered): going on
         * from committed_index would apply later entries on a state without them. */
        s->broken = true;
        snprintf(s->broken_why, sizeof s->broken_why, "%s", s->errmsg);
    }
    db_rollback(s);
    s->applied_index = s->committed_index;
    s->decision_index = s->committed_decision_index;
    s->group_entries = 0;
    s->ownership_version++; /* the state planners saw is gone */
}

/* 0, or -1 with errmsg when S is broken (store.h): WHAT is refused. */
static int refuse_if_broken(struct store *s, const char *what, uint64_t index)
{
    if (!s->broken) {
        return 0;
    }
    db_error(s, "store: %s %" PRIu64 " refused: restart this member once the disk is fixed (it replays "
             "the applied entries after %" PRIu64 " that a failed write rolled back: %s)", what, index,
             s->committed_index, s->broken_why);
    return -1;
}

int store_apply(struct store *s, uint64_t index, const void *buf, size_t len,
                struct store_results *out)
{
    memset(out, 0, sizeof *out);
    out->index = index;
    if (refuse_if_broken(s, "apply index", index) != 0) {
        return -1;
    }
    if (index <= s->applied_index) {
        return 0; /* replay after a restart: already in the database */
    }
    if (index > INT64_MAX) {
        db_error(s, "store: apply index %" PRIu64 ": index beyond SQLite's integer range", index);
        return -1;
    }
    struct apply a = {.s = s, .index = index};
    struct command_entry e;
    int drc = command_entry_decode(&e, buf, len, out->entry_message, sizeof out->entry_message);
    if (drc < 0) {
        db_error(s, "store: apply index %" PRIu64 ": %s", index, out->entry_message);
        goto err_entry;
    }
    if (drc > 0) {
        /* Malformed as a whole: committed all the same, so the index still advances and every
         * member skips it identically. */
        out->entry_status = 1;
    } else if (e.n > 0) {
        a.term = e.term;
        out->cmds = calloc(e.n, sizeof *out->cmds);
        if (out->cmds == NULL) {
            db_error(s, "store: apply index %" PRIu64 ": out of memory for %" PRIu32 " results",
                     index, e.n);
            goto err_entry;
        }
        out->n = e.n;
    }
    if (s->group_entries == 0) {
        if (step_fixed(&a, DB_BEGIN, "begin") != 0) {
            goto err_entry;
        }
        s->group_first_index = index;
    }
    for (uint32_t i = 0; i < out->n; i++) {
        if (apply_command(&a, &e, i, &out->cmds[i]) != 0) {
            goto err_rollback;
        }
    }
    sqlite3_stmt *stmt = db_stmt(s, DB_META_SET_APPLIED);
    int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)index);
    if (rc == SQLITE_OK) {
        rc = db_step_done(s, stmt);
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: apply index %" PRIu64 ": recording the applied index: %s", index,
                 sqlite3_errmsg(s->db));
        goto err_rollback;
    }
    if (a.changed) {
        /* The metastore mirror follows this index (metastore/mirror.h): recorded in the same
         * transaction, so a reader sees it together with the state it describes. */
        stmt = db_stmt(s, DB_META_SET_DECISION);
        rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)index);
        if (rc == SQLITE_OK) {
            rc = db_step_done(s, stmt);
        }
        if (rc != SQLITE_DONE) {
            db_error(s, "store: apply index %" PRIu64 ": recording the decision index: %s", index,
                     sqlite3_errmsg(s->db));
            goto err_rollback;
        }
    }
    s->group_entries++;
    s->applied_index = index;
    if (a.changed) {
        s->ownership_version++;
        s->decision_index = index;
    }
    command_entry_free(&e);
    if (s->group_entries >= STORE_GROUP_MAX_ENTRIES && store_commit(s) != 0) {
        store_results_free(out);
        out->index = index;
        return -1;
    }
    return 0;

err_rollback:
    group_rollback(s);
err_entry:
    command_entry_free(&e);
    store_results_free(out);
    out->index = index;
    return -1;
}

int store_commit(struct store *s)
{
    if (refuse_if_broken(s, "commit at applied index", s->applied_index) != 0) {
        return -1;
    }
    if (s->group_entries == 0) {
        return 0;
    }
    int rc = db_step_done(s, db_stmt(s, DB_COMMIT));
    if (rc != SQLITE_DONE) {
        db_error(s, "store: commit of the entries %" PRIu64 "-%" PRIu64 ": %s", s->group_first_index,
                 s->applied_index, sqlite3_errmsg(s->db));
        group_rollback(s);
        return -1;
    }
    db_mark_committed(s);
    return 0;
}

void store_results_free(struct store_results *r)
{
    free(r->cmds);
    r->cmds = NULL;
    r->n = 0;
}
