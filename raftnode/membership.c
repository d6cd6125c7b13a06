/* membership: raft configuration changes driven through the API, and self-registration.
 *
 * member.add / member.join: raft_add (as spare) -> raft_assign(role) -> member_set command
 * (records the API address) -> reply. libraft allows one configuration change at a time;
 * a second one gets "busy". Each stage's failure replies once and stops the chain. */
#include "membership.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/mp.h"
#include "../common/proto.h"
#include "../storage/command.h"
#include "handlers.h"
#include "common/log.h"
#include "node.h"

#define MEMBERSHIP_RETRY_MS 1000

enum change_stage { STAGE_ADD, STAGE_ASSIGN, STAGE_REMOVE };

struct change_wait {
    struct raft_change req;
    struct api_conn *conn;
    uint64_t reply_id;
    raft_id member_id;
    int role;
    int stage;
    char api_address[CONFIG_ADDR_MAX];
};

static uint64_t now_ms(struct node *n)
{
    return uv_now(n->loop);
}

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

static const struct raft_server *config_find(struct node *n, raft_id id)
{
    for (unsigned i = 0; i < n->raft.configuration.n; i++) {
        if (n->raft.configuration.servers[i].id == id) {
            return &n->raft.configuration.servers[i];
        }
    }
    return NULL;
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

static void change_free(struct change_wait *w)
{
    api_conn_unref(w->conn);
    free(w);
}

/* Final stage: record the API address (or forget the member) through the log, then reply. */
static void change_record(struct change_wait *w)
{
    struct node *n = w->conn->api->node;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    struct api_req req = {.conn = w->conn, .id = w->reply_id, .method = "member"};

    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (w->stage == STAGE_REMOVE) {
        command_pack_member_forget(&pk, w->member_id);
    } else {
        command_pack_member_set(&pk, w->member_id, w->api_address);
    }
    if (!w->conn->closing) {
        if (raft_state(&n->raft) == RAFT_LEADER) {
            handlers_submit(&req, &sbuf, NULL);
        } else {
            api_reply_error(w->conn, w->reply_id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST,
                            "member %llu changed, but leadership was lost before its API address was "
                            "recorded; it registers itself once it runs", (unsigned long long)w->member_id);
        }
    }
    msgpack_sbuffer_destroy(&sbuf);
    change_free(w);
}

static void change_cb(struct raft_change *req, int status)
{
    struct change_wait *w = req->data;
    struct node *n = w->conn->api->node;
    int rv;

    if (status != 0) {
        if (!w->conn->closing) {
            reply_raft_error(w->conn, w->reply_id, w->member_id, status,
                             w->stage == STAGE_REMOVE ? "remove" : w->stage == STAGE_ADD ? "add" : "assign role to");
        }
        change_free(w);
        return;
    }
    log_info("membership: %s member %llu done", w->stage == STAGE_REMOVE ? "remove" : w->stage == STAGE_ADD ? "add" : "assign",
             (unsigned long long)w->member_id);
    if (w->stage == STAGE_ADD && w->role != RAFT_SPARE) {
        w->stage = STAGE_ASSIGN;
        rv = raft_assign(&n->raft, &w->req, w->member_id, w->role, change_cb);
        if (rv != 0) {
            if (!w->conn->closing) {
                reply_raft_error(w->conn, w->reply_id, w->member_id, rv, "assign role to");
            }
            change_free(w);
        }
        return;
    }
    if (w->stage == STAGE_ASSIGN && w->api_address[0] == '\0') {
        struct api_reply r;
        if (!w->conn->closing) {
            api_reply_begin(&r, n, w->reply_id, 0, PROTO_CODE_OK, NULL);
            msgpack_pack_map(&r.pk, 2);
            mp_pack_kv_u64(&r.pk, "id", w->member_id);
            mp_pack_kv_str(&r.pk, "role", node_role_name(w->role));
            api_reply_send(w->conn, &r);
        }
        change_free(w);
        return;
    }
    change_record(w);
}

static struct change_wait *change_new(struct api_req *req, raft_id member, int role, int stage)
{
    struct change_wait *w = calloc(1, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return NULL;
    }
    w->req.data = w;
    w->conn = req->conn;
    w->reply_id = req->id;
    w->member_id = member;
    w->role = role;
    w->stage = stage;
    api_conn_ref(w->conn);
    return w;
}

static void add_or_join(struct api_req *req, bool join)
{
    struct node *n = req->conn->api->node;
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
    existing = config_find(n, id);
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
    rv = raft_add(&n->raft, &w->req, id, address, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "add");
        change_free(w);
        return;
    }
    log_info("membership: adding member %llu at %s as %s", (unsigned long long)id, address, node_role_name(role));
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
    struct node *n = req->conn->api->node;
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
    if (config_find(n, id) == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "remove");
        return;
    }
    if (id == n->cfg->node_id) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "member %llu is the leader; move leadership first (raftctl leader transfer), then remove it",
                        (unsigned long long)id);
        return;
    }
    w = change_new(req, id, 0, STAGE_REMOVE);
    if (w == NULL) {
        return;
    }
    rv = raft_remove(&n->raft, &w->req, id, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "remove");
        change_free(w);
    }
}

void handle_member_assign(struct api_req *req)
{
    struct node *n = req->conn->api->node;
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
    s = config_find(n, id);
    if (s == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "assign role to");
        return;
    }
    if (s->role == role) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "member %llu is already a %s",
                        (unsigned long long)id, node_role_name(role));
        return;
    }
    if (id == n->cfg->node_id && role != RAFT_VOTER) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "member %llu is the leader; move leadership first (raftctl leader transfer), then demote it",
                        (unsigned long long)id);
        return;
    }
    w = change_new(req, id, role, STAGE_ASSIGN);
    if (w == NULL) {
        return;
    }
    rv = raft_assign(&n->raft, &w->req, id, role, change_cb);
    if (rv != 0) {
        reply_raft_error(req->conn, req->id, id, rv, "assign role to");
        change_free(w);
    }
}

void handle_member_register(struct api_req *req)
{
    struct node *n = req->conn->api->node;
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
    if (config_find(n, id) == NULL) {
        reply_raft_error(req->conn, req->id, id, RAFT_NOTFOUND, "register");
        return;
    }
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    command_pack_member_set(&pk, id, api);
    handlers_submit(req, &sbuf, NULL);
    msgpack_sbuffer_destroy(&sbuf);
}

/* ---- leadership transfer ---- */

struct transfer_wait {
    struct raft_transfer req;
    struct api_conn *conn;
    uint64_t reply_id;
};

static void transfer_cb(struct raft_transfer *req)
{
    struct transfer_wait *w = req->data;
    struct node *n = w->conn->api->node;
    raft_id leader;
    const char *addr;
    struct api_reply r;

    raft_leader(&n->raft, &leader, &addr);
    if (!w->conn->closing) {
        if (leader == 0 || leader == n->cfg->node_id) {
            api_reply_error(w->conn, w->reply_id, PROTO_REFUSED, PROTO_CODE_FAILED,
                            "leadership transfer did not complete (leader now: %llu); retry",
                            (unsigned long long)leader);
        } else {
            api_reply_begin(&r, n, w->reply_id, 0, PROTO_CODE_OK, NULL);
            msgpack_pack_map(&r.pk, 1);
            mp_pack_kv_u64(&r.pk, "leader_id", leader);
            api_reply_send(w->conn, &r);
        }
    }
    api_conn_unref(w->conn);
    free(w);
}

void handle_leader_transfer(struct api_req *req)
{
    struct node *n = req->conn->api->node;
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
    if (id == n->cfg->node_id) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "member %llu is already the leader",
                        (unsigned long long)id);
        return;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return;
    }
    w->req.data = w;
    w->conn = req->conn;
    w->reply_id = req->id;
    api_conn_ref(w->conn);
    rv = raft_transfer(&n->raft, &w->req, id, transfer_cb);
    if (rv != 0) {
        if (rv == RAFT_BADID || rv == RAFT_NOTFOUND) {
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND,
                            id ? "member %llu is not a voter of this cluster; see raftctl member list"
                               : "no other voter to transfer leadership to%.0llu", (unsigned long long)id);
        } else {
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "leadership transfer: %s",
                            raft_strerror(rv));
        }
        api_conn_unref(w->conn);
        free(w);
    }
}

/* ---- self registration and join ---- */

static bool self_register_inflight;

static void self_register_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct node *n = data;
    (void)index;
    (void)code;
    self_register_inflight = false;
    if (status != 0) {
        log_warn("recording this member's API address failed: %s", message);
    } else if (n->phase == NODE_RUNNING) {
        log_info("API address %s recorded in the member table", n->cfg->api_address);
    }
}

static void peer_done(struct node *n, int status, const char *code, const char *message)
{
    (void)code;
    if (status != 0) {
        log_info("request to the cluster failed (%s); retrying", message);
        n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
    } else {
        n->register_backoff_until_ms = now_ms(n) + 200;
    }
}

void membership_tick(struct node *n)
{
    char api[CONFIG_ADDR_MAX], leader_api[CONFIG_ADDR_MAX];
    const struct config *c = n->cfg;
    raft_id leader;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    if (now_ms(n) < n->register_backoff_until_ms || n->peer.busy || self_register_inflight) {
        return;
    }
    if (config_find(n, c->node_id) == NULL) {
        if (c->join[0] == '\0') {
            return;
        }
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        mp_pack_kv_u64(&pk, "id", c->node_id);
        mp_pack_kv_str(&pk, "address", c->node_address);
        mp_pack_kv_str(&pk, "api_address", c->api_address);
        log_info("asking %s to add this member (id %llu, %s)", c->join, (unsigned long long)c->node_id, c->node_address);
        if (peer_call(&n->peer, c->join, "member.join", sbuf.data, sbuf.size, 5000, peer_done) != 0) {
            n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        }
        msgpack_sbuffer_destroy(&sbuf);
        n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        return;
    }
    if (store_member_api(&n->store, c->node_id, api, sizeof api) == 1 && strcmp(api, c->api_address) == 0) {
        return;
    }
    leader = node_leader(n, leader_api, sizeof leader_api);
    if (leader == 0) {
        return;
    }
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (leader == c->node_id) {
        command_pack_member_set(&pk, c->node_id, c->api_address);
        if (sbuf.data != NULL && proposals_submit(&n->proposals, sbuf.data, sbuf.size, self_register_done, n) == 0) {
            self_register_inflight = true;
        }
    } else if (leader_api[0] != '\0') {
        msgpack_pack_map(&pk, 2);
        mp_pack_kv_u64(&pk, "id", c->node_id);
        mp_pack_kv_str(&pk, "api_address", c->api_address);
        if (peer_call(&n->peer, leader_api, "member.register", sbuf.data, sbuf.size, 3000, peer_done) != 0) {
            n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        }
    }
    msgpack_sbuffer_destroy(&sbuf);
}
