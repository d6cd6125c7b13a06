/* handlers_member: the membership methods (docs/protocol.md): member.add, member.join,
 * member.remove, member.assign, member.register and leader.transfer, driven through libraft's
 * configuration changes on the leader.
 *
 * member.add / member.join: raft_add (as spare) -> raft_assign(role) -> member_set command
 * (records the API address) -> reply. libraft allows one configuration change at a time;
 * a second one gets "busy". Each stage's failure replies once and stops the chain. */
#include <arpa/inet.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_pending.h"
#include "common/log.h"
#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "handlers.h"
#include "membership.h"
#include "storage/command.h"

enum change_stage { STAGE_ADD, STAGE_ASSIGN, STAGE_REMOVE };

struct change_wait {
    struct api_pending p;
    struct raft_change req;
    raft_id member_id;
    int role;
    int stage;
    char api_address[CONFIG_ADDR_MAX];
};

static int parse_role(const char *s, size_t len, int *role)
{
    if (len == 5 && memcmp(s, "voter", 5) == 0) {
        *role = RAFT_VOTER;
    } else if (len == 7 && memcmp(s, "standby", 7) == 0) {
        *role = RAFT_STANDBY;
    } else if (len == 5 && memcmp(s, "spare", 5) == 0) {
        *role = RAFT_SPARE;
    } else {
        return -1;
    }
    return 0;
}

static bool valid_address(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct in_addr ia;
    long port;
    char *end;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        return false;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = strtol(colon + 1, &end, 10);
    return inet_pton(AF_INET, host, &ia) == 1 && *end == '\0' && port >= 1 && port <= 65535;
}

/* Maps a libraft error of a configuration change to a reply. */
static void reply_raft_error(struct api_conn *c, uint64_t id, raft_id member, int rv, const char *what)
{
    switch (rv) {
        case RAFT_CANTCHANGE:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_BUSY,
                            "%s member %llu: a membership change is already in progress; retry when it "
                            "has finished", what, (unsigned long long)member);
            break;
        case RAFT_NOTFOUND:
        case RAFT_BADID:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND, "%s: no member with id %llu "
                            "(see raftctl member list)", what, (unsigned long long)member);
            break;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_EXISTS, "%s member %llu: %s", what,
                            (unsigned long long)member, raft_strerror(rv));
            break;
        case RAFT_BADROLE:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_INVALID, "%s member %llu: it already has "
                            "that role", what, (unsigned long long)member);
            break;
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
            api_reply_error(c, id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST, "%s member %llu: "
                            "leadership lost; check raftctl member list and retry", what,
                            (unsigned long long)member);
            break;
        case RAFT_NOCONNECTION:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_FAILED, "%s member %llu: it could not be "
                            "caught up (is it running and reachable at its raft address?)", what,
                            (unsigned long long)member);
            break;
        default:
            api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_FAILED, "%s member %llu: %s", what,
                            (unsigned long long)member, raft_strerror(rv));
    }
}

/* Final stage: record the API address (or forget the member) through the log, then reply. */
static void change_record(struct change_wait *w)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    struct api_req req = {.ctx = w->p.ctx, .conn = w->p.conn, .id = w->p.id, .method = "member"};

    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (w->stage == STAGE_REMOVE) {
        command_pack_member_forget(&pk, w->member_id);
    } else {
        command_pack_member_set(&pk, w->member_id, w->api_address);
    }
    if (api_pending_open(&w->p)) {
        if (raft_state(w->p.ctx->raft) == RAFT_LEADER) {
            api_submit(&req, &sbuf, NULL);
        } else {
            api_reply_error(w->p.conn, w->p.id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST,
                            "member %llu changed, but leadership was lost before its API address was "
                            "recorded; it registers itself once it runs", (unsigned long long)w->member_id);
        }
    }
    msgpack_sbuffer_destroy(&sbuf);
    api_pending_free(w);
}

static void change_cb(struct raft_change *req, int status)
{
    struct change_wait *w = req->data;
    const struct api_ctx *ctx = w->p.ctx;
    int rv;

    if (status != 0) {
        if (api_pending_open(&w->p)) {
            reply_raft_error(w->p.conn, w->p.id, w->member_id, status,
                             w->stage == STAGE_REMOVE ? "remove" : w->stage == STAGE_ADD ? "add" : "assign role to");
        }
        api_pending_free(w);
        return;
    }
    log_info("membership: %s member %llu done", w->stage == STAGE_REMOVE ? "remove" : w->stage == STAGE_ADD ? "add" : "assign",
             (unsigned long long)w->member_id);
    if (w->stage == STAGE_ADD && w->role != RAFT_SPARE) {
        w->stage = STAGE_ASSIGN;
        rv = raft_assign(ctx->raft, &w->req, w->member_id, w->role, change_cb);
        if (rv != 0) {
            if (api_pending_open(&w->p)) {
                reply_raft_error(w->p.conn, w->p.id, w->member_id, rv, "assign role to");
            }
            api_pending_free(w);
        }
        return;
    }
    if (w->stage == STAGE_ASSIGN && w->api_address[0] == '\0') {
        struct api_reply r;
        if (api_pending_open(&w->p)) {
            api_reply_begin(&r, ctx, w->p.id, 0, PROTO_CODE_OK, NULL);
            msgpack_pack_map(&r.pk, 2);
            mp_pack_kv_u64(&r.pk, "id", w->member_id);
            mp_pack_kv_str(&r.pk, "role", membership_role_name(w->role));
            api_reply_send(w->p.conn, &r);
        }
        api_pending_free(w);
        return;
    }
    change_record(w);
}

static struct change_wait *change_new(const struct api_req *req, raft_id member, int role, int stage)
{
    struct change_wait *w = api_pending_new(req, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return NULL;
    }
    w->req.data = w;
    w->member_id = member;
    w->role = role;
    w->stage = stage;
    return w;
}

static void add_or_join(struct api_req *req, bool join)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id;
    char address[CONFIG_ADDR_MAX], api[CONFIG_ADDR_MAX] = "";
    const char *role_s;
    size_t role_len;
    int role = RAFT_STANDBY, rv;
    struct change_wait *w;
    const struct raft_server *existing;

    if (mp_get_u64(req->args, "id", &id) != 0 || id == 0 ||
        mp_get_cstr(req->args, "address", address, sizeof address) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "%s needs \"id\" (integer >= 1) and \"address\" (IPv4:port)", req->method);
        return;
    }
    if (id > (uint64_t)INT64_MAX) {
        /* raft.node.id's bound: such a member could be added but never removed (issue 12). */
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "%s: member id %llu is above 9223372036854775807 (2^63-1), the largest raft.node.id",
                        req->method, (unsigned long long)id);
        return;
    }
    rv = mp_get_cstr(req->args, "api_address", api, sizeof api);
    if ((rv != 0 && rv != -1) || (join && rv != 0) || (api[0] && !valid_address(api)) || !valid_address(address)) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "%s member %llu: addresses must be IPv4:port (address '%s', api_address '%s')",
                        req->method, (unsigned long long)id, address, api);
        return;
    }
    if (mp_get_str(req->args, "role", &role_s, &role_len) == 0 && parse_role(role_s, role_len, &role) != 0) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "role must be voter, standby or spare");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    existing = membership_find(ctx->raft, id);
    if (existing != NULL) {
        if (join && strcmp(existing->address, address) == 0) {
            /* A restarted joiner: it is in already; just (re)record its API address. */
            w = change_new(req, id, existing->role, STAGE_ASSIGN);
            if (w != NULL) {
                snprintf(w->api_address, sizeof w->api_address, "%s", api);
                change_record(w);
            }
            return;
        }
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_EXISTS,
                        "member id %llu already exists with address %s; ids are never reused",
                        (unsigned long long)id, existing->address);
        return;
    }
    w = change_new(req, id, role, STAGE_ADD);
    if (w == NULL) {
        return;
    }
    snprintf(w->api_address, sizeof w->api_address, "%s", api);
    rv = raft_add(ctx->raft, &w->req, id, address, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "add");
        api_pending_free(w);
        return;
    }
    log_info("membership: adding member %llu at %s as %s", (unsigned long long)id, address, membership_role_name(role));
}

void handle_member_add(struct api_req *req)
{
    add_or_join(req, false);
}

void handle_member_join(struct api_req *req)
{
    add_or_join(req, true);
}

void handle_member_remove(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id;
    struct change_wait *w;
    int rv;

    if (mp_get_u64(req->args, "id", &id) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "member.remove needs \"id\"");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (membership_find(ctx->raft, id) == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "remove");
        return;
    }
    if (id == ctx->cfg->node_id) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "member %llu is the leader; move leadership first (raftctl leader transfer), then remove it",
                        (unsigned long long)id);
        return;
    }
    w = change_new(req, id, 0, STAGE_REMOVE);
    if (w == NULL) {
        return;
    }
    rv = raft_remove(ctx->raft, &w->req, id, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "remove");
        api_pending_free(w);
    }
}

void handle_member_assign(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id;
    const char *role_s;
    size_t role_len;
    int role, rv;
    struct change_wait *w;
    const struct raft_server *s;

    if (mp_get_u64(req->args, "id", &id) != 0 || mp_get_str(req->args, "role", &role_s, &role_len) != 0 ||
        parse_role(role_s, role_len, &role) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "member.assign needs \"id\" and \"role\" (voter, standby or spare)");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    s = membership_find(ctx->raft, id);
    if (s == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "assign role to");
        return;
    }
    if (s->role == role) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "member %llu is already a %s",
                        (unsigned long long)id, membership_role_name(role));
        return;
    }
    if (id == ctx->cfg->node_id && role != RAFT_VOTER) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "member %llu is the leader; move leadership first (raftctl leader transfer), then demote it",
                        (unsigned long long)id);
        return;
    }
    w = change_new(req, id, role, STAGE_ASSIGN);
    if (w == NULL) {
        return;
    }
    rv = raft_assign(ctx->raft, &w->req, id, role, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "assign role to");
        api_pending_free(w);
    }
}

void handle_member_register(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id;
    char api[CONFIG_ADDR_MAX];
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    if (mp_get_u64(req->args, "id", &id) != 0 || mp_get_cstr(req->args, "api_address", api, sizeof api) != 0 ||
        !valid_address(api)) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "member.register needs \"id\" and \"api_address\" (IPv4:port)");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (membership_find(ctx->raft, id) == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "register");
        return;
    }
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    command_pack_member_set(&pk, id, api);
    api_submit(req, &sbuf, NULL);
    msgpack_sbuffer_destroy(&sbuf);
}

/* ---- leadership transfer ---- */

struct transfer_wait {
    struct api_pending p;
    struct raft_transfer req;
};

static void transfer_cb(struct raft_transfer *req)
{
    struct transfer_wait *w = req->data;
    const struct api_ctx *ctx = w->p.ctx;
    raft_id leader;
    const char *addr;
    struct api_reply r;

    raft_leader(ctx->raft, &leader, &addr);
    if (api_pending_open(&w->p)) {
        if (leader == 0 || leader == ctx->cfg->node_id) {
            api_reply_error(w->p.conn, w->p.id, PROTO_REFUSED, PROTO_CODE_FAILED,
                            "leadership transfer did not complete (leader now: %llu); retry",
                            (unsigned long long)leader);
        } else {
            api_reply_begin(&r, ctx, w->p.id, 0, PROTO_CODE_OK, NULL);
            msgpack_pack_map(&r.pk, 1);
            mp_pack_kv_u64(&r.pk, "leader_id", leader);
            api_reply_send(w->p.conn, &r);
        }
    }
    api_pending_free(w);
}

void handle_leader_transfer(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id = 0;
    struct transfer_wait *w;
    int rv;

    if (mp_get_u64(req->args, "id", &id) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"id\" must be an integer");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (id == ctx->cfg->node_id) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "member %llu is already the leader",
                        (unsigned long long)id);
        return;
    }
    w = api_pending_new(req, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return;
    }
    w->req.data = w;
    rv = raft_transfer(ctx->raft, &w->req, id, transfer_cb);
    if (rv != 0) {
        if (rv == RAFT_BADID || rv == RAFT_NOTFOUND) {
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND,
                            id ? "member %llu is not a voter of this cluster; see raftctl member list"
                               : "no other voter to transfer leadership to%.0llu", (unsigned long long)id);
        } else {
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "leadership transfer: %s",
                            raft_strerror(rv));
        }
        api_pending_free(w);
    }
}

