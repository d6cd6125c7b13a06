/* follow: which projects to add and remove so that the quorum's list follows Kylin's
 * (follow.h). Sorted copies and binary search: 10,000 projects every repair period. */
#include "kylin/follow.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kylin/error.h"

#define GLOBAL_PROJECT "_global"

static int cmp_exact(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_fold(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted copy of the N pointers of NAMES by CMP, or NULL (N 0: a 1-element allocation). */
static const char **sorted(const char *const *names, size_t n, int (*cmp)(const void *, const void *))
{
    const char **v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(v, names, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp);
    }
    return v;
}

static bool has(const char **v, size_t n, const char *name, int (*cmp)(const void *, const void *))
{
    return n > 0 && bsearch(&name, v, n, sizeof *v, cmp) != NULL;
}

void kylin_follow_plan_free(struct kylin_follow_plan *p)
{
    if (p == NULL) {
        return;
    }
    free(p->add);
    free(p->adopt);
    free(p->remove);
    memset(p, 0, sizeof *p);
}

int kylin_follow_diff(const char *const *kylin, size_t nk, const char *const *quorum, const bool *listed,
                      size_t nq, struct kylin_follow_plan *out)
{
    memset(out, 0, sizeof *out);
    const char **k_fold = sorted(kylin, nk, cmp_fold), **k_exact = sorted(kylin, nk, cmp_exact);
    const char **q_fold = sorted(quorum, nq, cmp_fold);
    out->add = malloc((nk > 0 ? nk : 1) * sizeof *out->add);
    out->adopt = malloc((nq > 0 ? nq : 1) * sizeof *out->adopt);
    out->remove = malloc((nq > 0 ? nq : 1) * sizeof *out->remove);
    if (k_fold == NULL || k_exact == NULL || q_fold == NULL || out->add == NULL || out->adopt == NULL ||
        out->remove == NULL) {
        free(k_fold);
        free(k_exact);
        free(q_fold);
        kylin_follow_plan_free(out);
        return KYLIN_ENOMEM;
    }

    /* add: walk Kylin's names in folded order so that case-twins inside Kylin's list are
     * neighbours; a run of more than one is skipped whole. */
    for (size_t i = 0; i < nk;) {
        size_t j = i + 1;
        while (j < nk && strcasecmp(k_fold[i], k_fold[j]) == 0) {
            j++;
        }
        bool exact_dups = true; /* the same name listed twice is one project, not a clash */
        for (size_t m = i + 1; m < j; m++) {
            exact_dups = exact_dups && strcmp(k_fold[i], k_fold[m]) == 0;
        }
        if (!exact_dups) {
            out->n_clash += j - i;
        } else if (strcmp(k_fold[i], GLOBAL_PROJECT) != 0 && !has(q_fold, nq, k_fold[i], cmp_fold)) {
            out->add[out->n_add++] = k_fold[i];
        }
        i = j;
    }
    qsort(out->add, out->n_add, sizeof *out->add, cmp_exact);

    /* adopt: listed by Kylin under its exact name, not flagged yet; remove: flagged, no
     * longer listed (exact name). */
    for (size_t i = 0; i < nq; i++) {
        const char *q = quorum[i];
        if (strcmp(q, GLOBAL_PROJECT) == 0) {
            continue;
        }
        bool in_kylin = has(k_exact, nk, q, cmp_exact), flagged = listed != NULL && listed[i];
        if (flagged && !in_kylin) {
            out->remove[out->n_remove++] = q;
        } else if (!flagged && in_kylin) {
            out->adopt[out->n_adopt++] = q;
        }
    }
    qsort(out->adopt, out->n_adopt, sizeof *out->adopt, cmp_exact);
    qsort(out->remove, out->n_remove, sizeof *out->remove, cmp_exact);

    free(k_fold);
    free(k_exact);
    free(q_fold);
    return KYLIN_OK;
}
