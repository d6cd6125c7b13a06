/* membership: this node's own registration (its API address in the replicated member
 * table; joining via raft.join), and lookups in the raft configuration shared by the API
 * (api.c's redirects, handlers_member.c's changes, handlers_cluster.c's member list).
 *
 * Owns: nothing (the in-flight flag of its own registration). Calls: libraft, peer.h,
 * proposal.h, storage (the member table). */
#ifndef RAFTNODE_MEMBERSHIP_H
#define RAFTNODE_MEMBERSHIP_H

#include <raft.h>
#include <stdint.h>

struct node;

/* The server ID in RAFT's current configuration, or NULL. */
const struct raft_server *membership_find(const struct raft *raft, uint64_t id);
/* "voter", "standby", "spare" (or "unknown") for a RAFT_* role. */
const char *membership_role_name(int role);

/* Called every tick: registers this member's API address with the leader, or asks to join. */
void membership_tick(struct node *n);

#endif
