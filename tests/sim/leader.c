/* leader: the scheduler glue of raftnode/scheduler.c, run by every simulated member, around
 * the real scheduler core (raftnode/scheduler_core.c), which makes every decision: who is
 * declared dead, which moves a plan makes, when to plan.
 *
 * This is a line-by-line copy of scheduler.c with libuv's clock replaced by the fixture's
 * virtual time and proposals_submit by the sim's pipeline (cluster.c); keep the two in step
 * when scheduler.c changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "sim.h"
#include "storage/command.h"

static void engine_set_done(struct srv *l, void *data, uint64_t index, int status, const char *message)
{
    uint64_t id = (uint64_t)(uintptr_t)data;
    struct sched_seen *e = sched_core_seen(&l->core, id, false, 0);
    (void)index;
    if (e != NULL) {
        e->set_pending = false;
        snprintf(e->refused, sizeof e->refused, "%s", status == PROTO_REFUSED ? message : "");
    }
}

static bool engine_matches(const struct store_engine *row, const struct srv *e)
{
    return strcmp(row->mode, e->mode) == 0 && row->weight == e->weight && strcmp(row->identity, e->identity) == 0 &&
           row->race_enabled == e->race_enabled;
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return 0;
    }
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * size);
    if (q == NULL) {
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

/* scheduler_heartbeat */
int leader_heartbeat(struct srv *l, struct srv *e, uint64_t send_ms)
{
    struct packbuf pb;
    struct sim *s = l->sim;
    struct store_engine row;
    struct sched_seen *seen;
    int found;

    if (!l->leading || l->fsm_failed) {
        return -1;
    }
    seen = sched_core_heard(&l->core, e->id, sim_now(s));
    if (seen == NULL) {
        return -1;
    }
    found = store_engine_get(&l->store, e->id, &row);
    if (found < 0) {
        return -1;
    }
    if ((found == 0 || !engine_matches(&row, e)) && !seen->set_pending) {
        if (pb_submit(&pb,
                      command_pack_engine_set(pb_packer(&pb), e->id, e->mode, e->weight, e->identity, e->race_enabled),
                      l, engine_set_done, (void *)(uintptr_t)e->id) == 0) {
            seen->set_pending = true;
        }
    }
    if (grow((void **)&l->hb_ids, &l->cap_hb, l->n_hb, sizeof *l->hb_ids) != 0 ||
        grow((void **)&l->waiters, &l->cap_waiters, l->n_waiters, sizeof *l->waiters) != 0) {
        return -1;
    }
    bool listed = false;
    for (size_t i = 0; i < l->n_hb && !listed; i++) {
        listed = l->hb_ids[i] == e->id;
    }
    if (!listed) {
        l->hb_ids[l->n_hb++] = e->id;
    }
    l->waiters[l->n_waiters++] = (struct sim_hb_waiter){.engine = e->idx, .send_ms = send_ms};
    return 0;
}

struct hb_batch {
    struct sim_hb_waiter *waiters;
    size_t n;
};

static void hb_batch_done(struct srv *l, void *data, uint64_t index, int status, const char *message)
{
    struct hb_batch *b = data;
    (void)message;
    for (size_t i = 0; i < b->n; i++) {
        struct srv *e = &l->sim->srv[b->waiters[i].engine];
        struct sched_seen *seen = status == 0 ? sched_core_seen(&l->core, e->id, false, 0) : NULL;
        int st = seen != NULL && seen->refused[0] != '\0' ? PROTO_REFUSED : status;
        if (!l->sim->closing) {
            engine_answer(l->sim, e->idx, l->idx, b->waiters[i].send_ms, st, index);
        }
    }
    free(b->waiters);
    free(b);
}

static void flush_heartbeats(struct srv *l)
{
    struct packbuf pb;
    struct hb_batch *b;
    if (l->n_hb == 0) {
        return;
    }
    b = malloc(sizeof *b);
    if (b == NULL) {
        return;
    }
    b->waiters = l->waiters;
    b->n = l->n_waiters;
    int rc = pb_submit(&pb, command_pack_heartbeat(pb_packer(&pb), l->hb_ids, l->n_hb), l, hb_batch_done, b);
    l->n_hb = 0;
    l->waiters = NULL;
    l->n_waiters = l->cap_waiters = 0;
    if (rc != 0) {
        hb_batch_done(l, b, 0, PROTO_REFUSED, "out of memory recording heartbeats");
    }
}

struct move_wait {
    sim_done_cb cb;
    void *data;
    bool own;
};

static void move_done(struct srv *l, void *data, uint64_t index, int status, const char *message)
{
    struct move_wait *w = data;
    if (w->own) {
        sched_core_move_done(&l->core, status);
    }
    if (status != 0 && status != PROTO_UNAVAILABLE && !l->sim->closing) {
        sim_event(l->sim, "server %llu: move refused at index %llu: %s", (unsigned long long)l->id,
                  (unsigned long long)index, message);
    }
    if (w->cb != NULL) {
        w->cb(l, w->data, index, status, message);
    }
    free(w);
}

/* scheduler_submit_moves */
size_t leader_submit_moves(struct srv *l, const struct sched_plan *p, sim_done_cb cb, void *data)
{
    struct packbuf pb;
    size_t submitted = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct sched_move *m = &p->moves[i];
        struct move_wait *w = malloc(sizeof *w);
        if (w == NULL) {
            break;
        }
        *w = (struct move_wait){.cb = cb, .data = data, .own = true};
        if (pb_submit(&pb,
                      command_pack_assign(pb_packer(&pb), m->project, strlen(m->project), m->from, m->to, m->reason,
                                          sim_now(l->sim)),
                      l, move_done, w) != 0) {
            free(w);
            break;
        }
        sim_event(l->sim, "server %llu proposes %s %llu -> %llu (%s)", (unsigned long long)l->id, m->project,
                  (unsigned long long)m->from, (unsigned long long)m->to, m->reason);
        sched_core_move_proposed(&l->core);
        submitted++;
    }
    l->sim->counters[C_MOVES] += submitted;
    return submitted;
}

static void dead_done(struct srv *l, void *data, uint64_t index, int status, const char *message)
{
    uint64_t id = (uint64_t)(uintptr_t)data;
    (void)index;
    sched_core_mark_dead_pending(&l->core, id, false);
    if (status != 0 && !l->sim->closing) {
        sim_event(l->sim, "server %llu: declaring engine %llu dead failed: %s", (unsigned long long)l->id,
                  (unsigned long long)id, message);
    }
}

static size_t check_liveness(struct srv *l, struct store_engine *engines, size_t n)
{
    struct packbuf pb;
    uint64_t now = sim_now(l->sim);
    size_t declared = 0;
    struct sched_due *due = malloc((n ? n : 1) * sizeof *due);
    if (due == NULL) {
        return 0;
    }
    size_t n_due = sched_core_due(&l->core, engines, n, now, SIM_HB_TIMEOUT_MS, due);
    for (size_t i = 0; i < n_due; i++) {
        if (pb_submit(&pb, command_pack_engine_dead(pb_packer(&pb), due[i].id), l, dead_done,
                      (void *)(uintptr_t)due[i].id) != 0) {
            continue;
        }
        sched_core_mark_dead_pending(&l->core, due[i].id, true);
        declared++;
        l->sim->counters[C_FAILOVERS]++;
        sim_event(l->sim, "server %llu: engine %llu silent for %llu ms: declaring it dead (%llu projects)",
                  (unsigned long long)l->id, (unsigned long long)due[i].id, (unsigned long long)due[i].silence_ms,
                  (unsigned long long)due[i].projects);
    }
    free(due);
    return declared;
}

static void become_leader(struct srv *l)
{
    l->leading = true;
    sched_core_become_leader(&l->core, sim_now(l->sim));
    l->sim->counters[C_ELECTIONS]++;
    sim_event(l->sim, "server %llu leads (term %llu)", (unsigned long long)l->id,
              (unsigned long long)raft_current_term(srv_raft(l)));
}

static void scheduler_lose(struct srv *l)
{
    l->leading = false;
    l->n_hb = 0;
    free(l->waiters); /* fail_waiters: status 3, the engines' leases are not extended */
    l->waiters = NULL;
    l->n_waiters = l->cap_waiters = 0;
}

void leader_free(struct srv *l)
{
    scheduler_lose(l);
    free(l->hb_ids);
    l->hb_ids = NULL;
    l->cap_hb = 0;
    sched_core_close(&l->core);
}

/* scheduler_tick */
static void scheduler_tick(struct srv *l)
{
    struct raft *r = srv_raft(l);
    bool leader = raft_state(r) == RAFT_LEADER && !l->fsm_failed;
    struct store_engine *engines = NULL;
    size_t ne = 0;
    bool maintenance = false;
    char reason[8];

    if (leader && !l->leading) {
        become_leader(l);
    } else if (!leader && l->leading) {
        scheduler_lose(l);
        sim_event(l->sim, "server %llu no longer leads", (unsigned long long)l->id);
    }
    if (!l->leading) {
        return;
    }
    flush_heartbeats(l);
    if (raft_last_applied(r) < raft_commit_index(r) || l->fsm_failed) {
        return;
    }
    if (store_maintenance(&l->store, &maintenance, reason, sizeof reason) != 0 || maintenance) {
        return;
    }
    if (store_load_engines(&l->store, &engines, &ne) != 0) {
        return;
    }
    size_t declared = check_liveness(l, engines, ne);
    free(engines);
    if (!sched_core_place_due(&l->core, l->store.ownership_version, declared) ||
        sched_core_place_wait(&l->core, declared, sim_now(l->sim))) {
        return;
    }
    struct sched_plan plan;
    if (sched_core_plan(&l->core, &l->store, false, &plan) != 0) {
        sim_fail(l->sim, "server %llu: plan failed: %s", (unsigned long long)l->id, l->core.errmsg);
        return;
    }
    sched_core_placed(&l->core, l->store.ownership_version, plan.n, sim_now(l->sim));
    sched_core_placed_declaring(&l->core, declared);
    if (l->sim->opts->verbose) {
        sim_event(l->sim, "server %llu plans on version %llu: %zu moves", (unsigned long long)l->id,
                  (unsigned long long)l->store.ownership_version, plan.n);
    }
    if (plan.n > 0) {
        leader_submit_moves(l, &plan, NULL, NULL);
    }
    sched_plan_free(&plan);
}

void leader_tick(struct srv *v)
{
    if (!srv_alive(v)) {
        return; /* a killed member's loop does not run */
    }
    scheduler_tick(v);
}

/* heartbeat_cb of engine.c */
