/* reconcile: what this member must do so that its own Kylin node holds exactly the projects the
 * quorum gave its engine, decided from the epoch table as read. A pure function of its input
 * (no clock, no I/O, no globals), like raftnode/lease.c and planner.c: the daemon, the unit
 * tests and a simulation can all run it. docs/kylin.md describes the whole cycle:
 *
 *   claim (POST /api/epoch, force) -> read the table -> verify + learn identity -> record the
 *   claim in the replicated state -> poke (POST /api/broadcast) -> ... repair drift
 *
 * Every member calls it for itself only, with its own Kylin: the owner's member claims, the
 * previous owner's member pokes its own Kylin to release (docs/kylin.md says why).
 *
 * Rules (S = this member's engine, "mine" = desired owner is S; identity = ip:port|millis):
 *   learn     a project in just_claimed whose row owner starts with "prefix|" teaches the
 *             identity Kylin wrote; when rows disagree, an owner different from the known
 *             identity wins (the claim wrote it), then the largest millis.
 *   restart   the row of a mine project showing "prefix|M" with M larger than the known
 *             identity's millis means my Kylin restarted without us seeing it DOWN: identity
 *             forgotten, reclaim all. (Rows of other projects do not count: one stray row
 *             must not turn every round into a reclaim-all.)
 *   claim     a mine project (never _global, never in maintenance) when reclaim-all (input or
 *             restart), or its row is missing or blank, or owned by another identity,
 *             including an older incarnation of my prefix; with no identity known, rows
 *             already showing "prefix|..." are ambiguous: if nothing else is claimed, the
 *             first of them is claimed alone as a probe (its row then teaches the identity at
 *             the cost of one write, not one per project).
 *   record    a mine project whose row owner equals my identity exactly while the recorded
 *             claim differs (none, another engine or identity, another epoch_id).
 *   release   a project with a recorded claim by S, now desired elsewhere, whose row shows an
 *             owner other than my prefix: my Kylin must let it go (escape path).
 *   poke      when anything was recorded (puts the project into Kylin's lastRenewEpochSet,
 *             protocol §7 step 3), released, or _global written; never in maintenance. A
 *             poke makes Kylin renew its rows (writes), so it is edge-triggered: each
 *             condition ends once the claim is recorded (by S or by the new owner).
 *   _global   cannot be claimed through /api/epoch (§2). When _global is mine and its row is
 *             not my identity's: UPDATE (compare-and-set on mvcc: owner = identity,
 *             epoch_id + 1, mvcc + 1, then poke; §7 step 4 (a)), or INSERT (epoch_id 1, mvcc 0,
 *             as Kylin's new Epoch) when the row is missing; NEED_IDENTITY when no identity is
 *             known yet (another claim teaches it). Nothing in maintenance.
 *   maintenance  no claim, no poke; learning and recording go on. _global: only the
 *             maintenance marker (maint_owner) is written, by _global's owner, once its
 *             identity is known (so that maintenance off can take the row back).
 *
 * Names: rows are matched to projects by exact name, as Kylin's epoch_target is the exact
 * stored name; the quorum keeps project names unique ignoring case (Kylin's rule), so two
 * desired names never differ only in case. With targets_fold_case (MySQL/MariaDB: the epoch
 * table's utf8 collation compares ignoring case, so Kylin's "WHERE epoch_target = 'Sales'"
 * finds the row 'sales'), a project with no exact row uses the row equal ignoring case. On
 * PostgreSQL such a row is someone else's leftover and is ignored. Rows of targets that are
 * not desired are ignored (never deleted).
 *
 * Identity idle rule: a cluster in which every row already equals its owner's identity and
 * every claim is recorded yields no claim, no record, no poke and no _global write.
 *
 * Caller's contract: set reclaim_all (the identity is then not trusted) after the Kylin was
 * seen DOWN then UP; clear it once the claims it caused were sent; pass the projects sent in
 * the last claim call as just_claimed for the next read of the table. At start (member
 * restarted, Kylin perhaps not), pass no identity and no reclaim_all: the probe learns the
 * identity with one write and only rows that are really not my Kylin's are claimed.
 *
 * Ownership: the output points into the input's strings (names, owners, identities); it stays
 * valid while the input does. Its arrays are malloc'd: kylin_reconcile_free frees them.
 *
 * Owns: nothing between calls. Calls: malloc/free/qsort/bsearch. */
#ifndef KYLIN_RECONCILE_H
#define KYLIN_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KYLIN_GLOBAL_TARGET "_global"

/* One row of <identifier>_epoch (kylin5-epoch-protocol.md §0). */
struct kylin_row {
    const char *target; /* epoch_target */
    const char *owner;  /* current_epoch_owner; NULL or "" = blank (released) */
    int64_t epoch_id;
    int64_t mvcc;
};

/* The quorum's decision for one project. */
struct kylin_desired {
    const char *project;
    uint64_t engine; /* 0: no owner */
};

/* A claim recorded in the replicated state: ENGINE's Kylin wrote IDENTITY and EPOCH_ID. */
struct kylin_claim {
    const char *project;
    uint64_t engine;
    const char *identity;
    int64_t epoch_id;
};

struct kylin_reconcile_in {
    uint64_t self;              /* this member's engine id (> 0) */
    const char *prefix;         /* "ip:port" of its Kylin: kylin.env.ip-address + server.port */
    const char *identity;       /* "ip:port|millis" learned so far, or NULL */
    bool reclaim_all;           /* Kylin was DOWN then UP: claim every project of S again */
    bool maintenance;           /* the quorum is in maintenance mode */
    const char *maint_owner;    /* "<ip>:0000|9223372036854775807", Kylin's maintenance marker
                                 * (DESIGN.md; EM L822-824): in maintenance the _global row's
                                 * owner's member writes it to _global; NULL: never written */
    bool targets_fold_case;     /* the epoch table compares targets ignoring case (MySQL) */
    const struct kylin_desired *desired;
    size_t n_desired;
    const struct kylin_claim *claims;
    size_t n_claims;
    const struct kylin_row *rows;
    size_t n_rows;
    const char *const *just_claimed; /* sent in the last claim call, since the previous read */
    size_t n_just_claimed;
};

enum kylin_global_action {
    KYLIN_GLOBAL_NONE = 0,
    KYLIN_GLOBAL_UPDATE,        /* compare-and-set the _global row (values below), then poke */
    KYLIN_GLOBAL_INSERT,        /* insert the _global row (values below), then poke */
    KYLIN_GLOBAL_NEED_IDENTITY, /* _global is mine but my Kylin's identity is not known yet */
};

struct kylin_record {
    const char *project;  /* the desired (exact) name */
    const char *identity;
    int64_t epoch_id;
};

struct kylin_release {
    const char *project;
    const char *owner;    /* the row's owner now */
    int64_t epoch_id;     /* the row's epoch_id now (a caller may poke once per value) */
};

struct kylin_reconcile_out {
    const char **claim;   /* projects to claim, in desired order */
    size_t n_claim;
    struct kylin_record *record;
    size_t n_record;
    struct kylin_release *release;
    size_t n_release;
    const char **unverified; /* just_claimed projects whose row is not my identity's */
    size_t n_unverified;
    bool poke;
    const char *identity;    /* the identity from now on, or NULL (unknown) */
    bool identity_changed;   /* differs from the input's */
    bool restarted;          /* a newer incarnation of my prefix was seen in a row */
    enum kylin_global_action global;
    int64_t global_expect_mvcc; /* UPDATE: WHERE mvcc = this */
    int64_t global_epoch_id;    /* UPDATE/INSERT: new epoch_id */
    int64_t global_mvcc;        /* UPDATE/INSERT: new mvcc */
    const char *global_owner;   /* UPDATE/INSERT: the owner to write (identity or maint_owner) */
};

/* Computes OUT from IN. 0, or -1 when out of memory or IN breaks its contract (self 0, no
 * prefix, NULL arrays with non-zero counts); OUT is then empty and needs no free. */
int kylin_reconcile(const struct kylin_reconcile_in *in, struct kylin_reconcile_out *out);

void kylin_reconcile_free(struct kylin_reconcile_out *out);

/* Whether OWNER is an identity of the Kylin at PREFIX ("ip:port|..."). */
bool kylin_identity_has_prefix(const char *owner, const char *prefix);

#endif
