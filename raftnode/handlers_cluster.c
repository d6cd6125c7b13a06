/* handlers_cluster: the cluster-wide reads status and hash (docs/protocol.md), answered by
 * any member from its own raft state and store. */
#include <inttypes.h>
#include <raft.h>
#include <stdio.h>

#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "handlers.h"
#include "membership.h"
#include "storage/store.h"

void handlers_member_api(const struct api_ctx *ctx, uint64_t id, char *api, size_t cap)
{
    if (id == ctx->cfg->node_id) {
        snprintf(api, cap, "%s", ctx->cfg->api_address);
    } else if (store_member_api(ctx->store, id, api, cap) != 1) {
        api[0] = '\0';
    }
}

static void pack_members(const struct api_ctx *ctx, msgpack_packer *pk)
{
    const struct raft_configuration *conf = &ctx->raft->configuration;
    msgpack_pack_array(pk, conf->n);
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        char api[CONFIG_ADDR_MAX];
        handlers_member_api(ctx, s->id, api, sizeof api);
        msgpack_pack_map(pk, 4);
        mp_pack_kv_u64(pk, "id", s->id);
        mp_pack_kv_str(pk, "address", s->address);
        mp_pack_kv_str(pk, "api_address", api);
        mp_pack_kv_str(pk, "role", membership_role_name(s->role));
    }
}

void handle_status(struct api_req *req)
{
    struct api_reply r;
    api_reply_begin(&r, req->ctx, req->id, 0, PROTO_CODE_OK, NULL);
    handlers_pack_status(req->ctx, &r.pk);
    api_reply_send(req->conn, &r);
}

void handlers_pack_status(const struct api_ctx *ctx, msgpack_packer *pk)
{
    char leader_api[CONFIG_ADDR_MAX];
    uint64_t leader = ctx->host.leader(ctx->host.node, leader_api, sizeof leader_api);

    char why[320];
    bool reads_open = handlers_reads_open(ctx, why, sizeof why);

    msgpack_pack_map(pk, 10);
    mp_pack_kv_u64(pk, "id", ctx->cfg->node_id);
    mp_pack_kv_str(pk, "state", ctx->host.state_name(ctx->host.node));
    mp_pack_kv_u64(pk, "term", raft_current_term(ctx->raft));
    mp_pack_kv_u64(pk, "commit_index", raft_commit_index(ctx->raft));
    mp_pack_kv_u64(pk, "applied_index", ctx->host.applied_index(ctx->host.node));
    mp_pack_kv_u64(pk, "last_index", raft_last_index(ctx->raft));
    mp_pack_kv_u64(pk, "leader_id", leader);
    mp_pack_kv_str(pk, "leader_api", leader_api);
    mp_pack_kv_bool(pk, "reads_open", reads_open);
    mp_pack_cstr(pk, "members");
    pack_members(ctx, pk);
}

void handle_hash(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    struct api_reply r;
    uint64_t h;
    char hex[17];

    if (store_hash(ctx->store, &h) != 0) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "hash: %s", ctx->store->errmsg);
        return;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 3);
    mp_pack_kv_u64(&r.pk, "id", ctx->cfg->node_id);
    mp_pack_kv_u64(&r.pk, "applied_index", ctx->host.applied_index(ctx->host.node));
    mp_pack_kv_str(&r.pk, "hash", hex);
    api_reply_send(req->conn, &r);
}
