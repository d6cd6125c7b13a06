/* raftctl_cmd_cluster: status, member list and hash: views of every member at once. */
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cluster.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

/* {"id", "address", "role", "state", "applied_index", "reachable"} (DESIGN.md contract),
 * plus "api_address" when WITH_API (member list). */
static json_t *member_json(const struct raftctl_member *m, bool with_api)
{
    if (with_api) {
        return json_pack("{s:o, s:s, s:s, s:s, s:s, s:o, s:b}", "id", raftctl_json_u64(m->id, true), "address",
                         m->address, "api_address", m->api_address, "role", m->role, "state", m->state,
                         "applied_index", raftctl_json_u64(m->applied_index, m->reachable), "reachable",
                         m->reachable);
    }
    return json_pack("{s:o, s:s, s:s, s:s, s:o, s:b}", "id", raftctl_json_u64(m->id, true), "address", m->address,
                     "role", m->role, "state", m->state, "applied_index",
                     raftctl_json_u64(m->applied_index, m->reachable), "reachable", m->reachable);
}

static json_t *members_json(const struct raftctl_cluster *cl, bool with_api)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < cl->n_members; i++) {
        if (json_array_append_new(arr, member_json(&cl->members[i], with_api)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

int raftctl_cmd_status(struct raftctl_ctx *ctx)
{
    struct raftctl_cluster cl;
    struct raftctl_table t;
    static const char *const head[] = {"ID", "ADDRESS", "API_ADDRESS", "ROLE", "STATE", "APPLIED", "REACHABLE"};
    char leader[64], term[24], commit[24];
    int rc = raftctl_cluster_load(ctx, &cl, false);

    if (rc != 0) {
        raftctl_cluster_free(&cl);
        return rc;
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(json_pack("{s:o, s:o, s:o, s:o}", "leader_id",
                                          raftctl_json_u64(cl.leader_id, cl.have_leader), "term",
                                          raftctl_json_u64(cl.term, true), "commit_index",
                                          raftctl_json_u64(cl.commit_index, true), "members",
                                          members_json(&cl, false)));
        raftctl_cluster_free(&cl);
        return rc;
    }
    if (cl.have_leader) {
        raftctl_u64_str(cl.leader_id, leader, sizeof leader);
    } else {
        snprintf(leader, sizeof leader, "none");
    }
    printf("leader: %s  term: %s  commit index: %s\n", leader, raftctl_u64_str(cl.term, term, sizeof term),
           raftctl_u64_str(cl.commit_index, commit, sizeof commit));
    raftctl_table_init(&t, 7, head);
    for (size_t i = 0; i < cl.n_members; i++) {
        const struct raftctl_member *m = &cl.members[i];
        char id[24], applied[24];
        const char *row[] = {raftctl_u64_str(m->id, id, sizeof id), m->address,
                             m->api_address[0] != '\0' ? m->api_address : NULL, m->role, m->state,
                             m->reachable ? raftctl_u64_str(m->applied_index, applied, sizeof applied) : NULL,
                             m->reachable ? "yes" : "no"};
        raftctl_table_add(&t, row);
    }
    rc = raftctl_table_print(&t);
    raftctl_table_free(&t);
    raftctl_cluster_free(&cl);
    return rc;
}

int raftctl_cmd_member_list(struct raftctl_ctx *ctx)
{
    struct raftctl_cluster cl;
    struct raftctl_table t;
    static const char *const head[] = {"ID", "ADDRESS", "API_ADDRESS", "ROLE", "STATE"};
    int rc = raftctl_cluster_load(ctx, &cl, false);

    if (rc != 0) {
        raftctl_cluster_free(&cl);
        return rc;
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(members_json(&cl, true));
        raftctl_cluster_free(&cl);
        return rc;
    }
    raftctl_table_init(&t, 5, head);
    for (size_t i = 0; i < cl.n_members; i++) {
        const struct raftctl_member *m = &cl.members[i];
        char id[24];
        const char *row[] = {raftctl_u64_str(m->id, id, sizeof id), m->address,
                             m->api_address[0] != '\0' ? m->api_address : NULL, m->role, m->state};
        raftctl_table_add(&t, row);
    }
    rc = raftctl_table_print(&t);
    raftctl_table_free(&t);
    raftctl_cluster_free(&cl);
    return rc;
}

/* One member's hash row, filled from its "hash" reply. */
struct hash_row {
    bool reachable;
    uint64_t applied_index;
    char hash[40];
};

static void hash_row_fill(struct hash_row *row, const struct client_sync_reply *out)
{
    const msgpack_object *res = out->reply.result;

    row->reachable = out->reply.status == PROTO_OK && res != NULL &&
                     mp_get_u64(res, "applied_index", &row->applied_index) == 0 &&
                     mp_get_cstr(res, "hash", row->hash, sizeof row->hash) == 0;
}

int raftctl_cmd_hash(struct raftctl_ctx *ctx)
{
    struct raftctl_cluster cl;
    const char **eps = NULL;
    struct client_sync_reply *outs = NULL;
    struct hash_row *rows = NULL;
    size_t n;
    int rc = raftctl_cluster_load(ctx, &cl, false);

    if (rc != 0) {
        goto out;
    }
    n = cl.n_members > 0 ? cl.n_members : 1;
    eps = calloc(n, sizeof *eps);
    outs = calloc(n, sizeof *outs);
    rows = calloc(n, sizeof *rows);
    if (eps == NULL || outs == NULL || rows == NULL) {
        raftctl_errf("out of memory asking %zu members for their hash", cl.n_members);
        rc = RAFTCTL_EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < cl.n_members; i++) {
        eps[i] = cl.members[i].api_address[0] != '\0' ? cl.members[i].api_address : NULL;
    }
    /* -1: no loop could be made; every outs[i] then says so and the rows read unreachable. */
    (void)client_call_parallel(cl.n_members, eps, "hash", NULL, NULL, ctx->args.timeout_ms, outs);
    for (size_t i = 0; i < cl.n_members; i++) {
        hash_row_fill(&rows[i], &outs[i]);
        client_sync_reply_free(&outs[i]);
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < cl.n_members; i++) {
            json_t *o = json_pack("{s:o, s:o, s:o, s:b}", "id", raftctl_json_u64(cl.members[i].id, true),
                                  "applied_index", raftctl_json_u64(rows[i].applied_index, rows[i].reachable),
                                  "hash", rows[i].reachable ? json_string(rows[i].hash) : json_null(),
                                  "reachable", rows[i].reachable);
            if (json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        rc = raftctl_json_print(arr);
    } else {
        static const char *const head[] = {"ID", "APPLIED", "HASH", "REACHABLE"};
        struct raftctl_table t;
        raftctl_table_init(&t, 4, head);
        for (size_t i = 0; i < cl.n_members; i++) {
            char id[24], applied[24];
            const char *row[] = {raftctl_u64_str(cl.members[i].id, id, sizeof id),
                                 rows[i].reachable ? raftctl_u64_str(rows[i].applied_index, applied, sizeof applied)
                                                   : NULL,
                                 rows[i].reachable ? rows[i].hash : NULL, rows[i].reachable ? "yes" : "no"};
            raftctl_table_add(&t, row);
        }
        rc = raftctl_table_print(&t);
        raftctl_table_free(&t);
    }
out:
    free(eps);
    free(outs);
    free(rows);
    raftctl_cluster_free(&cl);
    return rc;
}
