/* handlers_ownership: API methods for engines and project ownership (docs/protocol.md):
 * engine.heartbeat, engine.list, project.show, project.move, project.pin, rebalance,
 * engine.drain, maintenance, history. Writes go through the log; plans are computed by the
 * leader's scheduler and carried as explicit compare-and-set moves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/mp.h"
#include "../common/proto.h"
#include "../storage/command.h"
#include "handlers.h"
#include "common/log.h"
#include "node.h"

#define KYLIN_RECOVERING "KE-010021002"
#define KYLIN_RECOVERING_TEXT "System is trying to recover service. Please try again later."
#define KYLIN_NO_LEADER "KE-010021004"
#define KYLIN_NO_LEADER_TEXT "There is no active leader node. Please contact system admin to check and fix."

static struct node *req_node(struct api_req *req)
{
    return req->conn->api->node;
}

static bool mode_can_own(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

/* Why engine ID cannot receive projects, or NULL when it can. */
static const char *ineligible_reason(struct node *n, uint64_t id, char *buf, size_t cap)
{
    struct store_engine e;
    int rc = store_engine_get(&n->store, id, &e);
    if (rc < 0) {
        snprintf(buf, cap, "cannot read engine %llu: %s", (unsigned long long)id, n->store.errmsg);
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

/* ---- heartbeats ---- */

static void handle_engine_heartbeat(struct api_req *req)
{
    struct node *n = req_node(req);
    struct sched_hb hb;
    const char *mode;
    size_t mode_len;
    uint64_t weight;
    struct write_wait *w;

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
    w = write_wait_new(req, NULL);
    if (w == NULL || scheduler_heartbeat(&n->scheduler, &hb, write_wait_done, w) != 0) {
        if (w != NULL) {
            api_conn_unref(w->conn);
            free(w);
        }
        api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, "heartbeat not recorded; retry");
    }
}

/* ---- reads ---- */

static void handle_engine_list(struct api_req *req)
{
    struct node *n = req_node(req);
    struct store_engine *engines = NULL;
    size_t ne = 0;
    struct api_reply r;

    if (store_load_engines(&n->store, &engines, &ne) != 0) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "engine list: %s", n->store.errmsg);
        return;
    }
    api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_array(&r.pk, ne);
    for (size_t i = 0; i < ne; i++) {
        const struct store_engine *e = &engines[i];
        int64_t silence = scheduler_silence_ms(&n->scheduler, e->id);
        msgpack_pack_map(&r.pk, 11);
        mp_pack_kv_u64(&r.pk, "id", e->id);
        mp_pack_kv_str(&r.pk, "mode", e->mode);
        mp_pack_kv_bool(&r.pk, "alive", e->alive);
        mp_pack_kv_bool(&r.pk, "draining", e->draining);
        mp_pack_kv_u64(&r.pk, "projects", e->projects);
        mp_pack_kv_u64(&r.pk, "weight", e->weight);
        mp_pack_kv_str(&r.pk, "identity", e->identity);
        mp_pack_kv_bool(&r.pk, "race_enabled", e->race_enabled);
        mp_pack_kv_u64(&r.pk, "heartbeats", e->heartbeats);
        mp_pack_kv_u64(&r.pk, "last_heartbeat_index", e->last_heartbeat_index);
        /* Only the leader measures silence (its own monotonic clock). */
        if (silence >= 0) {
            mp_pack_kv_i64(&r.pk, "last_heartbeat_ms_ago", silence);
        } else {
            mp_pack_kv_nil(&r.pk, "last_heartbeat_ms_ago");
        }
    }
    api_reply_send(req->conn, &r);
    free(engines);
}

/* project.show's answer from this member's state (the lease fields only on the owner's own
 * member). */
static void project_show_reply(struct node *n, struct api_conn *conn, uint64_t id, const char *name, size_t len)
{
    struct store_project_row p;
    struct store_engine owner, *engines = NULL;
    size_t ne = 0;
    bool any_alive = false, owner_known = false;
    struct api_reply r;
    int rc;

    rc = store_project_get(&n->store, name, len, &p);
    if (rc <= 0) {
        api_reply_error(conn, id, PROTO_REFUSED, rc < 0 ? PROTO_CODE_FAILED : PROTO_CODE_NOT_FOUND,
                        rc < 0 ? "project show: %.*s" : "no project named '%.*s' (see raftctl project list)",
                        rc < 0 ? (int)strlen(n->store.errmsg) : (int)(len > 80 ? 80 : len),
                        rc < 0 ? n->store.errmsg : name);
        return;
    }
    if (store_load_engines(&n->store, &engines, &ne) != 0) {
        free(p.name);
        api_reply_error(conn, id, PROTO_REFUSED, PROTO_CODE_FAILED, "project show: %s", n->store.errmsg);
        return;
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
        api_reply_error(conn, id, PROTO_REFUSED, KYLIN_NO_LEADER, "%s %s", KYLIN_NO_LEADER, KYLIN_NO_LEADER_TEXT);
        free(p.name);
        return;
    }
    if (p.owner == 0 || !owner_known || !owner.alive) {
        api_reply_error(conn, id, PROTO_REFUSED, KYLIN_RECOVERING, "%s %s", KYLIN_RECOVERING,
                        KYLIN_RECOVERING_TEXT);
        free(p.name);
        return;
    }
    api_reply_begin(&r, n, id, 0, PROTO_CODE_OK, NULL);
    bool mine = p.owner == n->cfg->node_id;
    msgpack_pack_map(&r.pk, 9);
    mp_pack_kv_str(&r.pk, "name", p.name);
    mp_pack_kv_u64(&r.pk, "owner", p.owner);
    mp_pack_kv_str(&r.pk, "owner_identity", owner.identity);
    mp_pack_kv_u64(&r.pk, "epoch", p.epoch);
    if (p.pinned) {
        mp_pack_kv_u64(&r.pk, "pinned", p.pinned);
    } else {
        mp_pack_kv_nil(&r.pk, "pinned");
    }
    /* The lease is known only on the owner's own member (its own monotonic clock). */
    if (mine) {
        int64_t left = engine_lease_ms_left(&n->engine);
        mp_pack_kv_bool(&r.pk, "lease_valid", engine_lease_valid(&n->engine));
        mp_pack_kv_i64(&r.pk, "lease_ms_left", left > 0 ? left : 0);
        /* acting: the engine may act for the project now (lease valid, no hand-over grace) */
        mp_pack_kv_bool(&r.pk, "acting", engine_acts_for(&n->engine, p.name, strlen(p.name)));
        mp_pack_kv_i64(&r.pk, "grace_ms_left", engine_grace_ms_left(&n->engine, p.name, strlen(p.name)));
    } else {
        mp_pack_kv_nil(&r.pk, "lease_valid");
        mp_pack_kv_nil(&r.pk, "lease_ms_left");
        mp_pack_kv_nil(&r.pk, "acting");
        mp_pack_kv_nil(&r.pk, "grace_ms_left");
    }
    api_reply_send(conn, &r);
    free(p.name);
}

/* With "consistent": true the answer comes from the leader only, after a raft barrier (every
 * entry committed before the request is applied here), as for project.list; followers
 * redirect. */
struct show_wait {
    struct raft_barrier req;
    struct api_conn *conn;
    uint64_t id;
    size_t len;
    char name[];
};

static void show_barrier_cb(struct raft_barrier *b, int status)
{
    struct show_wait *w = b->data;
    if (!w->conn->closing) {
        if (status != 0) {
            api_reply_error(w->conn, w->id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST,
                            "consistent read failed: %s; retry", raft_strerror(status));
        } else {
            project_show_reply(w->conn->api->node, w->conn, w->id, w->name, w->len);
        }
    }
    api_conn_unref(w->conn);
    free(w);
}

static void handle_project_show(struct api_req *req)
{
    struct node *n = req_node(req);
    const char *name;
    size_t len;
    bool consistent = false;
    struct show_wait *w;
    int rv;

    if (mp_get_str(req->args, "name", &name, &len) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "project.show needs \"name\"");
        return;
    }
    if (mp_get_bool(req->args, "consistent", &consistent) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"consistent\" must be a bool");
        return;
    }
    if (!consistent) {
        project_show_reply(n, req->conn, req->id, name, len);
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    w = calloc(1, sizeof *w + len + 1);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return;
    }
    memcpy(w->name, name, len);
    w->len = len;
    w->req.data = w;
    w->conn = req->conn;
    w->id = req->id;
    api_conn_ref(w->conn);
    rv = raft_barrier(&n->raft, &w->req, show_barrier_cb);
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

static void handle_history(struct api_req *req)
{
    struct node *n = req_node(req);
    const char *project = NULL;
    size_t len = 0;
    uint64_t limit = 20;
    struct api_reply r;

    if (mp_get_str(req->args, "project", &project, &len) == -2 || mp_get_u64(req->args, "limit", &limit) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "history takes \"project\" (str) and \"limit\" (uint)");
        return;
    }
    api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
    if (store_pack_history(&n->store, project, len, limit > 1000000 ? 1000000 : (unsigned)limit, &r.pk) != 0) {
        msgpack_sbuffer_destroy(&r.sbuf);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "history: %s", n->store.errmsg);
        return;
    }
    api_reply_send(req->conn, &r);
}

/* ---- writes ---- */

static void submit_packed(struct api_req *req, msgpack_sbuffer *sb, const char *name)
{
    handlers_submit(req, sb, name);
    msgpack_sbuffer_destroy(sb);
}

static void handle_project_move(struct api_req *req)
{
    struct node *n = req_node(req);
    const char *name;
    size_t len;
    uint64_t to;
    struct store_project_row p;
    char why[400], namebuf[STORE_NAME_MAX + 1];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (mp_get_str(req->args, "name", &name, &len) != 0 || len > STORE_NAME_MAX ||
        mp_get_u64(req->args, "engine", &to) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "project.move needs \"name\" and \"engine\"");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (store_project_get(&n->store, name, len, &p) != 1) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND, "no project named '%.*s'",
                        (int)(len > 80 ? 80 : len), name);
        return;
    }
    if (ineligible_reason(n, to, why, sizeof why) != NULL) {
        free(p.name);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "cannot move '%.*s' to engine %llu: %s",
                        (int)(len > 80 ? 80 : len), name, (unsigned long long)to, why);
        return;
    }
    snprintf(namebuf, sizeof namebuf, "%s", p.name);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_assign(&pk, p.name, strlen(p.name), p.owner, to, "move", (uint64_t)time(NULL) * 1000);
    free(p.name);
    submit_packed(req, &sb, namebuf);
}

static void handle_project_pin(struct api_req *req)
{
    struct node *n = req_node(req);
    const char *name;
    size_t len;
    uint64_t engine = 0;
    struct store_project_row p;
    char why[400], namebuf[STORE_NAME_MAX + 1];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (mp_get_str(req->args, "name", &name, &len) != 0 || len > STORE_NAME_MAX ||
        mp_get_u64(req->args, "engine", &engine) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "project.pin needs \"name\" and \"engine\" (0 or absent = unpin)");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (store_project_get(&n->store, name, len, &p) != 1) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND, "no project named '%.*s'",
                        (int)(len > 80 ? 80 : len), name);
        return;
    }
    if (engine != 0 && ineligible_reason(n, engine, why, sizeof why) != NULL) {
        free(p.name);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID, "cannot pin '%.*s' to engine %llu: %s",
                        (int)(len > 80 ? 80 : len), name, (unsigned long long)engine, why);
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
        if (sb.data == NULL || proposals_submit(&n->proposals, sb.data, sb.size, NULL, NULL) != 0) {
            msgpack_sbuffer_destroy(&sb);
            free(p.name);
            api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
            return;
        }
        msgpack_sbuffer_clear(&sb);
        command_pack_assign(&pk, p.name, strlen(p.name), p.owner, engine, "move", (uint64_t)time(NULL) * 1000);
        submit_packed(req, &sb, namebuf);
    }
    free(p.name);
}

static void handle_engine_drain(struct api_req *req)
{
    struct node *n = req_node(req);
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
    if (store_engine_get(&n->store, id, &e) != 1) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND,
                        "no engine with id %llu (see raftctl engine list)", (unsigned long long)id);
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_drain(&pk, id, on);
    submit_packed(req, &sb, NULL);
}

static void handle_maintenance(struct api_req *req)
{
    bool on;
    char reason[5001] = "";
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    if (mp_get_bool(req->args, "on", &on) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "maintenance needs \"on\" (bool) and, when on, \"reason\"");
        return;
    }
    rc = mp_get_cstr(req->args, "reason", reason, sizeof reason);
    if ((rc != 0 && rc != -1) || (on && reason[0] == '\0')) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "maintenance on needs a non-empty --reason of at most 5000 bytes");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    command_pack_maintenance(&pk, on, reason);
    submit_packed(req, &sb, NULL);
}

/* rebalance: the plan is shown (dry run) or applied as one log entry. */
struct rebalance_wait {
    struct api_conn *conn;
    uint64_t id;
    struct sched_plan plan;
    size_t pending, failed;
    char first_error[256];
};

static void pack_moves(msgpack_packer *pk, const struct sched_plan *plan)
{
    msgpack_pack_array(pk, plan->n);
    for (size_t i = 0; i < plan->n; i++) {
        msgpack_pack_map(pk, 4);
        mp_pack_kv_str(pk, "project", plan->moves[i].project);
        mp_pack_kv_u64(pk, "from", plan->moves[i].from);
        mp_pack_kv_u64(pk, "to", plan->moves[i].to);
        mp_pack_kv_str(pk, "reason", plan->moves[i].reason);
    }
}

static void rebalance_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct rebalance_wait *w = data;
    struct api_reply r;
    (void)index;
    (void)code;
    if (status != 0 && w->failed++ == 0) {
        snprintf(w->first_error, sizeof w->first_error, "%s", message);
    }
    if (--w->pending > 0) {
        return;
    }
    if (!w->conn->closing) {
        if (w->failed > 0) {
            api_reply_error(w->conn, w->id, PROTO_REFUSED, PROTO_CODE_FAILED,
                            "%zu of %zu moves were refused (first: %s); check raftctl project list and retry",
                            w->failed, w->plan.n, w->first_error);
        } else {
            api_reply_begin(&r, w->conn->api->node, w->id, 0, PROTO_CODE_OK, NULL);
            msgpack_pack_map(&r.pk, 3);
            mp_pack_cstr(&r.pk, "moves");
            pack_moves(&r.pk, &w->plan);
            mp_pack_kv_bool(&r.pk, "applied", true);
            mp_pack_kv_u64(&r.pk, "lower_bound", w->plan.lower_bound);
            api_reply_send(w->conn, &r);
        }
    }
    api_conn_unref(w->conn);
    sched_plan_free(&w->plan);
    free(w);
}

static void handle_rebalance(struct api_req *req)
{
    struct node *n = req_node(req);
    bool dry_run = false, maintenance = false;
    char reason[8];
    struct rebalance_wait *w;
    struct api_reply r;

    if (mp_get_bool(req->args, "dry_run", &dry_run) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"dry_run\" must be a bool");
        return;
    }
    if (!handlers_require_leader(req)) {
        return;
    }
    if (store_maintenance(&n->store, &maintenance, reason, sizeof reason) == 0 && maintenance && !dry_run) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "maintenance mode is on: ownership is frozen (raftctl maintenance off first)");
        return;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL || scheduler_plan(&n->scheduler, true, &w->plan) != 0) {
        free(w);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "rebalance: cannot compute a plan");
        return;
    }
    if (dry_run || w->plan.n == 0) {
        api_reply_begin(&r, n, req->id, 0, PROTO_CODE_OK, NULL);
        msgpack_pack_map(&r.pk, 3);
        mp_pack_cstr(&r.pk, "moves");
        pack_moves(&r.pk, &w->plan);
        mp_pack_kv_bool(&r.pk, "applied", !dry_run);
        mp_pack_kv_u64(&r.pk, "lower_bound", w->plan.lower_bound);
        api_reply_send(req->conn, &r);
        sched_plan_free(&w->plan);
        free(w);
        return;
    }
    w->conn = req->conn;
    w->id = req->id;
    api_conn_ref(w->conn);
    w->pending = w->plan.n + 1; /* +1 until every move is submitted */
    size_t k = scheduler_submit_moves(&n->scheduler, &w->plan, rebalance_done, w);
    w->failed += w->plan.n - k;
    if (w->failed > 0) {
        snprintf(w->first_error, sizeof w->first_error, "out of memory submitting moves");
    }
    w->pending -= w->plan.n - k;
    log_info("rebalance: %zu move(s) submitted as one log entry", k);
    rebalance_done(w, 0, 0, PROTO_CODE_OK, "");
}

const struct handler_method handlers_ownership[] = {
    {"engine.heartbeat", handle_engine_heartbeat},
    {"engine.list", handle_engine_list},
    {"engine.drain", handle_engine_drain},
    {"project.show", handle_project_show},
    {"project.move", handle_project_move},
    {"project.pin", handle_project_pin},
    {"rebalance", handle_rebalance},
    {"maintenance", handle_maintenance},
    {"history", handle_history},
    {NULL, NULL},
};
