/* read_gate: holds this member's plain (not --consistent) reads after a start until its state
 * is at least as new as anything it can have served before the restart.
 *
 * Why: with group commit (raft.apply.group-commit-ms > 0, storage/store.h) a member replies
 * and answers reads from entries applied to an open SQLite transaction; a kill -9 loses them
 * from state.db (the raft log keeps them) and the member comes back with older state until
 * libraft re-applies its log, which it does only once a leader tells it the commit index. A
 * plain read in between would go back (epoch 5 after epoch 6 was shown).
 *
 * The rule: let A be the highest index this member applied (and so could have served) before
 * it stopped. Every entry up to A is committed, so it is in the log of every leader of a term
 * >= this member's, and normally in the local log too (L, the last index loaded at start, is
 * >= A; see the residual case). Reads open once the applied index reaches TARGET:
 *   TARGET = L until the first AppendEntries of a term >= this member's whose leader_commit C
 *   is >= its prev_log_index; from then on TARGET = C (later messages change nothing).
 * Such a C is >= A: a leader's next index for this member starts past its own last index
 * (>= A) and drops only when this member rejects prev index P, which needs P past its last
 * index L or a term mismatch at P (> A: the logs agree on committed entries), so every prev
 * index it sends is >= min(L, A). C is the leader's commit index, so the member reaches it
 * as the leader replicates: a member whose local log ends in uncommitted entries that no
 * leader will commit (a deposed leader's tail, L past anything committed) still opens in a
 * quiet cluster, where heartbeats carry prev = the leader's last index = C. Under load the
 * prev index runs ahead of C and TARGET stays L, which new entries pass.
 *
 * Residual case: libraft 0.22 applies entries the leader says are committed as soon as they
 * are received, before its own append of them is on disk; a kill -9 in that window (one disk
 * write) leaves L < A. The first C then still covers A unless it comes from a leader that has
 * not yet committed an entry of its own term (its commit index can lag just after election);
 * TARGET = L (no hint yet, e.g. this member wins the election) is below A in that window.
 *
 * Once open the gate stays open for the life of the process (the applied index only grows).
 * Pure: no I/O, no clock; node.c feeds it, raft_fix.c passes the AppendEntries fields. */
#ifndef RAFTNODE_READ_GATE_H
#define RAFTNODE_READ_GATE_H

#include <stdbool.h>
#include <stdint.h>

struct read_gate {
    uint64_t target;     /* read-only: the applied index reads wait for (UINT64_MAX before start) */
    uint64_t last_index; /* read-only: the local log's last index at start */
    bool started;        /* read-only: read_gate_start was called */
    bool hinted;         /* read-only: TARGET came from a leader's commit index */
    bool open;           /* read-only: reads are answered */
};

/* Closed, no target yet: reads wait for read_gate_start. */
void read_gate_init(struct read_gate *g);

/* The local log's last index (snapshot included) once raft_start loaded it. */
void read_gate_start(struct read_gate *g, uint64_t last_index);

/* An AppendEntries from a leader whose term is >= this member's current term: PREV_INDEX its
 * prev_log_index, LEADER_COMMIT its leader_commit. The first with LEADER_COMMIT >= PREV_INDEX
 * after the start sets the target to LEADER_COMMIT (see above); anything else leaves it. */
void read_gate_leader(struct read_gate *g, uint64_t prev_index, uint64_t leader_commit);

/* True when reads are open with APPLIED the member's applied index; opens the gate (for good)
 * once APPLIED >= target. */
bool read_gate_check(struct read_gate *g, uint64_t applied);

#endif
