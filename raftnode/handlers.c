/* handlers: method table and the read / project handlers (docs/protocol.md). */
#include "handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/mp.h"
#include "../common/proto.h"
#include "../storage/command.h"
#include "common/log.h"
#include "node.h"

bool handlers_require_leader(struct api_req *req)
{
    struct node *n = req->conn->api->node;
    if (n->phase != NODE_RUNNING) {
        api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_SHUTTING_DOWN,
                        "member %llu is shutting down; retry against another member",
                        (unsigned long long)n->cfg->node_id);
        return false;
    }
    if (raft_state(&n->raft) != RAFT_LEADER) {
        api_reply_redirect(req->conn, req->id);
        return false;
    }
    return true;
}

struct write_wait *write_wait_new(struct api_req *req, const char *name)
{
    struct write_wait *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return NULL;
    }
    w->conn = req->conn;
    w->id = req->id;
    snprintf(w->name, sizeof w->name, "%s", name != NULL ? name : "");
    api_conn_ref(w->conn);
    return w;
}

void write_wait_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct write_wait *w = data;
    struct api_reply r;
    if (!w->conn->closing) {
        api_reply_begin(&r, w->conn->api->node, w->id, status, code, message);
        if (status == 0) {
            msgpack_pack_map(&r.pk, w->name[0] ? 2 : 1);
            mp_pack_kv_u64(&r.pk, "index", index);
            if (w->name[0]) {
                mp_pack_kv_str(&r.pk, "name", w->name);
            }
        }
        api_reply_send(w->conn, &r);
    }
    api_conn_unref(w->conn);
    free(w);
}

void handlers_submit(struct api_req *req, msgpack_sbuffer *sbuf, const char *name)
{
    struct node *n = req->conn->api->node;
    struct write_wait *w = write_wait_new(req, name);
    if (w == NULL || sbuf->data == NULL ||
        proposals_submit(&n->proposals, sbuf->data, sbuf->size, write_wait_done, w) != 0) {
        if (w != NULL) {
            api_conn_unref(w->conn);
            free(w);
        }
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory queueing the write");
    }
}

/* ---- reads ---- */

static void pack_members(struct node *n, msgpack_packer *pk)
{
    const struct raft_configuration *conf = &n->raft.configuration;
    msgpack_pack_array(pk, conf->n);
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        char api[CONFIG_ADDR_MAX];
        if (s->id == n->cfg->node_id) {
            snprintf(api, sizeof api, "%s", n->cfg->api_address);
        } else if (store_member_api(&n->store, s->id, api, sizeof api) != 1) {
            api[0] = '\0';
        }
        msgpack_pack_map(pk, 4);
        mp_pack_kv_u64(pk, "id", s->id);
        mp_pack_kv_str(pk, "address", s->address);
        mp_pack_kv_str(pk, "api_address", api);
        mp_pack_kv_str(pk, "role", node_role_name(s->role));
    }
}

static void handle_status(struct api_req *req)
{
    struct node *n = req->conn->api->node;
    struct api_reply r;
    char leader_api[CONFIG_ADDR_MAX];
    raft_id leader = node_leader(n, leader_api, sizeof leader_api);

    api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 9);
    mp_pack_kv_u64(&r.pk, "id", n->cfg->node_id);
    mp_pack_kv_str(&r.pk, "state", node_state_name(n));
    mp_pack_kv_u64(&r.pk, "term", raft_current_term(&n->raft));
    mp_pack_kv_u64(&r.pk, "commit_index", raft_commit_index(&n->raft));
    mp_pack_kv_u64(&r.pk, "applied_index", node_applied_index(n));
    mp_pack_kv_u64(&r.pk, "last_index", raft_last_index(&n->raft));
    mp_pack_kv_u64(&r.pk, "leader_id", leader);
    mp_pack_kv_str(&r.pk, "leader_api", leader_api);
    mp_pack_cstr(&r.pk, "members");
    pack_members(n, &r.pk);
    api_reply_send(req->conn, &r);
}

static void handle_hash(struct api_req *req)
{
    struct node *n = req->conn->api->node;
    struct api_reply r;
    uint64_t h;
    char hex[17];

    if (store_hash(&n->store, &h) != 0) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "hash: %s", n->store.errmsg);
        return;
    }
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 3);
    mp_pack_kv_u64(&r.pk, "id", n->cfg->node_id);
    mp_pack_kv_u64(&r.pk, "applied_index", node_applied_index(n));
    mp_pack_kv_str(&r.pk, "hash", hex);
    api_reply_send(req->conn, &r);
}

static void reply_project_list(struct node *n, struct api_conn *c, uint64_t id)
{
    struct api_reply r;
    api_reply_begin(&r, n, id, 0, PROTO_CODE_OK, NULL);
    if (store_pack_projects(&n->store, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_FAILED, "project list: %s", n->store.errmsg);
        return;
    }
    api_reply_send(c, &r);
}

/* A consistent read waits for a barrier: every entry committed before it is applied here. */
struct barrier_wait {
    struct raft_barrier req;
    struct api_conn *conn;
    uint64_t id;
    void (*reply)(struct node *n, struct api_conn *c, uint64_t id);
};

static void barrier_cb(struct raft_barrier *b, int status)
{
    struct barrier_wait *w = b->data;
    struct node *n = w->conn->api->node;
    if (!w->conn->closing) {
        if (status != 0) {
            api_reply_error(w->conn, w->id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST,
                            "consistent read failed: %s; retry", raft_strerror(status));
        } else {
            w->reply(n, w->conn, w->id);
        }
    }
    api_conn_unref(w->conn);
    free(w);
}

static void read_maybe_consistent(struct api_req *req, void (*reply)(struct node *, struct api_conn *, uint64_t))
{
    struct node *n = req->conn->api->node;
    bool consistent = false;
    struct barrier_wait *w;
    int rv;

    if (mp_get_bool(req->args, "consistent", &consistent) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"consistent\" must be a bool");
        return;
    }
    if (!consistent) {
        reply(n, req->conn, req->id);
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return;
    }
    w->req.data = w;
    w->conn = req->conn;
    w->id = req->id;
    w->reply = reply;
    api_conn_ref(w->conn);
    rv = raft_barrier(&n->raft, &w->req, barrier_cb);
    if (rv != 0) {
        api_conn_unref(w->conn);
        free(w);
        if (rv == RAFT_NOTLEADER) {
            api_reply_redirect(req->conn, req->id);
        } else {
            api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, "barrier: %s", raft_strerror(rv));
        }
    }
}

static void handle_project_list(struct api_req *req)
{
    read_maybe_consistent(req, reply_project_list);
}

/* ---- project writes ---- */

static int project_name_arg(struct api_req *req, char *name, size_t cap)
{
    const char *p;
    size_t len;
    const char *why;

    if (mp_get_str(req->args, "name", &p, &len) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "%s needs a string argument \"name\"", req->method);
        return -1;
    }
    why = store_check_project_name(p, len);
    if (why != NULL && !(len == 7 && memcmp(p, "_global", 7) == 0)) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "invalid project name '%.*s': %s",
                        (int)(len > 80 ? 80 : len), p, why);
        return -1;
    }
    if (len >= cap) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "project name too long");
        return -1;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    return 0;
}

static void handle_project_write(struct api_req *req, bool add)
{
    char name[STORE_NAME_MAX + 1];
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    if (project_name_arg(req, name, sizeof name) != 0 || !handlers_require_leader(req)) {
        return;
    }
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (add) {
        command_pack_project_add(&pk, name, strlen(name));
    } else {
        command_pack_project_remove(&pk, name, strlen(name));
    }
    handlers_submit(req, &sbuf, name);
    msgpack_sbuffer_destroy(&sbuf);
}

static void handle_project_add(struct api_req *req)
{
    handle_project_write(req, true);
}

static void handle_project_remove(struct api_req *req)
{
    handle_project_write(req, false);
}

static const struct handler_method methods[] = {
    {"status", handle_status},
    {"hash", handle_hash},
    {"project.list", handle_project_list},
    {"project.add", handle_project_add},
    {"project.remove", handle_project_remove},
    {"member.add", handle_member_add},
    {"member.join", handle_member_join},
    {"member.remove", handle_member_remove},
    {"member.assign", handle_member_assign},
    {"member.register", handle_member_register},
    {"leader.transfer", handle_leader_transfer},
    {NULL, NULL},
};

void handlers_dispatch(struct api_req *req)
{
    static const struct handler_method *const tables[] = {methods, handlers_ownership, handlers_metastore};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const struct handler_method *m = tables[t]; m->name != NULL; m++) {
            if (strcmp(m->name, req->method) == 0) {
                m->fn(req);
                return;
            }
        }
    }
    api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_UNKNOWN_METHOD,
                    "unknown method '%s'; see docs/protocol.md", req->method);
}
