/* raftctl_cmd_project: project list / add / remove / show / move / pin / unpin
 * (docs/protocol.md, methods project.*).
 * add and remove send one write per name, in order, to the leader; the exit status is the
 * worst outcome (3 > 1 > 0). Once the cluster is unavailable the remaining names are not
 * tried (each would wait for the same timeout) and are reported as skipped.
 * move, pin and unpin go to the leader through raftctl_write: redirects followed, never
 * resent once the outcome is unknown.
 * show reads any member (--consistent: the leader), but the owner's lease is known only on
 * the owner's own member: when the project's owner is not the member that answered, the call
 * is repeated on the owner's API address (from the member list); if that fails the rest is
 * shown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"
#include "raftctl_reply.h"

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
        /* the server's text says which name clashed ignoring case (`Sales` for `sales`) */
        if (r->error[0] != '\0') {
            raftctl_errf("%s", r->error);
        } else {
            raftctl_errf("project '%s' already exists", name);
        }
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

/* ---------------------------------------------------------------------------------------- */
/* project show, move, pin, unpin                                                           */

struct owner_args {
    const char *name;    /* project */
    uint64_t engine;     /* project.move / project.pin (0 = unpin) */
    bool consistent;     /* project show --consistent */
};

static int pack_show(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 1 + a->consistent);

    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "name", a->name);
    if (a->consistent) {
        rc = rc != 0 ? rc : mp_pack_kv_bool(pk, "consistent", true);
    }
    return rc;
}

static int pack_name_engine(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 2);

    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "name", a->name);
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "engine", a->engine);
}

int raftctl_cmd_project_move(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    char what[320], text[320];
    int rc;

    a.name = ctx->args.pos[0];
    if (raftctl_parse_id(ctx->args.pos[1], &a.engine) != 0) { /* validated by the parser already */
        raftctl_errf("project move: ENGINE '%s' is not an engine id", ctx->args.pos[1]);
        return RAFTCTL_EXIT_USAGE;
    }
    snprintf(what, sizeof what, "project move '%s' %llu", a.name, (unsigned long long)a.engine);
    rc = raftctl_write(ctx, RAFTCTL_WRITE, what, "project.move", pack_name_engine, &a, &out);
    if (rc == 0) {
        snprintf(text, sizeof text, "project '%s' moved to engine %llu", a.name, (unsigned long long)a.engine);
        rc = raftctl_write_done(ctx, text, json_pack("{s:o, s:o}", "name", raftctl_json_str_lossy(a.name, strlen(a.name)), "engine",
                                          raftctl_json_u64(a.engine, true)),
                        raftctl_result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

/* project pin NAME ENGINE, or unpin (ENGINE 0). */
static int project_pin(struct raftctl_ctx *ctx, uint64_t engine)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    char what[320], text[320];
    int rc;

    a.name = ctx->args.pos[0];
    a.engine = engine;
    if (engine != 0) {
        snprintf(what, sizeof what, "project pin '%s' %llu", a.name, (unsigned long long)engine);
        snprintf(text, sizeof text, "project '%s' pinned to engine %llu", a.name, (unsigned long long)engine);
    } else {
        snprintf(what, sizeof what, "project unpin '%s'", a.name);
        snprintf(text, sizeof text, "project '%s' unpinned", a.name);
    }
    rc = raftctl_write(ctx, RAFTCTL_WRITE, what, "project.pin", pack_name_engine, &a, &out);
    if (rc == 0) {
        rc = raftctl_write_done(ctx, text, json_pack("{s:o, s:o}", "name", raftctl_json_str_lossy(a.name, strlen(a.name)), "pinned",
                                          raftctl_json_u64(engine, engine != 0)),
                        raftctl_result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_project_pin(struct raftctl_ctx *ctx)
{
    uint64_t engine;

    if (raftctl_parse_id(ctx->args.pos[1], &engine) != 0) {
        raftctl_errf("project pin: ENGINE '%s' is not an engine id", ctx->args.pos[1]);
        return RAFTCTL_EXIT_USAGE;
    }
    return project_pin(ctx, engine);
}

int raftctl_cmd_project_unpin(struct raftctl_ctx *ctx)
{
    return project_pin(ctx, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* project show                                                                              */

struct show_row {
    const char *name, *identity, *kylin_identity;
    size_t name_len, identity_len, kylin_identity_len;
    uint64_t owner, epoch, pinned, lease_ms_left, grace_ms_left;
    int64_t kylin_epoch_id;
    bool has_owner, has_pinned, has_lease, lease_valid, has_grace, acting, has_kylin_epoch;
    bool has_listed, kylin_listed; /* absent from a member older than the field */
};


static int show_parse(const msgpack_object *o, struct show_row *s)
{
    memset(s, 0, sizeof *s);
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP || mp_get_str(o, "name", &s->name, &s->name_len) != 0 ||
        raftctl_opt_u64(o, "owner", &s->owner, &s->has_owner) != 0 || mp_get_u64(o, "epoch", &s->epoch) != 0 ||
        raftctl_opt_str(o, "owner_identity", &s->identity, &s->identity_len) != 0 ||
        raftctl_opt_u64(o, "pinned", &s->pinned, &s->has_pinned) != 0 ||
        raftctl_opt_u64(o, "lease_ms_left", &s->lease_ms_left, &s->has_lease) != 0 ||
        raftctl_opt_bool(o, "lease_valid", &s->lease_valid) != 0 ||
        raftctl_opt_u64(o, "grace_ms_left", &s->grace_ms_left, &s->has_grace) != 0 ||
        raftctl_opt_bool(o, "acting", &s->acting) != 0 ||
        raftctl_opt_str(o, "kylin_identity", &s->kylin_identity, &s->kylin_identity_len) != 0) {
        return -1;
    }
    s->has_kylin_epoch = mp_get_i64(o, "kylin_epoch_id", &s->kylin_epoch_id) == 0;
    s->has_listed = mp_get_bool(o, "kylin_listed", &s->kylin_listed) == 0;
    s->has_owner = s->has_owner && s->owner != 0; /* 0 = none */
    s->has_pinned = s->has_pinned && s->pinned != 0;
    return 0;
}

/* The API address of member ID from any member's member list, into BUF ("" = unknown). */
static void member_api_address(struct raftctl_ctx *ctx, uint64_t id, char *buf, size_t cap)
{
    struct client_sync_reply st;
    const msgpack_object *list;

    buf[0] = '\0';
    if (raftctl_request(ctx, RAFTCTL_READ, "status", NULL, NULL, &st) == PROTO_OK && st.reply.result != NULL &&
        (list = mp_get(st.reply.result, "members")) != NULL && list->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            uint64_t mid;
            if (mp_get_u64(&list->via.array.ptr[i], "id", &mid) == 0 && mid == id &&
                mp_get_cstr(&list->via.array.ptr[i], "api_address", buf, cap) != 0) {
                buf[0] = '\0';
            }
        }
    }
    client_sync_reply_free(&st);
}

static int show_print(struct raftctl_ctx *ctx, const struct show_row *s, bool from_owner, uint64_t owner_missed)
{
    char *name = strndup(s->name, s->name_len);
    char *ident = s->identity != NULL ? strndup(s->identity, s->identity_len) : NULL;
    int rc = 0;

    if (name == NULL || (s->identity != NULL && ident == NULL)) {
        free(name);
        free(ident);
        raftctl_errf("project show: out of memory");
        return RAFTCTL_EXIT_FAILED;
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", raftctl_json_str_lossy(s->name, s->name_len), "owner",
            raftctl_json_u64(s->owner, s->has_owner), "owner_identity",
            ident != NULL ? raftctl_json_str_lossy(s->identity, s->identity_len) : json_null(), "epoch",
            raftctl_json_u64(s->epoch, true), "pinned", raftctl_json_u64(s->pinned, s->has_pinned), "lease_valid",
            from_owner && s->has_lease ? json_boolean(s->lease_valid) : json_null(), "lease_ms_left",
            raftctl_json_u64(s->lease_ms_left, s->has_lease), "acting",
            from_owner && s->has_grace ? json_boolean(s->acting) : json_null(), "grace_ms_left",
            raftctl_json_u64(s->grace_ms_left, s->has_grace), "kylin_identity",
            s->kylin_identity != NULL ? raftctl_json_str_lossy(s->kylin_identity, s->kylin_identity_len) : json_null(),
            "kylin_epoch_id", s->has_kylin_epoch ? json_integer(s->kylin_epoch_id) : json_null(), "kylin_listed",
            s->has_listed ? json_boolean(s->kylin_listed) : json_null()));
    } else {
        printf("name: %s\n", name);
        if (s->has_owner) {
            printf("owner: %llu\n", (unsigned long long)s->owner);
        } else {
            printf("owner: -\n");
        }
        printf("owner identity: %s\n", ident != NULL && ident[0] != '\0' ? ident : "-");
        printf("epoch: %llu\n", (unsigned long long)s->epoch);
        /* kylin: Kylin's project metadata listed it (added or adopted by the leader's follow
         * loop); operator: added through the API only, so far */
        printf("source: %s\n", !s->has_listed ? "unknown (the member answering is older)"
                                : s->kylin_listed ? "kylin" : "operator");
        if (s->kylin_identity != NULL || s->has_kylin_epoch) {
            printf("kylin identity: %.*s (epoch_id %lld, as recorded in the replicated state)\n",
                   s->kylin_identity != NULL ? (int)s->kylin_identity_len : 1,
                   s->kylin_identity != NULL ? s->kylin_identity : "-", (long long)s->kylin_epoch_id);
        }
        if (s->has_pinned) {
            printf("pinned: %llu\n", (unsigned long long)s->pinned);
        } else {
            printf("pinned: no\n");
        }
        if (s->has_lease) {
            printf("lease ms left: %llu%s\n", (unsigned long long)s->lease_ms_left,
                   s->lease_valid ? "" : " (lease not valid)");
            if (s->has_grace) {
                printf("acting: %s", s->acting ? "yes" : "no");
                if (s->grace_ms_left > 0) {
                    printf(" (hand-over grace: %llu ms left)", (unsigned long long)s->grace_ms_left);
                }
                printf("\n");
            }
        } else if (owner_missed != 0) {
            printf("lease ms left: unknown (member %llu, the owner, did not answer)\n",
                   (unsigned long long)owner_missed);
        }
    }
    free(name);
    free(ident);
    return rc;
}

int raftctl_cmd_project_show(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out, own;
    struct show_row s, so;
    char what[300], api[CLIENT_ENDPOINT_MAX];
    bool from_owner;
    uint64_t missed = 0;
    int rc;

    a.name = ctx->args.pos[0];
    a.consistent = ctx->args.consistent;
    snprintf(what, sizeof what, "project show '%s'", a.name);
    rc = raftctl_request(ctx, a.consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "project.show", pack_show, &a, &out);
    if (rc != PROTO_OK) {
        if (rc == PROTO_REFUSED && strcmp(out.reply.code, PROTO_CODE_NOT_FOUND) == 0) {
            raftctl_errf("project '%s' does not exist", a.name);
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            rc = raftctl_read_failed(ctx, what, &out);
        }
        client_sync_reply_free(&out);
        return rc;
    }
    if (show_parse(out.reply.result, &s) != 0) {
        rc = raftctl_bad_reply("project show", &out, "a valid name, owner, owner_identity, epoch, pinned and lease");
        client_sync_reply_free(&out);
        return rc;
    }
    from_owner = s.has_owner && s.owner == out.reply.node_id;
    if (s.has_owner && !from_owner) {
        /* The lease lives on the owner's own member (its monotonic clock): ask it there. */
        member_api_address(ctx, s.owner, api, sizeof api);
        missed = s.owner;
        if (api[0] != '\0' && !raftctl_failed_before(ctx, api)) {
            struct owner_args plain = a;
            plain.consistent = false; /* the owner need not be the leader */
            client_call_sync(api, "project.show", pack_show, &plain, ctx->args.timeout_ms, &own);
            /* Only an answer at least as new as the first one replaces it: the owner's member
             * may lag behind (the first answer may be a --consistent one from the leader). */
            if (own.reply.status == PROTO_OK && show_parse(own.reply.result, &so) == 0 && so.epoch >= s.epoch) {
                client_sync_reply_free(&out);
                out = own; /* s's pointers move with it: parse again below */
                s = so;
                from_owner = s.has_owner && s.owner == out.reply.node_id;
                missed = from_owner ? 0 : missed;
            } else {
                client_sync_reply_free(&own);
            }
        }
    }
    rc = show_print(ctx, &s, from_owner, missed);
    client_sync_reply_free(&out);
    return rc;
}
