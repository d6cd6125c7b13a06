/* Unit tests of raftnode/snap_async.c and storage/image.c: a snapshot taken on the loop is a
 * placeholder that the wrapped io's snapshot_put replaces, off the loop, by the image of the
 * state at the snapshot's index (byte for byte what store_snapshot made then, although the
 * store applied and committed more meanwhile); other puts pass through; a failed copy or put
 * completes the put with the error; closing the io during a copy cancels the put and holds
 * libraft's close callback until then; an in-memory store copies on the loop. A fake raft_io
 * stands for libraft's uv io; the copies run on a bgworker thread, as in the member. */
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

#include "raftnode/snap_async.h"
#include "store_helpers.h"

/* What the fake io and the callbacks saw, in order. */
struct fake {
    struct raft_io io;
    uv_loop_t loop;
    struct store store;
    struct snap_async sa;
    struct bgworker bg;
    char dir[64];
    uint64_t index;        /* next entry index */
    /* the io's put */
    int puts;
    int put_rv;            /* what the io's put returns */
    void *put_base;        /* the buffer it was given (not copied: the test owns it) */
    size_t put_len;
    struct raft_io_snapshot_put *io_req;
    raft_io_snapshot_put_cb io_cb;
    /* the io's close */
    int closes;
    raft_io_close_cb io_close_cb;
    /* libraft's side */
    int put_cbs;
    int put_status;
    int close_cbs;
    int put_cb_order, close_cb_order, events;
    /* the snapshot libraft would hold */
    struct raft_snapshot snap;
    struct raft_io_snapshot_put req;
};

static struct fake *the_fake;

static int fake_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    (void)io;
    (void)trailing;
    struct fake *f = the_fake;
    f->puts++;
    f->put_base = snapshot->bufs[0].base;
    f->put_len = snapshot->bufs[0].len;
    f->io_req = req;
    f->io_cb = cb;
    return f->put_rv;
}

static void fake_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct fake *f = the_fake;
    f->closes++;
    f->io_close_cb = cb;
    cb(io); /* the io has nothing in flight: closed at once */
}

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct fake *f = the_fake;
    assert_ptr_equal(req, &f->req);
    f->put_cbs++;
    f->put_status = status;
    f->put_cb_order = ++f->events;
}

static void close_cb(struct raft_io *io)
{
    struct fake *f = the_fake;
    assert_ptr_equal(io, &f->io);
    f->close_cbs++;
    f->close_cb_order = ++f->events;
}

static void add_projects(struct fake *f, unsigned n, const char *prefix)
{
    static struct batch b;
    char name[64];
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s_%u", prefix, i);
        batch_add(&b, name);
    }
    struct store_results r;
    assert_int_equal(batch_apply(&f->store, &b, f->index++, &r), 0);
    store_results_free(&r);
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof *f);
    char path[128];
    if (f == NULL) {
        return -1;
    }
    strcpy(f->dir, "/tmp/test_snap_async.XXXXXX");
    if (mkdtemp(f->dir) == NULL || uv_loop_init(&f->loop) != 0) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    if (store_open(&f->store, path) != 0 || bgworker_start(&f->bg, &f->loop, 10) != 0) {
        free(f);
        return -1;
    }
    f->index = 1;
    f->io.snapshot_put = fake_put;
    f->io.close = fake_close;
    the_fake = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    snap_async_unwrap(&f->sa);
    bgworker_close(&f->bg);
    store_close(&f->store);
    int rc = uv_run(&f->loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&f->loop) == 0 ? 0 : -1;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        rc = -1;
    }
    free(f);
    return rc;
}

/* libraft's legacyTakeSnapshot: fsm->snapshot (here the hook alone), then at once the put. */
static void take(struct fake *f)
{
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(snap_async_take(&f->sa, &f->store, &buf, &len), 0);
    f->snap.index = f->store.applied_index;
    f->snap.term = 1;
    f->snap.bufs = raft_malloc(sizeof *f->snap.bufs);
    assert_non_null(f->snap.bufs);
    f->snap.bufs[0].base = buf;
    f->snap.bufs[0].len = len;
    f->snap.n_bufs = 1;
}

static int put(struct fake *f)
{
    return f->io.snapshot_put(&f->io, 8, &f->req, &f->snap, put_cb);
}

/* fsm_glue's snapshot_finalize */
static void finalize(struct fake *f)
{
    sqlite3_free(f->snap.bufs[0].base);
    raft_free(f->snap.bufs);
    f->snap.bufs = NULL;
}

static void run_until_copied(struct fake *f)
{
    for (int i = 0; i < 1000 && f->sa.busy; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_false(f->sa.busy);
}

static void test_image_is_the_state_at_the_snapshot_index(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    add_projects(f, 300, "before");
    /* what store_snapshot makes at this index, for comparison */
    void *want = NULL;
    size_t want_len = 0;
    assert_int_equal(store_snapshot(&f->store, &want, &want_len), 0);
    add_projects(f, 1, "last"); /* left in the open group: the take must commit it */
    uint64_t at = f->store.applied_index;
    sqlite3_free(want);
    assert_int_equal(store_snapshot(&f->store, &want, &want_len), 0);

    take(f);
    assert_int_equal(f->snap.bufs[0].len, 0); /* a placeholder */
    assert_int_equal(put(f), 0);
    assert_int_equal(f->puts, 0); /* the io is called once the copy is made */
    assert_true(f->sa.busy);
    /* the loop applies and commits on meanwhile */
    add_projects(f, 200, "after");
    assert_int_equal(store_commit(&f->store), 0);
    run_until_copied(f);

    assert_int_equal(f->puts, 1);
    assert_ptr_equal(f->io_req, &f->req);
    assert_ptr_equal(f->put_base, f->snap.bufs[0].base);
    assert_int_equal(f->put_len, want_len);
    assert_memory_equal(f->put_base, want, want_len);
    assert_int_equal(f->put_cbs, 0); /* the io's own callback completes it */
    f->io_cb(f->io_req, 0);
    assert_int_equal(f->put_cbs, 1);
    assert_int_equal(f->put_status, 0);
    assert_int_equal(f->sa.copies, 1);

    /* the image restores to exactly that state */
    struct store r;
    assert_int_equal(store_open(&r, ":memory:"), 0);
    assert_int_equal(store_restore(&r, f->snap.bufs[0].base, f->snap.bufs[0].len), 0);
    assert_int_equal(r.applied_index, at);
    assert_int_equal(store_project_exists(&r, "last_0", 6), 1);
    assert_int_equal(store_project_exists(&r, "after_0", 7), 0);
    store_close(&r);
    sqlite3_free(want);
    finalize(f);

    /* the next snapshot sees the later state */
    take(f);
    assert_int_equal(put(f), 0);
    run_until_copied(f);
    assert_int_equal(f->puts, 2);
    assert_int_equal(store_open(&r, ":memory:"), 0);
    assert_int_equal(store_restore(&r, f->snap.bufs[0].base, f->snap.bufs[0].len), 0);
    assert_int_equal(r.applied_index, f->store.applied_index);
    assert_int_equal(store_project_exists(&r, "after_199", 9), 1);
    store_close(&r);
    f->io_cb(f->io_req, 0);
    finalize(f);
}

static void test_other_puts_pass_through(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    char data[16] = "installed image";
    struct raft_buffer buf = {data, sizeof data};
    f->snap.bufs = &buf;
    f->snap.n_bufs = 1;
    f->put_rv = RAFT_NOSPACE;
    assert_int_equal(put(f), RAFT_NOSPACE); /* as the io answered, synchronously */
    assert_int_equal(f->puts, 1);
    assert_ptr_equal(f->put_base, data);
    assert_false(f->sa.busy);
}

static void test_failed_copy_fails_the_put(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    add_projects(f, 10, "p");
    take(f);
    void *placeholder = f->snap.bufs[0].base;
    f->sa.image.fail_copy = true;
    assert_int_equal(put(f), 0);
    run_until_copied(f);
    assert_int_equal(f->puts, 0);
    assert_int_equal(f->put_cbs, 1);
    assert_int_equal(f->put_status, RAFT_IOERR);
    assert_ptr_equal(f->snap.bufs[0].base, placeholder); /* finalize frees it */
    assert_int_equal(f->sa.copy_failures, 1);
    assert_false(f->sa.image.pinned);
    finalize(f);
    /* the next snapshot works */
    take(f);
    assert_int_equal(put(f), 0);
    run_until_copied(f);
    assert_int_equal(f->puts, 1);
    f->io_cb(f->io_req, 0);
    assert_int_equal(f->put_status, 0);
    finalize(f);
}

static void test_failed_io_put_after_the_copy_fails_the_put(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    add_projects(f, 10, "p");
    take(f);
    f->put_rv = RAFT_NOSPACE;
    assert_int_equal(put(f), 0);
    run_until_copied(f);
    assert_int_equal(f->puts, 1);
    assert_int_equal(f->put_cbs, 1);
    assert_int_equal(f->put_status, RAFT_NOSPACE);
    assert_true(f->snap.bufs[0].len > 0); /* the image, for finalize to free */
    finalize(f);
}

static void test_close_during_a_copy_cancels_it_first(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    add_projects(f, 300, "p");
    take(f);
    assert_int_equal(put(f), 0);
    f->io.close(&f->io, close_cb);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_cbs, 0); /* held: the copy is in flight */
    run_until_copied(f);
    assert_int_equal(f->puts, 0);
    assert_int_equal(f->put_cbs, 1);
    assert_int_equal(f->put_status, RAFT_CANCELED);
    assert_int_equal(f->close_cbs, 1);
    assert_true(f->put_cb_order < f->close_cb_order);
    finalize(f);
}

static void test_close_without_a_copy_is_passed_on(void **state)
{
    struct fake *f = *state;
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &f->store), 0);
    f->io.close(&f->io, close_cb);
    assert_int_equal(f->closes, 1);
    assert_int_equal(f->close_cbs, 1);
}

static void test_memory_store_copies_on_the_loop(void **state)
{
    struct fake *f = *state;
    struct store m;
    assert_int_equal(store_open(&m, ":memory:"), 0);
    assert_int_equal(snap_async_wrap(&f->sa, &f->io, &f->loop, &f->bg, &m), 1);
    assert_ptr_equal(f->io.snapshot_put, fake_put); /* nothing wrapped */
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(snap_async_take(&f->sa, &m, &buf, &len), 0);
    assert_true(len > 0);
    sqlite3_free(buf);
    store_close(&m);
}

static void test_pin_twice_is_refused(void **state)
{
    struct fake *f = *state;
    struct store_image im;
    assert_int_equal(store_image_open(&im, f->store.path), 0);
    add_projects(f, 3, "p");
    assert_int_equal(store_image_pin(&im, &f->store), 0);
    assert_int_equal(im.index, f->store.applied_index);
    assert_int_equal(store_image_pin(&im, &f->store), -1);
    assert_non_null(strstr(im.errmsg, "still pinned"));
    store_image_close(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_image_is_the_state_at_the_snapshot_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_puts_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_copy_fails_the_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_io_put_after_the_copy_fails_the_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_during_a_copy_cancels_it_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_without_a_copy_is_passed_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_store_copies_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_twice_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
