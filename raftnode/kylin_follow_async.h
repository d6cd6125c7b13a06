/* kylin_follow_async: the leader's comparison of Kylin's project list with the quorum's
 * (kylin/follow.h, docs/kylin.md "Projects follow Kylin") computed on the member's background
 * thread (issue 13, "load held").
 *
 * Every raft.kylin.repair-ms the leader reads Kylin's project list and compares it with every
 * project of the state: on the loop thread that was the read (~4 ms at 10,000 projects, ~40 ms
 * at 100,000) and kylin_follow_diff (~5 ms and ~56 ms). Here the loop pins the state
 * (pinned_read.h) and the worker reads it and compares; the leader then proposes the plan on
 * the loop. The plan is of the state at the start: an add of a project added meanwhile is
 * answered "exists" or marks it (project_add "kylin": true), a remove of one removed meanwhile
 * "not found", as a plan proposed twice would be.
 *
 * Owns: Kylin's list given to kylin_follow_async_start, the read, the plan and its arrays,
 * until kylin_follow_async_free. Calls: pinned_read.h, kylin/follow.h, storage/store.h,
 * bgworker.h. */
#ifndef RAFTNODE_KYLIN_FOLLOW_ASYNC_H
#define RAFTNODE_KYLIN_FOLLOW_ASYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "../kylin/follow.h"
#include "../metastore/epoch_reader.h"
#include "../storage/store.h"
#include "bgworker.h"
#include "pinned_read.h"

struct kylin_follow_async;
/* Loop thread. RC 0: PLAN and the skip counts are ready; -1: ERRMSG says why. The caller then
 * calls kylin_follow_async_free. */
typedef void (*kylin_follow_async_cb)(struct kylin_follow_async *fa, int rc, const char *errmsg);

struct kylin_follow_async {
    void *data;                     /* public: the caller's */
    kylin_follow_async_cb cb;       /* private */
    struct bgjob job;               /* private */
    struct pinned_read read;        /* private */
    struct epoch_projects *list;    /* private: Kylin's list (names in list->names) */
    const char **kylin, **quorum;   /* private: the diff's inputs */
    bool *listed;                   /* private */
    size_t nk;                      /* private */
    size_t skipped;                 /* read-only after CB: Kylin names that break the quorum's rule */
    const char *first_skipped;      /* read-only after CB: the first of them (in list) */
    struct kylin_follow_plan plan;  /* read-only after CB with rc 0: names point into list / read */
    bool plan_set;                  /* private */
    int rc;                         /* private */
    char errmsg[600];               /* read-only */
};

/* Loop thread: starts comparing LIST (taken: freed by kylin_follow_async_free, even when this
 * fails) with ST's state now. 0: CB runs later on the loop thread, never from inside this
 * call; 1: an in-memory store (nothing started: call kylin_follow_async_run_here); -1: FA->errmsg
 * says why (call kylin_follow_async_free). FA stays put until CB ran. */
int kylin_follow_async_start(struct kylin_follow_async *fa, struct epoch_projects *list, struct store *st,
                             struct bgworker *bg, kylin_follow_async_cb cb);
/* Loop thread: the same comparison here, now (after a start that returned 1). 0 or -1. */
int kylin_follow_async_run_here(struct kylin_follow_async *fa, struct store *st);
/* Frees everything FA holds; FA may be started again. */
void kylin_follow_async_free(struct kylin_follow_async *fa);

#endif
