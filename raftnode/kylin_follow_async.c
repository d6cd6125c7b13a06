/* kylin_follow_async: the follow comparison on the background thread (see
 * kylin_follow_async.h). */
#include "kylin_follow_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kylin/error.h"

/* Either thread: Kylin's valid names against the quorum's projects read. */
static int compare(struct kylin_follow_async *fa)
{
    const struct pinned_read *rd = &fa->read;
    const struct epoch_projects *l = fa->list;
    fa->kylin = calloc(l->n + 1, sizeof *fa->kylin);
    fa->quorum = calloc(rd->n + 1, sizeof *fa->quorum);
    fa->listed = calloc(rd->n + 1, sizeof *fa->listed);
    if (fa->kylin == NULL || fa->quorum == NULL || fa->listed == NULL) {
        snprintf(fa->errmsg, sizeof fa->errmsg, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        /* the quorum's own name rule (a leading '_' is reserved, e.g.) is stricter than Kylin's */
        if (store_check_project_name(l->names[i], strlen(l->names[i])) != NULL) {
            if (fa->skipped++ == 0) {
                fa->first_skipped = l->names[i];
            }
            continue;
        }
        fa->kylin[fa->nk++] = l->names[i];
    }
    for (size_t i = 0; i < rd->n; i++) {
        fa->quorum[i] = rd->projects[i].name;
        fa->listed[i] = rd->projects[i].kylin_listed;
    }
    if (kylin_follow_diff(fa->kylin, fa->nk, fa->quorum, fa->listed, rd->n, &fa->plan) != KYLIN_OK) {
        snprintf(fa->errmsg, sizeof fa->errmsg, "out of memory");
        return -1;
    }
    fa->plan_set = true;
    return 0;
}

/* Worker thread. */
static void work(struct bgjob *job)
{
    struct kylin_follow_async *fa = job->data;
    fa->rc = pinned_read_projects(&fa->read, fa->errmsg, sizeof fa->errmsg);
    if (fa->rc == 0) {
        fa->rc = compare(fa);
    }
}

/* Loop thread. */
static void done(struct bgjob *job, int status)
{
    struct kylin_follow_async *fa = job->data;
    if (status != 0) { /* cancelled: the worker closed with the member */
        fa->rc = -1;
        snprintf(fa->errmsg, sizeof fa->errmsg, "the member is stopping");
    }
    fa->cb(fa, fa->rc, fa->errmsg);
}

int kylin_follow_async_start(struct kylin_follow_async *fa, struct epoch_projects *list, struct store *st,
                             struct bgworker *bg, kylin_follow_async_cb cb)
{
    void *data = fa->data;
    memset(fa, 0, sizeof *fa);
    fa->data = data;
    fa->cb = cb;
    fa->job.data = fa;
    fa->list = list;
    /* 1: an in-memory store, compared on the loop */
    return pinned_read_submit(&fa->read, st, bg, &fa->job, work, done, "the comparison", fa->errmsg,
                              sizeof fa->errmsg);
}

int kylin_follow_async_run_here(struct kylin_follow_async *fa, struct store *st)
{
    if (pinned_read_here(&fa->read, st, fa->errmsg, sizeof fa->errmsg) != 0) {
        return -1;
    }
    return compare(fa);
}

void kylin_follow_async_free(struct kylin_follow_async *fa)
{
    void *data = fa->data;
    if (fa->plan_set) {
        kylin_follow_plan_free(&fa->plan);
    }
    pinned_read_free(&fa->read);
    free(fa->kylin);
    free(fa->quorum);
    free(fa->listed);
    if (fa->list != NULL) {
        epoch_projects_free(fa->list);
        free(fa->list);
    }
    memset(fa, 0, sizeof *fa);
    fa->data = data;
}
