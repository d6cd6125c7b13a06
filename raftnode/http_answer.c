/* http_answer: the loop thread's answers to the HTTP routes (see http.h): health, readiness
 * and the read-only JSON documents, each from the same packing code as the API methods
 * (handlers_pack_*, store_pack_projects) turned into JSON, so the fields match raftctl -w json. */
#include <math.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"
#include "handlers.h"
#include "http.h"
#include "metrics.h"
#include "storage/store.h"

#define JSON_MAX_DEPTH 32

static const char *const CT_JSON = "application/json";
static const char *const CT_TEXT = "text/plain; charset=utf-8";
static const char *const CT_PROM = "text/plain; version=0.0.4; charset=utf-8";

/* Length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* A JSON string of S (LEN bytes): quotes, backslashes and control bytes escaped, bytes that
 * are not UTF-8 become '?' (as raftctl's output does). */
static void json_str(struct metrics_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    metrics_buf_put(b, "\"", 1);
    while (i < len) {
        if (p[i] == '"' || p[i] == '\\') {
            metrics_buf_put(b, "\\", 1);
            metrics_buf_put(b, (const char *)&p[i], 1);
            i++;
        } else if (p[i] < 0x20) {
            metrics_buf_printf(b, "\\u%04x", p[i]);
            i++;
        } else {
            size_t n = utf8_len(&p[i], len - i);
            if (n == 0) {
                metrics_buf_put(b, "?", 1);
                i++;
            } else {
                metrics_buf_put(b, (const char *)&p[i], n);
                i += n;
            }
        }
    }
    metrics_buf_put(b, "\"", 1);
}

/* The JSON form of a msgpack value (maps keep string keys; binary and extension values and
 * nesting past JSON_MAX_DEPTH become null), as raftctl's raftctl_mp_to_json. */
static void json_value(struct metrics_buf *b, const msgpack_object *o, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        metrics_buf_put(b, "null", 4);
        return;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        metrics_buf_printf(b, "%s", o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        metrics_buf_printf(b, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        metrics_buf_printf(b, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isfinite(o->via.f64)) {
            metrics_buf_printf(b, "%.17g", o->via.f64);
        } else {
            metrics_buf_put(b, "null", 4);
        }
        break;
    case MSGPACK_OBJECT_STR:
        json_str(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        metrics_buf_put(b, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0) {
                metrics_buf_put(b, ",", 1);
            }
            json_value(b, &o->via.array.ptr[i], depth + 1);
        }
        metrics_buf_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP: {
        bool first = true;
        metrics_buf_put(b, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                continue;
            }
            if (!first) {
                metrics_buf_put(b, ",", 1);
            }
            first = false;
            json_str(b, kv->key.via.str.ptr, kv->key.via.str.size);
            metrics_buf_put(b, ":", 1);
            json_value(b, &kv->val, depth + 1);
        }
        metrics_buf_put(b, "}", 1);
        break;
    }
    default:
        metrics_buf_put(b, "null", 4);
        break;
    }
}

/* BUF (one packed msgpack value) as JSON into B. -1 when it does not unpack. */
static int json_from_msgpack(struct metrics_buf *b, const msgpack_sbuffer *sb)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc;
    msgpack_unpacked_init(&u);
    rc = msgpack_unpack_next(&u, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
    if (rc == 0) {
        json_value(b, &u.data, 0);
        metrics_buf_put(b, "\n", 1);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

static unsigned text_answer(unsigned status, const char *text, char **body, size_t *len, const char **ct)
{
    size_t n = strlen(text);
    *ct = CT_TEXT;
    *body = malloc(n + 1);
    if (*body != NULL) {
        memcpy(*body, text, n + 1);
    }
    *len = n;
    return status;
}

/* {"code": CODE, "error": TEXT} with STATUS. */
static unsigned json_error(unsigned status, const char *code, const char *text, char **body, size_t *len,
                           const char **ct)
{
    struct metrics_buf b;
    metrics_buf_init(&b, 64 * 1024);
    metrics_buf_put(&b, "{\"code\":", 8);
    json_str(&b, code, strlen(code));
    metrics_buf_put(&b, ",\"error\":", 9);
    json_str(&b, text, strlen(text));
    metrics_buf_put(&b, "}\n", 2);
    *ct = CT_JSON;
    *body = metrics_buf_take(&b, len);
    return status;
}

/* /ready: a leader is known, this member applied what it knows to be committed and answers
 * plain reads (read_gate.h). */
static unsigned ready_answer(struct http *h, char **body, size_t *len, const char **ct)
{
    const struct api_ctx *ctx = &h->ctx;
    char leader_api[64], text[256], why[320];
    uint64_t leader = ctx->host.leader(ctx->host.node, leader_api, sizeof leader_api);
    uint64_t commit = raft_commit_index(ctx->raft);
    uint64_t applied = ctx->host.applied_index(ctx->host.node);

    if (!ctx->host.running(ctx->host.node)) {
        return text_answer(503, "not ready: shutting down\n", body, len, ct);
    }
    if (leader == 0) {
        return text_answer(503, "not ready: no leader known\n", body, len, ct);
    }
    if (applied < commit) {
        snprintf(text, sizeof text, "not ready: applied %llu of %llu committed\n", (unsigned long long)applied,
                 (unsigned long long)commit);
        return text_answer(503, text, body, len, ct);
    }
    if (!handlers_reads_open(ctx, why, sizeof why)) {
        snprintf(text, sizeof text, "not ready: plain reads held after the start (catching_up), applied %llu\n",
                 (unsigned long long)applied);
        return text_answer(503, text, body, len, ct);
    }
    snprintf(text, sizeof text, "ready: leader %llu, applied %llu\n", (unsigned long long)leader,
             (unsigned long long)applied);
    return text_answer(200, text, body, len, ct);
}

/* A JSON document from PACK's msgpack (or the error it reports). */
static unsigned json_answer(struct http *h, enum http_route route, const char *name, size_t name_len, char **body,
                            size_t *len, const char **ct)
{
    const struct api_ctx *ctx = &h->ctx;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct metrics_buf b;
    const char *code = PROTO_CODE_FAILED;
    char err[512] = "";
    unsigned status = 200;
    int rc = 0;

    if (route != HTTP_ROUTE_STATUS && !handlers_reads_open(ctx, err, sizeof err)) {
        return json_error(503, PROTO_CODE_CATCHING_UP, err, body, len, ct);
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    switch (route) {
    case HTTP_ROUTE_STATUS:
        handlers_pack_status(ctx, &pk);
        break;
    case HTTP_ROUTE_ENGINES:
        rc = handlers_pack_engines(ctx, &pk);
        if (rc != 0) {
            snprintf(err, sizeof err, "engine list: %s", ctx->store->errmsg);
        }
        break;
    case HTTP_ROUTE_PROJECTS:
        rc = store_pack_projects(ctx->store, &pk);
        if (rc != 0) {
            snprintf(err, sizeof err, "project list: %s", ctx->store->errmsg);
        }
        break;
    default: { /* HTTP_ROUTE_PROJECT */
        const char *why = store_check_project_name(name, name_len);
        if (why != NULL && !(name_len == 7 && memcmp(name, "_global", 7) == 0)) {
            snprintf(err, sizeof err, "invalid project name '%.*s': %s", (int)(name_len > 80 ? 80 : name_len), name,
                     why);
            msgpack_sbuffer_destroy(&sb);
            return json_error(400, PROTO_CODE_INVALID, err, body, len, ct);
        }
        rc = handlers_pack_project_show(ctx, name, name_len, &pk, &code, err, sizeof err);
        break;
    }
    }
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sb);
        /* not found: 404; Kylin's recovering / no-leader states: 503; anything else: 500 */
        status = strcmp(code, PROTO_CODE_NOT_FOUND) == 0 ? 404 : strncmp(code, "KE-", 3) == 0 ? 503 : 500;
        return json_error(status, code, err, body, len, ct);
    }
    metrics_buf_init(&b, HTTP_MAX_BODY);
    if (json_from_msgpack(&b, &sb) != 0) {
        metrics_buf_free(&b);
        msgpack_sbuffer_destroy(&sb);
        return json_error(500, PROTO_CODE_FAILED, "cannot decode the packed answer", body, len, ct);
    }
    msgpack_sbuffer_destroy(&sb);
    *ct = CT_JSON;
    *body = metrics_buf_take(&b, len);
    if (*body == NULL) {
        return json_error(500, PROTO_CODE_FAILED, "answer larger than the HTTP limit (16 MiB) or out of memory",
                          body, len, ct);
    }
    return status;
}

unsigned http_answer(struct http *h, enum http_route route, const char *name, size_t name_len, char **body,
                     size_t *len, const char **content_type)
{
    struct metrics_buf b;

    switch (route) {
    case HTTP_ROUTE_HEALTH:
        return text_answer(200, "ok\n", body, len, content_type);
    case HTTP_ROUTE_READY:
        return ready_answer(h, body, len, content_type);
    case HTTP_ROUTE_METRICS:
        metrics_buf_init(&b, HTTP_MAX_BODY);
        http_metrics_render(h, &b);
        *body = metrics_buf_take(&b, len);
        if (*body == NULL) {
            return text_answer(500, "metrics larger than the HTTP limit (16 MiB) or out of memory\n", body, len,
                               content_type);
        }
        *content_type = CT_PROM;
        return 200;
    case HTTP_ROUTE_STATUS:
    case HTTP_ROUTE_ENGINES:
    case HTTP_ROUTE_PROJECTS:
    case HTTP_ROUTE_PROJECT:
        return json_answer(h, route, name, name_len, body, len, content_type);
    case HTTP_ROUTE_BAD_METHOD:
        return text_answer(405, "only GET and HEAD\n", body, len, content_type);
    case HTTP_ROUTE_BAD_REQUEST:
        return text_answer(400, "bad request (a body on a GET, or an empty or overlong project name)\n", body, len,
                           content_type);
    case HTTP_ROUTE_NOT_FOUND:
    default:
        return text_answer(404, "not found: try /metrics, /health, /ready, /v1/status, /v1/engines, /v1/projects, "
                                "/v1/projects/NAME\n",
                           body, len, content_type);
    }
}
