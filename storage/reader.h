/* reader: read-only access to a member's state.db for a thread other than the loop's (the
 * metastore mirror's worker, metastore/view.h), through its OWN SQLite connection. One
 * function per read, so that only storage/ knows the tables (schema.c): a caller sees rows,
 * never SQL.
 *
 * Reads between store_reader_begin and store_reader_end (or _abort) share one read
 * transaction, so they all see the state of one applied index (WAL lets this reader run
 * beside the loop's writer). store_reader_begin checks the schema version the reads need.
 *
 * Rows go to a callback one at a time, in the order each function names; their strings are
 * borrowed for the call only. A callback returns 0 to go on, 1 to stop early (the read still
 * succeeds), -1 when it ran out of memory (the read fails with that in errmsg).
 * Owns: its sqlite3 handle (store_reader_close). Calls: SQLite. */
#ifndef STORAGE_READER_H
#define STORAGE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* The oldest schema whose tables these reads know (meta.decision_index came in 3). */
#define STORE_READER_MIN_SCHEMA 3

struct store_reader {
    struct sqlite3 *db; /* private */
    char path[1100];    /* read-only */
    char errmsg[512];   /* read-only: the last failure, with the file's path */
};

struct store_reader_project {
    const char *name;
    uint64_t owner; /* engine id, 0 = none */
    uint64_t epoch;
    uint64_t pinned; /* engine id the project is pinned to, 0 = none */
    bool kylin_listed; /* store_reader_projects_listed only (false from the other reads) */
};

struct store_reader_engine {
    uint64_t id;
    const char *mode;
    unsigned weight;
    const char *identity; /* Kylin's host:port|startMillis */
    bool alive;
    bool draining;
};

struct store_reader_history {
    uint64_t raft_index, term, time_ms, from, to, epoch; /* from/to 0 = none */
    const char *project;
    const char *reason;
};

struct store_reader_member {
    uint64_t id;
    const char *api_address; /* "" when not registered */
};

/* A project with the claim recorded for it (projects.kylin_identity / kylin_epoch_id). */
struct store_reader_claim {
    const char *name;
    uint64_t owner;
    uint64_t epoch;
    const char *identity; /* NULL: nothing recorded since the last change of owner */
    int64_t epoch_id;
};

typedef int (*store_reader_project_fn)(void *data, const struct store_reader_project *row);
typedef int (*store_reader_claim_fn)(void *data, const struct store_reader_claim *row);
typedef int (*store_reader_engine_fn)(void *data, const struct store_reader_engine *row);
typedef int (*store_reader_history_fn)(void *data, const struct store_reader_history *row);
typedef int (*store_reader_member_fn)(void *data, const struct store_reader_member *row);
/* ROW is NULL when NAME has no owned row (unowned now, or removed). */
typedef int (*store_reader_named_fn)(void *data, const char *name, const struct store_reader_project *row);

/* Opens PATH read-only. 0 or -1 (errmsg). */
int store_reader_open(struct store_reader *r, const char *path);
void store_reader_close(struct store_reader *r);

/* Starts the read transaction and checks the schema version. 0 or -1 (errmsg; no
 * transaction is left open). */
int store_reader_begin(struct store_reader *r);
/* Ends it. 0 or -1 (errmsg). */
int store_reader_end(struct store_reader *r);
/* Ends it after a failed read (nothing to undo: a read). */
void store_reader_abort(struct store_reader *r);

/* meta.applied_index and meta.decision_index (0 when missing). Cheap; inside a transaction
 * or on its own. 0 or -1. */
int store_reader_indexes(struct store_reader *r, uint64_t *applied, uint64_t *decision);
/* The maintenance setting; *REASON is malloc'd (NULL when no reason is stored); the caller
 * frees it, on failure too. 0 or -1. */
int store_reader_maintenance(struct store_reader *r, bool *on, char **reason);
/* Every engine, by id. */
int store_reader_engines(struct store_reader *r, store_reader_engine_fn fn, void *data);
/* History rows, NEWEST FIRST (rows are appended in log order), so that FN can stop at the
 * first one it has seen already however long the history is. */
int store_reader_history_newest_first(struct store_reader *r, store_reader_history_fn fn, void *data);
/* Every registered member, by id. */
int store_reader_members(struct store_reader *r, store_reader_member_fn fn, void *data);
/* Every project, by name (byte order). */
int store_reader_projects(struct store_reader *r, store_reader_project_fn fn, void *data);
/* store_reader_projects with kylin_listed: a member's own store (schema 6 or later, which a
 * member's store always is once it started; older files fail with errmsg). */
int store_reader_projects_listed(struct store_reader *r, store_reader_project_fn fn, void *data);
/* OWNER's projects with their recorded claims, by name (store_load_claims' read). */
int store_reader_claims_of(struct store_reader *r, uint64_t owner, store_reader_claim_fn fn, void *data);
/* The projects without an owner, in no particular order. */
int store_reader_unowned_projects(struct store_reader *r, store_reader_project_fn fn, void *data);
/* For each of NAMES (N of them), its row if it has an owner, else NULL: FN once per name. */
int store_reader_owned_projects(struct store_reader *r, const char *const *names, size_t n,
                                store_reader_named_fn fn, void *data);
/* How many projects the store holds. 0 or -1. */
int store_reader_count_projects(struct store_reader *r, uint64_t *count);

#endif
