/* Unit tests of raftnode/kylin_reconcile_async.c: a Kylin round's decision computed on the
 * background thread is the one computed on the loop (kylin_rec_async_run_here, which is the
 * link's old path: store_load_projects, then kylin_reconcile), on the state at the applied
 * index when it started (the open group committed first, entries applied after the start not
 * seen); the identity is a copy (the link may forget its own meanwhile); an in-memory store is
 * left to the loop; a member closing gets exactly one callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "raftnode/kylin_reconcile_async.h"
#include "bg_fixture.h"
#include "store_helpers.h"

#define SELF_IDENTITY "h1:7070|1"

static struct batch batch;

struct fixture {
    struct bg_base b;
    /* the round's rows: row i shows SELF_IDENTITY for p%04u with i % 4 == 0; TABLE holds the
     * same rows as the link keeps them (struct epoch_rows), for the claims' picks */
    char targets[200][16];
    struct epoch_row table_rows[200];
    struct epoch_rows table;
    /* the callback */
    struct kylin_rec_async ra;
    int cbs;
    int rc;
    char errmsg[600];
};

static int setup(void **state)
{
    struct fixture *f = bg_fixture_new(sizeof *f, "test_kylin_rec_async"); /* f->b first */
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
    kylin_rec_async_free(&f->ra);
    return bg_fixture_free(f);
}

static void apply_ok(struct fixture *f)
{
    bg_base_apply_ok(&f->b, &batch);
}

/* Two engines; N projects p0000.., the even ones owned by engine 1 (this member's), the odd
 * ones by engine 2; left in the store's open group. */
static void load(struct fixture *f, unsigned n)
{
    batch_engine_set(&batch, 1, "all", 1, SELF_IDENTITY, true);
    batch_engine_set(&batch, 2, "all", 1, "h2:7070|1", true);
    apply_ok(f);
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%04u", i);
        batch_add(&batch, name);
        batch_assign(&batch, name, 0, i % 2 == 0 ? 1 : 2, "new", 1);
        if (batch.n >= 64) {
            apply_ok(f);
        }
    }
    if (batch.n > 0) {
        apply_ok(f);
    }
}

/* The round's input: no claims recorded; rows for the projects i % 4 == 0 showing this
 * member's Kylin (recorded by the decision), none for the others (claimed when even). */
static struct kylin_reconcile_in input(struct fixture *f, unsigned n, const char *identity)
{
    struct kylin_row *rows = calloc(n + 1, sizeof *rows);
    struct kylin_claim *claims = calloc(1, sizeof *claims);
    size_t nr = 0;
    assert_non_null(rows);
    assert_non_null(claims);
    f->table = (struct epoch_rows){.rows = f->table_rows, .n = 0};
    for (unsigned i = 0; i < n && i < 200; i += 4) {
        snprintf(f->targets[i], sizeof f->targets[i], "p%04u", i);
        rows[nr++] = (struct kylin_row){.target = f->targets[i], .owner = SELF_IDENTITY, .epoch_id = 1, .mvcc = 0};
        f->table_rows[f->table.n++] = (struct epoch_row){.target = f->targets[i], .owner = (char *)SELF_IDENTITY,
                                                         .epoch_id = 1};
    }
    return (struct kylin_reconcile_in){.self = 1, .prefix = "h1:7070", .identity = identity, .claims = claims,
                                       .n_claims = 0, .rows = rows, .n_rows = nr};
}

static void decided(struct kylin_rec_async *ra, int rc, const char *errmsg)
{
    struct fixture *f = ra->data;
    f->cbs++;
    f->rc = rc;
    snprintf(f->errmsg, sizeof f->errmsg, "%s", errmsg);
}

static void assert_same_decision(const struct kylin_reconcile_out *a, const struct kylin_reconcile_out *b)
{
    assert_int_equal(a->n_claim, b->n_claim);
    for (size_t i = 0; i < a->n_claim; i++) {
        assert_string_equal(a->claim[i], b->claim[i]);
    }
    assert_int_equal(a->n_record, b->n_record);
    for (size_t i = 0; i < a->n_record; i++) {
        assert_string_equal(a->record[i].project, b->record[i].project);
        assert_string_equal(a->record[i].identity, b->record[i].identity);
        assert_int_equal(a->record[i].epoch_id, b->record[i].epoch_id);
    }
    assert_int_equal(a->n_release, b->n_release);
    assert_int_equal(a->poke, b->poke);
    assert_int_equal(a->identity_changed, b->identity_changed);
}

/* The link's old path, on the loop: every project read here, then kylin_reconcile. */
struct reference {
    struct store_project_row *projects;
    size_t n;
    struct kylin_desired *desired;
    struct kylin_reconcile_out out;
    struct store_claim *claims;
    size_t n_claims;
    struct kylin_claims_pick *picks;
    size_t n_picks;
};

static void reference(struct fixture *f, const struct kylin_reconcile_in *in, struct reference *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(store_load_projects(&f->b.s, &r->projects, &r->n), 0);
    r->desired = calloc(r->n + 1, sizeof *r->desired);
    assert_non_null(r->desired);
    for (size_t i = 0; i < r->n; i++) {
        r->desired[i] = (struct kylin_desired){.project = r->projects[i].name, .engine = r->projects[i].owner};
    }
    struct kylin_reconcile_in copy = *in;
    copy.desired = r->desired;
    copy.n_desired = r->n;
    assert_int_equal(kylin_reconcile(&copy, &r->out), 0);
    /* the claims' picks, as kylin_claims_sync made them on the loop */
    assert_int_equal(store_load_claims(&f->b.s, in->self, &r->claims, &r->n_claims), 0);
    assert_int_equal(kylin_claims_pick(r->claims, r->n_claims, r->out.identity, &f->table, false, &r->picks,
                                       &r->n_picks),
                     0);
}

static void assert_same_picks(const struct kylin_rec_async *ra, const struct reference *r)
{
    assert_int_equal(ra->n_picks, r->n_picks);
    for (size_t i = 0; i < r->n_picks; i++) {
        assert_string_equal(ra->picks[i].claim->name, r->picks[i].claim->name);
        assert_int_equal(ra->picks[i].claim->epoch, r->picks[i].claim->epoch);
        assert_ptr_equal(ra->picks[i].row, r->picks[i].row);
    }
}

static void reference_free(struct reference *r)
{
    free(r->picks);
    store_free_claims(r->claims, r->n_claims);
    kylin_reconcile_free(&r->out);
    free(r->desired);
    store_free_projects(r->projects, r->n);
}

static void test_same_decision_as_on_the_loop(void **state)
{
    struct fixture *f = *state;
    struct reference ref;
    load(f, 120);
    struct kylin_reconcile_in in = input(f, 120, SELF_IDENTITY);
    reference(f, &in, &ref);
    assert_int_equal(ref.out.n_claim, 30);  /* p0002, p0006, ...: mine, no row */
    assert_int_equal(ref.out.n_record, 30); /* p0000, p0004, ...: mine, my Kylin's row */
    f->ra.data = f;
    assert_int_equal(kylin_rec_async_start(&f->ra, &in, &f->table, &f->b.s, &f->b.bg, decided), 0);
    assert_int_equal(f->cbs, 0); /* never from inside the call */
    bg_base_wait(&f->b, &f->cbs);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->ra.read.n, ref.n); /* 120 and _global */
    assert_int_equal(ref.n, 121);
    assert_same_decision(&f->ra.out, &ref.out);
    assert_int_equal(ref.n_picks, 30); /* the 30 records: shown as my Kylin's, none recorded */
    assert_same_picks(&f->ra, &ref);
    /* the kylin_listed flags come along (the link's forget_unknown reads them) */
    for (size_t i = 0; i < ref.n; i++) {
        assert_string_equal(f->ra.read.projects[i].name, ref.projects[i].name);
        assert_int_equal(f->ra.read.projects[i].kylin_listed, ref.projects[i].kylin_listed);
    }
    reference_free(&ref);
}

/* Applied but not committed at the start: decided on. Applied after the start, before the
 * worker reads: not (pinned at the start). The identity given is a copy: the caller's buffer
 * changed after the start does not change the decision. */
static void test_decision_is_of_the_state_and_identity_at_the_start(void **state)
{
    struct fixture *f = *state;
    struct reference ref;
    char identity[32];
    load(f, 80);
    assert_true(f->b.s.group_entries > 0);
    snprintf(identity, sizeof identity, "%s", SELF_IDENTITY);
    struct kylin_reconcile_in in = input(f, 80, identity);
    assert_int_equal(store_commit(&f->b.s), 0);
    struct kylin_reconcile_in ref_in = in;
    ref_in.identity = SELF_IDENTITY; /* the reference's output points into its input */
    reference(f, &ref_in, &ref);
    load(f, 0); /* an entry left open: the start must commit it (same engines, no change) */
    struct bg_blocker k;
    bg_blocker_start(&f->b, &k);
    f->ra.data = f;
    assert_int_equal(kylin_rec_async_start(&f->ra, &in, &f->table, &f->b.s, &f->b.bg, decided), 0);
    assert_int_equal(f->b.s.group_entries, 0);
    /* before the worker reads: every odd project moves to engine 1, a new one is added */
    for (unsigned i = 1; i < 80; i += 2) {
        char name[32];
        snprintf(name, sizeof name, "p%04u", i);
        batch_assign(&batch, name, 2, 1, "move", 2);
    }
    batch_add(&batch, "late");
    apply_ok(f);
    assert_int_equal(store_commit(&f->b.s), 0);
    snprintf(identity, sizeof identity, "h1:7070|999"); /* a newer incarnation, as far as IN knew */
    bg_blocker_release(&k);
    bg_base_wait(&f->b, &f->cbs);
    bg_blocker_end(&k);
    assert_int_equal(f->rc, 0);
    assert_int_equal(f->ra.read.n, ref.n); /* not "late" */
    assert_same_decision(&f->ra.out, &ref.out);
    assert_int_equal(f->ra.out.n_claim, 20);
    assert_same_picks(&f->ra, &ref);
    assert_int_equal(f->ra.read.n_claims, ref.n_claims); /* the odd ones moved to engine 1 later: not read */
    assert_int_equal(ref.n_claims, 40);
    reference_free(&ref);
}

static void test_in_memory_store_is_decided_on_the_loop(void **state)
{
    struct fixture *f = *state;
    struct store mem;
    assert_int_equal(store_open(&mem, ":memory:"), 0);
    struct kylin_reconcile_in in = input(f, 8, SELF_IDENTITY);
    f->ra.data = f;
    assert_int_equal(kylin_rec_async_start(&f->ra, &in, &f->table, &mem, &f->b.bg, decided), 1);
    uv_run(&f->b.loop, UV_RUN_NOWAIT);
    assert_int_equal(f->cbs, 0);
    assert_int_equal(kylin_rec_async_run_here(&f->ra, &mem), 0);
    assert_int_equal(f->ra.read.n, 1); /* a new store holds _global alone */
    assert_string_equal(f->ra.read.projects[0].name, "_global");
    assert_int_equal(f->ra.out.n_claim, 0);
    assert_int_equal(f->ra.out.n_record, 0);
    store_close(&mem);
}

/* Closing the worker right after the start: exactly one callback, a decision or "stopping";
 * a start after the close fails at once and leaves nothing behind (teardown frees RA). */
static void test_closing_calls_back_once(void **state)
{
    struct fixture *f = *state;
    load(f, 40);
    struct kylin_reconcile_in in = input(f, 40, SELF_IDENTITY);
    f->ra.data = f;
    assert_int_equal(kylin_rec_async_start(&f->ra, &in, &f->table, &f->b.s, &f->b.bg, decided), 0);
    bgworker_close(&f->b.bg);
    f->b.bg_closed = true;
    bg_base_wait(&f->b, &f->cbs);
    if (f->rc != 0) {
        assert_non_null(strstr(f->errmsg, "stopping"));
    }
    kylin_rec_async_free(&f->ra);
    in = input(f, 40, SELF_IDENTITY);
    assert_int_equal(kylin_rec_async_start(&f->ra, &in, &f->table, &f->b.s, &f->b.bg, decided), -1);
    assert_non_null(strstr(f->ra.errmsg, "round's decision"));
    assert_int_equal(f->cbs, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_decision_as_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_is_of_the_state_and_identity_at_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_memory_store_is_decided_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_calls_back_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
