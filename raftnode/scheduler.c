/* scheduler: leader-side liveness, heartbeat batching and placement (see scheduler.h).
 *
 * Liveness state machine of one engine, as the leader sees it:
 *   alive --(silence > timeout on the leader's clock)--> engine_dead + moves proposed
 *         --(applied)--> dead --(a heartbeat batch containing it applies)--> alive
 * A new leader sets every engine's last-heard time to its election time, so nobody is
 * declared dead before a full timeout of this leader's own observation (DESIGN.md). */
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/proto.h"
#include "../storage/command.h"
#include "../storage/loads.h"
#include "common/log.h"

static uint64_t now_ms(struct scheduler *s)
{
    return s->host.now_ms(s->host.data);
}

/* The liveness entry of engine ID (scheduler_core.h), created at the host's time. */
static struct sched_seen *seen_get(struct scheduler *s, uint64_t id, bool create)
{
    return sched_core_seen(&s->core, id, create, now_ms(s));
}

int scheduler_init(struct scheduler *s, const struct scheduler_host *host)
{
    memset(s, 0, sizeof *s);
    s->host = *host;
    sched_core_init(&s->core);
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
    sched_core_close(&s->core);
    free(s->hb_ids);
    memset(s, 0, sizeof *s);
}

int64_t scheduler_silence_ms(struct scheduler *s, uint64_t id)
{
    if (!s->leading) {
        return -1;
    }
    return sched_core_silence_ms(&s->core, id, now_ms(s));
}

/* ---- heartbeats ---- */

struct set_wait {
    struct scheduler *s;
    uint64_t id;
};

static void engine_set_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct set_wait *w = data;
    struct sched_seen *e = w->s->host.raft != NULL ? seen_get(w->s, w->id, false) : NULL;
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
        rc = proposals_submit(s->host.proposals, sb.data, sb.size, engine_set_done, w);
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

    if (!s->leading || !s->host.running(s->host.data)) {
        return -1;
    }
    e = sched_core_heard(&s->core, hb->id, now_ms(s));
    if (e == NULL) {
        return -1;
    }
    found = store_engine_get(s->host.store, hb->id, &row);
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
        struct sched_seen *e = status == 0 && b->s->host.raft != NULL ? seen_get(b->s, w->engine_id, false) : NULL;
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
        rc = proposals_submit(s->host.proposals, sb.data, sb.size, hb_batch_done, b);
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

struct sched_core *scheduler_core(struct scheduler *s)
{
    return &s->core;
}

int scheduler_plan(struct scheduler *s, bool rebalance, struct sched_plan *out)
{
    int rc = sched_core_plan(&s->core, s->host.store, rebalance, out);
    if (rc != 0 && s->core.errmsg[0] != '\0') {
        log_error("scheduler: cannot read the state: %s", s->core.errmsg);
    }
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
    if (w->own && w->s->host.raft != NULL) {
        sched_core_move_done(&w->s->core, status);
        if (w->s->host.tick_soon != NULL && w->s->leading && sched_core_backlog_due(&w->s->core)) {
            w->s->host.tick_soon(w->s->host.data);
        }
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
    uint64_t now = s->host.wall_ms(s->host.data);
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
        if (command_pack_assign_by(&pk, m->project, strlen(m->project), m->from, m->to, m->reason, now, p->by) == 0 &&
            sb.data != NULL) {
            rc = proposals_submit(s->host.proposals, sb.data, sb.size, move_done, w);
        }
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            free(w);
            break;
        }
        sched_core_move_proposed(&s->core);
        submitted++;
    }
    s->moves += submitted;
    return submitted;
}

/* ---- liveness ---- */

static void dead_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct set_wait *w = data;
    (void)index;
    (void)code;
    if (w->s->host.raft != NULL) {
        sched_core_mark_dead_pending(&w->s->core, w->id, false);
    }
    if (status != 0) {
        log_warn("scheduler: declaring engine %llu dead failed: %s", (unsigned long long)w->id, message);
    }
    free(w);
}

/* Declares dead every engine silent past the timeout (sched_core_due decides who).
 * Returns how many. */
static size_t check_liveness(struct scheduler *s, struct store_engine *engines, size_t n)
{
    uint64_t now = now_ms(s);
    uint64_t timeout_ms = s->host.heartbeat_timeout_ms;
    size_t declared = 0;
    struct sched_due *due = malloc((n ? n : 1) * sizeof *due);
    size_t n_due;

    if (due == NULL) {
        return 0;
    }
    n_due = sched_core_due(&s->core, engines, n, now, timeout_ms, due);
    for (size_t i = 0; i < n_due; i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        struct set_wait *w = malloc(sizeof *w);
        int rc = -1;
        if (w == NULL) {
            continue;
        }
        w->s = s;
        w->id = due[i].id;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (command_pack_engine_dead(&pk, due[i].id) == 0 && sb.data != NULL) {
            rc = proposals_submit(s->host.proposals, sb.data, sb.size, dead_done, w);
        }
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            free(w);
            continue;
        }
        sched_core_mark_dead_pending(&s->core, due[i].id, true);
        s->failovers++;
        declared++;
        log_warn("scheduler: engine %llu silent for %llu ms (timeout %llu ms on this leader's clock): "
                 "declaring it dead and moving its %llu project(s)", (unsigned long long)due[i].id,
                 (unsigned long long)due[i].silence_ms, (unsigned long long)timeout_ms,
                 (unsigned long long)due[i].projects);
    }
    free(due);
    return declared;
}

static void become_leader(struct scheduler *s)
{
    s->leading = true;
    s->terms_led++;
    sched_core_become_leader(&s->core, now_ms(s));
    log_info("scheduler: leading; every engine gets a full %u s before it can be declared dead",
             (unsigned)(s->host.heartbeat_timeout_ms / 1000));
}

static void lose_leadership(struct scheduler *s)
{
    s->leading = false;
    s->n_hb = 0;
    fail_waiters(s, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST, "leadership lost before the heartbeat was recorded");
}

void scheduler_tick(struct scheduler *s)
{
    struct raft *raft = s->host.raft;
    struct store *store = s->host.store;
    bool leader = raft_state(raft) == RAFT_LEADER && s->host.running(s->host.data);
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
    if (raft_last_applied(raft) < raft_commit_index(raft) || *s->host.fsm_failed) {
        return;
    }
    if (store_maintenance(store, &maintenance, reason, sizeof reason) != 0 || maintenance) {
        return; /* maintenance mode freezes ownership: no failover, no placement */
    }
    /* Engines with the store's tracked project counts (storage/loads.h): O(engines) per
     * tick, where counting every project's owner made each tick O(projects). */
    if (store_loads_engines(store, &engines, &ne) != 0) {
        if (!s->read_failing) { /* once per failing stretch, not every tick */
            log_error("scheduler: cannot read the engines: %s", store->errmsg);
        }
        s->read_failing = true;
        return;
    }
    s->read_failing = false;
    size_t declared = check_liveness(s, engines, ne);
    free(engines);
    if (!sched_core_place_due(&s->core, store->ownership_version, declared) ||
        sched_core_place_wait(&s->core, declared, now_ms(s))) {
        return;
    }
    struct sched_plan plan;
    if (scheduler_plan(s, false, &plan) != 0) {
        return;
    }
    sched_core_placed(&s->core, store->ownership_version, plan.n, now_ms(s));
    sched_core_placed_declaring(&s->core, declared);
    if (plan.n > 0) {
        size_t k = scheduler_submit_moves(s, &plan, NULL, NULL);
        log_info("scheduler: placing %zu project(s)%s", k, declared ? " (failover)" : "");
    }
    sched_plan_free(&plan);
}
