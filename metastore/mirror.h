/* mirror: copies committed ownership decisions into the shared PostgreSQL/MySQL metastore,
 * in Kylin's own `<prefix>_epoch` format, so Kylin reads ownership where it always did
 * (DESIGN.md "What we build", "Compatibility with Kylin"; docs/metastore.md).
 *
 * Threads. The database client runs on the mirror's OWN worker thread; the loop thread never
 * waits for the database. They share a small state under a mutex:
 *   loop -> worker   mirror_notify (every 50 ms tick) publishes leadership, term, the
 *                    store's decision index and the raft configuration, and signals a
 *                    condition variable ONLY when one of them changed; mirror_decided,
 *                    called right after an entry that changed ownership state is applied,
 *                    publishes the new decision index at once (no wait for the tick); after
 *                    each batch the worker also reads the decision index from the store
 *                    itself and runs the next batch at once when it moved;
 *   worker -> loop   watermark, connection state, counters and log lines, announced with a
 *                    uv_async_t; the loop thread logs (log.c is single-threaded) and updates
 *                    the lag bookkeeping in the async callback.
 * The worker reads the state through its own read-only SQLite connection (view.h) and keeps
 * an image of the tables (image.h), so that a batch reads only what changed in the store
 * and nothing back from the database; it compares everything with the tables after a
 * (re)connect, a change of term, a failed or fenced batch, and every
 * MIRROR_FULL_COMPARE_S seconds while decisions come (sync.h).
 *
 * Worker states:
 *
 *   idle (not leader) --leader--> connecting --ok--> in sync <--batch ok-- batching
 *        ^                            |  fail            |  decision index moved,
 *        |                            v                  |  term changed, members changed
 *        +--leadership lost--- backing off <--fail-------+--> batching
 *
 * Only the leader mirrors. A batch (sync.h) runs when the decision index moved past what
 * was mirrored, once after every (re)connect or change of term (to verify and to learn the
 * watermark), and when the raft configuration changed. Heartbeats move nothing, so an idle
 * cluster writes nothing. Failures are logged once per change of state (backend and redacted
 * URL named) and retried with a capped exponential backoff (100 ms .. 5 s); the batch after
 * recovery catches up from the watermark stored in the database, as does a new leader.
 *
 * Files: mirror.c (this interface, loop thread), worker.c (the thread), sync.c (one batch;
 * sync_epoch.c and sync_member.c compare the two tables), image.c (the worker's image of the
 * tables), view.c (the SQLite read), sql.c (both dialects), pg.c / mysql.c (the clients),
 * url.c.
 * Host interface: the mirror knows nothing of the process around it. Its host (raftnode's
 * node.c) hands it the settings at mirror_init (struct mirror_config, copied), a small
 * struct mirror_host (the loop, the store, whether this member leads now, role names), and
 * pushes raft's state to it every tick (struct mirror_raft_state, mirror_notify).
 * Ownership: struct mirror is embedded in its host's struct (raftnode's struct node);
 * mirror_init copies what it needs. mirror_close joins the worker (bounded by the backend's
 * timeouts: backend.h) and closes the async handle. */
#ifndef METASTORE_MIRROR_H
#define METASTORE_MIRROR_H

#include <msgpack.h>
#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "metastore/backend.h"
#include "metastore/sync.h"
#include "metastore/url.h"
#include "storage/store.h"

#define MIRROR_LAG_RING 256
#define MIRROR_MSGS 16
#define MIRROR_MSG_MAX 1024
#define MIRROR_ERROR_MAX (MS_ERRMSG_MAX + 64)
/* The epoch table is read back and compared in full at the first decision this long after
 * the last full compare (repairs rows someone else wrote; never a write without a
 * decision). The environment variable overrides it (seconds, 1 .. 86400; for tests). */
#define MIRROR_FULL_COMPARE_S 60
#define MIRROR_FULL_COMPARE_ENV "RAFTNODE_METASTORE_FULL_COMPARE_S"

/* The settings the mirror reads at init; every string is copied. */
struct mirror_config {
    const char *metastore_url; /* raft.metastore.url, "" if unset */
    const char *metadata_url;  /* kylin.metadata.url, "" if unset */
    const char *password_file; /* raft.metastore.password-file, "" if unset: replaces the URL's */
    const char *db_path;       /* the store's file: the worker reads it read-only */
    uint64_t node_id;          /* this member's id */
    const char *api_address;   /* this member's API address */
    const char *identity;      /* kylin.server.identity, "" if unset (the API address then) */
    int log_level;             /* LOG_LEVEL_* of raft.log-level */
    bool epoch_rows_off;       /* raft.kylin.url is set: Kylin claims its rows itself; the
                                * mirror only creates the epoch table when it is missing and
                                * never writes or deletes an epoch row (docs/kylin.md) */
};

/* What the mirror asks of its host, on the loop thread only; copied at init. */
struct mirror_host {
    uv_loop_t *loop;                        /* the async handle; uv_now for the lag */
    struct store *store;                    /* the decision index; members' API addresses */
    void *data;
    bool (*leading)(void *data);            /* this member leads now (metastore.status) */
    const char *(*role_name)(int raft_role); /* "voter", "standby", "spare" (member rows) */
};

/* Raft's state as the host sees it at a tick (mirror_notify); CONF is borrowed for the
 * call only. */
struct mirror_raft_state {
    bool leader;                              /* this member leads */
    uint64_t term;
    uint64_t leader_id;
    const struct raft_configuration *conf;    /* the raft configuration */
};

struct mirror_msg {
    int level; /* LOG_LEVEL_* */
    char text[MIRROR_MSG_MAX];
};

/* What loop and worker share; every field under `lock`. */
struct mirror_shared {
    /* loop -> worker */
    bool stop;
    bool leader;
    uint64_t term;
    uint64_t decision_index;
    struct sync_conf_member *conf; /* malloc'd copy of the raft configuration */
    size_t n_conf;
    uint64_t conf_version;         /* +1 on every change of conf or API addresses */
    /* worker -> loop */
    bool connected;
    bool watermark_known;
    uint64_t watermark_index;
    uint64_t watermark_term;
    uint64_t watermark_leader;
    char last_error[MIRROR_ERROR_MAX];
    uint64_t writes;               /* rows written, over the process's life */
    uint64_t batches;              /* transactions committed */
    struct mirror_msg msgs[MIRROR_MSGS];
    size_t n_msgs;
    uint64_t dropped_msgs;
};

struct mirror {
    struct mirror_host host;       /* read-only */
    bool enabled;                  /* read-only: a metastore URL is configured */
    struct ms_url url;             /* read-only (holds the password: never print it) */
    char db_path[1100];            /* read-only: the store the worker reads */
    uint64_t self_id;              /* read-only */
    char self_api[SYNC_ADDR_MAX];  /* read-only */
    char self_host[SYNC_ADDR_MAX]; /* read-only: kylin.server.identity or the API address */
    uint64_t full_compare_ms;      /* read-only: see MIRROR_FULL_COMPARE_S */
    bool epoch_rows_off;           /* read-only: mirror_config.epoch_rows_off */
    bool log_debug;                /* read-only: raft.log-level is debug (the worker queues
                                    * its per-batch lines only then: at hundreds of batches
                                    * a second they would crowd out the others) */

    /* private: threads */
    bool started;
    bool start_failed;
    bool lib_initialised;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    uv_async_t async;
    int cancel_pipe[2];
    struct mirror_shared sh;

    /* private: loop thread only */
    bool last_leader;
    uint64_t last_term;
    uint64_t last_decision;
    uint64_t conf_hash;
    unsigned ticks;
    uint64_t watermark_index;      /* copy from the async callback */
    struct {
        uint64_t index;
        uint64_t at_ms;            /* uv_now when the loop saw that decision applied */
    } lag[MIRROR_LAG_RING];
    size_t lag_head, lag_n;
};

/* Reads raft.metastore.url / kylin.metadata.url from C. 0 when the mirror is configured
 * (enabled) or disabled (neither key set); -1 after logging why the URL is wrong (a
 * configuration error: the caller stops). Starts nothing: the worker starts on the first
 * mirror_notify. C and HOST are copied. */
int mirror_init(struct mirror *m, const struct mirror_config *c, const struct mirror_host *host);

/* From the host's tick, on the loop thread: this member's leadership, term and the raft
 * configuration. Cheap when nothing changed (no lock, no wake-up). */
void mirror_notify(struct mirror *m, const struct mirror_raft_state *st);

/* Right after an entry that changed ownership state was applied (the store's decision index
 * is that entry's index), on the loop thread: hands the new decision index to the worker at
 * once when this member leads. Cheap: a mutex and a condition signal, no allocation. */
void mirror_decided(struct mirror *m);

/* Stops and joins the worker, closes the async handle (loop thread). Idempotent. */
void mirror_close(struct mirror *m);

/* Packs the `metastore.status` result map (docs/protocol.md). */
void mirror_status(struct mirror *m, msgpack_packer *pk);

#endif
