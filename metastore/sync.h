/* sync: one mirror batch, the unit of exactly-once: in ONE metastore transaction,
 *
 *   1. lock and read the sync row (<prefix>_raft_sync): the watermark W (decision index the
 *      tables reflect), its term and leader;
 *   2. refuse, writing nothing, when the stored term is newer than ours (a newer leader
 *      mirrors now: we are deposed and do not know it yet); do nothing when W is at or past
 *      our decision index D (someone already mirrored this state or a newer one);
 *   3. read our state (view.h) with the history rows after W, compare it with the tables
 *      and write only what differs: epoch rows whose values changed (mvcc + 1), epoch rows
 *      of removed projects (deleted), history rows after W (a row present already is left
 *      alone, so a batch that failed half-way or ran twice changes nothing), member rows;
 *   4. set the sync row to (D, our term, our id, now) and COMMIT.
 * Any failure before COMMIT rolls everything back: the next batch starts again from W.
 * Because W only moves forward, and only together with the tables, the metastore always
 * shows one committed state of the log, whichever member wrote it.
 *
 * Used by the mirror's worker thread only. Calls: backend.h, sql.h, view.h. */
#ifndef METASTORE_SYNC_H
#define METASTORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "metastore/backend.h"
#include "metastore/view.h"

#define SYNC_ADDR_MAX 256

/* One member of the raft configuration, as the loop thread last saw it. */
struct sync_conf_member {
    uint64_t id;
    char raft_address[SYNC_ADDR_MAX];
    char role[8]; /* voter | standby | spare */
};

struct sync_params {
    const char *prefix;
    uint64_t term;                         /* our current term (we lead in it) */
    uint64_t self_id;                      /* our member id = leader id */
    const char *self_api;                  /* our API address (not always registered yet) */
    const char *self_host;                 /* host for the maintenance owner when our engine
                                            * has no identity yet */
    const struct sync_conf_member *conf;   /* the raft configuration */
    size_t n_conf;
};

enum sync_outcome {
    SYNC_WROTE = 0,   /* committed a change */
    SYNC_UP_TO_DATE,  /* nothing differed: nothing written */
    SYNC_FENCED,      /* the stored term is newer than ours: nothing written */
    SYNC_BEHIND,      /* the stored watermark is past our state: nothing written */
};

struct sync_result {
    int outcome;             /* enum sync_outcome */
    uint64_t stored_index;   /* the sync row when the batch ended (after our write, if any) */
    uint64_t stored_term;
    uint64_t stored_leader;
    uint64_t decision_index; /* of the state we read */
    uint64_t applied_index;
    uint64_t rows_written;   /* rows inserted, updated or deleted (the sync row included) */
    uint64_t epoch_rows;     /* of which epoch rows upserted or deleted */
    uint64_t history_rows;   /* of which history rows inserted */
};

/* Creates the tables when missing and checks their columns; seeds the sync row. Run after
 * every (re)connect. 0 or -1 (B->errmsg). */
int sync_prepare(struct ms_backend *b, const char *prefix);

/* Runs one batch (see above). 0 with OUT filled, or -1: B->errmsg says what failed (the
 * transaction is rolled back; the connection may be broken: B->broken). READER errors are
 * copied into B->errmsg too. */
int sync_batch(struct ms_backend *b, struct view_reader *reader, const struct sync_params *p,
               struct sync_result *out);

/* The host part of a Kylin identity "host:port|startMillis" into BUF ("" when none). */
void sync_identity_host(const char *identity, char *buf, size_t cap);

#endif
