/* kylin_claims: recording the claims this member's Kylin made in the replicated state
 * (docs/kylin.md, "Recorded claims"; command kylin_claimed, API method kylin.claimed).
 *
 * After every read of the epoch table (kylin_link.c), kylin_claims_pick compares, for each
 * project the quorum gives this member's engine, the row read back with the claim recorded
 * in the replicated state. A row that shows this Kylin's identity while the recorded claim
 * differs (none, another identity, another epoch_id) is sent to the leader as
 * {project, owner, epoch, identity, epoch_id}: many projects per request, one request at a
 * time, over its own connection (raftnode/peer.h: not_leader redirects followed, so a leader
 * change half-way costs one retry). The leader proposes one kylin_claimed command per project;
 * the state machine applies it only while the owner and epoch still match.
 *
 * Level-triggered and idle-safe: nothing is sent while every row equals its recorded claim,
 * so an idle cluster proposes nothing. A record already sent is not sent again for
 * KYLIN_CLAIMS_RESEND_MS (the time it takes to be applied here); a failed request is
 * retried with a backoff doubling from 100 ms up to raft.kylin.repair-ms.
 *
 * Owns: its peer connection and the list of records last sent. Calls: peer.h, node.h
 * (leader). Loop thread only, but kylin_claims_pick and the rows index (pure). */
#ifndef RAFTNODE_KYLIN_CLAIMS_H
#define RAFTNODE_KYLIN_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../metastore/epoch_reader.h"
#include "../storage/store.h"
#include "peer.h"

#define KYLIN_CLAIMS_BATCH 500      /* projects per kylin.claimed request */
#define KYLIN_CLAIMS_RESEND_MS 10000

struct node;

/* One record sent (private). */
struct kylin_claims_sent {
    char *project;
    char *identity;
    uint64_t epoch;
    int64_t epoch_id;
};

struct kylin_claims {
    struct node *node;              /* read-only */
    bool started;                   /* read-only */
    struct peer peer;               /* private: one request at a time to the leader */
    bool inflight;                  /* private */
    uint64_t not_before_ms;         /* private: backoff */
    uint64_t backoff_ms;            /* private */
    struct kylin_claims_sent *sent; /* private: the records of the last request */
    size_t n_sent;
    uint64_t sent_ms;               /* private: uv_now when they were sent */
    /* read-only counters */
    uint64_t calls, records_sent, failures;
    char last_error[256];           /* read-only: the last failed request, "" if none */
};

/* The rows of a read, sorted for lookups by target (O(log n) instead of a scan per project:
 * 10,000 projects meet 10,000 rows on every read). Points into the rows, which must outlive
 * it. */
struct kylin_rows_index {
    const struct epoch_row **exact;  /* by strcmp of target */
    const struct epoch_row **folded; /* by strcasecmp of target (NULL unless fold_case) */
    size_t n;
};

/* 0, or -1 when out of memory (IDX is then empty: every lookup finds nothing). */
int kylin_rows_index_build(struct kylin_rows_index *idx, const struct epoch_rows *rows, bool fold_case);
/* The row of PROJECT: the exact target, else (when built with fold_case) one equal ignoring
 * ASCII case (kylin/reconcile.h, "Names"); NULL if none. */
const struct epoch_row *kylin_rows_index_find(const struct kylin_rows_index *idx, const char *project);
void kylin_rows_index_free(struct kylin_rows_index *idx);

void kylin_claims_init(struct kylin_claims *c, struct node *n);
/* Aborts a request in flight (its callback then does nothing) and frees the records. */
void kylin_claims_close(struct kylin_claims *c);

/* A row to record: this member's engine's project CLAIM, whose row ROW shows this Kylin's
 * identity while the recorded claim differs. */
struct kylin_claims_pick {
    const struct store_claim *claim;
    const struct epoch_row *row;
};

/* Any thread (pure: no store, no clock): compares ROWS (the epoch table as just read) with
 * CLAIMS (this member's engine's projects with their recorded claims) and picks the rows
 * owned by IDENTITY (this Kylin's; NULL = not known yet: none) that differ, into *OUT
 * (malloc'd, free(); pointing into CLAIMS and ROWS). FOLD_CASE: the table compares targets
 * ignoring case (MySQL), so a project without an exact row uses the row equal ignoring case
 * (kylin/reconcile.h). 0, or -1 when out of memory (nothing picked). The Kylin link runs it
 * on the background thread with the round's decision (kylin_reconcile_async.h): it sorts every
 * row of the table, ~5-50 ms on the loop at 10,000 projects. */
int kylin_claims_pick(const struct store_claim *claims, size_t n_claims, const char *identity,
                      const struct epoch_rows *rows, bool fold_case, struct kylin_claims_pick **out, size_t *n_out);
/* Loop thread: sends PICKS (but those sent within KYLIN_CLAIMS_RESEND_MS) to the leader, at
 * most KYLIN_CLAIMS_BATCH, unless a request is in flight or backing off. */
void kylin_claims_send(struct kylin_claims *c, const struct kylin_claims_pick *picks, size_t n_picks);

#endif
