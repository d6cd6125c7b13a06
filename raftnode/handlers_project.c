/* handlers_project: the project methods (docs/protocol.md): project.list and project.show
 * (reads; "consistent": true waits for a barrier on the leader), project.add, project.remove,
 * project.move and project.pin (writes through the log; a move or pin is carried as an
 * explicit compare-and-set assignment). */
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_pending.h"
#include "common/mp.h"
#include "common/proto.h"
#include "config.h"
#include "engine.h"
#include "handlers.h"
#include "proposal.h"
#include "storage/command.h"
#include "storage/store.h"

#define KYLIN_RECOVERING "KE-010021002"
#define KYLIN_RECOVERING_TEXT "System is trying to recover service. Please try again later."
#define KYLIN_NO_LEADER "KE-010021004"
#define KYLIN_NO_LEADER_TEXT "There is no active leader node. Please contact system admin to check and fix."

static bool mode_can_own(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

/* Why engine ID cannot receive projects, or NULL when it can. */
static const char *ineligible_reason(struct store *store, uint64_t id, char *buf, size_t cap)
{
    struct store_engine e;
    int rc = store_engine_get(store, id, &e);
    if (rc < 0) {
        snprintf(buf, cap, "cannot read engine %llu: %s", (unsigned long long)id, store->errmsg);
    } else if (rc == 0) {
        snprintf(buf, cap, "no engine with id %llu (see raftctl engine list)", (unsigned long long)id);
    } else if (!mode_can_own(e.mode)) {
        snprintf(buf, cap, "engine %llu runs in %.8s mode; only all and job engines own projects",
                 (unsigned long long)id, e.mode);
    } else if (!e.alive) {
        snprintf(buf, cap, "engine %llu is dead", (unsigned long long)id);
    } else if (e.draining) {
        snprintf(buf, cap, "engine %llu is draining (raftctl undrain %llu to use it again)",
                 (unsigned long long)id, (unsigned long long)id);
    } else {
        return NULL;
    }
    return buf;
}

/* ---- project.list ---- */

static void project_list_reply(const struct api_ctx *ctx, struct api_conn *c, uint64_t id)
{
    struct api_reply r;
    api_reply_begin(&r, ctx, id, 0, PROTO_CODE_OK, NULL);
    if (store_pack_projects(ctx->store, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(c, id, PROTO_REFUSED, PROTO_CODE_FAILED, "project list: %s", ctx->store->errmsg);
        return;
    }
    api_reply_send(c, &r);
}

static void project_list_read(struct api_read_wait *w)
{
    project_list_reply(w->p.ctx, w->p.conn, w->p.id);
}

void handle_project_list(struct api_req *req)
{
    bool consistent;
    struct api_read_wait *w;

    if (api_want_consistent(req, &consistent) != 0) {
        return;
    }
    if (!consistent) {
        if (handlers_read_gate(req)) {
            project_list_reply(req->ctx, req->conn, req->id);
        }
        return;
    }
    if (handlers_require_leader(req) && (w = api_read_wait_new(req, sizeof *w, project_list_read)) != NULL) {
        api_read_wait_start(req, w);
    }
}

/* ---- project.add / project.remove ---- */

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

static void project_write(struct api_req *req, bool add)
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
    api_submit(req, &sbuf, name);
    msgpack_sbuffer_destroy(&sbuf);
}

void handle_project_add(struct api_req *req)
{
    project_write(req, true);
}

void handle_project_remove(struct api_req *req)
{
    project_write(req, false);
}

/* ---- project.show ---- */

/* project.show's answer from this member's state (the lease fields only on the owner's own
 * member). */
int handlers_pack_project_show(const struct api_ctx *ctx, const char *name, size_t len, msgpack_packer *pk,
                               const char **code, char *err, size_t cap)
{
    struct store_project_row p;
    struct store_engine owner, *engines = NULL;
    size_t ne = 0;
    bool any_alive = false, owner_known = false;
    int rc;

    rc = store_project_get(ctx->store, name, len, &p);
    if (rc <= 0) {
        *code = rc < 0 ? PROTO_CODE_FAILED : PROTO_CODE_NOT_FOUND;
        if (rc < 0) {
            snprintf(err, cap, "project show: %s", ctx->store->errmsg);
        } else {
            snprintf(err, cap, "no project named '%.*s' (see raftctl project list)", (int)(len > 80 ? 80 : len), name);
        }
        return -1;
    }
    if (store_load_engines(ctx->store, &engines, &ne) != 0) {
        free(p.name);
        *code = PROTO_CODE_FAILED;
        snprintf(err, cap, "project show: %s", ctx->store->errmsg);
        return -1;
    }
    for (size_t i = 0; i < ne; i++) {
        any_alive = any_alive || (engines[i].alive && mode_can_own(engines[i].mode));
        if (engines[i].id == p.owner) {
            owner = engines[i];
            owner_known = true;
        }
    }
    free(engines);
    /* Kylin's two failure states, with Kylin's codes and texts. */
    if (!any_alive) {
        *code = KYLIN_NO_LEADER;
        snprintf(err, cap, "%s %s", KYLIN_NO_LEADER, KYLIN_NO_LEADER_TEXT);
        free(p.name);
        return -1;
    }
    if (p.owner == 0 || !owner_known || !owner.alive) {
        *code = KYLIN_RECOVERING;
        snprintf(err, cap, "%s %s", KYLIN_RECOVERING, KYLIN_RECOVERING_TEXT);
        free(p.name);
        return -1;
    }
    bool mine = p.owner == ctx->cfg->node_id;
    msgpack_pack_map(pk, 12);
    mp_pack_kv_str(pk, "name", p.name);
    /* where the project came from: Kylin's metadata listed it (replicated, schema v7) */
    mp_pack_kv_bool(pk, "kylin_listed", p.kylin_listed);
    /* Kylin's side: the claim recorded in the replicated state (the identity and epoch_id the
     * owner's Kylin wrote, read back by its member): the same on every member */
    struct store_claim claim;
    if (store_claim_get(ctx->store, name, len, &claim) != 1) {
        memset(&claim, 0, sizeof claim); /* a failed read shows no claim */
    }
    if (claim.identity != NULL) {
        mp_pack_kv_str(pk, "kylin_identity", claim.identity);
        mp_pack_kv_i64(pk, "kylin_epoch_id", claim.epoch_id);
    } else {
        mp_pack_kv_nil(pk, "kylin_identity");
        mp_pack_kv_nil(pk, "kylin_epoch_id");
    }
    store_claim_clear(&claim);
    mp_pack_kv_u64(pk, "owner", p.owner);
    mp_pack_kv_str(pk, "owner_identity", owner.identity);
    mp_pack_kv_u64(pk, "epoch", p.epoch);
    if (p.pinned) {
        mp_pack_kv_u64(pk, "pinned", p.pinned);
    } else {
        mp_pack_kv_nil(pk, "pinned");
    }
    /* The lease is known only on the owner's own member (its own monotonic clock). */
    if (mine) {
        int64_t left = engine_lease_ms_left(ctx->engine);
        mp_pack_kv_bool(pk, "lease_valid", engine_lease_valid(ctx->engine));
        mp_pack_kv_i64(pk, "lease_ms_left", left > 0 ? left : 0);
        /* acting: the engine may act for the project now (lease valid, no hand-over grace) */
        mp_pack_kv_bool(pk, "acting", engine_acts_for(ctx->engine, p.name, strlen(p.name)));
        mp_pack_kv_i64(pk, "grace_ms_left", engine_grace_ms_left(ctx->engine, p.name, strlen(p.name)));
    } else {
        mp_pack_kv_nil(pk, "lease_valid");
        mp_pack_kv_nil(pk, "lease_ms_left");
        mp_pack_kv_nil(pk, "acting");
        mp_pack_kv_nil(pk, "grace_ms_left");
    }
    free(p.name);
    return 0;
}

static void project_show_reply(const struct api_ctx *ctx, struct api_conn *conn, uint64_t id, const char *name,
                               size_t len)
{
    struct api_reply r;
    const char *code = PROTO_CODE_FAILED;
    char err[512];

    api_reply_begin(&r, ctx, id, 0, PROTO_CODE_OK, NULL);
    if (handlers_pack_project_show(ctx, name, len, &r.pk, &code, err, sizeof err) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(conn, id, PROTO_REFUSED, code, "%s", err);
        return;
    }
    api_reply_send(conn, &r);
}

/* With "consistent": true the answer comes from the leader only, after a raft barrier, as for
 * project.list; followers redirect. */
struct show_wait {
    struct api_read_wait r;
    size_t len;
    char name[];
};

static void project_show_read(struct api_read_wait *r)
{
    struct show_wait *w = (struct show_wait *)r;
    project_show_reply(r->p.ctx, r->p.conn, r->p.id, w->name, w->len);
}

void handle_project_show(struct api_req *req)
{
    const char *name;
    size_t len;
    bool consistent;
    struct show_wait *w;

    if (mp_get_str(req->args, "name", &name, &len) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "project.show needs \"name\"");
        return;
    }
    if (api_want_consistent(req, &consistent) != 0) {
        return;
    }
    if (!consistent) {
        if (handlers_read_gate(req)) {
            project_show_reply(req->ctx, req->conn, req->id, name, len);
        }
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    w = (struct show_wait *)api_read_wait_new(req, sizeof *w + len + 1, project_show_read);
    if (w == NULL) {
        return;
    }
    memcpy(w->name, name, len);
    w->len = len;
    api_read_wait_start(req, &w->r);
}

/* ---- project.move / project.pin ---- */

/* On the leader, the project NAME/LEN into *P (P->name malloc'd), checking that ENGINE can
 * receive it unless ENGINE is 0 and !ALWAYS (an unpin). 0, or -1 after replying (a redirect,
 * not_found, or invalid naming VERB). Called after the arguments were validated. */
static int project_target(struct api_req *req, const char *name, size_t len, uint64_t engine, bool always,
                          const char *verb, struct store_project_row *p)
{
    char why[400];

    if (!handlers_require_leader(req)) {
        return -1;
    }
    if (store_project_get(req->ctx->store, name, len, p) != 1) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND, "no project named '%.*s'",
                        (int)(len > 80 ? 80 : len), name);
        return -1;
    }
    if ((engine != 0 || always) && ineligible_reason(req->ctx->store, engine, why, sizeof why) != NULL) {
        free(p->name);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "cannot %s '%.*s' to engine %llu: %s",
                        verb, (int)(len > 80 ? 80 : len), name, (unsigned long long)engine, why);
        return -1;
    }
    return 0;
}

static void submit_packed(struct api_req *req, msgpack_sbuffer *sb, const char *name)
{
    api_submit(req, sb, name);
    msgpack_sbuffer_destroy(sb);
}

void handle_project_move(struct api_req *req)
{
    const char *name;
    size_t len;
    uint64_t to;
    struct store_project_row p;
    char namebuf[STORE_NAME_MAX + 1];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (mp_get_str(req->args, "name", &name, &len) != 0 || len > STORE_NAME_MAX ||
        mp_get_u64(req->args, "engine", &to) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "project.move needs \"name\" and \"engine\"");
        return;
    }
    if (project_target(req, name, len, to, true, "move", &p) != 0) {
        return;
    }
    snprintf(namebuf, sizeof namebuf, "%s", p.name);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_assign_by(&pk, p.name, strlen(p.name), p.owner, to, "move", (uint64_t)time(NULL) * 1000,
                           req->conn->who);
    free(p.name);
    submit_packed(req, &sb, namebuf);
}

void handle_project_pin(struct api_req *req)
{
    const char *name;
    size_t len;
    uint64_t engine = 0;
    struct store_project_row p;
    char namebuf[STORE_NAME_MAX + 1];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (mp_get_str(req->args, "name", &name, &len) != 0 || len > STORE_NAME_MAX ||
        mp_get_u64(req->args, "engine", &engine) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "project.pin needs \"name\" and \"engine\" (0 or absent = unpin)");
        return;
    }
    if (project_target(req, name, len, engine, false, "pin", &p) != 0) {
        return;
    }
    snprintf(namebuf, sizeof namebuf, "%s", p.name);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_pin(&pk, p.name, strlen(p.name), engine);
    if (engine == 0 || p.owner == engine) {
        submit_packed(req, &sb, namebuf);
    } else {
        /* Pinning moves the project there now: pin, then the move, in the same loop
         * iteration and hence the same log entry. The reply follows the move. */
        if (sb.data == NULL || proposals_submit_client(req->ctx->proposals, sb.data, sb.size, NULL, NULL) != 0) {
            msgpack_sbuffer_destroy(&sb);
            free(p.name);
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
            return;
        }
        msgpack_sbuffer_clear(&sb);
        command_pack_assign_by(&pk, p.name, strlen(p.name), p.owner, engine, "move", (uint64_t)time(NULL) * 1000,
                               req->conn->who);
        submit_packed(req, &sb, namebuf);
    }
    free(p.name);
}
