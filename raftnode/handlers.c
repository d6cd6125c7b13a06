/* handlers: the one method table of the API server and its dispatcher (see handlers.h). */
#include "handlers.h"

#include <raft.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "proposal.h"
#include "storage/command.h"
#include "metrics.h"

/* Every method: its handler, how it touches the state, and who may call it with API TLS
 * (reads: any certificate; writes: admins; a member's calls about itself: that member). */
const struct handler_method handler_methods[] = {
    {"status", handle_status, HANDLER_READ, PERM_READ},
    {"hash", handle_hash, HANDLER_READ, PERM_READ},
    {"project.list", handle_project_list, HANDLER_READ_LEADER, PERM_READ},
    {"project.add", handle_project_add, HANDLER_WRITE, PERM_ADMIN},
    {"project.remove", handle_project_remove, HANDLER_WRITE, PERM_ADMIN},
    {"member.add", handle_member_add, HANDLER_CHANGE, PERM_ADMIN},
    {"member.join", handle_member_join, HANDLER_CHANGE, PERM_ADMIN_OR_SELF},
    {"member.remove", handle_member_remove, HANDLER_CHANGE, PERM_ADMIN},
    {"member.assign", handle_member_assign, HANDLER_CHANGE, PERM_ADMIN},
    {"member.register", handle_member_register, HANDLER_WRITE, PERM_ADMIN_OR_SELF},
    {"member.check", handle_member_check, HANDLER_READ_LEADER, PERM_READ},
    {"leader.transfer", handle_leader_transfer, HANDLER_CHANGE, PERM_ADMIN},
    {"engine.heartbeat", handle_engine_heartbeat, HANDLER_WRITE, PERM_SELF},
    {"engine.list", handle_engine_list, HANDLER_READ, PERM_READ},
    {"engine.drain", handle_engine_drain, HANDLER_WRITE, PERM_ADMIN},
    {"project.show", handle_project_show, HANDLER_READ_LEADER, PERM_READ},
    {"project.move", handle_project_move, HANDLER_WRITE, PERM_ADMIN},
    {"project.pin", handle_project_pin, HANDLER_WRITE, PERM_ADMIN},
    {"rebalance", handle_rebalance, HANDLER_WRITE, PERM_ADMIN},
    {"rebalance.status", handle_rebalance_status, HANDLER_READ_LEADER, PERM_READ}, /* the leader only */
    {"maintenance", handle_maintenance, HANDLER_WRITE, PERM_ADMIN},
    {"history", handle_history, HANDLER_READ, PERM_READ},
    {"audit", handle_audit, HANDLER_READ, PERM_READ},
    {"metastore.status", handle_metastore_status, HANDLER_READ, PERM_READ},
    {"kylin.status", handle_kylin_status, HANDLER_READ, PERM_READ},
    {"snapshot.begin", handle_snapshot_begin, HANDLER_READ_LEADER, PERM_READ}, /* what reads show, in one file */
    {"snapshot.chunk", handle_snapshot_chunk, HANDLER_READ, PERM_READ},
    {"autopilot.status", handle_autopilot_status, HANDLER_READ_LEADER, PERM_READ}, /* the leader only: redirects */
    {"kylin.claimed", handle_kylin_claimed, HANDLER_WRITE, PERM_SELF}, /* "id": the sending member */
    {NULL, NULL, HANDLER_READ, PERM_READ},
};

int handlers_permit(const struct handler_method *m, bool tls, enum api_role role, uint64_t member_id,
                    const char *who, const msgpack_object *args, char *why, size_t why_len)
{
    uint64_t id = 0;
    bool self;

    if (!tls || m->perm == PERM_READ) {
        return 0;
    }
    self = role == API_ROLE_MEMBER && mp_get_u64(args, "id", &id) == 0 && id == member_id;
    switch (m->perm) {
    case PERM_ADMIN_OR_SELF:
        if (role == API_ROLE_ADMIN || self) {
            return 0;
        }
        break;
    case PERM_SELF:
        if (self) {
            return 0;
        }
        snprintf(why, why_len, "permission denied: %s for id %llu is accepted only from member %llu's "
                 "certificate (CN member-%llu), not from \"%s\"", m->name, (unsigned long long)id,
                 (unsigned long long)id, (unsigned long long)id, who);
        return -1;
    default:
        if (role == API_ROLE_ADMIN) {
            return 0;
        }
        break;
    }
    snprintf(why, why_len, "permission denied: %s changes the cluster and certificate \"%s\" may only "
             "read (raft.api.admins lists the certificate names that may)", m->name, who);
    return -1;
}

/* Records an admin write request in the replicated audit table (who, method, arguments),
 * proposed just before the handler's own commands. Only the leader proposes; a follower
 * redirects the request and the leader records it. */
static void audit_request(const struct api_req *req, const struct handler_method *m)
{
    char detail[COMMAND_DETAIL_MAX + 1] = "{}";
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int n;

    if ((m->access != HANDLER_WRITE && m->access != HANDLER_CHANGE) || m->perm == PERM_SELF ||
        m->perm == PERM_READ || raft_state(req->ctx->raft) != RAFT_LEADER || !req->ctx->host.running(req->ctx->host.node)) {
        return;
    }
    n = msgpack_object_print_buffer(detail, sizeof detail, *req->args);
    for (int i = 0; i < n && (size_t)i < sizeof detail - 1; i++) {
        if ((unsigned char)detail[i] < 0x20 || (unsigned char)detail[i] >= 0x7f) {
            detail[i] = '?'; /* printable ASCII only: the audit text is for people */
        }
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (command_pack_audit(&pk, req->conn->who, m->name, detail, (uint64_t)time(NULL) * 1000) != 0 ||
        sb.data == NULL || proposals_submit(req->ctx->proposals, sb.data, sb.size, NULL, NULL) != 0) {
        log_warn("api: cannot record %s by %s in the audit log (out of memory)", m->name, req->conn->who);
    }
    msgpack_sbuffer_destroy(&sb);
}

void handlers_dispatch(struct api_req *req)
{
    char why[512];

    for (const struct handler_method *m = handler_methods; m->name != NULL; m++) {
        if (strcmp(m->name, req->method) == 0) {
            const struct api_conn *c = req->conn;
            if (handlers_permit(m, c->tls.ssl != NULL, c->role, c->member_id, c->who, req->args, why,
                                sizeof why) != 0) {
                log_warn("api: %s (%s) refused: %s", c->peer, c->who, why);
                api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_PERMISSION_DENIED, "%s", why);
                return;
            }
            audit_request(req, m);
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

bool handlers_reads_open(const struct api_ctx *ctx, char *why, size_t why_len)
{
    uint64_t target = 0;
    if (ctx->store->broken) {
        /* its state lacks entries it applied, and maybe answered: older than what it served */
        snprintf(why, why_len, "member %llu lost applied entries to a failed write and is stopping; ask "
                 "another member or read with --consistent", (unsigned long long)ctx->cfg->node_id);
        return false;
    }
    if (ctx->host.reads_open == NULL || ctx->host.reads_open(ctx->host.node, &target)) {
        return true;
    }
    snprintf(why, why_len, "member %llu restarted and is re-applying its raft log (applied %llu of %llu): its "
             "state may be older than what it answered before; retry, ask another member or read with "
             "--consistent", (unsigned long long)ctx->cfg->node_id,
             (unsigned long long)ctx->host.applied_index(ctx->host.node), (unsigned long long)target);
    return false;
}

bool handlers_read_gate(const struct api_req *req)
{
    char why[320];
    if (handlers_reads_open(req->ctx, why, sizeof why)) {
        return true;
    }
    api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_CATCHING_UP, "%s", why);
    return false;
}
