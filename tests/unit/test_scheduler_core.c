/* Unit tests of the scheduler core (raftnode/scheduler_core.c): liveness bookkeeping on the
 * caller's clock (a new leader grants a full timeout; only alive, race-enabled engines fail
 * over; pending engine_dead is not proposed twice), the placement trigger (including the
 * regression found by tests/sim: a lost move must make the next tick plan again), and plans
 * computed from a real store (eligibility, single-engine mode, dead-pending, reasons); the
 * incremental PLACE (tracked counts + projects needing an owner) against the full PLACE over
 * random histories and across a restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/proto.h"
#include <sqlite3.h>

#include "raftnode/planner.h"
#include "raftnode/scheduler_core.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct store s;
    struct sched_core c;
    uint64_t index;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || store_open(&f->s, ":memory:") != 0) {
        free(f);
        return -1;
    }
    sched_core_init(&f->c);
    f->index = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sched_core_close(&f->c);
    store_close(&f->s);
    free(f);
    return 0;
}

/* Applies `batch` as one entry; every command must be accepted. */
static void apply_ok(struct fixture *f)
{
    const char *why = batch_apply_all_ok(&f->s, &batch, f->index++);
    if (why != NULL) {
        fail_msg("%s", why);
    }
}

static void engines(struct fixture *f, const char *const modes[], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char identity[32];
        snprintf(identity, sizeof identity, "h%u:7070|1", i + 1);
        batch_engine_set(&batch, i + 1, modes[i], 1, identity, true);
    }
    apply_ok(f);
}

static const struct sched_move *find_move(const struct sched_plan *p, const char *project)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->moves[i].project, project) == 0) {
            return &p->moves[i];
        }
    }
    return NULL;
}

static size_t due(struct fixture *f, uint64_t now, uint64_t timeout, struct sched_due *out, size_t cap)
{
    struct store_engine *e = NULL;
    size_t n = 0;
    assert_int_equal(store_load_engines(&f->s, &e, &n), 0);
    assert_true(n <= cap);
    size_t k = sched_core_due(&f->c, e, n, now, timeout, out);
    free(e);
    return k;
}

/* ---- liveness ---- */

static void test_new_leader_grants_full_timeout(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "all"};
    struct sched_due d[4];
    engines(f, modes, 2);
    sched_core_heard(&f->c, 1, 100);
    sched_core_heard(&f->c, 2, 100);
    sched_core_become_leader(&f->c, 10000); /* elected long after both were last heard */
    assert_int_equal(due(f, 12999, 3000, d, 4), 0);
    assert_int_equal(due(f, 13000, 3000, d, 4), 0); /* exactly the timeout: not yet */
    assert_int_equal(due(f, 13001, 3000, d, 4), 2);
    assert_int_equal(d[0].id, 1);
    assert_int_equal(d[0].silence_ms, 3001);
}

static void test_due_counts_from_last_heard(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "job"};
    struct sched_due d[4];
    engines(f, modes, 2);
    sched_core_become_leader(&f->c, 0);
    sched_core_heard(&f->c, 1, 5000);
    sched_core_heard(&f->c, 2, 1000);
    assert_int_equal(due(f, 6000, 3000, d, 4), 1);
    assert_int_equal(d[0].id, 2);
    assert_int_equal(d[0].silence_ms, 5000);
    assert_int_equal(sched_core_silence_ms(&f->c, 1, 6000), 1000);
    assert_int_equal(sched_core_silence_ms(&f->c, 9, 6000), -1);
}

/* An engine the leader never heard gets a full timeout from the first look at it. */
static void test_never_heard_gets_full_timeout(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all"};
    struct sched_due d[2];
    engines(f, modes, 1);
    sched_core_become_leader(&f->c, 0);
    assert_int_equal(due(f, 50000, 3000, d, 2), 0);
    assert_int_equal(due(f, 53000, 3000, d, 2), 0);
    assert_int_equal(due(f, 53001, 3000, d, 2), 1);
}

static void test_pending_dead_not_due_twice(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "all"};
    struct sched_due d[4];
    engines(f, modes, 2);
    sched_core_become_leader(&f->c, 0);
    sched_core_heard(&f->c, 1, 9000);
    sched_core_heard(&f->c, 2, 1000);
    assert_int_equal(due(f, 10000, 3000, d, 4), 1);
    sched_core_mark_dead_pending(&f->c, 2, true);
    assert_int_equal(due(f, 10050, 3000, d, 4), 0);
    sched_core_mark_dead_pending(&f->c, 2, false); /* the proposal failed: due again */
    assert_int_equal(due(f, 10100, 3000, d, 4), 1);
}

static void test_dead_and_single_engine_never_due(void **state)
{
    struct fixture *f = *state;
    struct sched_due d[4];
    batch_engine_set(&batch, 1, "all", 1, "h1:7070|1", false); /* single-engine mode */
    batch_engine_set(&batch, 2, "all", 1, "h2:7070|1", true);
    batch_engine_dead(&batch, 2);
    apply_ok(f);
    sched_core_become_leader(&f->c, 0);
    assert_int_equal(due(f, 100000, 3000, d, 4), 0);
}

static void test_become_leader_forgets_pending(void **state)
{
    struct fixture *f = *state;
    struct sched_seen *e = sched_core_heard(&f->c, 1, 10);
    assert_non_null(e);
    e->set_pending = true;
    sched_core_mark_dead_pending(&f->c, 1, true);
    sched_core_become_leader(&f->c, 500);
    e = sched_core_seen(&f->c, 1, false, 0);
    assert_non_null(e);
    assert_false(e->dead_pending);
    assert_false(e->set_pending);
    assert_int_equal(e->last_heard_ms, 500);
}

/* ---- placement trigger ---- */

static void test_place_due(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    assert_true(sched_core_place_due(&f->c, 7, 0)); /* a new leader plans once */
    sched_core_placed(&f->c, 7, 0, 0);
    assert_false(sched_core_place_due(&f->c, 7, 0));
    assert_true(sched_core_place_due(&f->c, 7, 1)); /* engines just declared dead */
    assert_true(sched_core_place_due(&f->c, 8, 0)); /* the state changed */
    sched_core_move_proposed(&f->c);
    assert_false(sched_core_place_due(&f->c, 8, 1)); /* a move in flight: wait for it */
    sched_core_move_done(&f->c, PROTO_OK);
    assert_true(sched_core_place_due(&f->c, 8, 0));
}

/* A bulk plan makes the next one wait SCHED_BULK_INTERVAL_MS; a failover never waits; a
 * small plan, or a new leader, ends the wait. */
static void test_bulk_cadence(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    assert_false(sched_core_place_wait(&f->c, 0, 1000));
    sched_core_placed(&f->c, 7, SCHED_BULK_MOVES, 1000);
    assert_true(sched_core_place_due(&f->c, 8, 0));
    assert_true(sched_core_place_wait(&f->c, 0, 1000 + SCHED_BULK_INTERVAL_MS - 1));
    assert_false(sched_core_place_wait(&f->c, 1, 1001)); /* engines declared dead */
    assert_false(sched_core_place_wait(&f->c, 0, 1000 + SCHED_BULK_INTERVAL_MS));
    sched_core_placed(&f->c, 8, SCHED_BULK_MOVES - 1, 1200);
    assert_false(sched_core_place_wait(&f->c, 0, 1201));
    sched_core_placed(&f->c, 9, 5000, 1300);
    sched_core_become_leader(&f->c, 1301);
    assert_false(sched_core_place_wait(&f->c, 0, 1302));
}

/* A plan cut at SCHED_PLACE_MAX_MOVES is a backlog: the next part is due as soon as its last
 * move has its outcome, not at the next tick. A smaller plan, or one still in flight, is not. */
static void test_backlog_due_when_its_moves_are_done(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    assert_false(sched_core_backlog_due(&f->c));
    sched_core_placed(&f->c, 7, SCHED_PLACE_MAX_MOVES, 1000);
    sched_core_move_proposed(&f->c);
    sched_core_move_proposed(&f->c);
    assert_false(sched_core_backlog_due(&f->c)); /* two moves in flight */
    sched_core_move_done(&f->c, PROTO_OK);
    assert_false(sched_core_backlog_due(&f->c));
    sched_core_move_done(&f->c, PROTO_REFUSED); /* refused counts as an outcome */
    assert_true(sched_core_backlog_due(&f->c));
    assert_true(sched_core_place_due(&f->c, 8, 0));
    assert_false(sched_core_place_wait(&f->c, 0, 1001)); /* and no bulk wait holds it */
    sched_core_placed(&f->c, 8, SCHED_PLACE_MAX_MOVES - 1, 1001); /* the backlog's last part */
    assert_false(sched_core_backlog_due(&f->c));
    sched_core_placed(&f->c, 9, SCHED_PLACE_MAX_MOVES, 1002);
    sched_core_become_leader(&f->c, 1003); /* a new leader plans from scratch */
    assert_false(sched_core_backlog_due(&f->c));
}

/* Regression (tests/sim seed 55, then 1240): a move whose outcome is unknown (leadership
 * lost, or raft refused the entry during a leadership transfer that then failed) changed
 * nothing the ownership version shows; the scheduler never planned again and the project
 * stayed unowned until some unrelated change. */
static void test_lost_move_plans_again(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    sched_core_placed(&f->c, 42, 0, 0);
    sched_core_move_proposed(&f->c);
    sched_core_move_done(&f->c, PROTO_UNAVAILABLE);
    assert_int_equal(f->c.plan_inflight, 0);
    assert_true(sched_core_place_due(&f->c, 42, 0));
}

/* Simulation seed 356260: the leader planned while every engine's death was being declared
 * (their heartbeats could not be recorded during a leadership transfer), so the plan placed
 * nothing; the declarations were refused, the engines were alive after all, and the version
 * alone never planned again: the new project stayed unowned. */
static void test_plan_during_declarations_plans_again(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    sched_core_placed(&f->c, 32, 0, 0);
    sched_core_placed_declaring(&f->c, 3);
    assert_true(sched_core_place_due(&f->c, 32, 0)); /* no declaration left: still due */
    sched_core_placed(&f->c, 32, 0, 0);
    sched_core_placed_declaring(&f->c, 0);
    assert_false(sched_core_place_due(&f->c, 32, 0));
}

static void test_refused_move_waits_for_change(void **state)
{
    struct fixture *f = *state;
    sched_core_become_leader(&f->c, 0);
    sched_core_placed(&f->c, 42, 0, 0);
    sched_core_move_proposed(&f->c);
    sched_core_move_done(&f->c, PROTO_REFUSED); /* stale: the state changed, the version shows it */
    assert_false(sched_core_place_due(&f->c, 42, 0));
    assert_true(sched_core_place_due(&f->c, 43, 0));
}

/* ---- plans ---- */

static void test_plan_places_on_eligible_only(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "job", "query", "all"};
    struct sched_plan p;
    engines(f, modes, 4);
    batch_drain(&batch, 4, true);
    batch_add(&batch, "a");
    batch_add(&batch, "b");
    apply_ok(f);
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
    assert_int_equal(p.n, 3); /* _global, a, b */
    for (size_t i = 0; i < p.n; i++) {
        assert_true(p.moves[i].to == 1 || p.moves[i].to == 2);
        assert_int_equal(p.moves[i].from, 0);
        assert_string_equal(p.moves[i].reason, "new");
    }
    sched_plan_free(&p);
}

static void test_plan_failover_skips_dead_pending(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "all", "all"};
    struct sched_plan p;
    engines(f, modes, 3);
    batch_add(&batch, "a");
    batch_assign(&batch, "a", 0, 1, "new", 1);
    batch_engine_dead(&batch, 1);
    apply_ok(f);
    sched_core_become_leader(&f->c, 0);
    sched_core_mark_dead_pending(&f->c, 2, true); /* engine_dead of 2 in flight */
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
    const struct sched_move *m = find_move(&p, "a");
    assert_non_null(m);
    assert_int_equal(m->from, 1);
    assert_int_equal(m->to, 3);
    assert_string_equal(m->reason, "failover");
    sched_plan_free(&p);
}

static void test_plan_drain_reason(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "all"};
    struct sched_plan p;
    engines(f, modes, 2);
    batch_add(&batch, "a");
    batch_assign(&batch, "a", 0, 1, "new", 1);
    batch_drain(&batch, 1, true);
    apply_ok(f);
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
    const struct sched_move *m = find_move(&p, "a");
    assert_non_null(m);
    assert_int_equal(m->to, 2);
    assert_string_equal(m->reason, "drain");
    sched_plan_free(&p);
}

static void test_plan_single_engine_mode(void **state)
{
    struct fixture *f = *state;
    struct sched_plan p;
    batch_engine_set(&batch, 1, "all", 1, "h1:7070|1", true);
    batch_engine_set(&batch, 2, "job", 1, "h2:7070|1", false);
    batch_add(&batch, "a");
    apply_ok(f);
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
    assert_int_equal(p.n, 2);
    for (size_t i = 0; i < p.n; i++) {
        assert_int_equal(p.moves[i].to, 2);
    }
    sched_plan_free(&p);
}

static void test_rebalance_reasons_and_bound(void **state)
{
    struct fixture *f = *state;
    static const char *const modes[] = {"all", "all"};
    struct sched_plan p;
    engines(f, modes, 2);
    batch_add(&batch, "a");
    batch_add(&batch, "b");
    batch_add(&batch, "c");
    batch_assign(&batch, "_global", 0, 1, "new", 1);
    batch_assign(&batch, "a", 0, 1, "new", 1);
    batch_assign(&batch, "b", 0, 1, "new", 1);
    apply_ok(f); /* c unowned, engine 1 holds three */
    assert_int_equal(sched_core_plan(&f->c, &f->s, true, &p), 0);
    assert_int_equal(p.n, p.lower_bound);
    const struct sched_move *c = find_move(&p, "c");
    assert_non_null(c);
    assert_string_equal(c->reason, "new");
    size_t rebalanced = 0;
    for (size_t i = 0; i < p.n; i++) {
        rebalanced += strcmp(p.moves[i].reason, "rebalance") == 0;
    }
    assert_int_equal(rebalanced, p.n - 1);
    sched_plan_free(&p);
}

/* ---- incremental PLACE against the full one ---- */

/* Applies `batch` as one entry; refusals are fine. */
static void apply_any(struct fixture *f)
{
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
    store_results_free(&r);
}

static bool can_own(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

/* PLACE over every project and engine of the store, as the scheduler planned before it kept
 * counts (race-enabled engines, nothing pending): the moves as (project, from, to). */
static void reference_place(struct fixture *f, char ***names, struct planner_move **moves, size_t *n)
{
    struct store_engine *e = NULL;
    struct store_project_row *rows = NULL;
    size_t ne = 0, np = 0;
    assert_int_equal(store_load_engines(&f->s, &e, &ne), 0);
    assert_int_equal(store_load_projects(&f->s, &rows, &np), 0);
    struct planner_engine *pe = calloc(ne + 1, sizeof *pe);
    struct planner_project *pp = calloc(np + 1, sizeof *pp);
    assert_non_null(pe);
    assert_non_null(pp);
    for (size_t i = 0; i < ne; i++) {
        pe[i] = (struct planner_engine){.id = e[i].id, .weight = e[i].weight,
                                        .eligible = can_own(e[i].mode) && e[i].alive && !e[i].draining};
    }
    for (size_t i = 0; i < np; i++) {
        pp[i] = (struct planner_project){.owner = rows[i].owner, .pinned = rows[i].pinned};
    }
    assert_int_equal(planner_plan(pe, ne, pp, np, PLANNER_PLACE, moves, n), 0);
    *names = calloc(*n + 1, sizeof **names);
    assert_non_null(*names);
    for (size_t k = 0; k < *n; k++) {
        (*names)[k] = strdup(rows[(*moves)[k].project].name);
        assert_non_null((*names)[k]);
    }
    free(pe);
    free(pp);
    free(e);
    store_free_projects(rows, np);
}

/* Random histories (adds, removes, drains, deaths, revivals, pins, moves, weights): after
 * every entry the incremental PLACE plan is the full one, move for move; applying the plans
 * keeps every project placed. */
static void test_incremental_place_equals_full(void **state)
{
    struct fixture *f = *state;
    static const char *const mode_of[] = {"all", "job", "all", "query", "all"};
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    for (unsigned i = 0; i < 5; i++) {
        batch_engine_set(&batch, i + 1, mode_of[i], 1 + i % 3, "h:7070|1", true);
    }
    apply_any(f);
    sched_core_become_leader(&f->c, 0);
    for (int round = 0; round < 300; round++) {
        unsigned n = 1 + (unsigned)(seed % 8);
        for (unsigned i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned r = (unsigned)(seed >> 33);
            char name[16];
            snprintf(name, sizeof name, "p%02u", r % 60);
            uint64_t id = 1 + (r >> 8) % 5, to = 1 + (r >> 12) % 5;
            switch ((r >> 16) % 12) {
            case 0:
            case 1:
            case 2: batch_add(&batch, name); break;
            case 3: batch_remove(&batch, name); break;
            case 4: batch_drain(&batch, id, (r >> 20) % 3 == 0); break;
            case 5: batch_engine_dead(&batch, id); break;
            case 6: batch_heartbeat(&batch, &id, 1); break;
            case 7: batch_pin(&batch, name, (r >> 20) % 2 ? to : 0); break;
            case 8: batch_engine_set(&batch, id, mode_of[id - 1], 1 + (r >> 20) % 4, "h:7070|1", true); break;
            default: batch_assign(&batch, name, (r >> 20) % 6, to, "move", 1); break;
            }
        }
        apply_any(f);
        struct sched_plan p;
        char **names = NULL;
        struct planner_move *want = NULL;
        size_t nw = 0;
        assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
        reference_place(f, &names, &want, &nw);
        assert_int_equal(p.n, nw);
        for (size_t k = 0; k < nw; k++) {
            assert_string_equal(p.moves[k].project, names[k]);
            assert_int_equal(p.moves[k].from, want[k].from);
            assert_int_equal(p.moves[k].to, want[k].to);
            free(names[k]);
        }
        free(names);
        free(want);
        if (round % 2 == 0) { /* the leader's moves, as one entry */
            for (size_t k = 0; k < p.n; k++) {
                batch_assign(&batch, p.moves[k].project, p.moves[k].from, p.moves[k].to, p.moves[k].reason, 2);
            }
            if (p.n > 0) {
                apply_ok(f);
            }
        }
        sched_plan_free(&p);
    }
}

/* A backlog larger than SCHED_PLACE_MAX_MOVES is placed in parts, the PINNED last ones by
 * index (pinned) first, and the parts end exactly where one plan over everything would have;
 * no bulk wait between parts. Without pins each part reads only the first
 * SCHED_PLACE_MAX_MOVES of the backlog (storage/loads.h); with them, all of it. */
static void backlog_in_parts(struct fixture *f, unsigned pinned)
{
    static const char *const modes[] = {"all", "job", "all"};
    const unsigned total = 2 * SCHED_PLACE_MAX_MOVES + SCHED_PLACE_MAX_MOVES / 4; /* 3 parts */
    engines(f, modes, 3);
    batch_engine_set(&batch, 2, "job", 3, "h2:7070|1", true); /* weight 3 */
    apply_ok(f);
    for (unsigned i = 0; i < total; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%05u", (i * 7919u) % 100000u);
        batch_add(&batch, name);
        if (batch.n == 2000) {
            apply_ok(f);
        }
    }
    apply_ok(f);
    for (unsigned i = total - pinned; i < total; i++) { /* the last ones by index, pinned */
        char name[16];
        snprintf(name, sizeof name, "b%05u", (i * 7919u) % 100000u);
        batch_pin(&batch, name, 1 + i % 3);
    }
    apply_ok(f);
    char **names = NULL;
    struct planner_move *want = NULL;
    size_t nw = 0;
    reference_place(f, &names, &want, &nw);
    assert_int_equal(nw, total + 1); /* and _global */
    sched_core_become_leader(&f->c, 0);
    size_t parts = 0, placed = 0;
    for (;;) {
        struct sched_plan p;
        assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
        if (p.n == 0) {
            sched_plan_free(&p);
            break;
        }
        assert_true(p.n <= SCHED_PLACE_MAX_MOVES);
        if (parts == 0) { /* the pinned ones lead the first part */
            for (size_t k = 0; k < pinned; k++) {
                struct store_project_row row;
                assert_int_equal(store_project_get(&f->s, p.moves[k].project, strlen(p.moves[k].project), &row), 1);
                assert_int_equal(row.pinned, p.moves[k].to);
                free(row.name);
            }
        }
        for (size_t k = 0; k < p.n; k++) {
            batch_assign(&batch, p.moves[k].project, p.moves[k].from, p.moves[k].to, p.moves[k].reason, 2);
        }
        apply_ok(f);
        sched_core_placed(&f->c, f->s.ownership_version, p.n, 1000 * parts);
        assert_int_equal(sched_core_place_wait(&f->c, 0, 1000 * parts), p.n < SCHED_PLACE_MAX_MOVES && p.n >= SCHED_BULK_MOVES);
        placed += p.n;
        parts++;
        sched_plan_free(&p);
    }
    assert_int_equal(parts, 3);
    assert_int_equal(placed, nw);
    for (size_t k = 0; k < nw; k++) {
        struct store_project_row row;
        assert_int_equal(store_project_get(&f->s, names[k], strlen(names[k]), &row), 1);
        assert_int_equal(row.owner, want[k].to);
        free(row.name);
        free(names[k]);
    }
    free(names);
    free(want);
}

static void test_backlog_in_parts_equals_one_plan(void **state)
{
    backlog_in_parts(*state, 40);
}

static void test_backlog_in_parts_without_pins(void **state)
{
    backlog_in_parts(*state, 0);
}

/* The counts the plan reads are recounted after a restore (the triggers did not see it). */
static void test_incremental_place_after_restore(void **state)
{
    struct fixture *f = *state;
    struct store other;
    uint64_t oi = 1;
    static const char *const modes[] = {"all", "all"};
    engines(f, modes, 2);
    struct sched_plan p;
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0); /* installs the counts */
    sched_plan_free(&p);
    assert_int_equal(store_open(&other, ":memory:"), 0);
    batch_engine_set(&batch, 1, "all", 1, "h1:7070|1", true);
    batch_engine_set(&batch, 2, "all", 1, "h2:7070|1", true);
    batch_assign(&batch, "_global", 0, 1, "new", 1);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        batch_add(&batch, name);
        batch_assign(&batch, name, 0, 1, "new", 1);
    }
    struct store_results r;
    assert_int_equal(batch_apply(&other, &batch, oi++, &r), 0);
    store_results_free(&r);
    for (int k = 0; k < 3; k++) {
        batch_heartbeat(&batch, (uint64_t[]){1}, 1);
        assert_int_equal(batch_apply(&other, &batch, oi++, &r), 0);
        store_results_free(&r);
    }
    void *image = NULL;
    size_t len = 0;
    assert_int_equal(store_snapshot(&other, &image, &len), 0);
    assert_int_equal(store_restore(&f->s, image, len), 0);
    sqlite3_free(image);
    store_close(&other);
    f->index = oi;
    batch_add(&batch, "new1");
    batch_add(&batch, "new2");
    apply_ok(f);
    assert_int_equal(sched_core_plan(&f->c, &f->s, false, &p), 0);
    /* engine 1 holds 7 after the restore: both new projects go to engine 2 */
    assert_int_equal(p.n, 2);
    assert_int_equal(p.moves[0].to, 2);
    assert_int_equal(p.moves[1].to, 2);
    sched_plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_leader_grants_full_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_due_when_its_moves_are_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_counts_from_last_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_heard_gets_full_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_dead_not_due_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_and_single_engine_never_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_become_leader_forgets_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_place_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_cadence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_move_plans_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_during_declarations_plans_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_move_waits_for_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_places_on_eligible_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_failover_skips_dead_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_drain_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_single_engine_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebalance_reasons_and_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_place_equals_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_place_after_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_in_parts_equals_one_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_in_parts_without_pins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
