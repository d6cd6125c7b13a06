/* lease: the rules of an engine's lease (engine.h explains them), without clocks or I/O, so
 * that raftnode/engine.c and the simulation (tests/sim/engine.c) run the same code. Times are
 * in whatever monotonic unit the caller uses: uv_hrtime() nanoseconds in raftnode, virtual
 * milliseconds in the simulation. Applied indexes are the member's own.
 *
 *   deadline         the lease is valid while now < deadline (0: never held)
 *   ack gate         an acknowledgement given at the leader's applied index I extends the
 *                    deadline only once this member has applied I (lease_ack/lease_applied)
 *   hand-over grace  a project handed over by a live engine is not acted for before UNTIL
 *                    (lease_handover); lease_grace_all covers every project (start, restore)
 *
 * Plain struct, owned by the caller: lease_init before use, lease_free after.
 *
 * Owns: the pending acknowledgements and hand-over graces of one lease. Calls: nothing (no
 * clock, no I/O). */
#ifndef RAFTNODE_LEASE_H
#define RAFTNODE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_PENDING_MAX 8

/* An acknowledgement that waits for this member to apply the state it was given in. */
struct lease_pending {
    uint64_t index;    /* the leader's applied index when it acknowledged */
    uint64_t deadline; /* the lease it grants: send time + timeout - margin */
};

/* A project handed over by an engine that was alive: not acted for before UNTIL. */
struct lease_grace {
    char *name;
    size_t len;
    uint64_t until;
};

struct lease {
    uint64_t deadline;        /* read-only */
    uint64_t gated;           /* read-only: acknowledgements that had to wait */
    uint64_t handovers;       /* read-only: hand-over graces started */
    struct lease_pending pending[LEASE_PENDING_MAX]; /* private */
    unsigned n_pending;       /* read-only */
    struct lease_grace *grace; /* private: FIFO ordered by until (callers add now + timeout) */
    size_t grace_head, grace_tail, grace_cap;
    uint64_t grace_all_until; /* read-only: every project waits until then */
};

void lease_init(struct lease *l);
void lease_free(struct lease *l);

bool lease_valid(const struct lease *l, uint64_t now);

/* An acknowledgement granting DEADLINE, given at the leader's applied INDEX, arrives while
 * this member has applied APPLIED. Returns true when it extended the lease now, false when it
 * waits for lease_applied (the newest LEASE_PENDING_MAX waiting ones are kept: the oldest
 * grant the shortest leases). */
bool lease_ack(struct lease *l, uint64_t index, uint64_t deadline, uint64_t applied);
/* This member has applied APPLIED: the waiting acknowledgements it covers extend the lease.
 * Returns how many were used. */
unsigned lease_applied(struct lease *l, uint64_t applied);

/* PROJECT (LEN bytes) was handed over by a live engine: it waits until UNTIL (>= every UNTIL
 * given before). 0, or -1 when out of memory: every project waits until UNTIL instead. */
int lease_handover(struct lease *l, const char *project, size_t len, uint64_t until, uint64_t now);
/* Every project waits until UNTIL (this member's state was replaced, or it just started). */
void lease_grace_all(struct lease *l, uint64_t until);
/* When PROJECT may be acted for (<= NOW: it may now). Forgets graces that ended by NOW. */
uint64_t lease_grace_until(struct lease *l, const char *project, size_t len, uint64_t now);

#endif
