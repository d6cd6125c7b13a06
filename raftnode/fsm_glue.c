/* fsm_glue: libraft's raft_fsm hooks, bridged to storage/store.h (see fsm_glue.h).
 *
 * libraft applies committed COMMAND entries in order and sets last_applied only after apply
 * returns, so the entry being applied has index raft_last_applied() + 1. Rules kept here
 * (see the libraft notes in README.md):
 * - apply never returns non-zero: that would stall the FSM. Command errors go back to the
 *   proposer through proposals_on_applied.
 * - a SQLite failure (disk full, I/O error) is fatal for this member: we stop applying and
 *   the host shuts down; the transaction rolled back, so a restart replays the entry exactly. */
#include "fsm_glue.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* The member stops applying for good (fsm_glue.h): WHAT failed, WHY says how (the store's
 * message). */
static void glue_fail(struct fsm_glue *g, const char *what, const char *why)
{
    log_error("%s: %s; stopping this member (the entries stay in the raft log and are replayed on "
              "restart once the disk is fixed)", what, why);
    g->failed = true;
    g->host.stop(g->host.data);
}

int fsm_glue_check(struct fsm_glue *g)
{
    if (!g->failed && g->store->broken) {
        glue_fail(g, "state machine lost applied entries to a failed write", g->store->broken_why);
    }
    return g->failed ? -1 : 0;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct fsm_glue *g = fsm->data;
    uint64_t index = raft_last_applied(g->raft) + 1;
    struct store_results r;

    *result = NULL;
    if (g->failed) {
        return 0;
    }
    if (store_apply(g->store, index, buf->base, buf->len, &r) != 0) {
        char what[64];
        snprintf(what, sizeof what, "state machine write failed at index %llu", (unsigned long long)index);
        store_results_free(&r);
        glue_fail(g, what, g->store->errmsg);
        return 0;
    }
    if (r.entry_status != 0) {
        log_warn("entry %llu could not be decoded: %s (skipped on every member)",
                 (unsigned long long)index, r.entry_message);
    }
    bool decision = g->store->decision_index == index;
    if (decision && store_each_handover(g->store, index, g->host.handover, g->host.data) != 0) {
        /* the state is applied; only the grace is unknown: hold every project back */
        log_warn("entry %llu: %s; this member's engine acts for none of its projects for one "
                 "heartbeat timeout", (unsigned long long)index, g->store->errmsg);
        g->host.grace_all(g->host.data);
    }
    if (g->host.applied != NULL) {
        g->host.applied(g->host.data, index, decision, buf, &r);
    }
    proposals_on_applied(g->proposals, index, &r);
    return 0;
}

int fsm_glue_commit(struct fsm_glue *g)
{
    if (g->failed || g->store->group_entries == 0) {
        return 0;
    }
    if (store_commit(g->store) != 0) {
        glue_fail(g, "state machine commit failed", g->store->errmsg);
        return -1;
    }
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct fsm_glue *g = fsm->data;
    void *data;
    size_t len;

    if (g->failed) {
        return RAFT_IOERR; /* stopping: said once already, and libraft asks after every apply */
    }
    int rc = g->host.snapshot != NULL ? g->host.snapshot(g->host.snapshot_data, g->store, &data, &len)
                                      : store_snapshot(g->store, &data, &len);
    if (rc != 0) {
        log_error("snapshot failed: %s", g->store->errmsg);
        (void)fsm_glue_check(g); /* its commit failed: the state lacks applied entries */
        return RAFT_IOERR;
    }
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL) {
        sqlite3_free(data);
        return RAFT_NOMEM;
    }
    (*bufs)[0].base = data;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    g->taking_index = g->store->applied_index;
    if (len > 0) {
        log_info("snapshot taken at index %llu (%zu bytes)", (unsigned long long)g->store->applied_index, len);
    }
    return 0;
}

/* fsm version 2: raft hands the buffers back here instead of raft_free'ing them, which
 * lets the image come from sqlite3_serialize (freed with sqlite3_free). */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct fsm_glue *g = fsm->data;
    if (g->taking_index != 0) {
        g->snapshot_index = g->taking_index;
        g->taking_index = 0;
    }
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++) {
            sqlite3_free((*bufs)[i].base);
        }
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* On success the buffer belongs to the FSM (libraft does not free it). */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct fsm_glue *g = fsm->data;
    if (store_restore(g->store, buf->base, buf->len) != 0) {
        log_error("restoring snapshot (%zu bytes) failed: %s", buf->len, g->store->errmsg);
        return RAFT_IOERR;
    }
    log_info("state restored from snapshot (%zu bytes), applied index %llu", buf->len,
             (unsigned long long)g->store->applied_index);
    raft_free(buf->base);
    g->snapshot_index = g->store->applied_index;
    g->host.grace_all(g->host.data); /* entries skipped by the restore may have moved projects */
    return 0;
}

void fsm_glue_init(struct fsm_glue *g, struct raft *raft, struct store *store, struct proposals *proposals,
                   const struct fsm_glue_host *host)
{
    memset(g, 0, sizeof *g);
    g->raft = raft;
    g->store = store;
    g->proposals = proposals;
    g->host = *host;
    g->fsm.version = 2;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = fsm_snapshot;
    g->fsm.restore = fsm_restore;
    g->fsm.snapshot_finalize = fsm_snapshot_finalize;
}
