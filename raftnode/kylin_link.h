/* kylin_link: this member's own Kylin node as its engine (raft.kylin.url; docs/kylin.md).
 *
 *   health   GET {url}/api/health every raft.kylin.health-interval-ms with raft.kylin.timeout-ms;
 *            the engine heartbeats (engine.c) only while the last answer said
 *            components.metaStore UP and is recent (kylin_link_engine_ok). DOWN (or no answer)
 *            then UP: a new incarnation may be running, so every project of this engine is
 *            claimed again (reclaim-all) and the learned identity is forgotten.
 *   rounds   read <prefix>_epoch (metastore/epoch_reader.h, its own thread) -> kylin_reconcile
 *            (kylin/reconcile.h) -> POST /api/epoch claims in batches -> read again (verify,
 *            learn the identity) -> POST /api/broadcast poke when reconcile says so. A round
 *            starts after every applied ownership change (the store's ownership_version), a
 *            health transition, a claim (to verify it) and every raft.kylin.repair-ms. Claims
 *            that did not show up in the table are retried with a capped exponential backoff.
 *            Each member acts only for its own engine, from its own applied state, so a leader
 *            change changes nothing here.
 *   records  the claims verified in the table (project, identity, epoch_id) are recorded in
 *            the replicated state through the leader (kylin_claims.h; docs/kylin.md,
 *            "Recorded claims"); a copy in this member's memory drives reconcile's
 *            record/release/poke edges (a poke must fire once, not until the entry applied).
 *
 * Idle with a quiet Kylin: a round is one SELECT; reconcile returns nothing, so no request
 * writes the table.
 *
 * Owns: the HTTP client (kylin/http.h), two timers, the epoch reader and the last rows read.
 * Calls: kylin/, metastore/epoch_reader.h, the store (reads), libuv. Loop thread only. */
#ifndef RAFTNODE_KYLIN_LINK_H
#define RAFTNODE_KYLIN_LINK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../kylin/health.h"
#include "../kylin/http.h"
#include "../metastore/epoch_reader.h"
#include "kylin_claims.h"
#include "kylin_follow_async.h"
#include "kylin_reconcile_async.h"
#include "kylin_unknown.h"

struct node;

struct kylin_link_rec {
    char *project;
    char *identity;
    int64_t epoch_id;
};

struct kylin_link {
    bool enabled;                   /* read-only: raft.kylin.url is set */
    struct node *node;              /* read-only */
    /* health */
    enum kylin_health health;       /* read-only: last answer (DOWN until the first) */
    bool health_known;              /* read-only: an answer came since start */
    uint64_t last_up_ms;            /* private: uv_now of the last UP answer */
    bool health_inflight;           /* private */
    struct kylin_http_req health_req; /* private */
    /* rounds */
    bool round_busy;                /* private: a read or claim/poke is in flight */
    bool round_wanted;              /* private: start another round when this one ends */
    uint64_t next_repair_ms;        /* private */
    uint64_t seen_version;          /* private: store ownership_version of the last round */
    uint64_t claim_not_before_ms;   /* private: backoff */
    uint64_t backoff_ms;            /* private */
    bool reclaim_all;               /* private */
    char *identity;                 /* read-only: the Kylin identity learned, or NULL */
    char **just_claimed;            /* private: sent since the last read */
    size_t n_just_claimed;
    char **to_claim;                /* private: the round's claims not sent yet */
    size_t n_to_claim, claim_off;
    size_t claim_taken;             /* private: names in the claim call in flight */
    size_t claim_max;               /* private: names per claim call, 0 = KYLIN_API_CLAIM_BATCH
                                     * (halved while Kylin refuses whole batches) */
    struct kylin_unknown unknown;   /* read-only: projects Kylin refused, not knowing them */
    uint64_t claim_splits;          /* read-only: batches split after Kylin refused them */
    bool poke_after;                /* private: poke once the claims were sent */
    bool poke_next;                 /* private: poke after the next read (a _global write) */
    bool poke_held;                 /* private: a poke is due once the hold below ends */
    uint64_t poke_hold_ms;          /* private: 0, or the hold after unanswered pokes (doubles) */
    uint64_t poke_hold_until_ms;    /* private: no poke before this uv_now */
    uint64_t pokes_held;            /* read-only: pokes deferred while a late one may still run */
    struct kylin_http_req claim_req;  /* private */
    struct kylin_http_req poke_req;   /* private */
    struct kylin_link_rec *recs;    /* private: verified claims of this engine */
    size_t n_recs;
    struct epoch_rows rows;         /* read-only: the table as last read */
    bool rows_known;                /* read-only */
    /* the round's decision, on the background thread (kylin_reconcile_async.h): it borrows the
     * strings of recs, rows and just_claimed, which stay unchanged until it is back */
    struct kylin_rec_async rec;     /* private */
    bool rec_inflight;              /* private */
    uint64_t identity_gen;          /* private: counts identity resets outside a decision */
    uint64_t rec_gen;               /* private: identity_gen when the decision started */
    char rec_reason[512];           /* private: the maintenance reason read with the decision's input */
    char last_error[512];           /* read-only: last read/claim/poke failure, "" if none */
    /* counters (read-only) */
    uint64_t rounds, claims_sent, claim_calls, pokes, probes;
    /* counters for /metrics (read-only): claimed projects whose call succeeded or failed,
     * re-claims of verified projects whose row drifted, releases, health probes not UP;
     * unverified: claimed projects the last read did not show as this engine's */
    uint64_t claims_ok, claims_failed, repairs, releases, health_failures;
    size_t unverified;
    /* handles */
    struct kylin_http http;         /* private */
    bool http_open;                 /* private */
    uv_timer_t timer;               /* private: health + round tick */
    bool timer_open;                /* private */
    struct epoch_reader reader;     /* private */
    struct kylin_claims claims;     /* read-only: recording claims in the replicated state */
    uint64_t next_probe_ms;         /* private */
    /* projects follow Kylin (kylin_follow.c; raft.kylin.follow-projects) */
    bool follow;                    /* read-only: following is on */
    uint64_t follow_next_ms;        /* private: the next list read */
    char follow_tables_sql[256];    /* private: the reader's hooks point here */
    unsigned follow_inflight;       /* private: adds/removes proposed and not answered yet */
    int follow_status;              /* private: the last list's enum epoch_projects_status (-1: none yet) */
    char follow_note[512];          /* private: the last refusal or skip logged (logged once) */
    uint64_t follow_adds, follow_removes; /* read-only: proposed */
    struct kylin_follow_async follow_job; /* private: the comparison on the background thread */
    bool follow_deciding;           /* private: follow_job is in flight */
};

/* Starts the link when raft.kylin.url is set (otherwise does nothing and returns 0). 0, or -1
 * after logging why (the member stops). */
int kylin_link_start(struct kylin_link *k, struct node *n);

/* Closes handles and the reader (loop thread). Idempotent. */
void kylin_link_close(struct kylin_link *k);

/* Whether this member's engine may heartbeat: always without a Kylin; with one, only while
 * its last health answer was UP and recent (within interval + timeout + 100 ms). */
bool kylin_link_engine_ok(struct kylin_link *k);

/* The row of PROJECT as last read, or NULL. */
const struct epoch_row *kylin_link_row(struct kylin_link *k, const char *project, size_t len);

#endif
