/* handlers: the one method table of the API server and its dispatcher (see handlers.h). */
#include "handlers.h"

#include <raft.h>
#include <string.h>

#include "common/proto.h"
#include "config.h"
#include "metrics.h"

const struct handler_method handler_methods[] = {
    {"status", handle_status, HANDLER_READ},
    {"hash", handle_hash, HANDLER_READ},
    {"project.list", handle_project_list, HANDLER_READ_LEADER},
    {"project.add", handle_project_add, HANDLER_WRITE},
    {"project.remove", handle_project_remove, HANDLER_WRITE},
    {"member.add", handle_member_add, HANDLER_CHANGE},
    {"member.join", handle_member_join, HANDLER_CHANGE},
    {"member.remove", handle_member_remove, HANDLER_CHANGE},
    {"member.assign", handle_member_assign, HANDLER_CHANGE},
    {"member.register", handle_member_register, HANDLER_WRITE},
    {"leader.transfer", handle_leader_transfer, HANDLER_CHANGE},
    {"engine.heartbeat", handle_engine_heartbeat, HANDLER_WRITE},
    {"engine.list", handle_engine_list, HANDLER_READ},
    {"engine.drain", handle_engine_drain, HANDLER_WRITE},
    {"project.show", handle_project_show, HANDLER_READ_LEADER},
    {"project.move", handle_project_move, HANDLER_WRITE},
    {"project.pin", handle_project_pin, HANDLER_WRITE},
    {"rebalance", handle_rebalance, HANDLER_WRITE},
    {"maintenance", handle_maintenance, HANDLER_WRITE},
    {"history", handle_history, HANDLER_READ},
    {"metastore.status", handle_metastore_status, HANDLER_READ},
    {"kylin.status", handle_kylin_status, HANDLER_READ},
    {"kylin.claimed", handle_kylin_claimed, HANDLER_WRITE},
    {NULL, NULL, HANDLER_READ},
};

void handlers_dispatch(struct api_req *req)
{
    for (const struct handler_method *m = handler_methods; m->name != NULL; m++) {
        if (strcmp(m->name, req->method) == 0) {
            req->method_name = m->name;
            req->start_ns = uv_hrtime();
            metrics_api_dispatch_begin();
            m->fn(req);
            (void)metrics_api_dispatch_end(m->name, req->start_ns);
            return;
        }
    }
    api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_UNKNOWN_METHOD,
                    "unknown method '%s'; see docs/protocol.md", req->method);
}

bool handlers_require_leader(const struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    if (!ctx->host.running(ctx->host.node)) {
        api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_SHUTTING_DOWN,
                        "member %llu is shutting down; retry against another member",
                        (unsigned long long)ctx->cfg->node_id);
        return false;
    }
    if (raft_state(ctx->raft) != RAFT_LEADER) {
        api_reply_redirect(req->conn, req->id);
        return false;
    }
    return true;
}
