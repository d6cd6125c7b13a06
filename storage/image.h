/* image: the image of a store's state at one applied index (what libraft's snapshots hold),
 * copied through a second SQLite connection so that the copy can run on a worker thread.
 *
 * Why: store_snapshot copies the whole database (sqlite3_serialize: every page, 6.5 MiB at
 * 10,000 projects) on the loop thread inside libraft's fsm->snapshot: 5-15 ms of CPU per
 * snapshot at 10,000 projects, growing with the state, during which no heartbeat, message or
 * client is served. Here the loop thread only pins the state (store_image_pin: it commits the
 * store's open group, then opens a read transaction on the second connection, which in WAL
 * mode sees exactly the committed state and keeps seeing it while the store's connection
 * writes on); store_image_copy, on any thread, serializes that pinned state and ends the
 * read transaction. The image is the same bytes store_snapshot would have made at the pin
 * (store_restore reads either).
 *
 * Threads: open, pin, unpin and close on the loop thread (the store's); copy on one thread at
 * a time, while the loop thread leaves the image alone (SQLite's multi-thread mode: one
 * connection, one user at a time). Nothing here writes to the database. */
#ifndef STORAGE_IMAGE_H
#define STORAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

struct store_image {
    struct sqlite3 *db;            /* private: the second connection (read-only) */
    bool pinned;                   /* read-only: a read transaction is open */
    uint64_t index;                /* read-only: the applied index of the pinned state */
    bool fail_copy;                /* tests only: the next copy fails as an out-of-memory would */
    char errmsg[STORE_ERRMSG_MAX]; /* read-only: why the last call failed */
};

/* Opens the second connection to the store's database file at PATH (an existing WAL store).
 * 0, 1 when PATH is ":memory:" (no second connection can see it; IM stays closed: use
 * store_snapshot), or -1 (errmsg). */
int store_image_open(struct store_image *im, const char *path);

/* Loop thread: commits S's open group (store_commit), then pins S's state at its applied
 * index. 0, or -1 (errmsg; when the commit failed, S->errmsg says why and, as for a failed
 * store_snapshot, the caller must not take the snapshot). Pinning twice is an error. */
int store_image_pin(struct store_image *im, struct store *s);

/* Any thread, while pinned: the image of the pinned state in *BUF, *LEN (sqlite3_malloc'd: the
 * caller frees it with sqlite3_free), then unpinned. 0 or -1 (errmsg; unpinned either way). */
int store_image_copy(struct store_image *im, void **buf, size_t *len);

/* Ends the read transaction if one is open (a pin whose copy will not run). */
void store_image_unpin(struct store_image *im);

/* Unpins and closes; IM may never have opened. */
void store_image_close(struct store_image *im);

#endif
