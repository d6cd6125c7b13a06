/* scheduler_core: the leader's pure decisions on liveness and placement (DESIGN.md "Liveness
 * without synchronised clocks", "Placement", invariant 3), split from the libuv/proposals glue
 * in scheduler.c so that the simulation (tests/sim) runs exactly this code.
 *
 * Owns: the table of engines heard while leading (struct sched_seen). Calls: storage/store.h
 * reads, raftnode/planner.h, libc. Never calls libuv, raft, proposals or the log: every time
 * is passed in (the caller's monotonic clock, milliseconds), every error is returned.
 *
 * Liveness, as one leader sees one engine:
 *
 *   heard(now) ............ last_heard_ms = now
 *   become_leader(now) .... every known engine: last_heard_ms = now (a full timeout of this
 *                           leader's own observation before anything is declared dead)
 *   due(now, timeout) ..... alive, race-enabled engines with now - max(last_heard,
 *                           leader_since) > timeout and no engine_dead pending
 *   mark_dead_pending ..... the caller proposed engine_dead: not due again, not eligible
 *                           for placement, until dead_done clears it
 *
 * Placement, as one leader sees it: a PLACE plan is computed when the replicated state
 * changed since the last plan (store ownership_version) or engines were just declared dead,
 * and no move of the previous plan is still in flight (during a bulk load of projects, at
 * most every SCHED_BULK_INTERVAL_MS: sched_core_place_wait). A move whose outcome is unknown
 * (leadership lost, or raft refused the entry, e.g. during a leadership transfer) changed
 * nothing the version would show, so it makes the next tick plan again: otherwise a project
 * whose move was lost stayed unowned until some unrelated change (found by tests/sim). */
#ifndef RAFTNODE_SCHEDULER_CORE_H
#define RAFTNODE_SCHEDULER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/store.h"

struct sched_seen {
    uint64_t id;             /* read-only */
    uint64_t last_heard_ms;  /* read-only: caller's clock at the last heartbeat received while leader */
    bool dead_pending;       /* public: engine_dead proposed, not yet applied */
    bool set_pending;        /* public: engine_set proposed, not yet applied */
    char refused[256];       /* public: why the last engine_set was refused, "" if it was not */
};

struct sched_core {
    struct sched_seen *seen;   /* private */
    size_t n_seen, cap_seen;   /* private */
    uint64_t leader_since_ms;  /* read-only: caller's clock when this member became leader */
    uint64_t planned_version;  /* private: store ownership_version the last plan saw */
    unsigned plan_inflight;    /* read-only: moves proposed, outcome not yet known */
    uint64_t bulk_until_ms;    /* private: no PLACE plan before this (bulk cadence), 0 = none */
    bool backlog;              /* private: the last PLACE plan was cut at SCHED_PLACE_MAX_MOVES */
    char errmsg[STORE_ERRMSG_MAX]; /* read-only: why the last failing call failed ("" = memory) */
};

/* One engine due to be declared dead. */
struct sched_due {
    uint64_t id;
    uint64_t silence_ms; /* now - max(last heard, leader since) */
    uint64_t projects;   /* projects it owns in the state given */
};

/* One move of a plan, with the project's name (malloc'd, freed by sched_plan_free). */
struct sched_move {
    char *project;
    uint64_t from, to;
    const char *reason; /* static string: new, restore, failover, drain, move, rebalance */
};

struct sched_plan {
    struct sched_move *moves;
    size_t n;
    size_t lower_bound; /* REBALANCE: the minimum number of moves */
    const char *by;     /* who asked (history "by"), borrowed for scheduler_submit_moves;
                         * NULL for the scheduler's own plans */
};

void sched_core_init(struct sched_core *c);
void sched_core_close(struct sched_core *c);

/* The entry of engine ID; with CREATE a missing one is added with last_heard_ms = NOW_MS.
 * NULL when absent (or out of memory with CREATE). The pointer is valid until the next call
 * that may create an entry. */
struct sched_seen *sched_core_seen(struct sched_core *c, uint64_t id, bool create, uint64_t now_ms);

/* A heartbeat of engine ID was received at NOW_MS. The entry, or NULL when out of memory. */
struct sched_seen *sched_core_heard(struct sched_core *c, uint64_t id, uint64_t now_ms);

/* This member became leader at NOW_MS: every engine gets a full timeout from now; pending
 * flags of the previous reign are forgotten (their proposals failed with the leadership),
 * and the next tick plans on the current state. */
void sched_core_become_leader(struct sched_core *c, uint64_t now_ms);

/* Fills DUE (capacity N, the number of ENGINES) with the engines of the state ENGINES/N that
 * are silent past TIMEOUT_MS at NOW_MS: alive, race-enabled (single-engine mode never fails
 * over), not already pending. Engines never heard get an entry heard at NOW_MS. Returns how
 * many were written. Does not mark them: the caller calls sched_core_mark_dead_pending for
 * each engine_dead it did propose. */
size_t sched_core_due(struct sched_core *c, const struct store_engine *engines, size_t n, uint64_t now_ms,
                      uint64_t timeout_ms, struct sched_due *due);

/* engine_dead for ID was proposed (PENDING true) or its outcome arrived (false). */
void sched_core_mark_dead_pending(struct sched_core *c, uint64_t id, bool pending);

/* Milliseconds since engine ID was heard at NOW_MS, or -1 when unknown. */
int64_t sched_core_silence_ms(struct sched_core *c, uint64_t id, uint64_t now_ms);

/* Whether a PLACE plan is due at this tick: no move in flight, and the state changed since
 * the last plan (OWNERSHIP_VERSION) or DECLARED engines were just declared dead. */
bool sched_core_place_due(const struct sched_core *c, uint64_t ownership_version, size_t declared);
/* Whether a due PLACE plan should still wait at NOW_MS: the bulk cadence. After a plan of
 * SCHED_BULK_MOVES moves or more but less than SCHED_PLACE_MAX_MOVES (a bulk load of projects
 * arriving, not a backlog being worked off), the next plan waits until
 * SCHED_BULK_INTERVAL_MS after it, unless DECLARED engines were just declared dead (a
 * failover never waits). Each assign rewrites its project's row, index and history pages
 * in the store; one entry placing the projects of four ticks rewrites about the pages of
 * one, so a bulk load writes ~30% less (measured with the benchmark's names). Plans of
 * fewer moves (everyday adds, drains of small engines) keep the tick's cadence. */
#define SCHED_BULK_MOVES 32
#define SCHED_BULK_INTERVAL_MS 200
/* The most moves one PLACE plan proposes. Every member applies a plan's moves in one go on
 * its event loop (~25-40 us each on the release build, ten times that under ASan; 1,024 moves
 * were a 30 ms loop stall, 0.3 s under ASan, so 256): a backlog placed at once (projects
 * added before any engine was alive, a failed engine's projects) stalled every member for
 * seconds, longer than an election timeout, and cost the leadership. The rest follows in the
 * next plans, each as soon as the previous one's moves have their outcome (no bulk wait after
 * a plan of this size, and no wait for the next tick: sched_core_backlog_due), and ends
 * exactly where one plan would have (sched_core_plan). Each plan is its own entry, so every
 * member's loop serves its I/O between two of them, as between a rebalance's slices. */
#define SCHED_PLACE_MAX_MOVES 256
/* Whether the next part of a backlog is due at once: the last PLACE plan was cut at
 * SCHED_PLACE_MAX_MOVES and none of its moves is in flight any more. The caller then plans
 * again without waiting for its next tick: a tick every 50 ms placing at most 256 projects
 * fell behind adds sustained above 5,120 a second, and the unplaced backlog grew. */
bool sched_core_backlog_due(const struct sched_core *c);
bool sched_core_place_wait(const struct sched_core *c, size_t declared, uint64_t now_ms);
/* A PLACE plan of MOVES moves was computed on OWNERSHIP_VERSION at NOW_MS. */
void sched_core_placed(struct sched_core *c, uint64_t ownership_version, size_t moves, uint64_t now_ms);
/* The plan just made excluded engines whose death is still being declared (DECLARED > 0):
 * it must not count as planned for this version, or a project it could not place would wait
 * for the next ownership change if the declaration fails (e.g. refused during a leadership
 * transfer) and the engines turn out alive. Call after sched_core_placed. */
void sched_core_placed_declaring(struct sched_core *c, size_t declared);
/* One move of a plan was proposed. */
void sched_core_move_proposed(struct sched_core *c);
/* The outcome of a proposed move: STATUS 0 applied, 1 refused by the state machine (the
 * state it was planned on changed: the version shows it), anything else outcome unknown
 * (then the next tick plans again). */
void sched_core_move_done(struct sched_core *c, int status);

/* Computes a plan on the state in ST: REBALANCE false is PLACE, true is REBALANCE (planner.h).
 * Eligible = all/job, alive, not draining, no engine_dead pending; in single-engine mode only
 * that engine. 0, or -1 with OUT empty (errmsg says why when the store failed, "" when out
 * of memory). Free OUT with sched_plan_free.
 * PLACE reads only what it may change, not every project: the engines with the per-engine
 * project counts the store keeps (storage/loads.h) and the projects needing an owner (none,
 * or an owner that is not eligible) through the owner index, then planner_place_partial,
 * which gives exactly planner_plan(PLACE)'s plan on the full state. Cost O(E + k log P) for
 * k projects needing an owner (O(P) once, the first time a store is used, to count), where it
 * was O(P) per plan. REBALANCE reads every project (each counts in the fair shares).
 * PLACE proposes at most SCHED_PLACE_MAX_MOVES moves: those going to their pin first, then
 * the others in project order, so that the next plans continue exactly as this one would
 * have. REBALANCE is never cut here: the rebalance handler proposes it in slices. */
int sched_core_plan(struct sched_core *c, struct store *st, bool rebalance, struct sched_plan *out);
void sched_plan_free(struct sched_plan *p);

/* REBALANCE in three steps, so that its whole-state read and the planning can run on another
 * thread than the store's (raftnode/plan_async.h): sched_core_plan(REBALANCE) is
 *   sched_core_rebalance_begin(c, st, &r);             the engines and which are eligible (the
 *                                                      loop: reads ST and C's liveness table)
 *   r.projects, r.np = every project, ordered by name  (any thread, any read of the same state)
 *   sched_core_rebalance_plan(&r, out);                the planner (any thread: C and ST are
 *                                                      not touched)
 *   sched_core_rebalance_free(&r);
 * and gives the same plan on the same state. */
struct planner_engine;
struct sched_rebalance {
    struct store_engine *engines;       /* owned: by id */
    size_t ne;
    struct planner_engine *pe;          /* owned: id, weight, eligible, per engine */
    struct store_project_row *projects; /* owned (store_free_projects): set by the caller */
    size_t np;
    char errmsg[STORE_ERRMSG_MAX];      /* why begin failed ("" when out of memory) */
};
/* 0, or -1 (errmsg; R holds nothing to free then). */
int sched_core_rebalance_begin(struct sched_core *c, struct store *st, struct sched_rebalance *r);
/* 0, or -1 with OUT empty (out of memory). Free OUT with sched_plan_free. */
int sched_core_rebalance_plan(struct sched_rebalance *r, struct sched_plan *out);
void sched_core_rebalance_free(struct sched_rebalance *r);

#endif
