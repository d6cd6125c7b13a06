/* read_gate: when a restarted member may answer plain reads again (see read_gate.h). */
#include "read_gate.h"

void read_gate_init(struct read_gate *g)
{
    *g = (struct read_gate){.target = UINT64_MAX};
}

void read_gate_start(struct read_gate *g, uint64_t last_index)
{
    g->started = true;
    g->last_index = last_index;
    if (last_index < g->target) {
        g->target = last_index;
    }
}

void read_gate_leader(struct read_gate *g, uint64_t prev_index, uint64_t leader_commit)
{
    if (g->started && !g->hinted && leader_commit >= prev_index) {
        g->target = leader_commit;
        g->hinted = true;
    }
}

bool read_gate_check(struct read_gate *g, uint64_t applied)
{
    if (!g->open && g->started && applied >= g->target) {
        g->open = true;
    }
    return g->open;
}
