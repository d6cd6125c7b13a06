/* reconcile: the pure decision core of the claim / verify / record / poke cycle (reconcile.h
 * lists the rules; docs/kylin.md the why). Lookups go through sorted index arrays so that a
 * round over 10,000 projects stays O(n log n). */
#include "reconcile.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool kylin_identity_has_prefix(const char *owner, const char *prefix)
{
    size_t plen;

    if (owner == NULL || prefix == NULL || prefix[0] == '\0') {
        return false;
    }
    plen = strlen(prefix);
    return strncmp(owner, prefix, plen) == 0 && owner[plen] == '|';
}

/* The millis after '|' of IDENTITY; -1 when absent or not a decimal number. */
static int64_t identity_millis(const char *identity)
{
    const char *bar = identity != NULL ? strrchr(identity, '|') : NULL;
    int64_t v = 0;
    const char *p;

    if (bar == NULL || bar[1] == '\0') {
        return -1;
    }
    for (p = bar + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    return v;
}

static bool blank(const char *owner)
{
    return owner == NULL || owner[0] == '\0';
}

static bool same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int row_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct kylin_row *const *)a)->target, (*(const struct kylin_row *const *)b)->target);
}

static int row_fold_cmp(const void *a, const void *b)
{
    return strcasecmp((*(const struct kylin_row *const *)a)->target, (*(const struct kylin_row *const *)b)->target);
}

static int claim_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct kylin_claim *const *)a)->project, (*(const struct kylin_claim *const *)b)->project);
}

static int desired_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct kylin_desired *const *)a)->project,
                  (*(const struct kylin_desired *const *)b)->project);
}

struct index {
    const struct kylin_row **rows, **rows_fold;
    const struct kylin_claim **claims;
    const struct kylin_desired **desired;
    size_t n_rows, n_claims, n_desired;
    bool fold;
};

static const struct kylin_row *find_row(const struct index *ix, const char *name)
{
    struct kylin_row key = {name, NULL, 0, 0};
    const struct kylin_row *k = &key, **hit;

    hit = bsearch(&k, ix->rows, ix->n_rows, sizeof *ix->rows, row_cmp);
    if (hit == NULL && ix->fold) {
        hit = bsearch(&k, ix->rows_fold, ix->n_rows, sizeof *ix->rows_fold, row_fold_cmp);
    }
    return hit != NULL ? *hit : NULL;
}

static const struct kylin_claim *find_claim(const struct index *ix, const char *name)
{
    struct kylin_claim key = {name, 0, NULL, 0};
    const struct kylin_claim *k = &key, **hit;

    hit = bsearch(&k, ix->claims, ix->n_claims, sizeof *ix->claims, claim_cmp);
    return hit != NULL ? *hit : NULL;
}

static const struct kylin_desired *find_desired(const struct index *ix, const char *name)
{
    struct kylin_desired key = {name, 0};
    const struct kylin_desired *k = &key, **hit;

    hit = bsearch(&k, ix->desired, ix->n_desired, sizeof *ix->desired, desired_cmp);
    return hit != NULL ? *hit : NULL;
}

static void index_free(struct index *ix)
{
    free(ix->rows);
    free(ix->rows_fold);
    free(ix->claims);
    free(ix->desired);
}

/* qsort, skipped when BASE is already in order: the daemon passes the projects in name order
 * (store_load_projects) and its claims sorted, so of the four sorts of 100,000 names (~120 ms
 * on the event loop per round) usually only the rows' is left. */
static void sort_unless_sorted(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    const char *p = base;
    for (size_t i = 1; i < n; i++) {
        if (cmp(p + (i - 1) * size, p + i * size) > 0) {
            qsort(base, n, size, cmp);
            return;
        }
    }
}

static int index_build(const struct kylin_reconcile_in *in, struct index *ix)
{
    size_t i, n;

    memset(ix, 0, sizeof *ix);
    ix->fold = in->targets_fold_case;
    /* at least one element each, so that malloc(0) never counts as a failure */
    ix->rows = malloc((in->n_rows + 1) * sizeof *ix->rows);
    ix->rows_fold = malloc((in->n_rows + 1) * sizeof *ix->rows_fold);
    ix->claims = malloc((in->n_claims + 1) * sizeof *ix->claims);
    ix->desired = malloc((in->n_desired + 1) * sizeof *ix->desired);
    if (ix->rows == NULL || ix->rows_fold == NULL || ix->claims == NULL || ix->desired == NULL) {
        index_free(ix);
        return -1;
    }
    for (i = 0, n = 0; i < in->n_rows; i++) {
        if (in->rows[i].target != NULL) {
            ix->rows[n] = ix->rows_fold[n] = &in->rows[i];
            n++;
        }
    }
    ix->n_rows = n;
    /* stable order for equal keys is not needed: the quorum's names are unique ignoring case,
     * and a table has one row per exact target */
    sort_unless_sorted(ix->rows, n, sizeof *ix->rows, row_cmp);
    if (ix->fold) { /* find_row reads rows_fold only then */
        sort_unless_sorted(ix->rows_fold, n, sizeof *ix->rows_fold, row_fold_cmp);
    }
    for (i = 0, n = 0; i < in->n_claims; i++) {
        if (in->claims[i].project != NULL) {
            ix->claims[n++] = &in->claims[i];
        }
    }
    ix->n_claims = n;
    sort_unless_sorted(ix->claims, n, sizeof *ix->claims, claim_cmp);
    for (i = 0, n = 0; i < in->n_desired; i++) {
        if (in->desired[i].project != NULL) {
            ix->desired[n++] = &in->desired[i];
        }
    }
    ix->n_desired = n;
    sort_unless_sorted(ix->desired, n, sizeof *ix->desired, desired_cmp);
    return 0;
}

/* The identity the rows of the just-claimed projects teach (reconcile.h, "learn"), or NULL. */
static const char *learn_identity(const struct kylin_reconcile_in *in, const struct index *ix)
{
    const char *best = NULL;
    bool best_new = false;
    size_t i;

    for (i = 0; i < in->n_just_claimed; i++) {
        const struct kylin_row *row = in->just_claimed[i] != NULL ? find_row(ix, in->just_claimed[i]) : NULL;
        bool is_new;

        if (row == NULL || !kylin_identity_has_prefix(row->owner, in->prefix)) {
            continue;
        }
        is_new = !same(row->owner, in->identity);
        if (best == NULL || (is_new && !best_new) ||
            (is_new == best_new && identity_millis(row->owner) > identity_millis(best))) {
            best = row->owner;
            best_new = is_new;
        }
    }
    return best;
}

int kylin_reconcile(const struct kylin_reconcile_in *in, struct kylin_reconcile_out *out)
{
    struct index ix;
    const char *identity, *learned, *probe = NULL;
    const struct kylin_desired *global_desired;
    bool reclaim;
    int64_t known_millis;
    size_t i;

    memset(out, 0, sizeof *out);
    if (in == NULL || in->self == 0 || in->prefix == NULL || in->prefix[0] == '\0' ||
        (in->desired == NULL && in->n_desired > 0) || (in->claims == NULL && in->n_claims > 0) ||
        (in->rows == NULL && in->n_rows > 0) || (in->just_claimed == NULL && in->n_just_claimed > 0)) {
        return -1;
    }
    if (index_build(in, &ix) != 0) {
        return -1;
    }
    out->claim = malloc((in->n_desired + 1) * sizeof *out->claim);
    out->record = malloc((in->n_desired + 1) * sizeof *out->record);
    out->release = malloc((in->n_claims + 1) * sizeof *out->release);
    out->unverified = malloc((in->n_just_claimed + 1) * sizeof *out->unverified);
    if (out->claim == NULL || out->record == NULL || out->release == NULL || out->unverified == NULL) {
        index_free(&ix);
        kylin_reconcile_free(out);
        return -1;
    }

    /* learn, then restart detection; with reclaim_all the old identity is not trusted */
    identity = in->reclaim_all ? NULL : in->identity;
    learned = learn_identity(in, &ix);
    if (learned != NULL) {
        identity = learned;
    }
    reclaim = in->reclaim_all;
    known_millis = identity_millis(identity);
    if (identity != NULL && learned == NULL && known_millis >= 0) {
        /* only rows of projects given to S: after the reclaim they all show the new identity,
         * so a stray row elsewhere cannot make every round a reclaim-all */
        for (i = 0; i < in->n_desired; i++) {
            const struct kylin_row *row;
            if (in->desired[i].project == NULL || in->desired[i].engine != in->self) {
                continue;
            }
            row = find_row(&ix, in->desired[i].project);
            if (row != NULL && kylin_identity_has_prefix(row->owner, in->prefix) &&
                identity_millis(row->owner) > known_millis) {
                out->restarted = true;
                identity = NULL;
                reclaim = true;
                break;
            }
        }
    }
    out->identity = identity;
    out->identity_changed = !(identity == NULL ? in->identity == NULL : same(identity, in->identity));

    for (i = 0; i < in->n_just_claimed; i++) {
        const struct kylin_row *row = in->just_claimed[i] != NULL ? find_row(&ix, in->just_claimed[i]) : NULL;
        if (in->just_claimed[i] != NULL && (row == NULL || identity == NULL || !same(row->owner, identity))) {
            out->unverified[out->n_unverified++] = in->just_claimed[i];
        }
    }

    /* claims and records, in desired order */
    for (i = 0; i < in->n_desired; i++) {
        const struct kylin_desired *d = &in->desired[i];
        const struct kylin_row *row;
        const struct kylin_claim *rec;
        bool is_global;

        if (d->project == NULL || d->engine != in->self) {
            continue;
        }
        is_global = strcmp(d->project, KYLIN_GLOBAL_TARGET) == 0;
        row = find_row(&ix, d->project);
        if (identity != NULL && row != NULL && same(row->owner, identity)) {
            rec = find_claim(&ix, d->project);
            if (rec == NULL || rec->engine != in->self || !same(rec->identity, identity) ||
                rec->epoch_id != row->epoch_id) {
                out->record[out->n_record++] = (struct kylin_record){d->project, identity, row->epoch_id};
            }
        }
        if (in->maintenance || is_global) {
            continue;
        }
        if (reclaim || row == NULL || blank(row->owner) ||
            (identity != NULL && !same(row->owner, identity)) ||
            (identity == NULL && !kylin_identity_has_prefix(row->owner, in->prefix))) {
            out->claim[out->n_claim++] = d->project;
        } else if (identity == NULL && probe == NULL) {
            probe = d->project; /* ambiguous: "prefix|..." while no identity is known */
        }
    }
    if (out->n_claim == 0 && probe != NULL) {
        out->claim[out->n_claim++] = probe;
    }

    /* releases: my recorded claims now desired elsewhere and held by another Kylin */
    for (i = 0; i < in->n_claims; i++) {
        const struct kylin_claim *rec = &in->claims[i];
        const struct kylin_desired *d;
        const struct kylin_row *row;

        if (rec->project == NULL || rec->engine != in->self) {
            continue;
        }
        d = find_desired(&ix, rec->project);
        if (d != NULL && d->engine == in->self) {
            continue;
        }
        row = find_row(&ix, rec->project);
        if (row != NULL && !blank(row->owner) && !kylin_identity_has_prefix(row->owner, in->prefix)) {
            out->release[out->n_release++] = (struct kylin_release){rec->project, row->owner, row->epoch_id};
        }
    }

    /* _global (protocol §7 step 4 (a)) */
    global_desired = find_desired(&ix, KYLIN_GLOBAL_TARGET);
    /* In maintenance the owner to write is Kylin's marker (compare-and-set like any write),
     * else the identity. Either needs the identity: maintenance off takes the row back for
     * it, and a marker nobody can take back would keep Kylin in maintenance. */
    const char *global_owner = in->maintenance ? in->maint_owner : identity;
    if (global_owner != NULL && global_desired != NULL && global_desired->engine == in->self) {
        const struct kylin_row *row = find_row(&ix, KYLIN_GLOBAL_TARGET);
        if (identity == NULL) {
            out->global = KYLIN_GLOBAL_NEED_IDENTITY;
        } else if (row == NULL) {
            out->global = KYLIN_GLOBAL_INSERT;
            out->global_epoch_id = 1;
            out->global_mvcc = 0;
            out->global_owner = global_owner;
        } else if (!same(row->owner, global_owner)) {
            out->global = KYLIN_GLOBAL_UPDATE;
            out->global_expect_mvcc = row->mvcc;
            out->global_epoch_id = row->epoch_id + 1;
            out->global_mvcc = row->mvcc + 1;
            out->global_owner = global_owner;
        }
    } else if (!in->maintenance && global_desired != NULL && global_desired->engine == in->self) {
        out->global = KYLIN_GLOBAL_NEED_IDENTITY;
    }

    out->poke = !in->maintenance && (out->n_record > 0 || out->n_release > 0 || out->global == KYLIN_GLOBAL_UPDATE ||
                                     out->global == KYLIN_GLOBAL_INSERT);
    index_free(&ix);
    return 0;
}

void kylin_reconcile_free(struct kylin_reconcile_out *out)
{
    if (out == NULL) {
        return;
    }
    free(out->claim);
    free(out->record);
    free(out->release);
    free(out->unverified);
    memset(out, 0, sizeof *out);
}
