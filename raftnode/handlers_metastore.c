/* handlers_metastore: the `metastore.status` API method (docs/protocol.md, docs/metastore.md):
 * the member's own view of the metastore mirror. Only the leader mirrors; raftctl asks the
 * leader when a follower answered. */
#include "../common/proto.h"
#include "handlers.h"
#include "node.h"

static void handle_metastore_status(struct api_req *req)
{
    struct node *n = req->conn->api->node;
    struct api_reply r;
    api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
    mirror_status(&n->mirror, &r.pk);
    api_reply_send(req->conn, &r);
}

const struct handler_method handlers_metastore[] = {
    {"metastore.status", handle_metastore_status},
    {NULL, NULL},
};
