/* Unit tests of raftnode/kylin_follow_async.c (and raftnode/pinned_read.c under it): the
 * leader's comparison of Kylin's project list with the quorum's, computed on the background
 * thread, is kylin_follow_diff's on the loop (the link's old path), on the state at the start
 * (the open group committed first; entries applied after the start not seen); names that break
 * the quorum's rule are skipped and counted; an in-memory store is compared on the loop; a
 * member closing gets exactly one callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "kylin/error.h"
#include "raftnode/kylin_follow_async.h"
#include "bg_fixture.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct bg_base b;
    struct kylin_follow_async fa;
    int cbs;
    int rc;
    char errmsg[600];
};

static int setup(void **state)
{
    struct fixture *f = bg_fixture_new(sizeof *f, "test_kylin_follow_async"); /* f->b first */
    if (f == NULL) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bg_base_stop(&f->b); /* a job's DONE runs before what it holds is freed */
    kylin_follow_async_free(&f->fa);
    return bg_fixture_free(f);
}

static void apply_ok(struct fixture *f)
{
    bg_base_apply_ok(&f->b, &batch);
}

/* The quorum: q000..q{N-1}, the even ones listed by Kylin (project_add "kylin": true), the
 * odd ones added by raftctl; left in the open group. */
static void load(struct fixture *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "q%03u", i);
        if (i % 2 == 0) {
            batch_add_kylin(&batch, name);
        } else {
            batch_add(&batch, name);
        }
        if (batch.n >= 64) {
            apply_ok(f);
        }
    }
    if (batch.n > 0) {
        apply_ok(f);
    }
}

/* Kylin's list: q000..q{N-1} but every fourth (q000, q004, ...: listed, so removed), k000..
 * k019 (added), and one name the quorum refuses ("_bad": a leading '_'). */
static struct epoch_projects *kylin_list(unsigned n)
{
    struct epoch_projects *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->names = calloc(n + 21, sizeof *p->names);
    assert_non_null(p->names);
    for (unsigned i = 0; i < n; i++) {
        if (i % 4 != 0) {
            p->names[p->n] = malloc(16);
            snprintf(p->names[p->n++], 16, "q%03u", i);
        }
    }
    for (unsigned i = 0; i < 20; i++) {
        p->names[p->n] = malloc(16);
        snprintf(p->names[p->n++], 16, "k%03u", i);
    }
    p->names[p->n++] = strdup("_bad");
    return p;
}

static void compared(struct kylin_follow_async *fa, int rc, const char *errmsg)
{
    struct fixture *f = fa->data;
    f->cbs++;
    f->rc = rc;
    snprintf(f->errmsg, sizeof f->errmsg, "%s", errmsg);
}

/* The link's old path on the loop: every project read here, then kylin_follow_diff. */
static void reference(struct fixture *f, const struct epoch_projects *l, struct kylin_follow_plan *out)
{
    struct store_project_row *rows;
    size_t n;
    assert_int_equal(store_load_projects(&f->b.s, &rows, &n), 0);
    const char **kylin = calloc(l->n + 1, sizeof *kylin), **quorum = calloc(n + 1, sizeof *quorum);
    bool *listed = calloc(n + 1, sizeof *listed);
    size_t nk = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (store_check_project_name(l->names[i], strlen(l->names[i])) == NULL) {
            kylin[nk++] = l->names[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        quorum[i] = rows[i].name;
        listed[i] = rows[i].kylin_listed;
    }
    assert_int_equal(kylin_follow_diff(kylin, nk, quorum, listed, n, out), KYLIN_OK);
    /* the plan points into ROWS: compared by count and the Kylin-side names only */
    free(kylin);
    free(quorum);
    free(listed);
    store_free_projects(rows, n);
}

static void test_same_plan_as_on_the_loop(void **state)
{
    struct fixture *f = *state;
    struct kylin_follow_plan ref;
    load(f, 40);
    struct epoch_projects *l = kylin_list(40);
    reference(f, l, &ref);
    f->fa.data = f;
    assert_int_equal(kylin_follow_async_start(&f->fa, l, &f->b.s, &f->b.bg, compared), 0);
    assert_int_equal(f->cbs, 0);
    bg_base_wait(&f->b, &f->cbs);
    assert_int_equal(f->rc, 0);
    const struct kylin_follow_plan *p = &f->fa.plan;
    assert_int_equal(p->n_add, ref.n_add);
    assert_int_equal(p->n_add, 20);
    for (size_t i = 0; i < p->n_add; i++) {
        assert_string_equal(p->add[i], ref.add[i]);
    }
    assert_int_equal(p->n_remove, ref.n_remove);
    assert_int_equal(p->n_remove, 10); /* q000, q004, ..., q036 */
    assert_string_equal(p->remove[0], "q000");
    assert_string_equal(p->remove[9], "q036");
    assert_int_equal(p->n_adopt, ref.n_adopt);
    assert_int_equal(p->n_adopt, 20); /* the odd ones Kylin lists */
    assert_string_equal(p->adopt[0], "q001");
    assert_int_equal(f->fa.skipped, 1);
    assert_string_equal(f->fa.first_skipped, "_bad");
    kylin_follow_plan_free(&ref);
}

/* Applied before the start (left open): seen. Applied after it: not. */
static void test_plan_is_of_the_state_at_the_start(void **state)
{
    struct fixture *f = *state;
    load(f, 40);
    assert_true(f->b.s.group_entries > 0);
    struct bg_blocker k;
    bg_blocker_start(&f->b, &k);
    f->fa.data = f;
    assert_int_equal(kylin_follow_async_start(&f->fa, kylin_list(40), &f->b.s, &f->b.bg, compared), 0);
    assert_int_equal(f->b.s.group_entries, 0);
    for (unsigned i = 0; i < 20; i++) { /* after the start: Kylin's new projects all added */
        char name[16];
        snprintf(name, sizeof name, "k%03u", i);
        batch_add_kylin(&batch, name);
    }
    apply_ok(f);
    assert_int_equal(store_commit(&f->b.s), 0);
    bg_blocker_release(&k);
    bg_base_wait(&f->b, &f->cbs);
    bg_blocker_end(&k);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->fa.plan.n_add, 20); /* the state at the start had none of them */
    assert_int_equal(f->fa.plan.n_remove, 10);
}

static void test_in_memory_store_is_compared_on_the_loop(void **state)
{
    struct fixture *f = *state;
    struct store mem;
    assert_int_equal(store_open(&mem, ":memory:"), 0);
    f->fa.data = f;
    assert_int_equal(kylin_follow_async_start(&f->fa, kylin_list(8), &mem, &f->b.bg, compared), 1);
    uv_run(&f->b.loop, UV_RUN_NOWAIT);
    assert_int_equal(f->cbs, 0);
    assert_int_equal(kylin_follow_async_run_here(&f->fa, &mem), 0);
    assert_int_equal(f->fa.plan.n_add, 26); /* q001..q007 but q004, k000..k019 */
    assert_int_equal(f->fa.plan.n_remove, 0);
    store_close(&mem);
}

static void test_closing_calls_back_once(void **state)
{
    struct fixture *f = *state;
    load(f, 20);
    f->fa.data = f;
    assert_int_equal(kylin_follow_async_start(&f->fa, kylin_list(20), &f->b.s, &f->b.bg, compared), 0);
    bgworker_close(&f->b.bg);
    f->b.bg_closed = true;
    bg_base_wait(&f->b, &f->cbs);
    if (f->rc != 0) {
        assert_non_null(strstr(f->errmsg, "stopping"));
    }
    kylin_follow_async_free(&f->fa);
    assert_int_equal(kylin_follow_async_start(&f->fa, kylin_list(20), &f->b.s, &f->b.bg, compared), -1);
    assert_non_null(strstr(f->fa.errmsg, "comparison"));
    assert_int_equal(f->cbs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_plan_as_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_is_of_the_state_at_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_memory_store_is_compared_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_calls_back_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
