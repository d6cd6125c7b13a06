/* handlers_ownership: the placement methods (docs/protocol.md): rebalance (the leader's
 * scheduler computes a plan, shown as a dry run or applied as explicit compare-and-set moves
 * in log entries of at most REBALANCE_SLICE moves), rebalance.status (how many moves of the
 * rebalances this leader is applying have been applied: raftctl's progress line),
 * maintenance (freezes ownership, through the log) and history (the decision history, read
 * from this member's store). */
#include <stdio.h>
#include <stdlib.h>

#include "api_pending.h"
#include "plan_async.h"
#include "common/log.h"
#include "common/mp.h"
#include "common/proto.h"
#include "handlers.h"
#include "scheduler.h"
#include "storage/command.h"
#include "storage/store.h"

void handle_history(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    const char *project = NULL;
    size_t len = 0;
    uint64_t limit = 20;
    struct api_reply r;

    if (mp_get_str(req->args, "project", &project, &len) == -2 || mp_get_u64(req->args, "limit", &limit) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "history takes \"project\" (str) and \"limit\" (uint)");
        return;
    }
    if (!handlers_read_gate(req)) {
        return;
    }
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    if (store_pack_history(ctx->store, project, len, limit > 1000000 ? 1000000 : (unsigned)limit, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "history: %s", ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}

void handle_audit(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t limit = 20;
    struct api_reply r;

    if (mp_get_u64(req->args, "limit", &limit) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "audit takes \"limit\" (uint)");
        return;
    }
    if (!handlers_read_gate(req)) {
        return;
    }
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    if (store_pack_audit(ctx->store, limit > 1000000 ? 1000000 : (unsigned)limit, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "audit: %s", ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}

void handle_maintenance(struct api_req *req)
{
    bool on;
    char reason[5001] = "";
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    if (mp_get_bool(req->args, "on", &on) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "maintenance needs \"on\" (bool) and, when on, \"reason\"");
        return;
    }
    rc = mp_get_cstr(req->args, "reason", reason, sizeof reason);
    if ((rc != 0 && rc != -1) || (on && reason[0] == '\0')) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "maintenance on needs a non-empty --reason of at most 5000 bytes");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_maintenance(&pk, on, reason);
    api_submit(req, &sb, NULL);
    msgpack_sbuffer_destroy(&sb);
}

/* rebalance: the plan is shown (dry run) or applied in slices of at most REBALANCE_SLICE moves,
 * one log entry each, the next slice proposed once the previous one applied (as PLACE's
 * SCHED_PLACE_MAX_MOVES: thousands of moves in one entry would stall every member's loop for
 * their apply); every move is a compare-and-set on its owner, so a project whose owner changed
 * in between is refused, not moved twice. The reply waits for every move's result. */
#define REBALANCE_SLICE SCHED_PLACE_MAX_MOVES

struct rebalance_wait {
    struct api_pending p;
    struct plan_async pa; /* the plan computed off the loop (pa.data = this wait) */
    bool dry_run;
    struct sched_plan plan;
    size_t next;     /* moves proposed so far (the next slice starts here) */
    size_t in_slice; /* results of the current slice still to come */
    size_t failed;
    char first_error[256];
};

/* The moves of the rebalances this member is applying as leader (rebalance.status). One member
 * runs per process and only the loop thread touches it. Counts restart when a rebalance starts
 * while none is running, and stay readable after the last one finished. */
static struct {
    unsigned running;             /* rebalances whose reply waits for moves */
    uint64_t planned, applied, failed;
} progress;

void handle_rebalance_status(struct api_req *req)
{
    struct api_reply r;

    if (!handlers_require_leader(req)) {
        return;
    }
    api_reply_begin(&r, req->ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 4);
    mp_pack_kv_bool(&r.pk, "running", progress.running > 0);
    mp_pack_kv_u64(&r.pk, "planned", progress.planned);
    mp_pack_kv_u64(&r.pk, "applied", progress.applied);
    mp_pack_kv_u64(&r.pk, "failed", progress.failed);
    api_reply_send(req->conn, &r);
}

/* The reply's result: {"moves": [...], "applied", "lower_bound"}. */
static void pack_plan(msgpack_packer *pk, const struct sched_plan *plan, bool applied)
{
    msgpack_pack_map(pk, 3);
    mp_pack_cstr(pk, "moves");
    msgpack_pack_array(pk, plan->n);
    for (size_t i = 0; i < plan->n; i++) {
        msgpack_pack_map(pk, 4);
        mp_pack_kv_str(pk, "project", plan->moves[i].project);
        mp_pack_kv_u64(pk, "from", plan->moves[i].from);
        mp_pack_kv_u64(pk, "to", plan->moves[i].to);
        mp_pack_kv_str(pk, "reason", plan->moves[i].reason);
    }
    mp_pack_kv_bool(pk, "applied", applied);
    mp_pack_kv_u64(pk, "lower_bound", plan->lower_bound);
}

static void rebalance_failed(struct rebalance_wait *w, size_t n, const char *why)
{
    if (n > 0 && w->failed == 0) {
        snprintf(w->first_error, sizeof w->first_error, "%s", why);
    }
    w->failed += n;
    progress.failed += n;
}

static void rebalance_finish(struct rebalance_wait *w)
{
    struct api_reply r;
    progress.running--;
    if (api_pending_open(&w->p)) {
        if (w->failed > 0) {
            api_reply_error(w->p.conn, w->p.id, PROTO_REFUSED, PROTO_CODE_FAILED,
                            "%zu of %zu moves were refused (first: %s); check raftctl project list and retry",
                            w->failed, w->plan.n, w->first_error);
        } else {
            api_reply_begin(&r, w->p.ctx, w->p.id, 0, PROTO_CODE_OK, NULL);
            pack_plan(&r.pk, &w->plan, true);
            api_reply_send(w->p.conn, &r);
        }
    }
    sched_plan_free(&w->plan);
    api_pending_free(w);
}

static void rebalance_done(void *data, uint64_t index, int status, const char *code, const char *message);

/* Proposes W's next slice; once every move was proposed and has its result, replies. The
 * moves left when this member stopped leading or is stopping count as refused. */
static void rebalance_next(struct rebalance_wait *w)
{
    const struct api_ctx *ctx = w->p.ctx;
    while (w->next < w->plan.n) {
        size_t n = w->plan.n - w->next < REBALANCE_SLICE ? w->plan.n - w->next : REBALANCE_SLICE;
        struct sched_plan slice = {.moves = w->plan.moves + w->next, .n = n, .by = w->p.conn->who};
        if (raft_state(ctx->raft) != RAFT_LEADER || !ctx->host.running(ctx->host.node)) {
            rebalance_failed(w, w->plan.n - w->next, "leadership lost or member stopping before every move was "
                                                     "proposed");
            w->next = w->plan.n;
            break;
        }
        size_t k = scheduler_submit_moves(ctx->scheduler, &slice, rebalance_done, w);
        rebalance_failed(w, n - k, "out of memory submitting moves");
        w->next += n;
        w->in_slice = k;
        if (k > 0) {
            return; /* the results come later, never from inside scheduler_submit_moves */
        }
    }
    rebalance_finish(w);
}

/* A move's result (proposal_done_cb). */
static void rebalance_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct rebalance_wait *w = data;
    (void)index;
    (void)code;
    if (status != 0 && w->failed++ == 0) {
        snprintf(w->first_error, sizeof w->first_error, "%s", message != NULL ? message : "no detail");
    }
    progress.applied += status == 0;
    progress.failed += status != 0;
    if (--w->in_slice == 0) {
        rebalance_next(w);
    }
}

/* W's plan is in W->plan: shown (dry run, or nothing to move) or applied in slices. */
static void rebalance_start(struct rebalance_wait *w)
{
    const struct api_ctx *ctx = w->p.ctx;
    struct api_reply r;
    if (w->dry_run || w->plan.n == 0) {
        if (api_pending_open(&w->p)) {
            api_reply_begin(&r, ctx, w->p.id, 0, PROTO_CODE_OK, NULL);
            pack_plan(&r.pk, &w->plan, !w->dry_run);
            api_reply_send(w->p.conn, &r);
        }
        sched_plan_free(&w->plan);
        api_pending_free(w);
        return;
    }
    if (progress.running++ == 0) {
        progress.planned = progress.applied = progress.failed = 0;
    }
    progress.planned += w->plan.n;
    log_info("rebalance: %zu move(s), proposed in slices of at most %d", w->plan.n, REBALANCE_SLICE);
    rebalance_next(w);
}

/* plan_async_cb: the plan computed off the loop (or why not). The member may have stopped
 * leading while it was computed: its moves are then not proposed. */
static void planned(struct plan_async *pa, int rc, struct sched_plan *plan, const char *errmsg)
{
    struct rebalance_wait *w = pa->data;
    const struct api_ctx *ctx = w->p.ctx;
    if (rc != 0) {
        log_error("rebalance: cannot compute a plan: %s", errmsg);
        if (api_pending_open(&w->p)) {
            api_reply_error(w->p.conn, w->p.id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan: %s",
                            errmsg);
        }
        api_pending_free(w);
        return;
    }
    w->plan = *plan;
    if (!w->dry_run && w->plan.n > 0 && (raft_state(ctx->raft) != RAFT_LEADER || !ctx->host.running(ctx->host.node))) {
        if (api_pending_open(&w->p)) {
            api_reply_error(w->p.conn, w->p.id, PROTO_UNAVAILABLE, PROTO_CODE_NOT_LEADER,
                            "rebalance: this member stopped leading while the plan was computed; nothing was moved: "
                            "retry on the leader");
        }
        sched_plan_free(&w->plan);
        api_pending_free(w);
        return;
    }
    rebalance_start(w);
}

void handle_rebalance(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    bool dry_run = false, maintenance = false;
    char reason[8];
    struct rebalance_wait *w;

    if (mp_get_bool(req->args, "dry_run", &dry_run) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"dry_run\" must be a bool");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (store_maintenance(ctx->store, &maintenance, reason, sizeof reason) == 0 && maintenance && !dry_run) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "maintenance mode is on: ownership is frozen (raftctl maintenance off first)");
        return;
    }
    w = api_pending_new(req, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan: out of memory");
        return;
    }
    w->dry_run = dry_run;
    w->pa.data = w;
    int rc = ctx->bg != NULL ? plan_async_rebalance(&w->pa, scheduler_core(ctx->scheduler), ctx->store, ctx->bg, planned)
                             : 1;
    if (rc == 0) {
        return; /* planned() goes on */
    }
    if (rc < 0) {
        log_error("rebalance: cannot compute a plan: %s", plan_async_errmsg(&w->pa));
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan: %s",
                        plan_async_errmsg(&w->pa));
        api_pending_free(w);
        return;
    }
    /* no file a second connection can read (an in-memory store): plan on the loop */
    if (scheduler_plan(ctx->scheduler, true, &w->plan) != 0) {
        api_pending_free(w);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan");
        return;
    }
    rebalance_start(w);
}
