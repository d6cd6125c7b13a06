/* scheduler: leader-side liveness, heartbeat batching and placement (see scheduler.h).
 *
 * Liveness state machine of one engine, as the leader sees it:
 *   alive --(silence > timeout on the leader's clock)--> engine_dead + moves proposed
 *         --(applied)--> dead --(a heartbeat batch containing it applies)--> alive
 * A new leader sets every engine's last-heard time to its election time, so nobody is
 * declared dead before a full timeout of this leader's own observation (DESIGN.md). */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/proto.h"
#include "../storage/command.h"
#include "log.h"
#include "node.h"
#include "planner.h"

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sched_seen *seen_get(struct scheduler *s, uint64_t id, bool create)
{
    for (size_t i = 0; i < s->n_seen; i++) {
        if (s->seen[i].id == id) {
            return &s->seen[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (s->n_seen == s->cap_seen) {
        size_t cap = s->cap_seen ? s->cap_seen * 2 : 16;
        struct sched_seen *p = realloc(s->seen, cap * sizeof *p);
        if (p == NULL) {
            return NULL;
        }
        s->seen = p;
        s->cap_seen = cap;
    }
    struct sched_seen *e = &s->seen[s->n_seen++];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->last_heard_ms = uv_now(s->node->loop);
    return e;
}

int scheduler_init(struct scheduler *s, struct node *n)
{
    memset(s, 0, sizeof *s);
    s->node = n;
    return 0;
}

static void fail_waiters(struct scheduler *s, int status, const char *code, const char *message)
{
    struct sched_waiter *w = s->waiters;
    size_t n = s->n_waiters;
    s->waiters = NULL;
    s->n_waiters = s->cap_waiters = 0;
    for (size_t i = 0; i < n; i++) {
        w[i].cb(w[i].data, 0, status, code, message);
    }
    free(w);
}

void scheduler_close(struct scheduler *s)
{
    fail_waiters(s, PROTO_UNAVAILABLE, PROTO_CODE_SHUTTING_DOWN, "leader is shutting down");
    free(s->seen);
    free(s->hb_ids);
    memset(s, 0, sizeof *s);
}

int64_t scheduler_silence_ms(struct scheduler *s, uint64_t id)
{
    struct sched_seen *e;
    if (!s->leading || (e = seen_get(s, id, false)) == NULL) {
        return -1;
    }
    return (int64_t)(uv_now(s->node->loop) - e->last_heard_ms);
}

/* ---- heartbeats ---- */

struct set_wait {
    struct scheduler *s;
    uint64_t id;
};

static void engine_set_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct set_wait *w = data;
    struct sched_seen *e = w->s->node != NULL ? seen_get(w->s, w->id, false) : NULL;
    (void)index;
    (void)code;
    if (e != NULL) {
        e->set_pending = false;
        snprintf(e->refused, sizeof e->refused, "%s", status == PROTO_REFUSED ? message : "");
    }
    free(w);
}

static bool engine_matches(const struct store_engine *row, const struct sched_hb *hb)
{
    return strcmp(row->mode, hb->mode) == 0 && row->weight == hb->weight &&
           strcmp(row->identity, hb->identity) == 0 && row->race_enabled == hb->race_enabled;
}

static int submit_engine_set(struct scheduler *s, const struct sched_hb *hb)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct set_wait *w = malloc(sizeof *w);
    int rc = -1;

    if (w == NULL) {
        return -1;
    }
    w->s = s;
    w->id = hb->id;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (command_pack_engine_set(&pk, hb->id, hb->mode, hb->weight, hb->identity, hb->race_enabled) == 0 &&
        sb.data != NULL) {
        rc = proposals_submit(&s->node->proposals, sb.data, sb.size, engine_set_done, w);
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        free(w);
    }
    return rc;
}

int scheduler_heartbeat(struct scheduler *s, const struct sched_hb *hb, proposal_done_cb cb, void *data)
{
    struct sched_seen *e;
    struct store_engine row;
    int found;

    if (!s->leading || s->node->phase != NODE_RUNNING) {
        return -1;
    }
    e = seen_get(s, hb->id, true);
    if (e == NULL) {
        return -1;
    }
    e->last_heard_ms = uv_now(s->node->loop);
    found = store_engine_get(&s->node->store, hb->id, &row);
    if (found < 0) {
        return -1;
    }
    if ((found == 0 || !engine_matches(&row, hb)) && !e->set_pending) {
        if (submit_engine_set(s, hb) == 0) {
            e->set_pending = true;
        }
    }
    if (s->n_hb == s->cap_hb) {
        size_t cap = s->cap_hb ? s->cap_hb * 2 : 16;
        uint64_t *p = realloc(s->hb_ids, cap * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        s->hb_ids = p;
        s->cap_hb = cap;
    }
    if (s->n_waiters == s->cap_waiters) {
        size_t cap = s->cap_waiters ? s->cap_waiters * 2 : 16;
        struct sched_waiter *p = realloc(s->waiters, cap * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        s->waiters = p;
        s->cap_waiters = cap;
    }
    bool listed = false;
    for (size_t i = 0; i < s->n_hb && !listed; i++) {
        listed = s->hb_ids[i] == hb->id;
    }
    if (!listed) {
        s->hb_ids[s->n_hb++] = hb->id;
    }
    s->waiters[s->n_waiters++] = (struct sched_waiter){.cb = cb, .data = data, .engine_id = hb->id};
    return 0;
}

int scheduler_heartbeat_local(struct scheduler *s, proposal_done_cb cb, void *data)
{
    const struct config *c = s->node->cfg;
    struct sched_hb hb;
    memset(&hb, 0, sizeof hb);
    hb.id = c->node_id;
    snprintf(hb.mode, sizeof hb.mode, "%s", config_mode_name(c->server_mode));
    hb.weight = c->engine_weight;
    snprintf(hb.identity, sizeof hb.identity, "%s", s->node->engine.identity);
    hb.race_enabled = c->leader_race_enabled;
    return scheduler_heartbeat(s, &hb, cb, data);
}

/* The waiters of one flushed batch. */
struct hb_batch {
    struct scheduler *s;
    struct sched_waiter *waiters;
    size_t n;
};

static void hb_batch_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct hb_batch *b = data;
    for (size_t i = 0; i < b->n; i++) {
        struct sched_waiter *w = &b->waiters[i];
        struct sched_seen *e = status == 0 && b->s->node != NULL ? seen_get(b->s, w->engine_id, false) : NULL;
        if (e != NULL && e->refused[0] != '\0') {
            /* Recorded, but the engine itself is refused: it must not think it owns anything. */
            w->cb(w->data, index, PROTO_REFUSED, PROTO_CODE_INVALID, e->refused);
        } else {
            w->cb(w->data, index, status, code, message);
        }
    }
    free(b->waiters);
    free(b);
}

static void flush_heartbeats(struct scheduler *s)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct hb_batch *b;
    int rc = -1;

    if (s->n_hb == 0) {
        return;
    }
    b = malloc(sizeof *b);
    if (b == NULL) {
        return;
    }
    b->s = s;
    b->waiters = s->waiters;
    b->n = s->n_waiters;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (command_pack_heartbeat(&pk, s->hb_ids, s->n_hb) == 0 && sb.data != NULL) {
        rc = proposals_submit(&s->node->proposals, sb.data, sb.size, hb_batch_done, b);
    }
    msgpack_sbuffer_destroy(&sb);
    s->n_hb = 0;
    s->waiters = NULL;
    s->n_waiters = s->cap_waiters = 0;
    if (rc != 0) {
        hb_batch_done(b, 0, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory recording heartbeats");
    }
}

/* ---- placement ---- */

static bool mode_can_own(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

/* The single-engine-mode engine (kylin.server.leader-race.enabled=false), or 0. */
static uint64_t single_engine(const struct store_engine *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!e[i].race_enabled && mode_can_own(e[i].mode)) {
            return e[i].id;
        }
    }
    return 0;
}

static bool eligible(struct scheduler *s, const struct store_engine *e, uint64_t single)
{
    struct sched_seen *seen = seen_get(s, e->id, false);
    if (single != 0) {
        /* Single-engine mode: that engine owns everything and is never declared dead. */
        return e->id == single && e->alive && !e->draining;
    }
    return mode_can_own(e->mode) && e->alive && !e->draining && !(seen != NULL && seen->dead_pending);
}

static const char *move_reason(const struct store_engine *engines, size_t n, const struct store_project_row *p,
                               uint64_t to)
{
    if (p->owner == 0) {
        return p->epoch == 0 ? "new" : "restore";
    }
    if (p->pinned != 0 && p->pinned == to) {
        return "move";
    }
    for (size_t i = 0; i < n; i++) {
        if (engines[i].id == p->owner) {
            return engines[i].draining ? "drain" : "failover";
        }
    }
    return "failover";
}

void sched_plan_free(struct sched_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->moves[i].project);
    }
    free(p->moves);
    memset(p, 0, sizeof *p);
}

int scheduler_plan(struct scheduler *s, bool rebalance, struct sched_plan *out)
{
    struct store *st = &s->node->store;
    struct store_engine *engines = NULL;
    struct store_project_row *projects = NULL;
    size_t ne = 0, np = 0, nm = 0;
    struct planner_engine *pe = NULL;
    struct planner_project *pp = NULL;
    struct planner_move *moves = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (store_load_engines(st, &engines, &ne) != 0 || store_load_projects(st, &projects, &np) != 0) {
        log_error("scheduler: cannot read the state: %s", st->errmsg);
        goto out;
    }
    uint64_t single = single_engine(engines, ne);
    pe = calloc(ne ? ne : 1, sizeof *pe);
    pp = calloc(np ? np : 1, sizeof *pp);
    if (pe == NULL || pp == NULL) {
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        pe[i].id = engines[i].id;
        pe[i].weight = engines[i].weight;
        pe[i].eligible = eligible(s, &engines[i], single);
    }
    for (size_t i = 0; i < np; i++) {
        pp[i].owner = projects[i].owner;
        pp[i].pinned = projects[i].pinned;
    }
    if (planner_plan(pe, ne, pp, np, rebalance ? PLANNER_REBALANCE : PLANNER_PLACE, &moves, &nm) != 0) {
        goto out;
    }
    if (rebalance) {
        out->lower_bound = planner_rebalance_lower_bound(pe, ne, pp, np);
    }
    out->moves = calloc(nm ? nm : 1, sizeof *out->moves);
    if (out->moves == NULL) {
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        const struct store_project_row *p = &projects[moves[i].project];
        out->moves[i].project = strdup(p->name);
        if (out->moves[i].project == NULL) {
            sched_plan_free(out);
            goto out;
        }
        out->moves[i].from = moves[i].from;
        out->moves[i].to = moves[i].to;
        out->moves[i].reason = rebalance && p->owner != 0 && moves[i].from == p->owner &&
                                       !(p->pinned == moves[i].to)
                                   ? "rebalance"
                                   : move_reason(engines, ne, p, moves[i].to);
        out->n++;
    }
    /* A rebalance also fixes unplaced projects; only genuinely balancing moves say "rebalance". */
    if (rebalance) {
        for (size_t i = 0; i < out->n; i++) {
            const struct store_project_row *p = &projects[moves[i].project];
            bool owner_eligible = false;
            for (size_t j = 0; j < ne; j++) {
                if (pe[j].id == p->owner) {
                    owner_eligible = pe[j].eligible;
                }
            }
            if (!owner_eligible) {
                out->moves[i].reason = move_reason(engines, ne, p, moves[i].to);
            }
        }
    }
    rc = 0;
out:
    free(moves);
    free(pe);
    free(pp);
    free(engines);
    store_free_projects(projects, np);
    return rc;
}

struct move_wait {
    struct scheduler *s;
    proposal_done_cb cb;
    void *data;
    bool own;
};

static void move_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct move_wait *w = data;
    if (w->own && w->s->plan_inflight > 0) {
        w->s->plan_inflight--;
    }
    if (status != 0 && status != PROTO_UNAVAILABLE) {
        log_info("scheduler: move refused at index %llu: %s", (unsigned long long)index, message);
    }
    if (w->cb != NULL) {
        w->cb(w->data, index, status, code, message);
    }
    free(w);
}

size_t scheduler_submit_moves(struct scheduler *s, const struct sched_plan *p, proposal_done_cb cb, void *data)
{
    size_t submitted = 0;
    uint64_t now = wall_ms();
    for (size_t i = 0; i < p->n; i++) {
        const struct sched_move *m = &p->moves[i];
        msgpack_sbuffer sb;
        msgpack_packer pk;
        struct move_wait *w = malloc(sizeof *w);
        int rc = -1;
        if (w == NULL) {
            break;
        }
        *w = (struct move_wait){.s = s, .cb = cb, .data = data, .own = true};
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (command_pack_assign(&pk, m->project, strlen(m->project), m->from, m->to, m->reason, now) == 0 &&
            sb.data != NULL) {
            rc = proposals_submit(&s->node->proposals, sb.data, sb.size, move_done, w);
        }
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            free(w);
            break;
        }
        s->plan_inflight++;
        submitted++;
    }
    return submitted;
}

/* ---- liveness ---- */

static void dead_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct set_wait *w = data;
    struct sched_seen *e = w->s->node != NULL ? seen_get(w->s, w->id, false) : NULL;
    (void)index;
    (void)code;
    if (e != NULL) {
        e->dead_pending = false;
    }
    if (status != 0) {
        log_warn("scheduler: declaring engine %llu dead failed: %s", (unsigned long long)w->id, message);
    }
    free(w);
}

/* Declares dead every engine silent past the timeout. Returns how many. */
static size_t check_liveness(struct scheduler *s, struct store_engine *engines, size_t n)
{
    uint64_t now = uv_now(s->node->loop);
    uint64_t timeout_ms = (uint64_t)s->node->cfg->heartbeat_timeout_s * 1000;
    size_t declared = 0;

    for (size_t i = 0; i < n; i++) {
        struct store_engine *e = &engines[i];
        struct sched_seen *seen;
        if (!e->alive || !e->race_enabled) {
            continue; /* single-engine mode: nothing fails over */
        }
        seen = seen_get(s, e->id, true);
        if (seen == NULL || seen->dead_pending) {
            continue;
        }
        uint64_t last = seen->last_heard_ms > s->leader_since_ms ? seen->last_heard_ms : s->leader_since_ms;
        if (now - last <= timeout_ms) {
            continue;
        }
        msgpack_sbuffer sb;
        msgpack_packer pk;
        struct set_wait *w = malloc(sizeof *w);
        int rc = -1;
        if (w == NULL) {
            continue;
        }
        w->s = s;
        w->id = e->id;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (command_pack_engine_dead(&pk, e->id) == 0 && sb.data != NULL) {
            rc = proposals_submit(&s->node->proposals, sb.data, sb.size, dead_done, w);
        }
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            free(w);
            continue;
        }
        seen->dead_pending = true;
        s->failovers++;
        declared++;
        log_warn("scheduler: engine %llu silent for %llu ms (timeout %llu ms on this leader's clock): "
                 "declaring it dead and moving its %llu project(s)", (unsigned long long)e->id,
                 (unsigned long long)(now - last), (unsigned long long)timeout_ms, (unsigned long long)e->projects);
    }
    return declared;
}

static void become_leader(struct scheduler *s)
{
    uint64_t now = uv_now(s->node->loop);
    s->leading = true;
    s->leader_since_ms = now;
    s->planned_version = UINT64_MAX; /* plan once on the current state */
    s->plan_inflight = 0;
    for (size_t i = 0; i < s->n_seen; i++) {
        s->seen[i].last_heard_ms = now;
        s->seen[i].dead_pending = false;
        s->seen[i].set_pending = false;
    }
    log_info("scheduler: leading; every engine gets a full %u s before it can be declared dead",
             s->node->cfg->heartbeat_timeout_s);
}

static void lose_leadership(struct scheduler *s)
{
    s->leading = false;
    s->n_hb = 0;
    fail_waiters(s, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST, "leadership lost before the heartbeat was recorded");
}

void scheduler_tick(struct scheduler *s)
{
    struct node *n = s->node;
    bool leader = raft_state(&n->raft) == RAFT_LEADER && n->phase == NODE_RUNNING;
    struct store_engine *engines = NULL;
    size_t ne = 0;
    bool maintenance = false;
    char reason[8];

    if (leader && !s->leading) {
        become_leader(s);
    } else if (!leader && s->leading) {
        lose_leadership(s);
    }
    if (!s->leading) {
        return;
    }
    flush_heartbeats(s);
    /* Wait until this leader has applied everything committed before it: its view of the
     * engines must include the previous leader's decisions. */
    if (raft_last_applied(&n->raft) < raft_commit_index(&n->raft) || n->fsm_failed) {
        return;
    }
    if (store_maintenance(&n->store, &maintenance, reason, sizeof reason) != 0 || maintenance) {
        return; /* maintenance mode freezes ownership: no failover, no placement */
    }
    if (store_load_engines(&n->store, &engines, &ne) != 0) {
        return;
    }
    size_t declared = check_liveness(s, engines, ne);
    free(engines);
    if (s->plan_inflight > 0 || (declared == 0 && s->planned_version == n->store.ownership_version)) {
        return;
    }
    struct sched_plan plan;
    if (scheduler_plan(s, false, &plan) != 0) {
        return;
    }
    s->planned_version = n->store.ownership_version;
    if (plan.n > 0) {
        size_t k = scheduler_submit_moves(s, &plan, NULL, NULL);
        log_info("scheduler: placing %zu project(s)%s", k, declared ? " (failover)" : "");
    }
    sched_plan_free(&plan);
}
