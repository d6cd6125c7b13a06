/* handlers_metastore: the `metastore.status` API method (docs/protocol.md, docs/metastore.md):
 * the member's own view of the metastore mirror. Only the leader mirrors; raftctl asks the
 * leader when a follower answered. */
#include "common/proto.h"
#include "handlers.h"
#include "metastore/mirror.h"

void handle_metastore_status(struct api_req *req)
{
    struct api_reply r;
    api_reply_begin(&r, req->ctx, req->id, 0, PROTO_CODE_OK, NULL);
    mirror_status(req->ctx->mirror, &r.pk);
    api_reply_send(req->conn, &r);
}
