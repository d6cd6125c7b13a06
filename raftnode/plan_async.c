/* plan_async: rebalance plans on the background thread (see plan_async.h). */
#include "plan_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Worker thread: reads every project through the pinned connection, then plans. */
static void work(struct bgjob *job)
{
    struct plan_async *pa = job->data;
    pa->rc = -1;
    if (pinned_read_projects(&pa->read, pa->errmsg, sizeof pa->errmsg) != 0) {
        return;
    }
    /* the rows move to the plan's input (sched_core_rebalance_free frees them) */
    pa->r.projects = pa->read.projects;
    pa->r.np = pa->read.n;
    pa->read.projects = NULL;
    pa->read.n = pa->read.cap = 0;
    if (sched_core_rebalance_plan(&pa->r, &pa->plan) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "out of memory planning %zu projects", pa->r.np);
        return;
    }
    pa->rc = 0;
}

/* Loop thread. */
static void done(struct bgjob *job, int status)
{
    struct plan_async *pa = job->data;
    pinned_read_free(&pa->read);
    sched_core_rebalance_free(&pa->r);
    if (status != 0) { /* cancelled: the worker closed with the member */
        pa->rc = -1;
        snprintf(pa->errmsg, sizeof pa->errmsg, "the member is stopping");
    }
    if (pa->rc != 0) {
        sched_plan_free(&pa->plan);
    }
    pa->cb(pa, pa->rc, &pa->plan, pa->errmsg);
}

int plan_async_rebalance(struct plan_async *pa, struct sched_core *core, struct store *st, struct bgworker *bg,
                         plan_async_cb cb)
{
    void *data = pa->data;
    memset(pa, 0, sizeof *pa);
    pa->data = data;
    pa->cb = cb;
    pa->job.data = pa;
    if (strcmp(st->path, ":memory:") == 0) {
        return 1; /* planned on the loop by the caller */
    }
    /* The engines through the store's own connection, which sees the open group: the same
     * state as the pin below commits and pins in this same loop turn. */
    if (sched_core_rebalance_begin(core, st, &pa->r) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "%s",
                 pa->r.errmsg[0] != '\0' ? pa->r.errmsg : "out of memory reading the engines");
        return -1;
    }
    int rc = pinned_read_submit(&pa->read, st, bg, &pa->job, work, done, "the planning job", pa->errmsg,
                                sizeof pa->errmsg);
    if (rc != 0) {
        sched_core_rebalance_free(&pa->r);
        return rc;
    }
    pa->index = pa->read.index;
    return 0;
}

const char *plan_async_errmsg(const struct plan_async *pa)
{
    return pa->errmsg;
}
