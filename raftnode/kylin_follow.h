/* kylin_follow: the leader's side of "projects follow Kylin" (raft.kylin.follow-projects;
 * docs/kylin.md). Every raft.kylin.repair-ms the leader's epoch reader also lists Kylin's
 * projects (metastore/epoch_reader.h, on its thread, schema planned by kylin/projects.h);
 * the list comes back here, kylin/follow.h decides, and the adds and removes are proposed
 * like raftctl's (they go through the same FSM checks: a case-twin is refused there too),
 * adds with "kylin": true so that the state marks them kylin_listed.
 *
 * Owns: kylin_link's follow_* fields. Calls: kylin/, the epoch reader, the store (reads),
 * the proposal pipeline. Loop thread only. */
#ifndef RAFTNODE_KYLIN_FOLLOW_H
#define RAFTNODE_KYLIN_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

struct kylin_link;

/* Hands the reader its hooks when raft.kylin.follow-projects is on (after the reader started). */
void kylin_follow_start(struct kylin_link *k);

/* At the start of a round, before its epoch_reader_request: on the leader, when a period
 * passed, asks for the list with that read. Each list is compared in full with the quorum's
 * projects and their replicated kylin_listed flags (kylin/follow.h): no memory between
 * reads, so a new leader misses no drop that happened during the change. */
void kylin_follow_round(struct kylin_link *k, uint64_t now);

/* Whether the leader's next list is due at NOW: the tick then starts a round even when an
 * event-driven round moved the next repair round later (otherwise a list could wait almost
 * two periods). */
bool kylin_follow_due(const struct kylin_link *k, uint64_t now);

/* Frees the follow state (kylin_link_close). */
void kylin_follow_close(struct kylin_link *k);

#endif
