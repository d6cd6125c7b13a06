/* engine: the engine each simulated member speaks for, as raftnode/engine.c runs it: a
 * heartbeat every SIM_HB_INTERVAL_MS to the leader its member believes in, and a lease of
 * send time + timeout - margin per acknowledged heartbeat, on the engine's own clock (the
 * fixture's virtual time).
 *
 * Messages: a heartbeat reaches the leader only if the fixture link engine -> leader is up
 * when it is sent; the acknowledgement (the batch's apply on the leader) reaches the engine
 * only if the link leader -> engine is up then.
 *
 * The lease itself is raftnode/lease.c, the code raftnode/engine.c runs, with its two rules
 * (invariant 2 fails without them: sim --as-built):
 *   ack gate         an acknowledgement counts only once the engine's own member has applied
 *                    the state it was given in;
 *   hand-over grace  a project handed over by a live engine is not acted for, from a member's
 *                    state, before a full timeout after that member applied the move; which
 *                    projects that is comes from store_each_handover, as in fsm_glue.c, and
 *                    every project waits after the start and after a snapshot restore. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "raftnode/lease.h"
#include "sim.h"

static void lease_extended(struct srv *v, uint64_t index, unsigned n)
{
    struct sim *s = v->sim;
    s->dirty = true;
    s->counters[C_LEASE_ACKS] += n;
    if (s->opts->verbose) {
        sim_event(s, "engine %llu: heartbeat acknowledged at index %llu, lease until %llu", (unsigned long long)v->id,
                  (unsigned long long)index, (unsigned long long)v->lease.deadline);
    }
}

/* The engine of server E got the answer to a heartbeat sent at SEND_MS, recorded at INDEX
 * (hb_done of engine.c): the lease rules themselves are raftnode/lease.c's. */
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
    /* --no-ack-gate: as if the member had applied the acknowledging state already */
    if (lease_ack(&v->lease, index, deadline, s->opts->no_ack_gate ? index : v->store.applied_index)) {
        lease_extended(v, index, 1);
    } else {
        s->counters[C_GATED_ACKS]++;
    }
}

void engine_applied(struct srv *v)
{
    unsigned n = lease_applied(&v->lease, v->store.applied_index);
    if (n > 0) {
        lease_extended(v, v->store.applied_index, n);
    }
}

/* As engine_handover: store_each_handover names PROJECT (LEN bytes) after the entry this
 * member just applied. */
void engine_handover(void *data, const char *project, size_t len)
{
    struct srv *v = data;
    struct sim *s = v->sim;
    uint64_t now = sim_now(s);
    if (s->opts->no_handoff_grace) {
        return;
    }
    s->counters[C_GRACES]++;
    if (lease_handover(&v->lease, project, len, now + SIM_HB_TIMEOUT_MS, now) != 0) {
        sim_fail(s, "server %llu: out of memory recording a hand-over", (unsigned long long)v->id);
    }
}

/* As engine_grace_all: at start and after a snapshot restore. */
void engine_grace_all(struct srv *v)
{
    struct sim *s = v->sim;
    if (!s->opts->no_handoff_grace) {
        lease_grace_all(&v->lease, sim_now(s) + SIM_HB_TIMEOUT_MS);
    }
}

uint64_t engine_grace_until(struct srv *v, const char *project)
{
    return lease_grace_until(&v->lease, project, strlen(project), sim_now(v->sim));
}

void engine_free(struct srv *v)
{
    lease_free(&v->lease);
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
