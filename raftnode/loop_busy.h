/* loop_busy: how long the event loop goes without polling (a "stall": one loop turn's
 * callbacks, back to back). libraft's heartbeats and election timers, the API and the peers
 * all wait while the loop is busy, so the longest turn is what a burst of work costs the
 * cluster's liveness (aim: under 20% of raft.heartbeat-timeout-ms; docs/benchmarks.md).
 *
 * Measured exactly, not sampled: a prepare handle runs once per turn just before the loop
 * polls; busy time of the turn = wall time since the previous prepare - the time libuv spent
 * blocked in poll meanwhile (uv_metrics_idle_time, enabled with UV_METRICS_IDLE_TIME).
 * Results go to metrics_global (loop_busy histogram and loop_busy_max_s). On a shared machine
 * a turn's wall time includes time the thread was not running; the loop thread's CPU time
 * per turn (CLOCK_THREAD_CPUTIME_ID, poll's own share included) is kept beside it
 * (loop_busy_cpu_max_s): the work itself.
 *
 * Owns: the prepare handle inside struct loop_busy. Calls: libuv, metrics.h. Loop thread only. */
#ifndef RAFTNODE_LOOP_BUSY_H
#define RAFTNODE_LOOP_BUSY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct loop_busy {
    uv_prepare_t prepare; /* private */
    uint64_t last_ns;     /* private: uv_hrtime() at the previous prepare */
    uint64_t last_idle;   /* private: uv_metrics_idle_time() then */
    uint64_t last_cpu_ns; /* private: the loop thread's CPU time then */
    bool started;         /* private */
};

/* Starts measuring on LOOP; 0 or -1 (logged: the member runs on without the figures). */
int loop_busy_start(struct loop_busy *b, uv_loop_t *loop);
/* Closes the handle (a no-op when not started). */
void loop_busy_close(struct loop_busy *b);

#endif
