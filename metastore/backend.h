/* backend: one client connection to the metastore database, PostgreSQL (pg.c, libpq) or
 * MySQL/MariaDB (mysql.c, MariaDB Connector/C), behind one small interface the mirror's
 * worker thread drives (sync.c). What differs in SQL between the two lives in sql.c.
 *
 * Used by ONE thread (the mirror's worker), never by the loop thread. Every call is bounded
 * in time: connecting by MS_CONNECT_TIMEOUT_MS, each statement by MS_STATEMENT_TIMEOUT_MS
 * (PostgreSQL: client-side deadline with poll(); MySQL: the connector's read/write
 * timeouts). PostgreSQL calls also return early when CANCEL_FD becomes readable (the mirror
 * is closing); MySQL calls end at their timeout.
 *
 * Values are passed as text (PostgreSQL casts them with the placeholders sql.c writes,
 * MySQL converts them to the column's type); NULL is SQL NULL. Statements with values are
 * always parameterised: no value is ever spliced into SQL text.
 *
 * Errors: every call returns 0 or -1; on -1 errmsg says what failed (never the password)
 * and `broken` says whether the connection is gone (then the caller disconnects and
 * reconnects later) or only the statement failed (then the caller rolls back). */
#ifndef METASTORE_BACKEND_H
#define METASTORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metastore/url.h"

#define MS_CONNECT_TIMEOUT_MS 3000
#define MS_STATEMENT_TIMEOUT_MS 10000
#define MS_ERRMSG_MAX 512

/* Rows of a query, as text. cells[r * n_cols + c] is NULL for SQL NULL. Everything is
 * malloc'd by the backend and freed with ms_rows_free. */
struct ms_rows {
    size_t n_rows;
    size_t n_cols;
    char **cells;
};

void ms_rows_free(struct ms_rows *r);
static inline const char *ms_cell(const struct ms_rows *r, size_t row, size_t col)
{
    return r->cells[row * r->n_cols + col];
}

struct ms_backend;

struct ms_backend_ops {
    const char *name;
    /* Connects and prepares the session (time zone, timeouts). */
    int (*connect)(struct ms_backend *b);
    /* Closes the connection if open; never fails. */
    void (*disconnect)(struct ms_backend *b);
    /* One statement without values and without rows: DDL, BEGIN, COMMIT, ROLLBACK. */
    int (*exec)(struct ms_backend *b, const char *sql);
    /* One statement with N text values (NULL = SQL NULL) and no rows; *AFFECTED (may be
     * NULL) gets the affected row count. */
    int (*exec_params)(struct ms_backend *b, const char *sql, size_t n, const char *const *values,
                       uint64_t *affected);
    /* One statement without values that returns rows (OUT filled on 0, untouched on -1). */
    int (*query)(struct ms_backend *b, const char *sql, struct ms_rows *out);
};

struct ms_backend {
    const struct ms_backend_ops *ops; /* read-only */
    const struct ms_url *url;         /* read-only, not owned */
    int cancel_fd;                    /* read-only: readable = stop waiting (-1 = none) */
    uint64_t member_id;               /* read-only: named in the session (PostgreSQL
                                       * application_name raftnode-mirror-ID, MySQL
                                       * @raftnode_member), so operators and tests can tell
                                       * which member wrote */
    bool connected;                   /* read-only */
    bool broken;                      /* read-only: the last failure lost the connection */
    char errmsg[MS_ERRMSG_MAX];       /* read-only: the last failure */
    void *impl;                       /* private: PGconn * / MYSQL * */
};

/* Sets B up for URL (nothing is connected yet). */
void ms_backend_init(struct ms_backend *b, const struct ms_url *url, int cancel_fd);

/* Formats errmsg; when the URL has a password, any occurrence of it in the text (a server
 * may echo a connection string) is replaced by "***". */
void ms_backend_error(struct ms_backend *b, bool broken, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Process-wide client library set-up for KIND, on the loop thread before any worker starts
 * (MariaDB Connector/C's initialisation is not thread-safe) and after the last one ended.
 * 0 or -1. */
int ms_backend_global_init(int kind);
void ms_backend_global_end(int kind);

extern const struct ms_backend_ops ms_pg_ops;    /* pg.c */
extern const struct ms_backend_ops ms_mysql_ops; /* mysql.c */

#endif
