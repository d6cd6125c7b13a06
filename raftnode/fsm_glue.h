/* fsm_glue: fills a struct raft_fsm whose hooks apply committed entries to a store and route
 * each entry's results to the member's write pipeline (proposal.h).
 *
 * Host interface: the glue knows libraft, the store and the pipeline; what the member does
 * around an apply (stop itself, start hand-over graces for its engine, tell the metastore
 * mirror) goes through struct fsm_glue_host. raftnode fills it in node.c; the simulation
 * (tests/sim/cluster.c) links this same file with its own host, so every change here is
 * simulated. Owns nothing: the store, pipeline and raft belong to the host. */
#ifndef RAFTNODE_FSM_GLUE_H
#define RAFTNODE_FSM_GLUE_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/store.h"
#include "proposal.h"

/* What the glue asks of its host; every hook runs on the loop thread, inside raft's apply
 * or restore callback. */
struct fsm_glue_host {
    void *data;
    /* store_apply failed (the glue logged why and applies nothing more): the member must
     * stop; the entry is replayed after a restart. */
    void (*stop)(void *data);
    /* A decision entry handed PROJECT (LEN bytes) over from a live engine
     * (store_each_handover): this member's engine starts its hand-over grace. */
    void (*handover)(void *data, const char *project, size_t len);
    /* Every project waits one grace: after a restore, or when an entry's hand-overs could
     * not be read. */
    void (*grace_all)(void *data);
    /* Entry INDEX (BUF) was applied with R, after its hand-overs and before R goes to the
     * proposer. DECISION: the entry changed ownership state (it is the store's decision
     * index). May be NULL. */
    void (*applied)(void *data, uint64_t index, bool decision, const struct raft_buffer *buf,
                    const struct store_results *r);
    /* libraft's fsm->snapshot: the image of S at its applied index in *BUF, *LEN (freed with
     * sqlite3_free), or a placeholder of *LEN 0 that the host's raft_io replaces by that image
     * before it stores the snapshot (raftnode: snap_async.h, the copy off the loop). DATA is
     * SNAPSHOT_DATA. 0 or -1 (S->errmsg). NULL: store_snapshot. */
    int (*snapshot)(void *data, struct store *s, void **buf, size_t *len);
    void *snapshot_data;
};

struct fsm_glue {
    struct raft_fsm fsm;          /* public: hand &fsm to raft (fsm.data = this glue) */
    struct raft *raft;            /* read-only: the raft applying (set before raft_start) */
    struct store *store;          /* read-only */
    struct proposals *proposals;  /* read-only: where results go */
    struct fsm_glue_host host;    /* read-only */
    bool failed;                  /* read-only: SQLite failed; no further applies */
    /* read-only, for /metrics: libraft 0.22 keeps its snapshot index in its private log, so
     * the glue remembers it: the index of the last snapshot taken here (handed back through
     * snapshot_finalize once libraft is done writing it) or restored (at start or installed
     * from the leader); 0 before any. */
    uint64_t snapshot_index;
    uint64_t taking_index;        /* private: the snapshot being written */
};

/* Commits the entries applied since the last commit (store_commit: the store keeps them in
 * one open transaction). The host calls it a little after an apply (raftnode: a timer of
 * raft.apply.group-commit-ms); on failure it logs, marks the glue failed and calls
 * host.stop, as for a failed apply. 0 or -1. */
int fsm_glue_commit(struct fsm_glue *g);

/* Whether this member may go on applying: -1 once the glue failed. A store that became broken
 * (store.h: a failed write outside the glue, e.g. the commit before a snapshot or a hash, rolled
 * back applied entries) fails the glue here: logged, marked failed, host.stop called. The host
 * calls it on its tick; the glue itself after a failed snapshot. 0 or -1. */
int fsm_glue_check(struct fsm_glue *g);

/* HOST is copied. RAFT may be NULL here and set before raft starts applying. */
void fsm_glue_init(struct fsm_glue *g, struct raft *raft, struct store *store, struct proposals *proposals,
                   const struct fsm_glue_host *host);

#endif
