/* store: the replicated state machine's SQLite database (projects, members, engines,
 * history, settings), the apply / snapshot / restore / hash operations libraft's FSM hooks
 * call, and the reads the API and the scheduler serve from it.
 *
 * One struct store per raftnode, used only from the loop thread. Applies run in SQLite
 * transactions that also record the applied index, so replaying entries after a restart is
 * exact: entries at or below the stored applied index are skipped. Group commit: one
 * transaction holds several consecutive entries (store_apply leaves it open; store_commit,
 * which the host runs a few ms later, or the STORE_GROUP_MAX_ENTRIES-th apply closes it),
 * so pages the entries share are written to the WAL once. An entry applied but not yet
 * committed is already visible through this connection (every read here) but not to other
 * connections (the metastore mirror's reader: it follows committed_decision_index); a crash
 * loses only SQLite's copy: the entry is committed in the raft log, which libraft replays
 * from the last snapshot on restart (store_snapshot commits first, so no log entry the
 * database lacks is ever compacted away).
 * Owns: the sqlite3 handle. Calls: SQLite, msgpack-c, storage/command.h. */
#ifndef STORAGE_STORE_H
#define STORAGE_STORE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/err.h"

struct sqlite3;
struct store_stmts;

#define STORE_ERRMSG_MAX 256
#define STORE_NAME_MAX 255 /* Kylin's project-name limit, bytes */

struct store {
    struct sqlite3 *db;            /* private */
    struct store_stmts *stmts;     /* private: statements prepared once at open (db.h) */
    char path[1024];               /* read-only: database file, or ":memory:" */
    uint64_t applied_index;        /* read-only: mirror of meta.applied_index */
    uint64_t ownership_version;    /* read-only: +1 on every apply that changed engines,
                                    * projects, owners, pins, drains or maintenance (not
                                    * heartbeat counters; a heartbeat that revives a dead
                                    * engine does count), and on every restore that
                                    * installed an image (not persisted: only "changed
                                    * since" matters) */
    uint64_t decision_index;       /* read-only: mirror of meta.decision_index: index of the
                                    * last applied entry that bumped ownership_version (set in
                                    * the entry's own transaction; loaded at open and after a
                                    * restore). The metastore mirror writes only when it moves */
    uint64_t committed_index;      /* read-only: applied entries up to here are committed to
                                    * SQLite (<= applied_index; equal when no group is open) */
    uint64_t committed_decision_index; /* read-only: decision_index as committed: what another
                                    * connection (the mirror's reader) can see */
    unsigned group_entries;        /* read-only: entries applied in the open transaction
                                    * (0: no transaction open) */
    uint64_t group_first_index;    /* read-only: the first of them (when group_entries > 0) */
    char errmsg[STORE_ERRMSG_MAX]; /* read-only: last error, prefixed with context */
    bool corrupt;                  /* read-only: store_open failed because the file is damaged
                                    * or not a database (SQLITE_CORRUPT, SQLITE_NOTADB) */
    bool broken;                   /* read-only: a failed write rolled back entries that were
                                    * already applied (and answered: group commit replies at
                                    * the apply). The state now lacks them, so every later
                                    * store_apply and store_commit (and so snapshot, hash,
                                    * restore) fails until the store is reopened and libraft
                                    * replays them; broken_why says what failed first */
    char broken_why[STORE_ERRMSG_MAX];
};

/* Result of one command inside an applied entry: err says what happened (storage/err.h),
 * message a human text. The API layer maps err to the wire's status and code
 * (raftnode/wire_err.c); storage knows nothing of the wire. */
struct store_cmd_result {
    enum store_err err;
    char message[STORE_ERRMSG_MAX];
};

/* 1 when the command was refused (err != STORE_OK), 0 when it applied. */
static inline int store_result_refused(const struct store_cmd_result *r)
{
    return r->err != STORE_OK;
}

/* Results of one applied entry; cmds is malloc'd by store_apply, freed by
 * store_results_free. n is the number of commands the entry carried (0 when the entry as a
 * whole was malformed: then entry_status/entry_message say why). */
struct store_results {
    uint64_t index;
    unsigned n;
    struct store_cmd_result *cmds;
    int entry_status;              /* 0, or 1 when the entry could not be decoded at all */
    char entry_message[STORE_ERRMSG_MAX];
};

/* Opens (creating if missing) the database at PATH (":memory:" for tests), sets WAL mode and
 * synchronous=NORMAL, creates the schema and the `_global` project. The file is created, or
 * tightened to, mode 0600 (it holds the cluster's state; SQLite gives -wal and -shm the same
 * mode). 0 or -1 (errmsg set; corrupt says whether the file is damaged). */
int store_open(struct store *s, const char *path);
void store_close(struct store *s);

/* Applies the entry BUF/LEN (docs/protocol.md, "Log entries") committed at INDEX. If INDEX
 * <= applied_index the entry is skipped (replay) and OUT->n = 0. A malformed entry or a
 * refused command is reported in OUT, never as a failure. Returns -1 only when SQLite itself
 * fails (disk full, I/O error): the caller must treat that as fatal for the FSM (the open
 * group is rolled back: applied_index falls back to committed_index).
 * The entry joins the open transaction (one is begun if none is): committed by store_commit,
 * or here once the group holds STORE_GROUP_MAX_ENTRIES entries.
 * OUT is always initialised; free it with store_results_free. */
int store_apply(struct store *s, uint64_t index, const void *buf, size_t len,
                struct store_results *out);

/* The most entries one transaction holds: bounds the dirty pages SQLite keeps (and the work
 * a crash throws away for the raft log to replay). */
#define STORE_GROUP_MAX_ENTRIES 64

/* Commits the open group of applied entries (no-op when none is open). 0, or -1 when SQLite
 * fails: the group is rolled back (applied_index = committed_index; broken is set if that lost
 * applied entries) and, as for a failed store_apply, the caller must stop applying. On a broken
 * store it fails at once (errmsg says why). store_snapshot, store_restore,
 * store_fence_restore, store_hash and store_close commit first by themselves. */
int store_commit(struct store *s);
void store_results_free(struct store_results *r);

/* Consistent image of the whole database (sqlite3_serialize). *BUF is freed with
 * sqlite3_free by the caller. 0 or -1. */
int store_snapshot(struct store *s, void **buf, size_t *len);

/* Replaces the database atomically with the image BUF/LEN (from store_snapshot on any member)
 * unless the local applied index is already >= the image's (then it is a no-op: committed
 * state at a given index is the same everywhere). Does not take ownership of BUF. 0 or -1;
 * on failure the old state is intact. */
int store_restore(struct store *s, const void *buf, size_t len);

/* ---- restore (restore_fence.c; docs/operations.md "Back up and restore") ---- */

/* Kylin keeps the epoch in an int column (`<prefix>_epoch.epoch_id`): no epoch may pass it. */
#define STORE_EPOCH_MAX 2147483647
/* What a restore adds to every project's epoch: more owner changes of one project than the
 * old cluster can have made after the backup (one a minute for almost two years). */
#define STORE_RESTORE_EPOCH_MARGIN 1000000
/* A restored store starts a new cluster whose raft log holds its bootstrap configuration at
 * index 1 and the restored state as a snapshot at index 2 (raftnode/restore_raft.h): the
 * restore is recorded as the decision at that index, and the state's applied index is it. */
#define STORE_RESTORE_INDEX 2
#define STORE_RESTORE_INDEX_SQL "2"

/* Makes the image just installed into S (store_restore) the first state of a new cluster,
 * in one transaction: every project's epoch + STORE_RESTORE_EPOCH_MARGIN, one history row per
 * project (reason 'restore', raft index STORE_RESTORE_INDEX, TERM and TIME_MS from the
 * backup file's header, owner unchanged), applied and decision index STORE_RESTORE_INDEX.
 * Deterministic: the same image gives the same state on every member.
 * 0, or -1 (errmsg; nothing changed), also when an epoch would pass STORE_EPOCH_MAX. */
int store_fence_restore(struct store *s, uint64_t term, uint64_t time_ms);

/* 64-bit digest of the logical replicated state (all tables except the applied index, rows
 * in primary-key order), equal on members that applied the same entries. 0 or -1. */
int store_hash(struct store *s, uint64_t *hash);

/* Packs the project list as a msgpack array of maps {"name","owner","owner_identity","epoch"}
 * ordered by name. 0 or -1. */
int store_pack_projects(struct store *s, msgpack_packer *pk);

/* 1 if the project exists, 0 if not, -1 on error. */
int store_project_exists(struct store *s, const char *name, size_t len);

/* API address registered for member ID into BUF; 1 found, 0 not registered, -1 error. */
int store_member_api(struct store *s, uint64_t id, char *buf, size_t cap);

/* ---- engines and ownership ---- */

#define STORE_IDENTITY_MAX 256

/* One engine row (engine id = member id). */
struct store_engine {
    uint64_t id;
    char mode[8];                       /* "all" | "job" | "query" */
    unsigned weight;                    /* >= 1 */
    char identity[STORE_IDENTITY_MAX];  /* Kylin's "host:port|startMillis" */
    bool race_enabled;                  /* kylin.server.leader-race.enabled */
    bool alive;
    bool draining;
    uint64_t projects;                  /* projects it owns now */
    uint64_t heartbeats;                /* heartbeat batches that recorded it */
    uint64_t last_heartbeat_index;      /* log index of the last such batch */
};

/* One project row; name is malloc'd (store_free_projects frees it). */
struct store_project_row {
    char *name;
    uint64_t owner;  /* 0 = none */
    uint64_t pinned; /* 0 = not pinned */
    uint64_t epoch;
    bool kylin_listed; /* Kylin's project metadata listed it (project_add "kylin": true) */
};

/* Engines ordered by id, malloc'd array (free()). 0 or -1. */
int store_load_engines(struct store *s, struct store_engine **out, size_t *n);
/* Projects ordered by name. 0 or -1. */
int store_load_projects(struct store *s, struct store_project_row **out, size_t *n);
void store_free_projects(struct store_project_row *rows, size_t n);
/* One project: 1 found (OUT->name malloc'd, free it), 0 not found, -1 error. */
int store_project_get(struct store *s, const char *name, size_t len, struct store_project_row *out);
/* One engine: 1 found, 0 not found, -1 error. */
int store_engine_get(struct store *s, uint64_t id, struct store_engine *out);

/* msgpack array of engine maps {"id","mode","alive","draining","projects","weight",
 * "identity","race_enabled","heartbeats","last_heartbeat_index"} ordered by id. */
int store_pack_engines(struct store *s, msgpack_packer *pk);
/* msgpack array of the newest LIMIT history rows (of PROJECT when not NULL), oldest first:
 * {"index","by","term","time_ms","project","from","to","epoch","reason"} (from/to nil = none;
 * by nil = automatic or unknown). */
int store_pack_history(struct store *s, const char *project, size_t len, unsigned limit,
                       msgpack_packer *pk);
/* msgpack array of the newest LIMIT audit rows (0 = all), oldest first:
 * {"index","term","time_ms","by","method","detail"}. 0 or -1 (errmsg). */
int store_pack_audit(struct store *s, unsigned limit, msgpack_packer *pk);
/* Calls FN for every project whose owner changed in the entry at INDEX (the entry just
 * applied) while the engine it was taken from was not recorded dead: such an engine may
 * still act for it until its lease runs out (engine.c's hand-over grace). Reads the newest
 * history rows only. 0 or -1 (errmsg). */
typedef void (*store_handover_fn)(void *data, const char *project, size_t len);
int store_each_handover(struct store *s, uint64_t index, store_handover_fn fn, void *data);
/* Maintenance mode: *ON and its REASON (NUL-terminated, cut to CAP). 0 or -1. */
int store_maintenance(struct store *s, bool *on, char *reason, size_t cap);

/* ---- recorded Kylin claims (claims.c; docs/kylin.md, "Recorded claims") ---- */

/* One project's recorded claim: what its owner's Kylin wrote in the epoch row, as recorded
 * through the log (command kylin_claimed). */
struct store_claim {
    char *name;       /* malloc'd */
    uint64_t owner;   /* 0 = none */
    uint64_t epoch;   /* the quorum's epoch */
    char *identity;   /* malloc'd current_epoch_owner, or NULL: nothing recorded since the
                       * last change of owner */
    int64_t epoch_id; /* the row's epoch_id (when identity != NULL) */
};

/* Every project (OWNER 0) or OWNER's projects, by name, into a malloc'd array
 * (store_free_claims). 0 or -1 (errmsg). */
int store_load_claims(struct store *s, uint64_t owner, struct store_claim **out, size_t *n);
/* One project: 1 found (free with store_claim_clear), 0 not found, -1 error. */
int store_claim_get(struct store *s, const char *name, size_t len, struct store_claim *out);
void store_claim_clear(struct store_claim *c);
void store_free_claims(struct store_claim *rows, size_t n);

/* Kylin's project-name rule: 1..255 bytes of [A-Za-z0-9_], not starting with '_'.
 * Returns NULL when valid, else a static reason. */
const char *store_check_project_name(const char *name, size_t len);

#endif
