/* db: private to storage/. The SQLite connection of a struct store: open / close, pragmas,
 * the cache of statements prepared once at open, and the error helper every storage file
 * uses to fill store.errmsg.
 *
 * Owns: the sqlite3 handle and struct store_stmts. Calls: SQLite, schema.h. Used by fsm.c,
 * snapshot.c and hash.c; nothing outside storage/ includes this header. */
#ifndef STORAGE_DB_H
#define STORAGE_DB_H

#include <sqlite3.h>

#include "storage/store.h"

/* Every statement a hot path runs. The SQL lives in one table in db.c (next to the DDL it
 * depends on in schema.c); fsm.c only binds and steps. */
enum db_stmt {
    DB_BEGIN,              /* BEGIN IMMEDIATE */
    DB_COMMIT,             /* COMMIT */
    DB_ROLLBACK,           /* ROLLBACK */
    DB_SAVEPOINT,          /* SAVEPOINT cmd: one per command that needs it (fsm.c) */
    DB_RELEASE,            /* RELEASE cmd */
    DB_ROLLBACK_TO,        /* ROLLBACK TO cmd: undoes one refused command */
    DB_META_SET_APPLIED,   /* ?1 = applied index */
    DB_META_SET_DECISION,  /* ?1 = decision index */
    DB_PROJECT_INSERT,     /* ?1 = name; changes() == 0 when it already exists */
    DB_PROJECT_INSERT_KYLIN, /* ?1 = name, kylin_listed 1; changes() == 0 when it exists */
    DB_PROJECT_MARK_KYLIN, /* ?1 = name; kylin_listed 0 -> 1; changes() == 0 when none */
    DB_PROJECT_DELETE,     /* ?1 = name; changes() == 0 when missing */
    DB_PROJECT_EXISTS,     /* ?1 = name -> one row when present */
    DB_PROJECT_CASE_TWIN,  /* ?1 = name -> the stored name equal to it ignoring ASCII case
                            * (the exact one first) */
    DB_PROJECT_COUNT,      /* -> count(*) */
    DB_PROJECT_LIST,       /* -> name, owner, pinned, epoch, kylin_listed ordered by name */
    DB_PROJECT_LIST_IDENTITY, /* -> name, owner, owner's identity (NULL), epoch by name */
    DB_PROJECT_GET,        /* ?1 = name -> name, owner, pinned, epoch, kylin_listed */
    DB_PROJECT_ASSIGN,     /* ?1 = name, ?2 = owner (NULL = none): epoch + 1, recorded Kylin
                            * claim cleared */
    DB_PROJECT_CLAIM_GET,  /* ?1 = name -> DB_CLAIM_COLUMNS (claims.c) */
    DB_PROJECT_CLAIM_SET,  /* ?1 = name, ?2 = kylin_identity, ?3 = kylin_epoch_id */
    DB_PROJECT_CLAIMS,     /* -> DB_CLAIM_COLUMNS of every project, by name */
    DB_PROJECT_CLAIMS_OF,  /* ?1 = owner -> DB_CLAIM_COLUMNS of its projects, by name */
    DB_PROJECT_PIN,        /* ?1 = name, ?2 = pinned engine (NULL = none) */
    DB_MEMBER_UPSERT,      /* ?1 = id, ?2 = api_address */
    DB_MEMBER_DELETE,      /* ?1 = id */
    DB_MEMBER_API,         /* ?1 = id -> api_address */
    DB_ENGINE_UPSERT,      /* ?1 id, ?2 mode, ?3 weight, ?4 identity, ?5 race_enabled; a new
                            * engine is alive and not draining; changes() == 0 when the row
                            * already held exactly these values */
    DB_ENGINE_SINGLE_OTHER, /* ?1 = id -> id of another all/job engine with race disabled */
    DB_ENGINE_STATE,       /* ?1 = id -> mode, alive, draining */
    DB_ENGINE_HEARTBEAT,   /* ?1 = id, ?2 = index: heartbeats + 1, alive = 1 */
    DB_ENGINE_COUNT_DEAD,  /* -> count of engines with alive = 0 */
    DB_ENGINE_SET_ALIVE,   /* ?1 = id, ?2 = alive */
    DB_ENGINE_SET_DRAINING, /* ?1 = id, ?2 = draining */
    DB_ENGINE_LIST,        /* -> DB_ENGINE_COLUMNS, projects owned; ordered by id */
    DB_ENGINE_GET,         /* ?1 = id -> same columns */
    DB_HISTORY_INSERT,     /* ?1 raft_index, ?2 term, ?3 time_ms, ?4 project, ?5 from_owner,
                            * ?6 to_owner, ?7 epoch, ?8 reason, ?9 actor (NULL = unknown) */
    DB_HISTORY_TAIL,       /* ?1 = limit (-1 = all) -> newest rows, oldest first */
    DB_HISTORY_TAIL_PROJECT, /* ?1 = limit, ?2 = project -> same, of one project */
    DB_HISTORY_HANDOVERS,  /* -> raft_index, project, taken_from_live of the newest rows, newest
                            * first (the caller stops below the index it wants) */
    DB_SETTING_GET,        /* ?1 = key -> value */
    DB_SETTING_SET,        /* ?1 = key, ?2 = value; changes() == 0 when unchanged */
    DB_AUDIT_INSERT,       /* ?1 raft_index, ?2 term, ?3 time_ms, ?4 actor, ?5 method, ?6 detail */
    DB_AUDIT_TAIL,         /* ?1 = limit (-1 = all) -> DB_AUDIT_COL_* of the newest rows, oldest first */
    DB_STMT_COUNT
};

/* Column order of DB_ENGINE_LIST and DB_ENGINE_GET rows. */
enum db_engine_col {
    DB_ENGINE_COL_ID,
    DB_ENGINE_COL_MODE,
    DB_ENGINE_COL_WEIGHT,
    DB_ENGINE_COL_IDENTITY,
    DB_ENGINE_COL_RACE_ENABLED,
    DB_ENGINE_COL_ALIVE,
    DB_ENGINE_COL_DRAINING,
    DB_ENGINE_COL_HEARTBEATS,
    DB_ENGINE_COL_LAST_HEARTBEAT_INDEX,
    DB_ENGINE_COL_PROJECTS,
};

/* Column order of DB_PROJECT_CLAIM_GET / DB_PROJECT_CLAIMS* rows. */
enum db_claim_col {
    DB_CLAIM_COL_NAME,
    DB_CLAIM_COL_OWNER,
    DB_CLAIM_COL_EPOCH,
    DB_CLAIM_COL_IDENTITY,
    DB_CLAIM_COL_EPOCH_ID,
};

/* Column order of DB_HISTORY_TAIL* rows. */
enum db_history_col {
    DB_HISTORY_COL_INDEX,
    DB_HISTORY_COL_TERM,
    DB_HISTORY_COL_TIME_MS,
    DB_HISTORY_COL_PROJECT,
    DB_HISTORY_COL_FROM,
    DB_HISTORY_COL_TO,
    DB_HISTORY_COL_EPOCH,
    DB_HISTORY_COL_REASON,
    DB_HISTORY_COL_ACTOR,
};

/* Column order of DB_AUDIT_TAIL rows. */
enum db_audit_col {
    DB_AUDIT_COL_INDEX,
    DB_AUDIT_COL_TERM,
    DB_AUDIT_COL_TIME_MS,
    DB_AUDIT_COL_ACTOR,
    DB_AUDIT_COL_METHOD,
    DB_AUDIT_COL_DETAIL,
};

struct store_stmts {
    sqlite3_stmt *stmt[DB_STMT_COUNT];
};

/* Formats store.errmsg (truncated to STORE_ERRMSG_MAX). */
void db_error(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The cached statement ID, reset and with its bindings cleared: ready to bind. */
sqlite3_stmt *db_stmt(struct store *s, enum db_stmt id);

/* Steps a statement that returns no rows (BEGIN, INSERT, ...) once and resets it. Returns the
 * SQLite result code (SQLITE_DONE on success); sqlite3_errmsg(s->db) still describes a
 * failure after the reset. */
int db_step_done(struct store *s, sqlite3_stmt *stmt);

/* Rolls back the open transaction, if any (SQLite rolls some failures back by itself). Used
 * on error paths, so it only reports through its return value: 0 or the SQLite code. */
int db_rollback(struct store *s);
/* No group open any more: committed_index and committed_decision_index catch up with the
 * applied ones. */
void db_mark_committed(struct store *s);

/* Loads store.decision_index from meta (at open and after a restore). 0 or -1 (errmsg). */
int db_load_decision_index(struct store *s);

/* The one engine loader (query.c): steps STMT, whose rows are in enum db_engine_col order,
 * into a malloc'd array *OUT of *N engines (free()). Neither resets nor finalizes STMT: the
 * caller owns it (a cached statement is reset, a one-off one finalized). 0, or -1 with
 * errmsg "store: WHAT: ..." and *OUT NULL. store_load_engines (the counted DB_ENGINE_LIST)
 * and store_loads_engines (loads.c, the tracked counts) are its two sources. */
int db_read_engines(struct store *s, sqlite3_stmt *stmt, const char *what, struct store_engine **out,
                    size_t *n);

/* Prepares every enum db_stmt statement (after schema_ensure) / finalizes them all. */
int db_prepare_all(struct store *s);
void db_finalize_all(struct store *s);

/* True when RC is a failure that is a deterministic consequence of the data (a constraint),
 * so a command may be refused for it; every other failure (I/O, full disk, out of memory)
 * depends on the machine and must stop the state machine instead. */
static inline int db_is_deterministic_failure(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT;
}

#endif
