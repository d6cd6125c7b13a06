/* stats: aggregate reads of the replicated state for /metrics (docs/observability.md), kept
 * apart from query.c's per-request reads.
 *
 * Owns: nothing. Calls: SQLite through db.h. */
#ifndef STORAGE_STATS_H
#define STORAGE_STATS_H

#include <stdint.h>

#include "store.h"

/* Calls CB once per history reason with how many ownership changes carry it, in reason
 * order. REASON is valid during the call only. 0, or -1 with s->errmsg. */
int store_count_history_reasons(struct store *s, void (*cb)(void *data, const char *reason, uint64_t n),
                                void *data);

#endif
