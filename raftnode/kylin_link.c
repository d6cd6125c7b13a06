/* kylin_link: the member's own Kylin node as its engine: health probes gating the engine's
 * heartbeats, and the claim cycle (kylin_link.h; docs/kylin.md). */
#include "kylin_link.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/mp.h"
#include "../kylin/api.h"
#include "../kylin/error.h"
#include "../kylin/reconcile.h"
#include "common/log.h"
#include "kylin_follow.h"
#include "node.h"

#define KL_TICK_MS 50
#define KL_BACKOFF_MIN_MS 100

#define KL_OF(req, field) ((struct kylin_link *)((char *)(req) - offsetof(struct kylin_link, field)))

static uint64_t now_ms(struct kylin_link *k)
{
    return uv_now(k->node->loop);
}

static void set_error(struct kylin_link *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct kylin_link *k, const char *fmt, ...)
{
    char text[sizeof k->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strcmp(text, k->last_error) != 0) {
        log_warn("kylin: %s", text);
        memcpy(k->last_error, text, sizeof text);
    }
}

static void free_names(char ***names, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*names)[i]);
    }
    free(*names);
    *names = NULL;
    *n = 0;
}

/* Appends a copy of NAME to *NAMES. 0 or -1. */
static int add_name(char ***names, size_t *n, const char *name)
{
    char **p = realloc(*names, (*n + 1) * sizeof *p);
    if (p == NULL) {
        return -1;
    }
    *names = p;
    p[*n] = strdup(name);
    if (p[*n] == NULL) {
        return -1;
    }
    (*n)++;
    return 0;
}

static bool health_up(struct kylin_link *k)
{
    const struct config *c = k->node->cfg;
    return k->health_known && k->health == KYLIN_HEALTH_UP &&
           now_ms(k) - k->last_up_ms <= (uint64_t)c->kylin_health_interval_ms + c->kylin_timeout_ms + 2 * KL_TICK_MS;
}

bool kylin_link_engine_ok(struct kylin_link *k)
{
    return !k->enabled || health_up(k);
}

static void set_identity(struct kylin_link *k, const char *identity)
{
    char *copy = identity != NULL ? strdup(identity) : NULL;
    if (identity != NULL && copy == NULL) {
        return; /* out of memory: learned again next round */
    }
    free(k->identity);
    k->identity = copy;
}

/* ---- health ---- */

static void health_reply(struct kylin_http_req *req, const struct kylin_http_reply *reply)
{
    struct kylin_link *k = KL_OF(req, health_req);
    char reason[256] = "";
    enum kylin_health h;
    bool was_up = health_up(k), was_known = k->health_known;

    k->health_inflight = false;
    if (!k->enabled || k->http.closing) {
        return;
    }
    k->probes++;
    if (reply->error != NULL) {
        h = KYLIN_HEALTH_DOWN;
        snprintf(reason, sizeof reason, "%s", reply->error);
    } else {
        h = kylin_health_parse(reply->status, reply->body, reply->body_len, reason, sizeof reason);
    }
    k->health = h;
    k->health_known = true;
    k->health_failures += h != KYLIN_HEALTH_UP;
    if (h == KYLIN_HEALTH_UP) {
        k->last_up_ms = now_ms(k);
        if (!was_up) {
            if (was_known) {
                /* DOWN then UP: perhaps a new incarnation (docs/kylin.md "Kylin restarts") */
                k->reclaim_all = true;
                set_identity(k, NULL);
                k->identity_gen++; /* a decision in flight was made for the old identity */
                k->poke_hold_ms = 0; /* a new incarnation runs no poke of the old one */
                k->poke_hold_until_ms = 0;
            }
            log_info("kylin: %s is UP (metastore healthy); engine %" PRIu64 " heartbeats%s", k->node->cfg->kylin_url,
                     k->node->cfg->node_id, was_known ? "; every project of this engine is claimed again" : "");
            k->round_wanted = true;
        }
    } else if (was_up || !was_known) {
        log_warn("kylin: %s is %s: %s; engine %" PRIu64 " sends no heartbeats until it is UP again (its projects "
                 "fail over after the heartbeat timeout)", k->node->cfg->kylin_url, kylin_health_name(h), reason,
                 k->node->cfg->node_id);
    }
}

static void probe(struct kylin_link *k)
{
    struct kylin_api_request r;
    char err[256];
    if (kylin_api_health(k->node->cfg->kylin_url, &r, err, sizeof err) != KYLIN_OK) {
        set_error(k, "health request: %s", err);
        return;
    }
    if (kylin_http_request(&k->http, &k->health_req, r.method, r.url, r.headers, NULL, 0,
                           (long)k->node->cfg->kylin_timeout_ms, health_reply, err, sizeof err) == KYLIN_OK) {
        k->health_inflight = true;
    } else {
        set_error(k, "health probe: %s", err);
    }
    kylin_api_request_free(&r);
}

/* ---- rounds ---- */

static void round_end(struct kylin_link *k)
{
    k->round_busy = false;
    k->rounds++;
}

static void poke_reply(struct kylin_http_req *req, const struct kylin_http_reply *reply)
{
    struct kylin_link *k = KL_OF(req, poke_req);
    if (!k->enabled || k->http.closing) {
        return;
    }
    if (reply->error != NULL || reply->status != 200) {
        set_error(k, "poke (POST /api/broadcast) failed: %s (HTTP %ld)", reply->error != NULL ? reply->error : "",
                  reply->status);
    }
    /* Kylin runs a poke (updateAllEpochs: one renew write per owned row) in the request's
     * thread to the end even after we gave up waiting; more pokes meanwhile would queue behind
     * it and renew every row again, long after the decision (seen with 10,000 projects). After
     * an unanswered poke the next waits, 2 x the timeout, doubling up to 16 x; an answer ends
     * the hold. The new owner's claim has already taken the row: a later poke only makes the
     * old owner stop its scheduler sooner than its own renew poll would. */
    if (reply->status == 0) {
        uint64_t t = k->node->cfg->kylin_timeout_ms;
        k->poke_hold_ms = k->poke_hold_ms == 0 ? 2 * t : k->poke_hold_ms * 2 > 16 * t ? 16 * t : k->poke_hold_ms * 2;
        k->poke_hold_until_ms = now_ms(k) + k->poke_hold_ms;
    } else {
        k->poke_hold_ms = 0;
        k->poke_hold_until_ms = 0;
    }
    round_end(k);
}

static void send_poke(struct kylin_link *k)
{
    struct kylin_api_request r;
    char err[256];
    if (now_ms(k) < k->poke_hold_until_ms) {
        if (!k->poke_held) {
            k->pokes_held++;
            log_info("kylin: poke held for %" PRIu64 " ms: the last one went unanswered and may still be "
                     "running in Kylin", k->poke_hold_until_ms - now_ms(k));
        }
        k->poke_held = true;
        round_end(k);
        return;
    }
    k->poke_held = false;
    if (kylin_api_poke(k->node->cfg->kylin_url, &r, err, sizeof err) != KYLIN_OK) {
        set_error(k, "poke request: %s", err);
        round_end(k);
        return;
    }
    int rc = kylin_http_request(&k->http, &k->poke_req, r.method, r.url, r.headers, r.body, r.body_len,
                                (long)k->node->cfg->kylin_timeout_ms, poke_reply, err, sizeof err);
    kylin_api_request_free(&r);
    if (rc != KYLIN_OK) {
        set_error(k, "poke: %s", err);
        round_end(k);
        return;
    }
    k->pokes++;
    log_debug("kylin: poke sent");
}

static void backoff(struct kylin_link *k)
{
    uint64_t cap = k->node->cfg->kylin_repair_ms;
    k->backoff_ms = k->backoff_ms == 0 ? KL_BACKOFF_MIN_MS : k->backoff_ms * 2;
    if (k->backoff_ms > cap) {
        k->backoff_ms = cap;
    }
    k->claim_not_before_ms = now_ms(k) + k->backoff_ms;
}

static void send_claims(struct kylin_link *k);

static void claims_done(struct kylin_link *k)
{
    free_names(&k->to_claim, &k->n_to_claim);
    k->claim_off = 0;
    k->round_wanted = true; /* read again at once: verify and learn the identity */
    if (k->poke_after) {
        k->poke_after = false;
        send_poke(k);
        return;
    }
    round_end(k);
}

/* After a claim call of TAKEN names succeeded: batches grow back to the default size. */
static void claim_grow(struct kylin_link *k)
{
    if (k->claim_max != 0) {
        k->claim_max *= 2;
        if (k->claim_max >= KYLIN_API_CLAIM_BATCH) {
            k->claim_max = 0;
        }
    }
}

/* The single project NAME was refused by Kylin (it does not know it, MSG): noted, left out of
 * claims for a while, and the rest of the round's claims go on. */
static void claim_refused(struct kylin_link *k, const char *name, const char *msg)
{
    bool known = kylin_unknown_find(&k->unknown, name) != NULL;
    if (kylin_unknown_note(&k->unknown, name, msg, now_ms(k)) == 0 && !known) {
        log_warn("kylin: %s does not know project %s (%s): the quorum holds it but Kylin's metadata does not "
                 "(added with raftctl?); left out of claims and tried again every %d s. Create it in Kylin, or "
                 "remove it with `raftctl project remove %s`", k->node->cfg->kylin_url, name, msg,
                 KYLIN_UNKNOWN_RETRY_MS / 1000, name);
    }
    k->claims_failed++;
    k->claim_off++;
    if (k->claim_off < k->n_to_claim) {
        send_claims(k);
        return;
    }
    k->reclaim_all = false; /* every other claim it caused was sent */
    claims_done(k);
}

static void claim_reply(struct kylin_http_req *req, const struct kylin_http_reply *reply)
{
    struct kylin_link *k = KL_OF(req, claim_req);
    size_t taken = k->claim_taken;
    char msg[256];
    if (!k->enabled || k->http.closing) {
        return;
    }
    bool failed = reply->error != NULL || reply->status != 200;
    bool kylin_error = reply->error == NULL && reply->status >= 400 && reply->status <= 599;
    if (failed && kylin_error && taken > 1) {
        /* Kylin checks every name before it claims any (checkProjectName): one project it does
         * not know fails the whole batch. Halves until that project is alone. */
        k->claim_max = taken / 2;
        k->claim_splits++;
        log_info("kylin: %s refused a claim of %zu project(s) (HTTP %ld; first: %s): claiming them %zu at a time "
                 "to find the project it does not know", k->node->cfg->kylin_url, taken, reply->status,
                 k->to_claim[k->claim_off], k->claim_max);
        send_claims(k);
        return;
    }
    if (failed && taken == 1 &&
        kylin_api_claim_refused(reply->status, reply->body, reply->body_len, k->to_claim[k->claim_off], msg,
                                sizeof msg)) {
        claim_refused(k, k->to_claim[k->claim_off], msg);
        return;
    }
    for (size_t i = 0; i < taken; i++) {
        if (!failed) {
            kylin_unknown_forget(&k->unknown, k->to_claim[k->claim_off + i]);
        }
        if (add_name(&k->just_claimed, &k->n_just_claimed, k->to_claim[k->claim_off + i]) != 0) {
            break; /* out of memory: that claim is verified by the table alone */
        }
    }
    k->claim_off += taken;
    k->claims_failed += failed ? taken : 0;
    k->claims_ok += failed ? 0 : taken;
    if (failed) {
        set_error(k, "claim (POST /api/epoch of %zu project(s)) failed: %s (HTTP %ld); retried with backoff", taken,
                  reply->error != NULL ? reply->error : "", reply->status);
        backoff(k);
        claims_done(k);
        return;
    }
    claim_grow(k);
    if (k->claim_off < k->n_to_claim) {
        send_claims(k);
        return;
    }
    k->reclaim_all = false; /* every claim it caused was sent */
    claims_done(k);
}

static void send_claims(struct kylin_link *k)
{
    struct kylin_api_request r;
    char err[256];
    size_t taken = 0;
    if (kylin_api_claim(k->node->cfg->kylin_url, (const char *const *)k->to_claim + k->claim_off,
                        k->n_to_claim - k->claim_off, k->claim_max, &taken, &r, err, sizeof err) != KYLIN_OK) {
        set_error(k, "claim request: %s", err);
        backoff(k);
        claims_done(k);
        return;
    }
    k->claim_taken = taken;
    int rc = kylin_http_request(&k->http, &k->claim_req, r.method, r.url, r.headers, r.body, r.body_len,
                                (long)k->node->cfg->kylin_timeout_ms, claim_reply, err, sizeof err);
    kylin_api_request_free(&r);
    if (rc != KYLIN_OK) {
        set_error(k, "claim: %s", err);
        backoff(k);
        claims_done(k);
        return;
    }
    k->claim_calls++;
    k->claims_sent += taken;
    log_info("kylin: claiming %zu project(s) on %s (first: %s)", taken, k->node->cfg->kylin_url,
             k->to_claim[k->claim_off]);
}

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kylin_link_rec *)a)->project, ((const struct kylin_link_rec *)b)->project);
}

/* k->recs is sorted by project between rounds (decide appends a round's new records, then sorts
 * once), so that lookups are binary searches and a round over 10,000 projects stays
 * O(n log n). Searches the sorted prefix [0, N_SORTED). */
static struct kylin_link_rec *rec_find_in(struct kylin_link *k, size_t n_sorted, const char *project)
{
    struct kylin_link_rec key = {.project = (char *)project};
    return n_sorted == 0 ? NULL : bsearch(&key, k->recs, n_sorted, sizeof *k->recs, rec_cmp);
}

static struct kylin_link_rec *rec_find(struct kylin_link *k, const char *project)
{
    return rec_find_in(k, k->n_recs, project);
}

/* Room for N more records (one allocation per round, not one per record). 0 or -1. */
static int rec_reserve(struct kylin_link *k, size_t n)
{
    struct kylin_link_rec *p = realloc(k->recs, (k->n_recs + n + 1) * sizeof *p);
    if (p == NULL) {
        return -1;
    }
    k->recs = p;
    return 0;
}

/* Updates PROJECT's record if it is in the sorted prefix [0, N_SORTED), else appends it (room
 * reserved by rec_reserve; the caller sorts after the round's last append). 0 or -1. */
static int rec_set(struct kylin_link *k, size_t n_sorted, const char *project, const char *identity, int64_t epoch_id)
{
    struct kylin_link_rec *r = rec_find_in(k, n_sorted, project);
    char *id = strdup(identity);
    if (id == NULL) {
        return -1;
    }
    if (r == NULL) {
        char *name = strdup(project);
        if (name == NULL) {
            free(id);
            return -1;
        }
        r = &k->recs[k->n_recs++];
        r->project = name;
    } else {
        free(r->identity);
    }
    r->identity = id;
    r->epoch_id = epoch_id;
    return 0;
}

/* Drops the records of the N released projects in one pass; the array stays sorted. */
static void rec_drop_released(struct kylin_link *k, const struct kylin_release *rel, size_t n)
{
    size_t w = 0;
    if (n == 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct kylin_link_rec *r = rec_find(k, rel[i].project);
        if (r != NULL) {
            free(r->identity);
            r->identity = NULL; /* marked: removed below (the name still orders the search) */
        }
    }
    for (size_t i = 0; i < k->n_recs; i++) {
        if (k->recs[i].identity == NULL) {
            free(k->recs[i].project);
            continue;
        }
        k->recs[w++] = k->recs[i];
    }
    k->n_recs = w;
}

/* Drops the notes of projects Kylin did not know that need no claim any more (claimed, given
 * to another engine, removed) or that Kylin's metadata now lists (kylin_listed: claimed at
 * once rather than when the note is due). */
static void forget_unknown(struct kylin_link *k, const struct kylin_reconcile_out *out,
                           const struct store_project_row *projects, size_t n_projects)
{
    for (size_t i = k->unknown.n; i-- > 0;) {
        const char *name = k->unknown.notes[i].project;
        bool wanted = false, listed = false;
        for (size_t c = 0; c < out->n_claim && !wanted; c++) {
            wanted = strcmp(out->claim[c], name) == 0;
        }
        for (size_t p = 0; p < n_projects && wanted && !listed; p++) {
            listed = projects[p].kylin_listed && strcmp(projects[p].name, name) == 0;
        }
        if (!wanted || listed) {
            kylin_unknown_forget(&k->unknown, name);
        }
    }
}

static void decided(struct kylin_rec_async *ra, int rc, const char *errmsg);
static void kylin_link_close_round(struct kylin_link *k);
static void decide_finish(struct kylin_link *k, struct kylin_rec_async *ra, int rc, const char *errmsg);

/* Starts the round's decision on the rows just read: the input is prepared here, the projects
 * are read and kylin_reconcile runs on the background thread (kylin_reconcile_async.h), and
 * decide_finish starts what it decided. */
static void decide(struct kylin_link *k)
{
    struct node *n = k->node;
    struct kylin_claim *claims = NULL;
    struct kylin_row *rows = NULL;
    bool maintenance = false;
    char maint_owner[sizeof ((struct epoch_global_write *)0)->owner];

    if (store_maintenance(&n->store, &maintenance, k->rec_reason, sizeof k->rec_reason) != 0) {
        set_error(k, "reading the local state: %s", n->store.errmsg);
        round_end(k);
        return;
    }
    claims = calloc(k->n_recs + 1, sizeof *claims);
    rows = calloc(k->rows.n + 1, sizeof *rows);
    if (claims == NULL || rows == NULL) {
        free(claims);
        free(rows);
        set_error(k, "out of memory");
        round_end(k);
        return;
    }
    for (size_t i = 0; i < k->n_recs; i++) {
        claims[i] = (struct kylin_claim){.project = k->recs[i].project, .engine = n->cfg->node_id,
                                         .identity = k->recs[i].identity, .epoch_id = k->recs[i].epoch_id};
    }
    for (size_t i = 0; i < k->rows.n; i++) {
        const struct epoch_row *r = &k->rows.rows[i];
        rows[i] = (struct kylin_row){.target = r->target, .owner = r->owner, .epoch_id = r->epoch_id, .mvcc = r->mvcc};
    }
    /* Kylin's maintenance marker (DESIGN.md; EM L822-824): the ip of kylin.server.identity */
    const char *colon = strrchr(n->cfg->identity, ':');
    snprintf(maint_owner, sizeof maint_owner, "%.*s:0000|9223372036854775807",
             (int)(colon != NULL ? (size_t)(colon - n->cfg->identity) : strlen(n->cfg->identity)), n->cfg->identity);
    struct kylin_reconcile_in in = {
        .self = n->cfg->node_id,
        .prefix = n->cfg->identity,
        .identity = k->identity,
        .reclaim_all = k->reclaim_all,
        .maintenance = maintenance,
        .maint_owner = maint_owner,
        .targets_fold_case = k->reader.url.kind == MS_KIND_MYSQL,
        .claims = claims,
        .n_claims = k->n_recs,
        .rows = rows,
        .n_rows = k->rows.n,
        .just_claimed = (const char *const *)k->just_claimed,
        .n_just_claimed = k->n_just_claimed,
    };
    k->rec.data = k;
    k->rec_gen = k->identity_gen;
    int rc = kylin_rec_async_start(&k->rec, &in, &k->rows, &n->store, &n->bg, decided);
    if (rc == 0) {
        k->rec_inflight = true;
        return;
    }
    if (rc > 0) { /* an in-memory store: decided here */
        rc = kylin_rec_async_run_here(&k->rec, &n->store);
    }
    decide_finish(k, &k->rec, rc, k->rec.errmsg);
}

static void decided(struct kylin_rec_async *ra, int rc, const char *errmsg)
{
    struct kylin_link *k = ra->data;
    k->rec_inflight = false;
    if (!k->enabled) { /* closed meanwhile: kylin_link_close left what the job borrowed */
        kylin_rec_async_free(ra);
        kylin_link_close_round(k);
        return;
    }
    if (k->identity_gen != k->rec_gen) {
        /* Kylin was seen DOWN then UP while deciding: decide again on the new incarnation */
        kylin_rec_async_free(ra);
        k->round_wanted = true;
        round_end(k);
        return;
    }
    decide_finish(k, ra, rc, errmsg);
}

/* Starts what the decision in RA decided (RC 0), or ends the round (ERRMSG says why). */
static void decide_finish(struct kylin_link *k, struct kylin_rec_async *ra, int rc, const char *errmsg)
{
    struct node *n = k->node;
    const struct store_project_row *projects = ra->read.projects;
    size_t n_projects = ra->read.n;
    struct kylin_reconcile_out out = ra->out;
    const struct kylin_reconcile_in in = ra->in;
    bool maintenance = in.maintenance, poke = k->poke_next;
    struct epoch_global_write global;
    const char *reason = k->rec_reason; /* read with the maintenance flag when the round started */

    k->poke_next = false;
    memset(&global, 0, sizeof global);
    if (rc != 0) {
        set_error(k, "%s", errmsg);
        kylin_rec_async_free(ra);
        round_end(k);
        return;
    }
    if (out.identity_changed) {
        log_info("kylin: %s's identity is %s%s", n->cfg->kylin_url, out.identity != NULL ? out.identity : "(unknown)",
                 out.restarted ? " (a newer incarnation: every project is claimed again)" : "");
        set_identity(k, out.identity);
    }
    /* the rows read back, recorded in the replicated state where they differ (kylin_claims.h;
     * picked by the decision's job, for the identity set just above) */
    kylin_claims_send(&k->claims, ra->picks, ra->n_picks);
    size_t n_sorted = k->n_recs;
    if (out.n_record > 0 && rec_reserve(k, out.n_record) != 0) {
        set_error(k, "out of memory recording %zu claim(s)", out.n_record);
        out.n_record = 0; /* recorded by a later round */
    }
    for (size_t i = 0; i < out.n_record; i++) {
        /* the names are unique (one per desired project): appended ones need no search */
        if (rec_set(k, n_sorted, out.record[i].project, out.record[i].identity, out.record[i].epoch_id) != 0) {
            set_error(k, "out of memory recording a claim");
            continue;
        }
        log_info("kylin: project %s claimed by %s (epoch_id %" PRId64 ")", out.record[i].project,
                 out.record[i].identity, out.record[i].epoch_id);
        poke = true;
    }
    if (k->n_recs != n_sorted) {
        qsort(k->recs, k->n_recs, sizeof *k->recs, rec_cmp);
    }
    k->releases += out.n_release;
    k->unverified = out.n_unverified;
    for (size_t i = 0; i < out.n_claim; i++) {
        k->repairs += rec_find(k, out.claim[i]) != NULL; /* verified before: its row drifted */
    }
    for (size_t i = 0; i < out.n_release; i++) {
        log_info("kylin: project %s now held by %s (epoch_id %" PRId64 "): telling %s to release it",
                 out.release[i].project, out.release[i].owner != NULL ? out.release[i].owner : "",
                 out.release[i].epoch_id, n->cfg->kylin_url);
        poke = true; /* edge: one poke per release */
    }
    rec_drop_released(k, out.release, out.n_release);
    /* out.poke also covers a _global write: that poke follows the write (poke_next below), so
     * only records and releases poke here */
    if (maintenance) {
        poke = false;
    }
    if (out.n_unverified > 0) {
        log_info("kylin: %zu claimed project(s) not (yet) in the table as %s's (first: %s); claimed again with "
                 "backoff", out.n_unverified, n->cfg->kylin_url, out.unverified[0]);
        backoff(k);
    } else if (out.n_claim == 0) {
        k->backoff_ms = 0;
    }
    free_names(&k->just_claimed, &k->n_just_claimed);
    free_names(&k->to_claim, &k->n_to_claim);
    k->claim_off = 0;
    k->claim_max = 0;
    forget_unknown(k, &out, projects, n_projects);
    for (size_t i = 0; i < out.n_claim; i++) {
        if (kylin_unknown_skip(&k->unknown, out.claim[i], now_ms(k))) {
            continue; /* Kylin does not know it (kylin_unknown.h): tried again when due */
        }
        if (add_name(&k->to_claim, &k->n_to_claim, out.claim[i]) != 0) {
            set_error(k, "out of memory");
            break;
        }
    }
    if (k->n_to_claim == 0) {
        k->reclaim_all = false; /* nothing to claim, or only projects Kylin does not know */
    }
    if (out.global == KYLIN_GLOBAL_UPDATE || out.global == KYLIN_GLOBAL_INSERT) {
        global.op = out.global == KYLIN_GLOBAL_UPDATE ? EPOCH_GLOBAL_UPDATE : EPOCH_GLOBAL_INSERT;
        snprintf(global.owner, sizeof global.owner, "%s", out.global_owner);
        snprintf(global.reason, sizeof global.reason, "%s", maintenance ? reason : "");
        snprintf(global.server_mode, sizeof global.server_mode, "%s", config_mode_name(n->cfg->server_mode));
        global.epoch_id = out.global_epoch_id;
        global.mvcc = out.global_mvcc;
        global.expect_mvcc = out.global_expect_mvcc;
        global.now_ms = (int64_t)uv_now(n->loop); /* replaced by the wall clock below */
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
            global.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        }
    }
    kylin_rec_async_free(ra);
    if (k->n_to_claim > 0 && health_up(k)) {
        if (now_ms(k) < k->claim_not_before_ms) {
            free_names(&k->to_claim, &k->n_to_claim);
            k->next_repair_ms = k->claim_not_before_ms; /* a round then claims again */
        } else {
            k->poke_after = poke;
            send_claims(k);
            return;
        }
    }
    free_names(&k->to_claim, &k->n_to_claim);
    if (global.op != 0 && !poke && health_up(k)) {
        /* _global (docs/kylin.md): compare-and-set, then a read, then the poke (none in
         * maintenance: Kylin's marker needs none, its renew and update are no-ops then) */
        log_info("kylin: writing the _global row for %s (%s, epoch_id %" PRId64 ")%s", global.owner,
                 global.op == EPOCH_GLOBAL_UPDATE ? "compare-and-set" : "insert", global.epoch_id,
                 maintenance ? ": Kylin's maintenance mode" : "");
        k->poke_next = !maintenance;
        epoch_reader_write_global(&k->reader, &global);
        return; /* the read after the write continues the round */
    }
    if (poke && health_up(k)) {
        send_poke(k);
        return;
    }
    round_end(k);
}

static void rows_read(struct epoch_reader *r, struct epoch_rows *rows, const char *error)
{
    struct kylin_link *k = r->data;
    if (!k->enabled) {
        epoch_rows_free(rows);
        free(rows);
        return;
    }
    if (rows == NULL) {
        set_error(k, "reading %s_epoch: %s; retried every %u ms", k->reader.url.prefix, error,
                  k->node->cfg->kylin_repair_ms);
        round_end(k);
        return;
    }
    epoch_rows_free(&k->rows);
    k->rows = *rows;
    k->rows_known = true;
    free(rows);
    decide(k);
}

static void tick(uv_timer_t *t)
{
    struct kylin_link *k = t->data;
    struct node *n = k->node;
    uint64_t now = now_ms(k);

    if (!k->health_inflight && now >= k->next_probe_ms) {
        k->next_probe_ms = now + n->cfg->kylin_health_interval_ms;
        probe(k);
    }
    if (n->store.ownership_version != k->seen_version) {
        k->round_wanted = true;
    }
    if (now >= k->next_repair_ms || kylin_follow_due(k, now)) {
        k->round_wanted = true;
    }
    if (k->poke_held && now >= k->poke_hold_until_ms && !k->round_busy && health_up(k) &&
        n->phase == NODE_RUNNING) {
        k->round_busy = true; /* the held poke is a round of its own */
        send_poke(k);
    }
    if (k->round_wanted && !k->round_busy && health_up(k) && n->phase == NODE_RUNNING) {
        k->round_wanted = false;
        k->round_busy = true;
        k->seen_version = n->store.ownership_version;
        k->next_repair_ms = now + n->cfg->kylin_repair_ms;
        kylin_follow_round(k, now); /* the leader's project list rides on this read */
        epoch_reader_request(&k->reader);
    }
}

int kylin_link_start(struct kylin_link *k, struct node *n)
{
    const struct config *c = n->cfg;
    struct ms_url url;
    char err[1024];

    memset(k, 0, sizeof *k);
    k->node = n;
    k->health = KYLIN_HEALTH_DOWN;
    if (!config_kylin_attached(c)) {
        return 0;
    }
    int rc = ms_url_resolve(c->metastore_url, c->metadata_url, &url, err, sizeof err);
    if (rc <= 0) {
        log_error("kylin: raft.kylin.url is set but %s; the member needs the metastore Kylin uses "
                  "(raft.metastore.url or kylin.metadata.url) to read the epoch table",
                  rc < 0 ? err : "neither raft.metastore.url nor kylin.metadata.url is set");
        return -1;
    }
    if (kylin_http_init(&k->http, n->loop, err, sizeof err) != KYLIN_OK) {
        log_error("kylin: HTTP client: %s", err);
        return -1;
    }
    k->http_open = true;
    k->enabled = true;
    kylin_claims_init(&k->claims, n);
    k->reader.data = k;
    if (epoch_reader_start(&k->reader, n->loop, &url, c->node_id, rows_read, err, sizeof err) != 0) {
        log_error("kylin: epoch table reader: %s", err);
        kylin_link_close(k);
        return -1;
    }
    kylin_follow_start(k);
    if (uv_timer_init(n->loop, &k->timer) != 0) {
        log_error("kylin: cannot create a timer");
        kylin_link_close(k);
        return -1;
    }
    k->timer_open = true;
    k->timer.data = k;
    if (uv_timer_start(&k->timer, tick, KL_TICK_MS, KL_TICK_MS) != 0) {
        log_error("kylin: cannot start a timer");
        kylin_link_close(k);
        return -1;
    }
    log_info("kylin: engine %" PRIu64 " is the Kylin node at %s (identity prefix %s; table %s_epoch in %s); health "
             "every %u ms, repair every %u ms", c->node_id, c->kylin_url, c->identity, url.prefix,
             ms_kind_name(url.kind), c->kylin_health_interval_ms, c->kylin_repair_ms);
    return 0;
}

/* What a round's decision borrows (kylin_reconcile_async.h): freed at close, or once the
 * decision in flight at close is back. */
static void kylin_link_close_round(struct kylin_link *k)
{
    epoch_rows_free(&k->rows);
    free_names(&k->just_claimed, &k->n_just_claimed);
    free_names(&k->to_claim, &k->n_to_claim);
    for (size_t i = 0; i < k->n_recs; i++) {
        free(k->recs[i].project);
        free(k->recs[i].identity);
    }
    k->n_recs = 0;
    free(k->recs);
    k->recs = NULL;
}

void kylin_link_close(struct kylin_link *k)
{
    if (!k->enabled) {
        return;
    }
    k->enabled = false; /* replies from the cancellations below do nothing */
    if (k->timer_open) {
        uv_close((uv_handle_t *)&k->timer, NULL);
        k->timer_open = false;
    }
    if (k->http_open) {
        (void)kylin_http_close(&k->http, NULL);
        k->http_open = false;
    }
    epoch_reader_close(&k->reader);
    kylin_claims_close(&k->claims);
    kylin_follow_close(k);
    if (!k->rec_inflight) { /* else the decision's job still reads them: decided() frees them */
        kylin_link_close_round(k);
    }
    kylin_unknown_free(&k->unknown);
    set_identity(k, NULL);
}

const struct epoch_row *kylin_link_row(struct kylin_link *k, const char *project, size_t len)
{
    for (size_t i = 0; i < k->rows.n; i++) {
        const char *t = k->rows.rows[i].target;
        if (strlen(t) == len && memcmp(t, project, len) == 0) {
            return &k->rows.rows[i];
        }
    }
    return NULL;
}
