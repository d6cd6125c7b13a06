/* sync: one mirror batch and the metastore's table set-up (see sync.h).
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

#define LONG_MAX_TEXT "9223372036854775807"
#define NUM_MAX 24

typedef char num_t[NUM_MAX];

static const char *num(num_t buf, uint64_t v)
{
    snprintf(buf, NUM_MAX, "%" PRIu64, v);
    return buf;
}

static bool same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

/* Parses a decimal cell; false when NULL or not a number. */
static bool parse_u64(const char *s, uint64_t *out)
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

static int query_owned(struct ms_backend *b, char *sql, struct ms_rows *out)
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
        if (query_owned(b, sql_check_columns(kind, prefix, (enum sql_table)t), &rows) != 0) {
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
    if (query_owned(b, sql, &rows) != 0) {
        return -1;
    }
    size_t n = rows.n_rows;
    ms_rows_free(&rows);
    /* Seeded once, by whichever leader gets there first; a second one racing it fails on
     * the primary key and simply retries. */
    return n > 0 ? 0 : exec_owned(b, sql_sync_seed(kind, prefix));
}

/* ---- writing rows in chunks ---- */

typedef char *(*builder_fn)(int kind, const char *prefix, size_t rows);

/* Writes N_ROWS rows of N_COLS values (VALUES, row-major) with BUILD, in statements of at
 * most SQL_ROWS_PER_STATEMENT rows. Adds the affected row counts to *AFFECTED. */
static int write_rows(struct ms_backend *b, const char *prefix, builder_fn build, const char **values,
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

/* ---- the epoch table ---- */

struct want_epoch {
    const char *target;
    num_t epoch_id;
    const char *owner;
    const char *renew;
    const char *mode;
    const char *reason;
};

/* qsort comparator over pointers to rows (arrays of cells): by the first cell. */
static int cmp_cell0(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a;
    const char *const *y = *(const char *const *const *)b;
    return strcmp(x[0] != NULL ? x[0] : "", y[0] != NULL ? y[0] : "");
}

/* Kylin's values for every project of V (see the top of this file). */
static struct want_epoch *want_epochs(const struct view *v, const struct sync_params *p,
                                      char *maint_owner, size_t cap)
{
    struct want_epoch *w = calloc(v->n_projects > 0 ? v->n_projects : 1, sizeof *w);
    if (w == NULL) {
        return NULL;
    }
    if (v->maintenance) {
        char host[SYNC_ADDR_MAX];
        const struct view_engine *self = view_engine(v, p->self_id);
        sync_identity_host(self != NULL && self->identity[0] != '\0' ? self->identity : p->self_host,
                           host, sizeof host);
        snprintf(maint_owner, cap, "%s:0000|" LONG_MAX_TEXT, host);
    }
    for (size_t i = 0; i < v->n_projects; i++) {
        const struct view_project *pr = &v->projects[i];
        const struct view_engine *e = pr->owner != 0 ? view_engine(v, pr->owner) : NULL;
        w[i].target = pr->name;
        num(w[i].epoch_id, pr->epoch);
        w[i].owner = e != NULL ? e->identity : "";
        w[i].renew = e != NULL ? LONG_MAX_TEXT : "-1";
        w[i].mode = e != NULL ? e->mode : NULL;
        w[i].reason = NULL;
        if (v->maintenance) {
            w[i].owner = maint_owner;
            w[i].renew = LONG_MAX_TEXT;
            w[i].reason = v->maintenance_reason != NULL ? v->maintenance_reason : "";
        }
    }
    return w;
}

static bool epoch_differs(const struct want_epoch *w, const struct ms_rows *have, size_t row)
{
    return !same(w->epoch_id, ms_cell(have, row, 1)) || !same(w->owner, ms_cell(have, row, 2)) ||
           !same(w->renew, ms_cell(have, row, 3)) || !same(w->mode, ms_cell(have, row, 4)) ||
           !same(w->reason, ms_cell(have, row, 5));
}

/* Upserts the rows that differ and deletes the rows of removed projects. */
static int sync_epochs(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                       struct sync_result *out)
{
    int rc = -1;
    struct ms_rows have = {0};
    char maint_owner[SYNC_ADDR_MAX + 32] = "";
    struct want_epoch *want = NULL;
    const char **up = NULL, **del = NULL;
    const char ***order = NULL;
    if (query_owned(b, sql_epoch_select(b->url->kind, p->prefix), &have) != 0) {
        return -1;
    }
    want = want_epochs(v, p, maint_owner, sizeof maint_owner);
    up = calloc((v->n_projects > 0 ? v->n_projects : 1) * SQL_EPOCH_WRITE_COLS, sizeof *up);
    del = calloc(have.n_rows > 0 ? have.n_rows : 1, sizeof *del);
    order = calloc(have.n_rows > 0 ? have.n_rows : 1, sizeof *order);
    if (want == NULL || up == NULL || del == NULL || order == NULL) {
        ms_backend_error(b, false, "out of memory comparing %zu projects", v->n_projects);
        goto out;
    }
    /* Both sides in byte order of the name (SQLite's BINARY collation = strcmp), merged. */
    for (size_t i = 0; i < have.n_rows; i++) {
        order[i] = (const char **)&have.cells[i * have.n_cols];
    }
    qsort(order, have.n_rows, sizeof *order, cmp_cell0);
    size_t n_up = 0, n_del = 0, h = 0;
    for (size_t i = 0; i < v->n_projects; i++) {
        int c = 1;
        while (h < have.n_rows && (c = strcmp(order[h][0] != NULL ? order[h][0] : "", want[i].target)) < 0) {
            del[n_del++] = order[h][0];
            h++;
        }
        bool found = h < have.n_rows && c == 0;
        size_t row = found ? (size_t)(order[h] - (const char **)have.cells) / have.n_cols : 0;
        if (!found || epoch_differs(&want[i], &have, row)) {
            const char **vals = &up[n_up++ * SQL_EPOCH_WRITE_COLS];
            vals[0] = want[i].target;
            vals[1] = want[i].epoch_id;
            vals[2] = want[i].owner;
            vals[3] = want[i].renew;
            vals[4] = want[i].mode;
            vals[5] = want[i].reason;
        }
        if (found) {
            h++;
        }
    }
    while (h < have.n_rows) {
        del[n_del++] = order[h++][0];
    }
    uint64_t n = 0;
    if (write_rows(b, p->prefix, sql_epoch_upsert, up, n_up, SQL_EPOCH_WRITE_COLS, &n) != 0 ||
        write_rows(b, p->prefix, sql_epoch_delete, del, n_del, 1, &n) != 0) {
        goto out;
    }
    out->epoch_rows += n_up + n_del;
    out->rows_written += n_up + n_del;
    rc = 0;
out:
    free(order);
    free(del);
    free(up);
    free(want);
    ms_rows_free(&have);
    return rc;
}

/* ---- history ---- */

static int sync_history(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                        struct sync_result *out)
{
    if (v->n_history == 0) {
        return 0;
    }
    const char **vals = calloc(v->n_history * SQL_HISTORY_COLS, sizeof *vals);
    num_t *nums = calloc(v->n_history * 6, sizeof *nums);
    if (vals == NULL || nums == NULL) {
        free(vals);
        free(nums);
        ms_backend_error(b, false, "out of memory for %zu history rows", v->n_history);
        return -1;
    }
    for (size_t i = 0; i < v->n_history; i++) {
        const struct view_history *h = &v->history[i];
        const char **row = &vals[i * SQL_HISTORY_COLS];
        num_t *nb = &nums[i * 6];
        row[0] = num(nb[0], h->raft_index);
        row[1] = num(nb[1], h->term);
        row[2] = num(nb[2], h->time_ms);
        row[3] = h->project;
        row[4] = h->from != 0 ? num(nb[3], h->from) : NULL;
        row[5] = h->to != 0 ? num(nb[4], h->to) : NULL;
        row[6] = num(nb[5], h->epoch);
        row[7] = h->reason;
    }
    uint64_t n = 0;
    int rc = write_rows(b, p->prefix, sql_history_insert, vals, v->n_history, SQL_HISTORY_COLS, &n);
    free(vals);
    free(nums);
    if (rc == 0) {
        out->history_rows += n;
        out->rows_written += n;
    }
    return rc;
}

/* ---- members ---- */

struct want_member {
    uint64_t id;
    const char *vals[SQL_MEMBER_COLS];
    num_t id_text, weight, alive, draining;
};

static int cmp_member(const void *a, const void *b)
{
    const struct want_member *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct have_member {
    uint64_t id;
    size_t row;
};

static int cmp_have(const void *a, const void *b)
{
    const struct have_member *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static struct want_member *find_or_add(struct want_member *w, size_t *n, uint64_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (w[i].id == id) {
            return &w[i];
        }
    }
    memset(&w[*n], 0, sizeof w[*n]);
    w[*n].id = id;
    return &w[(*n)++];
}

/* Rows: every member of the raft configuration and every engine (engine id = member id). */
static int sync_members(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                        struct sync_result *out)
{
    int rc = -1;
    struct ms_rows have = {0};
    size_t cap = p->n_conf + v->n_engines + 1, n = 0, n_up = 0, n_del = 0;
    struct want_member *want = calloc(cap, sizeof *want);
    struct have_member *hv = NULL;
    const char **up = NULL, **del = NULL;
    num_t *del_ids = NULL;
    if (want == NULL) {
        ms_backend_error(b, false, "out of memory for %zu members", cap);
        return -1;
    }
    for (size_t i = 0; i < p->n_conf; i++) {
        struct want_member *m = find_or_add(want, &n, p->conf[i].id);
        m->vals[1] = p->conf[i].raft_address;
        m->vals[3] = p->conf[i].role;
    }
    for (size_t i = 0; i < v->n_engines; i++) {
        const struct view_engine *e = &v->engines[i];
        struct want_member *m = find_or_add(want, &n, e->id);
        m->vals[4] = e->mode;
        m->vals[5] = num(m->weight, e->weight);
        m->vals[6] = e->identity;
        m->vals[7] = num(m->alive, e->alive);
        m->vals[8] = num(m->draining, e->draining);
    }
    for (size_t i = 0; i < n; i++) {
        want[i].vals[0] = num(want[i].id_text, want[i].id);
        want[i].vals[2] = want[i].id == p->self_id ? p->self_api : NULL;
        for (size_t j = 0; j < v->n_members && want[i].id != p->self_id; j++) {
            if (v->members[j].id == want[i].id) {
                want[i].vals[2] = v->members[j].api_address;
            }
        }
    }
    qsort(want, n, sizeof *want, cmp_member);
    if (query_owned(b, sql_member_select(b->url->kind, p->prefix), &have) != 0) {
        goto out;
    }
    hv = calloc(have.n_rows > 0 ? have.n_rows : 1, sizeof *hv);
    up = calloc((n > 0 ? n : 1) * SQL_MEMBER_COLS, sizeof *up);
    del = calloc(have.n_rows > 0 ? have.n_rows : 1, sizeof *del);
    del_ids = calloc(have.n_rows > 0 ? have.n_rows : 1, sizeof *del_ids);
    if (hv == NULL || up == NULL || del == NULL || del_ids == NULL) {
        ms_backend_error(b, false, "out of memory comparing members");
        goto out;
    }
    for (size_t i = 0; i < have.n_rows; i++) {
        hv[i].row = i;
        if (!parse_u64(ms_cell(&have, i, 0), &hv[i].id)) {
            hv[i].id = 0; /* not ours: sorts first, deleted below */
        }
    }
    qsort(hv, have.n_rows, sizeof *hv, cmp_have);
    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        while (h < have.n_rows && hv[h].id < want[i].id) {
            del[n_del] = ms_cell(&have, hv[h].row, 0);
            n_del++;
            h++;
        }
        bool differs = true;
        if (h < have.n_rows && hv[h].id == want[i].id) {
            differs = false;
            for (size_t c = 1; c < SQL_MEMBER_COLS && !differs; c++) {
                differs = !same(want[i].vals[c], ms_cell(&have, hv[h].row, c));
            }
            h++;
        }
        if (differs) {
            memcpy(&up[n_up++ * SQL_MEMBER_COLS], want[i].vals, sizeof want[i].vals);
        }
    }
    while (h < have.n_rows) {
        del[n_del++] = ms_cell(&have, hv[h++].row, 0);
    }
    for (size_t i = 0; i < n_del; i++) {
        if (del[i] == NULL) {
            del[i] = num(del_ids[i], 0); /* a NULL key cannot match anything: harmless */
        }
    }
    uint64_t affected = 0;
    if (write_rows(b, p->prefix, sql_member_upsert, up, n_up, SQL_MEMBER_COLS, &affected) != 0 ||
        write_rows(b, p->prefix, sql_member_delete, del, n_del, 1, &affected) != 0) {
        goto out;
    }
    out->rows_written += n_up + n_del;
    rc = 0;
out:
    free(del_ids);
    free(del);
    free(up);
    free(hv);
    free(want);
    ms_rows_free(&have);
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
            query_owned(b, sql_sync_lock(b->url->kind, prefix), &rows) != 0) {
            return -1;
        }
        if (rows.n_rows == 1) {
            bool ok = parse_u64(ms_cell(&rows, 0, 0), &out->stored_index) &&
                      parse_u64(ms_cell(&rows, 0, 1), &out->stored_term) &&
                      parse_u64(ms_cell(&rows, 0, 2), &out->stored_leader);
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
    num_t n[4];
    const char *vals[4] = {num(n[0], decision), num(n[1], p->term), num(n[2], p->self_id),
                           num(n[3], wall_ms())};
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

int sync_batch(struct ms_backend *b, struct view_reader *reader, const struct sync_params *p,
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
        return b->ops->exec(b, "ROLLBACK");
    }
    if (view_read(reader, out->stored_index, &v) != 0) {
        ms_backend_error(b, false, "reading the local state: %s", reader->errmsg);
        goto fail;
    }
    out->decision_index = v.decision_index;
    out->applied_index = v.applied_index;
    if (v.decision_index < out->stored_index) {
        out->outcome = SYNC_BEHIND;
        view_free(&v);
        return b->ops->exec(b, "ROLLBACK");
    }
    bool decided = v.decision_index > out->stored_index;
    if ((decided && (sync_epochs(b, &v, p, out) != 0 || sync_history(b, &v, p, out) != 0)) ||
        sync_members(b, &v, p, out) != 0 ||
        (decided && set_sync_row(b, p, v.decision_index, out) != 0)) {
        goto fail;
    }
    view_free(&v);
    if (out->rows_written == 0) {
        out->outcome = SYNC_UP_TO_DATE;
        return b->ops->exec(b, "ROLLBACK"); /* only reads and a row lock: nothing to keep */
    }
    out->outcome = SYNC_WROTE;
    return b->ops->exec(b, "COMMIT");

fail:
    view_free(&v);
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
