/* snap_async: libraft's snapshots copied off the event loop (issue 13, "load held").
 *
 * libraft 0.22.1 asks for a snapshot's data on the loop thread (legacy.c legacyTakeSnapshot
 * calls fsm->snapshot, and fsm->snapshot_async of fsm version 3, synchronously), and copying
 * the whole state there (store_snapshot: 6.5 MiB at 10,000 projects, 5-15 ms of loop CPU,
 * growing with the state) stalls the loop once per snapshot. Instead:
 *   1. snap_async_take (fsm_glue's snapshot hook, loop thread) commits the store's open group
 *      and pins its state at the applied index on a second connection (storage/image.h: a
 *      WAL read transaction, a few microseconds), and hands libraft a small placeholder
 *      buffer (sqlite3_malloc'd, as fsm_glue's snapshot_finalize frees it);
 *   2. libraft's io->snapshot_put, wrapped here, finds the placeholder: the pinned state is
 *      serialized on the member's background thread (bgworker.h: lowered priority, so the
 *      copy does not take the CPU from the loops), the placeholder is replaced by the image in the
 *      snapshot's buffer array, and then the io's own snapshot_put runs (it writes the buffers
 *      from the thread pool as before). A put of any other buffer (an InstallSnapshot from the
 *      leader) passes through untouched.
 * libraft does not read the buffers between fsm->snapshot and snapshot_put, nor between the
 * put and its callback (an InstallSnapshot it sends is read back from disk: snapshot_get), and
 * hands them to fsm_glue's snapshot_finalize after the callback; so the image it stores is
 * exactly the state at the snapshot's index, as before.
 * Failures: a failed pin falls back to store_snapshot on the loop (logged); a failed copy or
 * a failed io put completes the put with RAFT_IOERR (libraft drops that snapshot and takes
 * another later). Closing: io->close is wrapped too; while a copy is in flight libraft's
 * close callback is held until the copy returned and the put completed with RAFT_CANCELED,
 * so libraft is never called back after it closed.
 *
 * Order: wrap the io before raft_fix_wrap, so that raft_fix's guards see the put (and hold
 * InstallSnapshot messages) from libraft's call on, the copy included. One loop thread; at
 * most SNAP_ASYNC_MAX wrapped ios per process.
 *
 * Owns: the wrapped io's snapshot_put and close hooks, the second connection, the work
 * job, the image until it is handed to the io. Calls: storage/image.h, bgworker.h, libuv, libraft's
 * raft_io, log.h. */
#ifndef RAFTNODE_SNAP_ASYNC_H
#define RAFTNODE_SNAP_ASYNC_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../storage/image.h"
#include "../storage/store.h"
#include "bgworker.h"

#define SNAP_ASYNC_MAX 16

struct snap_async {
    struct raft_io *io;          /* private: the wrapped io */
    uv_loop_t *loop;             /* private */
    struct store *store;         /* private: not owned */
    struct store_image image;    /* private: used by the work item while busy */
    struct bgjob job;            /* private */
    struct bgworker *bg;         /* private: not owned; outlives the wrap */
    int (*orig_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                             const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
    void (*orig_close)(struct raft_io *io, raft_io_close_cb cb);
    raft_io_close_cb close_cb;   /* private: libraft's, while the io closes */
    void *placeholder;           /* private: handed to libraft by take, until its put comes */
    /* private: the put being copied */
    struct raft_io_snapshot_put *req;
    unsigned trailing;
    const struct raft_snapshot *snapshot;
    raft_io_snapshot_put_cb cb;
    void *buf;                   /* private: the copy's image (work item's result) */
    size_t len;
    int rc;                      /* private: the copy's outcome, 0 or -1 (image.errmsg) */
    uint64_t copy_start_ns;      /* private */
    bool busy;                   /* private: a copy is in flight */
    bool closing;                /* private: io->close was called */
    bool close_held;             /* private: the io closed during a copy; close_cb waits */
    /* read-only, for logs and tests: snapshots copied off the loop, failed copies, takes
     * that fell back to store_snapshot on the loop, the last copy's duration */
    uint64_t copies;
    uint64_t copy_failures;
    uint64_t fallbacks;
    uint64_t last_copy_us;
};

/* Opens the second connection to STORE's database and wraps IO's snapshot_put and close;
 * copies run on BG (started, or failed to start: then on the thread pool). 0; 1
 * when the store is in memory (nothing wrapped: snapshots are copied on the loop); -1 after
 * logging why (nothing wrapped; the member runs on with snapshots copied on the loop). */
int snap_async_wrap(struct snap_async *sa, struct raft_io *io, uv_loop_t *loop, struct bgworker *bg,
                    struct store *store);

/* fsm_glue's snapshot hook (fsm_glue_host.snapshot, DATA = SA): a placeholder in *BUF, *LEN
 * when SA is wrapped and the pin succeeds, else the image itself (store_snapshot). 0 or -1
 * (S->errmsg). */
int snap_async_take(void *data, struct store *s, void **buf, size_t *len);

/* Closes the second connection and forgets IO; call once libraft's close completed (no copy
 * is in flight then). Safe when wrap failed or never ran. */
void snap_async_unwrap(struct snap_async *sa);

#endif
