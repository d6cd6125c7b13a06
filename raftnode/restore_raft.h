/* restore_raft: the raft side of `raftnode --restore` (restore.h): writes a pristine raft
 * directory whose log starts with a snapshot holding the restored state, so the state is
 * raft's from the first moment: members that join later, or lag, or lose state.db, get it
 * from a raft snapshot like any other state.
 *
 * Layout written (through libraft's own raft_io, never by hand): term 1; the bootstrap
 * configuration at index 1 (raft.initial-cluster); a snapshot at RESTORE_RAFT_INDEX, term 1,
 * holding the image; no entries after it. Every member restored from the same file writes the
 * same, so their logs match at index 2 and the new cluster's entries start at 3. A member that
 * merely bootstrapped raft.initial-cluster (log: index 1 only) is sent the snapshot by the
 * leader, since index 2 exists only inside it.
 * Owns: a private uv loop, raft_io and TCP transport, for the length of the call.
 * Calls: libraft (raft_uv_init, raft_io), libuv. */
#ifndef RAFTNODE_RESTORE_RAFT_H
#define RAFTNODE_RESTORE_RAFT_H

#include <stddef.h>

#include "storage/store.h"

struct config;

#define RESTORE_RAFT_INDEX STORE_RESTORE_INDEX /* the snapshot's index (2) */

/* Writes DIR (an existing, empty directory) as above for member CFG (id, address and
 * raft.initial-cluster) with the state IMAGE/LEN (a store image whose applied index is
 * RESTORE_RAFT_INDEX). 0, or -1 with ERR. */
int restore_raft_write(const struct config *cfg, const char *dir, void *image, size_t len, char *err, size_t cap);

#endif
