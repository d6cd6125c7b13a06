/* handlers_kylin: the `kylin.status` API method (docs/protocol.md, docs/kylin.md): this
 * member's view of its Kylin node (health, learned identity, counters) and, per project, the
 * quorum's owner and the claim recorded in the replicated state (the identity and epoch_id the
 * owner's Kylin wrote, as its member read them back), next to the epoch row as this member last
 * read it. Any member answers: the recorded claims are the same everywhere; a member without
 * raft.kylin.url has no row to show (health "NONE", row fields nil). */
#include <stdio.h>
#include <stdlib.h>
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

/* Whether project P's Kylin side agrees with the quorum: the recorded claim (C) is an identity
 * of the owner engine's Kylin (its kylin.server.identity prefix) and, when this member has
 * read the table (ROW_KNOWN), the row equals the recorded claim. Without an owner: nothing is
 * recorded and the row (if read) is blank or missing. */
static bool claim_agrees(const struct store_claim *c, const struct store_engine *engines, size_t n_engines,
                         bool row_known, const struct epoch_row *row)
{
    const char *row_owner = row != NULL && row->owner != NULL ? row->owner : "";
    if (c->owner == 0) {
        return c->identity == NULL && (!row_known || row_owner[0] == '\0');
    }
    if (c->identity == NULL) {
        return false;
    }
    if (row_known && (row == NULL || strcmp(row_owner, c->identity) != 0 || row->epoch_id != c->epoch_id)) {
        return false;
    }
    for (size_t e = 0; e < n_engines; e++) {
        if (engines[e].id == c->owner) {
            char prefix[STORE_IDENTITY_MAX];
            prefix_of(engines[e].identity, prefix, sizeof prefix);
            return kylin_identity_has_prefix(c->identity, prefix);
        }
    }
    return false;
}

static int pack_opt_str(msgpack_packer *pk, const char *key, const char *v)
{
    return v != NULL ? mp_pack_kv_str(pk, key, v) : mp_pack_kv_nil(pk, key);
}

/* Why this member's Kylin does not hold project NAME, when this member knows (K NULL: no
 * Kylin here), into BUF; NULL when there is nothing to say. Only the owner's member claims,
 * so only it has a note (docs/kylin.md, "Projects Kylin does not know"). */
static const char *project_note(const struct kylin_link *k, const char *name, char *buf, size_t cap)
{
    const struct kylin_unknown_note *n = k != NULL ? kylin_unknown_find(&k->unknown, name) : NULL;
    if (n == NULL) {
        return NULL;
    }
    snprintf(buf, cap, "Kylin does not know this project (its claim answered: %s); not claimed, tried again "
             "every %d s: create it in Kylin or remove it from the quorum", n->reason, KYLIN_UNKNOWN_RETRY_MS / 1000);
    return buf;
}

/* One project of kylin.status: the recorded claim (replicated state) next to the row as this
 * member last read it, and this member's note on it ("note", nil when none). */
static int pack_project(msgpack_packer *pk, const struct store_claim *c, const struct store_engine *engines,
                        size_t n_engines, bool row_known, const struct kylin_rows_index *idx,
                        const struct kylin_link *k)
{
    const struct epoch_row *row = row_known ? kylin_rows_index_find(idx, c->name) : NULL;
    char note[512];
    int rc = msgpack_pack_map(pk, 8);
    rc = rc ? rc : mp_pack_kv_str(pk, "project", c->name);
    rc = rc ? rc : (c->owner != 0 ? mp_pack_kv_u64(pk, "owner", c->owner) : mp_pack_kv_nil(pk, "owner"));
    rc = rc ? rc : pack_opt_str(pk, "kylin_identity", c->identity);
    rc = rc ? rc : (c->identity != NULL ? mp_pack_kv_i64(pk, "epoch_id", c->epoch_id) : mp_pack_kv_nil(pk, "epoch_id"));
    rc = rc ? rc : pack_opt_str(pk, "row_identity", row != NULL ? (row->owner != NULL ? row->owner : "") : NULL);
    rc = rc ? rc : (row != NULL ? mp_pack_kv_i64(pk, "row_epoch_id", row->epoch_id) : mp_pack_kv_nil(pk, "row_epoch_id"));
    rc = rc ? rc : mp_pack_kv_bool(pk, "agrees", claim_agrees(c, engines, n_engines, row_known, row));
    rc = rc ? rc : pack_opt_str(pk, "note", project_note(k, c->name, note, sizeof note));
    return rc;
}

/* The kylin.status result (docs/protocol.md). K is NULL on a member without a Kylin. 0, or -1
 * (store read or packing failed). */
static int pack_status(const struct api_ctx *ctx, struct kylin_link *k, msgpack_packer *pk)
{
    struct store_claim *claims = NULL;
    struct store_engine *engines = NULL;
    struct kylin_rows_index idx;
    size_t n_claims = 0, n_engines = 0;
    bool row_known = k != NULL && k->rows_known;
    int rc;

    /* rows matched to projects as the claims were (kylin_claims.h: MySQL folds case) */
    if (kylin_rows_index_build(&idx, row_known ? &k->rows : &(struct epoch_rows){0},
                               row_known && k->reader.url.kind == MS_KIND_MYSQL) != 0) {
        snprintf(ctx->store->errmsg, sizeof ctx->store->errmsg, "out of memory indexing the epoch rows");
        return -1;
    }
    if (store_load_claims(ctx->store, 0, &claims, &n_claims) != 0 ||
        store_load_engines(ctx->store, &engines, &n_engines) != 0) {
        store_free_claims(claims, n_claims);
        kylin_rows_index_free(&idx);
        return -1;
    }
    rc = msgpack_pack_map(pk, 15);
    rc = rc ? rc : mp_pack_kv_str(pk, "url", ctx->cfg->kylin_url);
    rc = rc ? rc : mp_pack_kv_str(pk, "health", k != NULL ? kylin_health_name(k->health) : "NONE");
    rc = rc ? rc : mp_pack_kv_bool(pk, "engine_ok", k == NULL || kylin_link_engine_ok(k));
    rc = rc ? rc : pack_opt_str(pk, "identity", k != NULL ? k->identity : NULL);
    rc = rc ? rc : mp_pack_kv_bool(pk, "rows_known", k != NULL && k->rows_known);
    rc = rc ? rc : mp_pack_kv_u64(pk, "rounds", k != NULL ? k->rounds : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "reads", k != NULL ? k->reader.reads : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "claims", k != NULL ? k->claims_sent : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "claim_calls", k != NULL ? k->claim_calls : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "pokes", k != NULL ? k->pokes : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "record_calls", k != NULL ? k->claims.calls : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "records_sent", k != NULL ? k->claims.records_sent : 0);
    rc = rc ? rc : mp_pack_kv_u64(pk, "record_failures", k != NULL ? k->claims.failures : 0);
    rc = rc ? rc : mp_pack_kv_str(pk, "last_error", k != NULL ? k->last_error : "");
    rc = rc ? rc : mp_pack_cstr(pk, "projects");
    rc = rc ? rc : msgpack_pack_array(pk, n_claims);
    for (size_t i = 0; rc == 0 && i < n_claims; i++) {
        rc = pack_project(pk, &claims[i], engines, n_engines, row_known, &idx, k);
    }
    kylin_rows_index_free(&idx);
    store_free_claims(claims, n_claims);
    free(engines);
    return rc;
}

void handle_kylin_status(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    struct api_reply r;
    struct kylin_link *k = ctx->kylin != NULL && ctx->kylin->enabled ? ctx->kylin : NULL;

    if (!handlers_read_gate(req)) { /* the recorded claims are replicated state */
        return;
    }
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    if (pack_status(ctx, k, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "kylin status: %s",
                        ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}
