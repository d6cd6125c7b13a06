/* kylin_reconcile_async: a Kylin round's decision on the background thread (see
 * kylin_reconcile_async.h). */
#include "kylin_reconcile_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Either thread: the desired owners of the projects read, then kylin_reconcile. */
static int decide(struct kylin_rec_async *ra)
{
    const struct pinned_read *rd = &ra->read;
    ra->desired = calloc(rd->n + 1, sizeof *ra->desired);
    if (ra->desired == NULL) {
        snprintf(ra->errmsg, sizeof ra->errmsg, "out of memory deciding on %zu projects", rd->n);
        return -1;
    }
    for (size_t i = 0; i < rd->n; i++) {
        ra->desired[i] = (struct kylin_desired){.project = rd->projects[i].name, .engine = rd->projects[i].owner};
    }
    ra->in.desired = ra->desired;
    ra->in.n_desired = rd->n;
    if (kylin_reconcile(&ra->in, &ra->out) != 0) {
        snprintf(ra->errmsg, sizeof ra->errmsg, "reconcile failed (out of memory)");
        return -1;
    }
    ra->out_set = true;
    if (kylin_claims_pick(ra->read.claims, ra->read.n_claims, ra->out.identity, ra->table, ra->in.targets_fold_case,
                          &ra->picks, &ra->n_picks) != 0) {
        snprintf(ra->errmsg, sizeof ra->errmsg, "out of memory comparing the recorded claims");
        return -1;
    }
    return 0;
}

/* Worker thread: reads every project through the pinned connection, then decides. */
static void work(struct bgjob *job)
{
    struct kylin_rec_async *ra = job->data;
    ra->rc = pinned_read_projects(&ra->read, ra->errmsg, sizeof ra->errmsg);
    if (ra->rc == 0) {
        ra->rc = decide(ra);
    }
}

/* Loop thread. */
static void done(struct bgjob *job, int status)
{
    struct kylin_rec_async *ra = job->data;
    if (status != 0) { /* cancelled: the worker closed with the member */
        ra->rc = -1;
        snprintf(ra->errmsg, sizeof ra->errmsg, "the member is stopping");
    }
    ra->cb(ra, ra->rc, ra->errmsg);
}

/* Copies IN's strings that the link may change meanwhile; takes its arrays. 0 or -1. */
static int take_input(struct kylin_rec_async *ra, const struct kylin_reconcile_in *in)
{
    ra->in = *in;
    ra->claims = (struct kylin_claim *)in->claims;
    ra->rows = (struct kylin_row *)in->rows;
    ra->in.desired = NULL;
    ra->in.n_desired = 0;
    if ((in->identity != NULL && (ra->identity = strdup(in->identity)) == NULL) ||
        (in->maint_owner != NULL && (ra->maint_owner = strdup(in->maint_owner)) == NULL)) {
        snprintf(ra->errmsg, sizeof ra->errmsg, "out of memory");
        return -1;
    }
    ra->in.identity = ra->identity;
    ra->in.maint_owner = ra->maint_owner;
    return 0;
}

int kylin_rec_async_start(struct kylin_rec_async *ra, const struct kylin_reconcile_in *in,
                          const struct epoch_rows *table, struct store *st, struct bgworker *bg,
                          kylin_rec_async_cb cb)
{
    void *data = ra->data;
    memset(ra, 0, sizeof *ra);
    ra->data = data;
    ra->cb = cb;
    ra->job.data = ra;
    ra->table = table;
    ra->read.claims_owner = in->self;
    if (take_input(ra, in) != 0) {
        return -1;
    }
    /* 1: an in-memory store, decided on the loop */
    return pinned_read_submit(&ra->read, st, bg, &ra->job, work, done, "the round's decision", ra->errmsg,
                              sizeof ra->errmsg);
}

int kylin_rec_async_run_here(struct kylin_rec_async *ra, struct store *st)
{
    if (pinned_read_here(&ra->read, st, ra->errmsg, sizeof ra->errmsg) != 0) {
        return -1;
    }
    return decide(ra);
}

void kylin_rec_async_free(struct kylin_rec_async *ra)
{
    void *data = ra->data;
    if (ra->out_set) {
        kylin_reconcile_free(&ra->out);
    }
    pinned_read_free(&ra->read);
    free(ra->picks);
    free(ra->desired);
    free(ra->claims);
    free(ra->rows);
    free(ra->identity);
    free(ra->maint_owner);
    memset(ra, 0, sizeof *ra);
    ra->data = data;
}
