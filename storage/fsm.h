/* fsm: private to storage/. What the apply path shares between fsm.c (the entry skeleton,
 * projects, members) and ownership.c (engines, heartbeats, assignments, drains, pins,
 * maintenance): the context of one apply and the helpers that fill a command's result.
 *
 * Calls: SQLite through db.h. Nothing outside storage/ includes this header. */
#ifndef STORAGE_FSM_H
#define STORAGE_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/command_decode.h"
#include "storage/store.h"

/* Context of one store_apply. */
struct apply {
    struct store *s;
    uint64_t index;       /* raft index of the entry */
    uint64_t term;        /* the entry's "term" (recorded in history rows) */
    bool cmd_changed;     /* set by a command that changed ownership state (store.h,
                           * ownership_version); counted only if the command is not refused */
    bool changed;         /* some applied command of the entry changed it */
};

/* Sets R's outcome to ERR (status and code derived from it, store.h) and its message. */
void fsm_result_set(struct store_cmd_result *r, enum store_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As fsm_result_set, keeping R's message (a decoder already wrote it). */
void fsm_result_refuse(struct store_cmd_result *r, enum store_err err);

/* A SQLite failure RC inside a command (WHAT on QUOTED): a constraint is deterministic, so
 * the command is refused with "failed" (0); anything else is machine-dependent and fatal
 * (-1, store errmsg set). */
int fsm_sqlite_failure(struct apply *a, int rc, const char *what, const char *quoted,
                       struct store_cmd_result *r);

/* Applies one of the engine and ownership commands (COMMAND_ENGINE_SET .. _MAINTENANCE)
 * inside the savepoint fsm.c opened for it, if the command needs one (fsm.c,
 * needs_savepoint: a command without one writes once, or cannot be refused after its first
 * write). 0 with the outcome in R (a refusal leaves R->err != STORE_OK and fsm.c rolls the
 * savepoint back), or -1 when SQLite failed (fatal). */
int ownership_apply(struct apply *a, const struct command *c, struct store_cmd_result *r);

/* Applies COMMAND_KYLIN_CLAIMED (claims.c), same contract as ownership_apply. */
int claims_apply(struct apply *a, const struct command *c, struct store_cmd_result *r);

#endif
