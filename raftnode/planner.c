/* planner: PLACE and REBALANCE plans as a pure, deterministic function (see planner.h).
 *
 * Cost: O(E log E + P log E) time, O(E + P) memory, for E engines and P projects: eligible
 * engines are sorted by id once and found again by binary search; PLACE keeps a heap of
 * engines ordered by load; REBALANCE sorts at most E engines. No step is O(P * E).
 *
 * REBALANCE, why the number of moves is minimal. Call a project *forced* when it must move
 * whatever the plan: it needs an owner (owner 0 or ineligible), or it is pinned to an eligible
 * engine other than its owner. Every other project is *free* if it is not pinned to an
 * eligible engine. For eligible engine i let
 *     a_i = projects pinned to i (they end on i, wherever they are now),
 *     c_i = a_i + free projects owned by i (what i holds before any balancing move).
 * A plan ending with f_i projects on i (sum f_i = P, f_i >= a_i) needs at least
 *     |forced| + sum_i max(0, c_i - f_i)
 * moves: forced projects move, and an engine left with fewer than c_i keeps its a_i pinned
 * projects, so it loses at least c_i - f_i free ones. The plan below reaches that bound
 * exactly: each donor gives exactly its excess (lowest project index first) into one pool
 * with the free projects that need an owner, and receivers take from the pool.
 *
 * Choosing the targets f_i. Each engine has the band [floor(share_i), ceil(share_i)].
 * We minimise, in this order, (1) the sum over engines of the squared distance of f_i outside
 * its band, (2) the number of moves above. Both are convex in each f_i separately, so
 * handing out units one at a time to the engine whose next unit costs least is optimal
 * (greedy on separable convex costs under one sum constraint). In the usual case, where every
 * engine can sit in its band, that greedy reduces to a closed form:
 *     f_i = max(a_i, floor_i), then the R = P - sum f_i remaining units go, one each, to
 *     engines still on their floor with a fractional share: first those that currently hold
 *     more than their floor (the unit saves a move), then larger fractional part, then lower id.
 * R never exceeds the candidates, because sum max(f_i, ceil_i) >= sum ceil_i >= P. When pins
 * make sum max(a_i, floor_i) exceed P (engines pinned past their share leave too little for
 * the others' floors), f_i starts at a_i and units go one at a time to the engine furthest
 * below its floor (ties: one still holding more than its f_i, then larger fraction, lower id).
 * Pinned projects never move in either case. The unit tests check all of this against a
 * dynamic programme and against exhaustive search over assignments of small clusters. */
#include "planner.h"

#include <stdlib.h>
#include <string.h>

#define NO_SLOT SIZE_MAX

/* One eligible engine; slots are sorted by id, so slot order is id order. */
struct slot {
    uint64_t id;
    uint64_t weight; /* >= 1 */
    uint64_t held;   /* PLACE: projects owned (growing as the plan assigns); REBALANCE: c_i */
    uint64_t pinned; /* REBALANCE: a_i, projects pinned here */
    uint64_t floor;  /* floor(P * w / W) */
    uint64_t rem;    /* (P * w) mod W: the fractional part of the share, times W */
    uint64_t target; /* REBALANCE: f_i */
    uint64_t give;   /* REBALANCE: free projects it gives away, max(0, c_i - f_i) */
    uint64_t room;   /* REBALANCE: projects it still takes, max(0, f_i - c_i) */
};

struct layout {
    struct slot *slots;
    size_t n_slots;
    size_t *owner_slot; /* per project: the slot of its owner, NO_SLOT when not eligible */
};

/* ---- eligible engines ---- */

static int slot_cmp_id(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    /* Same id twice: held temporarily carries the input position, so the first entry wins. */
    return x->held < y->held ? -1 : x->held > y->held;
}

static size_t slot_find(const struct layout *l, uint64_t id)
{
    size_t lo = 0, hi = l->n_slots;
    if (id == 0) {
        return NO_SLOT;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->slots[mid].id == id) {
            return mid;
        }
        if (l->slots[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NO_SLOT;
}

static void layout_free(struct layout *l)
{
    free(l->slots);
    free(l->owner_slot);
    memset(l, 0, sizeof *l);
}

/* Builds the sorted eligible slots and every project's owner slot; each slot starts holding
 * HELD[i] of its input entry i (PLACE on part of the projects), or 0 when HELD is NULL.
 * 0, or -1 (no memory). */
static int layout_build(struct layout *l, const struct planner_engine *engines, const uint64_t *held,
                        size_t n_engines, const struct planner_project *projects, size_t n_projects)
{
    size_t n = 0;

    memset(l, 0, sizeof *l);
    l->slots = malloc((n_engines ? n_engines : 1) * sizeof *l->slots);
    l->owner_slot = malloc((n_projects ? n_projects : 1) * sizeof *l->owner_slot);
    if (l->slots == NULL || l->owner_slot == NULL) {
        layout_free(l);
        return -1;
    }
    for (size_t i = 0; i < n_engines; i++) {
        if (!engines[i].eligible || engines[i].id == 0) {
            continue;
        }
        memset(&l->slots[n], 0, sizeof l->slots[n]);
        l->slots[n].id = engines[i].id;
        l->slots[n].weight = engines[i].weight ? engines[i].weight : 1;
        l->slots[n].held = i;
        n++;
    }
    qsort(l->slots, n, sizeof *l->slots, slot_cmp_id);
    /* Drop duplicate ids (keep the first input entry), then give the borrowed field its
     * real start value. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && l->slots[kept - 1].id == l->slots[i].id) {
            continue;
        }
        size_t input = (size_t)l->slots[i].held;
        l->slots[kept] = l->slots[i];
        l->slots[kept].held = held != NULL ? held[input] : 0;
        kept++;
    }
    l->n_slots = kept;
    for (size_t p = 0; p < n_projects; p++) {
        l->owner_slot[p] = slot_find(l, projects[p].owner);
    }
    return 0;
}

/* ---- a binary heap of slot indices ---- */

typedef bool (*slot_before_fn)(const struct slot *slots, size_t a, size_t b);

struct heap {
    size_t *items;
    size_t n;
    const struct slot *slots;
    slot_before_fn before;
};

static void heap_sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t best = i, l = 2 * i + 1, r = l + 1;
        if (l < h->n && h->before(h->slots, h->items[l], h->items[best])) {
            best = l;
        }
        if (r < h->n && h->before(h->slots, h->items[r], h->items[best])) {
            best = r;
        }
        if (best == i) {
            return;
        }
        size_t t = h->items[i];
        h->items[i] = h->items[best];
        h->items[best] = t;
        i = best;
    }
}

static void heap_build(struct heap *h)
{
    for (size_t i = h->n / 2; i-- > 0;) {
        heap_sift_down(h, i);
    }
}

/* PLACE order: lower load held/weight first (cross-multiplied: both factors < 2^32), then
 * lower id. */
static bool place_before(const struct slot *s, size_t a, size_t b)
{
    uint64_t la = s[a].held * s[b].weight, lb = s[b].held * s[a].weight;
    if (la != lb) {
        return la < lb;
    }
    return s[a].id < s[b].id;
}

/* ---- PLACE ---- */

/* Fills DEST (per project: the slot it goes to, or NO_SLOT) with the PLACE plan. */
static int place(struct layout *l, const struct planner_project *projects, size_t n_projects, size_t *dest)
{
    struct slot *s = l->slots;

    for (size_t p = 0; p < n_projects; p++) {
        dest[p] = NO_SLOT;
        if (l->owner_slot[p] != NO_SLOT) {
            s[l->owner_slot[p]].held++;
        }
    }
    /* Pinned projects first, so that the least-loaded choices below see them. */
    for (size_t p = 0; p < n_projects; p++) {
        if (l->owner_slot[p] == NO_SLOT && projects[p].pinned != 0) {
            size_t pin = slot_find(l, projects[p].pinned);
            if (pin != NO_SLOT) {
                dest[p] = pin;
                s[pin].held++;
            }
        }
    }
    struct heap h = {.n = l->n_slots, .slots = s, .before = place_before};
    h.items = malloc((l->n_slots ? l->n_slots : 1) * sizeof *h.items);
    if (h.items == NULL) {
        return -1;
    }
    for (size_t i = 0; i < l->n_slots; i++) {
        h.items[i] = i;
    }
    heap_build(&h);
    for (size_t p = 0; p < n_projects; p++) {
        if (l->owner_slot[p] == NO_SLOT && dest[p] == NO_SLOT) {
            size_t to = h.items[0];
            dest[p] = to;
            s[to].held++;
            heap_sift_down(&h, 0);
        }
    }
    free(h.items);
    return 0;
}

/* ---- REBALANCE ---- */

/* Counts a_i and c_i (see the top of the file); returns the number of forced projects. */
static size_t rebalance_count(struct layout *l, const struct planner_project *projects, size_t n_projects)
{
    size_t forced = 0;
    for (size_t p = 0; p < n_projects; p++) {
        size_t own = l->owner_slot[p];
        size_t pin = projects[p].pinned ? slot_find(l, projects[p].pinned) : NO_SLOT;
        if (pin != NO_SLOT) {
            l->slots[pin].pinned++;
            l->slots[pin].held++;
            forced += own != pin;
        } else if (own != NO_SLOT) {
            l->slots[own].held++;
        } else {
            forced++;
        }
    }
    return forced;
}

/* Ceiling candidates: holding more than the floor first (the unit saves a move), then larger
 * fractional part, then lower id. */
static bool ceil_before(const struct slot *s, size_t a, size_t b)
{
    bool ma = s[a].held > s[a].floor, mb = s[b].held > s[b].floor;
    if (ma != mb) {
        return ma;
    }
    if (s[a].rem != s[b].rem) {
        return s[a].rem > s[b].rem;
    }
    return s[a].id < s[b].id;
}

/* Below-floor order (pins made the bands infeasible): largest deficit first, then an engine
 * that holds more than its target (the unit saves a move), then larger fraction, lower id. */
static bool deficit_before(const struct slot *s, size_t a, size_t b)
{
    uint64_t da = s[a].floor - s[a].target, db = s[b].floor - s[b].target;
    if (da != db) {
        return da > db;
    }
    bool ma = s[a].held > s[a].target, mb = s[b].held > s[b].target;
    if (ma != mb) {
        return ma;
    }
    if (s[a].rem != s[b].rem) {
        return s[a].rem > s[b].rem;
    }
    return s[a].id < s[b].id;
}

/* Sorts the slot indices IDX[0..N) into BEFORE order. Heap sort, because qsort has no
 * context pointer and this module keeps no globals; E is small and this is O(E log E). */
static void slot_sort(const struct slot *slots, size_t *idx, size_t n, slot_before_fn before)
{
    struct heap h = {.items = idx, .n = n, .slots = slots, .before = before};
    heap_build(&h);
    /* Moving the root (the first in BEFORE order) to the back each time leaves IDX in reverse
     * BEFORE order; the loop after it reverses that. */
    while (h.n > 1) {
        size_t t = idx[0];
        idx[0] = idx[h.n - 1];
        idx[h.n - 1] = t;
        h.n--;
        heap_sift_down(&h, 0);
    }
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        size_t t = idx[i];
        idx[i] = idx[j - 1];
        idx[j - 1] = t;
    }
}

/* Receivers: most underloaded (most room left) first, then lower id. */
static bool room_before(const struct slot *s, size_t a, size_t b)
{
    if (s[a].room != s[b].room) {
        return s[a].room > s[b].room;
    }
    return s[a].id < s[b].id;
}

/* Sets every slot's target f_i (see the top of the file). P = n_projects. SCRATCH holds at
 * least n_slots indices. */
static void rebalance_targets(struct layout *l, uint64_t n_projects, size_t *scratch)
{
    struct slot *s = l->slots;
    uint64_t total_weight = 0, sum_base = 0, sum_pinned = 0;

    for (size_t i = 0; i < l->n_slots; i++) {
        total_weight += s[i].weight;
    }
    for (size_t i = 0; i < l->n_slots; i++) {
        uint64_t share_w = n_projects * s[i].weight; /* share * W; < 2^64 (see planner.h) */
        s[i].floor = share_w / total_weight;
        s[i].rem = share_w % total_weight;
        sum_base += s[i].pinned > s[i].floor ? s[i].pinned : s[i].floor;
        sum_pinned += s[i].pinned;
    }
    if (sum_base <= n_projects) {
        /* Every engine can sit in its band. */
        size_t n_cand = 0;
        for (size_t i = 0; i < l->n_slots; i++) {
            s[i].target = s[i].pinned > s[i].floor ? s[i].pinned : s[i].floor;
            if (s[i].target == s[i].floor && s[i].rem > 0) {
                scratch[n_cand++] = i;
            }
        }
        uint64_t ceilings = n_projects - sum_base; /* <= n_cand, see the top of the file */
        slot_sort(s, scratch, n_cand, ceil_before);
        for (size_t k = 0; k < n_cand && k < ceilings; k++) {
            s[scratch[k]].target++;
        }
        return;
    }
    /* Pins push the floors past P: fill the deepest deficits first, one unit at a time. Only
     * engines below their floor take units; their total deficit exceeds what is left. */
    struct heap h = {.items = scratch, .n = 0, .slots = s, .before = deficit_before};
    for (size_t i = 0; i < l->n_slots; i++) {
        s[i].target = s[i].pinned;
        if (s[i].target < s[i].floor) {
            scratch[h.n++] = i;
        }
    }
    heap_build(&h);
    for (uint64_t left = n_projects - sum_pinned; left > 0 && h.n > 0; left--) {
        size_t i = h.items[0];
        s[i].target++;
        if (s[i].target == s[i].floor) {
            h.items[0] = h.items[--h.n];
        }
        heap_sift_down(&h, 0);
    }
}

/* Fills DEST with the REBALANCE plan (see the top of the file). */
static int rebalance(struct layout *l, const struct planner_project *projects, size_t n_projects, size_t *dest)
{
    struct slot *s = l->slots;
    size_t *order = malloc((l->n_slots ? l->n_slots : 1) * sizeof *order);
    if (order == NULL) {
        return -1;
    }
    rebalance_count(l, projects, n_projects);
    rebalance_targets(l, n_projects, order);

    /* Forced pinned moves go to their pin; the pool (marked POOL in DEST) takes the free
     * projects that need an owner and each donor's excess, lowest project index first. */
    const size_t pool = SIZE_MAX - 1;
    size_t n_recv = 0;
    for (size_t i = 0; i < l->n_slots; i++) {
        s[i].give = s[i].held > s[i].target ? s[i].held - s[i].target : 0;
        s[i].room = s[i].target > s[i].held ? s[i].target - s[i].held : 0;
        if (s[i].room > 0) {
            order[n_recv++] = i;
        }
    }
    for (size_t p = 0; p < n_projects; p++) {
        size_t own = l->owner_slot[p];
        size_t pin = projects[p].pinned ? slot_find(l, projects[p].pinned) : NO_SLOT;
        dest[p] = NO_SLOT;
        if (pin != NO_SLOT) {
            if (own != pin) {
                dest[p] = pin;
            }
        } else if (own == NO_SLOT) {
            dest[p] = pool;
        } else if (s[own].give > 0) {
            s[own].give--;
            dest[p] = pool;
        }
    }
    /* The pool size equals the total room (sum f_i = P), so every pool member finds one. */
    slot_sort(s, order, n_recv, room_before);
    size_t k = 0;
    for (size_t p = 0; p < n_projects; p++) {
        if (dest[p] != pool) {
            continue;
        }
        while (k < n_recv && s[order[k]].room == 0) {
            k++;
        }
        if (k == n_recv) {
            dest[p] = NO_SLOT; /* unreachable (see above); staying put is the safe fallback */
            continue;
        }
        dest[p] = order[k];
        s[order[k]].room--;
    }
    free(order);
    return 0;
}

/* ---- public ---- */

/* planner_plan, and PLACE on part of the projects when HELD is not NULL. */
static int plan(const struct planner_engine *engines, const uint64_t *held, size_t n_engines,
                const struct planner_project *projects, size_t n_projects, enum planner_mode mode,
                struct planner_move **moves, size_t *n_moves)
{
    struct layout l;
    size_t *dest = NULL;
    size_t n = 0;
    int rc = -1;

    *moves = NULL;
    *n_moves = 0;
    if ((uint64_t)n_projects > UINT32_MAX) {
        return -1;
    }
    /* place_before multiplies counts by weights: every count must stay below 2^32. */
    for (size_t i = 0; held != NULL && i < n_engines; i++) {
        if (held[i] > UINT32_MAX - (uint64_t)n_projects) {
            return -1;
        }
    }
    if (layout_build(&l, engines, held, n_engines, projects, n_projects) != 0) {
        return -1;
    }
    if (l.n_slots == 0 || n_projects == 0) {
        rc = 0; /* nowhere to go, or nothing to place: projects stay as they are */
        goto out;
    }
    dest = malloc(n_projects * sizeof *dest);
    if (dest == NULL) {
        goto out;
    }
    if ((mode == PLANNER_REBALANCE ? rebalance(&l, projects, n_projects, dest)
                                   : place(&l, projects, n_projects, dest)) != 0) {
        goto out;
    }
    for (size_t p = 0; p < n_projects; p++) {
        n += dest[p] != NO_SLOT;
    }
    if (n > 0) {
        *moves = malloc(n * sizeof **moves);
        if (*moves == NULL) {
            goto out;
        }
        size_t k = 0;
        for (size_t p = 0; p < n_projects; p++) {
            if (dest[p] != NO_SLOT) {
                (*moves)[k].project = p;
                (*moves)[k].from = projects[p].owner;
                (*moves)[k].to = l.slots[dest[p]].id;
                k++;
            }
        }
        *n_moves = n;
    }
    rc = 0;
out:
    free(dest);
    layout_free(&l);
    return rc;
}

int planner_plan(const struct planner_engine *engines, size_t n_engines, const struct planner_project *projects,
                 size_t n_projects, enum planner_mode mode, struct planner_move **moves, size_t *n_moves)
{
    return plan(engines, NULL, n_engines, projects, n_projects, mode, moves, n_moves);
}

int planner_place_partial(const struct planner_engine *engines, const uint64_t *held, size_t n_engines,
                          const struct planner_project *projects, size_t n_projects, struct planner_move **moves,
                          size_t *n_moves)
{
    return plan(engines, held, n_engines, projects, n_projects, PLANNER_PLACE, moves, n_moves);
}

size_t planner_rebalance_lower_bound(const struct planner_engine *engines, size_t n_engines,
                                     const struct planner_project *projects, size_t n_projects)
{
    struct layout l;
    size_t bound = 0;

    if ((uint64_t)n_projects > UINT32_MAX) {
        return SIZE_MAX;
    }
    if (layout_build(&l, engines, NULL, n_engines, projects, n_projects) != 0) {
        return SIZE_MAX;
    }
    if (l.n_slots > 0 && n_projects > 0) {
        size_t *scratch = malloc(l.n_slots * sizeof *scratch);
        if (scratch == NULL) {
            layout_free(&l);
            return SIZE_MAX;
        }
        bound = rebalance_count(&l, projects, n_projects);
        rebalance_targets(&l, n_projects, scratch);
        for (size_t i = 0; i < l.n_slots; i++) {
            bound += l.slots[i].held > l.slots[i].target ? l.slots[i].held - l.slots[i].target : 0;
        }
        free(scratch);
    }
    layout_free(&l);
    return bound;
}
