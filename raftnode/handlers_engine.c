/* handlers_engine: the engine methods (docs/protocol.md): engine.heartbeat (an engine's
 * liveness, recorded by the leader's scheduler through the log), engine.list (read) and
 * engine.drain (write). */
#include <stdlib.h>
#include <string.h>

#include "api_pending.h"
#include "common/mp.h"
#include "common/proto.h"
#include "handlers.h"
#include "scheduler.h"
#include "storage/command.h"
#include "storage/store.h"

void handle_engine_heartbeat(struct api_req *req)
{
    struct sched_hb hb;
    const char *mode;
    size_t mode_len;
    uint64_t weight;
    struct api_write_wait *w;

    memset(&hb, 0, sizeof hb);
    if (mp_get_u64(req->args, "id", &hb.id) != 0 || hb.id == 0 || mp_get_str(req->args, "mode", &mode, &mode_len) != 0 ||
        mode_len >= sizeof hb.mode || mp_get_u64(req->args, "weight", &weight) != 0 || weight == 0 ||
        weight > 1000000 || mp_get_cstr(req->args, "identity", hb.identity, sizeof hb.identity) != 0 ||
        mp_get_bool(req->args, "race_enabled", &hb.race_enabled) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "engine.heartbeat needs id, mode, weight (1..1000000), identity, race_enabled");
        return;
    }
    memcpy(hb.mode, mode, mode_len);
    hb.weight = (unsigned)weight;
    if (!handlers_require_leader(req)) {
        return;
    }
    w = api_write_wait_new(req, NULL);
    if (w == NULL || scheduler_heartbeat(req->ctx->scheduler, &hb, api_write_wait_done, w) != 0) {
        if (w != NULL) {
            api_pending_free(w);
        }
        api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, "heartbeat not recorded; retry");
    }
}

void handle_engine_list(struct api_req *req)
{
    struct api_reply r;

    if (!handlers_read_gate(req)) {
        return;
    }
    api_reply_begin(&r, req->ctx, req->id, 0, PROTO_CODE_OK, NULL);
    if (handlers_pack_engines(req->ctx, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "engine list: %s",
                        req->ctx->store->errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}

int handlers_pack_engines(const struct api_ctx *ctx, msgpack_packer *pk)
{
    struct store_engine *engines = NULL;
    size_t ne = 0;

    if (store_load_engines(ctx->store, &engines, &ne) != 0) {
        return -1;
    }
    msgpack_pack_array(pk, ne);
    for (size_t i = 0; i < ne; i++) {
        const struct store_engine *e = &engines[i];
        int64_t silence = scheduler_silence_ms(ctx->scheduler, e->id);
        msgpack_pack_map(pk, 11);
        mp_pack_kv_u64(pk, "id", e->id);
        mp_pack_kv_str(pk, "mode", e->mode);
        mp_pack_kv_bool(pk, "alive", e->alive);
        mp_pack_kv_bool(pk, "draining", e->draining);
        mp_pack_kv_u64(pk, "projects", e->projects);
        mp_pack_kv_u64(pk, "weight", e->weight);
        mp_pack_kv_str(pk, "identity", e->identity);
        mp_pack_kv_bool(pk, "race_enabled", e->race_enabled);
        mp_pack_kv_u64(pk, "heartbeats", e->heartbeats);
        mp_pack_kv_u64(pk, "last_heartbeat_index", e->last_heartbeat_index);
        /* Only the leader measures silence (its own monotonic clock). */
        if (silence >= 0) {
            mp_pack_kv_i64(pk, "last_heartbeat_ms_ago", silence);
        } else {
            mp_pack_kv_nil(pk, "last_heartbeat_ms_ago");
        }
    }
    free(engines);
    return 0;
}

void handle_engine_drain(struct api_req *req)
{
    uint64_t id;
    bool on = true;
    struct store_engine e;
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (mp_get_u64(req->args, "id", &id) != 0 || mp_get_bool(req->args, "on", &on) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "engine.drain needs \"id\" and optional \"on\" (bool, default true)");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (store_engine_get(req->ctx->store, id, &e) != 1) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND,
                        "no engine with id %llu (see raftctl engine list)", (unsigned long long)id);
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_drain(&pk, id, on);
    api_submit(req, &sb, NULL);
    msgpack_sbuffer_destroy(&sb);
}
