/* epoch_reader: read-only SELECTs of Kylin's epoch table <prefix>_epoch for a member whose
 * engine is a Kylin node (raft.kylin.url; docs/kylin.md "The cycle"). The member's loop asks
 * for a read (epoch_reader_request); the read runs on the reader's OWN thread with its own
 * backend connection (backend.h: bounded in time, cancelled at close), and its rows come back
 * to the loop through a uv_async_t, to the callback given at init. Requests made while a read
 * runs are coalesced into one more read after it. Nothing is ever written.
 *
 * Threads: loop -> reader (want, stop) and reader -> loop (one result) under a mutex. The
 * client library is initialised before the thread starts (ms_backend_global_init) and not
 * ended here: the mirror, which may share it, ends it at its close, after this one.
 *
 * Ownership: struct epoch_reader is embedded in its host; URL is copied. The rows handed to
 * the callback are the callback's (epoch_rows_free). epoch_reader_close joins the thread and
 * closes the async handle; the struct must stay in place until the loop ran the close (the
 * handle's close callback does nothing). */
#ifndef METASTORE_EPOCH_READER_H
#define METASTORE_EPOCH_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "metastore/backend.h"
#include "metastore/url.h"

/* One epoch row; strings malloc'd (owner NULL = SQL NULL). */
struct epoch_row {
    char *target;
    char *owner;
    int64_t epoch_id;
    int64_t mvcc;
};

struct epoch_rows {
    struct epoch_row *rows;
    size_t n;
};

void epoch_rows_free(struct epoch_rows *r);

/* The `_global` row written by the member whose engine the quorum gave `_global`
 * (kylin5-epoch-protocol.md §7 step 4 (a); docs/kylin.md "_global"): UPDATE as a
 * compare-and-set on mvcc, as Kylin's own update does, or INSERT when the row is missing. */
enum epoch_global_op { EPOCH_GLOBAL_UPDATE = 1, EPOCH_GLOBAL_INSERT = 2 };

struct epoch_global_write {
    int op;                     /* enum epoch_global_op */
    char owner[512];            /* the identity to write */
    char server_mode[16];       /* "all" / "job" */
    char reason[512];           /* maintenance_mode_reason ("" writes SQL NULL) */
    int64_t epoch_id;           /* new epoch_id */
    int64_t mvcc;               /* new mvcc */
    int64_t expect_mvcc;        /* UPDATE: WHERE mvcc = this */
    int64_t now_ms;             /* last_epoch_renew_time */
};

struct epoch_reader;
/* On the loop thread: ROWS (the callee's; NULL on failure) or ERROR (NULL on success). */
typedef void (*epoch_reader_cb)(struct epoch_reader *r, struct epoch_rows *rows, const char *error);

/* Kylin's project list (docs/kylin.md "Projects follow Kylin"), read when asked on the same
 * thread and connection, after the epoch rows. The reader knows no Kylin schema (metastore/
 * may not include kylin/): the host hands it these hooks, which run on the reader's thread
 * and must touch nothing but their arguments. The schema is planned at the first read and
 * again after every reconnect; while there is no project table or it was refused, at every
 * read (a table query, read-only). */
struct epoch_projects_hooks {
    const char *tables_sql; /* lists the table names of the current schema/database */
    /* From PREFIX (the url's table prefix, Kylin's metadata identifier) and the N table
     * names: 0 and the list SQL in SQL (SIZE) and *VARIANT; 1 when there is no project table
     * (yet); -1 refused, with a reason in ERR. */
    int (*plan)(const char *prefix, const char *const *tables, size_t n, char *sql, size_t size, int *variant,
                char *err, size_t err_size);
    /* The project name of one row's first column CELL (NULL: SQL NULL) into NAME (SIZE):
     * 0, or -1 to skip the row, with a reason in ERR. */
    int (*name)(int variant, const char *cell, char *name, size_t size, char *err, size_t err_size);
};

enum epoch_projects_status {
    EPOCH_PROJECTS_OK = 0,  /* names read */
    EPOCH_PROJECTS_NONE,    /* no project table */
    EPOCH_PROJECTS_REFUSED, /* plan refused the schema: error says why */
    EPOCH_PROJECTS_FAILED,  /* the database failed: error says why */
};

/* One list: names malloc'd (epoch_projects_free frees them, not P itself). */
struct epoch_projects {
    int status;                /* enum epoch_projects_status */
    char **names;
    size_t n;
    size_t skipped;            /* rows the name hook skipped */
    char skip_reason[256];     /* the first skip's reason */
    char error[MS_ERRMSG_MAX]; /* REFUSED / FAILED */
};

void epoch_projects_free(struct epoch_projects *p);

/* On the loop thread: P is the callee's (epoch_projects_free, then free). */
typedef void (*epoch_projects_cb)(struct epoch_reader *r, struct epoch_projects *p);

struct epoch_reader {
    void *data;                /* public: the host's */
    bool started;              /* read-only */
    struct ms_url url;         /* read-only (holds the password: never print it) */
    uint64_t reads;            /* read-only: reads delivered (loop thread) */
    /* private */
    epoch_reader_cb cb;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    uv_async_t async;
    int cancel_pipe[2];
    struct ms_backend b;       /* the thread's */
    bool stop, want, have;     /* under lock */
    struct epoch_rows result;  /* under lock, when have */
    bool result_ok;            /* under lock */
    char error[MS_ERRMSG_MAX]; /* under lock */
    bool global_pending;       /* under lock: global is to be written before the next read */
    struct epoch_global_write global; /* under lock */
    int global_result;         /* under lock: rows the last write changed (0: lost the CAS), -1 failed */
    uint64_t global_writes;    /* read-only: rows written (loop thread's copy) */
    /* projects (private) */
    struct epoch_projects_hooks hooks; /* set before the first request, then read by the thread */
    epoch_projects_cb projects_cb;
    bool projects_want;        /* under lock */
    bool projects_have;        /* under lock */
    struct epoch_projects projects; /* under lock, when projects_have */
    bool plan_known;           /* the thread's: plan_sql is valid for this connection */
    int plan_variant;          /* the thread's */
    char plan_sql[512];        /* the thread's */
};

/* Starts the thread for URL (copied) on LOOP. 0, or -1 with a reason in ERR (nothing is
 * left to close). */
int epoch_reader_start(struct epoch_reader *r, uv_loop_t *loop, const struct ms_url *url, uint64_t member_id,
                       epoch_reader_cb cb, char *err, size_t err_size);

/* Asks for one read (loop thread); cheap; coalesced. */
void epoch_reader_request(struct epoch_reader *r);

/* Asks for the `_global` row write W (copied), followed by a read (loop thread). */
void epoch_reader_write_global(struct epoch_reader *r, const struct epoch_global_write *w);

/* Sets the project hooks H (copied; its strings must outlive R) and CB (loop thread), before
 * the first epoch_reader_request_projects. */
void epoch_reader_follow(struct epoch_reader *r, const struct epoch_projects_hooks *h, epoch_projects_cb cb);

/* Asks for one project list with the next epoch read, which epoch_reader_request starts: so
 * a list never adds a read the host did not ask for (loop thread); coalesced. */
void epoch_reader_request_projects(struct epoch_reader *r);

/* Stops and joins the thread, closes the async handle (loop thread). Idempotent. */
void epoch_reader_close(struct epoch_reader *r);

#endif
