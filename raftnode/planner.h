/* planner: the placement planner (DESIGN.md "Placement", invariant 3). A pure function of its
 * input: no I/O, no globals, no clock, only libc (malloc, qsort). The same input always gives
 * the same plan, so any member computing it would agree; the leader computes it and the log
 * carries the resulting explicit moves.
 *
 * Owns nothing between calls. May call: malloc/free/qsort. Nothing else.
 *
 * Load of an eligible engine = projects it owns / weight. Only eligible engines (mode all/job,
 * alive, not draining: the caller decides) ever receive a project. Ties between engines are
 * broken by the lowest engine id.
 *
 * PLACE (after every state change): only projects that need an owner move, i.e. owner 0 or an
 * owner that is not an eligible engine (dead, draining, query mode, unknown id). A project
 * pinned to an eligible engine goes there; every other one goes, in project index order, to
 * the least-loaded eligible engine at that moment (loads counted as the plan assigns). A
 * project whose owner is eligible never moves, so an engine coming back causes no movement.
 *
 * REBALANCE (the operator's `rebalance`): everything PLACE must place is placed, projects
 * pinned to an eligible engine go to it, and then the minimum number of further moves brings
 * every eligible engine within one project of its weighted fair share
 * share_i = P * w_i / W (P = all projects, W = total weight of the eligible engines):
 * each engine ends on floor(share_i) or ceil(share_i). Each project moves at most once: a
 * project that needs an owner goes straight to its final engine. When pins make that band
 * impossible (an engine pinned above its ceiling), pinned projects still never move and the
 * others are spread to minimise the sum of squared distances outside the bands, then moves.
 * See planner.c for the target rule and the proof of minimality.
 *
 * Limits: n_projects < 2^32 and weight < 2^32 keep every product in 64 bits; a larger
 * n_projects is refused (-1). Weight 0 is read as 1. Engine id 0 ("none") is never eligible;
 * when an id is listed twice, its first entry counts and later ones are ignored. */
#ifndef RAFTNODE_PLANNER_H
#define RAFTNODE_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct planner_engine {
    uint64_t id;     /* public: engine id, > 0 */
    unsigned weight; /* public: capacity, >= 1 (0 is read as 1) */
    bool eligible;   /* public: all/job, alive, not draining */
};

/* A project's identity is its index in the array; the caller keeps the names (sorted by name,
 * so that index order, hence the plan, is the same on every member). */
struct planner_project {
    uint64_t owner;  /* public: owning engine id, 0 = none */
    uint64_t pinned; /* public: pinned engine id, 0 = not pinned */
};

struct planner_move {
    size_t project; /* index into the projects array */
    uint64_t from;  /* the project's current owner (0 = none; may be an ineligible engine) */
    uint64_t to;    /* an eligible engine, never equal to from */
};

enum planner_mode { PLANNER_PLACE, PLANNER_REBALANCE };

/* Computes the plan of MODE. On success returns 0 and sets *MOVES to a malloc'd array of
 * *N_MOVES moves, ordered by project index, at most one per project; the caller frees it
 * (*MOVES may be NULL when *N_MOVES is 0: free(NULL) is fine). With no eligible engine the
 * plan is empty. Returns -1 when out of memory or n_projects >= 2^32; then *MOVES is NULL and
 * *N_MOVES 0. The inputs are only read. */
int planner_plan(const struct planner_engine *engines, size_t n_engines, const struct planner_project *projects,
                 size_t n_projects, enum planner_mode mode, struct planner_move **moves, size_t *n_moves);

/* PLACE on part of the projects, for a caller that keeps per-engine counts instead of
 * listing every project (raftnode/scheduler_core.c). HELD[i] is how many projects
 * ENGINES[i] owns that are NOT in PROJECTS; PROJECTS must contain every project that PLACE
 * may move (owner 0 or not an eligible engine), in the same relative order as in the full
 * list. The plan is then exactly planner_plan(PLACE) on the full list: omitted projects only
 * ever add to their owner's load, and listed ones are handed out in the same order. Project
 * indexes in *MOVES refer to PROJECTS. Also -1 when a count plus n_projects reaches 2^32. */
int planner_place_partial(const struct planner_engine *engines, const uint64_t *held, size_t n_engines,
                          const struct planner_project *projects, size_t n_projects, struct planner_move **moves,
                          size_t *n_moves);

/* The minimum number of moves a REBALANCE of this input needs; planner_plan(REBALANCE) returns
 * exactly that many. For tests and `rebalance --dry-run`. SIZE_MAX when out of memory or
 * n_projects >= 2^32. */
size_t planner_rebalance_lower_bound(const struct planner_engine *engines, size_t n_engines,
                                     const struct planner_project *projects, size_t n_projects);

#endif
