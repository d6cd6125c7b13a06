/* plan_async: a rebalance plan computed on the member's background thread (issue 13, "load
 * held": large plans run off the loop).
 *
 * A rebalance reads every project (each one counts in the fair shares) and plans over all of
 * them: on the loop thread that was ~8 ms at 20,000 projects and ~40 ms at 100,000 (the read
 * in name order sorts: schema v8), during which no heartbeat, message or client was served.
 * Here the loop thread only commits the store's open group and pins its state on a second,
 * read-only connection (storage/reader.h: a WAL read transaction, so the worker sees exactly
 * the state at the applied index while the store writes on), and reads the engines and which
 * are eligible (the scheduler's liveness table lives on the loop); the worker then reads every
 * project through the pinned connection and runs the planner (sched_core_rebalance_plan).
 * The plan is the one sched_core_plan(REBALANCE) gives on that state. Entries applied while
 * the worker plans are not in it: every move is a compare-and-set on its owner, so a move
 * whose project changed owner in between is refused, not applied twice.
 *
 * One request per struct, as many in flight as the caller likes: each has its own connection
 * (opened and closed on the loop thread, used by one thread at a time).
 *
 * Owns: its connection, the engines and projects read, the plan until DONE hands it over.
 * Calls: pinned_read.h, scheduler_core.h, bgworker.h. */
#ifndef RAFTNODE_PLAN_ASYNC_H
#define RAFTNODE_PLAN_ASYNC_H

#include "../storage/store.h"
#include "bgworker.h"
#include "pinned_read.h"
#include "scheduler_core.h"

struct plan_async;
/* Loop thread. RC 0: PLAN holds the plan, now the callee's (sched_plan_free); -1: PLAN is empty
 * and ERRMSG says why (the member is stopping, the read failed, out of memory). */
typedef void (*plan_async_cb)(struct plan_async *pa, int rc, struct sched_plan *plan, const char *errmsg);

struct plan_async {
    void *data;                  /* public: the caller's */
    plan_async_cb cb;            /* private */
    struct bgjob job;            /* private */
    struct pinned_read read;     /* private: pinned at the applied index while the job runs */
    struct sched_rebalance r;    /* private */
    struct sched_plan plan;      /* private: the worker's result */
    int rc;                      /* private */
    uint64_t index;              /* read-only: the applied index the plan was computed on */
    char errmsg[600];            /* private: room for a reader errmsg (512) with its context */
};

/* Loop thread: starts a REBALANCE plan of ST's state for CORE's liveness on BG; CB runs on the
 * loop thread later, never from inside this call. 0; 1 when ST has no file a second
 * connection can open (":memory:": plan on the loop with sched_core_plan instead; nothing
 * started); -1 with PA->errmsg (nothing started; when ST's commit failed, ST is broken and
 * ST->errmsg says why). PA must stay put until CB ran. */
int plan_async_rebalance(struct plan_async *pa, struct sched_core *core, struct store *st, struct bgworker *bg,
                         plan_async_cb cb);

/* The message of a failed start (plan_async_rebalance returned -1). */
const char *plan_async_errmsg(const struct plan_async *pa);

#endif
