/* recover: `raftnode --force-new-cluster` (DESIGN.md "Operator interface, part two",
 * Recovery): on the survivor of a lost quorum, rewrite the raft configuration so that this
 * member is the only voter, keeping its whole log, snapshot and state; the other members then
 * join again with raft.join (docs/operations-force.md has the runbook).
 *
 * Runs once at start, between raft_init and raft_start (libraft's raft_recover appends the
 * new configuration to the log on disk). Safe to repeat: a member that is already the only
 * member of its configuration starts normally; one whose configuration has gained members
 * since its forced recovery (DATA_DIR/force-new-cluster records it) refuses, since running it
 * again would throw those members out.
 *
 * Owns: nothing past the call. Calls: libraft (io->load, raft_recover), marker.h. */
#ifndef RAFTNODE_RECOVER_H
#define RAFTNODE_RECOVER_H

#include <raft.h>
#include <stdint.h>

/* The name of the record left in the data directory by a forced recovery. */
#define RECOVER_MARKER "force-new-cluster"

/* Logs why --force-new-cluster cannot run on an empty data directory (nothing to keep). */
void recover_refuse_empty(uint64_t id, const char *data_dir);

/* Makes member ID (raft address ADDRESS) the only voter of RAFT's configuration. RAFT is
 * initialised on IO and not started; DATA_DIR is raft.data-dir. 0 (recovered, or nothing to
 * do), or -1 after logging why nothing was changed. */
int recover_force_new_cluster(struct raft *raft, struct raft_io *io, uint64_t id, const char *address,
                              const char *data_dir);

#endif
