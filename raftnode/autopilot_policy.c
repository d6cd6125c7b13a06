/* autopilot_policy: the autopilot's pure rules (see autopilot_policy.h). */
#include "autopilot_policy.h"

#include <raft.h>
#include <stddef.h>

static unsigned quorum(unsigned voters)
{
    return voters / 2 + 1;
}

static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

enum autopilot_health autopilot_health(const struct autopilot_params *p, const struct autopilot_member *m,
                                       uint64_t leader_id, uint64_t last_index, uint64_t now_ms)
{
    if (m->id == leader_id) {
        return AUTOPILOT_HEALTHY;
    }
    if (m->role == RAFT_SPARE && m->heard_as_spare && since(now_ms, m->spare_contact_ms) < p->dead_ms) {
        return AUTOPILOT_BACK;
    }
    if (!m->tracked) {
        return AUTOPILOT_UNKNOWN;
    }
    uint64_t silent = since(now_ms, m->last_contact_ms);
    if (silent >= p->dead_ms) {
        return AUTOPILOT_DEAD;
    }
    if (m->role == RAFT_SPARE) {
        return AUTOPILOT_UNKNOWN; /* tracked but not dead yet: the leader sends it nothing now */
    }
    if (silent > p->healthy_ms) {
        return AUTOPILOT_UNREACHABLE;
    }
    if (m->match_index + p->max_lag < last_index) {
        return AUTOPILOT_LAGGING;
    }
    return AUTOPILOT_HEALTHY;
}

const char *autopilot_health_name(enum autopilot_health h)
{
    switch (h) {
        case AUTOPILOT_HEALTHY: return "healthy";
        case AUTOPILOT_LAGGING: return "lagging";
        case AUTOPILOT_UNREACHABLE: return "unreachable";
        case AUTOPILOT_DEAD: return "dead";
        case AUTOPILOT_UNKNOWN: return "unknown";
        case AUTOPILOT_BACK: return "back";
    }
    return "unknown";
}

void autopilot_observe(const struct autopilot_params *p, struct autopilot_member *m, uint64_t leader_id,
                       uint64_t last_index, uint64_t now_ms)
{
    if (autopilot_health(p, m, leader_id, last_index, now_ms) != AUTOPILOT_HEALTHY) {
        m->stable = false;
        m->stable_since_ms = 0;
    } else if (!m->stable) {
        m->stable = true;
        m->stable_since_ms = now_ms;
    }
}

static bool healthy(const struct autopilot_params *p, const struct autopilot_view *v, const struct autopilot_member *m)
{
    return autopilot_health(p, m, v->leader_id, v->last_index, v->now_ms) == AUTOPILOT_HEALTHY;
}

static bool dead(const struct autopilot_view *v, const struct autopilot_member *m, uint64_t after_ms)
{
    return m->id != v->leader_id && m->tracked && since(v->now_ms, m->last_contact_ms) >= after_ms;
}

void autopilot_summarise(const struct autopilot_params *p, const struct autopilot_view *v,
                         struct autopilot_summary *out)
{
    *out = (struct autopilot_summary){.healthy = true};
    for (unsigned i = 0; i < v->n; i++) {
        const struct autopilot_member *m = &v->members[i];
        bool ok = healthy(p, v, m);
        if (m->role == RAFT_VOTER) {
            out->voters++;
            out->healthy_voters += ok;
        }
        if (m->role != RAFT_SPARE && !ok) {
            out->healthy = false;
        }
    }
    if (out->voters == 0 || out->healthy_voters < quorum(out->voters)) {
        out->healthy = false;
        out->failure_tolerance = 0;
    } else {
        out->failure_tolerance = out->healthy_voters - quorum(out->voters);
    }
}

/* The stable, caught-up standby with the highest match index (lowest id on a tie), or NULL. */
static const struct autopilot_member *best_standby(const struct autopilot_params *p, const struct autopilot_view *v)
{
    const struct autopilot_member *best = NULL;
    for (unsigned i = 0; i < v->n; i++) {
        const struct autopilot_member *m = &v->members[i];
        if (m->role != RAFT_STANDBY || !healthy(p, v, m) || !m->stable ||
            since(v->now_ms, m->stable_since_ms) < p->stable_ms) {
            continue;
        }
        if (best == NULL || m->match_index > best->match_index ||
            (m->match_index == best->match_index && m->id < best->id)) {
            best = m;
        }
    }
    return best;
}

struct autopilot_action autopilot_decide(const struct autopilot_params *p, const struct autopilot_view *v)
{
    struct autopilot_action none = {AUTOPILOT_NONE, 0, NULL};
    struct autopilot_summary s;
    const struct autopilot_member *dead_voter = NULL, *standby;
    unsigned n_dead_voters = 0, target;

    if (v->change_pending) {
        return none;
    }
    autopilot_summarise(p, v, &s);
    if (s.voters == 0 || s.healthy_voters < quorum(s.voters)) {
        return none; /* nothing could commit; never make it worse */
    }
    for (unsigned i = 0; i < v->n; i++) {
        const struct autopilot_member *m = &v->members[i];
        if (m->role == RAFT_VOTER && dead(v, m, p->dead_ms)) {
            n_dead_voters++;
            if (dead_voter == NULL || m->last_contact_ms < dead_voter->last_contact_ms) {
                dead_voter = m; /* the longest dead first */
            }
        }
    }
    target = p->voters != 0 ? p->voters : s.voters;

    /* 1. Demote a dead voter first, when a stable standby is there to replace it (or the voters
     * stay at the target without it). First, because libraft's non-voters deny every vote: had
     * the standby been promoted first and gone away before the new configuration reached it,
     * the voters would need its vote, which it would never give (it still believes it is a
     * standby), and no leader could ever be elected again. Demoted first, the dead voter's
     * place is free and the live voters are a quorum of every configuration on the way. */
    standby = best_standby(p, v);
    if (dead_voter != NULL && s.voters - 1 >= 1 && s.healthy_voters >= quorum(s.voters - 1) &&
        (standby != NULL || s.voters - 1 >= target)) {
        return (struct autopilot_action){AUTOPILOT_DEMOTE, dead_voter->id,
                                         standby != NULL ? "dead voter, a standby replaces it" : "dead voter"};
    }
    /* 2. Promote while fewer voters than the target are alive; the new voter adds itself to the
     * healthy ones, so the quorum holds. */
    if (standby != NULL && s.voters - n_dead_voters < target && s.healthy_voters + 1 >= quorum(s.voters + 1)) {
        return (struct autopilot_action){AUTOPILOT_PROMOTE, standby->id,
                                         n_dead_voters > 0 ? "replaces a dead voter" : "fewer voters than raft.autopilot.voters"};
    }
    /* 3. Re-admit a spare that came back (see autopilot_policy.h): as a standby, which gets the
     * log but does not vote, so the voters and the quorum stay as they are. The one heard from
     * last first (lowest id on a tie). */
    if (p->readmit) {
        const struct autopilot_member *back = NULL;
        for (unsigned i = 0; i < v->n; i++) {
            const struct autopilot_member *m = &v->members[i];
            if (m->role != RAFT_SPARE || autopilot_health(p, m, v->leader_id, v->last_index, v->now_ms) != AUTOPILOT_BACK) {
                continue;
            }
            if (back == NULL || m->spare_contact_ms > back->spare_contact_ms ||
                (m->spare_contact_ms == back->spare_contact_ms && m->id < back->id)) {
                back = m;
            }
        }
        if (back != NULL) {
            return (struct autopilot_action){AUTOPILOT_READMIT, back->id, "a demoted member is back: heard from as a spare"};
        }
    }
    /* 4. Cleanup: the longest dead tracked member past cleanup_ms. */
    if (p->cleanup) {
        const struct autopilot_member *victim = NULL;
        for (unsigned i = 0; i < v->n; i++) {
            const struct autopilot_member *m = &v->members[i];
            if (!dead(v, m, p->cleanup_ms)) {
                continue;
            }
            if (m->role == RAFT_VOTER && (s.voters - 1 < 1 || s.healthy_voters < quorum(s.voters - 1))) {
                continue;
            }
            if (victim == NULL || m->last_contact_ms < victim->last_contact_ms) {
                victim = m;
            }
        }
        if (victim != NULL) {
            return (struct autopilot_action){AUTOPILOT_REMOVE, victim->id, "dead past raft.autopilot.cleanup-after-ms"};
        }
    }
    return none;
}
