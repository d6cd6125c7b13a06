/* api: TCP listener, per-connection framing and replies (see api.h, docs/protocol.md).
 *
 * Read path: libuv reads into the connection's frame reader (common/frame.h, the one the
 * client uses too); every complete frame is decoded (api_frame.c) and dispatched; the
 * remainder is kept. Failure modes:
 * a length over raft.api.max-frame-bytes -> "frame_too_large" reply, then close; a payload
 * that is not a map with "id" and "method" -> "bad_request" reply, then close; a read
 * error or EOF -> close. Only that one connection is affected. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/mp.h"
#include "../common/proto.h"
#include "../common/queue.h"
#include "api_frame.h"
#include "common/log.h"
#include "config.h"
#include "handlers.h"
#include "membership.h"
#include "metrics.h"

#define API_READ_CHUNK 65536

struct api_write {
    uv_write_t req;
    struct api_conn *conn;
    char *data;
};

static void conn_free_if_done(struct api_conn *c)
{
    if (c->refs == 0 && c->closing && c->tcp.data == NULL) {
        frame_reader_free(&c->reader);
        free(c);
    }
}

void api_conn_ref(struct api_conn *c)
{
    c->refs++;
}

void api_conn_unref(struct api_conn *c)
{
    c->refs--;
    conn_free_if_done(c);
}

static void conn_closed_cb(uv_handle_t *h)
{
    struct api_conn *c = h->data;
    c->tcp.data = NULL; /* marks the handle as fully closed */
    api_conn_unref(c);
}

static void conn_close(struct api_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    QUEUE_REMOVE(&c->queue);
    c->api->n_conns--;
    c->refs++; /* released by conn_closed_cb */
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void write_cb(uv_write_t *req, int status)
{
    struct api_write *w = req->data;
    if (status != 0 && status != UV_ECANCELED) {
        log_debug("api: write to %s failed: %s", w->conn->peer, uv_strerror(status));
        conn_close(w->conn);
    }
    api_conn_unref(w->conn);
    free(w->data);
    free(w);
}

/* Writes DATA (LEN bytes), trying a synchronous write first; only the remainder is copied. */
static void conn_write(struct api_conn *c, const char *data, size_t len)
{
    uv_buf_t b;
    int n;
    struct api_write *w;

    if (c->closing) {
        return;
    }
    b = uv_buf_init((char *)data, (unsigned)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len) {
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    if (n < 0) {
        n = 0;
    }
    w = malloc(sizeof *w);
    if (w == NULL || (w->data = malloc(len - (size_t)n)) == NULL) {
        free(w);
        log_error("api: out of memory queueing a %zu-byte reply to %s; closing it", len, c->peer);
        conn_close(c);
        return;
    }
    memcpy(w->data, data + n, len - (size_t)n);
    w->conn = c;
    w->req.data = w;
    b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    api_conn_ref(c);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
        api_conn_unref(c);
        free(w->data);
        free(w);
        conn_close(c);
    }
}

void api_reply_begin(struct api_reply *r, const struct api_ctx *ctx, uint64_t id, int status, const char *code,
                     const char *error)
{
    char leader_api[CONFIG_ADDR_MAX];
    uint64_t leader = ctx->host.leader(ctx->host.node, leader_api, sizeof leader_api);
    static const char zero[PROTO_HEADER_BYTES];

    metrics_api_reply_code(code);
    msgpack_sbuffer_init(&r->sbuf);
    msgpack_packer_init(&r->pk, &r->sbuf, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&r->sbuf, zero, sizeof zero); /* length, filled in by send */
    msgpack_pack_map(&r->pk, 8);
    mp_pack_kv_u64(&r->pk, "id", id);
    mp_pack_kv_i64(&r->pk, "status", status);
    mp_pack_kv_str(&r->pk, "code", code);
    mp_pack_kv_u64(&r->pk, "node_id", ctx->cfg->node_id);
    mp_pack_kv_u64(&r->pk, "applied_index", ctx->host.applied_index(ctx->host.node));
    mp_pack_kv_u64(&r->pk, "leader_id", leader);
    mp_pack_kv_str(&r->pk, "leader_api", leader_api);
    if (status == 0) {
        mp_pack_cstr(&r->pk, "result");
    } else {
        mp_pack_kv_str(&r->pk, "error", error != NULL ? error : "");
    }
}

void api_reply_send(struct api_conn *c, struct api_reply *r)
{
    if (r->sbuf.data != NULL && r->sbuf.size >= PROTO_HEADER_BYTES) {
        proto_put_len((unsigned char *)r->sbuf.data, (uint32_t)(r->sbuf.size - PROTO_HEADER_BYTES));
        conn_write(c, r->sbuf.data, r->sbuf.size);
    } else {
        log_error("api: out of memory building a reply to %s; closing it", c->peer);
        conn_close(c);
    }
    msgpack_sbuffer_destroy(&r->sbuf);
}

void api_reply_error(struct api_conn *c, uint64_t id, int status, const char *code, const char *fmt, ...)
{
    struct api_reply r;
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply_begin(&r, &c->api->ctx, id, status, code, msg);
    api_reply_send(c, &r);
}

void api_reply_redirect(struct api_conn *c, uint64_t id)
{
    const struct api_ctx *ctx = &c->api->ctx;
    const struct config *cfg = ctx->cfg;
    char leader_api[CONFIG_ADDR_MAX];
    uint64_t leader = ctx->host.leader(ctx->host.node, leader_api, sizeof leader_api);
    bool member = membership_find(ctx->raft, cfg->node_id) != NULL;

    if (!member) {
        api_reply_error(c, id, PROTO_UNAVAILABLE, PROTO_CODE_NOT_JOINED,
                        "member %llu has not joined the cluster yet (raft.join=%s); wait, or check "
                        "that the leader could add it", (unsigned long long)cfg->node_id, cfg->join);
    } else if (leader == 0) {
        api_reply_error(c, id, PROTO_UNAVAILABLE, PROTO_CODE_NO_LEADER,
                        "no leader elected: member %llu (%s) cannot reach a quorum of voters",
                        (unsigned long long)cfg->node_id, ctx->host.state_name(ctx->host.node));
    } else if (leader_api[0] == '\0') {
        api_reply_error(c, id, PROTO_UNAVAILABLE, PROTO_CODE_NO_LEADER,
                        "leader is member %llu but its API address is not registered yet; retry shortly",
                        (unsigned long long)leader);
    } else {
        api_reply_error(c, id, PROTO_UNAVAILABLE, PROTO_CODE_NOT_LEADER,
                        "member %llu is not the leader; the leader is %llu at %s",
                        (unsigned long long)cfg->node_id, (unsigned long long)leader, leader_api);
    }
}

/* Decodes and dispatches one frame payload. Returns -1 when the connection must close. */
static int handle_frame(struct api_conn *c, const char *data, size_t len)
{
    struct api_frame f;
    int rc = 0;

    switch (api_frame_decode(&f, data, len)) {
    case API_FRAME_MALFORMED:
        log_warn("api: malformed request from %s (%zu bytes): closing that connection", c->peer, len);
        api_reply_error(c, f.id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "malformed request: expected one msgpack map with \"id\" (uint) and \"method\" (str)");
        rc = -1;
        break;
    case API_FRAME_BAD_METHOD:
        api_reply_error(c, f.id, PROTO_BAD_REQUEST, PROTO_CODE_UNKNOWN_METHOD, "unknown method (name too long)");
        break;
    case API_FRAME_BAD_ARGS:
        api_reply_error(c, f.id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"args\" of %s must be a map",
                        f.method);
        break;
    case API_FRAME_OK: {
        struct api_req req = {.ctx = &c->api->ctx, .conn = c, .id = f.id, .method = f.method, .args = f.args};
        handlers_dispatch(&req);
        break;
    }
    }
    api_frame_free(&f);
    return rc;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct api_conn *c = h->data;
    char *p;
    size_t n;

    (void)suggested; /* the reader sizes its own buffer */
    if (frame_reader_space(&c->reader, &p, &n) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to read_cb, which closes */
        return;
    }
    *buf = uv_buf_init(p, (unsigned)n);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct api_conn *c = s->data;
    const char *payload;
    size_t len;
    char err[128];
    (void)buf;

    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("api: read from %s: %s", c->peer, uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    frame_reader_commit(&c->reader, (size_t)nread);
    api_conn_ref(c); /* handlers may close the connection */
    while (!c->closing) {
        int rc = frame_reader_next(&c->reader, &payload, &len, err, sizeof err);
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            uint32_t flen = c->reader.too_large;
            log_warn("api: %s sent a %u-byte frame, over raft.api.max-frame-bytes=%u: closing that connection",
                     c->peer, flen, c->api->max_frame);
            api_reply_error(c, 0, PROTO_BAD_REQUEST, PROTO_CODE_FRAME_TOO_LARGE,
                            "frame of %u bytes exceeds the limit of %u bytes (raft.api.max-frame-bytes)",
                            flen, c->api->max_frame);
            conn_close(c);
            break;
        }
        if (handle_frame(c, payload, len) != 0) {
            conn_close(c);
            break;
        }
    }
    api_conn_unref(c);
}

static void accept_cb(uv_stream_t *server, int status)
{
    struct api *a = server->data;
    struct api_conn *c;
    struct sockaddr_storage ss;
    int sslen = sizeof ss;

    if (status != 0) {
        log_warn("api: accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_error("api: out of memory accepting a connection");
        return;
    }
    c->api = a;
    if (frame_reader_init(&c->reader, API_READ_CHUNK, a->max_frame) != 0) {
        log_error("api: out of memory accepting a connection");
        free(c);
        return;
    }
    if (uv_tcp_init(a->ctx.loop, &c->tcp) != 0) {
        frame_reader_free(&c->reader);
        free(c);
        return;
    }
    c->tcp.data = c;
    QUEUE_PUSH(&a->conns, &c->queue);
    a->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET) {
        char ip[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        uv_ip4_name(sin, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(sin->sin_port));
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
        conn_close(c);
    }
}

int api_start(struct api *a, const struct api_ctx *ctx, const char *address, unsigned max_frame)
{
    char host[CONFIG_ADDR_MAX];
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sin;
    int rv;

    memset(a, 0, sizeof *a);
    a->ctx = *ctx;
    a->max_frame = max_frame;
    QUEUE_INIT(&a->conns);
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        log_error("api: bad raft.api.address '%s'", address);
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    rv = uv_ip4_addr(host, atoi(colon + 1), &sin);
    if (rv == 0) {
        rv = uv_tcp_init(ctx->loop, &a->listener);
    }
    if (rv != 0) {
        log_error("api: cannot use raft.api.address %s: %s", address, uv_strerror(rv));
        return -1;
    }
    a->listener.data = a;
    a->listening = true;
    rv = uv_tcp_bind(&a->listener, (const struct sockaddr *)&sin, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a->listener, 511, accept_cb);
    }
    if (rv != 0) {
        log_error("api: cannot listen on %s: %s; is another process using that port?", address, uv_strerror(rv));
        return -1;
    }
    log_info("api listening on %s", address);
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    (void)h;
}

void api_close(struct api *a)
{
    if (!a->listening) {
        return;
    }
    a->listening = false;
    uv_close((uv_handle_t *)&a->listener, listener_closed);
    while (!QUEUE_IS_EMPTY(&a->conns)) {
        queue *q = QUEUE_HEAD(&a->conns);
        conn_close(QUEUE_DATA(q, struct api_conn, queue));
    }
}
