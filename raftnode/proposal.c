/* proposal: batches client writes into raft entries and routes apply results back
 * (see proposal.h).
 *
 * A batch moves: open (collecting, this loop iteration) -> inflight (raft_apply accepted)
 * -> results attached by proposals_on_applied -> apply callback replies and frees.
 * Leadership loss makes libraft fail every inflight apply with RAFT_LEADERSHIPLOST: each
 * waiter then gets status 3 "leadership_lost" (the entry may still commit later; the
 * client cannot know, exactly as with etcd). */
#include "proposal.h"

#include <stdlib.h>
#include <string.h>

#include "../common/proto.h"
#include "../common/queue.h"
#include "../storage/command.h"
#include "common/log.h"
#include "wire_err.h"

#define PROPOSAL_MAX_BATCH 4096

static struct proposal_batch *batch_new(struct proposals *p)
{
    struct proposal_batch *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    b->owner = p;
    msgpack_sbuffer_init(&b->cmds);
    b->req.data = b;
    QUEUE_INIT(&b->queue);
    return b;
}

/* B's client commands no longer wait: counts them off; the host hears when there is room again. */
static void batch_done(struct proposals *p, struct proposal_batch *b)
{
    p->pending_cmds -= b->n_client < p->pending_cmds ? b->n_client : p->pending_cmds;
    if (p->was_full && p->pending_cmds <= p->max_pending / 2) {
        p->was_full = false;
        if (p->host.room != NULL) {
            p->host.room(p->host.data);
        }
    }
}

bool proposals_full(struct proposals *p)
{
    if (p->pending_cmds < p->max_pending) {
        return false;
    }
    p->was_full = true;
    return true;
}

static void batch_free(struct proposal_batch *b)
{
    batch_done(b->owner, b);
    msgpack_sbuffer_destroy(&b->cmds);
    store_results_free(&b->results);
    free(b->waiters);
    free(b);
}

/* Runs every waiter's callback with one outcome. */
static void batch_fail(struct proposal_batch *b, uint64_t index, int status, const char *code,
                       const char *message)
{
    for (unsigned i = 0; i < b->n; i++) {
        if (b->waiters[i].cb != NULL) {
            b->waiters[i].cb(b->waiters[i].data, index, status, code, message);
        }
    }
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal_batch *b = req->data;
    struct proposals *p = b->owner;
    (void)result;

    QUEUE_REMOVE(&b->queue);
    p->n_inflight--;
    if (status == 0) {
        static const uint64_t bounds[PROPOSAL_COMMIT_BUCKETS - 1] = PROPOSAL_COMMIT_BOUNDS_MS;
        uint64_t now = p->raft->io->time(p->raft->io);
        uint64_t ms = now > b->proposed_ms ? now - b->proposed_ms : 0;
        unsigned bucket = 0;
        while (bucket + 1 < PROPOSAL_COMMIT_BUCKETS && ms > bounds[bucket]) {
            bucket++;
        }
        p->commit_ms_buckets[bucket]++;
        p->commit_ms_sum += ms;
    }
    if (status != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "leadership lost before the write at index %llu was applied "
                 "(%s); its outcome is unknown, check and retry", (unsigned long long)req->index,
                 raft_strerror(status));
        batch_fail(b, req->index, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST, msg);
    } else if (!b->have_results || b->results.entry_status != 0 || b->results.n != b->n) {
        /* Cannot happen unless the state machine failed (it then stops the node). */
        batch_fail(b, req->index, PROTO_UNAVAILABLE, PROTO_CODE_FAILED,
                   b->have_results && b->results.entry_status != 0 ? b->results.entry_message
                                                                    : "state machine did not apply the write");
    } else {
        for (unsigned i = 0; i < b->n; i++) {
            const struct store_cmd_result *r = &b->results.cmds[i];
            if (b->waiters[i].cb != NULL) {
                struct wire_err w = wire_from_store_err(r->err);
                b->waiters[i].cb(b->waiters[i].data, req->index, w.status, w.code, r->message);
            }
        }
    }
    batch_free(b);
}

void proposals_flush(struct proposals *p)
{
    struct proposal_batch *b = p->open;
    struct raft_buffer buf;
    const void *cmds[1];
    size_t lens[1];
    void *data;
    size_t len;
    int rv;

    if (b == NULL) {
        return;
    }
    p->open = NULL;
    p->host.flush_wanted(p->host.data, false);
    /* The commands are already concatenated: wrap them as one array element run. */
    cmds[0] = b->cmds.data;
    lens[0] = b->cmds.size;
    if (command_entry_build_n(raft_current_term(p->raft), cmds, lens, 1, b->n, &data, &len) != 0) {
        batch_fail(b, 0, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory while building the log entry");
        batch_free(b);
        return;
    }
    buf.base = data;
    buf.len = len;
    b->proposed_ms = p->raft->io->time(p->raft->io);
    rv = raft_apply(p->raft, &b->req, &buf, 1, apply_cb);
    if (rv != 0) {
        /* libraft 0.22's legacy raft_apply gives the buffer back only when it refuses
         * up front (not leader); past that point its append path may already have freed it,
         * so any other failure leaks rather than risks a double free. */
        log_warn("raft_apply of %u commands failed: %s (%s)", b->n, raft_strerror(rv), raft_errmsg(p->raft));
        if (rv == RAFT_NOTLEADER) {
            raft_free(data);
            batch_fail(b, 0, PROTO_UNAVAILABLE, PROTO_CODE_NOT_LEADER,
                       "this member is no longer the leader; retry against the leader");
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "raft refused the write: %s", raft_strerror(rv));
            batch_fail(b, 0, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, msg);
        }
        batch_free(b);
        return;
    }
    QUEUE_PUSH(&p->inflight, &b->queue);
    p->n_inflight++;
    unsigned bucket = 0;
    while (bucket + 1 < PROPOSAL_SIZE_BUCKETS && b->n > (1u << bucket)) {
        bucket++;
    }
    p->batches_by_size[bucket]++;
    p->batched_commands += b->n;
}

int proposals_init(struct proposals *p, struct raft *raft, const struct proposals_host *host)
{
    memset(p, 0, sizeof *p);
    p->raft = raft;
    p->host = *host;
    p->max_batch = PROPOSAL_MAX_BATCH;
    p->max_pending = PROPOSAL_MAX_PENDING_CMDS;
    QUEUE_INIT(&p->inflight);
    return 0;
}

static int submit(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb, void *data, bool client)
{
    struct proposal_batch *b = p->open;

    if (b == NULL) {
        b = batch_new(p);
        if (b == NULL) {
            return -1;
        }
        p->open = b;
        p->host.flush_wanted(p->host.data, true);
    }
    if (b->n == b->cap) {
        unsigned cap = b->cap ? b->cap * 2 : 16;
        struct proposal_cmd *w = realloc(b->waiters, cap * sizeof *w);
        if (w == NULL) {
            return -1;
        }
        b->waiters = w;
        b->cap = cap;
    }
    if (msgpack_sbuffer_write(&b->cmds, buf, len) != 0) {
        return -1;
    }
    b->waiters[b->n].cb = cb;
    b->waiters[b->n].data = data;
    b->n++;
    if (client) {
        b->n_client++;
        p->pending_cmds++;
    }
    if (b->n >= p->max_batch) {
        proposals_flush(p); /* full: hand it to raft now, a new batch starts */
    }
    return 0;
}

int proposals_submit(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb, void *data)
{
    return submit(p, buf, len, cb, data, false);
}

int proposals_submit_client(struct proposals *p, const void *buf, size_t len, proposal_done_cb cb, void *data)
{
    return submit(p, buf, len, cb, data, true);
}

void proposals_on_applied(struct proposals *p, uint64_t index, struct store_results *r)
{
    queue *q;
    QUEUE_FOREACH(q, &p->inflight) {
        struct proposal_batch *b = QUEUE_DATA(q, struct proposal_batch, queue);
        if (b->req.index == index) {
            b->results = *r;
            b->have_results = true;
            memset(r, 0, sizeof *r);
            return;
        }
    }
    store_results_free(r);
}

void proposals_fail_open(struct proposals *p, const char *code, const char *message)
{
    struct proposal_batch *b = p->open;
    if (b == NULL) {
        return;
    }
    p->open = NULL;
    p->host.flush_wanted(p->host.data, false);
    batch_fail(b, 0, PROTO_UNAVAILABLE, code, message);
    batch_free(b);
}

void proposals_fail_inflight(struct proposals *p, const char *code, const char *message)
{
    while (!QUEUE_IS_EMPTY(&p->inflight)) {
        queue *q = QUEUE_HEAD(&p->inflight);
        struct proposal_batch *b = QUEUE_DATA(q, struct proposal_batch, queue);
        QUEUE_REMOVE(q);
        p->n_inflight--;
        batch_fail(b, b->req.index, PROTO_UNAVAILABLE, code, message);
        batch_free(b);
    }
}
