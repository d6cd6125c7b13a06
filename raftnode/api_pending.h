/* api_pending: a request parked until raft answers it, written once for every handler:
 * a write waiting for its log entry to apply (api_submit), a consistent read waiting for a
 * barrier (api_read_wait), a membership change or a leadership transfer waiting for libraft.
 *
 * The rule every parked request keeps (api.h's ownership): it holds a reference on its
 * connection, replies only while the connection is open (api_pending_open), and drops the
 * reference exactly once (api_pending_free). Leadership loss reaches a parked write through
 * proposal.c (every pending command fails with status 3 "leadership_lost", in one place) and
 * a parked barrier, change or transfer through libraft's callback status.
 *
 * Owns: the wait structs it allocates, until api_pending_free. Calls: api.h (replies),
 * proposal.h (api_submit), libraft (barriers). */
#ifndef RAFTNODE_API_PENDING_H
#define RAFTNODE_API_PENDING_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* The first member of every wait struct. */
struct api_pending {
    const struct api_ctx *ctx;
    struct api_conn *conn; /* referenced until api_pending_free */
    uint64_t id;           /* the request's id, for the reply */
    const char *method;    /* static method name and dispatch time, for metrics.h */
    uint64_t start_ns;
    size_t parked_bytes;   /* the request's frame plus this wait struct: counted in the connection's
                            * pending bytes (raft.api.max-pending-bytes) until freed */
};

/* A zeroed wait struct of SIZE bytes (>= sizeof(struct api_pending), which it starts with)
 * parked for REQ: its connection referenced. NULL when out of memory; nothing was replied
 * then (each method words its own refusal). */
void *api_pending_new(const struct api_req *req, size_t size);
/* Whether a reply can still reach the client. */
bool api_pending_open(const struct api_pending *p);
/* Drops the connection reference and frees the wait struct WAIT (its struct api_pending). */
void api_pending_free(void *wait);

/* ---- writes: parked until the command's log entry applied ---- */

/* A write that replies {"index": INDEX} plus {"name": NAME} when NAME is set. */
struct api_write_wait {
    struct api_pending p;
    char name[256];
};
/* NULL when out of memory (nothing replied). */
struct api_write_wait *api_write_wait_new(const struct api_req *req, const char *name);
/* The proposal_done_cb of a struct api_write_wait: replies and frees it. */
void api_write_wait_done(void *data, uint64_t index, int status, const char *code, const char *message);
/* Submits the packed command in SBUF (the caller still destroys SBUF) for REQ, parked as an
 * api_write_wait; replies itself when it cannot be queued. */
void api_submit(const struct api_req *req, const msgpack_sbuffer *sbuf, const char *name);

/* ---- consistent reads: parked until a raft barrier applied ---- */

struct api_read_wait;
typedef void (*api_read_fn)(struct api_read_wait *w);

/* Every entry committed before the barrier is applied here when REPLY runs, so the leader's
 * answer reflects every write acknowledged before the request. */
struct api_read_wait {
    struct api_pending p;
    struct raft_barrier barrier;
    api_read_fn reply; /* runs only when the barrier succeeded and the client still listens */
};

/* The request's "consistent" flag into *CONSISTENT (false when absent). 0, or -1 after
 * replying bad_request. */
int api_want_consistent(const struct api_req *req, bool *consistent);
/* A read wait of SIZE bytes (>= sizeof(struct api_read_wait), which it starts with). NULL
 * after replying "out of memory". */
struct api_read_wait *api_read_wait_new(const struct api_req *req, size_t size, api_read_fn reply);
/* Starts the barrier. On failure replies (a redirect when not the leader) and frees W. */
void api_read_wait_start(const struct api_req *req, struct api_read_wait *w);

#endif
