/* engine: the Kylin job engine this member speaks for, seen from its own side: it sends a
 * heartbeat to the leader every kylin.server.leader-race.heart-beat-interval and keeps its
 * lease (DESIGN.md, "Liveness without synchronised clocks"):
 *
 *   lease valid until  send time of the last ACKNOWLEDGED heartbeat + timeout - margin
 *
 * measured on this process's monotonic clock only. The leader acknowledges a heartbeat only
 * after the log entry recording it committed, and reassigns a project only after `timeout`
 * of silence on its own clock, so the owner's lease always runs out first (invariant 2).
 * margin = timeout / 10 (at least 50 ms) covers clock-rate drift between the two machines.
 *
 * Two rules close the gaps the simulation (tests/sim) found in that argument:
 *   ack gate         an acknowledgement extends the lease only once this member has applied
 *                    the leader's state it was given in (so a member that has not yet applied
 *                    a failover of its engine cannot renew a lease on what it lost);
 *   hand-over grace  a project moved away from an engine that was alive (move, rebalance,
 *                    drain) is not acted for from this member's state until a full timeout
 *                    after this member applied the move: the old owner's lease, extended only
 *                    by heartbeats recorded before the move, has run out by then. After start
 *                    and after a snapshot restore the grace covers every project.
 *
 * Owns: the heartbeat timers, the connection to the leader and the lease (lease.h). Calls:
 * libuv, common/client.h, lease.h, node.h (leader, scheduler). */
#ifndef RAFTNODE_ENGINE_H
#define RAFTNODE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lease.h"

struct node;
struct client_conn;

struct engine {
    struct node *node;             /* read-only */
    char identity[320];            /* read-only: Kylin's "host:port|startMillis" */
    uv_timer_t timer;              /* private: heartbeat tick (ENGINE_TICK_MS) */
    uint64_t next_send_ms;         /* private: uv_now() of the next heartbeat; 0 = next tick */
    uv_timer_t lease_timer;        /* private: notices expiry promptly, releases gated acks */
    struct client_conn *conn;      /* private: to the leader; NULL when none */
    bool lease_held;               /* read-only: as last logged */
    unsigned inflight;             /* private */
    uint64_t sent, acked;          /* read-only: counters */
    char refused[256];             /* read-only: last registration refusal, "" if none */
    bool started;
    /* read-only: deadline, ack gate and hand-over graces (lease.h), in uv_hrtime() ns; the
     * simulation runs the same rules */
    struct lease lease;
};

int engine_start(struct engine *e, struct node *n);
void engine_close(struct engine *e);

/* Milliseconds of lease left (<= 0: expired or never acknowledged). */
int64_t engine_lease_ms_left(struct engine *e);
bool engine_lease_valid(struct engine *e);

/* Hand-over grace. engine_handover: this member just applied a change of PROJECT's owner
 * away from an engine that was not recorded dead. engine_grace_all: this member's state was
 * replaced (snapshot restore), so any project may have been handed over. */
void engine_handover(struct engine *e, const char *project, size_t len);
void engine_grace_all(struct engine *e);
/* Milliseconds before this engine may act for PROJECT even with a valid lease (0 = none). */
int64_t engine_grace_ms_left(struct engine *e, const char *project, size_t len);
/* The engine acts for PROJECT, which its member says it owns: lease valid and no grace. */
bool engine_acts_for(struct engine *e, const char *project, size_t len);

/* Packs this engine's heartbeat args map {"id","mode","weight","identity","race_enabled"}. */
struct msgpack_packer;
int engine_pack_heartbeat(struct engine *e, struct msgpack_packer *pk);

#endif
