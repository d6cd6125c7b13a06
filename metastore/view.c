/* view: the mirror's consistent read of state.db (see view.h), from storage's reads
 * (storage/reader.h). */
#include "metastore/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read of storage failed: its message is ours. Returns -1. */
static int store_failed(struct view_reader *r)
{
    snprintf(r->errmsg, sizeof r->errmsg, "%s", r->store.errmsg);
    return -1;
}

int view_open(struct view_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    return store_reader_open(&r->store, path) != 0 ? store_failed(r) : 0;
}

void view_close(struct view_reader *r)
{
    store_reader_close(&r->store);
}

void view_free(struct view *v)
{
    for (size_t i = 0; i < v->n_projects; i++) {
        free(v->projects[i].name);
    }
    for (size_t i = 0; i < v->n_engines; i++) {
        free(v->engines[i].identity);
    }
    for (size_t i = 0; i < v->n_history; i++) {
        free(v->history[i].project);
    }
    for (size_t i = 0; i < v->n_members; i++) {
        free(v->members[i].api_address);
    }
    for (size_t i = 0; i < v->n_gone; i++) {
        free(v->gone[i]);
    }
    free(v->gone);
    free(v->projects);
    free(v->engines);
    free(v->history);
    free(v->members);
    free(v->maintenance_reason);
    memset(v, 0, sizeof *v);
}

const struct view_engine *view_engine(const struct view *v, uint64_t id)
{
    for (size_t i = 0; i < v->n_engines; i++) {
        if (v->engines[i].id == id) {
            return &v->engines[i];
        }
    }
    return NULL;
}

/* Grows *ARR (element SIZE) to hold N + 1 elements. 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return 0;
    }
    size_t c = *cap == 0 ? 64 : *cap * 2;
    void *p = realloc(*arr, c * size);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = c;
    return 0;
}

/* A view being filled: the arrays' capacities. */
struct view_build {
    struct view *v;
    size_t cap_projects, cap_engines, cap_history, cap_members, cap_gone;
    size_t n_unowned; /* the delta: v->projects[0 .. n_unowned) are the unowned ones, by name */
};

/* ---- the rows storage hands over, copied into the view ---- */

static int project_row(void *data, const struct store_reader_project *row)
{
    struct view_build *b = data;
    struct view *v = b->v;
    if (grow((void **)&v->projects, &b->cap_projects, v->n_projects, sizeof *v->projects) != 0) {
        return -1;
    }
    struct view_project *p = &v->projects[v->n_projects];
    p->name = strdup(row->name);
    if (p->name == NULL) {
        return -1;
    }
    p->owner = row->owner;
    p->epoch = row->epoch;
    v->n_projects++;
    return 0;
}

static int engine_row(void *data, const struct store_reader_engine *row)
{
    struct view_build *b = data;
    struct view *v = b->v;
    if (grow((void **)&v->engines, &b->cap_engines, v->n_engines, sizeof *v->engines) != 0) {
        return -1;
    }
    struct view_engine *e = &v->engines[v->n_engines];
    memset(e, 0, sizeof *e);
    e->id = row->id;
    snprintf(e->mode, sizeof e->mode, "%s", row->mode);
    e->weight = row->weight;
    e->identity = strdup(row->identity);
    if (e->identity == NULL) {
        return -1;
    }
    e->alive = row->alive;
    e->draining = row->draining;
    v->n_engines++;
    return 0;
}

/* Rows come newest first and the scan stops at the first one at or below the watermark, so
 * a batch reads only the new rows however long the history is; read_all puts them back in
 * log order. */
static int history_row(void *data, const struct store_reader_history *row)
{
    struct view_build *b = data;
    struct view *v = b->v;
    if (row->raft_index <= v->history_after) {
        return 1;
    }
    if (grow((void **)&v->history, &b->cap_history, v->n_history, sizeof *v->history) != 0) {
        return -1;
    }
    struct view_history *h = &v->history[v->n_history];
    memset(h, 0, sizeof *h);
    h->raft_index = row->raft_index;
    h->term = row->term;
    h->time_ms = row->time_ms;
    h->project = strdup(row->project);
    if (h->project == NULL) {
        return -1;
    }
    h->from = row->from;
    h->to = row->to;
    h->epoch = row->epoch;
    snprintf(h->reason, sizeof h->reason, "%s", row->reason);
    v->n_history++;
    return 0;
}

static int member_row(void *data, const struct store_reader_member *row)
{
    struct view_build *b = data;
    struct view *v = b->v;
    if (grow((void **)&v->members, &b->cap_members, v->n_members, sizeof *v->members) != 0) {
        return -1;
    }
    struct view_member *m = &v->members[v->n_members];
    m->id = row->id;
    m->api_address = strdup(row->api_address);
    if (m->api_address == NULL) {
        return -1;
    }
    v->n_members++;
    return 0;
}

int view_read_indexes(struct view_reader *r, uint64_t *applied, uint64_t *decision)
{
    return store_reader_indexes(&r->store, applied, decision) != 0 ? store_failed(r) : 0;
}

static int cmp_project(const void *a, const void *b)
{
    return strcmp(((const struct view_project *)a)->name, ((const struct view_project *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A project named in the new history rows: its owned row, or (ROW NULL) none. */
static int named_row(void *data, const char *name, const struct store_reader_project *row)
{
    struct view_build *b = data;
    struct view *v = b->v;
    if (row != NULL) {
        return project_row(data, row);
    }
    /* No owned row: unowned now (read before) or removed. */
    struct view_project key = {.name = (char *)name};
    if (b->n_unowned == 0 || bsearch(&key, v->projects, b->n_unowned, sizeof *v->projects, cmp_project) == NULL) {
        if (grow((void **)&v->gone, &b->cap_gone, v->n_gone, sizeof *v->gone) != 0 ||
            (v->gone[v->n_gone] = strdup(name)) == NULL) {
            return -1;
        }
        v->n_gone++;
    }
    return 0;
}

/* The delta's projects (see view_read_delta): the unowned ones, then the current row of
 * every project the new history rows name (or its name in v->gone); by name, each once. */
static int read_delta_projects(struct view_reader *r, struct view_build *b)
{
    struct view *v = b->v;
    const char **names = NULL;
    size_t n_names = 0;
    int rc = -1;
    if (store_reader_unowned_projects(&r->store, project_row, b) != 0) {
        return store_failed(r);
    }
    b->n_unowned = v->n_projects;
    if (b->n_unowned > 1) { /* v->projects is NULL when empty: no qsort/bsearch on it then */
        qsort(v->projects, b->n_unowned, sizeof *v->projects, cmp_project);
    }
    names = calloc(v->n_history + 1, sizeof *names);
    if (names == NULL) {
        snprintf(r->errmsg, sizeof r->errmsg, "%.400s: out of memory for %zu history rows", r->store.path, v->n_history);
        return -1;
    }
    for (size_t i = 0; i < v->n_history; i++) {
        names[i] = v->history[i].project;
    }
    qsort(names, v->n_history, sizeof *names, cmp_str);
    for (size_t i = 0; i < v->n_history; i++) { /* each name once */
        if (n_names == 0 || strcmp(names[i], names[n_names - 1]) != 0) {
            names[n_names++] = names[i];
        }
    }
    if (store_reader_owned_projects(&r->store, names, n_names, named_row, b) != 0) {
        store_failed(r);
        goto out;
    }
    if (v->n_projects > 1) {
        qsort(v->projects, v->n_projects, sizeof *v->projects, cmp_project);
    }
    if (store_reader_count_projects(&r->store, &v->n_all) != 0) {
        store_failed(r);
        goto out;
    }
    rc = 0;
out:
    free(names);
    return rc;
}

/* Reads everything; the projects all of them (COMPLETE) or the delta. */
static int read_all(struct view_reader *r, uint64_t after, bool complete, struct view *out)
{
    struct view_build b = {.v = out};
    char *reason = NULL;
    memset(out, 0, sizeof *out);
    /* One read transaction (storage/reader.h): every read below sees one applied index. */
    if (store_reader_begin(&r->store) != 0) {
        return store_failed(r);
    }
    out->history_after = after;
    out->complete = complete;
    int rc = store_reader_indexes(&r->store, &out->applied_index, &out->decision_index);
    if (rc == 0) {
        rc = store_reader_maintenance(&r->store, &out->maintenance, &reason);
        out->maintenance_reason = reason;
    }
    if (rc == 0) {
        rc = store_reader_engines(&r->store, engine_row, &b);
    }
    if (rc == 0) {
        rc = store_reader_history_newest_first(&r->store, history_row, &b);
    }
    if (rc == 0) {
        rc = store_reader_members(&r->store, member_row, &b);
    }
    if (rc != 0) {
        store_failed(r);
    } else if (complete) {
        rc = store_reader_projects(&r->store, project_row, &b) != 0 ? store_failed(r) : 0;
    } else {
        rc = read_delta_projects(r, &b);
    }
    if (rc != 0) {
        store_reader_abort(&r->store);
        view_free(out);
        return -1;
    }
    if (complete) {
        out->n_all = out->n_projects;
    }
    for (size_t i = 0, j = out->n_history; i + 1 < j; i++, j--) {
        struct view_history h = out->history[i];
        out->history[i] = out->history[j - 1];
        out->history[j - 1] = h;
    }
    if (store_reader_end(&r->store) != 0) {
        store_failed(r);
        view_free(out);
        return -1;
    }
    return 0;
}

int view_read(struct view_reader *r, uint64_t after, struct view *out)
{
    return read_all(r, after, true, out);
}

int view_read_delta(struct view_reader *r, uint64_t after, struct view *out)
{
    return read_all(r, after, false, out);
}
