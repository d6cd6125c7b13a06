/* node: one raftnode process: the libuv loop, libraft (uv I/O + TCP transport), the SQLite
 * state machine, the API server and the write pipeline. Everything runs on the loop thread.
 *
 * Lifecycle (node.c):
 *   node_start -> running --SIGTERM/SIGINT--> transferring (leader only, bounded)
 *              -> closing (api closed, raft_close deferred by a 0 ms timer) -> closed
 * Owns every handle below; node_stop is idempotent. */
#ifndef RAFTNODE_NODE_H
#define RAFTNODE_NODE_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../metastore/mirror.h"
#include "../storage/store.h"
#include "api.h"
#include "autopilot.h"
#include "http.h"
#include "influx.h"
#include "bgworker.h"
#include "checkpointer.h"
#include "config.h"
#include "engine.h"
#include "fsm_glue.h"
#include "kylin_link.h"
#include "loop_busy.h"
#include "raft_fix.h"
#include "snap_async.h"
#include "read_gate.h"
#include "removal.h"
#include "peer.h"
#include "proposal.h"
#include "scheduler.h"

enum node_phase { NODE_RUNNING = 0, NODE_TRANSFERRING, NODE_CLOSING, NODE_CLOSED };

struct node {
    uv_loop_t *loop;                    /* public, read-only */
    const struct config *cfg;           /* public, read-only: not owned */
    struct store store;                 /* public: the replicated state */
    struct raft raft;                   /* public: read through raft_* accessors only */
    struct raft_io io;                  /* private */
    struct raft_fix raft_fix;           /* private: guard around io (raft_fix.h) */
    struct bgworker bg;                 /* private: the background thread (bgworker.h) */
    struct snap_async snap_async;       /* private: snapshot copies off the loop (snap_async.h) */
    struct read_gate read_gate;         /* private: plain reads held after a start (read_gate.h) */
    struct raft_uv_transport transport; /* private */
    struct fsm_glue fsm;                /* private: the FSM hooks (fsm.failed: SQLite failed;
                                         * no further applies) */
    struct api api;                     /* private: API listener and connections */
    struct http http;                   /* private: raft.http.address (http.h); off when unset */
    struct influx influx;               /* private: raft.influxdb.* push (influx.h); off when unset */
    struct proposals proposals;         /* private: write batching */
    uv_check_t proposals_flush;         /* private: runs proposals_flush once per loop iteration */
    struct peer peer;                   /* private: requests this node sends to the leader */
    struct engine engine;               /* public: this member's engine: heartbeats, lease */
    struct scheduler scheduler;         /* private: the leader's liveness and placement */
    struct mirror mirror;               /* private: metastore mirror (its own thread) */
    struct kylin_link kylin;            /* public: this member's Kylin node (raft.kylin.url) */
    struct checkpointer checkpointer;   /* private: WAL checkpoints on the background thread */
    struct removal removal;             /* private: learning that this member was removed */
    struct autopilot autopilot;         /* read-only: the leader's dead-voter replacement */
    uv_signal_t sigterm;                /* private */
    uv_signal_t sigint;                 /* private */
    struct loop_busy loop_busy;         /* private: the longest loop turn (metrics) */
    uv_timer_t tick;                    /* private: leader-change watch, registration */
    uv_timer_t close_timer;             /* private: defers raft_close out of raft callbacks */
    uv_timer_t group_commit;            /* private: commits the store's open group (store.h) */
    struct raft_transfer shutdown_transfer; /* private */
    int phase;                          /* read-only: enum node_phase */
    int exit_status;                    /* read-only: what main returns (2: refused to start,
                                         * e.g. --force-new-cluster; 3: removed, removal.h) */
    bool bootstrapped;                  /* read-only: this start bootstrapped a new cluster */
    raft_id last_leader_id;             /* private: for leader-change logging */
    int last_state;                     /* private */
    uint64_t register_backoff_until_ms; /* private */
    uint64_t join_since_ms;             /* private: first raft.join attempt (0: none yet) */
    uint64_t transfer_deadline_ms;      /* private: stop even if the shutdown transfer hangs */
    char datadir_raft[1100];            /* private */
    char db_path[1100];                 /* private */
};

/* Initialises and starts everything on LOOP with CFG. 0, or -1 after logging why (the caller
 * exits with status 1; everything already started is closed by running the loop). */
int node_start(struct node *n, uv_loop_t *loop, const struct config *cfg);

/* Begins an orderly stop (leadership transfer first when leader). EXIT_STATUS becomes the
 * process's exit status. Safe to call more than once. */
void node_stop(struct node *n, int exit_status);

/* Index the local state reflects: max(raft last applied, store applied index). */
uint64_t node_applied_index(struct node *n);

/* The leader's id and API address as far as this member knows (0 / "" when unknown). */
raft_id node_leader(struct node *n, char *api, size_t cap);

const char *node_state_name(struct node *n);
const char *node_role_name(int raft_role);

#endif
