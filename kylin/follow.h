/* follow: the pure decision behind "projects follow Kylin" (issue 10 item 4; docs/kylin.md
 * "Projects follow Kylin"): from Kylin's project list and the quorum's (each quorum project
 * with its replicated kylin_listed flag), which projects the leader proposes to add, to mark
 * as listed by Kylin and to remove. No clock, no I/O, no memory between calls: a full diff on
 * every read, so a new leader carries on where the last one stopped.
 *
 * Rules (each protects a case named in docs/kylin.md):
 *   add     a name Kylin lists that the quorum does not hold, compared IGNORING ASCII case:
 *           a case-twin of a quorum project is never added (names are unique ignoring case,
 *           DESIGN.md), and two Kylin rows equal ignoring case (a database without Kylin's
 *           own check) add neither: they are counted in n_clash for the caller to log.
 *   adopt   a quorum project Kylin lists under the exact same name whose kylin_listed flag
 *           is not set yet (added by raftctl before Kylin listed it): marked, so that it is
 *           removed once Kylin drops it (the state machine's project_add "kylin": true).
 *   remove  a quorum project flagged kylin_listed (LISTED) that Kylin no longer lists (exact
 *           name). A project Kylin never listed - added by raftctl, or present before Kylin
 *           was attached - is never removed. `_global` never is. A remove that failed is
 *           simply proposed again after the next read.
 *
 * Ownership: the plan's arrays hold pointers INTO the caller's input arrays (no strings are
 * copied); kylin_follow_plan_free frees the arrays only. On failure nothing is left. */
#ifndef KYLIN_FOLLOW_H
#define KYLIN_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>

struct kylin_follow_plan {
    const char **add;    /* read-only: names from KYLIN, in byte order */
    size_t n_add;
    const char **adopt;  /* read-only: names from QUORUM, in byte order */
    size_t n_adopt;
    const char **remove; /* read-only: names from QUORUM, in byte order */
    size_t n_remove;
    size_t n_clash;      /* read-only: Kylin names skipped for a case-twin inside Kylin's list */
};

/* KYLIN (NK names), QUORUM (NQ names) with LISTED[i] the kylin_listed flag of QUORUM[i]
 * (NULL: none set): NUL-terminated names, any order, no NULLs. KYLIN_OK with *OUT, or
 * KYLIN_ENOMEM. */
int kylin_follow_diff(const char *const *kylin, size_t nk, const char *const *quorum, const bool *listed,
                      size_t nq, struct kylin_follow_plan *out);

void kylin_follow_plan_free(struct kylin_follow_plan *p);

#endif
