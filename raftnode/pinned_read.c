/* pinned_read: every project, read off the loop at a pinned state (see pinned_read.h). */
#include "pinned_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pinned_read_start(struct pinned_read *p, struct store *st, char *errmsg, size_t cap)
{
    if (strcmp(st->path, ":memory:") == 0) {
        return 1;
    }
    /* The second connection sees what is committed: commit the open group first, so that the
     * read covers every entry applied so far (as store_image_pin does for a snapshot). */
    if (st->group_entries > 0 && store_commit(st) != 0) {
        snprintf(errmsg, cap, "%s", st->errmsg);
        return -1;
    }
    uint64_t decision = 0;
    if (store_reader_open(&p->reader, st->path) != 0 || store_reader_begin(&p->reader) != 0 ||
        store_reader_indexes(&p->reader, &p->index, &decision) != 0) {
        snprintf(errmsg, cap, "%s", p->reader.errmsg);
        store_reader_close(&p->reader);
        return -1;
    }
    return 0;
}

int pinned_read_submit(struct pinned_read *p, struct store *st, struct bgworker *bg, struct bgjob *job,
                       bgjob_work_fn work, bgjob_done_fn done, const char *what, char *errmsg, size_t cap)
{
    int rc = pinned_read_start(p, st, errmsg, cap);
    if (rc != 0) {
        return rc;
    }
    int rv = bgworker_submit(bg, job, work, done);
    if (rv != 0) {
        snprintf(errmsg, cap, "cannot start %s: %s", what, uv_strerror(rv));
        pinned_read_free(p);
        return -1;
    }
    return 0;
}

/* store_reader_projects_listed's callback: appends ROW. */
static int collect(void *data, const struct store_reader_project *row)
{
    struct pinned_read *p = data;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct store_project_row *more = realloc(p->projects, cap * sizeof *more);
        if (more == NULL) {
            return -1;
        }
        p->projects = more;
        p->cap = cap;
    }
    char *name = strdup(row->name);
    if (name == NULL) {
        return -1;
    }
    p->projects[p->n++] = (struct store_project_row){.name = name, .owner = row->owner, .pinned = row->pinned,
                                                     .epoch = row->epoch, .kylin_listed = row->kylin_listed};
    return 0;
}

/* store_reader_claims_of's callback: appends ROW. */
static int collect_claim(void *data, const struct store_reader_claim *row)
{
    struct pinned_read *p = data;
    if (p->n_claims == p->cap_claims) {
        size_t cap = p->cap_claims ? p->cap_claims * 2 : 64;
        struct store_claim *more = realloc(p->claims, cap * sizeof *more);
        if (more == NULL) {
            return -1;
        }
        p->claims = more;
        p->cap_claims = cap;
    }
    struct store_claim *c = &p->claims[p->n_claims];
    *c = (struct store_claim){.name = strdup(row->name), .owner = row->owner, .epoch = row->epoch,
                              .identity = row->identity != NULL ? strdup(row->identity) : NULL,
                              .epoch_id = row->epoch_id};
    if (c->name == NULL || (row->identity != NULL && c->identity == NULL)) {
        free(c->name);
        free(c->identity);
        return -1;
    }
    p->n_claims++;
    return 0;
}

int pinned_read_projects(struct pinned_read *p, char *errmsg, size_t cap)
{
    int rc = store_reader_projects_listed(&p->reader, collect, p);
    if (rc == 0 && p->claims_owner != 0) {
        rc = store_reader_claims_of(&p->reader, p->claims_owner, collect_claim, p);
    }
    if (rc != 0) {
        snprintf(errmsg, cap, "reading the local state: %s", p->reader.errmsg);
    }
    store_reader_abort(&p->reader); /* a read: nothing to commit; unpins the state */
    return rc;
}

int pinned_read_here(struct pinned_read *p, struct store *st, char *errmsg, size_t cap)
{
    if (store_load_projects(st, &p->projects, &p->n) != 0) {
        snprintf(errmsg, cap, "reading the local state: %s", st->errmsg);
        return -1;
    }
    p->cap = p->n;
    if (p->claims_owner != 0 && store_load_claims(st, p->claims_owner, &p->claims, &p->n_claims) != 0) {
        snprintf(errmsg, cap, "reading the local state: %s", st->errmsg);
        return -1;
    }
    p->cap_claims = p->n_claims;
    return 0;
}

void pinned_read_free(struct pinned_read *p)
{
    store_reader_close(&p->reader);
    store_free_projects(p->projects, p->n);
    store_free_claims(p->claims, p->n_claims);
    memset(p, 0, sizeof *p);
}
