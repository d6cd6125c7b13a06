/* follow: the pure decision behind "projects follow Kylin" (issue 10 item 4; docs/kylin.md
 * "Projects follow Kylin"): from Kylin's project list, the quorum's and the names Kylin listed
 * before, which projects the leader proposes to add and to remove. No clock, no I/O.
 *
 * Rules (each protects a case named in docs/kylin.md):
 *   add     a name Kylin lists that the quorum does not hold, compared IGNORING ASCII case:
 *           a case-twin of a quorum project is never added (names are unique ignoring case,
 *           DESIGN.md), and two Kylin rows equal ignoring case (a database without Kylin's
 *           own check) add neither: they are counted in n_clash for the caller to log.
 *   remove  a quorum project that Kylin listed in an earlier read (SEEN, exact name) and no
 *           longer lists (exact name). A project Kylin never listed - added by raftctl, or
 *           present before Kylin was attached - is never removed. `_global` never is.
 *   seen    the next SEEN: Kylin's list now, plus the earlier names the quorum still holds
 *           (so a remove that failed is proposed again after the next read).
 *
 * Ownership: the plan's arrays hold pointers INTO the caller's input arrays (no strings are
 * copied); kylin_follow_plan_free frees the arrays only. On failure nothing is left. */
#ifndef KYLIN_FOLLOW_H
#define KYLIN_FOLLOW_H

#include <stddef.h>

struct kylin_follow_plan {
    const char **add;    /* read-only: names from KYLIN, in byte order */
    size_t n_add;
    const char **remove; /* read-only: names from QUORUM, in byte order */
    size_t n_remove;
    const char **seen;   /* read-only: the next SEEN (from KYLIN and SEEN), in byte order */
    size_t n_seen;
    size_t n_clash;      /* read-only: Kylin names skipped for a case-twin inside Kylin's list */
};

/* KYLIN (NK names), QUORUM (NQ), SEEN (NS): NUL-terminated names, any order, no NULLs.
 * KYLIN_OK with *OUT, or KYLIN_ENOMEM. */
int kylin_follow_diff(const char *const *kylin, size_t nk, const char *const *quorum, size_t nq,
                      const char *const *seen, size_t ns, struct kylin_follow_plan *out);

void kylin_follow_plan_free(struct kylin_follow_plan *p);

#endif
