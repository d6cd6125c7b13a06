/* handlers_ownership: the placement methods (docs/protocol.md): rebalance (the leader's
 * scheduler computes a plan, shown as a dry run or applied as one log entry of explicit
 * compare-and-set moves), maintenance (freezes ownership, through the log) and history (the
 * decision history, read from this member's store). */
#include <stdio.h>
#include <stdlib.h>

#include "api_pending.h"
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

/* rebalance: the plan is shown (dry run) or applied as one log entry; the reply waits for
 * every move's result. */
struct rebalance_wait {
    struct api_pending p;
    struct sched_plan plan;
    size_t pending, failed;
    char first_error[256];
};

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

static void rebalance_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct rebalance_wait *w = data;
    struct api_reply r;
    (void)index;
    (void)code;
    if (status != 0 && w->failed++ == 0) {
        snprintf(w->first_error, sizeof w->first_error, "%s", message);
    }
    if (--w->pending > 0) {
        return;
    }
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

void handle_rebalance(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    bool dry_run = false, maintenance = false;
    char reason[8];
    struct rebalance_wait *w;
    struct api_reply r;

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
    if (w == NULL || scheduler_plan(ctx->scheduler, true, &w->plan) != 0) {
        if (w != NULL) {
            api_pending_free(w);
        }
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan");
        return;
    }
    if (dry_run || w->plan.n == 0) {
        api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
        pack_plan(&r.pk, &w->plan, !dry_run);
        api_reply_send(req->conn, &r);
        sched_plan_free(&w->plan);
        api_pending_free(w);
        return;
    }
    w->pending = w->plan.n + 1; /* +1 until every move is submitted */
    w->plan.by = req->conn->who;
    size_t k = scheduler_submit_moves(ctx->scheduler, &w->plan, rebalance_done, w);
    w->plan.by = NULL;
    w->failed += w->plan.n - k;
    if (w->failed > 0) {
        snprintf(w->first_error, sizeof w->first_error, "out of memory submitting moves");
    }
    w->pending -= w->plan.n - k;
    log_info("rebalance: %zu move(s) submitted as one log entry", k);
    rebalance_done(w, 0, 0, PROTO_CODE_OK, "");
}
