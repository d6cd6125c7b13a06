/* raft_fix: a guard around a struct raft_io for a libraft 0.22.1 follower bug.
 *
 * The bug (found by the simulation, seed 204214 of tests/sim; src/replication.c): a follower
 * whose log was compacted by a snapshot at index S receives an AppendEntries whose
 * prev_log_index is below the first entry it still has (a leader probing back, e.g. after a
 * leadership change, down to prev 0). libraft looks up the term of the compacted entries,
 * finds none, rejects ("missing previous entry") until the leader sends from index 1, then
 * appends entries 1.. behind its snapshot: an assertion in a debug build
 * (trailEnsureRecord: t->records[i].term <= term), memory corruption and a crash in a release
 * build, and the same again after every restart while that leader keeps probing.
 *
 * Every entry up to S is committed, and every leader that can reach us holds exactly those
 * entries (Raft's leader completeness), so the guard rewrites such a message before libraft
 * sees it: entries at or below S are dropped and prev becomes (S, term of S), which the
 * follower has. Nothing else changes; a message that does not reach below S is untouched.
 *
 * A second libraft 0.22.1 bug, on the sending side (also found by the simulation): the legacy
 * layer builds an InstallSnapshot with the index and term of the snapshot it means to send,
 * then loads the latest stored snapshot; when a newer one was stored in between it updates
 * last_index but not last_term. The follower installs index N with a wrong term, later finds
 * "conflicting terms ... for entry N", shuts down, and libraft double-frees. Every snapshot is
 * of committed state, so the term of an index is unique: the guard puts the term this member
 * recorded for that snapshot index back on the outgoing message.
 *
 * Third: libraft 0.22.1 drops a failed log append silently (legacy.c asserts that only a
 * cancelled append can fail, and Debian's build compiles assertions out): after ENOSPC or
 * EIO the member keeps running but never persists that entry again, so as a leader it never
 * commits and as a follower it never acknowledges. The guard counts failed appends
 * (APPEND_FAILURES, with the error in APPEND_ERROR); the owner stops the member on the first
 * one (crash-only, like etcd on a WAL write failure): a restart reloads the log from disk and
 * the leader sends the missing entries again.
 *
 * Fourth (found by the fault suite, disk-full seed 909 on a restarted member): when an
 * InstallSnapshot arrives while the member's own snapshot is being stored, libraft parks the
 * install and, once its own snapshot is stored, clears the parked pointer before using it
 * (legacy.c takeSnapshotCb): a NULL dereference. The guard holds such an InstallSnapshot back
 * until the snapshot_put in flight completes, then delivers it (a newer one replaces an older
 * one held back). Delivered at once, the install also replaces libraft's in-memory log while
 * the own snapshot's completion still refers to an index of the old one: a debug libraft
 * stops on `TrailSnapshot: Assertion last_term != 0` (simulation soak seed 344856).
 *
 * Fifth (found by the simulation once a member could stop for good, seed 2000408478 of the
 * I/O-fault family): a member that rejects a pre-vote because the candidate's term is lower
 * than its own replies with the candidate's term, not its own (recv_request_vote.c: "include
 * the term of the request" for every pre-vote reply). The candidate never learns the higher
 * term. Two survivors of three then deadlock for good: A (term 4, shorter log) is denied
 * because its log is shorter, B (term 2, longer log) is denied because its term is lower,
 * and B never moves to term 4. The guard puts this member's term on an outgoing pre-vote
 * rejection when it is higher (libraft's candidate then bumps its term, as etcd's does).
 * Needs RAFT, set once raft_init succeeded.
 *
 * Sixth (found chasing a simulation seed whose event history changed with the address
 * layout, seed 54 under ASLR): a follower that receives a RequestVote result (a late answer to
 * its own pre-vote or vote, e.g. once it found the leader) lets libraft choose between
 * checking the result's term and adopting it by reading candidate_state.in_pre_vote
 * (recv_request_vote_result.c, before it looks at the state). In a follower that byte of the
 * state union is byte 1 of follower_state.current_leader.address, a heap pointer: with some
 * heap layouts (about 1 in 16 runs with ASLR) the follower adopts the pre-vote's term (its
 * own term + 1), then rejects the leader's messages and deposes it; otherwise it ignores the
 * result. The same state thus gives different elections on different members and runs. A
 * follower ignores vote results in every case ("local server is follower -> ignore"), so the
 * guard drops them before libraft sees them, as a lost message (which Raft tolerates): the
 * follower never adopts a term from them. Needs RAFT. A leader's byte there is a byte of
 * leader_state.promotee_id (deterministic) and a candidate's is the real flag: both pass.
 *
 * Seventh (found by the simulation's autopilot scenario, `sim --autopilot --seeds 1 --first 349
 * --no-change-split` fails without it): a follower
 * receiving an AppendEntries whose new entries hold a configuration change that is not the
 * first of them records the index of the first new entry as its uncommitted configuration
 * (replication.c calls membershipUncommittedChange(r, index, entry) with the first entry's
 * index for every entry; client.c passes index + i). When the change commits, its index does not
 * match, so the member keeps a stale "uncommitted" configuration for good: as leader it refuses
 * every configuration change (RAFT_CANTCHANGE: no member add, remove, promotion, no autopilot),
 * and its snapshots carry the configuration committed before, which a member that restarts from
 * or installs one of them takes for the current one. Two changes in a row (the autopilot's
 * demotion then promotion) make it likely. The guard cuts such a message before its first
 * configuration change past the first entry, so a change is always first in its message: the
 * follower acknowledges the entries before it and the leader sends the change again as the first
 * entry of its next message (one more round trip per change). Counted in CHANGES_SPLIT.
 *
 * Eighth (found by the simulation's autopilot scenario once a voter could come back after the
 * autopilot demoted it; `sim --autopilot --no-prevote-copies`): libraft sends (pre-)vote
 * requests to the voters of the candidate's configuration only. A member that comes back
 * after its demotion to spare still has the configuration from before it, and the leader
 * re-admits it only once it hears from it (autopilot.h, policy rule 3); when the leader is a
 * member that was a standby in that old configuration (the one promoted in its place, say),
 * it never does, and the member stays a spare for good. The guard sends a copy of every
 * pre-vote request to the configuration's non-voters too, once per election round (with the
 * request to the first voter). It is safe: a pre-vote changes no term or vote anywhere, the
 * leader (or any member with a leader) rejects it, and libraft's candidate counts no answer
 * from a non-voter ("non-voting or unknown server -> reject"). Needs RAFT. Counted in
 * PREVOTES_COPIED.
 *
 * Ninth (a liveness rule, not a crash; found measuring failover against etcd in `make bench`):
 * a libraft 0.22.1 follower rejects every pre-vote and vote while it knows a leader
 * (recv_request_vote.c: follower_state.current_leader.id != 0), and forgets the leader only
 * when its own randomized election timer fires (in [T, 2T), T = election_timeout) and it
 * becomes a candidate. With the leader of three dead, the first survivor to time out is
 * refused by the second until the second's own timer fires too: the election waits for the
 * later of the two timers, not the earlier, and the two then often split a round. The Raft
 * thesis (4.2.3) and etcd (CheckQuorum) refuse only within the MINIMUM election timeout of
 * hearing from the leader. The guard applies that rule: when a RequestVote (pre-vote or
 * real) reaches a follower that knows a leader but has not reset its election timer (libraft
 * does on every message from the leader and on granting a vote) for at least T, it clears
 * the follower's current leader first, as libraft's own conversion does, so libraft judges
 * the request on term and log alone. Within T of hearing from the leader nothing changes:
 * the request is refused, so a live leader is never disrupted. Needs RAFT. Counted in
 * LEADERS_FORGOTTEN; `sim --no-vote-after-timeout` turns it off.
 *
 * Tenth (a liveness rule too, found with the ninth): libraft sends a (pre-)vote request once
 * per election round, and its uv transport loses a message written to a connection whose peer
 * died (uv_send.c notices a broken connection only when a write fails: the first write to a
 * peer killed and restarted since goes into the dead socket and is answered with a reset; the
 * next write fails and reconnects). A survivor that had a connection to a member that then
 * restarted (typically: that member was the leader before) loses its first request to it,
 * and the election waits for the other member's own timer, up to one more election timeout.
 * The guard remembers the last request sent to each server and, while the member is still a
 * candidate in that same round (same term and phase) and no result came from that server,
 * sends it again on each of the next RAFT_FIX_VOTE_RESENDS ticks. And a vote request or result
 * whose write fails (raftnode's transport closes a connection whose peer went away, so
 * libraft's next write to it fails and libraft reconnects) is sent again at once from the
 * write's callback (a request only while its round lasts): it waits for that new connection
 * instead of a tick. A request is idempotent in
 * Raft: a pre-vote changes nothing, a vote is granted again only to the candidate already
 * voted for in that term, and libraft counts one answer per server (a late or duplicate
 * result is ignored, or dropped at a follower by the sixth rule). Needs RAFT. Counted in
 * VOTES_RESENT; `sim --no-vote-resend` turns it off.
 *
 * Eleventh (a crash, found by the cluster suite's ASan build: a member joining while the leader
 * sends a snapshot): the legacy layer builds an InstallSnapshot whose server_address points into
 * the leader's configuration, then loads the snapshot on the thread pool and sends the message
 * from the load's callback (legacy.c legacyLoadSnapshotCb). A configuration change in between
 * (a member added) frees that configuration, and the send reads the freed address: a
 * use-after-free in uv_send.c's client lookup. The guard never reads an outgoing InstallSnapshot's
 * address: it puts the one of the server with that id in the current configuration on the message,
 * and fails the send (libraft frees the snapshot and sends one again at its next attempt) when
 * that server has left it. Needs RAFT. Counted in SNAPSHOTS_READDRESSED.
 *
 * Twelfth (a liveness and latency rule, found in the failover traces of `make bench`): a
 * libraft 0.22.1 leader, on each tick, moves every follower it heard nothing from since the
 * previous tick that found a quorum from pipeline to probe replication ("server N is
 * unreachable -> abort pipeline", timeout.c checkContactQuorum). An idle follower is sent a
 * heartbeat only when the last message to it is a heartbeat interval old, so it is silent for
 * a whole tick interval after almost every write: aborted although it answers. In probe a
 * follower gets at most one message per heartbeat interval, and an up-to-date one never
 * returns to pipeline (a heartbeat's success does not raise its match index): new entries
 * reach it only on the leader's ticks, up to 100 ms late, while the other follower commits
 * them. Its log is then shorter when the leader dies, and the election waits for the other
 * survivor's timer (the denials of docs/benchmarks.md, "Leader failover: where the time
 * goes"). The guard undoes such an abort after the leader's tick (state and next index as
 * before the tick) when the follower answered within min(3 heartbeat timeouts, the election
 * timeout): an idle live follower is sent something at least every two ticks. A follower
 * silent for longer is left in probe, as libraft wants. Pipeline or probe is flow control
 * only: a rejected AppendEntries still sends the follower back to probe. Reads libraft
 * 0.22.1's private struct raft_progress (struct raft_fix_progress below), checked for sane
 * values first (the rule turns itself off for good if they are not). Needs RAFT. Counted in
 * PIPELINES_KEPT; `sim --no-pipeline-keep` turns it off.
 *
 * Thirteenth (a latency rule, found measuring failover against etcd): libraft 0.22.1 draws a
 * follower's randomized election timeout (in [T, 2T)) only when it converts to follower (from
 * candidate or leader) and when its own timer fires (election.c electionResetTimer); a follower
 * that learns of a new term from a message keeps its draw (recv.c recvBumpCurrentTerm). So the
 * survivor that lost an election (its timer had not fired when the other won) keeps a draw
 * that is known to be the larger of the two, and at the next failover the election waits for
 * the earlier of that and a fresh one: median 1,403 ms instead of 1,293 with T = 1000 (a
 * fresh draw is the minimum of two uniforms), the 100-150 ms by which the failover traces of
 * `make bench` were above what two fresh timers give. etcd draws again whenever a follower
 * sees a new term (raft.go becomeFollower -> reset -> resetRandomizedElectionTimeout). The guard
 * does the same: on a tick that finds the member a follower in a term other than the one it
 * last drew in, it draws again (raft_set_election_timeout with the current value, which in
 * libraft 0.22.1 redraws a follower's or candidate's randomized timeout and changes nothing
 * else); the timer still runs from the last message. Needs RAFT. Counted in TIMEOUTS_REDRAWN;
 * `sim --no-timeout-redraw` turns it off.
 *
 * A finer tick (an option, not a bug fix; found measuring failover against etcd): libraft's
 * legacy layer starts the io with a tick of heartbeat_timeout, and a follower checks its
 * election timer only on a tick, so it fires on average half a tick (about 50 ms with a 100 ms
 * heartbeat) after it expired. With TICK_MS set (below libraft's interval), the guard starts
 * the io with a TICK_MS tick and passes every tick to libraft while the member is a follower or
 * a candidate (their rules compare times: the election timer, a candidate's round). A leader
 * gets a tick only once libraft's interval has passed since the last one it got: its rules are
 * counted per tick (checkContactQuorum asks for contact since the previous tick that found a
 * quorum, and aborts the pipeline of a follower that sent nothing since; a tick every 10 ms would
 * send followers back to probing between heartbeats), so it ticks as with libraft's own timer.
 * The tenth rule's resends then go when libraft's interval has passed since the request was sent
 * (again), not on every tick. TICK_MS 0 (the default, and the simulation's) keeps libraft's tick
 * and changes nothing. Needs RAFT (set before raft_start; without it, libraft's interval).
 *
 * Besides the guards, the append wrapper times every log append from the call to libraft's uv
 * io to its callback (CLOCK_MONOTONIC): the disk write as raft sees it, for the
 * raftnode_raft_append_duration_seconds histogram (APPEND_US_BUCKETS, RAFT_FIX_APPEND_BOUNDS_US).
 *
 * Wrapping: raft_fix_wrap replaces IO's load, start, send, append and snapshot_put methods (keeping
 * the originals) to learn the local snapshots' indexes and terms, and the receive callback
 * given to start. Call it after the raft_io is initialised and before raft_init/raft_start. One loop
 * thread; at most RAFT_FIX_MAX wrapped ios per process.
 *
 * Owns: the wrapped struct raft_io's hooks. Calls: libraft's raft_io only. */
#ifndef RAFTNODE_RAFT_FIX_H
#define RAFTNODE_RAFT_FIX_H

#include <raft.h>
#include <stdint.h>

#include "read_gate.h"

#define RAFT_FIX_MAX 16
#define RAFT_FIX_RECENT 8
/* Upper bounds in microseconds of the append duration buckets; one more bucket holds anything
 * slower. */
#define RAFT_FIX_APPEND_BOUNDS_US {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000}
#define RAFT_FIX_APPEND_BUCKETS 13
/* Tenth rule: servers whose last (pre-)vote request is remembered, and how many ticks it is
 * sent again at most while unanswered. */
#define RAFT_FIX_VOTE_PEERS 16
#define RAFT_FIX_VOTE_RESENDS 3

struct raft_fix {
    struct raft_io *io;
    int (*orig_load)(struct raft_io *io, raft_term *term, raft_id *voted_for, struct raft_snapshot **snapshot,
                     raft_index *start_index, struct raft_entry *entries[], size_t *n_entries);
    int (*orig_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
    int (*orig_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                             const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
    int (*orig_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                     raft_io_send_cb cb);
    int (*orig_append)(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[],
                       unsigned n, raft_io_append_cb cb);
    raft_io_append_cb orig_append_cb; /* libraft passes the same callback to every append */
    raft_io_recv_cb orig_recv;
    raft_io_tick_cb orig_tick;
    raft_io_snapshot_put_cb orig_put_cb;  /* libraft's callback of the put in flight */
    struct raft_io_snapshot_put *put_req; /* the put in flight (libraft has one at most), or NULL */
    struct raft_message held;             /* an InstallSnapshot held back during a put */
    int has_held;
    uint64_t installs_held;  /* read-only: InstallSnapshot messages held back */
    int no_hold;              /* tests only (sim --no-install-hold): deliver at once, as libraft would */
    uint64_t append_failures; /* read-only: appends that failed (not cancelled) */
    char append_error[320];   /* read-only: the first failure: status and the I/O's message */
    /* read-only, for /metrics: appends completed (any status), by duration from the call to
     * the callback, bucket i holding those of at most RAFT_FIX_APPEND_BOUNDS_US[i] (not
     * cumulative; the last: slower), and the sum of the durations in microseconds */
    uint64_t append_us_buckets[RAFT_FIX_APPEND_BUCKETS];
    uint64_t append_us_sum;
    struct {
        raft_index index;
        raft_term term;
    } recent[RAFT_FIX_RECENT]; /* the last snapshots stored, ring */
    unsigned n_recent;
    uint64_t terms_fixed;  /* read-only: InstallSnapshot messages whose last_term was corrected */
    struct raft *raft;     /* the owner's, once raft_init succeeded (pre-vote guard); NULL = off */
    uint64_t prevote_terms; /* read-only: pre-vote rejections given this member's higher term */
    int no_prevote_fix;     /* tests only (sim --no-prevote-fix): pre-vote rejections as libraft builds them */
    int no_vote_result_fix; /* tests only (sim --no-vote-result-fix): vote results reach a follower */
    uint64_t vote_results_dropped; /* read-only: RequestVote results dropped at a follower (sixth) */
    int no_change_split;    /* tests only (sim --no-change-split): AppendEntries as libraft gets them */
    int no_prevote_copies;  /* tests only (sim --no-prevote-copies): pre-votes to voters only (eighth) */
    uint64_t prevotes_copied; /* read-only: pre-vote requests also sent to a non-voter (eighth) */
    uint64_t changes_split; /* read-only: AppendEntries cut before a configuration change (seventh) */
    int no_vote_after_timeout; /* tests only (sim --no-vote-after-timeout): libraft's rule (ninth) */
    uint64_t leaders_forgotten; /* read-only: leaders cleared for a RequestVote after T of silence (ninth) */
    struct {
        raft_id id;                /* 0 = free slot */
        struct raft_request_vote rv;
        unsigned resends;          /* sent again so far */
        int fresh;                 /* sent since the last tick: not yet due (libraft's tick) */
        raft_time sent_at;         /* when it was sent (again) last (finer tick) */
    } votes_out[RAFT_FIX_VOTE_PEERS]; /* the last request to each server, unanswered (tenth) */
    uint64_t snapshots_readdressed; /* read-only: InstallSnapshot sent to the current configuration's address (eleventh) */
    int no_vote_resend;     /* tests only (sim --no-vote-resend): each request sent once (tenth) */
    uint64_t votes_resent;  /* read-only: (pre-)vote requests sent again (tenth) */
    /* the owner's, set after raft_fix_wrap and before raft_start: the io's tick in ms when
     * below libraft's interval (heartbeat_timeout), see "A finer tick" above; 0 = libraft's */
    unsigned tick_ms;
    unsigned base_tick_ms;    /* read-only: libraft's interval, as it started the io */
    unsigned io_tick_ms;      /* read-only: the tick the io was started with */
    raft_time last_base_tick; /* when libraft's tick last ran at its interval (finer tick) */
    uint64_t leader_ticks_held; /* read-only: finer ticks not given to libraft while it led */
    int no_pipeline_keep;       /* tests only (sim --no-pipeline-keep): libraft's aborts stand (twelfth) */
    int pipeline_keep_off;      /* read-only: libraft's progress looked wrong: the twelfth rule is off */
    uint64_t pipelines_kept;    /* read-only: pipeline aborts undone after a leader's tick (twelfth) */
    int no_timeout_redraw;      /* tests only (sim --no-timeout-redraw): libraft's draws alone (thirteenth) */
    raft_term drawn_term;       /* the term of the last draw as a follower (thirteenth) */
    uint64_t timeouts_redrawn;  /* read-only: election timeouts drawn again at a new term (thirteenth) */
    int keep_off_reported;      /* the owner's: pipeline_keep_off already logged */
    raft_index snap_index; /* read-only: the newest snapshot stored or being stored (0 = none) */
    raft_term snap_term;
    uint64_t rewritten;    /* read-only: messages rewritten */
    uint64_t dropped;      /* read-only: entries dropped from them */
    uint64_t reported;     /* the owner's: rewrites already logged */
    uint64_t terms_reported; /* the owner's: term corrections already logged */
    /* the owner's: told of every message received, before any guard (the autopilot's
     * last-contact tracking, autopilot.h); NULL = off */
    void (*on_recv)(void *data, raft_id from);
    void *on_recv_data;
    /* the owner's: told of every AppendEntries of a term >= this member's, as received (before
     * any guard rewrites it): the read gate after a restart (read_gate.h); NULL = off. Needs RAFT. */
    struct read_gate *read_gate;
};

/* 0, or -1 when RAFT_FIX_MAX ios are wrapped already. */
int raft_fix_wrap(struct raft_fix *f, struct raft_io *io);
/* Forgets IO (call after raft_close completed). */
void raft_fix_unwrap(struct raft_fix *f);

/* The rewrite itself (exposed for unit tests): applies the rule to M given the local
 * snapshot (SNAP_INDEX, SNAP_TERM). Returns the number of entries dropped, and sets
 * *REWRITTEN when prev changed. */
unsigned raft_fix_rewrite(struct raft_message *m, raft_index snap_index, raft_term snap_term, int *rewritten);

/* The seventh rule (exposed for unit tests): cuts an AppendEntries M before its first
 * RAFT_CHANGE entry that is not its first entry. Returns the number of entries cut (0: M is
 * untouched). The entries kept still own the message's batch. */
unsigned raft_fix_split_change(struct raft_message *m);

/* The ninth rule (exposed for unit tests): when M is a RequestVote and R a follower that knows
 * a leader but has not reset its election timer for R->election_timeout ms by NOW, clears R's
 * current leader (id and address, as libraft's conversion to follower does). Returns 1 when it
 * cleared it, 0 otherwise (R untouched). */
int raft_fix_forget_silent_leader(struct raft *r, const struct raft_message *m, raft_time now);

/* The eleventh rule (exposed for unit tests): puts on M (an InstallSnapshot) the address of the
 * server M->server_id in C, without reading M's own address (it may be freed). Returns 0, or
 * RAFT_NOCONNECTION when C holds no such server (M untouched). */
int raft_fix_readdress(const struct raft_configuration *c, struct raft_message *m);

/* libraft 0.22.1's struct raft_progress (src/progress.h; opaque in raft.h), the elements of
 * leader_state.progress, one per server of the configuration, in its order. */
struct raft_fix_progress {
    unsigned short state; /* RAFT_FIX_PROBE, RAFT_FIX_PIPELINE or 2 (snapshot) */
    unsigned short catch_up;
    unsigned short features;
    unsigned short capacity;
    raft_index next_index;
    raft_index match_index;
    raft_time last_send;
    raft_time last_recv; /* UINT64_MAX: never */
    struct {
        raft_index index;
        raft_time last_send;
    } snapshot;
};
#define RAFT_FIX_PROBE 0
#define RAFT_FIX_PIPELINE 1
/* Twelfth rule: the servers whose replication state a leader's tick can restore. */
#define RAFT_FIX_PIPE_MAX 16

/* The twelfth rule (exposed for unit tests): R a leader after its tick at NOW, BEFORE the
 * state and next index of its first N followers' progress before that tick: puts back to
 * pipeline, with its next index, every follower the tick moved from pipeline to probe that
 * answered within min(3 heartbeat timeouts, the election timeout). Returns how many. */
struct raft_fix_pipe {
    unsigned short state;
    raft_index next_index;
};
unsigned raft_fix_keep_pipelines(struct raft *r, const struct raft_fix_pipe *before, unsigned n, raft_time now);

/* The tenth rule's tick (exposed for unit tests; the wrapped tick calls it after libraft's):
 * sends again, through the io's own send, every remembered request that belongs to the
 * owner's current round, was not sent in this tick (with a finer tick: in the last
 * base_tick_ms), got no result and was sent again fewer than RAFT_FIX_VOTE_RESENDS times;
 * forgets the others. Needs RAFT. */
void raft_fix_resend_votes(struct raft_fix *f);

#endif
