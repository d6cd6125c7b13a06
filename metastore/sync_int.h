/* sync_int: private to sync*.c. What the batch (sync.c) shares with the comparison of the
 * epoch table (sync_epoch.c) and of the member table (sync_member.c): small text helpers,
 * chunked writes, and how a project's epoch row is computed.
 *
 * Both comparisons come in two forms:
 *   full         read every row of the table back from the database, compare it with the
 *                store's state, write what differs, and (re)build the image from the result;
 *   incremental  compare only what changed in the store with the image (image.h) and write
 *                what differs; no read from the database. */
#ifndef METASTORE_SYNC_INT_H
#define METASTORE_SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metastore/backend.h"
#include "metastore/image.h"
#include "metastore/sync.h"
#include "metastore/view.h"

#define SYNC_LONG_MAX_TEXT "9223372036854775807"
#define SYNC_NUM_MAX 24

typedef char sync_num_t[SYNC_NUM_MAX];

/* Decimal text of V in BUF; returns BUF. */
const char *sync_num(sync_num_t buf, uint64_t v);
/* Equal texts, NULL equal only to NULL. */
bool sync_same(const char *a, const char *b);
/* A decimal cell; false when NULL or not a number. */
bool sync_parse_u64(const char *s, uint64_t *out);
/* Runs a query built by the caller (SQL NULL = out of memory); frees SQL. */
int sync_query_owned(struct ms_backend *b, char *sql, struct ms_rows *out);

typedef char *(*sync_builder_fn)(int kind, const char *prefix, size_t rows);
/* Writes N_ROWS rows of N_COLS values (VALUES, row-major) with BUILD, in statements of at
 * most SQL_ROWS_PER_STATEMENT rows. Adds the affected row counts to *AFFECTED. */
int sync_write_rows(struct ms_backend *b, const char *prefix, sync_builder_fn build, const char **values,
                    size_t n_rows, size_t n_cols, uint64_t *affected);

/* What every epoch row's values derive from besides the project's owner and epoch. */
struct epoch_ctx {
    const struct view_engine *engines; /* by id */
    size_t n_engines;
    bool maintenance;
    const char *reason;      /* maintenance_mode_reason while in maintenance */
    const char *maint_owner; /* the owner every row shows in maintenance */
};

/* The values sql_epoch_upsert writes, after epoch_target, in SQL_EPOCH_WRITE_COLS order. */
struct epoch_vals {
    sync_num_t epoch_id;
    const char *owner;
    const char *renew;
    const char *mode;
    const char *reason;
};

/* The context of V (MAINT_OWNER: a buffer of CAP bytes for the maintenance owner). */
void epoch_ctx_of_view(struct epoch_ctx *c, const struct view *v, const struct sync_params *p, char *maint_owner,
                       size_t cap);
/* The context the image holds. */
void epoch_ctx_of_image(struct epoch_ctx *c, const struct image *img);
/* Kylin's values for a project with OWNER (0 = none) and EPOCH (see the top of sync.c). */
void epoch_values(const struct epoch_ctx *c, uint64_t owner, uint64_t epoch, struct epoch_vals *out);
bool epoch_vals_equal(const struct epoch_vals *a, const struct epoch_vals *b);

/* The epoch table, full: compares V (every project) with every row of the table, writes
 * the differences and rebuilds IMG's rows and context. When CHECK_STRAY, IMG holds the
 * image the table should still match, and out->stray_rows counts the rows that differ from
 * it (someone else wrote them). 0 or -1 (B->errmsg; IMG is then undefined: reset it). */
int sync_epochs_full(struct ms_backend *b, const struct view *v, const struct sync_params *p, struct image *img,
                     bool check_stray, struct sync_result *out);
/* The epoch table, incremental: compares the projects of V (a delta, view_read_delta, or
 * every project) with IMG, writes what differs and updates IMG. 0; 1 when V is a delta that
 * cannot account for every project (an owned project was removed without a history row):
 * nothing was written, read every project and call again; -1 (as above). */
int sync_epochs_incremental(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                            struct image *img, struct sync_result *out);

/* The member table (every raft member and every engine), full (read back and compared) or,
 * when IMG is valid, against IMG's member rows. Either way IMG's member rows are replaced
 * by what the table holds afterwards. 0 or -1 (B->errmsg). */
int sync_members(struct ms_backend *b, const struct view *v, const struct sync_params *p, struct image *img,
                 bool full, struct sync_result *out);

#endif
