/* Unit tests for raftnode/fsm_glue.c: a store broken outside the glue (the commit before a
 * hash or a snapshot failed after entries were applied and answered) stops the member, and
 * nothing more is applied or snapshotted from the rolled-back state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>

#include "raftnode/fsm_glue.h"
#include "raftnode/proposal.h"
#include "store_helpers.h"

struct fixture {
    struct store store;
    struct raft raft; /* only last_applied is read (raft_last_applied) */
    struct proposals proposals;
    struct fsm_glue glue;
    struct batch batch;
    int stops;
};

static void host_stop(void *data)
{
    struct fixture *f = data;
    f->stops++;
}

static void flush_wanted(void *data, bool want)
{
    (void)data;
    (void)want;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || store_open(&f->store, ":memory:") != 0) {
        free(f);
        return -1;
    }
    struct proposals_host ph = {.data = f, .flush_wanted = flush_wanted};
    if (proposals_init(&f->proposals, &f->raft, &ph) != 0) {
        store_close(&f->store);
        free(f);
        return -1;
    }
    struct fsm_glue_host gh = {.data = f, .stop = host_stop};
    fsm_glue_init(&f->glue, &f->raft, &f->store, &f->proposals, &gh);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->store);
    free(f);
    return 0;
}

/* libraft's apply of the project.add of NAME as the entry after last_applied. */
static int glue_apply(struct fixture *f, const char *name)
{
    struct raft_buffer buf;
    void *result = (void *)1;
    batch_add(&f->batch, name);
    assert_int_equal(batch_build(&f->batch, 1, &buf.base, &buf.len), 0);
    int rc = f->glue.fsm.apply(&f->glue.fsm, &buf, &result);
    raft_free(buf.base);
    assert_null(result);
    f->raft.last_applied++;
    return rc;
}

/* A commit that fails on a deferred foreign key once NAME joins the open group: the stand-in
 * for a full disk at the commit. */
static void doom_commit_after(struct fixture *f, const char *name)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "CREATE TABLE dangling (m INTEGER REFERENCES members (id) DEFERRABLE INITIALLY DEFERRED);"
             "CREATE TEMP TRIGGER add_dangling AFTER INSERT ON main.projects WHEN new.name = '%s' "
             "BEGIN INSERT INTO dangling VALUES (999); END",
             name);
    assert_int_equal(sqlite3_exec(f->store.db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int exists(struct fixture *f, const char *name)
{
    return store_project_exists(&f->store, name, strlen(name));
}

/* The hash handler's commit fails: the glue hears of it at the host's next tick (fsm_glue_check)
 * or at the next apply, whichever comes first; either way it stops the member once. */
static void test_store_broken_by_a_hash_stops_the_member(void **state)
{
    struct fixture *f = *state;
    uint64_t h;
    f->raft.last_applied = 1;
    doom_commit_after(f, "placed");
    assert_int_equal(glue_apply(f, "placed"), 0); /* index 2, answered, not committed */
    assert_int_equal(fsm_glue_check(&f->glue), 0);
    assert_int_equal(store_hash(&f->store, &h), -1);
    assert_true(f->store.broken);
    assert_int_equal(f->stops, 0);

    assert_int_equal(fsm_glue_check(&f->glue), -1);
    assert_int_equal(f->stops, 1);
    assert_true(f->glue.failed);
    assert_int_equal(fsm_glue_check(&f->glue), -1);
    assert_int_equal(f->stops, 1); /* once */

    assert_int_equal(glue_apply(f, "later"), 0); /* never non-zero: that would stall libraft */
    assert_int_equal(exists(f, "later"), 0);
    assert_int_equal(f->stops, 1);
}

/* Without the tick: the next apply is refused by the store and stops the member. */
static void test_next_apply_on_a_broken_store_stops_the_member(void **state)
{
    struct fixture *f = *state;
    uint64_t h;
    f->raft.last_applied = 1;
    doom_commit_after(f, "placed");
    assert_int_equal(glue_apply(f, "placed"), 0);
    assert_int_equal(store_hash(&f->store, &h), -1);
    assert_int_equal(glue_apply(f, "later"), 0);
    assert_int_equal(exists(f, "later"), 0);
    assert_int_equal(f->stops, 1);
    assert_true(f->glue.failed);
    assert_int_equal(f->store.applied_index, 0);
}

/* libraft takes a snapshot: its commit fails, the snapshot is refused and the member stops
 * (an image of the rolled-back state would be stored as the snapshot at last_applied). */
static void test_failed_snapshot_commit_stops_the_member(void **state)
{
    struct fixture *f = *state;
    struct raft_buffer *bufs = NULL;
    unsigned n_bufs = 0;
    f->raft.last_applied = 1;
    doom_commit_after(f, "placed");
    assert_int_equal(glue_apply(f, "placed"), 0);
    assert_int_equal(f->glue.fsm.snapshot(&f->glue.fsm, &bufs, &n_bufs), RAFT_IOERR);
    assert_null(bufs);
    assert_int_equal(f->stops, 1);
    assert_true(f->glue.failed);
    /* libraft asks again after every apply: refused quietly, the member is stopping */
    assert_int_equal(f->glue.fsm.snapshot(&f->glue.fsm, &bufs, &n_bufs), RAFT_IOERR);
    assert_int_equal(f->stops, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_broken_by_a_hash_stops_the_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_apply_on_a_broken_store_stops_the_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_snapshot_commit_stops_the_member, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
