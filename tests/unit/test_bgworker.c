/* Unit tests of raftnode/bgworker.c and raftnode/aio_defer.c: jobs run in order on the worker
 * thread and report back on the loop thread; the worker's priority is lowered (read back from
 * the thread itself) and the loop's is not; closing with a job in flight and jobs queued waits
 * for the first and cancels the others, and nothing is submitted after; io_destroy made on the
 * attached loop thread runs on the worker (other syscalls, and io_destroy on other threads,
 * pass through), and one cancelled at close still runs. */
#include <errno.h>
#include <linux/aio_abi.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "raftnode/aio_defer.h"
#include "raftnode/bgworker.h"

struct rec_job {
    struct bgjob job;
    struct fixture *f;
    int id;
    bool ran;             /* set by work */
    bool on_worker;       /* work ran on a thread other than the loop's */
    bool done_on_loop;
    int done_status;
    int done_order;
    int nice;             /* what the worker thread read back */
    int policy;
    bool hold;            /* work waits until the worker is stopping */
    uv_sem_t *started;
};

/* In the fixture, not on a test's stack: a failed assertion leaves the test function while a
 * held job still reads its record (teardown's close releases it). */
struct fixture {
    uv_loop_t loop;
    struct bgworker w;
    uv_thread_t loop_thread;
    struct rec_job jobs[4];
};

static int done_count;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || uv_loop_init(&f->loop) != 0) {
        free(f);
        return -1;
    }
    f->loop_thread = uv_thread_self();
    done_count = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bgworker_close(&f->w);
    int rc = uv_run(&f->loop, UV_RUN_DEFAULT) == 0 && uv_loop_close(&f->loop) == 0 ? 0 : -1;
    free(f);
    return rc;
}

/* The worker's stopping flag, read under its lock (white box: the only way to keep a job in
 * flight exactly until bgworker_close has taken the queue). */
static bool worker_stopping(struct bgworker *w)
{
    uv_mutex_lock(&w->lock);
    bool s = w->stopping;
    uv_mutex_unlock(&w->lock);
    return s;
}

static void rec_work(struct bgjob *job)
{
    struct rec_job *r = job->data;
    uv_thread_t self = uv_thread_self();
    r->on_worker = !uv_thread_equal(&self, &r->f->loop_thread);
    errno = 0;
    r->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    r->policy = sched_getscheduler(0);
    if (r->started != NULL) {
        uv_sem_post(r->started);
    }
    for (int i = 0; r->hold && i < 10000 && !worker_stopping(&r->f->w); i++) {
        uv_sleep(1);
    }
    r->ran = true;
}

static void rec_done(struct bgjob *job, int status)
{
    struct rec_job *r = job->data;
    uv_thread_t self = uv_thread_self();
    r->done_on_loop = uv_thread_equal(&self, &r->f->loop_thread);
    r->done_status = status;
    r->done_order = ++done_count;
}

static void rec_init(struct rec_job *r, struct fixture *f, int id)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->id = id;
    r->done_status = -12345;
    r->job.data = r;
}

static void run_until_done(struct fixture *f, int n)
{
    for (int i = 0; i < 10000 && done_count < n; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(done_count, n);
}

static int own_nice(void)
{
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    assert_false(n == -1 && errno != 0);
    return n;
}

static void test_jobs_run_on_the_worker_and_report_on_the_loop(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    struct rec_job *r = f->jobs;
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], f, i);
        assert_int_equal(bgworker_submit(&f->w, &r[i].job, rec_work, rec_done), 0);
    }
    run_until_done(f, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(r[i].ran);
        assert_true(r[i].on_worker);
        assert_true(r[i].done_on_loop);
        assert_int_equal(r[i].done_status, 0);
        assert_int_equal(r[i].done_order, i + 1); /* in the order submitted */
    }
    assert_int_equal(f->w.submitted, 3);
}

static void test_priority_is_lowered_on_the_worker_only(void **state)
{
    struct fixture *f = *state;
    int loop_nice = own_nice();
    int loop_policy = sched_getscheduler(0);
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    struct rec_job *r = &f->jobs[0];
    rec_init(r, f, 1);
    assert_int_equal(bgworker_submit(&f->w, &r->job, rec_work, rec_done), 0);
    run_until_done(f, 1);
    int want = loop_nice + 10 > BGWORKER_NICE_MAX ? BGWORKER_NICE_MAX : loop_nice + 10;
    assert_int_equal(r->nice, want);
    assert_int_equal(r->policy, SCHED_BATCH);
    assert_int_equal(f->w.nice, want);
    assert_int_equal(f->w.nice_errno, 0);
    assert_int_equal(f->w.batch_errno, 0);
    /* the loop thread kept its own */
    assert_int_equal(own_nice(), loop_nice);
    assert_int_equal(sched_getscheduler(0), loop_policy);
}

static void test_nice_zero_keeps_the_nice_value(void **state)
{
    struct fixture *f = *state;
    int loop_nice = own_nice();
    assert_int_equal(bgworker_start(&f->w, &f->loop, 0), 0);
    struct rec_job *r = &f->jobs[0];
    rec_init(r, f, 1);
    assert_int_equal(bgworker_submit(&f->w, &r->job, rec_work, rec_done), 0);
    run_until_done(f, 1);
    assert_int_equal(r->nice, loop_nice);
    assert_int_equal(r->policy, SCHED_BATCH);
}

static void test_close_waits_for_the_job_in_flight_and_cancels_the_queued(void **state)
{
    struct fixture *f = *state;
    uv_sem_t started;
    assert_int_equal(uv_sem_init(&started, 0), 0);
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    struct rec_job *r = f->jobs;
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], f, i);
    }
    r[0].hold = true;
    r[0].started = &started;
    assert_int_equal(bgworker_submit(&f->w, &r[0].job, rec_work, rec_done), 0);
    uv_sem_wait(&started); /* r[0] in flight, held until close */
    assert_int_equal(bgworker_submit(&f->w, &r[1].job, rec_work, rec_done), 0);
    assert_int_equal(bgworker_submit(&f->w, &r[2].job, rec_work, rec_done), 0);
    bgworker_close(&f->w);
    /* every DONE ran inside close, on the loop thread */
    assert_int_equal(done_count, 3);
    assert_true(r[0].ran);
    assert_int_equal(r[0].done_status, 0);
    assert_int_equal(r[0].done_order, 1);
    for (int i = 1; i < 3; i++) {
        assert_false(r[i].ran);
        assert_int_equal(r[i].done_status, UV_ECANCELED);
        assert_true(r[i].done_on_loop);
        assert_int_equal(r[i].done_order, i + 1);
    }
    struct rec_job *late = &f->jobs[3];
    rec_init(late, f, 9);
    assert_int_equal(bgworker_submit(&f->w, &late->job, rec_work, rec_done), UV_ECANCELED);
    bgworker_close(&f->w); /* twice: nothing */
    uv_sem_destroy(&started);
    assert_int_equal(done_count, 3);
}

static void test_close_of_a_worker_never_started(void **state)
{
    (void)state;
    struct bgworker w;
    memset(&w, 0, sizeof w);
    bgworker_close(&w);
    struct bgjob j;
    assert_int_equal(bgworker_submit(&w, &j, NULL, NULL), UV_ECANCELED);
}

/* ---- aio_defer ---- */

static aio_context_t new_ctx(void)
{
    aio_context_t ctx = 0;
    assert_int_equal(syscall(SYS_io_setup, 4, &ctx), 0); /* passed through */
    assert_true(ctx != 0);
    return ctx;
}

/* A context exists until destroyed: io_getevents on it answers 0 events, on a destroyed one
 * EINVAL. */
static bool ctx_alive(aio_context_t ctx)
{
    struct io_event ev;
    struct timespec zero = {0, 0};
    return syscall(SYS_io_getevents, ctx, 0, 1, &ev, &zero) == 0;
}

static void test_io_destroy_on_the_loop_runs_on_the_worker(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    aio_defer_attach(&f->w);
    unsigned long deferred = aio_defer_deferred;
    aio_context_t ctx = new_ctx();
    assert_true(ctx_alive(ctx));
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    assert_int_equal(aio_defer_deferred, deferred + 1);
    /* its DONE (the job freed) comes back on the loop; then the context is gone */
    for (int i = 0; i < 10000 && ctx_alive(ctx); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    assert_false(ctx_alive(ctx));
    aio_defer_attach(NULL);
    /* detached: synchronous again */
    ctx = new_ctx();
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    assert_false(ctx_alive(ctx));
    assert_int_equal(aio_defer_deferred, deferred + 1);
    assert_int_equal(syscall(SYS_io_destroy, ctx), -1); /* errors pass through */
    assert_int_equal(errno, EINVAL);
}

static void destroy_on_thread(void *arg)
{
    aio_context_t *ctx = arg;
    if (syscall(SYS_io_destroy, *ctx) != 0) {
        *ctx = 0;
    }
}

static void test_io_destroy_on_another_thread_is_synchronous(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    aio_defer_attach(&f->w);
    unsigned long deferred = aio_defer_deferred;
    aio_context_t ctx = new_ctx(), seen = ctx;
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, destroy_on_thread, &seen), 0);
    assert_int_equal(uv_thread_join(&t), 0);
    assert_true(seen == ctx); /* the call succeeded there */
    assert_false(ctx_alive(ctx)); /* already gone: not queued */
    assert_int_equal(aio_defer_deferred, deferred);
    aio_defer_attach(NULL);
}

/* Starts F's worker, attaches aio_defer to it and keeps it busy with a job held until the
 * worker is stopping (STARTED: initialised here, destroyed by the caller). */
static void start_held_worker(struct fixture *f, uv_sem_t *started)
{
    assert_int_equal(uv_sem_init(started, 0), 0);
    assert_int_equal(bgworker_start(&f->w, &f->loop, 10), 0);
    aio_defer_attach(&f->w);
    struct rec_job *hold = &f->jobs[0];
    rec_init(hold, f, 0);
    hold->hold = true;
    hold->started = started;
    assert_int_equal(bgworker_submit(&f->w, &hold->job, rec_work, rec_done), 0);
    uv_sem_wait(started);
}

static void test_io_destroy_cancelled_at_close_still_runs(void **state)
{
    struct fixture *f = *state;
    uv_sem_t started;
    start_held_worker(f, &started);
    unsigned long inline_before = aio_defer_inline;
    aio_context_t ctx = new_ctx();
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0); /* queued behind HOLD */
    assert_true(ctx_alive(ctx));
    aio_defer_attach(NULL);
    bgworker_close(&f->w);
    assert_false(ctx_alive(ctx)); /* cancelled, so run at close on the loop thread */
    assert_int_equal(aio_defer_inline, inline_before + 1);
    uv_sem_destroy(&started);
    /* a worker that is closed: io_destroy runs at once */
    aio_defer_attach(&f->w);
    ctx = new_ctx();
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    assert_false(ctx_alive(ctx));
    assert_int_equal(aio_defer_inline, inline_before + 2);
    aio_defer_attach(NULL);
}

/* Past AIO_DEFER_MAX_PENDING queued destroys (the worker busy), a destroy runs on the loop at
 * once: the contexts held past their use stay bounded. */
static void test_io_destroy_queue_is_bounded(void **state)
{
    struct fixture *f = *state;
    uv_sem_t started;
    aio_context_t ctx[AIO_DEFER_MAX_PENDING + 1];
    start_held_worker(f, &started);
    unsigned long deferred = aio_defer_deferred, inline_before = aio_defer_inline;
    for (int i = 0; i <= AIO_DEFER_MAX_PENDING; i++) {
        ctx[i] = new_ctx();
        assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
    }
    assert_int_equal(aio_defer_deferred, deferred + AIO_DEFER_MAX_PENDING);
    assert_int_equal(aio_defer_inline, inline_before + 1);
    for (int i = 0; i < AIO_DEFER_MAX_PENDING; i++) {
        assert_true(ctx_alive(ctx[i])); /* queued behind HOLD */
    }
    assert_false(ctx_alive(ctx[AIO_DEFER_MAX_PENDING])); /* the one over the bound: at once */
    aio_defer_attach(NULL);
    bgworker_close(&f->w); /* the queued ones are cancelled and run on the loop */
    for (int i = 0; i < AIO_DEFER_MAX_PENDING; i++) {
        assert_false(ctx_alive(ctx[i]));
    }
    uv_sem_destroy(&started);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jobs_run_on_the_worker_and_report_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_is_lowered_on_the_worker_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nice_zero_keeps_the_nice_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_waits_for_the_job_in_flight_and_cancels_the_queued, setup, teardown),
        cmocka_unit_test(test_close_of_a_worker_never_started),
        cmocka_unit_test_setup_teardown(test_io_destroy_on_the_loop_runs_on_the_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_destroy_on_another_thread_is_synchronous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_destroy_cancelled_at_close_still_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_destroy_queue_is_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
