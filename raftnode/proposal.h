/* proposal: the write pipeline. Handlers submit packed commands; every command submitted in
 * one loop iteration goes into ONE raft entry (flushed from a uv_check handle), so many
 * clients share one disk write and one replication round. When the entry is applied the
 * state machine's per-command results come back through proposals_on_applied and each
 * command's done callback runs exactly once: with the result, or with status 3 when
 * leadership is lost / raft refuses the entry (outcome unknown to the client).
 *
 * CB may be NULL for a command nobody waits on.
 * Ownership: the packed command bytes are copied; DATA belongs to the caller and is handed
 * back in the done callback.
 *
 * Host interface: the pipeline knows libraft (raft_apply on the raft it is given) and
 * nothing of the loop around it. Its host decides when an open batch goes to raft: raftnode
 * runs proposals_flush from a uv_check handle once per loop iteration (node.c), the
 * simulation (tests/sim) once per virtual tick; both link this file. */
#ifndef RAFTNODE_PROPOSAL_H
#define RAFTNODE_PROPOSAL_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/store.h"

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
    unsigned n_client;           /* of n: submitted by proposals_submit_client */
    struct store_results results;
    bool have_results;
    void *queue[2];              /* inflight list */
    uint64_t proposed_ms;        /* raft's clock (io->time) when handed to raft_apply */
};

/* What the pipeline asks of its host. */
struct proposals_host {
    void *data;
    /* WANTED true: a batch is open, run proposals_flush at the end of this loop iteration
     * (or tick); false: nothing is open any more. */
    void (*flush_wanted)(void *data, bool wanted);
    /* Optional: proposals_full() was true and the commands waiting fell to half the cap:
     * whoever stopped taking writes may take them again. */
    void (*room)(void *data);
};

/* The most client commands (proposals_submit_client) waiting for commit and apply (open +
 * inflight) before proposals_full() says so. The member's own writes (placement plans of at
 * most SCHED_PLACE_MAX_MOVES, heartbeats, registrations) are bounded by their makers and do
 * not count: counting them shut the gate whenever a placement plan was in flight and cut
 * 64-client throughput. Every member applies the commands that commit together in one
 * go on its event loop (libraft applies all newly committed entries back to back): a burst
 * of pipelined writes let ~30 entries (~3,000 commands) commit at once, a 45 ms loop stall
 * on the release build and ~0.5 s under ASan, where an election timeout is 1 s. With this cap
 * (the API stops decoding requests while it is reached) the client writes committing together
 * are at most ~256 (a few ms of apply on the release build; 512 still made 40 ms turns on a
 * loaded machine); 64 closed-loop clients never reach it. */
#define PROPOSAL_MAX_PENDING_CMDS 256

#define PROPOSAL_SIZE_BUCKETS 11
/* Upper bounds in ms of the commit latency buckets (proposals.commit_ms_buckets); one more
 * bucket holds anything slower. */
#define PROPOSAL_COMMIT_BOUNDS_MS {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}
#define PROPOSAL_COMMIT_BUCKETS 13

struct proposals {
    struct raft *raft;           /* read-only: where batches go */
    struct proposals_host host;  /* read-only */
    struct proposal_batch *open; /* private: collecting this iteration */
    void *inflight[2];           /* private */
    unsigned n_inflight;         /* read-only */
    unsigned max_batch;          /* read-only: commands per entry */
    unsigned pending_cmds;       /* read-only: client commands in the open and inflight batches */
    unsigned max_pending;        /* read-only: PROPOSAL_MAX_PENDING_CMDS (tests may lower it) */
    bool was_full;               /* private: proposals_full() was seen true since the last room */
    /* read-only, for /metrics: entries handed to raft by their number of commands, bucket i
     * holding batches of at most 2^i commands (the last: more) */
    uint64_t batches_by_size[PROPOSAL_SIZE_BUCKETS];
    uint64_t batched_commands;   /* read-only: commands in those entries */
    /* read-only, for /metrics: ms from raft_apply to the entry applied here (append, replication,
     * commit and apply), by PROPOSAL_COMMIT_BOUNDS_MS bucket (not cumulative), and their sum */
    uint64_t commit_ms_buckets[PROPOSAL_COMMIT_BUCKETS];
    uint64_t commit_ms_sum;
};

/* RAFT must outlive P; HOST is copied. 0 (cannot fail today). */
int proposals_init(struct proposals *p, struct raft *raft, const struct proposals_host *host);

/* Whether max_pending client commands wait for commit and apply: the API's request pump then
 * takes no new requests until host.room runs. The member's own submitters are not held. */
bool proposals_full(struct proposals *p);

/* Hands the open batch (if any) to raft as one entry. */
void proposals_flush(struct proposals *p);

/* Queues one packed command (BUF/LEN: one msgpack map from command_pack_*). CB runs later,
 * never from inside this call. Returns 0, or -1 on allocation failure (CB will not run). */
int proposals_submit(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb,
                     void *data);

/* proposals_submit for a client's write (the API): counted by proposals_full. */
int proposals_submit_client(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb,
                            void *data);

/* Called by the FSM hook after applying INDEX; takes ownership of R's contents. */
void proposals_on_applied(struct proposals *p, uint64_t index, struct store_results *r);

/* Fails everything still open (not yet handed to raft) with status 3 CODE. */
void proposals_fail_open(struct proposals *p, const char *code, const char *message);

/* Fails and frees the batches raft accepted and never answered, with status 3 CODE: only
 * after raft was closed without running their apply callbacks (the simulation's fixture
 * does that; raftnode's raft_close answers them itself). */
void proposals_fail_inflight(struct proposals *p, const char *code, const char *message);

#endif
