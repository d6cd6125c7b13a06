/* err: the one error enum of the state machine's commands and its text table. A command that
 * is refused says why with one of these (store_cmd_result.err); the words are storage's own,
 * storage includes nothing of the wire format (common/proto.h), and the API layer maps each
 * value to the wire's status and code in one table (raftnode/wire_err.c).
 *
 * Owns: the table. Calls: nothing. Used by fsm.c and ownership.c to fill a result, and by
 * whoever reads a result (raftnode/proposal.c through wire_err.c, the tests). */
#ifndef STORAGE_ERR_H
#define STORAGE_ERR_H

enum store_err {
    STORE_OK = 0,      /* "ok": applied */
    STORE_EXISTS,      /* "exists": the thing to create is there already */
    STORE_NOT_FOUND,   /* "not_found": the project or engine named does not exist */
    STORE_INVALID,     /* "invalid": an argument fails validation, or the state forbids it */
    STORE_BUSY,        /* "busy": a compare-and-set lost (a stale move) */
    STORE_FAILED,      /* "failed": anything else (a deterministic SQLite constraint) */
    STORE_ERR_COUNT
};

/* The stable word of ERR ("ok", "exists", ...; "failed" for a value out of range). A static
 * string. */
const char *store_err_name(enum store_err err);

#endif
