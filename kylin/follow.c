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
    free(p->remove);
    free(p->seen);
    memset(p, 0, sizeof *p);
}

int kylin_follow_diff(const char *const *kylin, size_t nk, const char *const *quorum, size_t nq,
                      const char *const *seen, size_t ns, struct kylin_follow_plan *out)
{
    memset(out, 0, sizeof *out);
    const char **k_fold = sorted(kylin, nk, cmp_fold), **k_exact = sorted(kylin, nk, cmp_exact);
    const char **q_fold = sorted(quorum, nq, cmp_fold), **q_exact = sorted(quorum, nq, cmp_exact);
    const char **s_exact = sorted(seen, ns, cmp_exact);
    out->add = malloc((nk > 0 ? nk : 1) * sizeof *out->add);
    out->remove = malloc((nq > 0 ? nq : 1) * sizeof *out->remove);
    out->seen = malloc((nk + ns > 0 ? nk + ns : 1) * sizeof *out->seen);
    if (k_fold == NULL || k_exact == NULL || q_fold == NULL || q_exact == NULL || s_exact == NULL ||
        out->add == NULL || out->remove == NULL || out->seen == NULL) {
        free(k_fold);
        free(k_exact);
        free(q_fold);
        free(q_exact);
        free(s_exact);
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

    /* remove: once listed by Kylin, no longer listed. */
    for (size_t i = 0; i < nq; i++) {
        const char *q = q_exact[i];
        if (strcmp(q, GLOBAL_PROJECT) != 0 && has(s_exact, ns, q, cmp_exact) && !has(k_exact, nk, q, cmp_exact)) {
            out->remove[out->n_remove++] = q;
        }
    }

    /* seen: Kylin's names now, and the earlier ones the quorum still holds. */
    for (size_t i = 0; i < nk; i++) {
        if (i == 0 || strcmp(k_exact[i - 1], k_exact[i]) != 0) {
            out->seen[out->n_seen++] = k_exact[i];
        }
    }
    for (size_t i = 0; i < ns; i++) {
        const char *s = s_exact[i];
        if ((i == 0 || strcmp(s_exact[i - 1], s) != 0) && has(q_exact, nq, s, cmp_exact) &&
            !has(k_exact, nk, s, cmp_exact)) {
            out->seen[out->n_seen++] = s;
        }
    }
    qsort(out->seen, out->n_seen, sizeof *out->seen, cmp_exact);

    free(k_fold);
    free(k_exact);
    free(q_fold);
    free(q_exact);
    free(s_exact);
    return KYLIN_OK;
}
