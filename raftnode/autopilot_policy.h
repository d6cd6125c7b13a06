/* autopilot_policy: the autopilot's rules as pure functions (no clock, no I/O, no libraft
 * calls): given the members, their roles, when the leader last heard from each, their match
 * indexes and the time, decide at most one configuration change. raftnode/autopilot.c runs
 * it on the leader's tick; tests/unit/test_autopilot.c and the simulation run it directly.
 *
 * Rules (DESIGN.md, "Operator interface, part two", Recovery; docs/operations-autopilot.md):
 *   - healthy: a voter or standby the leader heard from within healthy_ms whose match index
 *     is within max_lag entries of the leader's last index (the leader itself always is);
 *   - dead: a voter or standby the leader has not heard from for dead_ms (a spare receives
 *     nothing from the leader, so its health is unknown unless this leader saw it as a voter
 *     or standby: "tracked");
 *   - stable: healthy without a break since stable_since_ms, for at least stable_ms;
 *   - nothing while a change is pending (one configuration change at a time), or while the
 *     healthy voters are not a quorum of the voters (no change could commit, and none may
 *     make it worse);
 *   - every action keeps the healthy voters a quorum of the voters after it.
 * Actions, first applicable wins:
 *   1. demote a dead voter to spare when a stable standby can take its place (or the voters
 *      stay at least `voters` without it); demotion comes first (see autopilot_policy.c: libraft's
 *      non-voters never vote, so a promotee must not be needed for a quorum before it knows);
 *   2. promote the most caught-up stable standby when fewer than `voters` voters are alive
 *      (not dead): the dead voter is replaced;
 *   3. with readmit, turn a spare the leader heard from within dead_ms back into a standby: a
 *      spare whose configuration is current never sends the leader anything (the leader sends
 *      it nothing, it never campaigns), so one heard from is a member that came back after its
 *      demotion with its old configuration, campaigning; as a standby it catches up, becomes
 *      stable, and rule 2 promotes it when a voter is missing (a standby does not vote: safe);
 *   4. with cleanup, remove a tracked member dead for cleanup_ms (a voter only if quorum-safe).
 *
 * Owns: nothing. Calls: nothing (raft.h for the RAFT_VOTER/STANDBY/SPARE role values). */
#ifndef RAFTNODE_AUTOPILOT_POLICY_H
#define RAFTNODE_AUTOPILOT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct autopilot_params {
    unsigned voters;     /* raft.autopilot.voters: the voter count to keep (0: the current one) */
    uint64_t dead_ms;    /* raft.autopilot.dead-member-timeout-ms */
    uint64_t healthy_ms; /* last contact within this is healthy */
    uint64_t stable_ms;  /* healthy for this long before a standby is promoted */
    uint64_t max_lag;    /* entries behind the leader's last index still caught up */
    bool cleanup;        /* raft.autopilot.cleanup-dead-members */
    uint64_t cleanup_ms; /* raft.autopilot.cleanup-after-ms */
    bool readmit;        /* raft.autopilot.readmit-spares */
};

struct autopilot_member {
    uint64_t id;
    int role;                 /* RAFT_VOTER, RAFT_STANDBY or RAFT_SPARE */
    bool tracked;             /* last_contact_ms is meaningful (see above) */
    uint64_t last_contact_ms; /* when the leader last heard from it (the leader itself: now) */
    uint64_t match_index;     /* the leader's match index for it */
    bool stable;              /* healthy without a break since stable_since_ms */
    uint64_t stable_since_ms;
    bool heard_as_spare;      /* the leader heard from it while it was a spare in its configuration */
    uint64_t spare_contact_ms; /* when, last (meaningful with heard_as_spare) */
};

struct autopilot_view {
    const struct autopilot_member *members;
    unsigned n;
    uint64_t leader_id;
    uint64_t last_index;  /* the leader's last log index */
    uint64_t now_ms;
    bool change_pending;  /* a configuration change is in flight or uncommitted */
};

enum autopilot_kind { AUTOPILOT_NONE = 0, AUTOPILOT_PROMOTE, AUTOPILOT_DEMOTE, AUTOPILOT_REMOVE, AUTOPILOT_READMIT };

struct autopilot_action {
    enum autopilot_kind kind;
    uint64_t id;        /* the member to change */
    const char *reason; /* static text for the log line */
};

/* Health of one member, as `raftctl autopilot status` shows it. */
enum autopilot_health {
    AUTOPILOT_HEALTHY = 0,
    AUTOPILOT_LAGGING,     /* heard from, but match index too far behind */
    AUTOPILOT_UNREACHABLE, /* not heard from within healthy_ms */
    AUTOPILOT_DEAD,        /* not heard from within dead_ms */
    AUTOPILOT_UNKNOWN,     /* an untracked spare (the leader sends spares nothing) */
    AUTOPILOT_BACK,        /* a spare heard from within dead_ms: back after its demotion (rule 3) */
};

enum autopilot_health autopilot_health(const struct autopilot_params *p, const struct autopilot_member *m,
                                       uint64_t leader_id, uint64_t last_index, uint64_t now_ms);
const char *autopilot_health_name(enum autopilot_health h);

/* Updates M's stable / stable_since_ms for an observation at NOW (call on every tick). */
void autopilot_observe(const struct autopilot_params *p, struct autopilot_member *m, uint64_t leader_id,
                       uint64_t last_index, uint64_t now_ms);

/* The voters, the healthy voters among them, and the failures the cluster tolerates now
 * (healthy voters beyond a quorum; 0 when there is none). HEALTHY: every voter and standby is. */
struct autopilot_summary {
    unsigned voters;
    unsigned healthy_voters;
    unsigned failure_tolerance;
    bool healthy;
};
void autopilot_summarise(const struct autopilot_params *p, const struct autopilot_view *v,
                         struct autopilot_summary *out);

/* At most one action for the view V (see the rules above). */
struct autopilot_action autopilot_decide(const struct autopilot_params *p, const struct autopilot_view *v);

#endif
