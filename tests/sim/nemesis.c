/* nemesis: the faults of a simulated run (sim.h). Each step may start one; a fault with a
 * duration heals by itself when it ends, and nemesis_heal_all ends them all before the final
 * checks.
 *
 *   partition   a random minority cut from the majority, both ways
 *   isolate     the current leader cut from everyone, both ways
 *   pair        two servers cut from each other, both ways
 *   oneway      messages from one server to another dropped (an asymmetric fault)
 *   kill        a server frozen (no ticks, no messages: raft_fixture_kill), then revived
 *   elect       leadership transferred to a random voter (raft_transfer)
 *   silence     an engine stops heartbeating for 0.5..3.5 timeouts (a paused JVM)
 *   latency     one server's messages slowed to 50..400 ms
 *   iofault     the next 1..3 log appends of a server complete with an I/O error (only
 *               with --io-faults: see sim.c's usage); that server then stops for good, as
 *               raftnode stops a member on a failed append, so a minority of servers at most */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum nemesis_kind { N_PARTITION, N_ISOLATE, N_PAIR, N_ONEWAY, N_KILL, N_ELECT, N_SILENCE, N_LATENCY, N_IOFAULT };

struct sim_nemesis {
    enum nemesis_kind kind;
    unsigned a, b; /* servers */
    unsigned mask; /* partition: the minority */
    uint64_t until_ms; /* heals at */
};

static const char *const kind_names[] = {"partition", "isolate", "pair",    "oneway", "kill",
                                         "elect",     "silence", "latency", "iofault"};

static void cut_pair(struct sim *s, unsigned a, unsigned b, int delta)
{
    s->cut[a][b] = (unsigned)((int)s->cut[a][b] + delta);
}

static void mask_apply(struct sim *s, unsigned mask, int delta)
{
    for (unsigned i = 0; i < s->n; i++) {
        for (unsigned j = 0; j < s->n; j++) {
            if (((mask >> i) & 1) != ((mask >> j) & 1)) {
                cut_pair(s, i, j, delta);
            }
        }
    }
}

static unsigned n_killed(struct sim *s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->n; i++) {
        k += !raft_fixture_alive(&s->f, i);
    }
    return k;
}

static unsigned n_disk_victims(struct sim *s)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->n; i++) {
        k += s->srv[i].append_faults > 0 || s->srv[i].disk_failed;
    }
    return k;
}

static void transfer_cb(struct raft_transfer *req)
{
    struct srv *v = req->data;
    v->transfer_busy = false;
}

static void heal(struct sim *s, struct sim_nemesis *m)
{
    switch (m->kind) {
    case N_PARTITION: mask_apply(s, m->mask, -1); break;
    case N_ISOLATE: mask_apply(s, 1u << m->a, -1); break;
    case N_PAIR:
        cut_pair(s, m->a, m->b, -1);
        cut_pair(s, m->b, m->a, -1);
        break;
    case N_ONEWAY: cut_pair(s, m->a, m->b, -1); break;
    case N_KILL:
        if (!s->srv[m->a].stopped) {
            raft_fixture_revive(&s->f, m->a);
            s->srv[m->a].revived_ms = sim_now(s);
        }
        break;
    case N_LATENCY: raft_fixture_set_network_latency(&s->f, m->a, s->latency_ms[m->a]); break;
    default: break;
    }
    sim_event(s, "heal %s %u/%u", kind_names[m->kind], m->a + 1, m->b + 1);
    links_apply(s);
}

/* Starts one fault; returns its duration (0 = one-shot). */
static void start(struct sim *s)
{
    struct rng *r = &s->rng;
    struct sim_nemesis m = {.kind = (enum nemesis_kind)rng_below(r, 9)};
    uint64_t now = sim_now(s);
    unsigned duration = rng_range(r, 300, 6000);
    struct srv *leader = sim_leader(s);

    m.a = rng_below(r, s->n);
    m.b = (m.a + 1 + rng_below(r, s->n - 1)) % s->n;
    if (s->opts->autopilot) {
        /* Temporary faults stay shorter than the autopilot's dead timeout, and no cut can
         * leave a live member demoted: a spare hears nothing, so its own configuration stays
         * the old one and the fixture would never see a stable leader again (see
         * tests/sim/autopilot.c). The voter killed for good is autopilot.c's. */
        if (m.kind != N_KILL && m.kind != N_ELECT && m.kind != N_SILENCE && m.kind != N_LATENCY) {
            return;
        }
        duration = 300 + duration % (SIM_AP_DEAD_MS - 1300);
        if (m.kind == N_KILL && now < s->srv[m.a].revived_ms + SIM_AP_DEAD_MS) {
            return; /* two kills in a row would add up to a death */
        }
    }
    switch (m.kind) {
    case N_PARTITION: {
        unsigned size = rng_range(r, 1, (s->n - 1) / 2);
        for (unsigned k = 0; k < size; k++) {
            m.mask |= 1u << rng_below(r, s->n);
        }
        mask_apply(s, m.mask, +1);
        sim_event(s, "nemesis: partition minority mask %#x for %u ms", m.mask, duration);
        break;
    }
    case N_ISOLATE:
        if (leader == NULL) {
            return;
        }
        m.a = leader->idx;
        mask_apply(s, 1u << m.a, +1);
        sim_event(s, "nemesis: isolate leader %u for %u ms", m.a + 1, duration);
        break;
    case N_PAIR:
        cut_pair(s, m.a, m.b, +1);
        cut_pair(s, m.b, m.a, +1);
        sim_event(s, "nemesis: cut %u <-> %u for %u ms", m.a + 1, m.b + 1, duration);
        break;
    case N_ONEWAY:
        cut_pair(s, m.a, m.b, +1);
        sim_event(s, "nemesis: drop %u -> %u for %u ms", m.a + 1, m.b + 1, duration);
        break;
    case N_KILL:
        /* Mostly keep a majority; sometimes not (no progress until it heals). */
        if (!raft_fixture_alive(&s->f, m.a) || (n_killed(s) + 1 > (s->n - 1) / 2 && !rng_permille(r, 150))) {
            return;
        }
        raft_fixture_kill(&s->f, m.a);
        sim_event(s, "nemesis: kill %u for %u ms", m.a + 1, duration);
        break;
    case N_ELECT: {
        if (leader == NULL || leader->transfer_busy) {
            return;
        }
        unsigned target = (leader->idx + 1 + rng_below(r, s->n - 1)) % s->n;
        leader->transfer.data = leader;
        int rv = raft_transfer(srv_raft(leader), &leader->transfer, target + 1, transfer_cb);
        leader->transfer_busy = rv == 0;
        sim_event(s, "nemesis: leadership transfer %llu -> %u: %s", (unsigned long long)leader->id, target + 1,
                  rv == 0 ? "started" : raft_strerror(rv));
        s->counters[C_NEMESES]++;
        return;
    }
    case N_SILENCE: {
        struct srv *v = &s->srv[m.a];
        unsigned d = rng_range(r, SIM_HB_TIMEOUT_MS / 2, SIM_HB_TIMEOUT_MS * 7 / 2);
        v->silent_until_ms = now + d;
        sim_event(s, "nemesis: engine %llu silent for %u ms", (unsigned long long)v->id, d);
        s->counters[C_NEMESES]++;
        return;
    }
    case N_LATENCY: {
        unsigned ms = rng_range(r, 50, 400);
        raft_fixture_set_network_latency(&s->f, m.a, ms);
        sim_event(s, "nemesis: server %u latency %u ms for %u ms", m.a + 1, ms, duration);
        break;
    }
    case N_IOFAULT:
        if (!s->opts->io_faults) {
            return;
        }
        /* A server whose append fails stops for good (as raftnode does, see sim.c): keep a
         * majority of servers whose disks never failed. */
        if (s->srv[m.a].append_faults == 0 && !s->srv[m.a].disk_failed && n_disk_victims(s) + 1 > (s->n - 1) / 2) {
            return;
        }
        /* Not raft_fixture_io_fault: a synchronous failure of the fixture's I/O methods
         * crashes libraft 0.22.1 itself (see sim.c's usage). Appends that complete with an
         * error are what raft_uv reports for a failing disk. */
        s->srv[m.a].append_faults += rng_range(r, 1, 3);
        sim_event(s, "nemesis: server %u: the next %u appends fail", m.a + 1, s->srv[m.a].append_faults);
        s->counters[C_IO_FAULTS]++;
        s->counters[C_NEMESES]++;
        return;
    }
    m.until_ms = now + duration;
    s->counters[C_NEMESES]++;
    struct sim_nemesis *p = realloc(s->nemeses, (s->n_nemeses + 1) * sizeof *p);
    if (p == NULL) {
        heal(s, &m);
        return;
    }
    s->nemeses = p;
    s->nemeses[s->n_nemeses++] = m;
    links_apply(s);
}

void nemesis_step(struct sim *s)
{
    uint64_t now = sim_now(s);
    for (unsigned i = 0; i < s->n_nemeses;) {
        if (s->nemeses[i].until_ms <= now) {
            struct sim_nemesis m = s->nemeses[i];
            s->nemeses[i] = s->nemeses[--s->n_nemeses];
            heal(s, &m);
        } else {
            i++;
        }
    }
    if (!s->healing && s->n_nemeses < 3 && rng_permille(&s->rng, 40)) {
        start(s);
    }
}

void nemesis_heal_all(struct sim *s)
{
    while (s->n_nemeses > 0) {
        struct sim_nemesis m = s->nemeses[--s->n_nemeses];
        heal(s, &m);
    }
    for (unsigned i = 0; i < s->n; i++) {
        s->srv[i].silent_until_ms = 0;
        s->srv[i].append_faults = 0;
    }
    links_apply(s);
}

void nemesis_free(struct sim *s)
{
    free(s->nemeses);
    s->nemeses = NULL;
    s->n_nemeses = 0;
}
