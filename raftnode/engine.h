/* engine: the Kylin job engine this member speaks for, seen from its own side: it sends a
 * heartbeat to the leader every kylin.server.leader-race.heart-beat-interval and keeps its
 * lease (DESIGN.md, "Liveness without synchronised clocks"):
 *
 *   lease valid until  send time of the last ACKNOWLEDGED heartbeat + timeout - margin
 *
 * measured on this process's monotonic clock only. The leader acknowledges a heartbeat only
 * after the log entry recording it committed, and reassigns a project only after `timeout`
 * of silence on its own clock, so the owner's lease always runs out first (invariant 2).
 * margin = timeout / 10 (at least 50 ms) covers clock-rate drift between the two machines. */
#ifndef RAFTNODE_ENGINE_H
#define RAFTNODE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct node;
struct client_conn;

struct engine {
    struct node *node;             /* read-only */
    char identity[320];            /* read-only: Kylin's "host:port|startMillis" */
    uv_timer_t timer;              /* private: heartbeat interval */
    uv_timer_t lease_timer;        /* private: notices expiry promptly */
    struct client_conn *conn;      /* private: to the leader; NULL when none */
    uint64_t lease_deadline_ns;    /* read-only: uv_hrtime() deadline, 0 = never held */
    bool lease_held;               /* read-only: as last logged */
    unsigned inflight;             /* private */
    uint64_t sent, acked;          /* read-only: counters */
    char refused[256];             /* read-only: last registration refusal, "" if none */
    bool started;
};

int engine_start(struct engine *e, struct node *n);
void engine_close(struct engine *e);

/* Milliseconds of lease left (<= 0: expired or never acknowledged). */
int64_t engine_lease_ms_left(struct engine *e);
bool engine_lease_valid(struct engine *e);

/* Packs this engine's heartbeat args map {"id","mode","weight","identity","race_enabled"}. */
struct msgpack_packer;
int engine_pack_heartbeat(struct engine *e, struct msgpack_packer *pk);

#endif
