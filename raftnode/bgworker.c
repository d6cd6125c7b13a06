/* bgworker: the member's background thread at a lowered priority (see bgworker.h). */
#include "bgworker.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"

static void push(struct bgjob **first, struct bgjob **tail, struct bgjob *job)
{
    job->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = job;
    } else {
        *first = job;
    }
    *tail = job;
}

/* Worker thread, once: SCHED_BATCH first (it keeps the nice value), then the nice value raised
 * on this thread alone (Linux: PRIO_PROCESS with a thread id names that thread). Results are
 * kept for bgworker_start to log on the loop thread. */
static void lower_priority(struct bgworker *w)
{
    pid_t tid = gettid();
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    w->batch_errno = sched_setscheduler(0, SCHED_BATCH, &sp) == 0 ? 0 : errno;
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)tid);
    if (cur == -1 && errno != 0) {
        w->nice_errno = errno;
        w->nice = 0;
        return;
    }
    w->nice = cur;
    int want = cur + w->increment;
    if (want > BGWORKER_NICE_MAX) {
        want = BGWORKER_NICE_MAX;
    }
    if (want != cur && setpriority(PRIO_PROCESS, (id_t)tid, want) != 0) {
        w->nice_errno = errno;
        return;
    }
    errno = 0;
    cur = getpriority(PRIO_PROCESS, (id_t)tid);
    w->nice = cur == -1 && errno != 0 ? w->nice : cur;
}

static void thread_main(void *arg)
{
    struct bgworker *w = arg;
    lower_priority(w);
    uv_sem_post(&w->ready);
    for (;;) {
        uv_mutex_lock(&w->lock);
        while (w->queued == NULL && !w->stopping) {
            uv_cond_wait(&w->wake, &w->lock);
        }
        struct bgjob *job = w->stopping ? NULL : w->queued;
        if (job != NULL) {
            w->queued = job->next;
            if (w->queued == NULL) {
                w->queued_tail = NULL;
            }
        }
        uv_mutex_unlock(&w->lock);
        if (job == NULL) {
            return; /* stopping: bgworker_close took what was queued */
        }
        job->work(job);
        uv_mutex_lock(&w->lock);
        push(&w->finished, &w->finished_tail, job);
        uv_mutex_unlock(&w->lock);
        uv_async_send(&w->async);
    }
}

/* Loop thread: DONE of every job the thread finished, in order. */
static void deliver_finished(struct bgworker *w)
{
    uv_mutex_lock(&w->lock);
    struct bgjob *job = w->finished;
    w->finished = w->finished_tail = NULL;
    uv_mutex_unlock(&w->lock);
    while (job != NULL) {
        struct bgjob *next = job->next;
        job->done(job, 0);
        job = next;
    }
}

static void async_cb(uv_async_t *a)
{
    deliver_finished(a->data);
}

int bgworker_start(struct bgworker *w, uv_loop_t *loop, int nice)
{
    memset(w, 0, sizeof *w);
    w->loop = loop;
    if (nice < 0 || nice > BGWORKER_NICE_MAX) {
        nice = nice < 0 ? 0 : BGWORKER_NICE_MAX;
    }
    int rv = uv_mutex_init(&w->lock);
    if (rv != 0) {
        goto err;
    }
    if ((rv = uv_cond_init(&w->wake)) != 0) {
        goto err_lock;
    }
    if ((rv = uv_sem_init(&w->ready, 0)) != 0) {
        goto err_cond;
    }
    if ((rv = uv_async_init(loop, &w->async, async_cb)) != 0) {
        goto err_sem;
    }
    w->async.data = w;
    w->increment = nice;
    if ((rv = uv_thread_create(&w->thread, thread_main, w)) != 0) {
        uv_close((uv_handle_t *)&w->async, NULL);
        goto err_sem;
    }
    uv_sem_wait(&w->ready);
    uv_sem_destroy(&w->ready);
    w->running = true;
    if (w->batch_errno != 0) {
        log_warn("background thread: SCHED_BATCH not set (%s); it runs as SCHED_OTHER",
                 strerror(w->batch_errno));
    }
    if (w->nice_errno != 0) {
        log_warn("background thread: its nice value could not be raised by %d (%s); checkpoints and "
                 "snapshot copies run at nice %d and compete with the event loop for the CPU",
                 nice, strerror(w->nice_errno), w->nice);
    } else {
        log_info("background thread (WAL checkpoints, snapshot copies) runs at nice %d%s", w->nice,
                 w->batch_errno == 0 ? ", SCHED_BATCH" : "");
    }
    return 0;

err_sem:
    uv_sem_destroy(&w->ready);
err_cond:
    uv_cond_destroy(&w->wake);
err_lock:
    uv_mutex_destroy(&w->lock);
err:
    log_warn("background thread not started: %s; WAL checkpoints and snapshot copies run on libuv's "
             "thread pool at the process's priority instead", uv_strerror(rv));
    return -1;
}

static void pool_work(uv_work_t *req)
{
    struct bgjob *job = req->data;
    job->work(job);
}

static void pool_done(uv_work_t *req, int status)
{
    struct bgjob *job = req->data;
    job->done(job, status);
}

int bgworker_submit(struct bgworker *w, struct bgjob *job, bgjob_work_fn work, bgjob_done_fn done)
{
    if (w->closed) {
        return UV_ECANCELED;
    }
    job->work = work;
    job->done = done;
    job->status = 0;
    w->submitted++;
    if (!w->running) {
        job->pool.data = job;
        return uv_queue_work(w->loop, &job->pool, pool_work, pool_done);
    }
    uv_mutex_lock(&w->lock);
    push(&w->queued, &w->queued_tail, job);
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    return 0;
}

void bgworker_close(struct bgworker *w)
{
    if (w->closed) {
        return;
    }
    w->closed = true;
    if (!w->running) {
        return; /* pool jobs complete by themselves, as the loop runs */
    }
    uv_mutex_lock(&w->lock);
    w->stopping = true;
    struct bgjob *cancelled = w->queued;
    w->queued = w->queued_tail = NULL;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    /* waits for the job in flight, if any (shutdown only) */
    int rv = uv_thread_join(&w->thread);
    if (rv != 0) {
        log_error("background thread: join: %s", uv_strerror(rv)); /* not reached: joinable */
    }
    w->running = false;
    deliver_finished(w);
    while (cancelled != NULL) {
        struct bgjob *next = cancelled->next;
        cancelled->done(cancelled, UV_ECANCELED);
        cancelled = next;
    }
    uv_cond_destroy(&w->wake);
    uv_mutex_destroy(&w->lock);
    uv_close((uv_handle_t *)&w->async, NULL);
}
