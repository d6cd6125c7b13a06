/* Unit tests for raftnode/planner.c (DESIGN.md "Placement", invariant 3): PLACE and REBALANCE
 * on hand-made clusters, and on random ones against independent oracles: a step-by-step PLACE
 * simulation, a dynamic programme over engine counts and an exhaustive search over every
 * assignment of tiny clusters; PLACE on part of the projects (held counts) against the full
 * PLACE. Needs only raftnode/planner.c. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/planner.h"

#define MAX_E 8
#define MAX_P 40

/* ---- helpers ---- */

struct plan {
    struct planner_move *moves;
    size_t n;
};

static struct plan plan_of(const struct planner_engine *e, size_t ne, const struct planner_project *p, size_t np,
                           enum planner_mode mode)
{
    struct plan pl = {NULL, 0};
    assert_int_equal(planner_plan(e, ne, p, np, mode, &pl.moves, &pl.n), 0);
    return pl;
}

static const struct planner_engine *engine_by_id(const struct planner_engine *e, size_t ne, uint64_t id)
{
    for (size_t i = 0; i < ne; i++) {
        if (e[i].id == id) {
            return &e[i];
        }
    }
    return NULL;
}

static bool is_eligible(const struct planner_engine *e, size_t ne, uint64_t id)
{
    const struct planner_engine *x = id ? engine_by_id(e, ne, id) : NULL;
    return x != NULL && x->eligible;
}

/* Checks what every plan must satisfy and writes the owners after applying it into OWNERS. */
static void check_and_apply(const struct planner_engine *e, size_t ne, const struct planner_project *p, size_t np,
                            const struct plan *pl, uint64_t *owners)
{
    for (size_t i = 0; i < np; i++) {
        owners[i] = p[i].owner;
    }
    for (size_t k = 0; k < pl->n; k++) {
        const struct planner_move *m = &pl->moves[k];
        assert_true(m->project < np);
        if (k > 0) {
            assert_true(pl->moves[k - 1].project < m->project); /* ordered, one per project */
        }
        assert_int_equal(m->from, p[m->project].owner);
        assert_true(m->to != m->from);
        assert_true(is_eligible(e, ne, m->to)); /* invariant 3 */
        owners[m->project] = m->to;
    }
}

static size_t count_owned(const uint64_t *owners, size_t np, uint64_t id)
{
    size_t c = 0;
    for (size_t i = 0; i < np; i++) {
        c += owners[i] == id;
    }
    return c;
}

static uint64_t total_eligible_weight(const struct planner_engine *e, size_t ne)
{
    uint64_t w = 0;
    for (size_t i = 0; i < ne; i++) {
        w += e[i].eligible ? e[i].weight : 0;
    }
    return w;
}

/* Squared distance of F outside [floor(share), ceil(share)], share = NP * W / TW. */
static uint64_t band_cost(uint64_t f, uint64_t np, uint64_t w, uint64_t tw)
{
    uint64_t fl = np * w / tw, ce = fl + (np * w % tw != 0);
    uint64_t d = f < fl ? fl - f : f > ce ? f - ce : 0;
    return d * d;
}

static uint64_t imbalance(const struct planner_engine *e, size_t ne, const uint64_t *owners, size_t np)
{
    uint64_t tw = total_eligible_weight(e, ne), d = 0;
    for (size_t i = 0; i < ne; i++) {
        if (e[i].eligible) {
            d += band_cost(count_owned(owners, np, e[i].id), np, e[i].weight, tw);
        }
    }
    return d;
}

/* Every eligible engine strictly within one project of its weighted share. */
static void assert_within_one(const struct planner_engine *e, size_t ne, const uint64_t *owners, size_t np)
{
    double tw = (double)total_eligible_weight(e, ne);
    for (size_t i = 0; i < ne; i++) {
        if (e[i].eligible) {
            double share = (double)np * e[i].weight / tw;
            double got = (double)count_owned(owners, np, e[i].id);
            assert_true(got - share < 1.0 && share - got < 1.0);
        }
    }
}

/* xorshift64*: the tests' own deterministic generator. */
static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static unsigned rnd(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd_next(s) % n);
}

/* A random cluster: unique ids, weights 1..4, about 80% eligible, owners skewed to a few
 * engines with some unowned, ineligible or unknown owners, PIN_PCT% pinned (to any engine). */
static void random_cluster(uint64_t *seed, size_t max_e, size_t max_p, unsigned pin_pct, struct planner_engine *e,
                           size_t *ne, struct planner_project *p, size_t *np)
{
    uint64_t ids[20];
    for (unsigned i = 0; i < 20; i++) {
        ids[i] = i + 1;
    }
    for (unsigned i = 19; i > 0; i--) {
        unsigned j = rnd(seed, i + 1);
        uint64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
    *ne = 1 + rnd(seed, (unsigned)max_e);
    for (size_t i = 0; i < *ne; i++) {
        e[i].id = ids[i];
        e[i].weight = 1 + rnd(seed, 4);
        e[i].eligible = rnd(seed, 10) < 8;
    }
    *np = rnd(seed, (unsigned)max_p + 1);
    size_t hot = 1 + rnd(seed, (unsigned)*ne); /* owners come mostly from the first HOT engines */
    for (size_t i = 0; i < *np; i++) {
        unsigned r = rnd(seed, 100);
        p[i].owner = r < 12 ? 0 : r < 16 ? 99 : r < 70 ? e[rnd(seed, (unsigned)hot)].id : e[rnd(seed, (unsigned)*ne)].id;
        p[i].pinned = rnd(seed, 100) < pin_pct ? e[rnd(seed, (unsigned)*ne)].id : 0;
    }
}

/* ---- oracles ---- */

/* PLACE simulated step by step, O(P * E): the rule as the design states it. */
static void oracle_place(const struct planner_engine *e, size_t ne, const struct planner_project *p, size_t np,
                         uint64_t *owners)
{
    uint64_t load[MAX_E] = {0};
    bool needs[MAX_P];
    for (size_t i = 0; i < np; i++) {
        owners[i] = p[i].owner;
        needs[i] = !is_eligible(e, ne, p[i].owner);
        for (size_t j = 0; j < ne; j++) {
            load[j] += !needs[i] && e[j].id == p[i].owner;
        }
    }
    bool any = false;
    for (size_t j = 0; j < ne; j++) {
        any |= e[j].eligible;
    }
    if (!any) {
        return;
    }
    for (size_t i = 0; i < np; i++) {
        if (needs[i] && is_eligible(e, ne, p[i].pinned)) {
            owners[i] = p[i].pinned;
            for (size_t j = 0; j < ne; j++) {
                load[j] += e[j].id == p[i].pinned;
            }
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (!needs[i] || is_eligible(e, ne, p[i].pinned)) {
            continue;
        }
        size_t best = SIZE_MAX;
        for (size_t j = 0; j < ne; j++) {
            if (!e[j].eligible) {
                continue;
            }
            if (best == SIZE_MAX) {
                best = j;
                continue;
            }
            double lj = (double)load[j] / e[j].weight, lb = (double)load[best] / e[best].weight;
            if (lj < lb || (lj == lb && e[j].id < e[best].id)) {
                best = j;
            }
        }
        owners[i] = e[best].id;
        load[best]++;
    }
}

/* The best (imbalance, moves) of REBALANCE by a dynamic programme over the final count of each
 * eligible engine; the cost of a count vector is derived from the projects directly. */
static void oracle_dp(const struct planner_engine *e, size_t ne, const struct planner_project *p, size_t np,
                      uint64_t *best_imbalance, uint64_t *best_moves)
{
    const uint64_t big = 1000000;
    uint64_t tw = total_eligible_weight(e, ne);
    uint64_t cost[MAX_P + 1], next[MAX_P + 1];
    uint64_t fixed_moves = 0;

    if (tw == 0 || np == 0) {
        *best_imbalance = *best_moves = 0;
        return;
    }
    /* Projects that move whatever the counts: no eligible owner, or pinned elsewhere. */
    for (size_t i = 0; i < np; i++) {
        bool pin = is_eligible(e, ne, p[i].pinned);
        fixed_moves += !is_eligible(e, ne, p[i].owner) || (pin && p[i].pinned != p[i].owner);
    }
    for (size_t s = 0; s <= np; s++) {
        cost[s] = s == 0 ? 0 : UINT64_MAX;
    }
    for (size_t j = 0; j < ne; j++) {
        if (!e[j].eligible) {
            continue;
        }
        /* It ends with its pinned projects plus f - pinned_here others, so of the unpinned
         * projects it owns now at most that many stay; the rest leave. */
        uint64_t pinned_here = 0, unpinned_here = 0;
        for (size_t i = 0; i < np; i++) {
            bool pin = is_eligible(e, ne, p[i].pinned);
            pinned_here += pin && p[i].pinned == e[j].id;
            unpinned_here += !pin && p[i].owner == e[j].id;
        }
        for (size_t s = 0; s <= np; s++) {
            next[s] = UINT64_MAX;
        }
        for (size_t s = 0; s <= np; s++) {
            if (cost[s] == UINT64_MAX) {
                continue;
            }
            for (uint64_t f = pinned_here; s + f <= np; f++) {
                uint64_t room = f - pinned_here;
                uint64_t leave = unpinned_here > room ? unpinned_here - room : 0;
                uint64_t c = cost[s] + band_cost(f, np, e[j].weight, tw) * big + leave;
                if (c < next[s + f]) {
                    next[s + f] = c;
                }
            }
        }
        memcpy(cost, next, sizeof cost);
    }
    assert_true(cost[np] != UINT64_MAX);
    *best_imbalance = cost[np] / big;
    *best_moves = cost[np] % big + fixed_moves;
}

/* The best (imbalance, moves) over EVERY assignment of the projects to eligible engines that
 * keeps pins: tiny clusters only. */
static void oracle_exhaustive(const struct planner_engine *e, size_t ne, const struct planner_project *p, size_t np,
                              uint64_t *best_imbalance, uint64_t *best_moves)
{
    uint64_t elig[MAX_E], owners[MAX_P];
    size_t m = 0, digits[MAX_P] = {0};
    for (size_t j = 0; j < ne; j++) {
        if (e[j].eligible) {
            elig[m++] = e[j].id;
        }
    }
    *best_imbalance = *best_moves = UINT64_MAX;
    if (m == 0 || np == 0) {
        *best_imbalance = *best_moves = 0;
        return;
    }
    for (;;) {
        bool ok = true;
        uint64_t moves = 0;
        for (size_t i = 0; i < np; i++) {
            owners[i] = elig[digits[i]];
            ok &= !is_eligible(e, ne, p[i].pinned) || owners[i] == p[i].pinned;
            moves += owners[i] != p[i].owner;
        }
        if (ok) {
            uint64_t d = imbalance(e, ne, owners, np);
            if (d < *best_imbalance || (d == *best_imbalance && moves < *best_moves)) {
                *best_imbalance = d;
                *best_moves = moves;
            }
        }
        size_t i = 0;
        while (i < np && ++digits[i] == m) {
            digits[i++] = 0;
        }
        if (i == np) {
            break;
        }
    }
}

/* ---- empty and degenerate inputs ---- */

static void test_empty_inputs(void **state)
{
    (void)state;
    struct planner_engine e[1] = {{1, 1, true}};
    struct planner_project p[1] = {{0, 0}};
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan a = plan_of(NULL, 0, NULL, 0, (enum planner_mode)mode);
        assert_int_equal(a.n, 0);
        free(a.moves);
        struct plan b = plan_of(e, 1, NULL, 0, (enum planner_mode)mode);
        assert_int_equal(b.n, 0);
        free(b.moves);
        struct plan c = plan_of(NULL, 0, p, 1, (enum planner_mode)mode);
        assert_int_equal(c.n, 0);
        free(c.moves);
    }
    assert_int_equal(planner_rebalance_lower_bound(NULL, 0, NULL, 0), 0);
    assert_int_equal(planner_rebalance_lower_bound(e, 1, NULL, 0), 0);
    assert_int_equal(planner_rebalance_lower_bound(NULL, 0, p, 1), 0);
}

/* No eligible engine: projects stay unowned (or with their dead owner); nothing moves. */
static void test_no_eligible_engine_no_moves(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, false}, {2, 3, false}, {3, 1, false}};
    struct planner_project p[4] = {{0, 0}, {1, 0}, {2, 2}, {7, 0}};
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan pl = plan_of(e, 3, p, 4, (enum planner_mode)mode);
        assert_int_equal(pl.n, 0);
        assert_null(pl.moves);
        free(pl.moves);
    }
    assert_int_equal(planner_rebalance_lower_bound(e, 3, p, 4), 0);
}

static void test_one_engine(void **state)
{
    (void)state;
    struct planner_engine e[2] = {{5, 1, true}, {6, 1, false}};
    struct planner_project p[4] = {{0, 0}, {5, 0}, {6, 0}, {0, 6}};
    uint64_t owners[4];
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan pl = plan_of(e, 2, p, 4, (enum planner_mode)mode);
        check_and_apply(e, 2, p, 4, &pl, owners);
        assert_int_equal(pl.n, 3);
        assert_int_equal(count_owned(owners, 4, 5), 4);
        free(pl.moves);
    }
    assert_int_equal(planner_rebalance_lower_bound(e, 2, p, 4), 3);
}

/* ---- PLACE ---- */

/* 3 engines 10/10/10, one dies: its 10 projects spread 5/5 over the survivors. */
static void test_place_dead_engine_spreads_evenly(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 1, false}, {3, 1, true}};
    struct planner_project p[30];
    uint64_t owners[30];
    for (size_t i = 0; i < 30; i++) {
        p[i] = (struct planner_project){.owner = 1 + i % 3, .pinned = 0};
    }
    struct plan pl = plan_of(e, 3, p, 30, PLANNER_PLACE);
    check_and_apply(e, 3, p, 30, &pl, owners);
    assert_int_equal(pl.n, 10);
    for (size_t k = 0; k < pl.n; k++) {
        assert_int_equal(pl.moves[k].from, 2);
    }
    assert_int_equal(count_owned(owners, 30, 1), 15);
    assert_int_equal(count_owned(owners, 30, 3), 15);
    free(pl.moves);
}

/* Survivors 12 and 8: the dead engine's first 4 projects all go to the lighter one, the rest
 * alternate (least-loaded first, ties to the lower id). */
static void test_place_least_loaded_first(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 1, true}, {3, 1, false}};
    struct planner_project p[30];
    uint64_t owners[30];
    for (size_t i = 0; i < 30; i++) {
        p[i].owner = i < 12 ? 1 : i < 20 ? 2 : 3;
        p[i].pinned = 0;
    }
    struct plan pl = plan_of(e, 3, p, 30, PLANNER_PLACE);
    check_and_apply(e, 3, p, 30, &pl, owners);
    assert_int_equal(pl.n, 10);
    const uint64_t want[10] = {2, 2, 2, 2, 1, 2, 1, 2, 1, 2};
    for (size_t k = 0; k < 10; k++) {
        assert_int_equal(pl.moves[k].project, 20 + k);
        assert_int_equal(pl.moves[k].to, want[k]);
    }
    assert_int_equal(count_owned(owners, 30, 1), 15);
    assert_int_equal(count_owned(owners, 30, 2), 15);
    free(pl.moves);
}

/* An engine coming back (or a skewed cluster) causes no movement in PLACE. */
static void test_place_never_moves_eligible_owner(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 1, true}, {3, 2, true}};
    struct planner_project p[20];
    for (size_t i = 0; i < 20; i++) {
        p[i].owner = 1;
        p[i].pinned = i == 3 ? 2 : 0; /* pinned elsewhere, but its owner is eligible */
    }
    struct plan pl = plan_of(e, 3, p, 20, PLANNER_PLACE);
    assert_int_equal(pl.n, 0);
    free(pl.moves);
}

/* Weighted least-loaded: load = projects / weight. */
static void test_place_weighted(void **state)
{
    (void)state;
    struct planner_engine e[2] = {{1, 1, true}, {2, 3, true}};
    struct planner_project p[8] = {{0, 0}};
    uint64_t owners[8];
    struct plan pl = plan_of(e, 2, p, 8, PLANNER_PLACE);
    check_and_apply(e, 2, p, 8, &pl, owners);
    assert_int_equal(pl.n, 8);
    assert_int_equal(count_owned(owners, 8, 1), 2);
    assert_int_equal(count_owned(owners, 8, 2), 6);
    free(pl.moves);
}

/* Ineligible engines (dead, draining, query mode) never receive, even when empty. */
static void test_ineligible_never_receives(void **state)
{
    (void)state;
    struct planner_engine e[4] = {{1, 1, true}, {2, 5, false}, {3, 1, true}, {4, 9, false}};
    struct planner_project p[12];
    uint64_t owners[12];
    for (size_t i = 0; i < 12; i++) {
        p[i].owner = i < 8 ? 1 : 0;
        p[i].pinned = i == 9 ? 2 : i == 10 ? 4 : 0; /* pins to ineligible engines are ignored */
    }
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan pl = plan_of(e, 4, p, 12, (enum planner_mode)mode);
        check_and_apply(e, 4, p, 12, &pl, owners);
        assert_int_equal(count_owned(owners, 12, 2), 0);
        assert_int_equal(count_owned(owners, 12, 4), 0);
        assert_int_equal(count_owned(owners, 12, 0), 0);
        free(pl.moves);
    }
}

/* ---- pins ---- */

static void test_pinned_respected(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 1, true}, {3, 1, true}};
    struct planner_project p[10];
    uint64_t owners[10];
    for (size_t i = 0; i < 10; i++) {
        p[i] = (struct planner_project){.owner = 1, .pinned = 1}; /* all pinned to 1 */
    }
    p[7] = (struct planner_project){.owner = 0, .pinned = 1};  /* unowned: PLACE puts it on 1 */
    p[8] = (struct planner_project){.owner = 2, .pinned = 3};  /* elsewhere: REBALANCE moves it */
    p[9] = (struct planner_project){.owner = 0, .pinned = 0};

    struct plan pl = plan_of(e, 3, p, 10, PLANNER_PLACE);
    check_and_apply(e, 3, p, 10, &pl, owners);
    assert_int_equal(pl.n, 2);
    assert_int_equal(owners[7], 1); /* to its pin although engine 1 is the most loaded */
    assert_int_equal(owners[8], 2); /* owner eligible: PLACE leaves it */
    assert_true(owners[9] == 2 || owners[9] == 3);
    free(pl.moves);

    pl = plan_of(e, 3, p, 10, PLANNER_REBALANCE);
    check_and_apply(e, 3, p, 10, &pl, owners);
    for (size_t i = 0; i < 10; i++) {
        if (p[i].pinned != 0) {
            assert_int_equal(owners[i], p[i].pinned);
        }
    }
    assert_int_equal(pl.n, planner_rebalance_lower_bound(e, 3, p, 10));
    free(pl.moves);
}

/* Pins make the band impossible: 4 pinned to engine 1 of 3, 6 projects. The others share the
 * rest evenly (1/1, not 2/0), and the pinned projects stay. */
static void test_pins_make_balance_impossible(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 1, true}, {3, 1, true}};
    struct planner_project p[6] = {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {2, 0}, {2, 0}};
    uint64_t owners[6];
    struct plan pl = plan_of(e, 3, p, 6, PLANNER_REBALANCE);
    check_and_apply(e, 3, p, 6, &pl, owners);
    assert_int_equal(pl.n, 1);
    assert_int_equal(pl.moves[0].project, 4);
    assert_int_equal(pl.moves[0].to, 3);
    assert_int_equal(count_owned(owners, 6, 1), 4);
    assert_int_equal(count_owned(owners, 6, 2), 1);
    assert_int_equal(count_owned(owners, 6, 3), 1);
    assert_int_equal(planner_rebalance_lower_bound(e, 3, p, 6), 1);
    free(pl.moves);
}

/* ---- REBALANCE ---- */

static void test_rebalance_equal_weights(void **state)
{
    (void)state;
    struct planner_engine e[7];
    struct planner_project p[100];
    uint64_t owners[100];
    for (size_t j = 0; j < 7; j++) {
        e[j] = (struct planner_engine){.id = 10 + j, .weight = 1, .eligible = true};
    }
    for (size_t i = 0; i < 100; i++) {
        p[i] = (struct planner_project){.owner = i < 90 ? 10 : 0, .pinned = 0};
    }
    struct plan pl = plan_of(e, 7, p, 100, PLANNER_REBALANCE);
    check_and_apply(e, 7, p, 100, &pl, owners);
    for (size_t j = 0; j < 7; j++) {
        size_t c = count_owned(owners, 100, e[j].id);
        assert_true(c == 14 || c == 15); /* 100 / 7 = 14.3 */
    }
    /* Engine 10 keeps 15 (it holds more, so it gets a ceiling): 75 leave it, 10 are placed. */
    assert_int_equal(count_owned(owners, 100, 10), 15);
    assert_int_equal(pl.n, 85);
    assert_int_equal(pl.n, planner_rebalance_lower_bound(e, 7, p, 100));
    free(pl.moves);
}

static void test_rebalance_weighted(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 2, true}, {3, 3, true}};
    struct planner_project p[100];
    uint64_t owners[100];
    for (size_t i = 0; i < 100; i++) {
        p[i] = (struct planner_project){.owner = i < 70 ? 1 : 2, .pinned = 0};
    }
    struct plan pl = plan_of(e, 3, p, 100, PLANNER_REBALANCE);
    check_and_apply(e, 3, p, 100, &pl, owners);
    assert_within_one(e, 3, owners, 100); /* shares 16.7, 33.3, 50 */
    assert_int_equal(count_owned(owners, 100, 1), 17);
    assert_int_equal(count_owned(owners, 100, 2), 33);
    assert_int_equal(count_owned(owners, 100, 3), 50);
    assert_int_equal(pl.n, 53); /* 70 - 17 leave engine 1; engine 2 already holds 30 <= 33 */
    assert_int_equal(pl.n, planner_rebalance_lower_bound(e, 3, p, 100));
    free(pl.moves);
}

/* A large weight: every product stays exact. */
static void test_large_weight(void **state)
{
    (void)state;
    struct planner_engine e[2] = {{1, 1, true}, {2, 1000000, true}};
    struct planner_project p[10];
    uint64_t owners[10];
    for (size_t i = 0; i < 10; i++) {
        p[i] = (struct planner_project){.owner = 1, .pinned = 0};
    }
    /* share 0.00001 and 9.99999: engine 1 holds more, so it keeps the one ceiling. */
    struct plan pl = plan_of(e, 2, p, 10, PLANNER_REBALANCE);
    check_and_apply(e, 2, p, 10, &pl, owners);
    assert_within_one(e, 2, owners, 10);
    assert_int_equal(pl.n, 9);
    assert_int_equal(count_owned(owners, 10, 1), 1);
    free(pl.moves);

    struct planner_engine huge[3] = {{1, UINT_MAX, true}, {2, UINT_MAX, true}, {3, 1, true}};
    struct planner_project q[1000];
    uint64_t qown[1000];
    for (size_t i = 0; i < 1000; i++) {
        q[i] = (struct planner_project){.owner = 3, .pinned = 0};
    }
    pl = plan_of(huge, 3, q, 1000, PLANNER_REBALANCE);
    check_and_apply(huge, 3, q, 1000, &pl, qown);
    assert_within_one(huge, 3, qown, 1000);
    assert_int_equal(pl.n, planner_rebalance_lower_bound(huge, 3, q, 1000));
    free(pl.moves);
    pl = plan_of(huge, 3, q, 1000, PLANNER_PLACE);
    assert_int_equal(pl.n, 0);
    free(pl.moves);
}

/* Regression: a balanced cluster needs no move, and rebalancing twice moves nothing more. */
static void test_balanced_cluster_zero_moves(void **state)
{
    (void)state;
    struct planner_engine e[4] = {{1, 1, true}, {2, 1, true}, {3, 2, true}, {4, 1, false}};
    struct planner_project p[21];
    uint64_t owners[21];
    for (size_t i = 0; i < 21; i++) {
        p[i].owner = i < 5 ? 1 : i < 10 ? 2 : 3; /* 5 / 5 / 11 for shares 5.25 5.25 10.5 */
        p[i].pinned = 0;
    }
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan pl = plan_of(e, 4, p, 21, (enum planner_mode)mode);
        assert_int_equal(pl.n, 0);
        free(pl.moves);
    }
    assert_int_equal(planner_rebalance_lower_bound(e, 4, p, 21), 0);
    (void)owners;
}

/* Applying a REBALANCE and planning again gives nothing: REBALANCE then PLACE too. */
static void test_rebalance_idempotent(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int round = 0; round < 2000; round++) {
        struct planner_engine e[MAX_E];
        struct planner_project p[MAX_P];
        uint64_t owners[MAX_P];
        size_t ne, np;
        random_cluster(&seed, MAX_E, MAX_P, round % 4 == 0 ? 50 : 15, e, &ne, p, &np);
        struct plan pl = plan_of(e, ne, p, np, PLANNER_REBALANCE);
        check_and_apply(e, ne, p, np, &pl, owners);
        free(pl.moves);
        for (size_t i = 0; i < np; i++) {
            p[i].owner = owners[i];
        }
        for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
            pl = plan_of(e, ne, p, np, (enum planner_mode)mode);
            assert_int_equal(pl.n, 0);
            free(pl.moves);
        }
        assert_int_equal(planner_rebalance_lower_bound(e, ne, p, np), 0);
    }
}

/* ---- random clusters against the oracles ---- */

/* PLACE equals the step-by-step simulation, and leaves every eligible owner alone. */
static void test_place_random_vs_simulation(void **state)
{
    (void)state;
    uint64_t seed = 7;
    for (int round = 0; round < 3000; round++) {
        struct planner_engine e[MAX_E];
        struct planner_project p[MAX_P];
        uint64_t owners[MAX_P], want[MAX_P];
        size_t ne, np;
        random_cluster(&seed, MAX_E, MAX_P, round % 4 == 0 ? 50 : 15, e, &ne, p, &np);
        struct plan pl = plan_of(e, ne, p, np, PLANNER_PLACE);
        check_and_apply(e, ne, p, np, &pl, owners);
        oracle_place(e, ne, p, np, want);
        for (size_t i = 0; i < np; i++) {
            assert_int_equal(owners[i], want[i]);
            if (is_eligible(e, ne, p[i].owner)) {
                assert_int_equal(owners[i], p[i].owner);
            }
        }
        free(pl.moves);
    }
}

/* REBALANCE: moves == lower bound == the dynamic programme's minimum, balance as good as the
 * programme's, within one project of the share whenever pins allow, pins kept. */
static void test_rebalance_random_vs_dp(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    size_t feasible = 0, infeasible = 0;
    for (int round = 0; round < 5000; round++) {
        struct planner_engine e[MAX_E];
        struct planner_project p[MAX_P];
        uint64_t owners[MAX_P], best_d, best_m;
        size_t ne, np;
        random_cluster(&seed, MAX_E, MAX_P, round % 4 == 0 ? 50 : 15, e, &ne, p, &np);
        struct plan pl = plan_of(e, ne, p, np, PLANNER_REBALANCE);
        check_and_apply(e, ne, p, np, &pl, owners);
        free(pl.moves);
        oracle_dp(e, ne, p, np, &best_d, &best_m);
        assert_int_equal(pl.n, planner_rebalance_lower_bound(e, ne, p, np));
        assert_int_equal(pl.n, best_m);
        bool any = total_eligible_weight(e, ne) > 0;
        for (size_t i = 0; i < np; i++) {
            if (any) {
                assert_true(is_eligible(e, ne, owners[i]));
            }
            if (is_eligible(e, ne, p[i].pinned)) {
                assert_int_equal(owners[i], p[i].pinned);
            }
        }
        if (!any) {
            continue;
        }
        assert_int_equal(imbalance(e, ne, owners, np), best_d);
        if (best_d == 0) {
            assert_within_one(e, ne, owners, np);
            feasible++;
        } else {
            infeasible++;
        }
    }
    /* The generator must exercise both target rules. */
    assert_true(feasible > 1000);
    assert_true(infeasible > 50);
}

/* Tiny clusters: the planner's (balance, moves) equals the best over every assignment. */
static void test_rebalance_random_vs_exhaustive(void **state)
{
    (void)state;
    uint64_t seed = 99;
    for (int round = 0; round < 3000; round++) {
        struct planner_engine e[MAX_E];
        struct planner_project p[MAX_P];
        uint64_t owners[MAX_P], best_d, best_m;
        size_t ne, np;
        random_cluster(&seed, 4, 7, round % 4 == 0 ? 50 : 15, e, &ne, p, &np);
        struct plan pl = plan_of(e, ne, p, np, PLANNER_REBALANCE);
        check_and_apply(e, ne, p, np, &pl, owners);
        oracle_exhaustive(e, ne, p, np, &best_d, &best_m);
        if (total_eligible_weight(e, ne) > 0) {
            assert_int_equal(imbalance(e, ne, owners, np), best_d);
        }
        assert_int_equal(pl.n, best_m);
        assert_int_equal(pl.n, planner_rebalance_lower_bound(e, ne, p, np));
        free(pl.moves);
    }
}

/* ---- determinism and input quirks ---- */

static void test_deterministic(void **state)
{
    (void)state;
    enum { NE = 20, NP = 3000 };
    static struct planner_engine e[NE], shuffled[NE];
    static struct planner_project p[NP];
    uint64_t seed = 2024;
    for (size_t j = 0; j < NE; j++) {
        e[j] = (struct planner_engine){.id = 100 + 7 * j, .weight = 1 + rnd(&seed, 5), .eligible = j % 6 != 0};
    }
    for (size_t i = 0; i < NP; i++) {
        p[i].owner = rnd(&seed, 10) == 0 ? 0 : e[rnd(&seed, 6)].id;
        p[i].pinned = rnd(&seed, 50) == 0 ? e[rnd(&seed, NE)].id : 0;
    }
    /* The same engines in another input order must give the same plan (ties go by id). */
    memcpy(shuffled, e, sizeof e);
    for (size_t j = NE - 1; j > 0; j--) {
        size_t k = rnd(&seed, (unsigned)j + 1);
        struct planner_engine t = shuffled[j];
        shuffled[j] = shuffled[k];
        shuffled[k] = t;
    }
    for (int mode = PLANNER_PLACE; mode <= PLANNER_REBALANCE; mode++) {
        struct plan a = plan_of(e, NE, p, NP, (enum planner_mode)mode);
        struct plan b = plan_of(e, NE, p, NP, (enum planner_mode)mode);
        struct plan c = plan_of(shuffled, NE, p, NP, (enum planner_mode)mode);
        assert_true(a.n > 0);
        assert_int_equal(a.n, b.n);
        assert_int_equal(a.n, c.n);
        assert_memory_equal(a.moves, b.moves, a.n * sizeof *a.moves);
        assert_memory_equal(a.moves, c.moves, a.n * sizeof *a.moves);
        free(a.moves);
        free(b.moves);
        free(c.moves);
    }
}

/* ---- PLACE on part of the projects (planner_place_partial) ---- */

/* The partial plan of a random cluster: every project that may move is listed, plus about
 * one in four of the others (allowed: a listed project counts for its owner itself); HELD is
 * each engine's count of the projects left out. Returns the moves, project indexes mapped
 * back to P. */
static struct plan partial_of(uint64_t *seed, const struct planner_engine *e, size_t ne,
                              const struct planner_project *p, size_t np)
{
    struct planner_project sub[MAX_P];
    size_t map[MAX_P], nsub = 0;
    uint64_t held[MAX_E] = {0};
    for (size_t i = 0; i < np; i++) {
        if (!is_eligible(e, ne, p[i].owner) || rnd(seed, 4) == 0) {
            map[nsub] = i;
            sub[nsub++] = p[i];
            continue;
        }
        for (size_t j = 0; j < ne; j++) {
            held[j] += e[j].id == p[i].owner; /* a duplicated id: every entry gets it */
        }
    }
    struct plan pl = {NULL, 0};
    assert_int_equal(planner_place_partial(e, held, ne, sub, nsub, &pl.moves, &pl.n), 0);
    for (size_t k = 0; k < pl.n; k++) {
        assert_true(pl.moves[k].project < nsub);
        pl.moves[k].project = map[pl.moves[k].project];
    }
    return pl;
}

/* The partial plan is exactly the full PLACE plan: same moves, same order. */
static void test_place_partial_equals_full(void **state)
{
    (void)state;
    uint64_t seed = 11;
    for (int round = 0; round < 3000; round++) {
        struct planner_engine e[MAX_E];
        struct planner_project p[MAX_P];
        size_t ne, np;
        random_cluster(&seed, MAX_E, MAX_P, round % 4 == 0 ? 50 : 15, e, &ne, p, &np);
        if (round % 7 == 0 && ne > 1) {
            e[ne - 1].id = e[0].id; /* a duplicated id: the first entry counts in both */
        }
        struct plan full = plan_of(e, ne, p, np, PLANNER_PLACE);
        struct plan part = partial_of(&seed, e, ne, p, np);
        assert_int_equal(part.n, full.n);
        for (size_t k = 0; k < full.n; k++) {
            assert_int_equal(part.moves[k].project, full.moves[k].project);
            assert_int_equal(part.moves[k].from, full.moves[k].from);
            assert_int_equal(part.moves[k].to, full.moves[k].to);
        }
        free(full.moves);
        free(part.moves);
    }
}

/* Held counts steer new projects exactly as listed ones would: the least-loaded engine by
 * weighted load gets each, ties to the lower id; counts near 2^32 are refused. */
static void test_place_partial_counts(void **state)
{
    (void)state;
    struct planner_engine e[3] = {{1, 1, true}, {2, 2, true}, {3, 1, false}};
    uint64_t held[3] = {4, 6, 100};
    struct planner_project p[3] = {{0, 0}, {3, 0}, {0, 1}};
    struct plan pl = {NULL, 0};
    assert_int_equal(planner_place_partial(e, held, 3, p, 3, &pl.moves, &pl.n), 0);
    assert_int_equal(pl.n, 3);
    /* pin first: engine 1 holds 5 (load 5), engine 2 holds 6 (load 3): both others go to 2 */
    assert_int_equal(pl.moves[0].to, 2);
    assert_int_equal(pl.moves[1].from, 3);
    assert_int_equal(pl.moves[1].to, 2);
    assert_int_equal(pl.moves[2].to, 1);
    free(pl.moves);
    uint64_t huge[3] = {UINT32_MAX - 2, 0, 0};
    assert_int_equal(planner_place_partial(e, huge, 3, p, 3, &pl.moves, &pl.n), -1);
    assert_null(pl.moves);
    assert_int_equal(pl.n, 0);
}

/* Weight 0 is read as 1; id 0 is never a target; a duplicated id counts once (first entry). */
static void test_input_quirks(void **state)
{
    (void)state;
    struct planner_engine e[4] = {{0, 1, true}, {1, 0, true}, {2, 1, true}, {2, 50, false}};
    struct planner_project p[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    uint64_t owners[4];
    struct plan pl = plan_of(e, 4, p, 4, PLANNER_PLACE);
    assert_int_equal(pl.n, 4);
    for (size_t k = 0; k < 4; k++) {
        owners[k] = pl.moves[k].to;
    }
    assert_int_equal(count_owned(owners, 4, 1), 2);
    assert_int_equal(count_owned(owners, 4, 2), 2);
    free(pl.moves);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_no_eligible_engine_no_moves),
        cmocka_unit_test(test_one_engine),
        cmocka_unit_test(test_place_dead_engine_spreads_evenly),
        cmocka_unit_test(test_place_least_loaded_first),
        cmocka_unit_test(test_place_never_moves_eligible_owner),
        cmocka_unit_test(test_place_weighted),
        cmocka_unit_test(test_ineligible_never_receives),
        cmocka_unit_test(test_pinned_respected),
        cmocka_unit_test(test_pins_make_balance_impossible),
        cmocka_unit_test(test_rebalance_equal_weights),
        cmocka_unit_test(test_rebalance_weighted),
        cmocka_unit_test(test_large_weight),
        cmocka_unit_test(test_balanced_cluster_zero_moves),
        cmocka_unit_test(test_rebalance_idempotent),
        cmocka_unit_test(test_place_random_vs_simulation),
        cmocka_unit_test(test_rebalance_random_vs_dp),
        cmocka_unit_test(test_rebalance_random_vs_exhaustive),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_input_quirks),
        cmocka_unit_test(test_place_partial_equals_full),
        cmocka_unit_test(test_place_partial_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
