/* bg_fixture: what the unit tests of the background-thread jobs share (test_plan_async.c,
 * test_kylin_reconcile_async.c, test_kylin_follow_async.c): a store in a file (a second
 * connection can pin it), a libuv loop and the member's background thread; a job that holds
 * the thread until released, so that what the test does before the release happens before
 * the job under test reads, whatever the scheduling. Static functions; include after
 * <cmocka.h> and store_helpers.h. */
#ifndef TESTS_UNIT_BG_FIXTURE_H
#define TESTS_UNIT_BG_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "raftnode/bgworker.h"
#include "store_helpers.h"

struct bg_base {
    uv_loop_t loop;
    struct store s;
    struct bgworker bg;
    bool bg_closed; /* the test closed the thread itself */
    char dir[64];
    uint64_t index; /* next index to apply */
};

/* A new directory /tmp/NAME.XXXXXX with state.db, the loop and the thread. 0 or -1. */
static int bg_base_open(struct bg_base *b, const char *name)
{
    char path[128];
    snprintf(b->dir, sizeof b->dir, "/tmp/%s.XXXXXX", name);
    if (mkdtemp(b->dir) == NULL || uv_loop_init(&b->loop) != 0) {
        return -1;
    }
    snprintf(path, sizeof path, "%s/state.db", b->dir);
    if (store_open(&b->s, path) != 0 || bgworker_start(&b->bg, &b->loop, 10) != 0) {
        return -1;
    }
    b->index = 1;
    return 0;
}

/* A fixture of SIZE bytes whose first member is a struct bg_base, opened as bg_base_open
 * does; NULL when that failed. Free it with bg_fixture_free. */
static void *bg_fixture_new(size_t size, const char *name)
{
    struct bg_base *b = calloc(1, size);
    if (b == NULL || bg_base_open(b, name) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

/* Closes the thread unless the test did: every job's DONE has run when this returns (free
 * what a job held after it). */
static void bg_base_stop(struct bg_base *b)
{
    if (!b->bg_closed) {
        bgworker_close(&b->bg);
        b->bg_closed = true;
    }
}

/* Closes the thread (unless the test did), the store and the loop; removes the directory. */
static int bg_base_close(struct bg_base *b)
{
    if (!b->bg_closed) {
        bgworker_close(&b->bg);
    }
    store_close(&b->s);
    int rc = uv_run(&b->loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&b->loop) == 0 ? 0 : -1;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0) {
        rc = -1;
    }
    return rc;
}

/* bg_base_close, then frees the fixture F (from bg_fixture_new). */
static int bg_fixture_free(void *f)
{
    int rc = bg_base_close(f);
    free(f);
    return rc;
}

/* Applies BATCH as one entry (left in the store's open group); every command accepted. */
static void bg_base_apply_ok(struct bg_base *b, struct batch *batch)
{
    const char *why = batch_apply_all_ok(&b->s, batch, b->index++);
    if (why != NULL) {
        fail_msg("%s", why);
    }
}

/* Runs the loop until *CBS is no longer 0 (bounded: the jobs take a few ms), then checks
 * that exactly one callback ran. */
static void bg_base_wait(struct bg_base *b, const int *cbs)
{
    for (int i = 0; i < 20000 && *cbs == 0; i++) {
        uv_run(&b->loop, UV_RUN_NOWAIT);
        if (*cbs == 0) {
            uv_sleep(1);
        }
    }
    assert_int_equal(*cbs, 1);
}

/* A job that holds the thread until bg_blocker_release. */
struct bg_blocker {
    struct bgjob job;
    uv_sem_t go;
    bool done;
};

static void bg_blocker_work(struct bgjob *job)
{
    struct bg_blocker *k = job->data;
    uv_sem_wait(&k->go);
}

static void bg_blocker_done(struct bgjob *job, int status)
{
    struct bg_blocker *k = job->data;
    (void)status;
    k->done = true;
}

static void bg_blocker_start(struct bg_base *b, struct bg_blocker *k)
{
    memset(k, 0, sizeof *k);
    k->job.data = k;
    assert_int_equal(uv_sem_init(&k->go, 0), 0);
    assert_int_equal(bgworker_submit(&b->bg, &k->job, bg_blocker_work, bg_blocker_done), 0);
}

/* Lets the thread go on; the semaphore is destroyed once the blocker's DONE ran. */
static void bg_blocker_release(struct bg_blocker *k)
{
    uv_sem_post(&k->go);
}

static void bg_blocker_end(struct bg_blocker *k)
{
    assert_true(k->done);
    uv_sem_destroy(&k->go);
}

#endif
