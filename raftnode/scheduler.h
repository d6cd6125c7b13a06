/* scheduler: the leader's half of liveness and placement (DESIGN.md "Liveness", "Placement").
 *
 * On the leader only:
 *  - heartbeats from engines are batched: every tick the ids heard since the last tick go
 *    into one `heartbeat` command; each heartbeat is acknowledged when that entry applies
 *    (commit before acknowledge: a deposed leader can never extend a lease);
 *  - silence is measured on the leader's monotonic clock (uv_now) only; a new leader first
 *    grants every engine a full heart-beat-timeout;
 *  - an engine silent for longer than the timeout is declared dead and its projects are moved
 *    to the least-loaded eligible engines in the SAME log entry (engine_dead + assigns);
 *  - whenever the replicated state changed, projects whose owner is not eligible are placed
 *    (PLACE plan). Plans are computed here; the log carries explicit compare-and-set moves.
 * Followers keep no scheduler state; leadership loss resets it.
 * The decisions themselves (who is due to be declared dead, which moves a plan makes) are in
 * scheduler_core.c, free of libuv and proposals; this file is the glue: clock, proposals,
 * waiters, logging.
 *
 * Host interface: the glue knows libraft, the store and the write pipeline (proposal.h);
 * the clocks and whether the member still runs come from struct scheduler_host. raftnode
 * fills it in node.c (uv_now, CLOCK_REALTIME, the node's phase); the simulation
 * (tests/sim/leader.c) links this same file with the fixture's virtual time. */
#ifndef RAFTNODE_SCHEDULER_H
#define RAFTNODE_SCHEDULER_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/store.h"
#include "proposal.h"
#include "scheduler_core.h"

/* What the scheduler is handed at init; everything outlives it. */
struct scheduler_host {
    struct raft *raft;
    struct store *store;
    struct proposals *proposals;
    const bool *fsm_failed;        /* the member's FSM stopped applying (fsm_glue.h) */
    uint64_t heartbeat_timeout_ms; /* silence after which an engine is declared dead */
    void *data;
    uint64_t (*now_ms)(void *data);  /* monotonic, ms: liveness is measured on it */
    uint64_t (*wall_ms)(void *data); /* the time an assign command records (history) */
    bool (*running)(void *data);     /* false once the member is stopping */
    /* Optional: run scheduler_tick again soon, from a fresh loop iteration (never from inside
     * this call): the last move of a plan cut at SCHED_PLACE_MAX_MOVES has its outcome, so the
     * rest of the backlog need not wait for the next tick (sched_core_backlog_due). */
    void (*tick_soon)(void *data);
};

struct sched_waiter {
    proposal_done_cb cb;
    void *data;
    uint64_t engine_id;
};

struct scheduler {
    struct scheduler_host host;   /* read-only; host.raft == NULL once closed */
    bool leading;                 /* read-only: state as of the last tick */
    struct sched_core core;       /* private: liveness table and plans (scheduler_core.h);
                                   * core.leader_since_ms is host.now_ms() at election */
    uint64_t *hb_ids;             /* private: heard since the last flush */
    size_t n_hb, cap_hb;
    struct sched_waiter *waiters; /* private: heartbeats waiting for the batch to commit */
    size_t n_waiters, cap_waiters;
    uint64_t failovers;           /* read-only: engines declared dead by this member */
    uint64_t moves;               /* read-only: assign commands proposed by this member */
    uint64_t terms_led;           /* read-only: times this member became the leader */
    bool read_failing;            /* private: the last tick could not read the engines */
};

/* Engine information carried by a heartbeat. */
struct sched_hb {
    uint64_t id;
    char mode[8];
    unsigned weight;
    char identity[320];
    bool race_enabled;
};

/* HOST is copied. 0 (cannot fail today). */
int scheduler_init(struct scheduler *s, const struct scheduler_host *host);
void scheduler_close(struct scheduler *s);
void scheduler_tick(struct scheduler *s);

/* Records a heartbeat (leader only). CB(DATA, ...) runs once: status 0 when the entry that
 * records it applied, status 1 when the engine is refused (e.g. a second single-engine-mode
 * engine), 3 when leadership is lost. Returns -1 (CB not called) when not leader / no memory. */
int scheduler_heartbeat(struct scheduler *s, const struct sched_hb *hb, proposal_done_cb cb, void *data);

/* Milliseconds since the leader last heard engine ID, or -1 when unknown / not leader. */
int64_t scheduler_silence_ms(struct scheduler *s, uint64_t id);

/* Computes a plan on the current state: rebalance=false is PLACE, true is REBALANCE. 0/-1.
 * (struct sched_plan and sched_plan_free are in scheduler_core.h.) */
int scheduler_plan(struct scheduler *s, bool rebalance, struct sched_plan *out);
/* The liveness table and plan state, for a plan computed in steps elsewhere
 * (sched_core_rebalance_begin: raftnode/plan_async.h). */
struct sched_core *scheduler_core(struct scheduler *s);

/* Submits one assign command per move (all in this loop iteration, hence one log entry);
 * CB(DATA, ...) runs once per submitted move (CB may be NULL). Returns how many were submitted. */
size_t scheduler_submit_moves(struct scheduler *s, const struct sched_plan *p, proposal_done_cb cb, void *data);

#endif
