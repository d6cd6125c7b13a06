/* raftctl_reply: decoding a reply's result fields and reporting a command's outcome, shared
 * by the command families (see raftctl_reply.h). */
#include "raftctl_reply.h"

#include <stdio.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_output.h"

#define KYLIN_CODE_PREFIX "KE-" /* project.show's Kylin failure states: KE-010021002, KE-010021004 */

int raftctl_opt_u64(const msgpack_object *o, const char *key, uint64_t *v, bool *present)
{
    const msgpack_object *f = mp_get(o, key);

    *v = 0;
    *present = false;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL || f->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return 0;
    }
    if (f->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -1;
    }
    *v = f->via.u64;
    *present = true;
    return 0;
}


int raftctl_opt_str(const msgpack_object *o, const char *key, const char **s, size_t *len)
{
    const msgpack_object *f = mp_get(o, key);

    *s = NULL;
    *len = 0;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (f->type != MSGPACK_OBJECT_STR) {
        return -1;
    }
    *s = f->via.str.ptr;
    *len = f->via.str.size;
    return 0;
}


int raftctl_opt_bool(const msgpack_object *o, const char *key, bool *v)
{
    const msgpack_object *f = mp_get(o, key);
    *v = false;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    return mp_get_bool(o, key, v) == 0 ? 0 : -1;
}

/* "KE-..." codes are Kylin's own failure states: the server's message already carries the
 * code and Kylin's text, and is printed as it is. */
static bool kylin_code(const struct client_reply *r)
{
    return r->status == PROTO_REFUSED && strncmp(r->code, KYLIN_CODE_PREFIX, strlen(KYLIN_CODE_PREFIX)) == 0;
}

int raftctl_bad_reply(const char *what, const struct client_sync_reply *out, const char *expected)
{
    raftctl_errf("%s: %s answered without %s; is raftctl older or newer than raftnode?", what, out->endpoint,
                 expected);
    return RAFTCTL_EXIT_FAILED;
}


int raftctl_read_failed(struct raftctl_ctx *ctx, const char *what, struct client_sync_reply *out)
{
    if (out->reply.status == PROTO_UNAVAILABLE) {
        return raftctl_report_unavailable(ctx, what, out);
    }
    if (kylin_code(&out->reply)) {
        raftctl_errf("%s", out->reply.error);
        return RAFTCTL_EXIT_FAILED;
    }
    return raftctl_report_refused(what, &out->reply);
}

int raftctl_write(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *what, const char *method,
                       client_pack_fn pack, void *arg, struct client_sync_reply *out)
{
    int rc = raftctl_request(ctx, kind, method, pack, arg, out);

    if (rc == PROTO_UNAVAILABLE) {
        rc = raftctl_report_unavailable(ctx, what, out);
    } else if (rc != PROTO_OK) {
        rc = raftctl_report_refused(ctx->args.cmd->words, &out->reply);
    }
    if (rc != 0 && ctx->args.format == RAFTCTL_FORMAT_JSON) {
        int prc = raftctl_json_print(json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "status", out->reply.status, "code",
                                               out->reply.code, "error", out->reply.error));
        rc = prc != 0 && rc < prc ? prc : rc;
    }
    return rc;
}

/* The "index" of a write's result (0 when absent). */
uint64_t raftctl_result_index(const struct client_sync_reply *out)
{
    uint64_t index = 0;

    if (out->reply.result != NULL) {
        (void)mp_get_u64(out->reply.result, "index", &index);
    }
    return index;
}

/* Prints a write's success: TEXT plus " (index N)", or {"ok": true, DOC's fields, "index"}
 * (DOC NULL = out of memory). Releases DOC. */

int raftctl_write_done(struct raftctl_ctx *ctx, const char *text, json_t *doc, uint64_t index)
{
    if (ctx->args.format != RAFTCTL_FORMAT_JSON) {
        json_decref(doc);
        printf("%s (index %llu)\n", text, (unsigned long long)index);
        return 0;
    }
    /* "ok" first, as in every other write's document */
    json_t *all = doc != NULL ? json_pack("{s:b}", "ok", 1) : NULL;
    if (all != NULL && (json_object_update(all, doc) != 0 ||
                        json_object_set_new(all, "index", raftctl_json_u64(index, true)) != 0)) {
        json_decref(all);
        all = NULL;
    }
    json_decref(doc);
    return raftctl_json_print(all);
}

bool raftctl_is_array_result(const struct client_sync_reply *o)
{
    return o->reply.status == PROTO_OK && o->reply.result != NULL && o->reply.result->type == MSGPACK_OBJECT_ARRAY;
}
