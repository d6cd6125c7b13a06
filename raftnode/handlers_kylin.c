/* handlers_kylin: the `kylin.status` API method (docs/protocol.md, docs/kylin.md): this
 * member's view of its Kylin node (health, learned identity, counters) and, per project, the
 * quorum's owner next to the epoch row as this member last read it. Any member with
 * raft.kylin.url answers from its own last read of the table. */
#include <string.h>

#include "../kylin/reconcile.h"
#include "common/mp.h"
#include "common/proto.h"
#include "handlers.h"
#include "../storage/store.h"
#include "config.h"
#include "kylin_link.h"

/* The "ip:port" part of an engine identity "ip:port|millis" into BUF. */
static void prefix_of(const char *identity, char *buf, size_t cap)
{
    size_t n = strcspn(identity, "|");
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(buf, identity, n);
    buf[n] = '\0';
}

/* The kylin.status result (docs/protocol.md). 0, or -1 (store read or packing failed). */
static int pack_status(const struct api_ctx *ctx, struct kylin_link *k, msgpack_packer *pk)
{
    struct store_project_row *projects = NULL;
    struct store_engine *engines = NULL;
    size_t n_projects = 0, n_engines = 0;
    int rc;

    if (store_load_projects(ctx->store, &projects, &n_projects) != 0 ||
        store_load_engines(ctx->store, &engines, &n_engines) != 0) {
        store_free_projects(projects, n_projects);
        return -1;
    }
    rc = msgpack_pack_map(pk, 12);
    rc = rc ? rc : mp_pack_kv_str(pk, "url", ctx->cfg->kylin_url);
    rc = rc ? rc : mp_pack_kv_str(pk, "health", kylin_health_name(k->health));
    rc = rc ? rc : mp_pack_kv_bool(pk, "engine_ok", kylin_link_engine_ok(k));
    rc = rc ? rc : (k->identity != NULL ? mp_pack_kv_str(pk, "identity", k->identity) : mp_pack_kv_nil(pk, "identity"));
    rc = rc ? rc : mp_pack_kv_bool(pk, "rows_known", k->rows_known);
    rc = rc ? rc : mp_pack_kv_u64(pk, "rounds", k->rounds);
    rc = rc ? rc : mp_pack_kv_u64(pk, "reads", k->reader.reads);
    rc = rc ? rc : mp_pack_kv_u64(pk, "claims", k->claims_sent);
    rc = rc ? rc : mp_pack_kv_u64(pk, "claim_calls", k->claim_calls);
    rc = rc ? rc : mp_pack_kv_u64(pk, "pokes", k->pokes);
    rc = rc ? rc : mp_pack_kv_str(pk, "last_error", k->last_error);
    rc = rc ? rc : mp_pack_cstr(pk, "projects");
    rc = rc ? rc : msgpack_pack_array(pk, n_projects);
    for (size_t i = 0; rc == 0 && i < n_projects; i++) {
        const struct store_project_row *p = &projects[i];
        const struct epoch_row *row = kylin_link_row(k, p->name, strlen(p->name));
        const char *owner_id = row != NULL && row->owner != NULL ? row->owner : "";
        bool agrees = false;
        if (p->owner == 0) {
            agrees = owner_id[0] == '\0';
        } else {
            for (size_t e = 0; e < n_engines; e++) {
                if (engines[e].id == p->owner) {
                    char prefix[STORE_IDENTITY_MAX];
                    prefix_of(engines[e].identity, prefix, sizeof prefix);
                    agrees = kylin_identity_has_prefix(owner_id, prefix);
                }
            }
        }
        rc = msgpack_pack_map(pk, 5);
        rc = rc ? rc : mp_pack_kv_str(pk, "project", p->name);
        rc = rc ? rc : (p->owner != 0 ? mp_pack_kv_u64(pk, "owner", p->owner) : mp_pack_kv_nil(pk, "owner"));
        rc = rc ? rc
                : (row != NULL ? mp_pack_kv_str(pk, "kylin_identity", owner_id) : mp_pack_kv_nil(pk, "kylin_identity"));
        rc = rc ? rc : (row != NULL ? mp_pack_kv_i64(pk, "epoch_id", row->epoch_id) : mp_pack_kv_nil(pk, "epoch_id"));
        rc = rc ? rc : mp_pack_kv_bool(pk, "agrees", agrees);
    }
    store_free_projects(projects, n_projects);
    free(engines);
    return rc;
}

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
    if (pack_status(ctx, ctx->kylin, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "kylin status: %s",
                        ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}
