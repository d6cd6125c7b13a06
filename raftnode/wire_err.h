/* wire_err: the one place where the state machine's error enum (storage/err.h) becomes the
 * wire's status and code (common/proto.h, docs/protocol.md "Replies"). Storage never sees the
 * wire; the write pipeline (proposal.c) calls this before it hands an outcome to a waiter.
 *
 * Owns: the mapping table. Calls: nothing. */
#ifndef RAFTNODE_WIRE_ERR_H
#define RAFTNODE_WIRE_ERR_H

#include "storage/err.h"

struct wire_err {
    int status;       /* PROTO_OK or PROTO_REFUSED */
    const char *code; /* PROTO_CODE_*: a static string */
};

/* The wire's status and code for ERR (a value out of range maps to refused/"failed"). */
struct wire_err wire_from_store_err(enum store_err err);

#endif
