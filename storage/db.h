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
    DB_SAVEPOINT,          /* SAVEPOINT cmd: one per command of an entry */
    DB_RELEASE,            /* RELEASE cmd */
    DB_ROLLBACK_TO,        /* ROLLBACK TO cmd: undoes one refused command */
    DB_META_SET_APPLIED,   /* ?1 = applied index */
    DB_PROJECT_INSERT,     /* ?1 = name; changes() == 0 when it already exists */
    DB_PROJECT_DELETE,     /* ?1 = name; changes() == 0 when missing */
    DB_PROJECT_EXISTS,     /* ?1 = name -> one row when present */
    DB_PROJECT_COUNT,      /* -> count(*) */
    DB_PROJECT_LIST,       /* -> name, owner, epoch ordered by name */
    DB_MEMBER_UPSERT,      /* ?1 = id, ?2 = api_address */
    DB_MEMBER_DELETE,      /* ?1 = id */
    DB_MEMBER_API,         /* ?1 = id -> api_address */
    DB_STMT_COUNT
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
