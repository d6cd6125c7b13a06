/* checkpointer: runs the store's WAL checkpoints on the member's background thread
 * (bgworker.h: lowered priority), off the event loop (storage/checkpoint.h says why and how
 * SQLite allows it).
 *
 * A work item makes PASSIVE checkpoints from its own connection until the WAL is fully copied
 * (a few rounds at most). It starts when a commit leaves the WAL at CHECKPOINTER_FRAMES or
 * more (the store's WAL hook tells, on the loop thread), and every CHECKPOINTER_PERIOD_MS
 * for what a burst left behind. At most one work item is in flight; the loop thread only
 * starts it and reads its outcome. Every member runs one: each has its own database file.
 *
 * Owns: the timer, the work request, the second connection, the store's WAL watch. Calls:
 * storage/checkpoint.h, bgworker.h, libuv, log.h. */
#ifndef RAFTNODE_CHECKPOINTER_H
#define RAFTNODE_CHECKPOINTER_H

#include <stdbool.h>
#include <uv.h>

#include "../storage/checkpoint.h"
#include "bgworker.h"

/* 16 MiB of 4 KiB pages: SQLite's automatic checkpoint starts at 1000 pages, but from the
 * loop; here a larger WAL costs nothing on the loop and lets one checkpoint copy a page that
 * many commits rewrote once (and fsync once). Half of STORE_WAL_INLINE_FRAMES, so a
 * checkpoint held back (a read transaction open) leaves room before the inline fallback.
 * Was 2048 (cheapest in store_bench's CPU alone); on a 3-member cluster under 64 clients a
 * member then checkpointed ~8 times a second, its fdatasync of the database keeping the disk
 * busy nearly all the time and the raft log's O_DIRECT appends queued behind it
 * (docs/benchmarks.md, "Where the time goes", 2026-12-06). */
#define CHECKPOINTER_FRAMES 4096
#define CHECKPOINTER_PERIOD_MS 1000

struct checkpointer {
    uv_timer_t timer;              /* private */
    struct bgjob job;              /* private */
    struct bgworker *bg;           /* private: not owned; outlives the checkpointer's job */
    struct store_checkpointer sc;  /* private: used by the work item while busy */
    struct store_wal_watch watch;  /* private: installed on the store while running */
    struct store *store;           /* private: not owned */
    int rc;                        /* private: the work item's outcome */
    bool started;                  /* private: the timer and the watch are in place */
    bool busy;                     /* private: a work item is in flight */
    bool closing;                  /* private: close when the work item comes back */
    bool failing;                  /* private: the last run failed (logged once) */
};

/* Opens the second connection to S's database file, watches its WAL and starts the timer on
 * LOOP; checkpoints run on BG (started, or failed to start: then on the thread pool). An in-memory store needs no checkpoints: then nothing starts and 0 is returned. -1
 * after logging why (the member may run on: the store's inline fallback bounds the WAL). */
int checkpointer_start(struct checkpointer *c, uv_loop_t *loop, struct bgworker *bg, struct store *s);

/* Stops the watch and the timer; the connection closes now, or when the work item in flight
 * returns or is cancelled (bgworker_close, after this). Safe when start failed or never ran. */
void checkpointer_close(struct checkpointer *c);

#endif
