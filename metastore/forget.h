/* forget: making a metastore forget the cluster that mirrored into it, for a restore
 * (docs/operations.md, "Back up and restore"). A restored cluster starts at a lower term
 * and index than the old one: the old cluster's `<prefix>_raft_sync` row would fence its
 * mirror out for good (docs/metastore.md). Deleting the row lets the new leader's mirror
 * seed it again and bring every table in line with a full compare, as after any decision.
 * Runs on the calling thread before the member starts (no loop, no worker yet).
 * Owns: one connection for the length of the call. Calls: backend.h, sync.h, url.h. */
#ifndef METASTORE_FORGET_H
#define METASTORE_FORGET_H

#include <stddef.h>
#include <stdint.h>

/* Resolves the metastore from the three configuration values (as mirror_init does) and, if
 * one is configured, deletes its sync row (the tables are created first when missing).
 * Returns 0 with *DONE = 0 when no metastore is configured, 0 with *DONE = 1 after the
 * delete, -1 with ERR (never the password) when it could not be reached or written; *WHERE
 * then names the backend and table for the operator's manual `DELETE`. */
int ms_forget_cluster(const char *metastore_url, const char *metadata_url, const char *password_file,
                      uint64_t member_id, int *done, char *where, size_t where_cap, char *err, size_t cap);

#endif
