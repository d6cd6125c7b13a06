/* autopilot: the --autopilot scenario of the simulation (sim.h). SIM_AP_VOTERS voters and one
 * or two standbys, each member running raftnode/autopilot.c (around the pure rules of
 * raftnode/autopilot_policy.c) on the fixture's clock, its last-contact hook on the member's
 * raftnode/raft_fix.c as node.c installs it. Once in a run a voter is killed for good; the
 * usual nemeses (temporary kills shorter than the dead timeout, leadership transfers, engine
 * silences, latency) go on around it. In most runs another voter is also killed for longer than
 * the dead timeout and revived (or revived at the healing): demoted meanwhile, it comes back
 * with its old configuration, campaigning, and the leader re-admits it as a standby.
 *
 * Oracles: after every tick, the voters of the leader's configuration that are not stopped for
 * good are a quorum of its voters (the autopilot never demotes or removes a live voter in
 * place of a dead one, nor adds a voter that cannot vote); at the end (ap_converged, part of
 * the healing), the dead voter was replaced: SIM_AP_VOTERS voters, none of them stopped, and
 * the dead one a spare (or removed, with cleanup, when the leader saw it die); the voter that
 * was away is a voter or a standby again (the cluster whole: a spare would never catch up). */
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
        .readmit = true, /* the default of raft.autopilot.readmit-spares */
    };
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        autopilot_init(&v->ap, srv_raft(v), &p, SIM_AP_VOTERS);
        v->fix.on_recv = heard;
        v->fix.on_recv_data = v;
    }
    s->ap_kill_at_ms = rng_range(r, 3000, 12000);
    s->ap_killed = -1;
    s->ap_away = -1;
    s->ap_away_at_ms = rng_permille(r, 700) ? rng_range(r, 1000, 8000) : 0;
    /* longer than the dead timeout; with cleanup, shorter than cleanup_ms (or it is removed) */
    s->ap_away_ms = rng_range(r, SIM_AP_DEAD_MS + 1500, p.cleanup ? p.cleanup_ms - 500 : 3 * SIM_AP_DEAD_MS);
    sim_event(s, "autopilot: %u voters, %u standby(s), dead after %u ms%s; a voter dies for good at %llu ms",
              SIM_AP_VOTERS, s->n - SIM_AP_VOTERS, SIM_AP_DEAD_MS, p.cleanup ? ", cleanup on" : "",
              (unsigned long long)s->ap_kill_at_ms);
    if (s->ap_away_at_ms != 0) {
        sim_event(s, "autopilot: a voter is away at %llu ms for %llu ms", (unsigned long long)s->ap_away_at_ms,
                  (unsigned long long)s->ap_away_ms);
    }
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

/* A random voter of leader L's configuration not stopped for good (and up, with UP_ONLY), or -1. */
static int pick_voter(struct sim *s, struct srv *l, bool up_only)
{
    unsigned cand[SIM_MAX_SERVERS], n = 0;
    const struct raft_configuration *c = &srv_raft(l)->configuration;
    for (unsigned i = 0; i < s->n; i++) {
        const struct raft_server *sv = conf_find(c, s->srv[i].id);
        if (sv != NULL && sv->role == RAFT_VOTER && !s->srv[i].stopped && (!up_only || raft_fixture_alive(&s->f, i))) {
            cand[n++] = i;
        }
    }
    return n == 0 ? -1 : (int)cand[rng_below(&s->rng, n)];
}

/* Kills a voter of the leader's configuration for good, once there is a leader. */
static void kill_for_good(struct sim *s)
{
    struct srv *l = sim_leader(s);
    int pick = l != NULL ? pick_voter(s, l, false) : -1;
    if (pick < 0) {
        return;
    }
    unsigned idx = (unsigned)pick;
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

/* The leader's configuration has SIM_AP_VOTERS voters, every one up, and no change in flight. */
static bool whole(struct sim *s)
{
    struct srv *l = sim_leader(s);
    unsigned voters = 0;
    if (l == NULL || s->ap_back_at_ms != 0 || srv_raft(l)->configuration_uncommitted_index != 0 || l->ap.inflight) {
        return false;
    }
    const struct raft_configuration *c = &srv_raft(l)->configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role == RAFT_VOTER) {
            if (c->servers[i].id < 1 || c->servers[i].id > s->n || !raft_fixture_alive(&s->f, c->servers[i].id - 1)) {
                return false;
            }
            voters++;
        }
    }
    if (voters != SIM_AP_VOTERS) {
        return false;
    }
    /* and the away voter, if not killed for good meanwhile, a voter or a stable standby again */
    const struct srv *a = &s->srv[s->ap_away];
    const struct raft_server *sv = conf_find(c, a->id);
    for (unsigned i = 0; sv != NULL && sv->role == RAFT_STANDBY && i < l->ap.n; i++) {
        if (l->ap.members[i].id == a->id) {
            return l->ap.members[i].stable;
        }
    }
    return a->stopped || (sv != NULL && sv->role == RAFT_VOTER);
}

/* Kills a live voter of the leader's configuration until NOW + ap_away_ms (not for good). */
static void send_away(struct sim *s, uint64_t now)
{
    struct srv *l = sim_leader(s);
    int pick = l != NULL ? pick_voter(s, l, true) : -1;
    if (pick < 0) {
        return;
    }
    unsigned idx = (unsigned)pick;
    raft_fixture_kill(&s->f, idx);
    links_apply(s);
    s->dirty = true;
    s->ap_away = (int)idx;
    s->ap_away_at_ms = 0;
    s->ap_back_at_ms = now + s->ap_away_ms;
    sim_event(s, "autopilot: voter %llu away for %llu ms%s", (unsigned long long)s->srv[idx].id,
              (unsigned long long)s->ap_away_ms, s->srv[idx].id == l->id ? " (the leader)" : "");
}

/* The away voter: demoted meanwhile? back when its time is up (or at the healing). */
static void away_step(struct sim *s, uint64_t now)
{
    if (s->ap_away_at_ms != 0 && now >= s->ap_away_at_ms && !s->healing) {
        send_away(s, now);
    }
    if (s->ap_away < 0 || s->ap_back_at_ms == 0) {
        return;
    }
    struct srv *v = &s->srv[s->ap_away], *l = sim_leader(s);
    const struct raft_server *sv = l != NULL ? conf_find(&srv_raft(l)->configuration, v->id) : NULL;
    if (sv != NULL && sv->role == RAFT_SPARE) {
        s->ap_away_demoted = true;
    }
    if (v->stopped) {
        s->ap_back_at_ms = 0; /* then killed for good: kill_for_good's */
    } else if (now >= s->ap_back_at_ms || s->healing) {
        raft_fixture_revive(&s->f, (unsigned)s->ap_away);
        links_apply(s);
        v->revived_ms = now;
        s->ap_back_at_ms = 0;
        s->dirty = true;
        sim_event(s, "autopilot: voter %llu back%s", (unsigned long long)v->id,
                  s->ap_away_demoted ? ", demoted meanwhile" : "");
    }
}

void ap_tick(struct sim *s)
{
    uint64_t now = sim_now(s);
    /* After a voter was away, not before the cluster is whole again: a second voter out before
     * is beyond the failure tolerance (the leader, seeing the new death only dead_ms later, may
     * demote the away one meanwhile and be left with a dead voter as the only other one). */
    if (s->ap_kill_at_ms != 0 && now >= s->ap_kill_at_ms && !s->healing && (s->ap_away < 0 || whole(s))) {
        kill_for_good(s);
    }
    away_step(s, now);
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
                      v->ap.last.kind == AUTOPILOT_PROMOTE   ? "promote"
                      : v->ap.last.kind == AUTOPILOT_DEMOTE  ? "demote"
                      : v->ap.last.kind == AUTOPILOT_READMIT ? "re-admit as standby"
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
    }
    if (s->ap_away >= 0 && !s->srv[s->ap_away].stopped) {
        const struct raft_server *back = conf_find(c, s->srv[s->ap_away].id);
        if (back == NULL || back->role == RAFT_SPARE) {
            snprintf(why, cap, "autopilot: server %llu, back after %llu ms away%s, is %s",
                     (unsigned long long)s->srv[s->ap_away].id, (unsigned long long)s->ap_away_ms,
                     s->ap_away_demoted ? " (demoted meanwhile)" : "", back == NULL ? "not a member" : "a spare");
            return false;
        }
    }
    /* the heal loop stops at the first true */
    s->counters[C_AUTOPILOT_REPLACED] += s->ap_killed >= 0;
    s->counters[C_AUTOPILOT_READMITTED] += s->ap_away >= 0 && !s->srv[s->ap_away].stopped && s->ap_away_demoted;
    return true;
}
