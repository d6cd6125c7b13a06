/* sync_epoch: the <prefix>_epoch table of a batch, full or incremental (see sync_int.h; the
 * values Kylin expects are described at the top of sync.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metastore/sql.h"
#include "metastore/sync_int.h"

/* ---- values ---- */

void epoch_ctx_of_view(struct epoch_ctx *c, const struct view *v, const struct sync_params *p, char *maint_owner,
                       size_t cap)
{
    maint_owner[0] = '\0';
    if (v->maintenance) {
        char host[SYNC_ADDR_MAX];
        const struct view_engine *self = view_engine(v, p->self_id);
        sync_identity_host(self != NULL && self->identity[0] != '\0' ? self->identity : p->self_host, host,
                           sizeof host);
        snprintf(maint_owner, cap, "%s:0000|" SYNC_LONG_MAX_TEXT, host);
    }
    c->engines = v->engines;
    c->n_engines = v->n_engines;
    c->maintenance = v->maintenance;
    c->reason = v->maintenance && v->maintenance_reason != NULL ? v->maintenance_reason : "";
    c->maint_owner = maint_owner;
}

void epoch_ctx_of_image(struct epoch_ctx *c, const struct image *img)
{
    c->engines = img->engines;
    c->n_engines = img->n_engines;
    c->maintenance = img->maintenance;
    c->reason = img->reason != NULL ? img->reason : "";
    c->maint_owner = img->maint_owner != NULL ? img->maint_owner : "";
}

/* Engines come by id (view.c reads them ORDER BY id; the image keeps that order). */
static const struct view_engine *ctx_engine(const struct epoch_ctx *c, uint64_t id)
{
    size_t lo = 0, hi = c->n_engines;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->engines[mid].id == id) {
            return &c->engines[mid];
        }
        if (c->engines[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

void epoch_values(const struct epoch_ctx *c, uint64_t owner, uint64_t epoch, struct epoch_vals *out)
{
    const struct view_engine *e = owner != 0 ? ctx_engine(c, owner) : NULL;
    sync_num(out->epoch_id, epoch);
    out->owner = e != NULL ? e->identity : "";
    out->renew = e != NULL ? SYNC_LONG_MAX_TEXT : "-1";
    out->mode = e != NULL ? e->mode : NULL;
    out->reason = NULL;
    if (c->maintenance) {
        out->owner = c->maint_owner;
        out->renew = SYNC_LONG_MAX_TEXT;
        out->reason = c->reason;
    }
}

bool epoch_vals_equal(const struct epoch_vals *a, const struct epoch_vals *b)
{
    return strcmp(a->epoch_id, b->epoch_id) == 0 && sync_same(a->owner, b->owner) &&
           sync_same(a->renew, b->renew) && sync_same(a->mode, b->mode) && sync_same(a->reason, b->reason);
}

/* Could any row's values differ between contexts A and B? (Only identity and mode of an
 * engine enter a row; alive, draining and weight do not.) */
static bool ctx_equal(const struct epoch_ctx *a, const struct epoch_ctx *b)
{
    if (a->maintenance != b->maintenance || strcmp(a->reason, b->reason) != 0 ||
        strcmp(a->maint_owner, b->maint_owner) != 0 || a->n_engines != b->n_engines) {
        return false;
    }
    for (size_t i = 0; i < a->n_engines; i++) {
        const struct view_engine *x = &a->engines[i], *y = &b->engines[i];
        if (x->id != y->id || strcmp(x->identity, y->identity) != 0 || strcmp(x->mode, y->mode) != 0) {
            return false;
        }
    }
    return true;
}

/* Fills the SQL_EPOCH_WRITE_COLS values of one upsert row. */
static void upsert_row(const char **vals, const char *target, const struct epoch_vals *w)
{
    vals[0] = target;
    vals[1] = w->epoch_id;
    vals[2] = w->owner;
    vals[3] = w->renew;
    vals[4] = w->mode;
    vals[5] = w->reason;
}

static bool differs_from_cells(const struct epoch_vals *w, const struct ms_rows *have, size_t row)
{
    return !sync_same(w->epoch_id, ms_cell(have, row, 1)) || !sync_same(w->owner, ms_cell(have, row, 2)) ||
           !sync_same(w->renew, ms_cell(have, row, 3)) || !sync_same(w->mode, ms_cell(have, row, 4)) ||
           !sync_same(w->reason, ms_cell(have, row, 5));
}

/* The mvcc cell of ROW: a number, or -1 for NULL or anything else. */
static int64_t mvcc_cell(const struct ms_rows *have, size_t row)
{
    const char *s = ms_cell(have, row, 6);
    if (s == NULL) {
        return -1;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '\0' ? (int64_t)v : -1;
}

/* ---- full ---- */

/* qsort comparator over pointers to rows (arrays of cells): by the first cell. */
static int cmp_cell0(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a;
    const char *const *y = *(const char *const *const *)b;
    return strcmp(x[0] != NULL ? x[0] : "", y[0] != NULL ? y[0] : "");
}

/* Rows of HAVE that differ from the image (values or mvcc), are missing from it, or that
 * it holds and the table does not: written by someone else since the image was made.
 * (Uses the image's seen marks; the image is rebuilt right after.) */
static void count_stray(struct image *img, const struct ms_rows *have, struct sync_result *out)
{
    struct epoch_ctx c;
    epoch_ctx_of_image(&c, img);
    image_next_gen(img);
    size_t matched = 0;
    for (size_t i = 0; i < have->n_rows; i++) {
        const char *target = ms_cell(have, i, 0);
        struct image_row *r = target != NULL ? image_find(img, target, strlen(target)) : NULL;
        bool stray = r == NULL;
        if (r != NULL) {
            struct epoch_vals w;
            epoch_values(&c, r->owner, r->epoch, &w);
            stray = differs_from_cells(&w, have, i) || mvcc_cell(have, i) != r->mvcc;
            r->seen = img->gen;
            matched++;
        }
        if (stray) {
            out->stray_rows++;
            if (out->stray_example[0] == '\0') {
                snprintf(out->stray_example, sizeof out->stray_example, "%s", target != NULL ? target : "(NULL)");
            }
        }
    }
    out->stray_rows += img->n - matched;
    for (size_t i = 0; i < img->cap && out->stray_example[0] == '\0' && img->n > matched; i++) {
        if (img->slots[i].name != NULL && img->slots[i].seen != img->gen) { /* deleted by someone */
            snprintf(out->stray_example, sizeof out->stray_example, "%s", img->slots[i].name);
        }
    }
}

int sync_epochs_full(struct ms_backend *b, const struct view *v, const struct sync_params *p, struct image *img,
                     bool check_stray, struct sync_result *out)
{
    int rc = -1;
    struct ms_rows have = {0};
    char maint_owner[SYNC_ADDR_MAX + 32];
    struct epoch_ctx ctx;
    struct epoch_vals *want = NULL;
    int64_t *mvcc = NULL;
    const char **up = NULL, **del = NULL;
    const char ***order = NULL;
    if (sync_query_owned(b, sql_epoch_select(b->url->kind, p->prefix), &have) != 0) {
        return -1;
    }
    if (check_stray) {
        count_stray(img, &have, out);
    }
    epoch_ctx_of_view(&ctx, v, p, maint_owner, sizeof maint_owner);
    size_t np = v->n_projects > 0 ? v->n_projects : 1, nh = have.n_rows > 0 ? have.n_rows : 1;
    want = calloc(np, sizeof *want);
    mvcc = calloc(np, sizeof *mvcc);
    up = calloc(np * SQL_EPOCH_WRITE_COLS, sizeof *up);
    del = calloc(nh, sizeof *del);
    order = calloc(nh, sizeof *order);
    if (want == NULL || mvcc == NULL || up == NULL || del == NULL || order == NULL) {
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
        const struct view_project *pr = &v->projects[i];
        epoch_values(&ctx, pr->owner, pr->epoch, &want[i]);
        int c = 1;
        while (h < have.n_rows && (c = strcmp(order[h][0] != NULL ? order[h][0] : "", pr->name)) < 0) {
            del[n_del++] = order[h][0];
            h++;
        }
        bool found = h < have.n_rows && c == 0;
        size_t row = found ? (size_t)(order[h] - (const char **)have.cells) / have.n_cols : 0;
        bool write = !found || differs_from_cells(&want[i], &have, row);
        /* The mvcc the row has once this batch commits (the upsert adds 1; a new row is 0). */
        mvcc[i] = !found ? 0 : write ? (mvcc_cell(&have, row) < 0 ? 0 : mvcc_cell(&have, row) + 1)
                                     : mvcc_cell(&have, row);
        if (write) {
            upsert_row(&up[n_up++ * SQL_EPOCH_WRITE_COLS], pr->name, &want[i]);
        }
        if (found) {
            h++;
        }
    }
    while (h < have.n_rows) {
        del[n_del++] = order[h++][0];
    }
    uint64_t n = 0;
    /* Deletes first: on a table whose key compares ignoring case (Kylin's MySQL DDL), the
     * upsert of 'sales' would otherwise update the row 'Sales' that the delete then removes. */
    if (sync_write_rows(b, p->prefix, sql_epoch_delete, del, n_del, 1, &n) != 0 ||
        sync_write_rows(b, p->prefix, sql_epoch_upsert, up, n_up, SQL_EPOCH_WRITE_COLS, &n) != 0) {
        goto out;
    }
    out->epoch_rows += n_up + n_del;
    out->rows_written += n_up + n_del;
    /* The image: exactly what the table holds once this batch commits. */
    image_clear_rows(img);
    for (size_t i = 0; i < v->n_projects; i++) {
        const struct view_project *pr = &v->projects[i];
        if (image_put(img, pr->name, strlen(pr->name), pr->owner, pr->epoch, mvcc[i]) == NULL) {
            ms_backend_error(b, false, "out of memory building the image of %zu epoch rows", v->n_projects);
            goto out;
        }
    }
    if (image_set_context(img, ctx.engines, ctx.n_engines, ctx.maintenance, ctx.reason, ctx.maint_owner) != 0) {
        ms_backend_error(b, false, "out of memory building the image of %zu engines", ctx.n_engines);
        goto out;
    }
    rc = 0;
out:
    free(order);
    free(del);
    free(up);
    free(mvcc);
    free(want);
    ms_rows_free(&have);
    return rc;
}

/* ---- incremental ---- */

/* A row to write in an incremental batch. */
struct inc_up {
    const char *target;
    struct epoch_vals w;
    struct image_row *row; /* its image row (NULL: a new project) */
};

/* What an incremental batch changes; the arrays are sized for every project of the view and
 * every row of the image. */
struct inc_plan {
    struct inc_up *ups;
    size_t n_up, n_up_projects; /* ups[0, n_up_projects) come from v->projects */
    bool *wrote;                /* by index in v->projects */
    const char **del;           /* names (the image's own strings) */
    size_t *del_len;
    size_t n_del;
    size_t n_new;               /* projects of the view the image does not hold */
};

static void plan_free(struct inc_plan *pl)
{
    free(pl->ups);
    free(pl->wrote);
    free(pl->del);
    free(pl->del_len);
}

static void plan_delete(struct inc_plan *pl, struct image_row *r, uint32_t gen)
{
    r->seen = gen;
    pl->del[pl->n_del] = r->name;
    pl->del_len[pl->n_del++] = r->len;
}

/* Compares V with the image (contexts NOW and WAS) into PL, marking every row dealt with.
 * Returns 1 when V is a delta that cannot explain the store's count of projects (an owned
 * project was removed: the caller reads every project instead). */
static int plan(const struct view *v, struct image *img, const struct epoch_ctx *now, const struct epoch_ctx *was,
                bool ctx_changed, struct inc_plan *pl)
{
    image_next_gen(img);
    /* The projects the view holds: new, changed, unowned, or (complete) all. */
    for (size_t i = 0; i < v->n_projects; i++) {
        const struct view_project *pr = &v->projects[i];
        struct inc_up *u = &pl->ups[pl->n_up];
        u->target = pr->name;
        u->row = image_find(img, pr->name, strlen(pr->name));
        epoch_values(now, pr->owner, pr->epoch, &u->w);
        bool differs = true;
        if (u->row != NULL) {
            struct epoch_vals old;
            u->row->seen = img->gen;
            epoch_values(was, u->row->owner, u->row->epoch, &old);
            differs = !epoch_vals_equal(&old, &u->w);
        } else {
            pl->n_new++;
        }
        if (differs) {
            pl->wrote[i] = true;
            pl->n_up++;
        }
    }
    pl->n_up_projects = pl->n_up;
    /* Removed projects the new history rows name. */
    for (size_t i = 0; i < v->n_gone; i++) {
        struct image_row *r = image_find(img, v->gone[i], strlen(v->gone[i]));
        if (r != NULL && r->seen != img->gen) {
            plan_delete(pl, r, img->gen);
        }
    }
    /* The rest of the image: a complete view no longer has them; a delta does not hold the
     * ones the store did not touch, and an unowned one it would hold (unowned projects are
     * always read), so that one was removed. */
    for (size_t i = 0; i < img->cap; i++) {
        struct image_row *r = &img->slots[i];
        if (r->name == NULL || r->seen == img->gen) {
            continue;
        }
        if (v->complete || r->owner == 0) {
            plan_delete(pl, r, img->gen);
        } else if (ctx_changed) {
            struct inc_up *u = &pl->ups[pl->n_up];
            struct epoch_vals old;
            u->target = r->name;
            u->row = r;
            epoch_values(now, r->owner, r->epoch, &u->w);
            epoch_values(was, r->owner, r->epoch, &old);
            if (!epoch_vals_equal(&old, &u->w)) {
                pl->n_up++;
            }
        }
    }
    return !v->complete && img->n - pl->n_del + pl->n_new != v->n_all;
}

int sync_epochs_incremental(struct ms_backend *b, const struct view *v, const struct sync_params *p,
                            struct image *img, struct sync_result *out)
{
    int rc = -1;
    char maint_owner[SYNC_ADDR_MAX + 32];
    struct epoch_ctx now, was;
    epoch_ctx_of_view(&now, v, p, maint_owner, sizeof maint_owner);
    epoch_ctx_of_image(&was, img);
    /* An engine's new identity or mode, or maintenance switched: rows the store did not
     * touch may read differently now. Rare, and then every row is recomputed (in memory). */
    bool ctx_changed = !ctx_equal(&now, &was);
    struct inc_plan pl = {0};
    const char **vals = NULL;
    size_t cap = v->n_projects + img->n + 1;
    pl.ups = calloc(cap, sizeof *pl.ups);
    pl.wrote = calloc(v->n_projects + 1, sizeof *pl.wrote);
    pl.del = calloc(img->n + 1, sizeof *pl.del);
    pl.del_len = calloc(img->n + 1, sizeof *pl.del_len);
    if (pl.ups == NULL || pl.wrote == NULL || pl.del == NULL || pl.del_len == NULL) {
        ms_backend_error(b, false, "out of memory comparing %zu changed projects", v->n_projects);
        goto out;
    }
    if (plan(v, img, &now, &was, ctx_changed, &pl) != 0) {
        rc = 1; /* nothing written yet */
        goto out;
    }
    vals = calloc(pl.n_up * SQL_EPOCH_WRITE_COLS + 1, sizeof *vals);
    if (vals == NULL) {
        ms_backend_error(b, false, "out of memory for %zu epoch rows", pl.n_up);
        goto out;
    }
    for (size_t i = 0; i < pl.n_up; i++) {
        upsert_row(&vals[i * SQL_EPOCH_WRITE_COLS], pl.ups[i].target, &pl.ups[i].w);
    }
    uint64_t n = 0;
    /* Deletes first (see sync_epochs_full). */
    if (sync_write_rows(b, p->prefix, sql_epoch_delete, pl.del, pl.n_del, 1, &n) != 0 ||
        sync_write_rows(b, p->prefix, sql_epoch_upsert, vals, pl.n_up, SQL_EPOCH_WRITE_COLS, &n) != 0) {
        goto out;
    }
    out->epoch_rows += pl.n_up + pl.n_del;
    out->rows_written += pl.n_up + pl.n_del;

    /* The image follows, in an order that keeps the row pointers above valid as long as
     * they are used: mvcc of rows written for the context (pointers), then the projects of
     * the view (a put may move rows), then the removed ones (by name). */
    for (size_t i = pl.n_up_projects; i < pl.n_up; i++) {
        pl.ups[i].row->mvcc = pl.ups[i].row->mvcc < 0 ? 0 : pl.ups[i].row->mvcc + 1;
    }
    for (size_t i = 0; i < v->n_projects; i++) {
        const struct view_project *pr = &v->projects[i];
        size_t len = strlen(pr->name);
        struct image_row *r = image_find(img, pr->name, len);
        int64_t mvcc = r == NULL ? 0 : !pl.wrote[i] ? r->mvcc : r->mvcc < 0 ? 0 : r->mvcc + 1;
        if (image_put(img, pr->name, len, pr->owner, pr->epoch, mvcc) == NULL) {
            ms_backend_error(b, false, "out of memory updating the image (%zu epoch rows)", img->n);
            goto out;
        }
    }
    for (size_t i = 0; i < pl.n_del; i++) {
        image_remove(img, pl.del[i], pl.del_len[i]);
    }
    if (ctx_changed &&
        image_set_context(img, now.engines, now.n_engines, now.maintenance, now.reason, now.maint_owner) != 0) {
        ms_backend_error(b, false, "out of memory updating the image of %zu engines", now.n_engines);
        goto out;
    }
    rc = 0;
out:
    free(vals);
    plan_free(&pl);
    return rc;
}
