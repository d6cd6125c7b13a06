/* epoch_reader: read-only SELECTs of <prefix>_epoch on a thread of their own (epoch_reader.h). */
#include "metastore/epoch_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metastore/sql.h"

void epoch_rows_free(struct epoch_rows *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        free(r->rows[i].target);
        free(r->rows[i].owner);
    }
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

static int64_t num(const char *s)
{
    return s == NULL ? 0 : (int64_t)strtoll(s, NULL, 10);
}

/* Converts the query's text rows (target, owner, epoch_id, mvcc) into OUT. 0 or -1. */
static int convert(const struct ms_rows *q, struct epoch_rows *out)
{
    memset(out, 0, sizeof *out);
    if (q->n_rows == 0) {
        return 0;
    }
    out->rows = calloc(q->n_rows, sizeof *out->rows);
    if (out->rows == NULL) {
        return -1;
    }
    for (size_t i = 0; i < q->n_rows; i++) {
        const char *t = ms_cell(q, i, 0), *o = ms_cell(q, i, 1);
        struct epoch_row *row = &out->rows[out->n++];
        row->target = strdup(t != NULL ? t : "");
        row->owner = o != NULL ? strdup(o) : NULL;
        row->epoch_id = num(ms_cell(q, i, 2));
        row->mvcc = num(ms_cell(q, i, 3));
        if (row->target == NULL || (o != NULL && row->owner == NULL)) {
            epoch_rows_free(out);
            return -1;
        }
    }
    return 0;
}

/* One read on the thread: ROWS filled and 0, or -1 with B's errmsg. */
static int read_once(struct epoch_reader *r, struct epoch_rows *rows)
{
    struct ms_backend *b = &r->b;
    char sql[160];
    struct ms_rows q = {0};

    if (!b->connected && b->ops->connect(b) != 0) {
        return -1;
    }
    snprintf(sql, sizeof sql, "SELECT epoch_target, current_epoch_owner, epoch_id, mvcc FROM %s_epoch",
             r->url.prefix);
    if (b->ops->query(b, sql, &q) != 0) {
        if (b->broken) {
            b->ops->disconnect(b);
        }
        return -1;
    }
    int rc = convert(&q, rows);
    ms_rows_free(&q);
    if (rc != 0) {
        ms_backend_error(b, false, "out of memory reading %s_epoch", r->url.prefix);
    }
    return rc;
}

/* The `_global` write W on the thread: rows changed (0: another writer won the
 * compare-and-set, or the row appeared meanwhile), or -1 with B's errmsg. */
static int write_global(struct epoch_reader *r, const struct epoch_global_write *w)
{
    struct ms_backend *b = &r->b;
    bool pg = r->url.kind == MS_KIND_POSTGRESQL;
    char sql[640], epoch_id[24], mvcc[24], expect[24], now[24];
    uint64_t affected = 0;
    int rc;

    if (!b->connected && b->ops->connect(b) != 0) {
        return -1;
    }
    snprintf(epoch_id, sizeof epoch_id, "%" PRId64, w->epoch_id);
    snprintf(mvcc, sizeof mvcc, "%" PRId64, w->mvcc);
    snprintf(expect, sizeof expect, "%" PRId64, w->expect_mvcc);
    snprintf(now, sizeof now, "%" PRId64, w->now_ms);
    if (w->op == EPOCH_GLOBAL_UPDATE) {
        const char *v[] = {epoch_id, w->owner, now, mvcc, expect, w->reason[0] != '\0' ? w->reason : NULL};
        snprintf(sql, sizeof sql,
                 pg ? "UPDATE %s_epoch SET epoch_id = $1::int, current_epoch_owner = $2, last_epoch_renew_time = "
                      "$3::bigint, mvcc = $4::bigint, maintenance_mode_reason = $6 WHERE epoch_target = '_global' "
                      "AND mvcc = $5::bigint"
                    : "UPDATE %s_epoch SET epoch_id = ?, current_epoch_owner = ?, last_epoch_renew_time = ?, mvcc = ?, "
                      "maintenance_mode_reason = ? WHERE epoch_target = '_global' AND mvcc = ?",
                 r->url.prefix);
        if (!pg) { /* MySQL's placeholders are positional */
            const char *m[] = {epoch_id, w->owner, now, mvcc, v[5], expect};
            rc = b->ops->exec_params(b, sql, 6, m, &affected);
        } else {
            rc = b->ops->exec_params(b, sql, 6, v, &affected);
        }
    } else {
        const char *v[] = {epoch_id, w->owner, now, w->server_mode, mvcc, w->reason[0] != '\0' ? w->reason : NULL};
        snprintf(sql, sizeof sql,
                 pg ? "INSERT INTO %s_epoch (epoch_id, epoch_target, current_epoch_owner, last_epoch_renew_time, "
                      "server_mode, mvcc, maintenance_mode_reason) SELECT $1::int, '_global', $2, $3::bigint, $4, "
                      "$5::bigint, $6 WHERE NOT EXISTS (SELECT 1 FROM %s_epoch WHERE epoch_target = '_global')"
                    : "INSERT INTO %s_epoch (epoch_id, epoch_target, current_epoch_owner, last_epoch_renew_time, "
                      "server_mode, mvcc, maintenance_mode_reason) SELECT ?, '_global', ?, ?, ?, ?, ? FROM DUAL "
                      "WHERE NOT EXISTS (SELECT 1 FROM %s_epoch WHERE epoch_target = '_global')",
                 r->url.prefix, r->url.prefix);
        rc = b->ops->exec_params(b, sql, 6, v, &affected);
    }
    if (rc != 0) {
        if (b->broken) {
            b->ops->disconnect(b);
        }
        return -1;
    }
    return (int)affected;
}

void epoch_projects_free(struct epoch_projects *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
    }
    free(p->names);
    p->names = NULL;
    p->n = 0;
}

/* Plans the project query of this connection from its table names (hooks.plan): 0 (plan
 * known), 1 (no project table), -1 refused (OUT's error), -2 the database failed (B's errmsg). */
static int plan_projects(struct epoch_reader *r, struct epoch_projects *out)
{
    struct ms_backend *b = &r->b;
    struct ms_rows q = {0};
    const char **tables;
    int rc;

    if (b->ops->query(b, r->hooks.tables_sql, &q) != 0) {
        return -2;
    }
    tables = calloc(q.n_rows + 1, sizeof *tables);
    if (tables == NULL) {
        ms_rows_free(&q);
        ms_backend_error(b, false, "out of memory listing tables");
        return -2;
    }
    for (size_t i = 0; i < q.n_rows; i++) {
        tables[i] = ms_cell(&q, i, 0) != NULL ? ms_cell(&q, i, 0) : "";
    }
    rc = r->hooks.plan(r->url.prefix, tables, q.n_rows, r->plan_sql, sizeof r->plan_sql, &r->plan_variant, out->error,
                       sizeof out->error);
    free(tables);
    ms_rows_free(&q);
    r->plan_known = rc == 0;
    return rc;
}

/* One project list on the thread into OUT (status set; names on OK). */
static void list_projects(struct epoch_reader *r, struct epoch_projects *out)
{
    struct ms_backend *b = &r->b;
    struct ms_rows q = {0};
    char name[512], why[256];

    memset(out, 0, sizeof *out);
    out->status = EPOCH_PROJECTS_FAILED;
    if (!b->connected && b->ops->connect(b) != 0) {
        snprintf(out->error, sizeof out->error, "%s", b->errmsg);
        return;
    }
    if (!r->plan_known) {
        int rc = plan_projects(r, out);
        if (rc != 0) {
            out->status = rc == 1 ? EPOCH_PROJECTS_NONE : rc == -1 ? EPOCH_PROJECTS_REFUSED : EPOCH_PROJECTS_FAILED;
            if (rc == -2) {
                snprintf(out->error, sizeof out->error, "%s", b->errmsg);
            }
            return;
        }
    }
    if (b->ops->query(b, r->plan_sql, &q) != 0) {
        snprintf(out->error, sizeof out->error, "%s", b->errmsg);
        r->plan_known = false; /* the table may have gone: plan again */
        return;
    }
    out->names = calloc(q.n_rows + 1, sizeof *out->names);
    if (out->names == NULL) {
        ms_rows_free(&q);
        snprintf(out->error, sizeof out->error, "out of memory listing projects");
        return;
    }
    for (size_t i = 0; i < q.n_rows; i++) {
        if (r->hooks.name(r->plan_variant, ms_cell(&q, i, 0), name, sizeof name, why, sizeof why) != 0) {
            if (out->skipped++ == 0) {
                snprintf(out->skip_reason, sizeof out->skip_reason, "%s", why);
            }
            continue;
        }
        if ((out->names[out->n] = strdup(name)) == NULL) {
            ms_rows_free(&q);
            epoch_projects_free(out);
            snprintf(out->error, sizeof out->error, "out of memory listing projects");
            return;
        }
        out->n++;
    }
    ms_rows_free(&q);
    out->status = EPOCH_PROJECTS_OK;
}

static void thread_main(void *arg)
{
    struct epoch_reader *r = arg;
    for (;;) {
        uv_mutex_lock(&r->lock);
        while (!r->stop && !r->want) {
            uv_cond_wait(&r->cond, &r->lock);
        }
        if (r->stop) {
            uv_mutex_unlock(&r->lock);
            break;
        }
        r->want = false;
        bool global = r->global_pending;
        struct epoch_global_write w = r->global;
        r->global_pending = false;
        bool projects = r->projects_want;
        r->projects_want = false;
        uv_mutex_unlock(&r->lock);

        struct epoch_rows rows = {0};
        struct epoch_projects plist;
        int global_result = 0;
        if (!r->b.connected) {
            r->plan_known = false; /* a new connection: detect Kylin's schema again */
        }
        r->b.broken = false;
        if (global) {
            global_result = write_global(r, &w);
            r->b.broken = false;
        }
        int rc = global_result < 0 ? -1 : read_once(r, &rows);
        if (projects) {
            r->b.broken = false;
            list_projects(r, &plist);
            if (r->b.broken) {
                r->b.ops->disconnect(&r->b);
            }
        }

        uv_mutex_lock(&r->lock);
        if (projects) {
            if (r->projects_have) {
                epoch_projects_free(&r->projects);
            }
            r->projects = plist;
            r->projects_have = true;
        }
        if (r->have) {
            epoch_rows_free(&r->result); /* the loop did not take the older one yet */
        }
        r->have = true;
        r->result_ok = rc == 0;
        r->result = rows;
        if (global) {
            r->global_result = global_result;
        }
        snprintf(r->error, sizeof r->error, "%s", rc == 0 ? "" : r->b.errmsg);
        uv_mutex_unlock(&r->lock);
        uv_async_send(&r->async);
    }
    r->b.ops->disconnect(&r->b);
}

static void async_cb(uv_async_t *a)
{
    struct epoch_reader *r = a->data;
    struct epoch_rows rows;
    char error[MS_ERRMSG_MAX];
    bool have, ok;

    uv_mutex_lock(&r->lock);
    have = r->have;
    ok = r->result_ok;
    rows = r->result;
    memcpy(error, r->error, sizeof error);
    r->have = false;
    memset(&r->result, 0, sizeof r->result);
    if (r->global_result > 0) {
        r->global_writes += (uint64_t)r->global_result;
    }
    r->global_result = 0;
    bool projects_have = r->projects_have;
    struct epoch_projects plist = r->projects;
    r->projects_have = false;
    memset(&r->projects, 0, sizeof r->projects);
    uv_mutex_unlock(&r->lock);
    if (projects_have) {
        struct epoch_projects *heap = r->started && r->projects_cb != NULL ? malloc(sizeof *heap) : NULL;
        if (heap == NULL) {
            epoch_projects_free(&plist); /* closing, or out of memory: asked again next period */
        } else {
            *heap = plist;
            r->projects_cb(r, heap);
        }
    }
    if (!have) {
        return;
    }
    if (!r->started) {
        epoch_rows_free(&rows);
        return;
    }
    r->reads++;
    if (ok) {
        struct epoch_rows *heap = malloc(sizeof *heap);
        if (heap == NULL) {
            epoch_rows_free(&rows);
            r->cb(r, NULL, "out of memory");
            return;
        }
        *heap = rows;
        r->cb(r, heap, NULL);
    } else {
        r->cb(r, NULL, error);
    }
}

int epoch_reader_start(struct epoch_reader *r, uv_loop_t *loop, const struct ms_url *url, uint64_t member_id,
                       epoch_reader_cb cb, char *err, size_t err_size)
{
    void *data = r->data;
    memset(r, 0, sizeof *r);
    r->data = data;
    r->url = *url;
    r->cb = cb;
    r->cancel_pipe[0] = r->cancel_pipe[1] = -1;
    if (ms_backend_global_init(url->kind) != 0) {
        snprintf(err, err_size, "cannot initialise the %s client library", ms_kind_name(url->kind));
        return -1;
    }
    if (pipe2(r->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        return -1;
    }
    ms_backend_init(&r->b, &r->url, r->cancel_pipe[0]);
    r->b.member_id = member_id;
    if (uv_mutex_init(&r->lock) != 0) {
        snprintf(err, err_size, "cannot create a mutex");
        goto err_pipe;
    }
    if (uv_cond_init(&r->cond) != 0) {
        snprintf(err, err_size, "cannot create a condition variable");
        goto err_mutex;
    }
    int rv = uv_async_init(loop, &r->async, async_cb);
    if (rv != 0) {
        snprintf(err, err_size, "uv_async_init: %s", uv_strerror(rv));
        goto err_cond;
    }
    r->async.data = r;
    rv = uv_thread_create(&r->thread, thread_main, r);
    if (rv != 0) {
        snprintf(err, err_size, "cannot start its thread: %s", uv_strerror(rv));
        uv_close((uv_handle_t *)&r->async, NULL);
        goto err_cond;
    }
    r->started = true;
    return 0;

err_cond:
    uv_cond_destroy(&r->cond);
err_mutex:
    uv_mutex_destroy(&r->lock);
err_pipe:
    close(r->cancel_pipe[0]);
    close(r->cancel_pipe[1]);
    r->cancel_pipe[0] = r->cancel_pipe[1] = -1;
    return -1;
}

void epoch_reader_request(struct epoch_reader *r)
{
    if (!r->started) {
        return;
    }
    uv_mutex_lock(&r->lock);
    r->want = true;
    uv_cond_signal(&r->cond);
    uv_mutex_unlock(&r->lock);
}

void epoch_reader_write_global(struct epoch_reader *r, const struct epoch_global_write *w)
{
    if (!r->started) {
        return;
    }
    uv_mutex_lock(&r->lock);
    r->global = *w;
    if (r->url.kind == MS_KIND_MYSQL) { /* Kylin's utf8 epoch table */
        sql_text_utf8mb3(r->global.reason);
    }
    r->global_pending = true;
    r->want = true;
    uv_cond_signal(&r->cond);
    uv_mutex_unlock(&r->lock);
}

void epoch_reader_follow(struct epoch_reader *r, const struct epoch_projects_hooks *h, epoch_projects_cb cb)
{
    if (!r->started) {
        return;
    }
    uv_mutex_lock(&r->lock);
    r->hooks = *h;
    r->projects_cb = cb;
    uv_mutex_unlock(&r->lock);
}

void epoch_reader_request_projects(struct epoch_reader *r)
{
    if (!r->started || r->projects_cb == NULL) {
        return;
    }
    uv_mutex_lock(&r->lock);
    r->projects_want = true; /* no wake-up: it rides on the next epoch_reader_request */
    uv_mutex_unlock(&r->lock);
}

void epoch_reader_close(struct epoch_reader *r)
{
    if (!r->started) {
        return;
    }
    uv_mutex_lock(&r->lock);
    r->stop = true;
    uv_cond_signal(&r->cond);
    uv_mutex_unlock(&r->lock);
    ssize_t wr = write(r->cancel_pipe[1], "x", 1);
    (void)wr; /* a full pipe already wakes the thread */
    uv_thread_join(&r->thread);
    r->started = false;
    if (r->have) {
        epoch_rows_free(&r->result);
        r->have = false;
    }
    if (r->projects_have) {
        epoch_projects_free(&r->projects);
        r->projects_have = false;
    }
    uv_close((uv_handle_t *)&r->async, NULL);
    uv_cond_destroy(&r->cond);
    uv_mutex_destroy(&r->lock);
    close(r->cancel_pipe[0]);
    close(r->cancel_pipe[1]);
    r->cancel_pipe[0] = r->cancel_pipe[1] = -1;
}
