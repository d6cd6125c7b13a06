/* kylin_claims: sending the claims this member's Kylin made to the leader, to be recorded in
 * the replicated state (kylin_claims.h; docs/kylin.md, "Recorded claims"). */
#include "kylin_claims.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/mp.h"
#include "../common/proto.h"
#include "common/log.h"
#include "node.h"

#define KC_BACKOFF_MIN_MS 100
#define KC_TIMEOUT_MS 5000

static void sent_free(struct kylin_claims *c)
{
    for (size_t i = 0; i < c->n_sent; i++) {
        free(c->sent[i].project);
        free(c->sent[i].identity);
    }
    free(c->sent);
    c->sent = NULL;
    c->n_sent = 0;
}

void kylin_claims_init(struct kylin_claims *c, struct node *n)
{
    memset(c, 0, sizeof *c);
    c->node = n;
    (void)peer_init(&c->peer, n);
    c->started = true;
}

void kylin_claims_close(struct kylin_claims *c)
{
    if (!c->started) {
        return;
    }
    c->started = false;
    peer_close(&c->peer);
    sent_free(c);
}

static int by_target(const void *a, const void *b)
{
    return strcmp((*(const struct epoch_row *const *)a)->target, (*(const struct epoch_row *const *)b)->target);
}

static int by_target_folded(const void *a, const void *b)
{
    return strcasecmp((*(const struct epoch_row *const *)a)->target, (*(const struct epoch_row *const *)b)->target);
}

int kylin_rows_index_build(struct kylin_rows_index *idx, const struct epoch_rows *rows, bool fold_case)
{
    memset(idx, 0, sizeof *idx);
    size_t n = 0;
    idx->exact = malloc((rows->n + 1) * sizeof *idx->exact);
    idx->folded = fold_case ? malloc((rows->n + 1) * sizeof *idx->folded) : NULL;
    if (idx->exact == NULL || (fold_case && idx->folded == NULL)) {
        kylin_rows_index_free(idx);
        return -1;
    }
    for (size_t i = 0; i < rows->n; i++) {
        if (rows->rows[i].target != NULL) {
            idx->exact[n++] = &rows->rows[i];
        }
    }
    idx->n = n;
    qsort(idx->exact, n, sizeof *idx->exact, by_target);
    if (fold_case) {
        memcpy(idx->folded, idx->exact, n * sizeof *idx->folded);
        qsort(idx->folded, n, sizeof *idx->folded, by_target_folded);
    }
    return 0;
}

const struct epoch_row *kylin_rows_index_find(const struct kylin_rows_index *idx, const char *project)
{
    struct epoch_row key = {.target = (char *)project};
    const struct epoch_row *kp = &key, **hit = NULL;
    if (idx->n == 0) {
        return NULL;
    }
    hit = bsearch(&kp, idx->exact, idx->n, sizeof *idx->exact, by_target);
    if (hit == NULL && idx->folded != NULL) {
        hit = bsearch(&kp, idx->folded, idx->n, sizeof *idx->folded, by_target_folded);
    }
    return hit != NULL ? *hit : NULL;
}

void kylin_rows_index_free(struct kylin_rows_index *idx)
{
    free(idx->exact);
    free(idx->folded);
    memset(idx, 0, sizeof *idx);
}

/* Whether the record was sent within KYLIN_CLAIMS_RESEND_MS (its outcome is on its way). */
static bool sent_recently(const struct kylin_claims *c, uint64_t now, const struct store_claim *p,
                          const struct epoch_row *row)
{
    if (now - c->sent_ms >= KYLIN_CLAIMS_RESEND_MS) {
        return false;
    }
    for (size_t i = 0; i < c->n_sent; i++) {
        const struct kylin_claims_sent *s = &c->sent[i];
        if (s->epoch == p->epoch && s->epoch_id == row->epoch_id && strcmp(s->project, p->name) == 0 &&
            strcmp(s->identity, row->owner) == 0) {
            return true;
        }
    }
    return false;
}

/* An identity the state machine accepts (command_decode.c): 1..255 printable ASCII bytes. */
static bool identity_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return false;
        }
    }
    return n > 0 && n < STORE_IDENTITY_MAX; /* the decoder's COMMAND_IDENTITY_MAX, 255 */
}

static void backoff(struct kylin_claims *c)
{
    uint64_t cap = c->node->cfg->kylin_repair_ms;
    c->backoff_ms = c->backoff_ms == 0 ? KC_BACKOFF_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > cap) {
        c->backoff_ms = cap;
    }
    c->not_before_ms = uv_now(c->node->loop) + c->backoff_ms;
}

static void claimed_done(struct node *n, int status, const char *code, const char *message)
{
    struct kylin_claims *c = &n->kylin.claims;
    if (!c->started) {
        return;
    }
    c->inflight = false;
    if (status == PROTO_OK) {
        c->backoff_ms = 0;
        c->last_error[0] = '\0';
        return;
    }
    c->failures++;
    sent_free(c); /* not recorded (or unknown): the next round compares and sends again */
    backoff(c);
    if (strcmp(c->last_error, message) != 0) {
        log_warn("kylin: recording claims through the leader failed: %s (%s); retried in %" PRIu64 " ms", message,
                 code, c->backoff_ms);
        snprintf(c->last_error, sizeof c->last_error, "%s", message);
    }
}

/* Packs {"id": OWNER, "claims": [...]} for the records of SENT: "id" names the sending member,
 * so that with API TLS only member OWNER's certificate may record OWNER's claims. 0 or non-zero. */
static int pack_request(msgpack_packer *pk, const struct kylin_claims_sent *sent, size_t n, uint64_t owner)
{
    int rc = msgpack_pack_map(pk, 2);
    rc = rc ? rc : mp_pack_kv_u64(pk, "id", owner);
    rc = rc ? rc : mp_pack_cstr(pk, "claims");
    rc = rc ? rc : msgpack_pack_array(pk, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = msgpack_pack_map(pk, 5);
        rc = rc ? rc : mp_pack_kv_str(pk, "project", sent[i].project);
        rc = rc ? rc : mp_pack_kv_u64(pk, "owner", owner);
        rc = rc ? rc : mp_pack_kv_u64(pk, "epoch", sent[i].epoch);
        rc = rc ? rc : mp_pack_kv_str(pk, "identity", sent[i].identity);
        rc = rc ? rc : mp_pack_kv_i64(pk, "epoch_id", sent[i].epoch_id);
    }
    return rc;
}

/* Appends the record (PROJECT's claim P, ROW) to BATCH. 0 or -1 (out of memory). */
static int batch_add(struct kylin_claims_sent *batch, size_t *n, const struct store_claim *p,
                     const struct epoch_row *row)
{
    struct kylin_claims_sent *s = &batch[*n];
    s->project = strdup(p->name);
    s->identity = strdup(row->owner);
    if (s->project == NULL || s->identity == NULL) {
        free(s->project);
        free(s->identity);
        return -1;
    }
    s->epoch = p->epoch;
    s->epoch_id = row->epoch_id;
    (*n)++;
    return 0;
}

int kylin_claims_pick(const struct store_claim *claims, size_t n_claims, const char *identity,
                      const struct epoch_rows *rows, bool fold_case, struct kylin_claims_pick **out, size_t *n_out)
{
    struct kylin_rows_index idx;
    *out = NULL;
    *n_out = 0;
    if (identity == NULL || n_claims == 0) {
        return 0;
    }
    if (kylin_rows_index_build(&idx, rows, fold_case) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n_claims; i++) {
        const struct store_claim *p = &claims[i];
        const struct epoch_row *row = kylin_rows_index_find(&idx, p->name);
        if (row == NULL || row->owner == NULL || strcmp(row->owner, identity) != 0 || !identity_ok(row->owner)) {
            continue; /* not (yet) this Kylin's: reconcile claims it, the next read records it */
        }
        if (p->identity != NULL && strcmp(p->identity, row->owner) == 0 && p->epoch_id == row->epoch_id) {
            continue; /* recorded as it is */
        }
        if (*out == NULL && (*out = calloc(n_claims, sizeof **out)) == NULL) {
            kylin_rows_index_free(&idx);
            return -1;
        }
        (*out)[(*n_out)++] = (struct kylin_claims_pick){.claim = p, .row = row};
    }
    kylin_rows_index_free(&idx);
    return 0;
}

void kylin_claims_send(struct kylin_claims *c, const struct kylin_claims_pick *picks, size_t n_picks)
{
    struct node *n = c->node;
    char leader_api[CONFIG_ADDR_MAX];
    struct kylin_claims_sent *batch = NULL;
    size_t n_batch = 0;
    uint64_t now = uv_now(n->loop), self = n->cfg->node_id;

    if (!c->started || c->inflight || n_picks == 0 || now < c->not_before_ms || n->phase != NODE_RUNNING) {
        return;
    }
    if (node_leader(n, leader_api, sizeof leader_api) == 0 || leader_api[0] == '\0') {
        return; /* no leader known here yet: the next round tries again */
    }
    for (size_t i = 0; i < n_picks; i++) {
        if (sent_recently(c, now, picks[i].claim, picks[i].row)) {
            continue;
        }
        if (batch == NULL && (batch = calloc(KYLIN_CLAIMS_BATCH, sizeof *batch)) == NULL) {
            break;
        }
        if (batch_add(batch, &n_batch, picks[i].claim, picks[i].row) != 0 || n_batch == KYLIN_CLAIMS_BATCH) {
            break; /* the rest goes with the next round */
        }
    }
    if (n_batch == 0) {
        free(batch);
        return;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = pack_request(&pk, batch, n_batch, self);
    if (rc == 0 && sb.data != NULL) {
        rc = peer_call(&c->peer, leader_api, "kylin.claimed", sb.data, sb.size, KC_TIMEOUT_MS, claimed_done);
    }
    msgpack_sbuffer_destroy(&sb);
    sent_free(c);
    c->sent = batch;
    c->n_sent = n_batch;
    c->sent_ms = now;
    if (rc != 0) {
        sent_free(c);
        backoff(c);
        return;
    }
    c->inflight = true;
    c->calls++;
    c->records_sent += n_batch;
    log_info("kylin: recording %zu claim(s) of this Kylin in the replicated state (first: %s, epoch_id %" PRId64
             ") through %s", n_batch, batch[0].project, batch[0].epoch_id, leader_api);
}
