/* sim: deterministic simulation of a raftnode quorum on libraft's in-memory fixture
 * (raft/fixture.h): N servers, each with the real state machine (storage/, SQLite in
 * memory) behind raftnode's own FSM glue (raftnode/fsm_glue.c) and write pipeline
 * (raftnode/proposal.c) and, on the leader, raftnode's own scheduler (raftnode/scheduler.c
 * around raftnode/scheduler_core.c); the sim only hosts them (clock, flush, engine hooks),
 * so a change to any of those files is simulated. Every server also hosts one engine that
 * heartbeats as raftnode/engine.c does and keeps its lease with raftnode/lease.c, the code
 * engine.c runs (hand-overs reported by fsm_glue.c). A seed decides everything
 * (timings, modes, nemeses, client commands); virtual time comes from the fixture; no wall
 * clock, no global PRNG. After every fixture event the oracles (check.c) test DESIGN.md's
 * invariants 1, 2, 3 and 5, after every tick failover liveness; the end of a run heals every
 * fault and checks convergence.
 *
 * Files: sim.c (command line, seed loop, report), cluster.c (fixture, the hosts of
 * fsm_glue.c and proposal.c with the oracles around them, network model, the fixture
 * truncate fix, raftnode/raft_fix.c around every io), leader.c (the host of scheduler.c),
 * engine.c (engine: heartbeats, the lease through raftnode/lease.c), client.c (client
 * commands), nemesis.c (faults), check.c (oracles), autopilot.c (the --autopilot scenario:
 * raftnode/autopilot.c on every member, a voter killed for good). This header is private to them. */
#ifndef TESTS_SIM_SIM_H
#define TESTS_SIM_SIM_H

#include <msgpack.h>
#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftnode/autopilot.h"
#include "raftnode/fsm_glue.h"
#include "raftnode/lease.h"
#include "raftnode/proposal.h"
#include "raftnode/raft_fix.h"
#include "raftnode/scheduler.h"
#include "raftnode/scheduler_core.h"
#include "storage/store.h"

#define SIM_MAX_SERVERS 5
#define SIM_TICK_MS 50 /* raftnode/node.c NODE_TICK_MS: scheduler tick, proposal flush */
#define SIM_HB_INTERVAL_MS 1000 /* recommended heart-beat-interval (docs/liveness.md) */
#define SIM_HB_TIMEOUT_MS 3000 /* recommended heart-beat-timeout */
#define SIM_LEASE_MARGIN_MS 300 /* engine.c: timeout / 10, at least 50 ms */
#define SIM_FAILOVER_SLACK_MS 3000 /* check_failover: an engine_dead entry commits within this */
#define SIM_HISTORY 96 /* events kept for the failure report */
#define SIM_EVENT_MAX 200

/* ---- deterministic PRNG (splitmix64): one stream per seed ---- */
struct rng {
    uint64_t s;
};
uint64_t rng_next(struct rng *r);
unsigned rng_below(struct rng *r, unsigned n); /* 0..n-1; n > 0 */
bool rng_permille(struct rng *r, unsigned pm); /* true with probability pm/1000 */
unsigned rng_range(struct rng *r, unsigned lo, unsigned hi); /* lo..hi inclusive */

struct sim;
struct srv;

/* Outcome of one command of a proposal, as raftnode/proposal.h reports it. */
typedef void (*sim_done_cb)(struct srv *proposer, void *data, uint64_t index, int status, const char *message);

struct srv {
    struct raft_fix fix; /* raftnode/raft_fix.c around the fixture's io */
    struct sim *sim;
    unsigned idx; /* fixture index */
    uint64_t id; /* raft id = engine id = idx + 1 */
    struct store store;
    uint64_t commit_due_ms; /* virtual time of the next group commit (raftnode: a timer) */

    /* raftnode/fsm_glue.c, its hooks behind the oracles' wrappers (cluster.c) */
    struct fsm_glue glue;
    int (*glue_apply)(struct raft_fsm *, const struct raft_buffer *, void **);
    int (*glue_snapshot)(struct raft_fsm *, struct raft_buffer *[], unsigned *);
    int (*glue_restore)(struct raft_fsm *, struct raft_buffer *);
    struct store_engine *before; /* the engines before the entry being applied */
    size_t n_before;
    bool maintenance_before;
    bool restoring; /* inside the glue's restore */

    /* raftnode/proposal.c: the commands submitted during one tick are one entry */
    struct proposals proposals;

    /* raftnode/scheduler.c around the real core, on the fixture's clock (leader.c) */
    struct scheduler sched;
    /* failover oracle (check_failover): since when this server has been, at every tick, the
     * leader with a quorum and maintenance off, and when each engine's heartbeat last
     * reached it */
    uint64_t stable_since_ms;
    uint64_t hb_heard_ms[SIM_MAX_SERVERS];

    /* the engine this member speaks for (raftnode/engine.c) */
    char mode[8];
    unsigned weight;
    bool race_enabled;
    char identity[64];
    uint64_t next_hb_ms;
    uint64_t silent_until_ms; /* nemesis: no heartbeats before this */
    bool refused; /* the cluster refused this engine's registration */
    struct lease lease; /* raftnode/lease.h, in virtual ms */

    /* oracle state (check.c): the (owner, epoch) image last checked */
    struct store_project_row *snap;
    size_t n_snap;
    uint64_t snap_index;
    struct sqlite3_stmt *history_stmt;

    struct raft_transfer transfer;
    bool transfer_busy;
    struct raft_tracer *fixture_tracer; /* the fixture's, restored by --trace-from */

    /* The wrapped raft_io methods of the fixture (cluster.c, "Fixture fixes"). */
    int (*orig_start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
    int (*orig_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[], unsigned,
                       raft_io_append_cb);
    int (*orig_truncate)(struct raft_io *, raft_index);
    int (*orig_snapshot_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *, const struct raft_snapshot *,
                             raft_io_snapshot_put_cb);
    raft_io_recv_cb orig_recv;
    struct io_append_req { /* appends in flight: raft's callback and entry count */
        struct raft_io_append *req;
        raft_io_append_cb cb;
        unsigned n;
    } *appends;
    size_t n_appends, cap_appends;
    raft_index io_start; /* the fixture's start_index */
    size_t io_count;     /* entries the fixture holds from io_start + 1 */
    raft_io_snapshot_put_cb put_cb; /* the snapshot_put in flight (one at most) */
    struct raft_io_snapshot_put *put_req;
    unsigned put_trailing;
    raft_index put_index;
    raft_term put_term;
    struct { /* the last snapshots this server stored (ring) */
        raft_index index;
        raft_term term;
    } puts[8];
    unsigned n_puts;
    unsigned append_faults; /* nemesis: the next appends complete with RAFT_IOERR */
    bool disk_failed; /* an append failed: raftnode stops this member (raft_fix.h), at the next tick */
    bool stopped;     /* stopped for good (the fixture cannot restart a member from its log) */

    /* --autopilot: raftnode/autopilot.c on this member (acts while it leads) */
    struct autopilot ap;
    uint64_t ap_actions; /* ap.actions already reported */
    uint64_t revived_ms; /* --autopilot: when the nemesis last revived it (no new kill soon after) */
};

/* Per-project client bookkeeping for invariant 4 (acknowledged decisions survive). */
struct sim_project {
    char name[16];
    bool add_acked;
    bool remove_submitted;
    bool remove_acked;
    bool sticky; /* re-added while it existed: never removed afterwards */
};

struct sim_nemesis;

enum sim_counter {
    C_APPLIED,
    C_RESTORES,
    C_SNAPSHOTS,
    C_ELECTIONS,
    C_FAILOVERS,
    C_MOVES,
    C_CLIENT_CMDS,
    C_NEMESES,
    C_LEASE_ACKS,
    C_INV2_CHECKS,
    C_GATED_ACKS,
    C_GRACES,
    C_IO_FAULTS,
    C_LIBRAFT_FIXES,
    C_RAFT_FIX_REWRITES, /* AppendEntries rewritten by raftnode/raft_fix.c */
    C_INSTALLS_HELD,     /* InstallSnapshot held back during a snapshot write (raft_fix.c) */
    C_DISK_STOPS,        /* members stopped after a failed log append */
    C_PREVOTE_TERMS,     /* pre-vote rejections given the member's higher term (raft_fix.c) */
    C_FAILOVER_CHECKS,   /* ticks check_failover saw an engine silent past the timeout, not yet overdue */
    C_VOTE_RESULTS_DROPPED, /* RequestVote results dropped at a follower (raft_fix.c, sixth bug) */
    C_CHANGES_SPLIT,        /* AppendEntries cut before a configuration change (raft_fix.c, seventh bug) */
    C_PREVOTES_COPIED,      /* pre-vote requests also sent to a non-voter (raft_fix.c, eighth) */
    C_LEADERS_FORGOTTEN,    /* followers' leaders cleared for a RequestVote after T of silence (ninth) */
    C_VOTES_RESENT,         /* unanswered (pre-)vote requests sent again (raft_fix.c, tenth) */
    C_SNAPSHOTS_READDRESSED, /* InstallSnapshot sent to the current configuration's address (raft_fix.c, eleventh) */
    C_PIPELINES_KEPT,       /* leaders' pipeline aborts of live followers undone (raft_fix.c, twelfth) */
    C_PIPELINE_KEEP_OFF,    /* members whose twelfth rule turned itself off (libraft's progress looked wrong) */
    C_TIMEOUTS_REDRAWN,     /* followers' election timeouts drawn again at a new term (raft_fix.c, thirteenth) */
    C_AUTOPILOT_ACTIONS,    /* --autopilot: configuration changes the autopilot started */
    C_AUTOPILOT_REPLACED,   /* --autopilot: runs whose voter killed for good ended up replaced */
    C_AUTOPILOT_READMITTED, /* --autopilot: runs whose voter demoted while away ended up a voter or standby */
    C_COUNT
};

struct sim_opts {
    uint64_t seeds, first;
    unsigned steps;
    unsigned servers; /* 0 = chosen per seed (3 or 5) */
    bool verbose;
    bool no_fork; /* run seeds in this process (default: a child per seed, see sim.c) */
    bool io_faults; /* nemesis: log appends that fail */
    bool no_ack_gate; /* engine as first built: an ack extends the lease at once */
    bool no_handoff_grace; /* engine as first built: a project acts at once after any move */
    bool no_prevote_fix; /* raft_fix.c leaves pre-vote rejections as libraft builds them */
    bool no_vote_result_fix; /* raft_fix.c lets vote results reach a follower (libraft as is) */
    unsigned repeat; /* run each seed this many times, failing it if the histories differ (0, 1 = once) */
    bool no_install_hold; /* raft_fix.c delivers InstallSnapshot during a snapshot write (libraft as is) */
    uint64_t trace_from_ms; /* print libraft's own trace from this virtual time (0 = never) */
    bool no_change_split; /* raft_fix.c passes AppendEntries with a configuration change past the
                           * first entry to libraft as is (seventh bug) */
    bool no_prevote_copies; /* raft_fix.c sends pre-votes to voters only (eighth) */
    bool no_vote_after_timeout; /* raft_fix.c leaves libraft's rule: no vote while a leader is known (ninth) */
    bool no_vote_resend; /* raft_fix.c sends each (pre-)vote request once, as libraft does (tenth) */
    bool no_pipeline_keep; /* raft_fix.c leaves libraft's pipeline aborts (twelfth) */
    bool no_timeout_redraw; /* raft_fix.c leaves libraft's election timeout draws (thirteenth) */
    unsigned tick_ms; /* raft_fix.c's finer tick (raft.tick-ms); 0 = libraft's (the default) */
    char tick_arg[32]; /* " --tick-ms N" for the replay lines, or "" */
    bool autopilot; /* 3 voters + 1..2 standbys, raftnode/autopilot.c on every member, one
                     * voter killed for good (autopilot.c of the sim) */
};

struct sim {
    const struct sim_opts *opts;
    uint64_t seed;
    struct rng rng;
    struct raft_fixture f;
    unsigned n;
    struct srv srv[SIM_MAX_SERVERS];
    unsigned step;
    bool closing; /* fixture closing: callbacks only free */
    bool healing; /* final phase: no new faults */

    /* links: cut[i][j] > 0 drops messages i -> j (counts overlapping nemeses) */
    unsigned cut[SIM_MAX_SERVERS][SIM_MAX_SERVERS];
    struct sim_nemesis *nemeses;
    unsigned n_nemeses;
    unsigned latency_ms[SIM_MAX_SERVERS];

    /* clients */
    struct sim_project *projects;
    size_t n_projects, cap_projects;
    unsigned next_project;

    /* oracles */
    uint64_t *hash_at; /* store_hash of the state at applied index i, when hash_known[i] */
    bool *hash_known;
    size_t cap_hash;
    bool dirty; /* something changed: re-check invariant 2 */
    struct sim_change { /* every owner change, as first applied: was the old owner alive? */
        char name[16];
        uint64_t index, from;
        bool from_alive;
    } *changes;
    size_t n_changes, cap_changes;
    uint64_t counters[C_COUNT];

    /* --autopilot (autopilot.c) */
    uint64_t ap_kill_at_ms; /* when a voter is killed for good (0: done) */
    int ap_killed;          /* its index, or -1 */
    uint64_t ap_away_at_ms; /* when a voter is killed for longer than the dead timeout (0: done or none) */
    uint64_t ap_away_ms;    /* for how long; revived then, or at the healing */
    uint64_t ap_back_at_ms; /* when it is revived (0: not away) */
    int ap_away;            /* its index, or -1 */
    bool ap_away_demoted;   /* a leader's configuration made it a spare while it was away */

    /* report */
    char history[SIM_HISTORY][SIM_EVENT_MAX];
    unsigned n_history;
    uint64_t digest; /* FNV-1a of every event line, in order (--repeat compares it) */
    bool failed;
    char failure[1024];
};

/* sim.c */
void sim_event(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_now(struct sim *s);

/* heap.c: run K >= 1 of --repeat gives libraft's small blocks addresses with byte 1 chosen
 * by K (set before the fixture exists, unset after it is closed; K = 0: the default heap) */
void heap_hostile_set(unsigned k);
void heap_hostile_unset(unsigned k);

/* cluster.c */
int cluster_start(struct sim *s);
void cluster_close(struct sim *s);
struct raft *srv_raft(struct srv *v);
bool srv_alive(struct srv *v);
int proposals_submit_sim(struct srv *v, const void *buf, size_t len, sim_done_cb cb, void *data);
/* One packed command: pb_packer gives the packer to a command_pack_* call whose result goes
 * to pb_submit, which submits it on V (proposals_submit_sim) and releases the buffer:
 *     struct packbuf b;
 *     rc = pb_submit(&b, command_pack_drain(pb_packer(&b), id, on), v, cb, data);  */
struct packbuf {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};
msgpack_packer *pb_packer(struct packbuf *b);
int pb_submit(struct packbuf *b, int pack_rc, struct srv *v, sim_done_cb cb, void *data);
void srv_log_as(struct srv *v); /* what raftnode's files log next comes from V (common/log.h) */
void links_apply(struct sim *s);
void cluster_trace(struct sim *s); /* libraft's trace on, from --trace-from */
bool link_up(struct sim *s, unsigned from, unsigned to);
struct srv *sim_leader(struct sim *s); /* the alive server in leader state with the highest term */

/* leader.c: the scheduler's host */
int leader_init(struct srv *v);
void leader_tick(struct srv *v);
/* The heartbeat of engine E reached L (scheduler_heartbeat). 0, or -1 when L does not lead. */
int leader_heartbeat(struct srv *l, struct srv *e, uint64_t send_ms);
void leader_free(struct srv *v);

/* engine.c: the engine each member speaks for */
void engine_tick(struct srv *v);
/* Engine E's heartbeat sent at SEND_MS, recorded at INDEX by LEADER, was answered STATUS. */
void engine_answer(struct sim *s, unsigned e, unsigned leader, uint64_t send_ms, int status, uint64_t index);
void engine_applied(struct srv *v); /* the member applied more: gated acks */
void engine_handover(void *srv, const char *project, size_t len); /* a store_handover_fn */
void engine_grace_all(struct srv *v); /* start, snapshot restore */
uint64_t engine_grace_until(struct srv *v, const char *project);
void engine_free(struct srv *v);

/* client.c */
void client_step(struct sim *s);

/* nemesis.c */
void nemesis_step(struct sim *s);
void nemesis_heal_all(struct sim *s);
void nemesis_free(struct sim *s);

/* autopilot.c (--autopilot) */
#define SIM_AP_VOTERS 3
void ap_start(struct sim *s); /* after cluster_start: parameters, hooks, the kill time */
void ap_tick(struct sim *s); /* every tick: the kill, every member's autopilot, the quorum oracle */
/* Done when the leader's configuration has SIM_AP_VOTERS voters, none stopped, the member
 * killed for good is no voter (removed, with cleanup), and no change is in flight; otherwise
 * false with WHY. */
#define SIM_AP_DEAD_MS 3000 /* raft.autopilot.dead-member-timeout-ms; temporary kills stay shorter */
bool ap_converged(struct sim *s, char *why, size_t cap);
/* check.c */
void check_after_apply(struct srv *v, uint64_t index, const void *buf, size_t len,
                       const struct store_engine *engines_before, size_t n_before, bool maintenance_before,
                       const struct store_results *r);
void check_after_change(struct srv *v, bool restored); /* invariants 1 and 5, after an apply or a restore */
void check_leases(struct sim *s); /* invariant 2 at this instant */
void check_failover(struct sim *s); /* failover liveness at this tick */
void check_final(struct sim *s); /* invariant 5, convergence, invariant 4 */
void check_close_server(struct srv *v); /* before its store closes */
void check_free(struct sim *s);

#endif
