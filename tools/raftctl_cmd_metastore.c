/* raftctl_cmd_metastore: `metastore status`, the metastore mirror as the leader sees it
 * (docs/metastore.md). Any member answers; only the leader mirrors, so when a follower
 * answered and a leader is known, the leader is asked too and its answer is printed. The
 * URL comes from the server already redacted: raftctl never sees a password. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

struct ms_status {
    bool enabled, mirroring, connected, has_watermark, has_error;
    const char *backend, *url, *error;
    size_t backend_len, url_len, error_len;
    uint64_t watermark_index, watermark_term, watermark_leader, decision_index, lag_entries, lag_ms,
        writes, batches, node_id;
};

static bool is_map_result(const struct client_sync_reply *r)
{
    return r->reply.status == PROTO_OK && r->reply.result != NULL && r->reply.result->type == MSGPACK_OBJECT_MAP;
}

/* Optional string (nil = absent). 0 or -1 (wrong type). */
static int opt_str(const msgpack_object *o, const char *key, const char **s, size_t *len, bool *has)
{
    const msgpack_object *v = mp_get(o, key);
    *has = v != NULL && v->type == MSGPACK_OBJECT_STR;
    *s = *has ? v->via.str.ptr : NULL;
    *len = *has ? v->via.str.size : 0;
    return v == NULL || v->type == MSGPACK_OBJECT_NIL || *has ? 0 : -1;
}

static int parse_status(const msgpack_object *o, struct ms_status *s)
{
    bool has_backend, has_url;
    memset(s, 0, sizeof *s);
    if (mp_get_bool(o, "enabled", &s->enabled) != 0 || mp_get_bool(o, "connected", &s->connected) != 0 ||
        opt_str(o, "backend", &s->backend, &s->backend_len, &has_backend) != 0 || !has_backend ||
        opt_str(o, "url", &s->url, &s->url_len, &has_url) != 0 || !has_url ||
        opt_str(o, "last_error", &s->error, &s->error_len, &s->has_error) != 0 ||
        mp_get_u64(o, "decision_index", &s->decision_index) != 0 ||
        mp_get_u64(o, "lag_entries", &s->lag_entries) != 0 || mp_get_u64(o, "lag_ms", &s->lag_ms) != 0 ||
        mp_get_u64(o, "writes", &s->writes) != 0 || mp_get_u64(o, "batches", &s->batches) != 0) {
        return -1;
    }
    if (mp_get_bool(o, "mirroring", &s->mirroring) == -2) {
        return -1;
    }
    s->has_watermark = mp_get_u64(o, "watermark_index", &s->watermark_index) == 0;
    if (s->has_watermark) {
        (void)mp_get_u64(o, "watermark_term", &s->watermark_term);
        (void)mp_get_u64(o, "watermark_leader", &s->watermark_leader);
    }
    (void)mp_get_u64(o, "node_id", &s->node_id);
    return 0;
}

static int print_json(const struct ms_status *s)
{
    return raftctl_json_print(json_pack(
        "{s:b, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "enabled", s->enabled,
        "backend", raftctl_json_strn(s->backend, s->backend_len), "url", raftctl_json_strn(s->url, s->url_len),
        "mirroring", s->mirroring, "connected", s->connected, "watermark_index",
        raftctl_json_u64(s->watermark_index, s->has_watermark), "watermark_term",
        raftctl_json_u64(s->watermark_term, s->has_watermark), "watermark_leader",
        raftctl_json_u64(s->watermark_leader, s->has_watermark), "decision_index",
        raftctl_json_u64(s->decision_index, true), "lag_entries", raftctl_json_u64(s->lag_entries, true), "lag_ms",
        raftctl_json_u64(s->lag_ms, true), "last_error", raftctl_json_strn(s->error, s->error_len), "writes",
        raftctl_json_u64(s->writes, true), "batches", raftctl_json_u64(s->batches, true), "node_id",
        raftctl_json_u64(s->node_id, s->node_id != 0)));
}

static int print_table(const struct ms_status *s)
{
    if (!s->enabled) {
        printf("metastore mirror: disabled (neither raft.metastore.url nor kylin.metadata.url is set)\n");
        return 0;
    }
    printf("backend:     %.*s\n", (int)s->backend_len, s->backend);
    printf("url:         %.*s\n", (int)s->url_len, s->url);
    printf("member:      %" PRIu64 " (%s)\n", s->node_id,
           s->mirroring ? "the leader: mirrors" : "not the leader: does not mirror");
    printf("connected:   %s\n", s->connected ? "yes" : "no");
    if (s->has_watermark) {
        printf("watermark:   index %" PRIu64 ", term %" PRIu64 ", written by member %" PRIu64 "\n",
               s->watermark_index, s->watermark_term, s->watermark_leader);
    } else {
        printf("watermark:   - (not read yet)\n");
    }
    printf("decisions:   up to index %" PRIu64 "\n", s->decision_index);
    printf("lag:         %" PRIu64 " entries, %" PRIu64 " ms\n", s->lag_entries, s->lag_ms);
    printf("written:     %" PRIu64 " rows in %" PRIu64 " transactions (since this member started)\n",
           s->writes, s->batches);
    printf("last error:  %.*s\n", s->has_error ? (int)s->error_len : 1, s->has_error ? s->error : "-");
    return 0;
}

int raftctl_cmd_metastore_status(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out, lead;
    struct ms_status s;
    int rc = raftctl_request(ctx, RAFTCTL_READ, "metastore.status", NULL, NULL, &out);

    if (rc != PROTO_OK) {
        rc = out.reply.status == PROTO_UNAVAILABLE ? raftctl_report_unavailable(ctx, "metastore status", &out)
                                                   : raftctl_report_refused("metastore status", &out.reply);
        client_sync_reply_free(&out);
        return rc;
    }
    const struct client_reply *r = &out.reply;
    if (r->leader_id != 0 && r->node_id != r->leader_id && r->leader_api[0] != '\0' &&
        !raftctl_failed_before(ctx, r->leader_api)) {
        client_call_sync(r->leader_api, "metastore.status", NULL, NULL, ctx->args.timeout_ms, &lead);
        if (is_map_result(&lead)) {
            client_sync_reply_free(&out);
            out = lead;
        } else {
            client_sync_reply_free(&lead);
        }
    }
    if (!is_map_result(&out) || parse_status(out.reply.result, &s) != 0) {
        raftctl_errf("metastore status: the reply from %s is not the expected map; is raftctl older or newer "
                     "than raftnode?",
                     out.endpoint);
        client_sync_reply_free(&out);
        return RAFTCTL_EXIT_FAILED;
    }
    rc = ctx->args.format == RAFTCTL_FORMAT_JSON ? print_json(&s) : print_table(&s);
    client_sync_reply_free(&out);
    return rc;
}
