/* client: the operators and tools of a simulated run. A step may send one command to a
 * member in leader state (a deposed leader that does not know it yet included), shaped as
 * the API handlers (raftnode/handlers_ownership.c) would propose it from that member's
 * state: project add / remove, move (refused up front unless the target is eligible), pin
 * (with the move in the same entry), rebalance (the scheduler core's plan), drain / undrain,
 * maintenance on / off; and raw assigns a buggy or stale proposer could send (stale from,
 * ineligible targets), which only the state machine can refuse.
 *
 * Project names are never reused in a run (check.c relies on it): a name whose removal was
 * sent is never added again, and a name added a second time is never removed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "sim.h"
#include "storage/command.h"

enum client_op { OP_ADD, OP_READD, OP_REMOVE, OP_MOVE, OP_RAW_ASSIGN, OP_DRAIN, OP_PIN, OP_MAINT };

struct client_call {
    struct sim *sim;
    enum client_op op;
    size_t project; /* index into sim->projects, for add and remove */
    char what[96];
};

/* What a handler would read on the member it runs on, and the random picks of this step. */
struct view {
    struct sim *s;
    struct srv *l;
    struct store_project_row *rows;
    size_t np;
    struct store_engine *engines;
    size_t ne;
    const struct store_project_row *p; /* a random project other than _global, or NULL */
    uint64_t engine; /* a random engine id */
    const struct store_engine *target; /* its row, or NULL */
};

static void client_done(struct srv *l, void *data, uint64_t index, int status, const char *message)
{
    struct client_call *c = data;
    struct sim *s = c->sim;
    (void)l;
    if (!s->closing) {
        if (status == PROTO_OK && c->op == OP_ADD) {
            s->projects[c->project].add_acked = true;
        }
        if (status == PROTO_OK && c->op == OP_REMOVE) {
            s->projects[c->project].remove_acked = true;
        }
        sim_event(s, "client: %s -> status %d at index %llu%s%s", c->what, status, (unsigned long long)index,
                  status != 0 ? ": " : "", status != 0 ? message : "");
    }
    free(c);
}

static struct client_call *call(struct sim *s, enum client_op op, size_t project, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct client_call *call(struct sim *s, enum client_op op, size_t project, const char *fmt, ...)
{
    struct client_call *c = calloc(1, sizeof *c);
    va_list ap;
    if (c == NULL) {
        return NULL;
    }
    c->sim = s;
    c->op = op;
    c->project = project;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
    s->counters[C_CLIENT_CMDS]++;
    return c;
}

/* Submits the command packed in PB (PACK_RC: the command_pack_* result) on L for call C;
 * C's outcome is reported by client_done. A command nobody waits on passes C = NULL. */
static void submit(struct srv *l, struct packbuf *pb, int pack_rc, struct client_call *c)
{
    if (pb_submit(pb, pack_rc, l, c != NULL ? client_done : NULL, c) != 0) {
        free(c);
        return;
    }
    if (c != NULL) {
        sim_event(l->sim, "client -> server %llu: %s", (unsigned long long)l->id, c->what);
    }
}

static size_t project_new(struct sim *s)
{
    if (s->n_projects == s->cap_projects) {
        size_t cap = s->cap_projects ? s->cap_projects * 2 : 32;
        void *p = realloc(s->projects, cap * sizeof *s->projects);
        if (p == NULL) {
            return SIZE_MAX;
        }
        s->projects = p;
        s->cap_projects = cap;
    }
    struct sim_project *p = &s->projects[s->n_projects];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "p%u", s->next_project++);
    return s->n_projects++;
}

static size_t project_find(struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->n_projects; i++) {
        if (strcmp(s->projects[i].name, name) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

static bool can_own(const struct store_engine *e)
{
    return (strcmp(e->mode, "all") == 0 || strcmp(e->mode, "job") == 0) && e->alive && !e->draining;
}

/* ---- one function per command ---- */

static void op_add(struct view *v, bool initial)
{
    struct packbuf pb;
    size_t k = project_new(v->s);
    if (k == SIZE_MAX) {
        return;
    }
    const char *name = v->s->projects[k].name;
    submit(v->l, &pb, command_pack_project_add(pb_packer(&pb), name, strlen(name)),
           call(v->s, OP_ADD, k, "project add %s%s", name, initial ? " (initial)" : ""));
}

/* Adding an existing name is refused; that name is never removed afterwards. */
static void op_readd(struct view *v)
{
    struct packbuf pb;
    size_t k = v->p != NULL ? project_find(v->s, v->p->name) : SIZE_MAX;
    if (k == SIZE_MAX || v->s->projects[k].remove_submitted) {
        return;
    }
    v->s->projects[k].sticky = true;
    submit(v->l, &pb, command_pack_project_add(pb_packer(&pb), v->p->name, strlen(v->p->name)),
           call(v->s, OP_READD, k, "project add %s (exists)", v->p->name));
}

/* Only what the client saw created, at most once, never a re-added name. */
static void op_remove(struct view *v)
{
    struct packbuf pb;
    size_t k = v->p != NULL ? project_find(v->s, v->p->name) : SIZE_MAX;
    if (k == SIZE_MAX || !v->s->projects[k].add_acked || v->s->projects[k].remove_submitted ||
        v->s->projects[k].sticky) {
        return;
    }
    v->s->projects[k].remove_submitted = true;
    submit(v->l, &pb, command_pack_project_remove(pb_packer(&pb), v->p->name, strlen(v->p->name)),
           call(v->s, OP_REMOVE, k, "project remove %s", v->p->name));
}

/* project.move: refused up front unless the target is eligible on this member. */
static void op_move(struct view *v)
{
    struct packbuf pb;
    if (v->p == NULL || v->target == NULL || !can_own(v->target)) {
        return;
    }
    submit(v->l, &pb,
           command_pack_assign(pb_packer(&pb), v->p->name, strlen(v->p->name), v->p->owner, v->engine, "move",
                               sim_now(v->s)),
           call(v->s, OP_MOVE, 0, "project move %s %llu -> %llu", v->p->name, (unsigned long long)v->p->owner,
                (unsigned long long)v->engine));
}

/* A raw assign, as a buggy or stale proposer could send it. */
static void op_raw_assign(struct view *v)
{
    struct packbuf pb;
    if (v->p == NULL) {
        return;
    }
    uint64_t from = rng_permille(&v->s->rng, 500) ? v->p->owner : rng_range(&v->s->rng, 0, v->s->n);
    uint64_t to = rng_range(&v->s->rng, 0, v->s->n);
    submit(v->l, &pb,
           command_pack_assign(pb_packer(&pb), v->p->name, strlen(v->p->name), from, to, "move", sim_now(v->s)),
           call(v->s, OP_RAW_ASSIGN, 0, "raw assign %s %llu -> %llu", v->p->name, (unsigned long long)from,
                (unsigned long long)to));
}

/* rebalance: refused in maintenance mode; otherwise the core's plan as one entry. */
static void op_rebalance(struct view *v)
{
    struct sched_plan plan;
    bool on = false;
    char reason[8];
    if (store_maintenance(&v->l->store, &on, reason, sizeof reason) != 0 || on ||
        scheduler_plan(&v->l->sched, true, &plan) != 0) {
        return;
    }
    sim_event(v->s, "client -> server %llu: rebalance (%zu moves)", (unsigned long long)v->l->id, plan.n);
    scheduler_submit_moves(&v->l->sched, &plan, NULL, NULL);
    sched_plan_free(&plan);
}

static void op_drain(struct view *v)
{
    struct packbuf pb;
    if (v->target == NULL) {
        return;
    }
    bool on = !v->target->draining && rng_permille(&v->s->rng, 600);
    submit(v->l, &pb, command_pack_drain(pb_packer(&pb), v->engine, on),
           call(v->s, OP_DRAIN, 0, "%sdrain %llu", on ? "" : "un", (unsigned long long)v->engine));
}

/* project.pin: pin to an eligible engine, and move there in the same entry; or unpin. */
static void op_pin(struct view *v)
{
    struct packbuf pb;
    const struct store_project_row *p = v->p;
    if (p == NULL) {
        return;
    }
    if (p->pinned != 0 && rng_permille(&v->s->rng, 500)) {
        submit(v->l, &pb, command_pack_pin(pb_packer(&pb), p->name, strlen(p->name), 0),
               call(v->s, OP_PIN, 0, "project unpin %s", p->name));
        return;
    }
    if (v->target == NULL || !can_own(v->target)) {
        return;
    }
    if (p->owner == v->engine) {
        submit(v->l, &pb, command_pack_pin(pb_packer(&pb), p->name, strlen(p->name), v->engine),
               call(v->s, OP_PIN, 0, "project pin %s %llu", p->name, (unsigned long long)v->engine));
        return;
    }
    submit(v->l, &pb, command_pack_pin(pb_packer(&pb), p->name, strlen(p->name), v->engine), NULL);
    submit(v->l, &pb,
           command_pack_assign(pb_packer(&pb), p->name, strlen(p->name), p->owner, v->engine, "move", sim_now(v->s)),
           call(v->s, OP_PIN, 0, "project pin %s %llu (move %llu -> %llu)", p->name, (unsigned long long)v->engine,
                (unsigned long long)p->owner, (unsigned long long)v->engine));
}

static void op_maintenance(struct view *v, bool off)
{
    struct packbuf pb;
    bool on = false;
    char reason[8];
    if (store_maintenance(&v->l->store, &on, reason, sizeof reason) != 0) {
        return;
    }
    bool want = !off && !on && rng_permille(&v->s->rng, 400);
    submit(v->l, &pb, command_pack_maintenance(pb_packer(&pb), want, want ? "sim" : ""),
           call(v->s, OP_MAINT, 0, "maintenance %s%s", want ? "on" : "off", off ? " (healing)" : ""));
}

/* ---- a step ---- */

static void pick(struct view *v)
{
    struct rng *r = &v->s->rng;
    v->p = NULL;
    if (v->np > 1) {
        const struct store_project_row *p = &v->rows[rng_below(r, (unsigned)v->np)];
        v->p = p->name[0] == '_' ? NULL : p;
    }
    v->engine = rng_range(r, 1, v->s->n);
    v->target = NULL;
    for (size_t i = 0; i < v->ne; i++) {
        if (v->engines[i].id == v->engine) {
            v->target = &v->engines[i];
        }
    }
}

void client_step(struct sim *s)
{
    struct rng *r = &s->rng;
    struct srv *leaders[SIM_MAX_SERVERS];
    unsigned n_leaders = 0;
    struct view v = {.s = s};

    for (unsigned i = 0; i < s->n; i++) {
        if (srv_alive(&s->srv[i]) && raft_state(srv_raft(&s->srv[i])) == RAFT_LEADER) {
            leaders[n_leaders++] = &s->srv[i];
        }
    }
    if (n_leaders == 0) {
        return; /* "no leader": the client retries later */
    }
    v.l = leaders[rng_below(r, n_leaders)];
    if (s->healing) {
        bool on = false;
        char reason[8];
        if (store_maintenance(&v.l->store, &on, reason, sizeof reason) == 0 && on && rng_permille(r, 100)) {
            op_maintenance(&v, true);
        }
        return;
    }
    if (s->n_projects == 0) { /* the first leader gets the initial projects */
        unsigned k = rng_range(r, 3, 12);
        for (unsigned i = 0; i < k; i++) {
            op_add(&v, true);
        }
        return;
    }
    if (!rng_permille(r, 180)) {
        return;
    }
    if (store_load_projects(&v.l->store, &v.rows, &v.np) != 0 ||
        store_load_engines(&v.l->store, &v.engines, &v.ne) != 0) {
        sim_fail(s, "server %llu: reading the state for a client: %s", (unsigned long long)v.l->id, v.l->store.errmsg);
        goto out;
    }
    unsigned dice = rng_below(r, 1000);
    pick(&v);
    if (dice < 250) {
        if (v.np < 60) {
            op_add(&v, false);
        }
    } else if (dice < 300) {
        op_readd(&v);
    } else if (dice < 350) {
        op_remove(&v);
    } else if (dice < 550) {
        op_move(&v);
    } else if (dice < 600) {
        op_raw_assign(&v);
    } else if (dice < 700) {
        op_rebalance(&v);
    } else if (dice < 820) {
        op_drain(&v);
    } else if (dice < 950) {
        op_pin(&v);
    } else {
        op_maintenance(&v, false);
    }
out:
    store_free_projects(v.rows, v.np);
    free(v.engines);
}
