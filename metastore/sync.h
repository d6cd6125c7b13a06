/* sync: one mirror batch, the unit of exactly-once: in ONE metastore transaction,
 *
 *   1. lock and read the sync row (<prefix>_raft_sync): the watermark W (decision index the
 *      tables reflect), its term and leader;
 *   2. refuse, writing nothing, when the stored term is newer than ours (a newer leader
 *      mirrors now: we are deposed and do not know it yet); do nothing when W is past our
 *      decision index D (someone already mirrored a newer state);
 *   3. read our state (view.h) with the history rows after W, compare it with the tables
 *      and write only what differs: epoch rows whose values changed (mvcc + 1), epoch rows
 *      of removed projects (deleted), history rows after W (a row present already is left
 *      alone, so a batch that failed half-way or ran twice changes nothing), member rows;
 *   4. set the sync row to (D, our term, our id, now) and COMMIT. A batch that wrote member
 *      rows only (D = W) stamps the sync row with our term and id too, W unchanged: every
 *      write of a mirror shows in the sync row.
 * Any failure before COMMIT rolls everything back: the next batch starts again from W.
 * Because W only moves forward, and only together with the tables, the metastore always
 * shows one committed state of the log, whichever member wrote it.
 *
 * Step 3 is incremental when it can be: the worker keeps an image of the tables (image.h);
 * while the sync row still holds exactly the (W, term, leader) the image was made at, in our
 * term, nobody else's mirror wrote since, and the batch compares only the projects that
 * changed in the store (view_read_delta) with the image instead of reading every epoch row
 * back. Otherwise — the first batch after a (re)connect or a change of term, after any
 * failed, fenced or behind batch (they reset the image), and when the caller asks for the
 * periodic full compare (FULL_COMPARE, which repairs rows someone else wrote) — it reads the
 * tables back and compares everything, as the image is rebuilt. The rows written are the
 * same either way: they are computed from the store's state alone.
 *
 * Used by the mirror's worker thread only. Calls: backend.h, sql.h, view.h, image.h. */
#ifndef METASTORE_SYNC_H
#define METASTORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "metastore/backend.h"
#include "metastore/image.h"
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
    bool full_compare;                     /* compare with the tables even if the image
                                            * is good (the periodic check) */
    bool epoch_rows_off;                   /* write and delete no epoch row (a Kylin is
                                            * attached: only Kylin's own claims count);
                                            * history, member and sync rows as usual */
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
    bool full_compare;       /* the epoch table was read back and compared in full */
    bool incremental;        /* the batch compared with the image only */
    uint64_t stray_rows;     /* full compare of a good image: epoch rows someone else
                              * changed (put back), inserted or deleted since */
    char stray_example[64];  /* one such epoch_target ("" when none) */
};

/* Creates the tables when missing and checks their columns; seeds the sync row. Run after
 * every (re)connect. 0 or -1 (B->errmsg). */
int sync_prepare(struct ms_backend *b, const char *prefix);

/* Runs one batch (see above) with the worker's IMG (zeroed = no image yet). 0 with OUT
 * filled, or -1: B->errmsg says what failed (the transaction is rolled back; the connection
 * may be broken: B->broken; IMG is reset). READER errors are copied into B->errmsg too. */
int sync_batch(struct ms_backend *b, struct view_reader *reader, const struct sync_params *p, struct image *img,
               struct sync_result *out);

/* The host part of a Kylin identity "host:port|startMillis" into BUF ("" when none). */
void sync_identity_host(const char *identity, char *buf, size_t cap);

#endif
