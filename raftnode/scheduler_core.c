/* scheduler_core: liveness bookkeeping and plan computation of the leader (scheduler_core.h).
 * Pure with respect to time and I/O: the clock comes in as an argument, the state from the
 * store, and the results go back to the caller, who proposes them. */
#include "scheduler_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/loads.h"
#include "planner.h"

void sched_core_init(struct sched_core *c)
{
    memset(c, 0, sizeof *c);
}

void sched_core_close(struct sched_core *c)
{
    free(c->seen);
    memset(c, 0, sizeof *c);
}

struct sched_seen *sched_core_seen(struct sched_core *c, uint64_t id, bool create, uint64_t now_ms)
{
    for (size_t i = 0; i < c->n_seen; i++) {
        if (c->seen[i].id == id) {
            return &c->seen[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (c->n_seen == c->cap_seen) {
        size_t cap = c->cap_seen ? c->cap_seen * 2 : 16;
        struct sched_seen *p = realloc(c->seen, cap * sizeof *p);
        if (p == NULL) {
            return NULL;
        }
        c->seen = p;
        c->cap_seen = cap;
    }
    struct sched_seen *e = &c->seen[c->n_seen++];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->last_heard_ms = now_ms;
    return e;
}

struct sched_seen *sched_core_heard(struct sched_core *c, uint64_t id, uint64_t now_ms)
{
    struct sched_seen *e = sched_core_seen(c, id, true, now_ms);
    if (e != NULL) {
        e->last_heard_ms = now_ms;
    }
    return e;
}

void sched_core_become_leader(struct sched_core *c, uint64_t now_ms)
{
    c->leader_since_ms = now_ms;
    c->planned_version = UINT64_MAX; /* plan once on the current state */
    c->plan_inflight = 0;
    c->bulk_until_ms = 0;
    c->backlog = false;
    for (size_t i = 0; i < c->n_seen; i++) {
        c->seen[i].last_heard_ms = now_ms;
        c->seen[i].dead_pending = false;
        c->seen[i].set_pending = false;
    }
}

size_t sched_core_due(struct sched_core *c, const struct store_engine *engines, size_t n, uint64_t now_ms,
                      uint64_t timeout_ms, struct sched_due *due)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_engine *e = &engines[i];
        struct sched_seen *seen;
        if (!e->alive || !e->race_enabled) {
            continue; /* single-engine mode: nothing fails over */
        }
        seen = sched_core_seen(c, e->id, true, now_ms);
        if (seen == NULL || seen->dead_pending) {
            continue;
        }
        /* The leader's own clock only; a new leader counts from its election (DESIGN.md). */
        uint64_t last = seen->last_heard_ms > c->leader_since_ms ? seen->last_heard_ms : c->leader_since_ms;
        if (now_ms - last <= timeout_ms) {
            continue;
        }
        due[k++] = (struct sched_due){.id = e->id, .silence_ms = now_ms - last, .projects = e->projects};
    }
    return k;
}

void sched_core_mark_dead_pending(struct sched_core *c, uint64_t id, bool pending)
{
    struct sched_seen *e = sched_core_seen(c, id, false, 0);
    if (e != NULL) {
        e->dead_pending = pending;
    }
}

int64_t sched_core_silence_ms(struct sched_core *c, uint64_t id, uint64_t now_ms)
{
    struct sched_seen *e = sched_core_seen(c, id, false, 0);
    if (e == NULL) {
        return -1;
    }
    return (int64_t)(now_ms - e->last_heard_ms);
}

/* ---- placement ---- */

bool sched_core_place_due(const struct sched_core *c, uint64_t ownership_version, size_t declared)
{
    return c->plan_inflight == 0 && (declared > 0 || c->planned_version != ownership_version);
}

bool sched_core_place_wait(const struct sched_core *c, size_t declared, uint64_t now_ms)
{
    return declared == 0 && now_ms < c->bulk_until_ms;
}

void sched_core_placed(struct sched_core *c, uint64_t ownership_version, size_t moves, uint64_t now_ms)
{
    c->planned_version = ownership_version;
    c->backlog = moves >= SCHED_PLACE_MAX_MOVES;
    /* A plan cut at SCHED_PLACE_MAX_MOVES is a backlog: the next part follows at once. */
    c->bulk_until_ms =
        moves >= SCHED_BULK_MOVES && moves < SCHED_PLACE_MAX_MOVES ? now_ms + SCHED_BULK_INTERVAL_MS : 0;
}

void sched_core_placed_declaring(struct sched_core *c, size_t declared)
{
    if (declared > 0) {
        c->planned_version = UINT64_MAX;
    }
}

bool sched_core_backlog_due(const struct sched_core *c)
{
    return c->backlog && c->plan_inflight == 0;
}

void sched_core_move_proposed(struct sched_core *c)
{
    c->plan_inflight++;
}

void sched_core_move_done(struct sched_core *c, int status)
{
    if (c->plan_inflight > 0) {
        c->plan_inflight--;
    }
    if (status != 0 && status != 1) {
        /* Lost: the state does not show it, so the version alone would never plan again. */
        c->planned_version = UINT64_MAX;
    }
}

static bool mode_can_own(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

/* The single-engine-mode engine (kylin.server.leader-race.enabled=false), or 0. */
static uint64_t single_engine(const struct store_engine *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!e[i].race_enabled && mode_can_own(e[i].mode)) {
            return e[i].id;
        }
    }
    return 0;
}

/* Invariant 3 as the planner sees it; an engine with engine_dead in flight is already gone. */
static bool eligible(struct sched_core *c, const struct store_engine *e, uint64_t single)
{
    struct sched_seen *seen = sched_core_seen(c, e->id, false, 0);
    if (single != 0) {
        /* Single-engine mode: that engine owns everything and is never declared dead. */
        return e->id == single && e->alive && !e->draining;
    }
    return mode_can_own(e->mode) && e->alive && !e->draining && !(seen != NULL && seen->dead_pending);
}

static const char *move_reason(const struct store_engine *engines, size_t n, const struct store_project_row *p,
                               uint64_t to)
{
    if (p->owner == 0) {
        return p->epoch == 0 ? "new" : "restore";
    }
    if (p->pinned != 0 && p->pinned == to) {
        return "move";
    }
    for (size_t i = 0; i < n; i++) {
        if (engines[i].id == p->owner) {
            return engines[i].draining ? "drain" : "failover";
        }
    }
    return "failover";
}

void sched_plan_free(struct sched_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->moves[i].project);
    }
    free(p->moves);
    memset(p, 0, sizeof *p);
}

/* Fills OUT->moves from the planner's MOVES over the project rows ROWS (whose indexes the
 * moves use) and the engines ENGINES / PE (same order). 0, or -1 (out of memory: OUT empty). */
static int fill_moves(struct sched_plan *out, const struct store_engine *engines, const struct planner_engine *pe,
                      size_t ne, const struct store_project_row *rows, const struct planner_move *moves, size_t nm,
                      bool rebalance)
{
    out->moves = calloc(nm ? nm : 1, sizeof *out->moves);
    if (out->moves == NULL) {
        return -1;
    }
    for (size_t i = 0; i < nm; i++) {
        const struct store_project_row *p = &rows[moves[i].project];
        out->moves[i].project = strdup(p->name);
        if (out->moves[i].project == NULL) {
            sched_plan_free(out);
            return -1;
        }
        out->moves[i].from = moves[i].from;
        out->moves[i].to = moves[i].to;
        out->moves[i].reason = rebalance && p->owner != 0 && moves[i].from == p->owner &&
                                       !(p->pinned == moves[i].to)
                                   ? "rebalance"
                                   : move_reason(engines, ne, p, moves[i].to);
        out->n++;
    }
    /* A rebalance also fixes unplaced projects; only genuinely balancing moves say "rebalance". */
    if (rebalance) {
        for (size_t i = 0; i < out->n; i++) {
            const struct store_project_row *p = &rows[moves[i].project];
            bool owner_eligible = false;
            for (size_t j = 0; j < ne; j++) {
                if (pe[j].id == p->owner) {
                    owner_eligible = pe[j].eligible;
                }
            }
            if (!owner_eligible) {
                out->moves[i].reason = move_reason(engines, ne, p, moves[i].to);
            }
        }
    }
    return 0;
}

/* REBALANCE needs every project (each one counts in the fair shares): the whole state. */
int sched_core_rebalance_begin(struct sched_core *c, struct store *st, struct sched_rebalance *r)
{
    memset(r, 0, sizeof *r);
    if (store_load_engines(st, &r->engines, &r->ne) != 0) {
        snprintf(r->errmsg, sizeof r->errmsg, "%s", st->errmsg);
        return -1;
    }
    uint64_t single = single_engine(r->engines, r->ne);
    r->pe = calloc(r->ne ? r->ne : 1, sizeof *r->pe);
    if (r->pe == NULL) {
        sched_core_rebalance_free(r);
        return -1;
    }
    for (size_t i = 0; i < r->ne; i++) {
        r->pe[i].id = r->engines[i].id;
        r->pe[i].weight = r->engines[i].weight;
        r->pe[i].eligible = eligible(c, &r->engines[i], single);
    }
    return 0;
}

int sched_core_rebalance_plan(struct sched_rebalance *r, struct sched_plan *out)
{
    struct planner_project *pp = calloc(r->np ? r->np : 1, sizeof *pp);
    struct planner_move *moves = NULL;
    size_t nm = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (pp == NULL) {
        return -1;
    }
    for (size_t i = 0; i < r->np; i++) {
        pp[i].owner = r->projects[i].owner;
        pp[i].pinned = r->projects[i].pinned;
    }
    if (planner_plan(r->pe, r->ne, pp, r->np, PLANNER_REBALANCE, &moves, &nm) == 0) {
        out->lower_bound = planner_rebalance_lower_bound(r->pe, r->ne, pp, r->np);
        rc = fill_moves(out, r->engines, r->pe, r->ne, r->projects, moves, nm, true);
    }
    free(moves);
    free(pp);
    return rc;
}

void sched_core_rebalance_free(struct sched_rebalance *r)
{
    free(r->engines);
    free(r->pe);
    store_free_projects(r->projects, r->np);
    r->engines = NULL;
    r->pe = NULL;
    r->projects = NULL;
    r->ne = r->np = 0;
}

static int plan_rebalance(struct sched_core *c, struct store *st, struct sched_plan *out)
{
    struct sched_rebalance r;
    if (sched_core_rebalance_begin(c, st, &r) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", r.errmsg);
        return -1;
    }
    int rc = -1;
    if (store_load_projects(st, &r.projects, &r.np) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", st->errmsg);
    } else {
        rc = sched_core_rebalance_plan(&r, out);
    }
    sched_core_rebalance_free(&r);
    return rc;
}

/* Whether engine ID is in PE (sorted by id, as store_loads_engines returns them) and eligible. */
static bool id_eligible(const struct planner_engine *pe, size_t ne, uint64_t id)
{
    size_t lo = 0, hi = ne;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pe[mid].id == id) {
            return pe[mid].eligible;
        }
        if (pe[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Keeps the first MAX of the PLACE plan MOVES/N (in place) in the order the planner decides
 * them: projects going to their pin first (their target does not depend on any load), then
 * the others in project order. The next plan, computed once these are applied, then
 * continues exactly where this one stops: its state is the planner's own state after these
 * moves. Returns how many were kept, SIZE_MAX when out of memory. */
static size_t first_moves(struct planner_move *moves, size_t n, const struct planner_project *pp, size_t max)
{
    if (n <= max) {
        return n;
    }
    struct planner_move *first = malloc(max * sizeof *first);
    if (first == NULL) {
        return SIZE_MAX;
    }
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) { /* pinned ones, then the others; index order in each */
        for (size_t i = 0; i < n && k < max; i++) {
            if ((pp[moves[i].project].pinned == moves[i].to) == (pass == 0)) {
                first[k++] = moves[i];
            }
        }
    }
    memcpy(moves, first, k * sizeof *moves);
    free(first);
    return k;
}

/* PLACE reads only what it can change: the engines with their project counts (kept by the
 * store, storage/loads.h) and the projects needing an owner (none, or an owner that is not
 * eligible), in name order. planner_place_partial then gives exactly the plan that
 * planner_plan(PLACE) gives on every project (planner.h), at O(E + k log P) for k such
 * projects instead of O(P), and k at most SCHED_PLACE_MAX_MOVES per group when nothing is
 * pinned. */
static int plan_place(struct sched_core *c, struct store *st, struct sched_plan *out)
{
    struct store_engine *engines = NULL;
    struct store_load *loads = NULL;
    struct store_project_row *rows = NULL;
    size_t ne = 0, nl = 0, np = 0, nm = 0, n_owners = 0;
    struct planner_engine *pe = NULL;
    struct planner_project *pp = NULL;
    struct planner_move *moves = NULL;
    uint64_t *held = NULL, *owners = NULL;
    bool any_eligible = false;
    int rc = -1;

    if (store_loads_engines(st, &engines, &ne) != 0 || store_loads(st, &loads, &nl) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", st->errmsg);
        goto out;
    }
    uint64_t single = single_engine(engines, ne);
    pe = calloc(ne ? ne : 1, sizeof *pe);
    held = calloc(ne ? ne : 1, sizeof *held);
    owners = calloc(nl ? nl : 1, sizeof *owners);
    if (pe == NULL || held == NULL || owners == NULL) {
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        pe[i].id = engines[i].id;
        pe[i].weight = engines[i].weight;
        pe[i].eligible = eligible(c, &engines[i], single);
        held[i] = engines[i].projects;
        any_eligible = any_eligible || pe[i].eligible;
    }
    if (!any_eligible) {
        rc = 0; /* nowhere to go: PLACE moves nothing (planner.h) */
        goto out;
    }
    /* Owners that cannot keep their projects: dead, draining, query mode, engine_dead in
     * flight, or an id without an engines row. */
    for (size_t i = 0; i < nl; i++) {
        if (!id_eligible(pe, ne, loads[i].engine)) {
            owners[n_owners++] = loads[i].engine;
        }
    }
    /* Only the first SCHED_PLACE_MAX_MOVES of them when nothing is pinned (loads.h): the plan is
     * cut to that many moves below, and without pins those are the first that many projects
     * by name, each placed by the loads of the ones before it. Reading the whole backlog made
     * every tick O(backlog): 64 clients adding faster than the 256 moves a tick places grew it
     * by ~1,000 a second, and the leader's loop read it all 20 times a second. */
    if (store_load_projects_needing(st, true, owners, n_owners, SCHED_PLACE_MAX_MOVES, &rows, &np) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", st->errmsg);
        goto out;
    }
    pp = calloc(np ? np : 1, sizeof *pp);
    if (pp == NULL) {
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        pp[i].owner = rows[i].owner;
        pp[i].pinned = rows[i].pinned;
    }
    if (planner_place_partial(pe, held, ne, pp, np, &moves, &nm) != 0) {
        goto out;
    }
    nm = first_moves(moves, nm, pp, SCHED_PLACE_MAX_MOVES);
    if (nm == SIZE_MAX) {
        goto out;
    }
    rc = fill_moves(out, engines, pe, ne, rows, moves, nm, false);
out:
    free(moves);
    free(pp);
    free(owners);
    free(held);
    free(pe);
    free(loads);
    free(engines);
    store_free_projects(rows, np);
    return rc;
}

int sched_core_plan(struct sched_core *c, struct store *st, bool rebalance, struct sched_plan *out)
{
    memset(out, 0, sizeof *out);
    c->errmsg[0] = '\0';
    return rebalance ? plan_rebalance(c, st, out) : plan_place(c, st, out);
}
