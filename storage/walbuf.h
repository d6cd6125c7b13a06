/* walbuf: a SQLite VFS over the default one that turns a WAL commit's many small writes into
 * one large write.
 *
 * Why: SQLite appends each WAL frame as two writes (its 24-byte header, then the page), so a
 * group commit of ~330 dirty pages made ~660 pwrite calls on the event loop. On this machine's
 * VM that is 3-5 ms per commit against ~0.1 ms for one write of the same 1.3 MB (issue 13,
 * bench/where-the-time-goes.md): the syscalls, not the copying.
 *
 * What it does, for WAL files only (every other file passes straight through):
 *   - a write that continues the pending run is copied into it; any other write first flushes
 *     the run (so writes reach the file in SQLite's order, and a rewrite of an earlier frame
 *     is never overtaken by the older bytes);
 *   - the page of a commit frame (the frame whose header carries the database size, as the
 *     WAL format defines: https://sqlite.org/fileformat2.html#walformat) flushes the run and
 *     returns the write's result from that xWrite: a failed write fails the commit, as it
 *     would without the buffer, and nothing of it becomes visible to other connections
 *     (SQLite publishes a commit in the wal-index only after its frames were written);
 *   - a read, sync, truncate, size query or file-control of the WAL, its close, and every
 *     shared-memory lock or barrier of its database flush the run first, so no reader (this
 *     connection or another) can see a frame the file does not hold yet.
 * A process crash loses only writes of a transaction that had not committed yet; after a
 * commit returned, its frames are in the file (the page cache), exactly as without the
 * buffer. Durability is unchanged: synchronous=NORMAL syncs the WAL at checkpoints.
 *
 * Use: walbuf_register() once (idempotent, thread-safe), then open the connection with the
 * VFS name WALBUF_VFS. Other connections to the same file may use the default VFS: the files
 * underneath are the default VFS's own, with its locks. */
#ifndef STORAGE_WALBUF_H
#define STORAGE_WALBUF_H

#include <stdint.h>

#define WALBUF_VFS "raftnode-walbuf"
/* The largest pending run: a run that would outgrow it is written first. */
#define WALBUF_MAX_RUN (8u * 1024 * 1024)

/* Registers WALBUF_VFS over the default VFS (not as the default). SQLITE_OK or an SQLite
 * error code. */
int walbuf_register(void);

/* Process-wide counters (relaxed atomics), for tests and metrics. */
struct walbuf_stats {
    uint64_t writes;         /* WAL writes SQLite made */
    uint64_t flushes;        /* writes the buffer made to the file */
    uint64_t commit_flushes; /* of those, at a commit frame */
    uint64_t late_flushes;   /* runs still pending at a shared-memory barrier or lock: 0 when
                              * every commit flushed at its frame, as it should */
    uint64_t failures;       /* flushes that failed */
};
void walbuf_stats(struct walbuf_stats *out);

#endif
