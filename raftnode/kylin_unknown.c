/* kylin_unknown: notes of the projects this member's Kylin does not know (kylin_unknown.h). */
#include "kylin_unknown.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/named.h"

#define NOTE_FIELDS sizeof(struct kylin_unknown_note), offsetof(struct kylin_unknown_note, project)
#define NOTE_REASON offsetof(struct kylin_unknown_note, reason)

static struct kylin_unknown_note *find(const struct kylin_unknown *u, const char *project)
{
    return named_find(&u->notes, u->n, NOTE_FIELDS, project);
}

int kylin_unknown_note(struct kylin_unknown *u, const char *project, const char *reason, uint64_t now)
{
    struct kylin_unknown_note *n = named_set(&u->notes, &u->n, NOTE_FIELDS, project, NOTE_REASON, reason);
    if (n == NULL) {
        return -1;
    }
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
    named_drop(&u->notes, &u->n, NOTE_FIELDS, NOTE_REASON, project);
}

void kylin_unknown_free(struct kylin_unknown *u)
{
    while (u->n > 0) {
        kylin_unknown_forget(u, u->notes[0].project);
    }
    free(u->notes);
    u->notes = NULL;
}
