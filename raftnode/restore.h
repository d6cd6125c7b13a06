/* restore: `raftnode -c FILE --restore SNAPSHOT`, the first start of a member of a new
 * cluster from a backup image (docs/operations.md, "Back up and restore").
 *
 * The member writes a pristine raft directory whose log holds raft.initial-cluster's
 * configuration at index 1 and the restored, fenced state as a raft snapshot at index 2
 * (restore_raft.h), then starts as on any first start: raft restores the snapshot into
 * state.db. Members restored from the same file hold the same log; a member started empty with
 * the same raft.initial-cluster (its log: index 1 only) or added later with raft.join is sent
 * the snapshot by the leader. At least a majority of the initial voters must be restored:
 * then only a restored member can win an election (an empty member's log is behind theirs);
 * empty voters in the majority could elect one of their own, whose empty state would win.
 * Owns: nothing after it returns. Calls: common/snapfile.h, common/file.h, storage,
 * restore_raft.h, metastore/forget.h, log. */
#ifndef RAFTNODE_RESTORE_H
#define RAFTNODE_RESTORE_H

struct config;

/* Checks that CFG's data dir is empty or missing, that SNAPSHOT is a sound image of a format
 * this binary reads, and that CFG starts a new cluster (raft.initial-cluster, no raft.join);
 * then writes the data dir's raft directory from the image, every epoch raised and
 * 'restore' recorded, and deletes the old cluster's metastore sync row (metastore/forget.h).
 * On any refusal nothing is written and a message on stderr says why. 0, or -1. */
int restore_prepare(const struct config *cfg, const char *snapshot);

#endif
