/* autopilot: the leader's glue around autopilot_policy.c (see autopilot.h). */
#include "autopilot.h"

#include <string.h>

#include "common/log.h"
#include "config.h"

void autopilot_params_from_config(const struct config *cfg, struct autopilot_params *p, unsigned *initial_voters)
{
    uint64_t healthy = cfg->election_timeout_ms;
    if (healthy > cfg->autopilot_dead_ms / 2) {
        healthy = cfg->autopilot_dead_ms / 2;
    }
    *p = (struct autopilot_params){
        .voters = cfg->autopilot_voters,
        .dead_ms = cfg->autopilot_dead_ms,
        .healthy_ms = healthy,
        .stable_ms = cfg->autopilot_dead_ms,
        .max_lag = AUTOPILOT_MAX_LAG,
        .cleanup = cfg->autopilot_cleanup,
        .cleanup_ms = cfg->autopilot_cleanup_ms,
        .readmit = cfg->autopilot_readmit,
    };
    *initial_voters = 0;
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        *initial_voters += cfg->peers[i].role == CONFIG_ROLE_VOTER;
    }
}

void autopilot_init(struct autopilot *ap, struct raft *raft, const struct autopilot_params *params,
                    unsigned initial_voters)
{
    memset(ap, 0, sizeof *ap);
    ap->raft = raft;
    ap->params = *params;
    ap->initial_voters = initial_voters;
    ap->req.data = ap;
}

static struct autopilot_member *find(struct autopilot *ap, uint64_t id)
{
    for (unsigned i = 0; i < ap->n; i++) {
        if (ap->members[i].id == id) {
            return &ap->members[i];
        }
    }
    return NULL;
}

void autopilot_contact(struct autopilot *ap, uint64_t from, uint64_t now_ms)
{
    struct autopilot_member *m;
    if (!ap->leading || (m = find(ap, from)) == NULL) {
        return; /* a member new to the table is counted from the next refresh on */
    }
    m->last_contact_ms = now_ms;
    if (m->role != RAFT_SPARE) {
        m->tracked = true;
    } else {
        m->heard_as_spare = true; /* came back after its demotion (autopilot_policy.h, rule 3) */
        m->spare_contact_ms = now_ms;
    }
}

/* A new leadership: every member counts as heard from now (the timers are this leader's). */
static void start_leading(struct autopilot *ap, uint64_t now_ms)
{
    const struct raft_configuration *conf = &ap->raft->configuration;
    unsigned voters = 0;
    ap->leading = true;
    ap->leader_since_ms = now_ms;
    ap->n = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        voters += conf->servers[i].role == RAFT_VOTER;
    }
    ap->target = ap->params.voters != 0 ? ap->params.voters : ap->initial_voters != 0 ? ap->initial_voters : voters;
    log_info("autopilot: leading since now; keeping %u voter(s); a voter silent for %llu ms is replaced by a "
             "caught-up standby%s%s", ap->target, (unsigned long long)ap->params.dead_ms,
             ap->params.readmit ? ", a demoted member that comes back is re-admitted as a standby" : "",
             ap->params.cleanup ? ", dead members are removed after raft.autopilot.cleanup-after-ms" : "");
}

bool autopilot_refresh(struct autopilot *ap, uint64_t now_ms)
{
    const struct raft_configuration *conf = &ap->raft->configuration;
    struct autopilot_member old[AUTOPILOT_MAX_MEMBERS];
    unsigned n_old;
    raft_index last = raft_last_index(ap->raft);

    if (raft_state(ap->raft) != RAFT_LEADER) {
        ap->leading = false;
        return false;
    }
    if (!ap->leading) {
        start_leading(ap, now_ms);
    }
    memcpy(old, ap->members, ap->n * sizeof old[0]);
    n_old = ap->n;
    ap->n = 0;
    for (unsigned i = 0; i < conf->n && ap->n < AUTOPILOT_MAX_MEMBERS; i++) {
        const struct raft_server *s = &conf->servers[i];
        struct autopilot_member *m = &ap->members[ap->n++];
        const struct autopilot_member *prev = NULL;
        for (unsigned j = 0; j < n_old; j++) {
            if (old[j].id == s->id) {
                prev = &old[j];
            }
        }
        if (prev != NULL) {
            *m = *prev;
            if (prev->role == RAFT_SPARE && s->role != RAFT_SPARE && !prev->tracked) {
                m->tracked = true; /* replicated from now on: counted from now */
                m->last_contact_ms = now_ms;
            }
        } else {
            *m = (struct autopilot_member){
                .id = s->id, .tracked = s->role != RAFT_SPARE, .last_contact_ms = now_ms};
        }
        if (m->role != s->role) {
            m->heard_as_spare = false; /* only what arrives while it is a spare counts */
        }
        m->role = s->role;
        if (s->id == ap->raft->id) {
            m->last_contact_ms = now_ms;
            m->tracked = true;
            m->match_index = last;
        } else if (s->role != RAFT_SPARE) {
            raft_index match = 0;
            if (raft_match_index(ap->raft, s->id, &match) == 0) {
                m->match_index = match;
            }
        }
        autopilot_observe(&ap->params, m, ap->raft->id, last, now_ms);
    }
    return true;
}

void autopilot_view(const struct autopilot *ap, uint64_t now_ms, struct autopilot_view *v)
{
    *v = (struct autopilot_view){
        .members = ap->members,
        .n = ap->n,
        .leader_id = ap->raft->id,
        .last_index = raft_last_index(ap->raft),
        .now_ms = now_ms,
        .change_pending = ap->inflight || ap->raft->configuration_uncommitted_index != 0 ||
                          (raft_state(ap->raft) == RAFT_LEADER && ap->raft->leader_state.promotee_id != 0),
    };
}

static const char *kind_name(enum autopilot_kind k)
{
    switch (k) {
        case AUTOPILOT_PROMOTE: return "promote to voter";
        case AUTOPILOT_DEMOTE: return "demote to spare";
        case AUTOPILOT_REMOVE: return "remove";
        case AUTOPILOT_READMIT: return "re-admit as standby";
        case AUTOPILOT_NONE: break;
    }
    return "none";
}

static void change_cb(struct raft_change *req, int status)
{
    struct autopilot *ap = req->data;
    ap->inflight = false;
    ap->last_status = status;
    if (status != 0) {
        log_warn("autopilot: %s member %llu failed: %s; the next leader tick decides again",
                 kind_name(ap->last.kind), (unsigned long long)ap->last.id, raft_strerror(status));
    } else {
        log_info("autopilot: %s member %llu done (%s)", kind_name(ap->last.kind), (unsigned long long)ap->last.id,
                 ap->last.reason);
    }
}

void autopilot_tick(struct autopilot *ap, uint64_t now_ms)
{
    struct autopilot_view v;
    struct autopilot_params p;
    struct autopilot_action a;
    int rv;

    if (!autopilot_refresh(ap, now_ms)) {
        return;
    }
    autopilot_view(ap, now_ms, &v);
    p = ap->params;
    p.voters = ap->target;
    a = autopilot_decide(&p, &v);
    if (a.kind == AUTOPILOT_NONE) {
        return;
    }
    if (a.kind == AUTOPILOT_REMOVE) {
        rv = raft_remove(ap->raft, &ap->req, a.id, change_cb);
    } else {
        int role = a.kind == AUTOPILOT_PROMOTE ? RAFT_VOTER : a.kind == AUTOPILOT_READMIT ? RAFT_STANDBY : RAFT_SPARE;
        rv = raft_assign(ap->raft, &ap->req, a.id, role, change_cb);
    }
    ap->last = a;
    ap->last_at_ms = now_ms;
    ap->last_status = rv;
    if (rv != 0) {
        /* e.g. RAFT_CANTCHANGE: an operator's change got there first; decided again next tick */
        log_debug("autopilot: %s member %llu not started: %s", kind_name(a.kind), (unsigned long long)a.id,
                  raft_strerror(rv));
        return;
    }
    ap->inflight = true;
    ap->actions++;
    log_warn("autopilot: %s member %llu (%s)", kind_name(a.kind), (unsigned long long)a.id, a.reason);
}
