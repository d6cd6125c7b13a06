/* kylin_unknown: notes of the projects this member's Kylin does not know (kylin_unknown.h). */
#include "kylin_unknown.h"

#include <stdlib.h>
#include <string.h>

static struct kylin_unknown_note *find(const struct kylin_unknown *u, const char *project)
{
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->notes[i].project, project) == 0) {
            return &u->notes[i];
        }
    }
    return NULL;
}

int kylin_unknown_note(struct kylin_unknown *u, const char *project, const char *reason, uint64_t now)
{
    struct kylin_unknown_note *n = find(u, project);
    char *why = strdup(reason);
    if (why == NULL) {
        return -1;
    }
    if (n == NULL) {
        struct kylin_unknown_note *p = realloc(u->notes, (u->n + 1) * sizeof *p);
        char *name = strdup(project);
        if (p == NULL || name == NULL) {
            if (p != NULL) {
                u->notes = p;
            }
            free(name);
            free(why);
            return -1;
        }
        u->notes = p;
        n = &u->notes[u->n++];
        n->project = name;
    } else {
        free(n->reason);
    }
    n->reason = why;
    n->retry_ms = now + KYLIN_UNKNOWN_RETRY_MS;
    u->refusals++;
    return 0;
}

const struct kylin_unknown_note *kylin_unknown_find(const struct kylin_unknown *u, const char *project)
{
    return find(u, project);
}

bool kylin_unknown_skip(const struct kylin_unknown *u, const char *project, uint64_t now)
{
    const struct kylin_unknown_note *n = find(u, project);
    return n != NULL && now < n->retry_ms;
}

void kylin_unknown_forget(struct kylin_unknown *u, const char *project)
{
    struct kylin_unknown_note *n = find(u, project);
    if (n == NULL) {
        return;
    }
    free(n->project);
    free(n->reason);
    *n = u->notes[--u->n];
}

void kylin_unknown_free(struct kylin_unknown *u)
{
    while (u->n > 0) {
        kylin_unknown_forget(u, u->notes[0].project);
    }
    free(u->notes);
    u->notes = NULL;
}
