/* sync: one mirror batch and the metastore's table set-up (see sync.h): the sync row, the
 * history rows, the shared helpers of sync_int.h and the order of a batch; the epoch table
 * is compared in sync_epoch.c, the member table in sync_member.c.
 *
 * Kylin's row values (DESIGN.md, "Compatibility with Kylin"):
 *   epoch_id                = the project's epoch (the fencing token)
 *   current_epoch_owner     = the owner engine's identity "host:port|startMillis", '' when
 *                             the project has no owner; in maintenance mode every row's
 *                             owner is "<ip>:0000|9223372036854775807" (ip = the host of the
 *                             leader's engine), as Kylin writes it
 *   last_epoch_renew_time   = 9223372036854775807 (Long.MAX_VALUE: an epoch that never
 *                             expires, Kylin's own single-engine convention) when the row has
 *                             an owner, -1 when not: the mirror writes on decisions only,
 *                             never to renew
 *   server_mode             = the owner's mode (all / job), NULL without an owner
 *   maintenance_mode_reason = the reason while maintenance is on, else NULL
 *   mvcc                    = 0 on insert, + 1 on every write of the row (Kylin's counter) */
#include "metastore/sync.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metastore/sql.h"
#include "metastore/sync_int.h"

const char *sync_num(sync_num_t buf, uint64_t v)
{
    snprintf(buf, SYNC_NUM_MAX, "%" PRIu64, v);
    return buf;
}

bool sync_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

bool sync_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

void sync_identity_host(const char *identity, char *buf, size_t cap)
{
    size_t len = strcspn(identity, "|");
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        if (identity[i] == ':') {
            colon = identity + i;
        }
    }
    if (colon != NULL) {
        len = (size_t)(colon - identity);
    }
    snprintf(buf, cap, "%.*s", (int)len, identity);
}

/* ---- set-up ---- */

static int exec_owned(struct ms_backend *b, char *sql)
{
    if (sql == NULL) {
        ms_backend_error(b, false, "out of memory building SQL");
        return -1;
    }
    int rc = b->ops->exec(b, sql);
    free(sql);
    return rc;
}

int sync_query_owned(struct ms_backend *b, char *sql, struct ms_rows *out)
{
    if (sql == NULL) {
        ms_backend_error(b, false, "out of memory building SQL");
        return -1;
    }
    int rc = b->ops->query(b, sql, out);
    free(sql);
    return rc;
}

int sync_prepare(struct ms_backend *b, const char *prefix)
{
    static const char *const names[SQL_TABLE_COUNT] = {"epoch", "raft_member", "raft_history", "raft_sync"};
    int kind = b->url->kind;
    for (int t = 0; t < SQL_TABLE_COUNT; t++) {
        char msg[MS_ERRMSG_MAX];
        if (exec_owned(b, sql_create(kind, prefix, (enum sql_table)t)) != 0) {
            snprintf(msg, sizeof msg, "%s", b->errmsg);
            ms_backend_error(b, false, "creating table %s_%s: %s", prefix, names[t], msg);
            return -1;
        }
        struct ms_rows rows;
        if (sync_query_owned(b, sql_check_columns(kind, prefix, (enum sql_table)t), &rows) != 0) {
            snprintf(msg, sizeof msg, "%s", b->errmsg);
            ms_backend_error(b, false,
                             "table %s_%s exists but lacks a column the mirror needs (%s); "
                             "compare it with docs/metastore.md",
                             prefix, names[t], msg);
            return -1;
        }
        ms_rows_free(&rows);
    }
    struct ms_rows rows;
    char *sql = NULL;
    if (asprintf(&sql, "SELECT sync_id FROM %s_raft_sync WHERE sync_id = 1", prefix) < 0) {
        sql = NULL;
    }
    if (sync_query_owned(b, sql, &rows) != 0) {
        return -1;
    }
    size_t n = rows.n_rows;
    ms_rows_free(&rows);
    /* Seeded once, by whichever leader gets there first; a second one racing it fails on
     * the primary key and simply retries. */
    return n > 0 ? 0 : exec_owned(b, sql_sync_seed(kind, prefix));
}

/* ---- writing rows in chunks ---- */

int sync_write_rows(struct ms_backend *b, const char *prefix, sync_builder_fn build, const char **values,
                    size_t n_rows, size_t n_cols, uint64_t *affected)
{
    char *sql = NULL;
    size_t sql_rows = 0;
    for (size_t done = 0; done < n_rows;) {
        size_t rows = n_rows - done < SQL_ROWS_PER_STATEMENT ? n_rows - done : SQL_ROWS_PER_STATEMENT;
        if (rows != sql_rows) {
            free(sql);
            sql = build(b->url->kind, prefix, rows);
            sql_rows = rows;
            if (sql == NULL) {
                ms_backend_error(b, false, "out of memory building SQL");
                return -1;
            }
        }
        uint64_t n = 0;
        if (b->ops->exec_params(b, sql, rows * n_cols, values + done * n_cols, &n) != 0) {
            free(sql);
            return -1;
        }
        *affected += n;
        done += rows;
    }
    free(sql);
    return 0;
}

/* ---- history ---- */

static int sync_history(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                        struct sync_result *out)
{
    if (v->n_history == 0) {
        return 0;
    }
    const char **vals = calloc(v->n_history * SQL_HISTORY_COLS, sizeof *vals);
    sync_num_t *nums = calloc(v->n_history * 6, sizeof *nums);
    if (vals == NULL || nums == NULL) {
        free(vals);
        free(nums);
        ms_backend_error(b, false, "out of memory for %zu history rows", v->n_history);
        return -1;
    }
    for (size_t i = 0; i < v->n_history; i++) {
        const struct view_history *h = &v->history[i];
        const char **row = &vals[i * SQL_HISTORY_COLS];
        sync_num_t *nb = &nums[i * 6];
        row[0] = sync_num(nb[0], h->raft_index);
        row[1] = sync_num(nb[1], h->term);
        row[2] = sync_num(nb[2], h->time_ms);
        row[3] = h->project;
        row[4] = h->from != 0 ? sync_num(nb[3], h->from) : NULL;
        row[5] = h->to != 0 ? sync_num(nb[4], h->to) : NULL;
        row[6] = sync_num(nb[5], h->epoch);
        row[7] = h->reason;
    }
    uint64_t n = 0;
    int rc = sync_write_rows(b, p->prefix, sql_history_insert, vals, v->n_history, SQL_HISTORY_COLS, &n);
    free(vals);
    free(nums);
    if (rc == 0) {
        out->history_rows += n;
        out->rows_written += n;
    }
    return rc;
}

/* ---- the batch ---- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Locks the sync row and reads it; seeds it first if someone deleted it. */
static int lock_sync_row(struct ms_backend *b, const char *prefix, struct sync_result *out)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct ms_rows rows;
        if (b->ops->exec(b, sql_begin(b->url->kind)) != 0 ||
            sync_query_owned(b, sql_sync_lock(b->url->kind, prefix), &rows) != 0) {
            return -1;
        }
        if (rows.n_rows == 1) {
            bool ok = sync_parse_u64(ms_cell(&rows, 0, 0), &out->stored_index) &&
                      sync_parse_u64(ms_cell(&rows, 0, 1), &out->stored_term) &&
                      sync_parse_u64(ms_cell(&rows, 0, 2), &out->stored_leader);
            ms_rows_free(&rows);
            if (!ok) {
                ms_backend_error(b, false, "%s_raft_sync holds a row that is not three non-negative "
                                           "numbers; fix or delete it", prefix);
                return -1;
            }
            return 0;
        }
        ms_rows_free(&rows);
        if (b->ops->exec(b, "ROLLBACK") != 0 || exec_owned(b, sql_sync_seed(b->url->kind, prefix)) != 0) {
            return -1;
        }
    }
    ms_backend_error(b, false, "%s_raft_sync: the row sync_id = 1 vanished twice; is someone deleting it?",
                     prefix);
    return -1;
}

static int set_sync_row(struct ms_backend *b, const struct sync_params *p, uint64_t decision,
                        struct sync_result *out)
{
    sync_num_t n[4];
    const char *vals[4] = {sync_num(n[0], decision), sync_num(n[1], p->term), sync_num(n[2], p->self_id),
                           sync_num(n[3], wall_ms())};
    char *sql = sql_sync_set(b->url->kind, p->prefix);
    if (sql == NULL) {
        ms_backend_error(b, false, "out of memory building SQL");
        return -1;
    }
    uint64_t affected = 0;
    int rc = b->ops->exec_params(b, sql, 4, vals, &affected);
    free(sql);
    if (rc == 0) {
        out->rows_written += 1;
        out->stored_index = decision;
        out->stored_term = p->term;
        out->stored_leader = p->self_id;
    }
    return rc;
}

/* May this batch compare with IMG instead of reading the tables back? Only while the sync
 * row says exactly what it said when the image was made, and says it is ours in our term:
 * any other mirror's write changes it (the watermark moves, or the writer stamps its term
 * and id), so nobody else's mirror wrote since. */
static bool image_usable(const struct image *img, const struct sync_params *p, const struct sync_result *out)
{
    return img->valid && img->index == out->stored_index && img->term == out->stored_term &&
           img->leader == out->stored_leader && out->stored_term == p->term && out->stored_leader == p->self_id;
}

/* Reads the view (every project when FULL, else the delta after AFTER). On MySQL the
 * maintenance reason is made to fit Kylin's utf8 epoch table (sql_text_utf8mb3): the rows
 * written and the ones compared with the table then read the same. */
static int read_view(struct ms_backend *b, struct view_reader *reader, uint64_t after, bool full, struct view *v)
{
    int rc = full ? view_read(reader, after, v) : view_read_delta(reader, after, v);
    if (rc == 0 && b->url->kind == MS_KIND_MYSQL && v->maintenance_reason != NULL) {
        sql_text_utf8mb3(v->maintenance_reason);
    }
    return rc;
}

int sync_batch(struct ms_backend *b, struct view_reader *reader, const struct sync_params *p, struct image *img,
               struct sync_result *out)
{
    struct view v;
    memset(out, 0, sizeof *out);
    memset(&v, 0, sizeof v);
    if (lock_sync_row(b, p->prefix, out) != 0) {
        goto fail;
    }
    if (out->stored_term > p->term) {
        out->outcome = SYNC_FENCED;
        image_reset(img);
        return b->ops->exec(b, "ROLLBACK");
    }
    bool use_image = image_usable(img, p, out);
    if (!use_image) {
        image_reset(img);
    }
    bool full = !use_image || p->full_compare;
    int rc = read_view(b, reader, out->stored_index, full, &v);
    if (rc != 0) {
        ms_backend_error(b, false, "reading the local state: %s", reader->errmsg);
        goto fail;
    }
    if (v.decision_index < out->stored_index) {
        out->outcome = SYNC_BEHIND;
        out->decision_index = v.decision_index;
        out->applied_index = v.applied_index;
        view_free(&v);
        image_reset(img);
        return b->ops->exec(b, "ROLLBACK");
    }
    bool decided = v.decision_index > out->stored_index;
    if (decided && p->epoch_rows_off) {
        rc = 0; /* Kylin claims its own rows (docs/kylin.md): none is written or deleted */
    } else if (decided && full) {
        rc = sync_epochs_full(b, &v, p, img, use_image, out);
        out->full_compare = true;
    } else if (decided) {
        rc = sync_epochs_incremental(b, &v, p, img, out);
        if (rc == 1) {
            /* A project vanished without a trace in the history: read every project (a
             * newer snapshot: its decision index is at least as high) and compare them all
             * with the image. */
            view_free(&v);
            if (read_view(b, reader, out->stored_index, true, &v) != 0) {
                ms_backend_error(b, false, "reading the local state: %s", reader->errmsg);
                goto fail;
            }
            rc = sync_epochs_incremental(b, &v, p, img, out);
        }
    }
    if (rc != 0 || (decided && sync_history(b, &v, p, out) != 0)) {
        goto fail;
    }
    out->decision_index = v.decision_index;
    out->applied_index = v.applied_index;
    /* Members: against the image whenever it is good, except in a full compare. */
    if (sync_members(b, &v, p, img, !use_image || (full && decided), out) != 0) {
        goto fail;
    }
    /* The watermark moves with a decision; a batch that wrote member rows only keeps it and
     * stamps our term and id all the same (see sync.h). */
    if ((decided || out->rows_written > 0) &&
        set_sync_row(b, p, decided ? v.decision_index : out->stored_index, out) != 0) {
        goto fail;
    }
    view_free(&v);
    out->incremental = !full;
    if (out->rows_written == 0) {
        out->outcome = SYNC_UP_TO_DATE;
        if (b->ops->exec(b, "ROLLBACK") != 0) { /* only reads and a row lock: nothing to keep */
            image_reset(img);
            return -1;
        }
    } else {
        out->outcome = SYNC_WROTE;
        if (b->ops->exec(b, "COMMIT") != 0) {
            image_reset(img); /* committed or not: unknown */
            return -1;
        }
    }
    if (use_image || decided) {
        /* The tables hold exactly the image now (a batch that was not decided and had no
         * image compared members only: the epoch rows stay unknown). */
        img->valid = true;
        img->index = out->stored_index;
        img->term = out->stored_term;
        img->leader = out->stored_leader;
    } else {
        image_reset(img);
    }
    return 0;

fail:
    view_free(&v);
    image_reset(img);
    if (b->connected && !b->broken) {
        char msg[MS_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", b->errmsg);
        if (b->ops->exec(b, "ROLLBACK") != 0) {
            b->broken = true; /* state unknown: the caller reconnects */
        }
        snprintf(b->errmsg, sizeof b->errmsg, "%s", msg);
    }
    return -1;
}
