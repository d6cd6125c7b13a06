/* bgworker: one thread per member for its background work (WAL checkpoints, snapshot copies),
 * at a lowered CPU priority, so that it takes the CPU from the event loop only when the loop
 * does not want it (issue 13, "load held").
 *
 * Why not libuv's thread pool: its threads are shared (libraft's disk work runs there too) and
 * run at the process's priority; a thread may lower its own priority but raising it back
 * needs CAP_SYS_NICE, so a pool thread cannot be lent for one job. This thread lowers itself
 * once at start: its nice value raised by NICE (setpriority on its own thread id; Linux keeps
 * one per thread) and SCHED_BATCH (its wake-ups do not preempt a running loop). On 2 cores
 * shared by three members, background work at normal priority stretched the loops' snapshot
 * turns from 12 ms of CPU to 50-67 ms of wall time (bench/where-the-time-goes.md).
 *
 * Jobs are queued in order and run one at a time (a checkpoint and a snapshot copy of one
 * member never run together: both read the same database file); each job's DONE runs on the
 * loop thread after its WORK returned, woken by a uv_async_t. If the thread cannot be
 * started, jobs run on libuv's thread pool instead (uv_queue_work), with the same callbacks.
 *
 * Closing (bgworker_close, loop thread): jobs not started are cancelled (DONE with
 * UV_ECANCELED, as uv_cancel would), the job in flight runs to its end (DONE with 0): the
 * loop thread waits for it, at shutdown only, as libuv's loop would wait for a pool job.
 * Every DONE has run when bgworker_close returns; the async handle closes with the loop.
 *
 * Owns: the thread, its queue and lock, the async handle. Calls: libuv, log.h. */
#ifndef RAFTNODE_BGWORKER_H
#define RAFTNODE_BGWORKER_H

#include <stdbool.h>
#include <uv.h>

/* The highest nice value (the lowest priority of SCHED_OTHER / SCHED_BATCH) on Linux. */
#define BGWORKER_NICE_MAX 19

struct bgjob;
typedef void (*bgjob_work_fn)(struct bgjob *job);            /* worker thread (or the pool) */
typedef void (*bgjob_done_fn)(struct bgjob *job, int status); /* loop thread: 0 or UV_ECANCELED */

/* Embedded in its owner (container_of, or DATA); owned by the caller, who must keep it until
 * DONE ran. */
struct bgjob {
    bgjob_work_fn work; /* public, set by bgworker_submit */
    bgjob_done_fn done; /* public, set by bgworker_submit */
    void *data;         /* public: the owner's */
    struct bgjob *next; /* private */
    int status;         /* private */
    uv_work_t pool;     /* private: the fallback's request */
};

struct bgworker {
    uv_loop_t *loop;          /* private */
    uv_thread_t thread;       /* private */
    uv_mutex_t lock;          /* private: guards the lists and stopping */
    uv_cond_t wake;           /* private: signalled when a job is queued or on stop */
    uv_async_t async;         /* private: jobs finished */
    uv_sem_t ready;           /* private: the thread applied its priority */
    struct bgjob *queued;     /* private: FIFO, first */
    struct bgjob *queued_tail; /* private */
    struct bgjob *finished;   /* private: FIFO, first */
    struct bgjob *finished_tail; /* private */
    int increment;            /* private: the nice increment asked for */
    bool running;             /* private: the thread is up (else the pool is used) */
    bool stopping;            /* private: the thread ends after the job in flight */
    bool closed;              /* private: bgworker_close ran */
    /* read-only, for logs and tests: what the thread set at start. nice: its nice value after
     * the change; nice_errno / batch_errno: 0, or why setpriority / SCHED_BATCH failed */
    int nice;
    int nice_errno;
    int batch_errno;
    unsigned long submitted;  /* read-only */
};

/* Starts the thread on LOOP and lowers its priority by NICE (0..BGWORKER_NICE_MAX; 0: the
 * process's priority, SCHED_BATCH alone). 0; -1 after logging why (jobs then run on libuv's
 * thread pool: bgworker_submit and bgworker_close still work). A failure to lower the
 * priority is logged and the thread runs on. */
int bgworker_start(struct bgworker *w, uv_loop_t *loop, int nice);

/* Loop thread: queues JOB; WORK runs on the worker, then DONE on the loop. 0; UV_ECANCELED
 * after bgworker_close (nothing runs); a uv_queue_work error in the fallback. */
int bgworker_submit(struct bgworker *w, struct bgjob *job, bgjob_work_fn work, bgjob_done_fn done);

/* Loop thread: cancels what is queued, waits for the job in flight, runs every pending DONE,
 * ends the thread and closes the async handle (W must live until the loop ran its close).
 * Safe when start failed or never ran (after a memset to 0), and twice. */
void bgworker_close(struct bgworker *w);

#endif
