/* lease: an engine's lease rules without clocks or I/O (lease.h). */
#include "lease.h"

#include <stdlib.h>
#include <string.h>

void lease_init(struct lease *l)
{
    memset(l, 0, sizeof *l);
}

void lease_free(struct lease *l)
{
    for (size_t i = l->grace_head; i < l->grace_tail; i++) {
        free(l->grace[i].name);
    }
    free(l->grace);
    lease_init(l);
}

bool lease_valid(const struct lease *l, uint64_t now)
{
    return l->deadline != 0 && now < l->deadline;
}

static void extend(struct lease *l, uint64_t deadline)
{
    if (deadline > l->deadline) {
        l->deadline = deadline;
    }
}

bool lease_ack(struct lease *l, uint64_t index, uint64_t deadline, uint64_t applied)
{
    if (applied >= index) {
        extend(l, deadline);
        return true;
    }
    l->gated++;
    if (l->n_pending == LEASE_PENDING_MAX) {
        unsigned shortest = 0;
        for (unsigned i = 1; i < l->n_pending; i++) {
            if (l->pending[i].deadline < l->pending[shortest].deadline) {
                shortest = i;
            }
        }
        if (l->pending[shortest].deadline >= deadline) {
            return false; /* every waiting one grants more than this one */
        }
        l->pending[shortest] = l->pending[--l->n_pending];
    }
    l->pending[l->n_pending].index = index;
    l->pending[l->n_pending].deadline = deadline;
    l->n_pending++;
    return false;
}

unsigned lease_applied(struct lease *l, uint64_t applied)
{
    unsigned used = 0;
    for (unsigned i = 0; i < l->n_pending;) {
        if (l->pending[i].index <= applied) {
            extend(l, l->pending[i].deadline);
            l->pending[i] = l->pending[--l->n_pending];
            used++;
        } else {
            i++;
        }
    }
    return used;
}

static void grace_pop_ended(struct lease *l, uint64_t now)
{
    while (l->grace_head < l->grace_tail && l->grace[l->grace_head].until <= now) {
        free(l->grace[l->grace_head].name);
        l->grace_head++;
    }
    if (l->grace_head == l->grace_tail) {
        l->grace_head = l->grace_tail = 0;
    }
}

int lease_handover(struct lease *l, const char *project, size_t len, uint64_t until, uint64_t now)
{
    l->handovers++;
    grace_pop_ended(l, now);
    if (l->grace_tail == l->grace_cap && l->grace_head > 0) { /* reuse the ended entries' room */
        memmove(l->grace, l->grace + l->grace_head, (l->grace_tail - l->grace_head) * sizeof *l->grace);
        l->grace_tail -= l->grace_head;
        l->grace_head = 0;
    }
    if (l->grace_tail == l->grace_cap) {
        size_t cap = l->grace_cap ? l->grace_cap * 2 : 64;
        struct lease_grace *g = realloc(l->grace, cap * sizeof *g);
        if (g == NULL) {
            lease_grace_all(l, until);
            return -1;
        }
        l->grace = g;
        l->grace_cap = cap;
    }
    struct lease_grace *g = &l->grace[l->grace_tail];
    g->name = malloc(len + 1);
    if (g->name == NULL) {
        lease_grace_all(l, until);
        return -1;
    }
    memcpy(g->name, project, len);
    g->name[len] = '\0';
    g->len = len;
    g->until = until;
    l->grace_tail++;
    return 0;
}

void lease_grace_all(struct lease *l, uint64_t until)
{
    if (until > l->grace_all_until) {
        l->grace_all_until = until;
    }
}

uint64_t lease_grace_until(struct lease *l, const char *project, size_t len, uint64_t now)
{
    uint64_t until = l->grace_all_until;
    grace_pop_ended(l, now);
    for (size_t i = l->grace_head; i < l->grace_tail; i++) {
        const struct lease_grace *g = &l->grace[i];
        if (g->len == len && memcmp(g->name, project, len) == 0 && g->until > until) {
            until = g->until;
        }
    }
    return until;
}
