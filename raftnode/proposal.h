/* proposal: the write pipeline. Handlers submit packed commands; every command submitted in
 * one loop iteration goes into ONE raft entry (flushed from a uv_check handle), so many
 * clients share one disk write and one replication round. When the entry is applied the
 * state machine's per-command results come back through proposals_on_applied and each
 * command's done callback runs exactly once: with the result, or with status 3 when
 * leadership is lost / raft refuses the entry (outcome unknown to the client).
 *
 * CB may be NULL for a command nobody waits on.
 * Ownership: the packed command bytes are copied; DATA belongs to the caller and is handed
 * back in the done callback. */
#ifndef RAFTNODE_PROPOSAL_H
#define RAFTNODE_PROPOSAL_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../storage/store.h"

struct node;

/* STATUS/CODE/MESSAGE as in proto.h; INDEX is the log index (0 if never appended). */
typedef void (*proposal_done_cb)(void *data, uint64_t index, int status, const char *code,
                                 const char *message);

struct proposal_cmd {
    proposal_done_cb cb;
    void *data;
};

struct proposal_batch {
    struct raft_apply req;       /* embedded raft request (req.data = batch) */
    struct proposals *owner;
    msgpack_sbuffer cmds;        /* concatenated packed commands */
    struct proposal_cmd *waiters;
    unsigned n, cap;
    struct store_results results;
    bool have_results;
    void *queue[2];              /* inflight list */
};

struct proposals {
    struct node *node;
    uv_check_t flush;            /* private */
    struct proposal_batch *open; /* private: collecting this iteration */
    void *inflight[2];           /* private */
    unsigned n_inflight;         /* read-only */
    unsigned max_batch;          /* read-only: commands per entry */
};

int proposals_init(struct proposals *p, struct node *n);
void proposals_close(struct proposals *p);

/* Queues one packed command (BUF/LEN: one msgpack map from command_pack_*). CB runs later,
 * never from inside this call. Returns 0, or -1 on allocation failure (CB will not run). */
int proposals_submit(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb,
                     void *data);

/* Called by the FSM hook after applying INDEX; takes ownership of R's contents. */
void proposals_on_applied(struct proposals *p, uint64_t index, struct store_results *r);

/* Fails everything still open (not yet handed to raft) with status 3 CODE. */
void proposals_fail_open(struct proposals *p, const char *code, const char *message);

#endif
