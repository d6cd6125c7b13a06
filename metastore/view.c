/* view: the mirror's consistent read of state.db (see view.h). */
#include "metastore/view.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A reader waits this long for the loop's writer only in rare cases (a checkpoint that
 * resets the WAL); WAL readers do not otherwise block. */
#define VIEW_BUSY_TIMEOUT_MS 2000
#define VIEW_MIN_SCHEMA 3

static int verr(struct view_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int verr(struct view_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return -1;
}

int view_open(struct view_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        verr(r, "opening %s read-only: %s", path, r->db != NULL ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        sqlite3_close(r->db);
        r->db = NULL;
        return -1;
    }
    if (sqlite3_busy_timeout(r->db, VIEW_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        verr(r, "%s: busy_timeout: %s", path, sqlite3_errmsg(r->db));
        sqlite3_close(r->db);
        r->db = NULL;
        return -1;
    }
    return 0;
}

void view_close(struct view_reader *r)
{
    if (r->db != NULL) {
        sqlite3_close(r->db); /* every statement is finalized where it is made */
        r->db = NULL;
    }
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

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t != NULL ? (const char *)t : "");
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
    sqlite3_int64 v = sqlite3_column_int64(st, col);
    return v > 0 ? (uint64_t)v : 0;
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

/* Row reader of one statement: fills one element from the current row; 0 = go on, 1 = stop
 * here, -1 = out of memory. */
typedef int (*row_fn)(sqlite3_stmt *st, struct view *v, size_t *cap);

static int meta_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    (void)cap;
    const unsigned char *key = sqlite3_column_text(st, 0);
    if (key == NULL) {
        return 0;
    }
    if (strcmp((const char *)key, "applied_index") == 0) {
        v->applied_index = col_u64(st, 1);
    } else if (strcmp((const char *)key, "decision_index") == 0) {
        v->decision_index = col_u64(st, 1);
    }
    return 0;
}

static int setting_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    (void)cap;
    const unsigned char *key = sqlite3_column_text(st, 0);
    if (key != NULL && strcmp((const char *)key, "maintenance") == 0) {
        v->maintenance = sqlite3_column_int64(st, 1) != 0;
    } else if (key != NULL && strcmp((const char *)key, "maintenance_reason") == 0) {
        free(v->maintenance_reason);
        v->maintenance_reason = dup_text(st, 1);
        if (v->maintenance_reason == NULL) {
            return -1;
        }
    }
    return 0;
}

static int project_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    if (grow((void **)&v->projects, cap, v->n_projects, sizeof *v->projects) != 0) {
        return -1;
    }
    struct view_project *p = &v->projects[v->n_projects];
    p->name = dup_text(st, 0);
    if (p->name == NULL) {
        return -1;
    }
    p->owner = col_u64(st, 1);
    p->epoch = col_u64(st, 2);
    v->n_projects++;
    return 0;
}

static int engine_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    if (grow((void **)&v->engines, cap, v->n_engines, sizeof *v->engines) != 0) {
        return -1;
    }
    struct view_engine *e = &v->engines[v->n_engines];
    memset(e, 0, sizeof *e);
    e->id = col_u64(st, 0);
    const unsigned char *mode = sqlite3_column_text(st, 1);
    snprintf(e->mode, sizeof e->mode, "%s", mode != NULL ? (const char *)mode : "");
    e->weight = (unsigned)sqlite3_column_int64(st, 2);
    e->identity = dup_text(st, 3);
    if (e->identity == NULL) {
        return -1;
    }
    e->alive = sqlite3_column_int64(st, 4) != 0;
    e->draining = sqlite3_column_int64(st, 5) != 0;
    v->n_engines++;
    return 0;
}

/* Rows come newest first (seq descending: history rows are appended in log order) and the
 * scan stops at the first one at or below the watermark, so a batch reads only the new rows
 * however long the history is; view_read puts them back in log order. */
static int history_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    if (col_u64(st, 0) <= v->history_after) {
        return 1;
    }
    if (grow((void **)&v->history, cap, v->n_history, sizeof *v->history) != 0) {
        return -1;
    }
    struct view_history *h = &v->history[v->n_history];
    memset(h, 0, sizeof *h);
    h->raft_index = col_u64(st, 0);
    h->term = col_u64(st, 1);
    h->time_ms = col_u64(st, 2);
    h->project = dup_text(st, 3);
    if (h->project == NULL) {
        return -1;
    }
    h->from = col_u64(st, 4); /* NULL reads as 0 = none */
    h->to = col_u64(st, 5);
    h->epoch = col_u64(st, 6);
    const unsigned char *reason = sqlite3_column_text(st, 7);
    snprintf(h->reason, sizeof h->reason, "%s", reason != NULL ? (const char *)reason : "");
    v->n_history++;
    return 0;
}

static int member_rows(sqlite3_stmt *st, struct view *v, size_t *cap)
{
    if (grow((void **)&v->members, cap, v->n_members, sizeof *v->members) != 0) {
        return -1;
    }
    struct view_member *m = &v->members[v->n_members];
    m->id = col_u64(st, 0);
    m->api_address = dup_text(st, 1);
    if (m->api_address == NULL) {
        return -1;
    }
    v->n_members++;
    return 0;
}

/* Runs SQL and hands every row to FN. */
static int each_row(struct view_reader *r, const char *sql, row_fn fn, struct view *v)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        verr(r, "%s: preparing \"%.60s\": %s", r->path, sql, sqlite3_errmsg(r->db));
        sqlite3_finalize(st);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int frc = fn(st, v, &cap);
        if (frc < 0) {
            verr(r, "%s: out of memory reading \"%.60s\"", r->path, sql);
            sqlite3_finalize(st);
            return -1;
        }
        if (frc > 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        verr(r, "%s: reading \"%.60s\": %s", r->path, sql, sqlite3_errmsg(r->db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int exec(struct view_reader *r, const char *sql)
{
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return verr(r, "%s: %s: %s", r->path, sql, sqlite3_errmsg(r->db));
    }
    return 0;
}

static int check_schema(struct view_reader *r)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_int64 version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW) {
        verr(r, "%s: reading meta.schema_version: %s", r->path,
             rc == SQLITE_DONE ? "missing" : sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        return -1;
    }
    if (version < VIEW_MIN_SCHEMA) {
        return verr(r, "%s: schema version %lld; the mirror needs %d or later (meta.decision_index)",
                    r->path, (long long)version, VIEW_MIN_SCHEMA);
    }
    return 0;
}

int view_read_indexes(struct view_reader *r, uint64_t *applied, uint64_t *decision)
{
    struct view v;
    memset(&v, 0, sizeof v);
    if (each_row(r, "SELECT key, value FROM meta WHERE key IN ('applied_index', 'decision_index')",
                 meta_rows, &v) != 0) {
        return -1;
    }
    *applied = v.applied_index;
    *decision = v.decision_index;
    return 0;
}

static int cmp_project(const void *a, const void *b)
{
    return strcmp(((const struct view_project *)a)->name, ((const struct view_project *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prepares SQL; 0 or -1 (errmsg). */
static int prepare(struct view_reader *r, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK) {
        verr(r, "%s: preparing \"%.60s\": %s", r->path, sql, sqlite3_errmsg(r->db));
        sqlite3_finalize(*st);
        *st = NULL;
        return -1;
    }
    return 0;
}

/* Steps ST (reset and bound by the caller) and appends its project rows to V (*CAP is the
 * capacity of v->projects); *FOUND counts them. 0 or -1. */
static int step_projects(struct view_reader *r, sqlite3_stmt *st, struct view *v, size_t *cap, size_t *found)
{
    int rc;
    *found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (project_rows(st, v, cap) != 0) {
            return verr(r, "%s: out of memory reading projects", r->path);
        }
        (*found)++;
    }
    if (rc != SQLITE_DONE) {
        return verr(r, "%s: reading projects: %s", r->path, sqlite3_errmsg(r->db));
    }
    return 0;
}

/* The delta's projects (see view_read_delta): the unowned ones, then the current row of
 * every project the new history rows name (or its name in v->gone); by name, each once. */
static int read_delta_projects(struct view_reader *r, struct view *v)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0, found = 0, gone_cap = 0;
    const char **names = NULL;
    int rc = -1;
    if (prepare(r, "SELECT name, owner, epoch FROM projects WHERE owner IS NULL", &st) != 0 ||
        step_projects(r, st, v, &cap, &found) != 0) {
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    size_t n_unowned = v->n_projects;
    if (n_unowned > 1) { /* v->projects is NULL when empty: no qsort/bsearch on it then */
        qsort(v->projects, n_unowned, sizeof *v->projects, cmp_project);
    }
    names = calloc(v->n_history + 1, sizeof *names);
    if (names == NULL) {
        verr(r, "%s: out of memory for %zu history rows", r->path, v->n_history);
        goto out;
    }
    for (size_t i = 0; i < v->n_history; i++) {
        names[i] = v->history[i].project;
    }
    qsort(names, v->n_history, sizeof *names, cmp_str);
    if (prepare(r, "SELECT name, owner, epoch FROM projects WHERE name = ?1 AND owner IS NOT NULL", &st) != 0) {
        goto out;
    }
    for (size_t i = 0; i < v->n_history; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0) {
            continue;
        }
        (void)sqlite3_reset(st); /* returns the previous step's error, handled already */
        if (sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC) != SQLITE_OK) {
            verr(r, "%s: binding a project name: %s", r->path, sqlite3_errmsg(r->db));
            goto out;
        }
        if (step_projects(r, st, v, &cap, &found) != 0) {
            goto out;
        }
        if (found > 0) {
            continue;
        }
        /* No owned row: unowned now (read above) or removed. */
        struct view_project key = {.name = (char *)names[i]};
        if (n_unowned == 0 || bsearch(&key, v->projects, n_unowned, sizeof *v->projects, cmp_project) == NULL) {
            if (grow((void **)&v->gone, &gone_cap, v->n_gone, sizeof *v->gone) != 0 ||
                (v->gone[v->n_gone] = strdup(names[i])) == NULL) {
                verr(r, "%s: out of memory for removed projects", r->path);
                goto out;
            }
            v->n_gone++;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (v->n_projects > 1) {
        qsort(v->projects, v->n_projects, sizeof *v->projects, cmp_project);
    }
    if (prepare(r, "SELECT count(*) FROM projects", &st) != 0) {
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        verr(r, "%s: counting projects: %s", r->path, sqlite3_errmsg(r->db));
        goto out;
    }
    v->n_all = col_u64(st, 0);
    rc = 0;
out:
    sqlite3_finalize(st);
    free(names);
    return rc;
}

/* Reads everything; the projects all of them (COMPLETE) or the delta. */
static int read_all(struct view_reader *r, uint64_t after, bool complete, struct view *out)
{
    memset(out, 0, sizeof *out);
    /* One read transaction: the snapshot starts at the first SELECT and holds until COMMIT. */
    if (exec(r, "BEGIN") != 0) {
        return -1;
    }
    out->history_after = after;
    out->complete = complete;
    if (check_schema(r) != 0 ||
        each_row(r, "SELECT key, value FROM meta WHERE key IN ('applied_index', 'decision_index')",
                 meta_rows, out) != 0 ||
        each_row(r, "SELECT key, value FROM settings WHERE key IN ('maintenance', 'maintenance_reason')",
                 setting_rows, out) != 0 ||
        each_row(r, "SELECT id, mode, weight, identity, alive, draining FROM engines ORDER BY id",
                 engine_rows, out) != 0 ||
        each_row(r, "SELECT raft_index, term, time_ms, project, from_owner, to_owner, epoch, reason"
                    " FROM history ORDER BY seq DESC",
                 history_rows, out) != 0 ||
        each_row(r, "SELECT id, api_address FROM members ORDER BY id", member_rows, out) != 0 ||
        (complete ? each_row(r, "SELECT name, owner, epoch FROM projects ORDER BY name", project_rows, out)
                  : read_delta_projects(r, out)) != 0) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL); /* a read: nothing to undo */
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
    if (exec(r, "COMMIT") != 0) {
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
