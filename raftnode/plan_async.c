/* plan_async: rebalance plans on the background thread (see plan_async.h). */
#include "plan_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* store_reader_projects' callback: appends ROW to the plan's project array. */
static int collect(void *data, const struct store_reader_project *row)
{
    struct plan_async *pa = data;
    struct sched_rebalance *r = &pa->r;
    if (r->np == pa->projects_cap) {
        size_t cap = pa->projects_cap ? pa->projects_cap * 2 : 64;
        struct store_project_row *more = realloc(r->projects, cap * sizeof *more);
        if (more == NULL) {
            return -1;
        }
        r->projects = more;
        pa->projects_cap = cap;
    }
    char *name = strdup(row->name);
    if (name == NULL) {
        return -1;
    }
    r->projects[r->np++] = (struct store_project_row){
        .name = name, .owner = row->owner, .pinned = row->pinned, .epoch = row->epoch};
    return 0;
}

/* Worker thread: reads every project through the pinned connection, then plans. */
static void work(struct bgjob *job)
{
    struct plan_async *pa = job->data;
    pa->rc = -1;
    if (store_reader_projects(&pa->reader, collect, pa) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "reading the projects: %s", pa->reader.errmsg);
        store_reader_abort(&pa->reader);
        return;
    }
    store_reader_abort(&pa->reader); /* a read: nothing to commit; unpins the state */
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
    store_reader_close(&pa->reader);
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
        return 1;
    }
    /* The second connection sees what is committed: commit the open group first, so that the
     * plan covers every entry applied so far (as store_image_pin does for a snapshot). */
    if (st->group_entries > 0 && store_commit(st) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "%s", st->errmsg);
        return -1;
    }
    if (store_reader_open(&pa->reader, st->path) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "%s", pa->reader.errmsg);
        store_reader_close(&pa->reader);
        return -1;
    }
    uint64_t decision = 0;
    if (store_reader_begin(&pa->reader) != 0 || store_reader_indexes(&pa->reader, &pa->index, &decision) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "%s", pa->reader.errmsg);
        store_reader_close(&pa->reader);
        return -1;
    }
    if (sched_core_rebalance_begin(core, st, &pa->r) != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "%s",
                 pa->r.errmsg[0] != '\0' ? pa->r.errmsg : "out of memory reading the engines");
        store_reader_close(&pa->reader);
        return -1;
    }
    int rv = bgworker_submit(bg, &pa->job, work, done);
    if (rv != 0) {
        snprintf(pa->errmsg, sizeof pa->errmsg, "cannot start the planning job: %s", uv_strerror(rv));
        sched_core_rebalance_free(&pa->r);
        store_reader_close(&pa->reader);
        return -1;
    }
    return 0;
}

const char *plan_async_errmsg(const struct plan_async *pa)
{
    return pa->errmsg;
}
