/* raftctl_cmd_member: membership writes and leadership transfer. Each is one write sent to
 * the leader (redirects followed); output is one line, or one JSON object {"ok", ...}. */
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

struct member_args {
    uint64_t id;
    const char *address;     /* member.add */
    const char *api_address; /* member.add, optional */
    const char *role;        /* member.add (optional) and member.assign */
};

static int pack_member_add(msgpack_packer *pk, void *arg)
{
    const struct member_args *m = arg;
    int rc = msgpack_pack_map(pk, 2 + (m->api_address != NULL) + (m->role != NULL));

    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "id", m->id);
    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "address", m->address);
    if (m->api_address != NULL) {
        rc = rc != 0 ? rc : mp_pack_kv_str(pk, "api_address", m->api_address);
    }
    if (m->role != NULL) {
        rc = rc != 0 ? rc : mp_pack_kv_str(pk, "role", m->role);
    }
    return rc;
}

static int pack_member_assign(msgpack_packer *pk, void *arg)
{
    const struct member_args *m = arg;
    int rc = msgpack_pack_map(pk, 2);

    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "id", m->id);
    return rc != 0 ? rc : mp_pack_kv_str(pk, "role", m->role);
}

static int pack_leader_transfer(msgpack_packer *pk, void *arg)
{
    const uint64_t *id = arg;

    if (*id == 0) {
        return msgpack_pack_map(pk, 0); /* any voter */
    }
    return raftctl_pack_id(pk, arg);
}

/* Sends one write. On failure prints why on stderr (and, with -w json, a document
 * {"ok": false, "status", "code", "error"} on stdout) and returns the exit status; on
 * success returns 0 and the caller prints. OUT is always to be freed. */
static int member_write(struct raftctl_ctx *ctx, const char *what, const char *method, client_pack_fn pack,
                        void *arg, struct client_sync_reply *out)
{
    int rc = raftctl_request(ctx, RAFTCTL_WRITE, method, pack, arg, out);

    if (rc == PROTO_UNAVAILABLE) {
        rc = raftctl_report_unavailable(ctx, what, out);
    } else if (rc != PROTO_OK) {
        rc = raftctl_report_refused(what, &out->reply);
    }
    if (rc != 0 && ctx->args.format == RAFTCTL_FORMAT_JSON) {
        /* JSON readers get a document whatever happened; the text went to stderr. */
        int prc = raftctl_json_print(json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "status", out->reply.status,
                                               "code", out->reply.code, "error", out->reply.error));
        rc = prc != 0 && rc < prc ? prc : rc;
    }
    return rc;
}

/* Prints the success of a member write: TEXT, or {"ok": true, "id": ID, "role": ROLE?}. */
static int member_done(struct raftctl_ctx *ctx, const char *text, uint64_t id, const char *role)
{
    json_t *o;

    if (ctx->args.format != RAFTCTL_FORMAT_JSON) {
        printf("%s\n", text);
        return 0;
    }
    o = json_pack("{s:b, s:o}", "ok", 1, "id", raftctl_json_u64(id, true));
    if (o != NULL && role != NULL && json_object_set_new(o, "role", json_string(role)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return raftctl_json_print(o);
}

/* The role a member.add / member.assign result reports, or FALLBACK. */
static const char *result_role(const struct client_sync_reply *out, char *buf, size_t cap, const char *fallback)
{
    if (out->reply.result != NULL && mp_get_cstr(out->reply.result, "role", buf, cap) == 0) {
        return buf;
    }
    return fallback;
}

int raftctl_cmd_member_add(struct raftctl_ctx *ctx)
{
    struct member_args m = {0};
    struct client_sync_reply out;
    char what[128], text[160], role[16];
    int rc;

    if (raftctl_parse_id(ctx->args.pos[0], &m.id) != 0) { /* validated by the parser already */
        raftctl_errf("member add: ID '%s' is not a positive integer", ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    m.address = ctx->args.pos[1];
    m.api_address = raftctl_args_opt(&ctx->args, "api");
    m.role = raftctl_args_opt(&ctx->args, "role");
    snprintf(what, sizeof what, "member add %llu", (unsigned long long)m.id);
    rc = member_write(ctx, what, "member.add", pack_member_add, &m, &out);
    if (rc == 0) {
        const char *r = result_role(&out, role, sizeof role, m.role != NULL ? m.role : "standby");
        snprintf(text, sizeof text, "member %llu added as %s", (unsigned long long)m.id, r);
        rc = member_done(ctx, text, m.id, r);
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_member_remove(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out;
    uint64_t id;
    char what[64], text[96];
    int rc;

    if (raftctl_parse_id(ctx->args.pos[0], &id) != 0) {
        raftctl_errf("member remove: ID '%s' is not a positive integer", ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    snprintf(what, sizeof what, "member remove %llu", (unsigned long long)id);
    rc = member_write(ctx, what, "member.remove", raftctl_pack_id, &id, &out);
    if (rc == 0) {
        snprintf(text, sizeof text, "member %llu removed", (unsigned long long)id);
        rc = member_done(ctx, text, id, NULL);
    }
    client_sync_reply_free(&out);
    return rc;
}

/* member promote / demote: member.assign with ROLE. */
static int member_assign(struct raftctl_ctx *ctx, const char *verb, const char *role)
{
    struct member_args m = {0};
    struct client_sync_reply out;
    char what[64], text[96], got[16];
    int rc;

    if (raftctl_parse_id(ctx->args.pos[0], &m.id) != 0) {
        raftctl_errf("member %s: ID '%s' is not a positive integer", verb, ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    m.role = role;
    snprintf(what, sizeof what, "member %s %llu", verb, (unsigned long long)m.id);
    rc = member_write(ctx, what, "member.assign", pack_member_assign, &m, &out);
    if (rc == 0) {
        const char *r = result_role(&out, got, sizeof got, role);
        snprintf(text, sizeof text, "member %llu is now a %s", (unsigned long long)m.id, r);
        rc = member_done(ctx, text, m.id, r);
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_member_promote(struct raftctl_ctx *ctx)
{
    return member_assign(ctx, "promote", "voter");
}

int raftctl_cmd_member_demote(struct raftctl_ctx *ctx)
{
    const char *role = raftctl_args_opt(&ctx->args, "role");
    return member_assign(ctx, "demote", role != NULL ? role : "standby");
}

int raftctl_cmd_leader_transfer(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out;
    uint64_t id = 0, leader = 0;
    int rc;

    if (ctx->args.n_pos > 0 && raftctl_parse_id(ctx->args.pos[0], &id) != 0) {
        raftctl_errf("leader transfer: ID '%s' is not a positive integer", ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    rc = member_write(ctx, "leader transfer", "leader.transfer", pack_leader_transfer, &id, &out);
    if (rc == 0) {
        if (out.reply.result == NULL || mp_get_u64(out.reply.result, "leader_id", &leader) != 0) {
            leader = id;
        }
        if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
            rc = raftctl_json_print(json_pack("{s:b, s:o}", "ok", 1, "leader_id", raftctl_json_u64(leader, leader != 0)));
        } else if (leader != 0) {
            printf("leadership transferred to member %llu\n", (unsigned long long)leader);
        } else {
            printf("leadership transferred\n");
        }
    }
    client_sync_reply_free(&out);
    return rc;
}
