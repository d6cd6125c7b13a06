/* check: the oracles of the simulation (DESIGN.md "Invariants").
 *
 * Invariant 1 (epoch never decreases, changes exactly when the owner changes): after every
 *   apply or restore on a server, the ownership history rows the state machine wrote for
 *   the indexes crossed are replayed on that server's previous (owner, epoch) image; every
 *   row must start from the owner of the image with epoch + 1, and the replay must end on
 *   the new state exactly: an owner change without a row, an epoch change without an owner
 *   change, a skipped or repeated epoch all fail. Project names are never reused in a run.
 * Invariant 2 (at most one engine holds a valid lease on a project at any instant): after
 *   every fixture event that changed a store or a lease, and after every tick, engine E
 *   "holds" project P when E's own member is running, E's member's store says E owns P, E's
 *   lease (send time of its last acknowledged heartbeat + timeout - margin) has not run out,
 *   and P is not in its hand-over grace on E's member (engine.c). Two holders fail the run;
 *   the report says whether the older one lost the project by a failover (declared dead)
 *   or by a hand-over from a live engine (move, rebalance, drain, single-engine mode).
 * Invariant 3 (only alive, non-draining all/job engines receive projects): each applied
 *   entry is decoded again and its commands replayed over a copy of the engine table taken
 *   before it; every accepted assign must name an eligible target, outside maintenance.
 * Invariant 5 (equal state at equal index): the store_hash of every server at every 8th
 *   applied index and after every restore is compared with the first one seen at that index;
 *   at the end, after healing, every server must reach the same index and hash.
 * Convergence and invariant 4 at the end: every project is owned by an eligible engine when
 *   one exists; every acknowledged project_add exists unless a removal was sent, every
 *   acknowledged project_remove is gone. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
/* A test oracle may use storage's private decoder: it re-reads what the state machine read. */
#include "storage/command_decode.h"

/* ---- invariant 3 ---- */

static bool can_own_mode(const char *mode)
{
    return strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0;
}

static struct store_engine *engine_find(struct store_engine *e, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].id == id) {
            return &e[i];
        }
    }
    return NULL;
}

static const struct store_project_row *snap_find(const struct store_project_row *rows, size_t n, const char *name);

/* An accepted owner change: remembered once (by the first server applying it) with whether
 * the old owner was alive, to explain an invariant-2 failure. (The hand-over grace itself is
 * started by store_each_handover, as in raftnode: cluster.c.) */
static void record_change(struct srv *v, uint64_t index, const struct command *c, struct store_engine *eng, size_t ne)
{
    struct sim *s = v->sim;
    char name[16];
    const struct store_engine *from = engine_find(eng, ne, c->u.assign.from);
    const struct store_project_row *before;
    bool from_alive;

    if (c->u.assign.len >= sizeof name) {
        return; /* not one of the sim's names */
    }
    memcpy(name, c->u.assign.project, c->u.assign.len);
    name[c->u.assign.len] = '\0';
    before = snap_find(v->snap, v->n_snap, name);
    from_alive = c->u.assign.from != 0 ? from != NULL && from->alive : before != NULL && before->epoch > 0;
    for (size_t k = s->n_changes; k > 0 && s->changes[k - 1].index >= index; k--) {
        if (s->changes[k - 1].index == index && strcmp(s->changes[k - 1].name, name) == 0) {
            return; /* another server applied this index first */
        }
    }
    if (s->n_changes == s->cap_changes) {
        size_t cap = s->cap_changes ? s->cap_changes * 2 : 64;
        void *p = realloc(s->changes, cap * sizeof *s->changes);
        if (p == NULL) {
            return;
        }
        s->changes = p;
        s->cap_changes = cap;
    }
    struct sim_change *ch = &s->changes[s->n_changes++];
    memcpy(ch->name, name, sizeof name);
    ch->index = index;
    ch->from = c->u.assign.from;
    ch->from_alive = from_alive;
}

void check_after_apply(struct srv *v, uint64_t index, const void *buf, size_t len,
                       const struct store_engine *engines_before, size_t n_before, bool maintenance,
                       const struct store_results *r)
{
    struct sim *s = v->sim;
    struct command_entry e;
    char err[256];
    struct store_engine *eng = NULL;
    size_t ne = n_before;

    if (r->n == 0) {
        return;
    }
    if (command_entry_decode(&e, buf, len, err, sizeof err) != 0) {
        sim_fail(s, "server %llu: index %llu applied but does not decode: %s", (unsigned long long)v->id,
                 (unsigned long long)index, err);
        command_entry_free(&e);
        return;
    }
    eng = malloc((n_before + e.n + 1) * sizeof *eng);
    if (eng == NULL) {
        command_entry_free(&e);
        return;
    }
    if (n_before > 0) {
        memcpy(eng, engines_before, n_before * sizeof *eng);
    }
    for (uint32_t i = 0; i < e.n && i < r->n; i++) {
        struct command c;
        struct store_engine *x;
        if (store_result_refused(&r->cmds[i]) != 0 || command_decode(&e, i, &c, err, sizeof err) != 0) {
            continue; /* refused: left no trace */
        }
        switch (c.type) {
        case COMMAND_ENGINE_SET:
            x = engine_find(eng, ne, c.u.engine.id);
            if (x == NULL) {
                x = &eng[ne++];
                memset(x, 0, sizeof *x);
                x->id = c.u.engine.id;
                x->alive = true;
            }
            snprintf(x->mode, sizeof x->mode, "%s", c.u.engine.mode);
            x->race_enabled = c.u.engine.race_enabled;
            break;
        case COMMAND_HEARTBEAT:
            for (uint32_t k = 0; k < c.u.heartbeat.n; k++) {
                if ((x = engine_find(eng, ne, command_heartbeat_id(&c, k))) != NULL) {
                    x->alive = true;
                }
            }
            break;
        case COMMAND_ENGINE_DEAD:
            if ((x = engine_find(eng, ne, c.u.engine.id)) != NULL) {
                x->alive = false;
            }
            break;
        case COMMAND_DRAIN:
            if ((x = engine_find(eng, ne, c.u.drain.id)) != NULL) {
                x->draining = c.u.drain.on;
            }
            break;
        case COMMAND_MAINTENANCE: maintenance = c.u.maintenance.on; break;
        case COMMAND_ASSIGN:
            if (c.u.assign.to == 0 && c.u.assign.from == 0) {
                break;
            }
            if (maintenance && c.u.assign.from != c.u.assign.to) {
                sim_fail(s,
                         "invariant 3: server %llu index %llu: assign %.*s %llu -> %llu accepted in maintenance mode",
                         (unsigned long long)v->id, (unsigned long long)index, (int)c.u.assign.len, c.u.assign.project,
                         (unsigned long long)c.u.assign.from, (unsigned long long)c.u.assign.to);
            }
            if (c.u.assign.from != c.u.assign.to) {
                record_change(v, index, &c, eng, ne);
            }
            if (c.u.assign.to != 0) {
                x = engine_find(eng, ne, c.u.assign.to);
                if (x == NULL || !can_own_mode(x->mode) || !x->alive || x->draining) {
                    sim_fail(s, "invariant 3: server %llu index %llu: %.*s assigned to engine %llu which is %s",
                             (unsigned long long)v->id, (unsigned long long)index, (int)c.u.assign.len,
                             c.u.assign.project, (unsigned long long)c.u.assign.to,
                             x == NULL                ? "unknown"
                             : !can_own_mode(x->mode) ? "a query engine"
                             : !x->alive              ? "dead"
                                                      : "draining");
                }
            }
            break;
        default: break;
        }
    }
    free(eng);
    command_entry_free(&e);
}

/* ---- invariants 1 and 5 ---- */

static int row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_project_row *)a)->name, ((const struct store_project_row *)b)->name);
}

static const struct store_project_row *snap_find(const struct store_project_row *rows, size_t n, const char *name)
{
    struct store_project_row key = {.name = (char *)name};
    return bsearch(&key, rows, n, sizeof *rows, row_cmp);
}

struct hist_row {
    char name[STORE_NAME_MAX + 1];
    uint64_t from, to, epoch, index;
};

/* History rows written for raft indexes in (lo, hi], in order. */
static int load_history(struct srv *v, uint64_t lo, uint64_t hi, struct hist_row **out, size_t *n)
{
    size_t cap = 0;
    int rc = SQLITE_OK;
    *out = NULL;
    *n = 0;
    if (v->history_stmt == NULL) { /* finalized by check_close_server */
        rc = sqlite3_prepare_v2(v->store.db,
                                "SELECT project, coalesce(from_owner, 0), coalesce(to_owner, 0), epoch, raft_index "
                                "FROM history WHERE raft_index > ?1 AND raft_index <= ?2 ORDER BY seq",
                                -1, &v->history_stmt, NULL);
    }
    sqlite3_stmt *st = v->history_stmt;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct hist_row *p = realloc(*out, cap * sizeof *p);
            if (p == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = p;
        }
        struct hist_row *h = &(*out)[(*n)++];
        snprintf(h->name, sizeof h->name, "%s", (const char *)sqlite3_column_text(st, 0));
        h->from = (uint64_t)sqlite3_column_int64(st, 1);
        h->to = (uint64_t)sqlite3_column_int64(st, 2);
        h->epoch = (uint64_t)sqlite3_column_int64(st, 3);
        h->index = (uint64_t)sqlite3_column_int64(st, 4);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void check_inv1(struct srv *v, struct store_project_row *now, size_t n_now)
{
    struct sim *s = v->sim;
    struct hist_row *h = NULL;
    size_t nh = 0;

    if (load_history(v, v->snap_index, v->store.applied_index, &h, &nh) != 0) {
        sim_fail(s, "server %llu: reading history: %s", (unsigned long long)v->id, sqlite3_errmsg(v->store.db));
        return;
    }
    for (size_t i = 0; i < n_now && !s->failed; i++) {
        const struct store_project_row *p = &now[i];
        const struct store_project_row *old = snap_find(v->snap, v->n_snap, p->name);
        uint64_t owner = old != NULL ? old->owner : 0, epoch = old != NULL ? old->epoch : 0;
        for (size_t k = 0; k < nh; k++) {
            if (strcmp(h[k].name, p->name) != 0) {
                continue;
            }
            if (h[k].from != owner || h[k].epoch != epoch + 1 || h[k].to == h[k].from) {
                sim_fail(s,
                         "invariant 1: server %llu, project %s: history row at index %llu says %llu -> %llu "
                         "epoch %llu, but the owner was %llu at epoch %llu",
                         (unsigned long long)v->id, p->name, (unsigned long long)h[k].index,
                         (unsigned long long)h[k].from, (unsigned long long)h[k].to, (unsigned long long)h[k].epoch,
                         (unsigned long long)owner, (unsigned long long)epoch);
                break;
            }
            owner = h[k].to;
            epoch = h[k].epoch;
        }
        if (!s->failed && (owner != p->owner || epoch != p->epoch)) {
            sim_fail(s,
                     "invariant 1: server %llu, project %s: (owner, epoch) went from (%llu, %llu) to (%llu, %llu) "
                     "between applied index %llu and %llu, but its history explains (%llu, %llu)",
                     (unsigned long long)v->id, p->name, (unsigned long long)(old != NULL ? old->owner : 0),
                     (unsigned long long)(old != NULL ? old->epoch : 0), (unsigned long long)p->owner,
                     (unsigned long long)p->epoch, (unsigned long long)v->snap_index,
                     (unsigned long long)v->store.applied_index, (unsigned long long)owner, (unsigned long long)epoch);
        }
    }
    free(h);
}

/* store_hash prepares its statements on every call (not a hot path in raftnode); hashing
 * every index on every server was most of the run time, so only every SIM_HASH_EVERY-th index
 * and every restored image are hashed: a divergence persists, so it is still caught. */
#define SIM_HASH_EVERY 8

static void check_inv5(struct srv *v, bool restored)
{
    struct sim *s = v->sim;
    uint64_t index = v->store.applied_index, hash;
    if (index % SIM_HASH_EVERY != 0 && !restored) {
        return;
    }
    if (store_hash(&v->store, &hash) != 0) {
        sim_fail(s, "server %llu: store_hash: %s", (unsigned long long)v->id, v->store.errmsg);
        return;
    }
    if (index >= s->cap_hash) {
        size_t cap = s->cap_hash ? s->cap_hash : 256;
        while (cap <= index) {
            cap *= 2;
        }
        uint64_t *hs = realloc(s->hash_at, cap * sizeof *hs);
        if (hs == NULL) {
            return;
        }
        s->hash_at = hs;
        bool *k = realloc(s->hash_known, cap * sizeof *k);
        if (k == NULL) {
            return;
        }
        s->hash_known = k;
        memset(s->hash_known + s->cap_hash, 0, (cap - s->cap_hash) * sizeof *k);
        s->cap_hash = cap;
    }
    if (!s->hash_known[index]) {
        s->hash_known[index] = true;
        s->hash_at[index] = hash;
    } else if (s->hash_at[index] != hash) {
        sim_fail(s, "invariant 5: server %llu has hash %016llx at applied index %llu, another server had %016llx",
                 (unsigned long long)v->id, (unsigned long long)hash, (unsigned long long)index,
                 (unsigned long long)s->hash_at[index]);
    }
}

void check_after_change(struct srv *v, bool restored)
{
    struct sim *s = v->sim;
    struct store_project_row *now = NULL;
    size_t n_now = 0;

    if (v->store.applied_index == v->snap_index) {
        return;
    }
    if (store_load_projects(&v->store, &now, &n_now) != 0) {
        sim_fail(s, "server %llu: store_load_projects: %s", (unsigned long long)v->id, v->store.errmsg);
        return;
    }
    check_inv1(v, now, n_now);
    check_inv5(v, restored);
    store_free_projects(v->snap, v->n_snap);
    v->snap = now; /* ordered by name (store_load_projects) */
    v->n_snap = n_now;
    v->snap_index = v->store.applied_index;
    s->dirty = true;
}

/* ---- invariant 2 ---- */

/* The newest history row on V moving PROJECT away from FROM: its index, or 0. */
static uint64_t move_away_index(struct srv *v, const char *project, uint64_t from, char *reason, size_t cap)
{
    sqlite3_stmt *st = NULL;
    uint64_t index = 0;
    reason[0] = '\0';
    if (sqlite3_prepare_v2(v->store.db,
                           "SELECT raft_index, reason FROM history WHERE project = ?1 AND from_owner = ?2 "
                           "ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
        if (sqlite3_step(st) == SQLITE_ROW) {
            index = (uint64_t)sqlite3_column_int64(st, 0);
            snprintf(reason, cap, "%s", (const char *)sqlite3_column_text(st, 1));
        }
    }
    sqlite3_finalize(st);
    return index;
}

/* Engine V holds P at NOW: its member runs, says V owns P, its lease is valid, and P is not
 * in its hand-over grace. */
static bool holds(struct srv *v, const struct store_project_row *p, uint64_t now)
{
    return p->owner == v->id && srv_alive(v) && !v->refused && lease_valid(&v->lease, now) &&
           engine_grace_until(v, p->name) <= now;
}

void check_leases(struct sim *s)
{
    uint64_t now = sim_now(s);
    s->counters[C_INV2_CHECKS]++;
    for (unsigned i = 0; i < s->n && !s->failed; i++) {
        struct srv *a = &s->srv[i];
        if (!srv_alive(a) || !lease_valid(&a->lease, now)) {
            continue;
        }
        for (size_t k = 0; k < a->n_snap; k++) {
            const struct store_project_row *p = &a->snap[k];
            if (!holds(a, p, now)) {
                continue;
            }
            for (unsigned j = i + 1; j < s->n; j++) {
                struct srv *b = &s->srv[j];
                const struct store_project_row *q = snap_find(b->snap, b->n_snap, p->name);
                if (q == NULL || !holds(b, q, now)) {
                    continue;
                }
                /* The newer view (higher epoch) moved the project away from the older one:
                 * was that engine alive then (a hand-over) or declared dead (a failover)? */
                struct srv *newer = q->epoch > p->epoch ? b : a, *older = newer == b ? a : b;
                char reason[16];
                uint64_t index = move_away_index(newer, p->name, older->id, reason, sizeof reason);
                const char *kind = "unknown";
                for (size_t c = 0; c < s->n_changes; c++) {
                    if (s->changes[c].index == index && strcmp(s->changes[c].name, p->name) == 0) {
                        kind =
                            s->changes[c].from_alive ? "hand-over from a live engine" : "failover from a dead engine";
                    }
                }
                sim_fail(s,
                         "invariant 2: at %llu ms project %s is held by engine %llu (its member at index %llu says "
                         "epoch %llu, lease until %llu) and by engine %llu (index %llu, epoch %llu, lease until %llu); "
                         "engine %llu lost it at index %llu (reason %s, %s)",
                         (unsigned long long)now, p->name, (unsigned long long)a->id,
                         (unsigned long long)a->store.applied_index, (unsigned long long)p->epoch,
                         (unsigned long long)a->lease.deadline, (unsigned long long)b->id,
                         (unsigned long long)b->store.applied_index, (unsigned long long)q->epoch,
                         (unsigned long long)b->lease.deadline, (unsigned long long)older->id,
                         (unsigned long long)index, reason[0] != '\0' ? reason : "none", kind);
                return;
            }
        }
    }
}

/* ---- the end ---- */

void check_final(struct sim *s)
{
    struct srv *v0 = NULL; /* the first running server (a stopped one is left behind) */
    uint64_t h0 = 0;
    struct store_engine *engines = NULL;
    size_t ne = 0;
    struct store_project_row *rows = NULL;
    size_t np = 0;

    for (unsigned i = 0; i < s->n && !s->failed; i++) {
        struct srv *v = &s->srv[i];
        uint64_t h;
        if (v->stopped) {
            continue;
        }
        if (v0 == NULL) {
            v0 = v;
        }
        if (v->store.applied_index != v0->store.applied_index) {
            sim_fail(s, "final: server %llu applied %llu, server %llu applied %llu", (unsigned long long)v->id,
                     (unsigned long long)v->store.applied_index, (unsigned long long)v0->id,
                     (unsigned long long)v0->store.applied_index);
        } else if (store_hash(&v->store, &h) != 0) {
            sim_fail(s, "final: store_hash: %s", v->store.errmsg);
        } else if (v == v0) {
            h0 = h;
        } else if (h != h0) {
            sim_fail(s, "invariant 5 (final): server %llu hash %016llx differs from server %llu's %016llx at index %llu",
                     (unsigned long long)v->id, (unsigned long long)h, (unsigned long long)v0->id,
                     (unsigned long long)h0, (unsigned long long)v->store.applied_index);
        }
    }
    if (s->failed || v0 == NULL) {
        if (v0 == NULL) {
            sim_fail(s, "final: every server stopped");
        }
        return;
    }
    if (store_load_engines(&v0->store, &engines, &ne) != 0 || store_load_projects(&v0->store, &rows, &np) != 0) {
        sim_fail(s, "final: reading the state: %s", v0->store.errmsg);
        goto out;
    }
    uint64_t single = 0;
    bool any_eligible = false;
    bool eligible[SIM_MAX_SERVERS + 1] = {false};
    for (size_t i = 0; i < ne; i++) {
        if (!engines[i].race_enabled && can_own_mode(engines[i].mode)) {
            single = engines[i].id;
        }
    }
    unsigned stopped = 0;
    for (unsigned i = 0; i < s->n; i++) {
        stopped += s->srv[i].stopped;
    }
    if (ne + stopped < s->n) {
        sim_fail(s, "final: %zu engines registered, %u run (%u stopped)", ne, s->n, stopped);
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        const struct store_engine *e = &engines[i];
        if (e->id >= 1 && e->id <= s->n && s->srv[e->id - 1].stopped) {
            /* declared dead (converged() waited for it), or the single engine, never declared */
            if (e->alive && e->id <= SIM_MAX_SERVERS) {
                eligible[e->id] = single == e->id && !e->draining;
                any_eligible = any_eligible || eligible[e->id];
            }
            continue;
        }
        if (!e->alive) {
            sim_fail(s, "final: engine %llu still dead although it heartbeats to a stable leader",
                     (unsigned long long)e->id);
            goto out;
        }
        if (e->id <= SIM_MAX_SERVERS) {
            eligible[e->id] = (single != 0 ? e->id == single : can_own_mode(e->mode)) && !e->draining;
            any_eligible = any_eligible || eligible[e->id];
        }
    }
    for (size_t i = 0; i < np && any_eligible; i++) {
        if (rows[i].owner == 0 || rows[i].owner > SIM_MAX_SERVERS || !eligible[rows[i].owner]) {
            sim_fail(s, "final: project %s is owned by %llu, not by an eligible engine, after healing", rows[i].name,
                     (unsigned long long)rows[i].owner);
            goto out;
        }
    }
    for (size_t i = 0; i < s->n_projects; i++) {
        const struct sim_project *p = &s->projects[i];
        int exists = store_project_exists(&v0->store, p->name, strlen(p->name));
        if (p->add_acked && !p->remove_submitted && exists != 1) {
            sim_fail(s, "invariant 4: project %s was acknowledged as added and never removed, but is gone", p->name);
            goto out;
        }
        if (p->remove_acked && exists != 0) {
            sim_fail(s, "invariant 4: project %s was acknowledged as removed, but exists", p->name);
            goto out;
        }
    }
out:
    free(engines);
    store_free_projects(rows, np);
}

void check_close_server(struct srv *v)
{
    sqlite3_finalize(v->history_stmt);
    v->history_stmt = NULL;
}

void check_free(struct sim *s)
{
    free(s->changes);
    s->changes = NULL;
    s->n_changes = s->cap_changes = 0;
    free(s->hash_at);
    free(s->hash_known);
    s->hash_at = NULL;
    s->hash_known = NULL;
    s->cap_hash = 0;
}

/* Failover liveness (DESIGN.md "Liveness"; the safety invariants do not need it): under a
 * leader that has led with a quorum it reaches both ways, maintenance off, the whole time, an
 * engine whose heartbeats have not reached that leader for the heart-beat timeout is dead in
 * the leader's state SIM_FAILOVER_SLACK_MS later at the latest (the engine_dead entry is
 * proposed at the next tick and commits within a few round trips). Single-engine-mode
 * engines never fail over. */
void check_failover(struct sim *s)
{
    uint64_t now = sim_now(s);
    struct srv *l = sim_leader(s);
    struct store_engine *e = NULL;
    size_t ne = 0;
    bool maintenance = true;
    char reason[8];
    unsigned reach = 0;

    for (unsigned j = 0; j < s->n; j++) {
        if (&s->srv[j] != l) {
            s->srv[j].stable_since_ms = now; /* not the leader at this tick (or frozen) */
        }
    }
    if (l == NULL) {
        return;
    }
    for (unsigned j = 0; j < s->n; j++) {
        reach += !s->srv[j].stopped && link_up(s, l->idx, j) && link_up(s, j, l->idx);
    }
    if (!l->sched.leading || reach <= s->n / 2 || l->disk_failed || l->glue.failed ||
        store_maintenance(&l->store, &maintenance, reason, sizeof reason) != 0 || maintenance) {
        l->stable_since_ms = now;
        return;
    }
    if (store_load_engines(&l->store, &e, &ne) != 0) {
        sim_fail(s, "server %llu: reading the engines: %s", (unsigned long long)l->id, l->store.errmsg);
        return;
    }
    for (size_t k = 0; k < ne && !s->failed; k++) {
        if (!e[k].alive || !e[k].race_enabled || e[k].id == 0 || e[k].id > s->n) {
            continue;
        }
        uint64_t from = l->hb_heard_ms[e[k].id - 1];
        from = from > l->stable_since_ms ? from : l->stable_since_ms;
        if (now >= from + SIM_HB_TIMEOUT_MS + SIM_FAILOVER_SLACK_MS) {
            sim_fail(s,
                     "failover: engine %llu unheard by leader %llu since %llu ms (the leader with a quorum and "
                     "maintenance off since %llu ms), still alive in its state at %llu ms",
                     (unsigned long long)e[k].id, (unsigned long long)l->id,
                     (unsigned long long)l->hb_heard_ms[e[k].id - 1], (unsigned long long)l->stable_since_ms,
                     (unsigned long long)now);
        } else if (now >= from + SIM_HB_TIMEOUT_MS) {
            s->counters[C_FAILOVER_CHECKS]++;
        }
    }
    free(e);
}
