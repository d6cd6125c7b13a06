/* handlers_claims: the `kylin.claimed` API method (docs/protocol.md): a member whose Kylin
 * claimed projects sends the rows it read back; the leader proposes one kylin_claimed command
 * per project (storage/claims.c applies each only while its owner and epoch still match) and
 * replies once every one of them was applied: {"index", "recorded", "stale", "refused"}.
 * A stale record (the project moved or its epoch changed meanwhile) is counted, not an error:
 * the sender compares again with the state it applies next. */
#include <stdlib.h>
#include <string.h>

#include "api_pending.h"
#include "common/mp.h"
#include "common/proto.h"
#include "handlers.h"
#include "proposal.h"
#include "storage/command.h"
#include "storage/store.h"

#define CLAIMED_MAX 1000 /* records per request (kylin_claims.c sends at most 500) */

struct claimed_wait {
    struct api_pending p;
    unsigned left;                 /* commands not answered yet */
    unsigned recorded, stale, refused;
    uint64_t index;
    int status;                    /* the first status-3 outcome (leadership lost), else 0 */
    char code[32];
    char message[256];
};

static void claimed_reply(struct claimed_wait *w)
{
    struct api_reply r;
    if (api_pending_open(&w->p)) {
        api_reply_begin(&r, w->p.ctx, w->p.id, w->status, w->status != 0 ? w->code : PROTO_CODE_OK,
                        w->status != 0 ? w->message : NULL);
        if (w->status == 0) {
            msgpack_pack_map(&r.pk, 4);
            mp_pack_kv_u64(&r.pk, "index", w->index);
            mp_pack_kv_u64(&r.pk, "recorded", w->recorded);
            mp_pack_kv_u64(&r.pk, "stale", w->stale);
            mp_pack_kv_u64(&r.pk, "refused", w->refused);
        }
        api_reply_send(w->p.conn, &r);
    }
    api_pending_free(w);
}

static void claimed_one_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct claimed_wait *w = data;
    if (index > w->index) {
        w->index = index;
    }
    if (status == PROTO_OK) {
        w->recorded++;
    } else if (status == PROTO_REFUSED && strcmp(code, PROTO_CODE_BUSY) == 0) {
        w->stale++;
    } else if (status == PROTO_REFUSED) {
        w->refused++;
    } else if (w->status == 0) {
        w->status = status;
        snprintf(w->code, sizeof w->code, "%s", code);
        snprintf(w->message, sizeof w->message, "%s", message);
    }
    if (--w->left == 0) {
        claimed_reply(w);
    }
}

/* Packs the kylin_claimed command of record O with PK. 0, or -1 (a bad record). */
static int pack_record(const msgpack_object *o, msgpack_packer *pk, uint64_t sender)
{
    const char *project, *identity;
    size_t project_len, identity_len;
    uint64_t owner, epoch;
    int64_t epoch_id;
    if (o->type != MSGPACK_OBJECT_MAP || mp_get_str(o, "project", &project, &project_len) != 0 ||
        project_len == 0 || project_len > STORE_NAME_MAX || mp_get_u64(o, "owner", &owner) != 0 || owner == 0 ||
        owner > INT64_MAX || mp_get_u64(o, "epoch", &epoch) != 0 || epoch > INT64_MAX ||
        (sender != 0 && owner != sender) || mp_get_str(o, "identity", &identity, &identity_len) != 0 || identity_len == 0 ||
        identity_len >= STORE_IDENTITY_MAX || mp_get_i64(o, "epoch_id", &epoch_id) != 0) {
        return -1;
    }
    char id[STORE_IDENTITY_MAX];
    memcpy(id, identity, identity_len);
    id[identity_len] = '\0';
    return command_pack_kylin_claimed(pk, project, project_len, owner, epoch, id, epoch_id) != 0 ? -1 : 0;
}

void handle_kylin_claimed(struct api_req *req)
{
    const msgpack_object *claims = mp_get(req->args, "claims");
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct claimed_wait *w;

    if (claims == NULL || claims->type != MSGPACK_OBJECT_ARRAY || claims->via.array.size == 0 ||
        claims->via.array.size > CLAIMED_MAX) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "kylin.claimed needs \"claims\": an array of 1..%d records", CLAIMED_MAX);
        return;
    }
    /* "id": the sending member, whose own engine every record must be (with API TLS,
     * handlers_permit has checked that the certificate is that member's) */
    uint64_t sender = 0;
    if (mp_get(req->args, "id") != NULL && (mp_get_u64(req->args, "id", &sender) != 0 || sender == 0)) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "kylin.claimed: \"id\" must be the sending member's id (1..)");
        return;
    }
    uint32_t n = claims->via.array.size;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t i = 0; i < n; i++) { /* every record checked before anything is proposed */
        msgpack_sbuffer_clear(&sb);
        if (pack_record(&claims->via.array.ptr[i], &pk, sender) != 0) {
            msgpack_sbuffer_destroy(&sb);
            api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                            "kylin.claimed: claims[%u] needs project (1..255 bytes), owner (1.., the sender's \"id\" when "
                            "given), epoch, identity "
                            "(1..255 bytes), epoch_id (integer)", (unsigned)i);
            return;
        }
    }
    if (!handlers_require_leader(req)) {
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    w = api_pending_new(req, sizeof *w);
    if (w == NULL) {
        msgpack_sbuffer_destroy(&sb);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return;
    }
    w->left = n;
    for (uint32_t i = 0; i < n; i++) {
        msgpack_sbuffer_clear(&sb);
        if (pack_record(&claims->via.array.ptr[i], &pk, sender) != 0 || sb.data == NULL ||
            proposals_submit(req->ctx->proposals, sb.data, sb.size, claimed_one_done, w) != 0) {
            /* out of memory: the records not queued are answered as failed (W is freed with
             * the last answer) */
            for (uint32_t k = i; k < n; k++) {
                claimed_one_done(w, 0, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, "out of memory queueing the write");
            }
            break;
        }
    }
    msgpack_sbuffer_destroy(&sb);
}
