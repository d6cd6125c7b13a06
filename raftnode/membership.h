/* membership: member add/join/remove/assign, leadership transfer, and this node's own
 * registration (its API address in the replicated member table; joining via raft.join). */
#ifndef RAFTNODE_MEMBERSHIP_H
#define RAFTNODE_MEMBERSHIP_H

struct node;

/* Called every tick: registers this member's API address with the leader, or asks to join. */
void membership_tick(struct node *n);

#endif
