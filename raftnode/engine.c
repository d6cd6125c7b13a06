/* engine: heartbeats from this member's engine to the leader, and its lease (engine.h).
 *
 * Heartbeat states: not sent -> in flight (send time recorded) -> acknowledged -> (once this
 * member applied the acknowledging state: ack gate) lease extended to send time + timeout -
 * margin | failed (lease left to run down). When this
 * member is the leader the heartbeat goes straight to the scheduler, through the same
 * commit-before-acknowledge path. */
#include "engine.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/client.h"
#include "../common/mp.h"
#include "../common/proto.h"
#include "common/log.h"
#include "node.h"
#include "scheduler.h"

#define ENGINE_MAX_INFLIGHT 4
#define ENGINE_LEASE_CHECK_MS 20
/* The heartbeat timer ticks this often; a heartbeat goes out every interval, and sooner
 * again when the last one could not be sent or was not acknowledged (no leader known yet,
 * a leader change, a lost connection): with Kylin's 30 s interval, waiting for the next
 * interval would leave the engine unregistered or its lease unrenewed for 30 s. */
#define ENGINE_TICK_MS 100

struct hb_call {
    struct engine *engine;
    uint64_t send_ns;
};

static uint64_t timeout_ns(const struct engine *e)
{
    return (uint64_t)e->node->cfg->heartbeat_timeout_s * 1000000000ull;
}

static uint64_t margin_ns(const struct engine *e)
{
    uint64_t m = timeout_ns(e) / 10;
    return m < 50000000ull ? 50000000ull : m;
}

int64_t engine_lease_ms_left(struct engine *e)
{
    if (e->lease.deadline == 0) {
        return 0;
    }
    return ((int64_t)e->lease.deadline - (int64_t)uv_hrtime()) / 1000000;
}

bool engine_lease_valid(struct engine *e)
{
    return lease_valid(&e->lease, uv_hrtime());
}

static uint64_t owned_projects(struct engine *e)
{
    struct store_engine row;
    if (store_engine_get(&e->node->store, e->node->cfg->node_id, &row) != 1) {
        return 0;
    }
    return row.projects;
}

/* Logs lease transitions; called on every ack and from the lease timer. */
static void lease_check(struct engine *e)
{
    bool valid = engine_lease_valid(e);
    if (valid == e->lease_held) {
        return;
    }
    e->lease_held = valid;
    if (valid) {
        log_info("engine %llu: lease held (valid for %lld ms); acting as owner of its %llu project(s)",
                 (unsigned long long)e->node->cfg->node_id, (long long)engine_lease_ms_left(e),
                 (unsigned long long)owned_projects(e));
    } else {
        log_warn("engine %llu: LEASE EXPIRED (no heartbeat acknowledged within the timeout); it stops "
                 "acting as owner of its %llu project(s) until a heartbeat is acknowledged again",
                 (unsigned long long)e->node->cfg->node_id, (unsigned long long)owned_projects(e));
    }
}

/* Ack gate: acknowledgements whose state this member has now applied extend the lease. */
static void release_pending(struct engine *e)
{
    if (e->lease.n_pending > 0 && lease_applied(&e->lease, node_applied_index(e->node)) > 0) {
        lease_check(e);
    }
}

/* INDEX: the leader's applied index when it acknowledged (it covers the entry that recorded
 * this heartbeat). */
static void hb_done(struct engine *e, uint64_t send_ns, uint64_t index, int status, const char *code,
                    const char *message)
{
    e->inflight--;
    if (status == 0) {
        uint64_t deadline = send_ns + timeout_ns(e) - margin_ns(e);
        e->acked++;
        e->refused[0] = '\0';
        if (lease_ack(&e->lease, index, deadline, node_applied_index(e->node))) {
            lease_check(e);
        }
        return;
    }
    if (status != PROTO_REFUSED) {
        e->next_send_ms = 0; /* not acknowledged: try again at the next tick */
    }
    if (status == PROTO_REFUSED) {
        if (strcmp(e->refused, message) != 0) {
            log_error("engine %llu: the cluster refused this engine: %s (%s); fix this member's "
                      "configuration and restart it", (unsigned long long)e->node->cfg->node_id, message, code);
        }
        snprintf(e->refused, sizeof e->refused, "%s", message);
    } else {
        log_debug("engine heartbeat not acknowledged: %s", message);
    }
}

static void local_hb_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct hb_call *c = data;
    if (c->engine->started) {
        hb_done(c->engine, c->send_ns, index, status, code, message);
    }
    free(c);
}

static void remote_hb_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct hb_call *c = data;
    (void)conn;
    if (c->engine->started) {
        hb_done(c->engine, c->send_ns, r->applied_index, r->status, r->code, r->error);
    }
    free(c);
}

int engine_pack_heartbeat(struct engine *e, struct msgpack_packer *pk)
{
    const struct config *cfg = e->node->cfg;
    int rc = msgpack_pack_map(pk, 5);
    rc = rc ? rc : mp_pack_kv_u64(pk, "id", cfg->node_id);
    rc = rc ? rc : mp_pack_kv_str(pk, "mode", config_mode_name(cfg->server_mode));
    rc = rc ? rc : mp_pack_kv_u64(pk, "weight", cfg->engine_weight);
    rc = rc ? rc : mp_pack_kv_str(pk, "identity", e->identity);
    rc = rc ? rc : mp_pack_kv_bool(pk, "race_enabled", cfg->leader_race_enabled);
    return rc;
}

static int pack_hb_args(msgpack_packer *pk, void *arg)
{
    return engine_pack_heartbeat(arg, pk);
}

static void conn_closed(struct client_conn *conn)
{
    free(conn);
}

static void drop_conn(struct engine *e)
{
    if (e->conn != NULL) {
        client_conn_close(e->conn, conn_closed);
        e->conn = NULL;
    }
}

/* This member's own engine's heartbeat, when this member leads: straight to its scheduler. */
static int heartbeat_local(struct node *n, proposal_done_cb cb, void *data)
{
    const struct config *c = n->cfg;
    struct sched_hb hb;
    memset(&hb, 0, sizeof hb);
    hb.id = c->node_id;
    snprintf(hb.mode, sizeof hb.mode, "%s", config_mode_name(c->server_mode));
    hb.weight = c->engine_weight;
    snprintf(hb.identity, sizeof hb.identity, "%s", n->engine.identity);
    hb.race_enabled = c->leader_race_enabled;
    return scheduler_heartbeat(&n->scheduler, &hb, cb, data);
}

/* Sends one heartbeat to the leader. Returns true when it went out. */
static bool send_heartbeat(struct engine *e)
{
    struct node *n = e->node;
    char leader_api[CONFIG_ADDR_MAX];
    raft_id leader;
    struct hb_call *c;

    if (n->phase != NODE_RUNNING || e->inflight >= ENGINE_MAX_INFLIGHT) {
        return false;
    }
    if (!kylin_link_engine_ok(&n->kylin)) {
        return false; /* its Kylin is not healthy (raft.kylin.url): the engine is not alive */
    }
    leader = node_leader(n, leader_api, sizeof leader_api);
    if (leader == 0) {
        drop_conn(e);
        return false;
    }
    if (leader != n->cfg->node_id && leader_api[0] == '\0') {
        return false; /* the leader's API address is not known here yet */
    }
    c = malloc(sizeof *c);
    if (c == NULL) {
        return false;
    }
    c->engine = e;
    c->send_ns = uv_hrtime();
    e->sent++;
    e->inflight++;
    if (leader == n->cfg->node_id) {
        drop_conn(e);
        if (heartbeat_local(n, local_hb_done, c) != 0) {
            e->inflight--;
            free(c);
            return false;
        }
        return true;
    }
    if (e->conn != NULL && (strcmp(e->conn->endpoint, leader_api) != 0 || e->conn->state == CLIENT_CONN_FAILED)) {
        drop_conn(e);
    }
    if (e->conn == NULL) {
        e->conn = calloc(1, sizeof *e->conn);
        if (e->conn == NULL || client_conn_init(e->conn, n->loop, leader_api) != 0) {
            free(e->conn);
            e->conn = NULL;
            e->inflight--;
            free(c);
            return false;
        }
        if (client_conn_connect(e->conn) != 0) {
            drop_conn(e);
            e->inflight--;
            free(c);
            return false;
        }
    }
    if (client_conn_call(e->conn, "engine.heartbeat", pack_hb_args, e, remote_hb_reply, c) != 0) {
        e->inflight--;
        free(c);
        drop_conn(e);
        return false;
    }
    return true;
}

static void heartbeat_cb(uv_timer_t *t)
{
    struct engine *e = t->data;
    uint64_t now = uv_now(e->node->loop);
    if (now < e->next_send_ms) {
        return;
    }
    if (send_heartbeat(e)) {
        e->next_send_ms = now + (uint64_t)e->node->cfg->heartbeat_interval_s * 1000;
    }
}

static void lease_timer_cb(uv_timer_t *t)
{
    struct engine *e = t->data;
    release_pending(e);
    lease_check(e);
}

/* ---- hand-over grace ---- */

void engine_handover(struct engine *e, const char *project, size_t len)
{
    uint64_t now = uv_hrtime();
    if (!e->started) {
        return; /* replay before the engine starts: its start grace covers every project */
    }
    if (lease_handover(&e->lease, project, len, now + timeout_ns(e), now) != 0) {
        log_warn("engine: out of memory recording the hand-over of a project; this engine acts "
                 "for none of its projects for the next %u s", e->node->cfg->heartbeat_timeout_s);
    }
}

void engine_grace_all(struct engine *e)
{
    if (!e->started) {
        return;
    }
    lease_grace_all(&e->lease, uv_hrtime() + timeout_ns(e));
}

int64_t engine_grace_ms_left(struct engine *e, const char *project, size_t len)
{
    uint64_t now = uv_hrtime(), until = lease_grace_until(&e->lease, project, len, now);
    return until > now ? (int64_t)((until - now + 999999) / 1000000) : 0;
}

bool engine_acts_for(struct engine *e, const char *project, size_t len)
{
    return engine_lease_valid(e) && engine_grace_ms_left(e, project, len) == 0;
}

int engine_start(struct engine *e, struct node *n)
{
    struct timespec ts;

    memset(e, 0, sizeof *e);
    lease_init(&e->lease);
    e->node = n;
    /* Kylin's owner string: host:port|startMillis (wall clock, for display and identity only;
     * it is never compared across machines). */
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(e->identity, sizeof e->identity, "%s|%lld", n->cfg->identity,
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (uv_timer_init(n->loop, &e->timer) != 0 || uv_timer_init(n->loop, &e->lease_timer) != 0) {
        return -1;
    }
    e->timer.data = e;
    e->lease_timer.data = e;
    e->started = true;
    /* This member may have applied a hand-over before it restarted: its projects wait. */
    engine_grace_all(e);
    uv_timer_start(&e->timer, heartbeat_cb, ENGINE_TICK_MS, ENGINE_TICK_MS);
    uv_timer_start(&e->lease_timer, lease_timer_cb, ENGINE_LEASE_CHECK_MS, ENGINE_LEASE_CHECK_MS);
    log_info("engine %llu (%s, mode %s, weight %u): heartbeat every %u s, timeout %u s",
             (unsigned long long)n->cfg->node_id, e->identity, config_mode_name(n->cfg->server_mode),
             n->cfg->engine_weight, n->cfg->heartbeat_interval_s, n->cfg->heartbeat_timeout_s);
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    (void)h;
}

void engine_close(struct engine *e)
{
    if (!e->started) {
        return;
    }
    e->started = false;
    uv_close((uv_handle_t *)&e->timer, timer_closed);
    uv_close((uv_handle_t *)&e->lease_timer, timer_closed);
    drop_conn(e);
    lease_free(&e->lease);
}
