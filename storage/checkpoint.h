/* checkpoint: WAL checkpoints of a store's database file through a second SQLite connection,
 * so that they can run on a worker thread instead of inside an apply on the loop thread.
 *
 * Why: SQLite's automatic checkpoint runs in the commit that crosses 1000 WAL pages, i.e.
 * inside store_apply on the event loop: it copies those pages into the database file and
 * fsyncs the WAL and the database (synchronous=NORMAL), stalling every client, heartbeat and
 * raft message of the member for several milliseconds. store_open therefore turns the
 * automatic checkpoint off (keeping only a far larger inline fallback) and the member runs
 * these PASSIVE checkpoints from its own connection instead, started when the WAL grows
 * (store_wal_watch). In WAL mode SQLite allows that:
 * a PASSIVE checkpoint never blocks the writer nor waits for it, copies only frames no reader
 * still needs, and syncs exactly as the automatic one would. The writer restarts the WAL from
 * its beginning once a checkpoint has copied every frame.
 *
 * Threads: open and close on any thread while no run is in progress; store_checkpointer_run
 * on one thread at a time (SQLite's multi-thread mode: one connection, one user at a time).
 * Nothing here touches the store's own connection. */
#ifndef STORAGE_CHECKPOINT_H
#define STORAGE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/store.h"

struct store_checkpointer {
    struct sqlite3 *db;            /* private: the second connection */
    int64_t log_frames;            /* read-only: WAL frames after the last run */
    int64_t done_frames;           /* read-only: of those, copied into the database */
    unsigned rounds;               /* read-only: checkpoints the last run made */
    char errmsg[STORE_ERRMSG_MAX]; /* read-only: why the last call failed */
};

/* Opens the second connection to the database file at PATH (an existing WAL store).
 * 0, 1 when PATH is ":memory:" (nothing to checkpoint; C stays closed), or -1 (errmsg). */
int store_checkpointer_open(struct store_checkpointer *c, const char *path);

/* PASSIVE checkpoints, at most MAX_ROUNDS of them, until one finds every frame of the WAL
 * copied and no frame written since the previous one (then the writer's next commit can
 * restart the WAL). 0 or -1 (errmsg); SQLITE_BUSY (another checkpoint running) is not an
 * error. */
int store_checkpointer_run(struct store_checkpointer *c, unsigned max_rounds);

void store_checkpointer_close(struct store_checkpointer *c);

/* Who learns the WAL's size after each commit (a checkpointer starts its work from there). */
struct store_wal_watch {
    void (*fn)(void *arg, int frames); /* on the loop thread, inside the committing call */
    void *arg;
};

/* Installs S's WAL hook (store_open does, with W NULL), replacing SQLite's automatic
 * checkpoint: after every commit, a PASSIVE checkpoint inline once the WAL holds
 * STORE_WAL_INLINE_FRAMES (the fallback that bounds the WAL whatever runs or does not run
 * elsewhere; with a checkpointer keeping up it is never reached), then W->fn when W is not
 * NULL. W must stay valid until it is replaced (store_wal_watch(S, NULL)) or S closes. */
#define STORE_WAL_INLINE_FRAMES 8192 /* 32 MiB of 4 KiB pages */

/* The WAL file keeps its largest size unless SQLite truncates it when the log restarts
 * (journal_size_limit): back to this many bytes then. Checkpoints run off the loop, so the log
 * can run ahead of them for a while; this bounds what stays on disk afterwards. Above the
 * size a checkpointer lets the WAL reach (raftnode/checkpointer.h asserts it): a WAL cut back
 * below that at every restart gets its blocks allocated anew by the file system while the
 * next commits write it (ext4's delayed allocation, on the loop thread). */
#define STORE_WAL_SIZE_LIMIT 20971520 /* 20 MiB */
void store_wal_watch(struct store *s, struct store_wal_watch *w);

#endif
