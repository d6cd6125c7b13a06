/* raftctl_cmd_kylin: `kylin status` (docs/kylin.md, method kylin.status): per project, the
 * quorum's owner engine, the Kylin identity and epoch_id recorded in the replicated state
 * (what the owner's Kylin wrote in its epoch row, read back by its member), and whether they
 * agree (the recorded claim is the owner engine's Kylin and equals the row as the member
 * asked last read it). Any member answers. JSON: an array of
 * {"project","owner","kylin_identity","epoch_id","row_identity","row_epoch_id","agrees","note"}
 * ("note": why the owner's Kylin does not hold it, e.g. Kylin does not know the project; only
 * the owner's member knows, null elsewhere and when there is nothing to say). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

/* One project of the reply (strings point into it). */
struct kylin_row {
    const char *project, *identity, *row_identity, *note;
    size_t project_len, identity_len, row_identity_len, note_len;
    uint64_t owner;
    int64_t epoch_id, row_epoch_id;
    bool has_owner, has_identity, has_epoch, has_row_identity, has_row_epoch, agrees, has_note;
};

static int parse_row(const msgpack_object *o, struct kylin_row *r)
{
    memset(r, 0, sizeof *r);
    if (o->type != MSGPACK_OBJECT_MAP || mp_get_str(o, "project", &r->project, &r->project_len) != 0 ||
        mp_get_bool(o, "agrees", &r->agrees) != 0) {
        return -1;
    }
    r->has_owner = mp_get_u64(o, "owner", &r->owner) == 0;
    r->has_identity = mp_get_str(o, "kylin_identity", &r->identity, &r->identity_len) == 0;
    r->has_epoch = mp_get_i64(o, "epoch_id", &r->epoch_id) == 0;
    r->has_row_identity = mp_get_str(o, "row_identity", &r->row_identity, &r->row_identity_len) == 0;
    r->has_row_epoch = mp_get_i64(o, "row_epoch_id", &r->row_epoch_id) == 0;
    r->has_note = mp_get_str(o, "note", &r->note, &r->note_len) == 0; /* absent from older members */
    return 0;
}

static int print_json(const msgpack_object *projects)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; arr != NULL && i < projects->via.array.size; i++) {
        struct kylin_row r;
        if (parse_row(&projects->via.array.ptr[i], &r) != 0) {
            json_decref(arr);
            return -1;
        }
        json_t *o = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "project", raftctl_json_strn(r.project, r.project_len), "owner",
            raftctl_json_u64(r.owner, r.has_owner), "kylin_identity",
            r.has_identity ? raftctl_json_strn(r.identity, r.identity_len) : json_null(), "epoch_id",
            r.has_epoch ? json_integer(r.epoch_id) : json_null(), "row_identity",
            r.has_row_identity ? raftctl_json_strn(r.row_identity, r.row_identity_len) : json_null(), "row_epoch_id",
            r.has_row_epoch ? json_integer(r.row_epoch_id) : json_null(), "agrees", r.agrees, "note",
            r.has_note ? raftctl_json_strn(r.note, r.note_len) : json_null());
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return RAFTCTL_EXIT_FAILED;
        }
    }
    return raftctl_json_print(arr);
}

static int print_table(const msgpack_object *st, const msgpack_object *projects)
{
    static const char *const headers[] = {"PROJECT", "OWNER", "KYLIN IDENTITY", "EPOCH_ID", "AGREES"};
    struct raftctl_table t;
    const char *health = NULL, *identity = NULL;
    size_t health_len = 0, identity_len = 0;

    (void)mp_get_str(st, "health", &health, &health_len);
    if (mp_get_str(st, "identity", &identity, &identity_len) != 0) {
        identity = "(not learned yet)";
        identity_len = strlen(identity);
    }
    printf("kylin: %.*s, identity %.*s\n", (int)health_len, health != NULL ? health : "?", (int)identity_len,
           identity);
    raftctl_table_init(&t, 5, headers);
    for (uint32_t i = 0; i < projects->via.array.size; i++) {
        struct kylin_row r;
        char name[256], owner[24], ident[512], epoch[24];
        if (parse_row(&projects->via.array.ptr[i], &r) != 0) {
            raftctl_table_free(&t);
            return -1;
        }
        snprintf(name, sizeof name, "%.*s", (int)r.project_len, r.project);
        snprintf(ident, sizeof ident, "%.*s", (int)r.identity_len, r.has_identity ? r.identity : "");
        snprintf(epoch, sizeof epoch, "%" PRId64, r.epoch_id);
        const char *cells[] = {name, r.has_owner ? raftctl_u64_str(r.owner, owner, sizeof owner) : NULL,
                               r.has_identity ? ident : NULL, r.has_epoch ? epoch : NULL, r.agrees ? "yes" : "no"};
        raftctl_table_add(&t, cells);
    }
    int rc = raftctl_table_print(&t);
    raftctl_table_free(&t);
    /* notes below the table (the owner's member's: why its Kylin does not hold a project) */
    for (uint32_t i = 0; rc == 0 && i < projects->via.array.size; i++) {
        struct kylin_row r;
        if (parse_row(&projects->via.array.ptr[i], &r) == 0 && r.has_note) {
            printf("note: %.*s: %.*s\n", (int)r.project_len, r.project, (int)r.note_len, r.note);
        }
    }
    return rc;
}

int raftctl_cmd_kylin_status(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out;
    int rc = raftctl_request(ctx, RAFTCTL_READ, "kylin.status", NULL, NULL, &out);

    if (rc != PROTO_OK) {
        rc = out.reply.status == PROTO_UNAVAILABLE ? raftctl_report_unavailable(ctx, "kylin status", &out)
                                                   : raftctl_report_refused("kylin status", &out.reply);
        client_sync_reply_free(&out);
        return rc;
    }
    const msgpack_object *res = out.reply.result;
    const msgpack_object *projects = res != NULL && res->type == MSGPACK_OBJECT_MAP ? mp_get(res, "projects") : NULL;
    if (projects == NULL || projects->type != MSGPACK_OBJECT_ARRAY) {
        raftctl_errf("kylin status: the reply from %s is not the expected map; is raftctl older or newer than "
                     "raftnode?", out.endpoint);
        client_sync_reply_free(&out);
        return RAFTCTL_EXIT_FAILED;
    }
    rc = ctx->args.format == RAFTCTL_FORMAT_JSON ? print_json(projects) : print_table(res, projects);
    if (rc == -1) {
        raftctl_errf("kylin status: a project in the reply from %s is not the expected map", out.endpoint);
        rc = RAFTCTL_EXIT_FAILED;
    }
    client_sync_reply_free(&out);
    return rc;
}
