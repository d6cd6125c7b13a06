/* autopilot: the leader's replacement of dead voters by caught-up standbys (and optional
 * cleanup of dead members), driven by the pure rules of autopilot_policy.h.
 *
 * What it observes: every raft message received from a member (raft_fix.h's receive hook
 * calls autopilot_contact), the leader's match index of each member (raft_match_index), and
 * the configuration. Timers are the current leader's own: when this member becomes leader it
 * counts every member as heard from at that moment and every standby as not yet stable, so a
 * dead voter is replaced dead_ms after the election at the earliest (a leader change restarts
 * the clocks; docs/operations-autopilot.md).
 *
 * What it changes: at most one configuration change at a time (raft_assign / raft_remove
 * with its own struct raft_change), none while libraft has one uncommitted or a promotion
 * catching up.
 *
 * Owns: the member table and the raft_change request. Calls: libraft, autopilot_policy.h,
 * common/log.h. One loop thread. */
#ifndef RAFTNODE_AUTOPILOT_H
#define RAFTNODE_AUTOPILOT_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "autopilot_policy.h"

#define AUTOPILOT_MAX_MEMBERS 64

struct autopilot {
    struct raft *raft;                 /* private: borrowed */
    struct autopilot_params params;    /* read-only */
    unsigned initial_voters;           /* read-only: raft.initial-cluster's voters (0: none) */
    struct autopilot_member members[AUTOPILOT_MAX_MEMBERS]; /* read-only: the leader's view */
    unsigned n;                        /* read-only */
    bool leading;                      /* read-only: the table belongs to this leadership */
    uint64_t leader_since_ms;          /* read-only */
    unsigned target;                   /* read-only: the voters to keep in this leadership */
    struct raft_change req;            /* private */
    bool inflight;                     /* read-only: req is with libraft */
    struct autopilot_action last;      /* read-only: the last action started */
    uint64_t last_at_ms;               /* read-only: when */
    int last_status;                   /* read-only: its result (0: done or in flight) */
    uint64_t actions;                  /* read-only: actions started */
};

struct config;

/* Entries a standby may trail the leader's last index by and still count as caught up. */
#define AUTOPILOT_MAX_LAG 256

/* The parameters of CFG (raft.autopilot.*; healthy: heard from within the election timeout,
 * at most half the dead timeout; stable: for the dead timeout) and its initial voters. */
void autopilot_params_from_config(const struct config *cfg, struct autopilot_params *p, unsigned *initial_voters);

/* PARAMS as configured; INITIAL_VOTERS: the voters of raft.initial-cluster (0 for a member
 * that joined: then the voters in the configuration when it became leader). */
void autopilot_init(struct autopilot *ap, struct raft *raft, const struct autopilot_params *params,
                    unsigned initial_voters);

/* A raft message from member FROM arrived at NOW_MS (loop time). */
void autopilot_contact(struct autopilot *ap, uint64_t from, uint64_t now_ms);

/* Brings the table in line with the configuration and the match indexes at NOW_MS, without
 * acting; false when this member is not the leader. */
bool autopilot_refresh(struct autopilot *ap, uint64_t now_ms);

/* Every tick: refresh, then start the policy's action, if any. */
void autopilot_tick(struct autopilot *ap, uint64_t now_ms);

/* The view of the current table (valid until the next call that changes it). */
void autopilot_view(const struct autopilot *ap, uint64_t now_ms, struct autopilot_view *v);

#endif
