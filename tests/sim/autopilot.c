/* autopilot: the --autopilot scenario of the simulation (sim.h). SIM_AP_VOTERS voters and one
 * or two standbys, each member running raftnode/autopilot.c (around the pure rules of
 * raftnode/autopilot_policy.c) on the fixture's clock, its last-contact hook on the member's
 * raftnode/raft_fix.c as node.c installs it. Once in a run a voter is killed for good; the
 * usual nemeses (temporary kills shorter than the dead timeout, leadership transfers, engine
 * silences, latency) go on around it.
 *
 * Oracles: after every tick, the voters of the leader's configuration that are not stopped for
 * good are a quorum of its voters (the autopilot never demotes or removes a live voter in
 * place of a dead one, nor adds a voter that cannot vote); at the end (ap_converged, part of
 * the healing), the dead voter was replaced: SIM_AP_VOTERS voters, none of them stopped, and
 * the dead one a spare (or removed, with cleanup, when the leader saw it die). */
#include <stdio.h>

#include "sim.h"

static void heard(void *data, raft_id from)
{
    struct srv *v = data;
    autopilot_contact(&v->ap, from, sim_now(v->sim));
}

void ap_start(struct sim *s)
{
    struct rng *r = &s->rng;
    struct autopilot_params p = {
        .voters = SIM_AP_VOTERS,
        .dead_ms = SIM_AP_DEAD_MS,
        .healthy_ms = 1000, /* the election timeout, as autopilot_params_from_config */
        .stable_ms = SIM_AP_DEAD_MS,
        .max_lag = AUTOPILOT_MAX_LAG,
        .cleanup = rng_permille(r, 400),
        .cleanup_ms = 2 * SIM_AP_DEAD_MS,
    };
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        autopilot_init(&v->ap, srv_raft(v), &p, SIM_AP_VOTERS);
        v->fix.on_recv = heard;
        v->fix.on_recv_data = v;
    }
    s->ap_kill_at_ms = rng_range(r, 3000, 12000);
    s->ap_killed = -1;
    sim_event(s, "autopilot: %u voters, %u standby(s), dead after %u ms%s; a voter dies for good at %llu ms",
              SIM_AP_VOTERS, s->n - SIM_AP_VOTERS, SIM_AP_DEAD_MS, p.cleanup ? ", cleanup on" : "",
              (unsigned long long)s->ap_kill_at_ms);
}

static const struct raft_server *conf_find(const struct raft_configuration *c, raft_id id)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return &c->servers[i];
        }
    }
    return NULL;
}

static bool stopped_id(struct sim *s, raft_id id)
{
    return id >= 1 && id <= s->n && s->srv[id - 1].stopped;
}

/* Kills a voter of the leader's configuration for good, once there is a leader. */
static void kill_for_good(struct sim *s)
{
    struct srv *l = sim_leader(s);
    unsigned cand[SIM_MAX_SERVERS], n = 0;
    if (l == NULL) {
        return;
    }
    const struct raft_configuration *c = &srv_raft(l)->configuration;
    for (unsigned i = 0; i < s->n; i++) {
        const struct raft_server *sv = conf_find(c, s->srv[i].id);
        if (sv != NULL && sv->role == RAFT_VOTER && !s->srv[i].stopped) {
            cand[n++] = i;
        }
    }
    if (n == 0) {
        return;
    }
    unsigned idx = cand[rng_below(&s->rng, n)];
    struct srv *v = &s->srv[idx];
    v->stopped = true;
    if (raft_fixture_alive(&s->f, idx)) {
        raft_fixture_kill(&s->f, idx);
    }
    s->dirty = true;
    s->ap_killed = (int)idx;
    s->ap_kill_at_ms = 0;
    sim_event(s, "autopilot: voter %llu killed for good%s", (unsigned long long)v->id,
              v == l ? " (the leader)" : "");
}

void ap_tick(struct sim *s)
{
    uint64_t now = sim_now(s);
    if (s->ap_kill_at_ms != 0 && now >= s->ap_kill_at_ms && !s->healing) {
        kill_for_good(s);
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        if (!srv_alive(v) || v->stopped) {
            continue;
        }
        srv_log_as(v);
        autopilot_tick(&v->ap, now);
        if (v->ap.actions != v->ap_actions) {
            v->ap_actions = v->ap.actions;
            s->counters[C_AUTOPILOT_ACTIONS]++;
            sim_event(s, "autopilot on %llu: %s member %llu (%s)", (unsigned long long)v->id,
                      v->ap.last.kind == AUTOPILOT_PROMOTE ? "promote"
                      : v->ap.last.kind == AUTOPILOT_DEMOTE ? "demote"
                                                            : "remove",
                      (unsigned long long)v->ap.last.id, v->ap.last.reason);
        }
    }
    /* the oracle: the leader's voters that are not dead for good are a quorum of them */
    struct srv *l = sim_leader(s);
    if (l == NULL) {
        return;
    }
    const struct raft_configuration *c = &srv_raft(l)->configuration;
    unsigned voters = 0, live = 0;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role == RAFT_VOTER) {
            voters++;
            live += !stopped_id(s, c->servers[i].id);
        }
    }
    if (voters == 0 || live < voters / 2 + 1) {
        sim_fail(s, "autopilot: leader %llu's configuration has %u voters of which only %u are not dead for good: "
                 "quorum lost for ever", (unsigned long long)l->id, voters, live);
    }
}

bool ap_converged(struct sim *s, char *why, size_t cap)
{
    struct srv *l = sim_leader(s);
    if (l == NULL) {
        snprintf(why, cap, "autopilot: no leader");
        return false;
    }
    struct raft *r = srv_raft(l);
    const struct raft_configuration *c = &r->configuration;
    unsigned voters = 0;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role == RAFT_VOTER) {
            voters++;
            if (stopped_id(s, c->servers[i].id)) {
                snprintf(why, cap, "autopilot: server %llu, dead for good, is still a voter",
                         (unsigned long long)c->servers[i].id);
                return false;
            }
        }
    }
    if (voters != SIM_AP_VOTERS) {
        snprintf(why, cap, "autopilot: %u voters, not %u", voters, SIM_AP_VOTERS);
        return false;
    }
    if (r->configuration_uncommitted_index != 0 || l->ap.inflight) {
        snprintf(why, cap, "autopilot: a configuration change in flight (libraft's uncommitted index %llu, commit "
                 "index %llu, autopilot request %s)", (unsigned long long)r->configuration_uncommitted_index,
                 (unsigned long long)raft_commit_index(r), l->ap.inflight ? "in flight" : "done");
        return false;
    }
    if (s->ap_killed >= 0) {
        const struct raft_server *dead = conf_find(c, s->srv[s->ap_killed].id);
        /* Cleanup removes what this leader saw die: a spare demoted under an earlier leader is
         * never heard from (the leader sends spares nothing), so it stays until an operator
         * removes it (docs/operations-autopilot.md). */
        bool seen = false;
        for (unsigned i = 0; dead != NULL && i < l->ap.n; i++) {
            seen = seen || (l->ap.members[i].id == dead->id && l->ap.members[i].tracked);
        }
        if (dead != NULL && l->ap.params.cleanup && seen) {
            snprintf(why, cap, "autopilot: server %llu, dead for good, not removed yet (cleanup on)",
                     (unsigned long long)dead->id);
            return false;
        }
        s->counters[C_AUTOPILOT_REPLACED]++; /* the heal loop stops at the first true */
    }
    return true;
}
