/* kylin_reconcile_async: a Kylin round's decision (kylin/reconcile.h) computed on the member's
 * background thread (issue 13, "load held": metastore work runs off the loop).
 *
 * Each round of the Kylin link (kylin_link.c) decides on every project of the state: its
 * desired owner against the epoch table's rows and the claims recorded. On the loop thread
 * that was the read of every project (~4 ms at 10,000 projects, ~40 ms at 100,000) and
 * kylin_reconcile (~6 ms and ~120 ms), on every member, once per round, and a round starts at
 * each ownership change: during a bulk load the loop was busy with little else. Here the loop
 * commits the store's open group and pins its state on a second, read-only connection (as
 * plan_async.h does); the worker reads the projects through it and runs kylin_reconcile.
 *
 * The caller keeps what IN borrows (the claims', rows' and just-claimed strings) unchanged
 * and alive until CB ran: the link holds its round open (round_busy) meanwhile, and defers
 * freeing them when it closes with a job in flight. The identity and the maintenance marker
 * are copied here (a health answer may change the link's identity meanwhile).
 *
 * Owns: the read (pinned_read.h), the desired array, the copies, the arrays given to
 * kylin_rec_async_start, OUT and the picks until kylin_rec_async_free. Calls: pinned_read.h,
 * kylin/reconcile.h, kylin_claims.h (the pick), bgworker.h. */
#ifndef RAFTNODE_KYLIN_RECONCILE_ASYNC_H
#define RAFTNODE_KYLIN_RECONCILE_ASYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "../kylin/reconcile.h"
#include "../storage/store.h"
#include "bgworker.h"
#include "kylin_claims.h"
#include "pinned_read.h"

struct kylin_rec_async;
/* Loop thread. RC 0: OUT and the projects are ready; -1: ERRMSG says why (the member is
 * stopping, the read failed, out of memory). The caller then calls kylin_rec_async_free. */
typedef void (*kylin_rec_async_cb)(struct kylin_rec_async *ra, int rc, const char *errmsg);

struct kylin_rec_async {
    void *data;                          /* public: the caller's */
    kylin_rec_async_cb cb;               /* private */
    struct bgjob job;                    /* private */
    struct pinned_read read;             /* read-only after CB: every project (read.projects, read.n) */
    struct kylin_reconcile_in in;        /* private: the input, desired filled by the read */
    char *identity;                      /* private: copy of in.identity */
    char *maint_owner;                   /* private: copy of in.maint_owner */
    struct kylin_claim *claims;          /* private: in.claims, given by the caller */
    struct kylin_row *rows;              /* private: in.rows, given by the caller */
    struct kylin_desired *desired;       /* private */
    struct kylin_reconcile_out out;      /* read-only after CB with rc 0 */
    const struct epoch_rows *table;      /* private: the rows as read (borrowed), for the picks */
    struct kylin_claims_pick *picks;     /* read-only after CB with rc 0: the claims to record
                                          * (kylin_claims_pick, for out.identity) */
    size_t n_picks;                      /* read-only */
    bool out_set;                        /* private: OUT needs kylin_reconcile_free */
    int rc;                              /* private */
    char errmsg[600];                    /* read-only: room for a reader errmsg (512) with context */
};

/* Loop thread: starts the decision on ST's state now. IN is the round's input without the
 * desired projects (in.desired and in.n_desired are filled from the state); its claims and
 * rows arrays (malloc'd) become RA's, freed by kylin_rec_async_free, even when this fails.
 * TABLE is the epoch table as read (borrowed like IN's strings): the claims of in.self's
 * projects that it shows recorded differently are picked too (kylin_claims_pick).
 * 0: CB runs on the loop thread later, never from inside this call; 1: ST has no file a
 * second connection can open (":memory:"): nothing started, call kylin_rec_async_run_here;
 * -1: RA->errmsg says why (nothing started; call kylin_rec_async_free). RA stays put until CB
 * ran. */
int kylin_rec_async_start(struct kylin_rec_async *ra, const struct kylin_reconcile_in *in,
                          const struct epoch_rows *table, struct store *st, struct bgworker *bg,
                          kylin_rec_async_cb cb);

/* Loop thread: the same decision computed here, now (after kylin_rec_async_start returned 1).
 * 0, or -1 (RA->errmsg). CB is not called. */
int kylin_rec_async_run_here(struct kylin_rec_async *ra, struct store *st);

/* Frees everything RA holds (OUT included); RA may be started again. */
void kylin_rec_async_free(struct kylin_rec_async *ra);

#endif
