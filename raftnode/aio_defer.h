/* aio_defer: libraft's io_destroy(2) calls moved off the event loop, onto the background thread
 * (issue 13, "load held").
 *
 * libraft 0.22.1's disk io gives every open segment its own kernel AIO context and destroys it
 * on the loop thread when the segment is finalized (UvOsIoDestroy: syscall(__NR_io_destroy) in
 * the writer's close). The kernel's io_destroy waits (for an RCU grace period): up to 59 ms
 * (median 36) in the D state on this machine, the loop blocked the whole time. Every snapshot
 * finalizes the open segment (its barrier), so every snapshot stalled the loop that long
 * (bench/where-the-time-goes.md, "The rest of the snapshot stall"; a segment that fills up is
 * finalized the same way, not measured).
 *
 * The process's `syscall` function is defined here (the executable's definition is the one the
 * dynamic linker binds libraft's calls to): io_destroy called on the attached loop thread is
 * queued on the background thread and returns 0 at once; every other call, and io_destroy on
 * any other thread or with no worker attached, is passed to the C library's syscall
 * unchanged. Why that is safe: libraft destroys a context only after its writer closed (no
 * request of its own in flight, the context no longer read); the kernel keeps its own
 * references to the context and its requests until io_destroy completes, and a context id (the
 * address of its ring) is not reused before. A context waiting in the queue still counts
 * against fs.aio-max-nr for that long (a few per snapshot at most). A destroy the worker
 * cannot run (closing: cancelled) runs on the loop thread at once, as before. A failed
 * destroy is logged (the kernel frees the context at exit).
 *
 * Owns: the worker pointer and loop thread id (one per process). Calls: bgworker.h, libdl's
 * dlsym (the C library's syscall), log.h. */
#ifndef RAFTNODE_AIO_DEFER_H
#define RAFTNODE_AIO_DEFER_H

#include "bgworker.h"

/* At most this many destroys wait on the background thread; a further one runs on the loop
 * thread at once, as without this module (a bound on the contexts held past their use). */
#define AIO_DEFER_MAX_PENDING 16

/* Loop thread: io_destroy calls made on this thread from now on run on BG (NULL: none, every
 * call synchronous again). BG must outlive the attachment. */
void aio_defer_attach(struct bgworker *bg);

/* read-only, for tests and logs: destroys deferred, and run synchronously because deferring
 * failed (no memory, the worker closed) */
extern unsigned long aio_defer_deferred;
extern unsigned long aio_defer_inline;

#endif
