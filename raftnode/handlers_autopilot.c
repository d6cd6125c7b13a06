/* handlers_autopilot: the `autopilot.status` API method (docs/protocol.md,
 * docs/operations-autopilot.md), like `consul operator autopilot state`: the leader's view of
 * every member's health, the failure tolerance and the last action. Only the leader keeps that
 * view (autopilot.h): other members redirect to it. */
#include <raft.h>

#include "autopilot.h"
#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "handlers.h"
#include "membership.h"

/* Milliseconds from THEN to NOW (0 when THEN is later). */
static uint64_t ago(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static void pack_member(const struct api_ctx *ctx, const struct autopilot *ap, const struct autopilot_view *v,
                        const struct autopilot_member *m, msgpack_packer *pk)
{
    const struct raft_server *s = membership_find(ctx->raft, m->id);
    enum autopilot_health h = autopilot_health(&ap->params, m, v->leader_id, v->last_index, v->now_ms);
    char api[CONFIG_ADDR_MAX];

    handlers_member_api(ctx, m->id, api, sizeof api);
    msgpack_pack_map(pk, 11);
    mp_pack_kv_u64(pk, "id", m->id);
    mp_pack_kv_str(pk, "address", s != NULL ? s->address : "");
    mp_pack_kv_str(pk, "api_address", api);
    mp_pack_kv_str(pk, "role", membership_role_name(m->role));
    mp_pack_kv_str(pk, "health", autopilot_health_name(h));
    mp_pack_kv_bool(pk, "healthy", h == AUTOPILOT_HEALTHY);
    mp_pack_cstr(pk, "last_contact_ms"); /* nil: never tracked nor heard from (a spare) */
    m->tracked || m->heard_as_spare ? msgpack_pack_uint64(pk, ago(v->now_ms, m->last_contact_ms)) : msgpack_pack_nil(pk);
    mp_pack_kv_u64(pk, "match_index", m->match_index);
    mp_pack_cstr(pk, "lag"); /* nil: not replicated (a spare) */
    m->role != RAFT_SPARE ? msgpack_pack_uint64(pk, ago(v->last_index, m->match_index)) : msgpack_pack_nil(pk);
    mp_pack_cstr(pk, "stable_ms"); /* how long healthy without a break; nil: not now */
    m->stable ? msgpack_pack_uint64(pk, ago(v->now_ms, m->stable_since_ms)) : msgpack_pack_nil(pk);
    mp_pack_kv_bool(pk, "voter", m->role == RAFT_VOTER);
}

static const char *kind_word(enum autopilot_kind k)
{
    switch (k) {
        case AUTOPILOT_PROMOTE: return "promote";
        case AUTOPILOT_DEMOTE: return "demote";
        case AUTOPILOT_REMOVE: return "remove";
        case AUTOPILOT_READMIT: return "readmit";
        case AUTOPILOT_NONE: break;
    }
    return "none";
}

void handle_autopilot_status(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    struct autopilot *ap = ctx->autopilot;
    struct autopilot_view v;
    struct autopilot_summary s;
    struct api_reply r;
    uint64_t now = uv_now(ctx->loop);

    if (!handlers_require_leader(req)) {
        return;
    }
    if (!autopilot_refresh(ap, now)) {
        api_reply_redirect(req->conn, req->id);
        return;
    }
    autopilot_view(ap, now, &v);
    autopilot_summarise(&ap->params, &v, &s);
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 14);
    mp_pack_kv_u64(&r.pk, "leader_id", v.leader_id);
    mp_pack_kv_bool(&r.pk, "healthy", s.healthy);
    mp_pack_kv_u64(&r.pk, "failure_tolerance", s.failure_tolerance);
    mp_pack_kv_u64(&r.pk, "voters", s.voters);
    mp_pack_kv_u64(&r.pk, "healthy_voters", s.healthy_voters);
    mp_pack_kv_u64(&r.pk, "target_voters", ap->target);
    mp_pack_kv_u64(&r.pk, "last_index", v.last_index);
    mp_pack_kv_u64(&r.pk, "leading_ms", ago(now, ap->leader_since_ms));
    mp_pack_kv_u64(&r.pk, "dead_member_timeout_ms", ap->params.dead_ms);
    mp_pack_kv_bool(&r.pk, "change_pending", v.change_pending);
    mp_pack_kv_u64(&r.pk, "actions", ap->actions);
    mp_pack_cstr(&r.pk, "last_action"); /* nil: none in this leadership's process lifetime */
    if (ap->last.kind == AUTOPILOT_NONE) {
        msgpack_pack_nil(&r.pk);
    } else {
        msgpack_pack_map(&r.pk, 5);
        mp_pack_kv_str(&r.pk, "action", kind_word(ap->last.kind));
        mp_pack_kv_u64(&r.pk, "id", ap->last.id);
        mp_pack_kv_str(&r.pk, "reason", ap->last.reason);
        mp_pack_kv_u64(&r.pk, "ago_ms", ago(now, ap->last_at_ms));
        mp_pack_kv_str(&r.pk, "result", ap->inflight ? "in flight" : ap->last_status == 0 ? "done" : raft_strerror(ap->last_status));
    }
    mp_pack_kv_bool(&r.pk, "cleanup_dead_members", ap->params.cleanup);
    mp_pack_cstr(&r.pk, "members");
    msgpack_pack_array(&r.pk, v.n);
    for (unsigned i = 0; i < v.n; i++) {
        pack_member(ctx, ap, &v, &v.members[i], &r.pk);
    }
    api_reply_send(req->conn, &r);
}
