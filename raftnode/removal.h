/* removal: a member removed from the cluster stops itself (DESIGN.md "Recovery": "A member
 * removed from the cluster stops itself with a clear log line"), exit status 3, and refuses to
 * start again on the same data directory (DATA_DIR/removed records why).
 *
 * How a member learns it was removed, without mistaking a lagging or cut-off member for a
 * removed one:
 *  1. From its own log: the committed configuration (no change pending) no longer lists it,
 *     at an index past the last configuration that did list it in this run. A member that is
 *     still joining (never listed yet) is not concerned. This is how a removed leader learns.
 *  2. From the leader: libraft's leader stops replicating to a member as soon as it appends
 *     the configuration without it, so a removed follower usually never receives that entry
 *     and, with pre-vote, its peers refuse its votes for ever. A member that has heard from
 *     no leader for 3 election timeouts asks (member.check, at most every 2 s) the members
 *     of its configuration and raft.join; non-leaders redirect to the leader. The leader
 *     answers "removed" only if the member is in neither its committed nor its pending
 *     configuration, no change is pending, its term is not below the asker's and its
 *     committed configuration is newer than the latest one the asker knows lists it (a stale leader
 *     cannot make a member that was added after it stop).
 * Limits: a removed member that reaches no member of the cluster's API (all of its known
 * members are gone, or firewalled) cannot be told, and keeps running as a candidate that
 * nobody votes for; stop it by hand. A member removed and then added again under the same id
 * while it was cut off may still be told "removed" by a leader that has not committed the
 * re-addition; it then stops, and must be wiped and joined again.
 *
 * The leader's side is handle_member_check (handlers_check.c).
 *
 * Owns: its small state in struct node. Calls: libraft (read-only), peer.h, marker.h, store. */
#ifndef RAFTNODE_REMOVAL_H
#define RAFTNODE_REMOVAL_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

struct node;

#define REMOVAL_MARKER "removed"
#define REMOVAL_EXIT_STATUS 3

struct removal {
    raft_index seen_index;         /* private: latest configuration index listing this member */
    uint64_t leaderless_since_ms;  /* private: 0 while a leader is heard from */
    uint64_t next_check_ms;        /* private: next member.check */
    unsigned next_endpoint;        /* private: round robin over the configuration */
};

/* At start: 1 (logged) when DATA_DIR records that this member was removed, -1 (logged) when
 * that record cannot be read, else 0. */
int removal_refuse_start(uint64_t id, const char *data_dir);

/* Called every tick while running: may stop the member (exit status 3). */
void removal_tick(struct node *n);

#endif
