/* raftctl_cmd_project: project list / add / remove.
 * add and remove send one write per name, in order, to the leader; the exit status is the
 * worst outcome (3 > 1 > 0). Once the cluster is unavailable the remaining names are not
 * tried (each would wait for the same timeout) and are reported as skipped. */
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

static int pack_name(msgpack_packer *pk, void *arg)
{
    int rc = msgpack_pack_map(pk, 1);
    return rc != 0 ? rc : mp_pack_kv_str(pk, "name", (const char *)arg);
}

/* One project row of project.list; owner/identity may be nil. -1 when malformed. */
struct project_row {
    const char *name;
    size_t name_len;
    bool has_owner;
    uint64_t owner;
    const char *identity; /* NULL when nil */
    size_t identity_len;
    uint64_t epoch;
};

static int project_row_parse(const msgpack_object *o, struct project_row *row)
{
    const msgpack_object *owner = mp_get(o, "owner");
    const msgpack_object *ident = mp_get(o, "owner_identity");

    if (mp_get_str(o, "name", &row->name, &row->name_len) != 0 || mp_get_u64(o, "epoch", &row->epoch) != 0) {
        return -1;
    }
    row->has_owner = owner != NULL && owner->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    row->owner = row->has_owner ? owner->via.u64 : 0;
    if (owner != NULL && !row->has_owner && owner->type != MSGPACK_OBJECT_NIL) {
        return -1;
    }
    row->identity = NULL;
    row->identity_len = 0;
    if (ident != NULL && ident->type == MSGPACK_OBJECT_STR) {
        row->identity = ident->via.str.ptr;
        row->identity_len = ident->via.str.size;
    } else if (ident != NULL && ident->type != MSGPACK_OBJECT_NIL) {
        return -1;
    }
    return 0;
}

static int print_projects(struct raftctl_ctx *ctx, const msgpack_object *list)
{
    struct project_row row;
    json_t *arr = NULL;
    struct raftctl_table t;
    static const char *const head[] = {"NAME", "OWNER", "OWNER_IDENTITY", "EPOCH"};
    int rc = 0;

    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        arr = json_array();
    } else {
        raftctl_table_init(&t, 4, head);
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (project_row_parse(&list->via.array.ptr[i], &row) != 0) {
            raftctl_errf("project list: entry %u of the reply lacks a valid name, owner, owner_identity or "
                         "epoch; is raftctl older or newer than raftnode?",
                         i);
            rc = RAFTCTL_EXIT_FAILED;
            break;
        }
        if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
            json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "name", raftctl_json_strn(row.name, row.name_len), "owner",
                                  raftctl_json_u64(row.owner, row.has_owner), "owner_identity",
                                  raftctl_json_strn(row.identity, row.identity_len), "epoch",
                                  raftctl_json_u64(row.epoch, true));
            if (arr != NULL && json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        } else {
            char *name = strndup(row.name, row.name_len);
            char *ident = row.identity != NULL ? strndup(row.identity, row.identity_len) : NULL;
            char owner[24], epoch[24];
            const char *cells[] = {name != NULL ? name : "?", row.has_owner ? raftctl_u64_str(row.owner, owner, sizeof owner) : NULL,
                                   ident, raftctl_u64_str(row.epoch, epoch, sizeof epoch)};
            if (name == NULL || (row.identity != NULL && ident == NULL)) {
                raftctl_errf("project list: out of memory formatting the table");
                rc = RAFTCTL_EXIT_FAILED;
            } else {
                raftctl_table_add(&t, cells);
            }
            free(name);
            free(ident);
            if (rc != 0) {
                break;
            }
        }
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        if (rc == 0) {
            return raftctl_json_print(arr);
        }
        json_decref(arr);
        return rc;
    }
    if (rc == 0) {
        rc = raftctl_table_print(&t);
    }
    raftctl_table_free(&t);
    return rc;
}

int raftctl_cmd_project_list(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out;
    bool consistent = ctx->args.consistent;
    int rc = raftctl_request(ctx, consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "project.list",
                             raftctl_pack_consistent, &consistent, &out);

    if (rc == PROTO_UNAVAILABLE) {
        rc = raftctl_report_unavailable(ctx, "project list", &out);
    } else if (rc != PROTO_OK) {
        rc = raftctl_report_refused("project list", &out.reply);
    } else if (out.reply.result == NULL || out.reply.result->type != MSGPACK_OBJECT_ARRAY) {
        raftctl_errf("project list: %s answered with something other than an array; is raftctl older or newer "
                     "than raftnode?",
                     out.endpoint);
        rc = RAFTCTL_EXIT_FAILED;
    } else {
        rc = print_projects(ctx, out.reply.result);
    }
    client_sync_reply_free(&out);
    return rc;
}

/* Prints the failure of one name and returns its exit status. */
static int project_failed(struct raftctl_ctx *ctx, bool add, const char *name, struct client_sync_reply *out)
{
    const struct client_reply *r = &out->reply;
    char what[300];

    snprintf(what, sizeof what, "project %s '%s'", add ? "add" : "remove", name);
    if (r->status == PROTO_UNAVAILABLE) {
        return raftctl_report_unavailable(ctx, what, out);
    }
    if (strcmp(r->code, PROTO_CODE_EXISTS) == 0) {
        raftctl_errf("project '%s' already exists", name);
    } else if (strcmp(r->code, PROTO_CODE_NOT_FOUND) == 0) {
        raftctl_errf("project '%s' does not exist", name);
    } else {
        return raftctl_report_refused(what, r);
    }
    return RAFTCTL_EXIT_FAILED;
}

static int project_write(struct raftctl_ctx *ctx, bool add)
{
    const char *method = add ? "project.add" : "project.remove";
    bool json = ctx->args.format == RAFTCTL_FORMAT_JSON;
    json_t *arr = json ? json_array() : NULL;
    bool unavailable = false;
    int worst = 0;

    for (size_t i = 0; i < ctx->args.n_pos; i++) {
        const char *name = ctx->args.pos[i];
        struct client_sync_reply out;
        uint64_t index = 0;
        json_t *o;
        int rc;

        if (unavailable) {
            raftctl_errf("project %s '%s': not attempted, the cluster is unavailable", add ? "add" : "remove", name);
            o = !json ? NULL
                      : json_pack("{s:b, s:s, s:i, s:s, s:s}", "ok", 0, "name", name, "status", PROTO_UNAVAILABLE,
                                  "code", "skipped", "error", "not attempted: the cluster is unavailable");
        } else if (raftctl_request(ctx, RAFTCTL_WRITE, method, pack_name, (void *)name, &out) == PROTO_OK) {
            (void)mp_get_u64(out.reply.result, "index", &index); /* absent: printed as 0 */
            if (!json) {
                printf("project '%s' %s (index %llu)\n", name, add ? "added" : "removed", (unsigned long long)index);
            }
            o = !json ? NULL : json_pack("{s:b, s:s, s:o}", "ok", 1, "name", name, "index", raftctl_json_u64(index, true));
            client_sync_reply_free(&out);
        } else {
            rc = project_failed(ctx, add, name, &out);
            worst = rc > worst ? rc : worst;
            unavailable = rc == RAFTCTL_EXIT_UNAVAILABLE;
            o = !json ? NULL
                      : json_pack("{s:b, s:s, s:i, s:s, s:s}", "ok", 0, "name", name, "status", out.reply.status,
                                  "code", out.reply.code, "error", out.reply.error);
            client_sync_reply_free(&out);
        }
        if (unavailable) {
            worst = RAFTCTL_EXIT_UNAVAILABLE;
        }
        if (!json) {
            continue;
        }
        if (arr != NULL && json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        } else if (arr == NULL) {
            json_decref(o);
        }
    }
    if (json) {
        json_t *doc = arr;
        int rc;
        if (arr != NULL && json_array_size(arr) == 1) { /* one name: the object itself */
            doc = json_incref(json_array_get(arr, 0));
            json_decref(arr);
        }
        rc = raftctl_json_print(doc);
        worst = rc > worst ? rc : worst;
    }
    return worst;
}

int raftctl_cmd_project_add(struct raftctl_ctx *ctx)
{
    return project_write(ctx, true);
}

int raftctl_cmd_project_remove(struct raftctl_ctx *ctx)
{
    return project_write(ctx, false);
}
