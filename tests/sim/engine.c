/* engine: the engine each simulated member speaks for, as raftnode/engine.c runs it: a
 * heartbeat every SIM_HB_INTERVAL_MS to the leader its member believes in, and a lease of
 * send time + timeout - margin per acknowledged heartbeat, on the engine's own clock (the
 * fixture's virtual time).
 *
 * Messages: a heartbeat reaches the leader only if the fixture link engine -> leader is up
 * when it is sent; the acknowledgement (the batch's apply on the leader) reaches the engine
 * only if the link leader -> engine is up then.
 *
 * Two rules, modelled on raftnode/engine.c; invariant 2 fails without them (sim --as-built):
 *   ack gate         an acknowledgement counts only once the engine's own member has applied
 *                    the entry that recorded the heartbeat;
 *   hand-over grace  a project moved away from a live engine is not acted for, from a member's
 *                    state, before a full timeout after that member applied the move. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "sim.h"

static void lease_extend(struct srv *v, uint64_t deadline_ms, uint64_t index)
{
    struct sim *s = v->sim;
    if (deadline_ms > v->lease_deadline_ms) {
        v->lease_deadline_ms = deadline_ms;
        s->dirty = true;
    }
    s->counters[C_LEASE_ACKS]++;
    if (s->opts->verbose) {
        sim_event(s, "engine %llu: heartbeat acknowledged at index %llu, lease until %llu", (unsigned long long)v->id,
                  (unsigned long long)index, (unsigned long long)v->lease_deadline_ms);
    }
}

/* The engine of server E got the answer to a heartbeat sent at SEND_MS, recorded at INDEX.
 * Ack gate (the fix for the stale-view overlap, see sim.c's usage): the lease is extended
 * only once E's own member has applied INDEX, so that the ownership it reads is at least as
 * new as the acknowledgement; until then the acknowledgement waits. */
void engine_answer(struct sim *s, unsigned e, unsigned leader, uint64_t send_ms, int status, uint64_t index)
{
    struct srv *v = &s->srv[e];
    if (!link_up(s, leader, e)) {
        return; /* the reply is lost on the way back */
    }
    if (status == PROTO_REFUSED) {
        v->refused = true;
        return;
    }
    if (status != PROTO_OK) {
        return;
    }
    uint64_t deadline = send_ms + SIM_HB_TIMEOUT_MS - SIM_LEASE_MARGIN_MS;
    v->refused = false;
    if (s->opts->no_ack_gate || v->store.applied_index >= index) {
        lease_extend(v, deadline, index);
        return;
    }
    s->counters[C_GATED_ACKS]++;
    if (v->n_pending == sizeof v->pending / sizeof v->pending[0]) {
        memmove(&v->pending[0], &v->pending[1], (v->n_pending - 1) * sizeof v->pending[0]);
        v->n_pending--; /* the oldest, shortest lease goes */
    }
    v->pending[v->n_pending].index = index;
    v->pending[v->n_pending].deadline_ms = deadline;
    v->n_pending++;
}

void engine_applied(struct srv *v)
{
    for (unsigned i = 0; i < v->n_pending;) {
        if (v->pending[i].index <= v->store.applied_index) {
            lease_extend(v, v->pending[i].deadline_ms, v->pending[i].index);
            v->pending[i] = v->pending[--v->n_pending];
        } else {
            i++;
        }
    }
}

/* Hand-over grace (the fix for the voluntary hand-over overlap): once this member applied a
 * move of a project away from an engine that was alive, no engine acts for the project from
 * this member's state before a full timeout has passed on this member's clock, whoever owns
 * it by then (a later failover included). By then the old owner's lease, which only
 * acknowledgements of entries before the move extended (ack gate), has run out. */
void engine_grace(struct srv *v, const char *project)
{
    struct sim *s = v->sim;
    uint64_t until = sim_now(s) + SIM_HB_TIMEOUT_MS;
    if (s->opts->no_handoff_grace) {
        return;
    }
    s->counters[C_GRACES]++;
    for (size_t i = 0; i < v->n_grace; i++) {
        if (strcmp(v->grace[i].name, project) == 0) {
            v->grace[i].until_ms = until;
            return;
        }
    }
    if (v->n_grace == v->cap_grace) {
        size_t cap = v->cap_grace ? v->cap_grace * 2 : 16;
        void *p = realloc(v->grace, cap * sizeof *v->grace);
        if (p == NULL) {
            return;
        }
        v->grace = p;
        v->cap_grace = cap;
    }
    snprintf(v->grace[v->n_grace].name, sizeof v->grace[v->n_grace].name, "%s", project);
    v->grace[v->n_grace].until_ms = until;
    v->n_grace++;
}

uint64_t engine_grace_until(struct srv *v, const char *project)
{
    for (size_t i = 0; i < v->n_grace; i++) {
        if (strcmp(v->grace[i].name, project) == 0) {
            return v->grace[i].until_ms;
        }
    }
    return 0;
}

void engine_free(struct srv *v)
{
    free(v->grace);
    v->grace = NULL;
    v->n_grace = v->cap_grace = 0;
}

/* heartbeat_cb of engine.c */
void engine_tick(struct srv *v)
{
    struct sim *s = v->sim;
    uint64_t now = sim_now(s);
    raft_id leader;
    const char *address;

    if (!srv_alive(v) || now < v->next_hb_ms) {
        return;
    }
    while (v->next_hb_ms <= now) {
        v->next_hb_ms += SIM_HB_INTERVAL_MS;
    }
    if (now < v->silent_until_ms) {
        return;
    }
    raft_leader(srv_raft(v), &leader, &address);
    if (leader == 0 || leader > s->n) {
        return;
    }
    struct srv *l = &s->srv[leader - 1];
    if (!link_up(s, v->idx, l->idx)) {
        return; /* lost on the way: the leader hears nothing */
    }
    leader_heartbeat(l, v, now);
}
