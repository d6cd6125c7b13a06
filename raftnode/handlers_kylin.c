/* handlers_kylin: the `kylin.status` API method (docs/protocol.md, docs/kylin.md): this
 * member's view of its Kylin node (health, learned identity, counters) and, per project, the
 * quorum's owner next to the epoch row as this member last read it. Any member with
 * raft.kylin.url answers from its own last read of the table. */
#include "common/proto.h"
#include "handlers.h"
#include "../storage/store.h"
#include "config.h"
#include "kylin_link.h"

void handle_kylin_status(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    struct api_reply r;
    if (ctx->kylin == NULL || !ctx->kylin->enabled) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "member %llu has no Kylin attached (raft.kylin.url=none); ask a member that has one",
                        (unsigned long long)ctx->cfg->node_id);
        return;
    }
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    if (kylin_link_pack_status(ctx->kylin, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "kylin status: %s",
                        ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}
