/* Unit tests of raftnode/plan_async.c and the rebalance steps of raftnode/scheduler_core.c: a
 * rebalance planned on the background thread is the plan sched_core_plan(REBALANCE) gives on
 * the loop, on the state at the applied index when it started: entries applied but not yet
 * committed are in it (the open group is committed first), entries applied after the start
 * are not (the second connection is pinned); an in-memory store is left to the loop; a member
 * closing before the job ran gets one callback that says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "raftnode/plan_async.h"
#include "bg_fixture.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct bg_base b;
    struct sched_core c;
    /* the callback */
    struct plan_async pa;
    int cbs;
    int rc;
    struct sched_plan plan;
    char errmsg[600];
};

static int setup(void **state)
{
    struct fixture *f = bg_fixture_new(sizeof *f, "test_plan_async"); /* f->b first */
    if (f == NULL) {
        return -1;
    }
    sched_core_init(&f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bg_base_stop(&f->b); /* a job's DONE runs before what it holds is freed */
    sched_plan_free(&f->plan);
    sched_core_close(&f->c);
    return bg_fixture_free(f);
}

/* Applies `batch` as one entry (left in the store's open group); every command accepted. */
static void apply_ok(struct fixture *f)
{
    bg_base_apply_ok(&f->b, &batch);
}

/* Three engines; N projects, all on engine 1 but one pinned to 2 and one unowned. */
static void load(struct fixture *f, unsigned n)
{
    for (uint64_t id = 1; id <= 3; id++) {
        char identity[32];
        snprintf(identity, sizeof identity, "h%llu:7070|1", (unsigned long long)id);
        batch_engine_set(&batch, id, "all", 1, identity, true);
    }
    apply_ok(f);
    batch_assign(&batch, "_global", 0, 1, "new", 1);
    apply_ok(f);
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%04u", i);
        batch_add(&batch, name);
        if (i + 1 < n) {
            batch_assign(&batch, name, 0, 1, "new", 1);
        }
        if (batch.n >= 64) {
            apply_ok(f);
        }
    }
    if (batch.n > 0) {
        apply_ok(f);
    }
    batch_pin(&batch, "p0000", 2);
    apply_ok(f);
}

static void planned(struct plan_async *pa, int rc, struct sched_plan *plan, const char *errmsg)
{
    struct fixture *f = pa->data;
    f->cbs++;
    f->rc = rc;
    f->plan = *plan; /* ours now; empty when rc != 0 */
    snprintf(f->errmsg, sizeof f->errmsg, "%s", errmsg);
}

static void assert_same_plan(const struct sched_plan *a, const struct sched_plan *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->lower_bound, b->lower_bound);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->moves[i].project, b->moves[i].project);
        assert_int_equal(a->moves[i].from, b->moves[i].from);
        assert_int_equal(a->moves[i].to, b->moves[i].to);
        assert_string_equal(a->moves[i].reason, b->moves[i].reason);
    }
}

static void test_same_plan_as_on_the_loop(void **state)
{
    struct fixture *f = *state;
    struct sched_plan ref;
    load(f, 300);
    assert_int_equal(store_commit(&f->b.s), 0);
    assert_int_equal(sched_core_plan(&f->c, &f->b.s, true, &ref), 0);
    assert_true(ref.n > 150); /* two thirds of the projects leave engine 1 */
    f->pa.data = f;
    assert_int_equal(plan_async_rebalance(&f->pa, &f->c, &f->b.s, &f->b.bg, planned), 0);
    assert_int_equal(f->cbs, 0); /* never from inside the call */
    bg_base_wait(&f->b, &f->cbs);
    assert_int_equal(f->rc, 0);
    assert_same_plan(&f->plan, &ref);
    assert_int_equal(f->pa.index, f->b.s.applied_index);
    sched_plan_free(&ref);
}

/* The three steps on the loop's own connection give sched_core_plan's plan too. */
static void test_steps_give_the_same_plan(void **state)
{
    struct fixture *f = *state;
    struct sched_plan ref, p;
    struct sched_rebalance r;
    load(f, 90);
    assert_int_equal(sched_core_plan(&f->c, &f->b.s, true, &ref), 0);
    assert_int_equal(sched_core_rebalance_begin(&f->c, &f->b.s, &r), 0);
    assert_int_equal(r.ne, 3);
    assert_int_equal(store_load_projects(&f->b.s, &r.projects, &r.np), 0);
    assert_int_equal(sched_core_rebalance_plan(&r, &p), 0);
    sched_core_rebalance_free(&r);
    assert_same_plan(&p, &ref);
    sched_plan_free(&p);
    sched_plan_free(&ref);
}

/* Applied but not committed at the start: in the plan. Applied after the start, before the
 * worker reads: not (the state was pinned at the start, on the loop thread). */
static void test_plan_is_of_the_state_at_the_start(void **state)
{
    struct fixture *f = *state;
    struct sched_plan ref;
    load(f, 120); /* left in the open group: the start commits it */
    assert_true(f->b.s.group_entries > 0);
    uint64_t at_start = f->b.s.applied_index;
    assert_int_equal(sched_core_plan(&f->c, &f->b.s, true, &ref), 0);
    struct bg_blocker k;
    bg_blocker_start(&f->b, &k);
    f->pa.data = f;
    assert_int_equal(plan_async_rebalance(&f->pa, &f->c, &f->b.s, &f->b.bg, planned), 0);
    assert_int_equal(f->b.s.group_entries, 0);
    /* before the worker reads: every project but two moves to engine 3 */
    for (unsigned i = 1; i < 119; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%04u", i);
        batch_assign(&batch, name, 1, 3, "move", 2);
        if (batch.n >= 64) {
            apply_ok(f);
        }
    }
    apply_ok(f);
    assert_int_equal(store_commit(&f->b.s), 0);
    bg_blocker_release(&k);
    bg_base_wait(&f->b, &f->cbs);
    bg_blocker_end(&k);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->pa.index, at_start);
    assert_same_plan(&f->plan, &ref);
    sched_plan_free(&ref);
}

static void test_in_memory_store_is_left_to_the_loop(void **state)
{
    struct fixture *f = *state;
    struct store mem;
    assert_int_equal(store_open(&mem, ":memory:"), 0);
    f->pa.data = f;
    assert_int_equal(plan_async_rebalance(&f->pa, &f->c, &mem, &f->b.bg, planned), 1);
    uv_run(&f->b.loop, UV_RUN_NOWAIT);
    assert_int_equal(f->cbs, 0);
    store_close(&mem);
}

/* Closing the worker right after the start: exactly one callback, a plan or "stopping". */
static void test_closing_calls_back_once(void **state)
{
    struct fixture *f = *state;
    load(f, 60);
    f->pa.data = f;
    assert_int_equal(plan_async_rebalance(&f->pa, &f->c, &f->b.s, &f->b.bg, planned), 0);
    bgworker_close(&f->b.bg);
    f->b.bg_closed = true;
    bg_base_wait(&f->b, &f->cbs);
    if (f->rc != 0) {
        assert_non_null(strstr(f->errmsg, "stopping"));
        assert_int_equal(f->plan.n, 0);
    }
    /* a start after the close fails at once, with nothing left behind */
    struct plan_async late = {.data = f};
    assert_int_equal(plan_async_rebalance(&late, &f->c, &f->b.s, &f->b.bg, planned), -1);
    assert_non_null(strstr(plan_async_errmsg(&late), "planning job"));
    assert_int_equal(f->cbs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_plan_as_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_give_the_same_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_is_of_the_state_at_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_memory_store_is_left_to_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_calls_back_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
