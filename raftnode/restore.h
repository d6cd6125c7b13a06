/* restore: `raftnode -c FILE --restore SNAPSHOT`, the first start of a member of a new
 * cluster from a backup image (docs/operations.md, "Back up and restore").
 *
 * Every member of the new cluster's raft.initial-cluster is started with --restore and the
 * same file, as etcd's members each run `snapshot restore`: each initialises its empty data
 * dir with the same fenced state (store_fence_restore is a function of the image alone), then
 * bootstraps raft from raft.initial-cluster as on any first start, so the members agree from
 * the first entry on. Members added later join with raft.join and get the state from a raft
 * snapshot as usual.
 * Owns: nothing after it returns. Calls: common/snapfile.h, common/file.h, storage, log. */
#ifndef RAFTNODE_RESTORE_H
#define RAFTNODE_RESTORE_H

struct config;

/* Checks that CFG's data dir is empty or missing, that SNAPSHOT is a sound image of a format
 * this binary reads, and that CFG starts a new cluster (raft.initial-cluster, no raft.join);
 * then writes the data dir's state.db from the image, every epoch raised and 'restore'
 * recorded. On any refusal nothing is written and a message on stderr says why. 0, or -1. */
int restore_prepare(const struct config *cfg, const char *snapshot);

#endif
