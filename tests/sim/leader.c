/* leader: the simulation's host of raftnode/scheduler.c, the file raftnode runs (linked,
 * not copied): the fixture's virtual time for both of its clocks, "running" as long as the
 * member's FSM did not fail (raftnode stops the member then), and the heartbeats of the
 * simulated engines handed to scheduler_heartbeat as raftnode's API handler hands them.
 * scheduler.c and its core (raftnode/scheduler_core.c) make every decision: who is declared
 * dead, which moves a plan makes, when to plan; this file only counts and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "storage/loads.h"

static uint64_t host_now_ms(void *data)
{
    struct srv *v = data;
    return sim_now(v->sim);
}

static bool host_running(void *data)
{
    struct srv *v = data;
    return !v->glue.failed;
}

int leader_init(struct srv *v)
{
    struct scheduler_host host = {
        .raft = srv_raft(v),
        .store = &v->store,
        .proposals = &v->proposals,
        .fsm_failed = &v->glue.failed,
        .heartbeat_timeout_ms = SIM_HB_TIMEOUT_MS,
        .data = v,
        .now_ms = host_now_ms,
        .wall_ms = host_now_ms, /* the history's time: virtual too, so a seed replays exactly */
        .running = host_running,
    };
    return scheduler_init(&v->sched, &host);
}

/* A heartbeat of engine ENGINE, sent at SEND_MS on its clock, waiting on LEADER. */
struct hb_wait {
    struct sim *sim;
    unsigned engine, leader;
    uint64_t send_ms;
};

static void hb_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct hb_wait *w = data;
    (void)code;
    (void)message;
    if (!w->sim->closing) {
        engine_answer(w->sim, w->engine, w->leader, w->send_ms, status, index);
    }
    free(w);
}

/* The heartbeat of engine E reached L (the engine.heartbeat handler's scheduler_heartbeat). */
int leader_heartbeat(struct srv *l, struct srv *e, uint64_t send_ms)
{
    struct sched_hb hb;
    struct hb_wait *w = malloc(sizeof *w);
    if (w == NULL) {
        return -1;
    }
    *w = (struct hb_wait){.sim = l->sim, .engine = e->idx, .leader = l->idx, .send_ms = send_ms};
    memset(&hb, 0, sizeof hb);
    hb.id = e->id;
    snprintf(hb.mode, sizeof hb.mode, "%s", e->mode);
    hb.weight = e->weight;
    snprintf(hb.identity, sizeof hb.identity, "%s", e->identity);
    hb.race_enabled = e->race_enabled;
    srv_log_as(l);
    if (scheduler_heartbeat(&l->sched, &hb, hb_done, w) != 0) {
        free(w);
        return -1;
    }
    l->hb_heard_ms[e->idx] = sim_now(l->sim);
    return 0;
}

/* Oracle: the per-engine counts the scheduler reads (storage/loads.c, kept by TEMP triggers
 * through applies and restores) equal a count over every project, on the leader after each
 * of its ticks. */
static void check_loads(struct srv *v)
{
    struct store_engine *tracked = NULL, *counted = NULL;
    size_t nt = 0, nc = 0;
    if (store_loads_engines(&v->store, &tracked, &nt) != 0 || store_load_engines(&v->store, &counted, &nc) != 0) {
        sim_fail(v->sim, "server %llu: reading the engine loads: %s", (unsigned long long)v->id, v->store.errmsg);
    } else if (nt != nc) {
        sim_fail(v->sim, "server %llu: loads.c lists %zu engines, the engines table %zu", (unsigned long long)v->id, nt,
                 nc);
    } else {
        for (size_t i = 0; i < nt; i++) {
            if (tracked[i].id != counted[i].id || tracked[i].projects != counted[i].projects) {
                sim_fail(v->sim, "server %llu at index %llu: loads.c counts %llu project(s) for engine %llu, "
                         "engine %llu owns %llu", (unsigned long long)v->id,
                         (unsigned long long)v->store.applied_index, (unsigned long long)tracked[i].projects,
                         (unsigned long long)tracked[i].id, (unsigned long long)counted[i].id,
                         (unsigned long long)counted[i].projects);
                break;
            }
        }
    }
    free(tracked);
    free(counted);
}

void leader_tick(struct srv *v)
{
    if (!srv_alive(v)) {
        return; /* a killed member's loop does not run */
    }
    bool was = v->sched.leading;
    srv_log_as(v);
    scheduler_tick(&v->sched);
    if (v->sched.leading && !v->sim->failed) {
        check_loads(v);
    }
    if (!was && v->sched.leading) {
        sim_event(v->sim, "server %llu leads (term %llu)", (unsigned long long)v->id,
                  (unsigned long long)raft_current_term(srv_raft(v)));
    } else if (was && !v->sched.leading) {
        sim_event(v->sim, "server %llu no longer leads", (unsigned long long)v->id);
    }
}

void leader_free(struct srv *v)
{
    struct sim *s = v->sim;
    s->counters[C_ELECTIONS] += v->sched.terms_led;
    s->counters[C_FAILOVERS] += v->sched.failovers;
    s->counters[C_MOVES] += v->sched.moves;
    scheduler_close(&v->sched);
}
