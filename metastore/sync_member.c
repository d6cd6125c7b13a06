/* sync_member: the <prefix>_raft_member table of a batch: one row per raft member and per
 * engine (engine id = member id), compared with the table (full) or with the image's member
 * rows (see sync_int.h). */
#include <stdlib.h>
#include <string.h>

#include "metastore/sql.h"
#include "metastore/sync_int.h"

struct want_member {
    uint64_t id;
    const char *vals[SQL_MEMBER_COLS];
    sync_num_t id_text, weight, alive, draining;
};

static int cmp_member(const void *a, const void *b)
{
    const struct want_member *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

struct have_member {
    uint64_t id;
    const char *const *vals; /* SQL_MEMBER_COLS cells */
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

/* The rows the table must hold, by id, into W (capacity p->n_conf + v->n_engines). */
static size_t want_members(const struct view *v, const struct sync_params *p, struct want_member *want)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_conf; i++) {
        struct want_member *m = find_or_add(want, &n, p->conf[i].id);
        m->vals[1] = p->conf[i].raft_address;
        m->vals[3] = p->conf[i].role;
    }
    for (size_t i = 0; i < v->n_engines; i++) {
        const struct view_engine *e = &v->engines[i];
        struct want_member *m = find_or_add(want, &n, e->id);
        m->vals[4] = e->mode;
        m->vals[5] = sync_num(m->weight, e->weight);
        m->vals[6] = e->identity;
        m->vals[7] = sync_num(m->alive, e->alive);
        m->vals[8] = sync_num(m->draining, e->draining);
    }
    for (size_t i = 0; i < n; i++) {
        want[i].vals[0] = sync_num(want[i].id_text, want[i].id);
        want[i].vals[2] = want[i].id == p->self_id ? p->self_api : NULL;
        for (size_t j = 0; j < v->n_members && want[i].id != p->self_id; j++) {
            if (v->members[j].id == want[i].id) {
                want[i].vals[2] = v->members[j].api_address;
            }
        }
    }
    qsort(want, n, sizeof *want, cmp_member);
    return n;
}

/* The table's current rows: read back (full) or the image's (by id either way). *N_HAVE
 * rows into *HAVE (malloc'd); ROWS keeps the cells of a read. 0 or -1. */
static int have_members(struct ms_backend *b, const struct sync_params *p, const struct image *img, bool full,
                        struct ms_rows *rows, struct have_member **have, size_t *n_have)
{
    size_t n = full ? 0 : img->n_members;
    if (full && sync_query_owned(b, sql_member_select(b->url->kind, p->prefix), rows) != 0) {
        return -1;
    }
    if (full) {
        n = rows->n_rows;
    }
    struct have_member *h = calloc(n > 0 ? n : 1, sizeof *h);
    if (h == NULL) {
        ms_backend_error(b, false, "out of memory comparing %zu member rows", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (full) {
            h[i].vals = (const char *const *)&rows->cells[i * rows->n_cols];
            if (!sync_parse_u64(h[i].vals[0], &h[i].id)) {
                h[i].id = 0; /* not ours: sorts first, deleted below */
            }
        } else {
            h[i].vals = (const char *const *)img->members[i].vals;
            h[i].id = img->members[i].id;
        }
    }
    qsort(h, n, sizeof *h, cmp_have);
    *have = h;
    *n_have = n;
    return 0;
}

int sync_members(struct ms_backend *b, const struct view *v, const struct sync_params *p, struct image *img,
                 bool full, struct sync_result *out)
{
    int rc = -1;
    struct ms_rows rows = {0};
    size_t cap = p->n_conf + v->n_engines + 1, n_have = 0, n_up = 0, n_del = 0;
    struct want_member *want = calloc(cap, sizeof *want);
    struct image_member *keep = NULL;
    struct have_member *have = NULL;
    const char **up = NULL, **del = NULL;
    sync_num_t *del_ids = NULL;
    if (want == NULL) {
        ms_backend_error(b, false, "out of memory for %zu members", cap);
        return -1;
    }
    size_t n = want_members(v, p, want);
    if (have_members(b, p, img, full, &rows, &have, &n_have) != 0) {
        goto out;
    }
    up = calloc((n > 0 ? n : 1) * SQL_MEMBER_COLS, sizeof *up);
    del = calloc(n_have > 0 ? n_have : 1, sizeof *del);
    del_ids = calloc(n_have > 0 ? n_have : 1, sizeof *del_ids);
    keep = calloc(n > 0 ? n : 1, sizeof *keep);
    if (up == NULL || del == NULL || del_ids == NULL || keep == NULL) {
        ms_backend_error(b, false, "out of memory comparing members");
        goto out;
    }
    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        while (h < n_have && have[h].id < want[i].id) {
            del[n_del] = have[h].vals[0];
            n_del++;
            h++;
        }
        bool differs = true;
        if (h < n_have && have[h].id == want[i].id) {
            differs = false;
            for (size_t c = 1; c < SQL_MEMBER_COLS && !differs; c++) {
                differs = !sync_same(want[i].vals[c], have[h].vals[c]);
            }
            h++;
        }
        if (differs) {
            memcpy(&up[n_up++ * SQL_MEMBER_COLS], want[i].vals, sizeof want[i].vals);
        }
        keep[i].id = want[i].id;
        memcpy(keep[i].vals, want[i].vals, sizeof want[i].vals); /* borrowed: copied below */
    }
    while (h < n_have) {
        del[n_del++] = have[h++].vals[0];
    }
    for (size_t i = 0; i < n_del; i++) {
        if (del[i] == NULL) {
            del[i] = sync_num(del_ids[i], 0); /* a NULL key cannot match anything: harmless */
        }
    }
    uint64_t affected = 0;
    if (sync_write_rows(b, p->prefix, sql_member_upsert, up, n_up, SQL_MEMBER_COLS, &affected) != 0 ||
        sync_write_rows(b, p->prefix, sql_member_delete, del, n_del, 1, &affected) != 0) {
        goto out;
    }
    out->rows_written += n_up + n_del;
    /* After the writes: the image's rows may have been the ones compared with. */
    if (image_set_members(img, keep, n) != 0) {
        ms_backend_error(b, false, "out of memory keeping %zu member rows", n);
        goto out;
    }
    rc = 0;
out:
    free(keep);
    free(del_ids);
    free(del);
    free(up);
    free(have);
    free(want);
    ms_rows_free(&rows);
    return rc;
}
