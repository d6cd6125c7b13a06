/* pinned_read: every project of a member's state as of now, read on the background thread
 * (issue 13, "load held"): the loop thread commits the store's open group and pins the state
 * on a second, read-only connection (storage/reader.h: a WAL read transaction, so the read
 * sees exactly the state at the applied index while the store writes on); the worker then
 * reads the projects through it. The Kylin
 * link's rounds (kylin_reconcile_async.h, kylin_follow_async.h) and a rebalance's plan
 * (plan_async.h) use this.
 *
 * Owns: its connection and the rows read, until pinned_read_free. Calls: storage/reader.h,
 * storage/store.h, bgworker.h (pinned_read_submit). */
#ifndef RAFTNODE_PINNED_READ_H
#define RAFTNODE_PINNED_READ_H

#include <stddef.h>
#include <stdint.h>

#include "../storage/reader.h"
#include "../storage/store.h"
#include "bgworker.h"

struct pinned_read {
    struct store_reader reader;          /* private */
    uint64_t index;                      /* read-only: the applied index of the state pinned */
    uint64_t claims_owner;               /* public, set before the start: also read this
                                          * engine's projects with their recorded claims */
    struct store_project_row *projects;  /* read-only after pinned_read_projects: by name */
    size_t n, cap;                       /* read-only / private */
    struct store_claim *claims;          /* read-only: claims_owner's projects, by name */
    size_t n_claims, cap_claims;         /* read-only / private */
};

/* Loop thread: pins ST's state now. 0; 1 when ST has no file a second connection can open
 * (":memory:"; nothing pinned: read with pinned_read_here); -1 with ERRMSG (when ST's commit
 * failed, ST is broken and ST->errmsg says why). P must be zeroed or freed before. */
int pinned_read_start(struct pinned_read *p, struct store *st, char *errmsg, size_t cap);
/* Loop thread: pinned_read_start, then JOB queued on BG (WORK on its thread, DONE back on the
 * loop), as each user of this does. 0: queued; 1: ST is in memory (nothing pinned, nothing
 * queued); -1 with ERRMSG ("cannot start WHAT: ..." when the queue refused it), nothing left
 * pinned. */
int pinned_read_submit(struct pinned_read *p, struct store *st, struct bgworker *bg, struct bgjob *job,
                       bgjob_work_fn work, bgjob_done_fn done, const char *what, char *errmsg, size_t cap);
/* Worker thread (or the loop, after pinned_read_start returned 0): every project, with its
 * kylin_listed flag, and claims_owner's claims (both of the state pinned), then unpins. 0, or
 * -1 with ERRMSG. */
int pinned_read_projects(struct pinned_read *p, char *errmsg, size_t cap);
/* Loop thread: the same read on ST's own connection (after pinned_read_start returned 1). */
int pinned_read_here(struct pinned_read *p, struct store *st, char *errmsg, size_t cap);
/* Loop thread: closes the connection and frees the rows; P may be started again. */
void pinned_read_free(struct pinned_read *p);

#endif
