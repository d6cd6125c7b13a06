/* handlers_check: member.check, the leader's answer to a member that has heard from no leader
 * for a while and asks whether it is still a member (removal.h has the rules and why). */
#include <raft.h>

#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "handlers.h"
#include "membership.h"

/* args: {id, term, listed_index}: the asker's id, its current term and the index of the latest
 * configuration it knows that lists it (0: none). Reply: ok {member, leader_id, config_index},
 * or refused with code "removed". */
void handle_member_check(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    const struct raft *r = ctx->raft;
    uint64_t id, term, listed_index;
    struct api_reply reply;
    bool member;

    if (mp_get_u64(req->args, "id", &id) != 0 || mp_get_u64(req->args, "term", &term) != 0 ||
        mp_get_u64(req->args, "listed_index", &listed_index) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "member.check needs \"id\", \"term\" and \"listed_index\"");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    /* With no change pending, r->configuration is the committed one. */
    member = membership_find(r, id) != NULL || r->configuration_uncommitted_index != 0 ||
             term > raft_current_term(r) || listed_index >= r->configuration_committed_index;
    if (!member) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_REMOVED,
                        "member %llu is not in the cluster's committed configuration (index %llu, leader %llu, "
                        "term %llu): it was removed", (unsigned long long)id,
                        (unsigned long long)r->configuration_committed_index,
                        (unsigned long long)ctx->cfg->node_id, (unsigned long long)raft_current_term(r));
        return;
    }
    api_reply_begin(&reply, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&reply.pk, 3);
    mp_pack_kv_bool(&reply.pk, "member", membership_find(r, id) != NULL);
    mp_pack_kv_u64(&reply.pk, "leader_id", ctx->cfg->node_id);
    mp_pack_kv_u64(&reply.pk, "config_index", r->configuration_committed_index);
    api_reply_send(req->conn, &reply);
}
