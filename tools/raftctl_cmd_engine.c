/* raftctl_cmd_engine: engine list, drain, undrain (docs/protocol.md, methods engine.list and
 * engine.drain).
 *
 * engine list goes to any member, but the silence since an engine's last heartbeat is measured
 * by the leader only: when the member that answered is not the leader, the same call goes to
 * the leader it names; if that fails the first answer is shown (silence "-"). drain and
 * undrain go to the leader through raftctl_write (redirects followed, never resent once the
 * outcome is unknown). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"
#include "raftctl_reply.h"

struct drain_args {
    uint64_t id;
    bool on;
};

static int pack_drain(msgpack_packer *pk, void *arg)
{
    const struct drain_args *a = arg;
    int rc = msgpack_pack_map(pk, 2);

    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "id", a->id);
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "on", a->on);
}

static int engine_drain(struct raftctl_ctx *ctx, bool on)
{
    struct drain_args a = {0};
    struct client_sync_reply out;
    const char *verb = on ? "drain" : "undrain";
    char what[64], text[160];
    int rc;

    if (raftctl_parse_id(ctx->args.pos[0], &a.id) != 0) {
        raftctl_errf("%s: ID '%s' is not a positive integer", verb, ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    a.on = on;
    snprintf(what, sizeof what, "%s %llu", verb, (unsigned long long)a.id);
    rc = raftctl_write(ctx, RAFTCTL_WRITE, what, "engine.drain", pack_drain, &a, &out);
    if (rc == 0) {
        if (on) {
            snprintf(text, sizeof text, "engine %llu is draining: its projects move to other engines",
                     (unsigned long long)a.id);
        } else {
            snprintf(text, sizeof text, "engine %llu is no longer draining", (unsigned long long)a.id);
        }
        rc = raftctl_write_done(ctx, text, json_pack("{s:o, s:b}", "id", raftctl_json_u64(a.id, true), "draining", on),
                        raftctl_result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_drain(struct raftctl_ctx *ctx)
{
    return engine_drain(ctx, true);
}

int raftctl_cmd_undrain(struct raftctl_ctx *ctx)
{
    return engine_drain(ctx, false);
}

/* ---------------------------------------------------------------------------------------- */
/* engine list                                                                               */

struct engine_row {
    uint64_t id, projects, weight, ms_ago;
    bool alive, draining, has_ms_ago;
    const char *mode, *identity; /* into the reply; identity NULL when absent */
    size_t mode_len, identity_len;
};

static int engine_row_parse(const msgpack_object *o, struct engine_row *e)
{
    memset(e, 0, sizeof *e);
    if (mp_get_u64(o, "id", &e->id) != 0 || mp_get_str(o, "mode", &e->mode, &e->mode_len) != 0 ||
        mp_get_bool(o, "alive", &e->alive) != 0 || mp_get_bool(o, "draining", &e->draining) != 0 ||
        mp_get_u64(o, "projects", &e->projects) != 0 || mp_get_u64(o, "weight", &e->weight) != 0 ||
        raftctl_opt_str(o, "identity", &e->identity, &e->identity_len) != 0 ||
        raftctl_opt_u64(o, "last_heartbeat_ms_ago", &e->ms_ago, &e->has_ms_ago) != 0) {
        return -1;
    }
    return 0;
}

static json_t *engine_json(const struct engine_row *e)
{
    return json_pack("{s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o}", "id", raftctl_json_u64(e->id, true), "mode",
                     raftctl_json_str_lossy(e->mode, e->mode_len), "alive", e->alive, "draining", e->draining, "projects",
                     raftctl_json_u64(e->projects, true), "weight", raftctl_json_u64(e->weight, true), "identity",
                     e->identity != NULL ? raftctl_json_str_lossy(e->identity, e->identity_len) : json_null(),
                     "last_heartbeat_ms_ago", raftctl_json_u64(e->ms_ago, e->has_ms_ago));
}

static int engines_print(struct raftctl_ctx *ctx, const struct client_sync_reply *out)
{
    static const char *const head[] = {"ID", "MODE", "ALIVE", "DRAINING", "WEIGHT", "PROJECTS", "LAST_HEARTBEAT",
                                       "IDENTITY"};
    const msgpack_object *list = out->reply.result;
    bool json = ctx->args.format == RAFTCTL_FORMAT_JSON;
    json_t *arr = json ? json_array() : NULL;
    struct raftctl_table t;
    struct engine_row e;
    int rc = 0;

    if (!json) {
        raftctl_table_init(&t, 8, head);
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (engine_row_parse(&list->via.array.ptr[i], &e) != 0) {
            raftctl_errf("engine list: entry %u from %s lacks a valid id, mode, alive, draining, projects or weight; "
                         "is raftctl older or newer than raftnode?",
                         i, out->endpoint);
            rc = RAFTCTL_EXIT_FAILED;
            break;
        }
        if (json) {
            if (arr != NULL && json_array_append_new(arr, engine_json(&e)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
            continue;
        }
        char id[24], weight[24], projects[24], ago[32];
        char *mode = strndup(e.mode, e.mode_len);
        char *ident = e.identity != NULL ? strndup(e.identity, e.identity_len) : NULL;
        if (e.has_ms_ago) {
            snprintf(ago, sizeof ago, "%.1fs", (double)e.ms_ago / 1000.0);
        }
        const char *row[] = {raftctl_u64_str(e.id, id, sizeof id), mode, e.alive ? "yes" : "no",
                             e.draining ? "yes" : "no", raftctl_u64_str(e.weight, weight, sizeof weight),
                             raftctl_u64_str(e.projects, projects, sizeof projects), e.has_ms_ago ? ago : NULL,
                             ident != NULL && ident[0] != '\0' ? ident : NULL};
        if (mode == NULL || (e.identity != NULL && ident == NULL)) {
            raftctl_errf("engine list: out of memory formatting the table");
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            raftctl_table_add(&t, row);
        }
        free(mode);
        free(ident);
        if (rc != 0) {
            break;
        }
    }
    if (json) {
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

int raftctl_cmd_engine_list(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out, lead;
    bool consistent = ctx->args.consistent;
    const struct client_reply *r;
    int rc = raftctl_request(ctx, consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "engine.list",
                             raftctl_pack_consistent, &consistent, &out);

    if (rc != PROTO_OK) {
        rc = raftctl_read_failed(ctx, "engine list", &out);
        client_sync_reply_free(&out);
        return rc;
    }
    /* Only the leader measures the silence since each engine's last heartbeat: ask it when a
     * follower answered. If it cannot answer (no leader, unreachable), the follower's list
     * stands, without the silence. */
    r = &out.reply;
    if (r->leader_id != 0 && r->node_id != r->leader_id && r->leader_api[0] != '\0' &&
        !raftctl_failed_before(ctx, r->leader_api)) {
        client_call_sync(r->leader_api, "engine.list", raftctl_pack_consistent, &consistent, ctx->args.timeout_ms,
                         &lead);
        if (raftctl_is_array_result(&lead)) {
            client_sync_reply_free(&out);
            out = lead;
        } else {
            client_sync_reply_free(&lead);
        }
    }
    if (!raftctl_is_array_result(&out)) {
        rc = raftctl_bad_reply("engine list", &out, "an array");
    } else {
        rc = engines_print(ctx, &out);
    }
    client_sync_reply_free(&out);
    return rc;
}
