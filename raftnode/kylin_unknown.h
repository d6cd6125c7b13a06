/* kylin_unknown: the projects this member's Kylin refused to claim because it does not know
 * them (docs/kylin.md, "Projects Kylin does not know"): a project added with raftctl that
 * exists only in the quorum. Kylin's POST /api/epoch checks every name before it claims any
 * (PROJECT_NOT_EXIST, kylin5-epoch-protocol.md §2), so such a project would fail every batch
 * it is in; kylin_link splits failing batches until it is alone, notes it here with Kylin's
 * message, leaves it out of later claims for KYLIN_UNKNOWN_RETRY_MS (then tries it again: it
 * may have been created in Kylin meanwhile), and `raftctl kylin status` shows the note.
 *
 * Owns: the notes (names and messages, malloc'd). Loop thread only. */
#ifndef RAFTNODE_KYLIN_UNKNOWN_H
#define RAFTNODE_KYLIN_UNKNOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KYLIN_UNKNOWN_RETRY_MS 30000

struct kylin_unknown_note {
    char *project;
    char *reason;      /* Kylin's message */
    uint64_t retry_ms; /* uv_now from which it is claimed again */
};

struct kylin_unknown {
    struct kylin_unknown_note *notes; /* read-only */
    size_t n;
    uint64_t refusals;                /* read-only: single-project refusals counted */
};

/* Notes (or renews) PROJECT refused with REASON at NOW. 0, or -1 when out of memory (the
 * project is then claimed again next round, as before). */
int kylin_unknown_note(struct kylin_unknown *u, const char *project, const char *reason, uint64_t now);
/* The note of PROJECT, or NULL. */
const struct kylin_unknown_note *kylin_unknown_find(const struct kylin_unknown *u, const char *project);
/* Whether PROJECT is left out of a claim at NOW (noted and not due again). */
bool kylin_unknown_skip(const struct kylin_unknown *u, const char *project, uint64_t now);
/* Drops the note of PROJECT (claimed after all, or no longer this engine's). */
void kylin_unknown_forget(struct kylin_unknown *u, const char *project);
void kylin_unknown_free(struct kylin_unknown *u);

#endif
