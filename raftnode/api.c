/* api: TCP listener, per-connection framing and replies (see api.h, docs/protocol.md).
 *
 * Read path: libuv reads into the connection's frame reader (common/frame.h, the one the
 * client uses too); every complete frame is decoded (api_frame.c) and dispatched; the
 * remainder is kept. Failure modes:
 * a length over raft.api.max-frame-bytes -> "frame_too_large" reply, then close; a payload
 * that is not a map with "id" and "method" -> "bad_request" reply, then close; a read
 * error or EOF -> close. Only that one connection is affected.
 *
 * Bounds (docs/security.md, "Limits"): at most API_BATCH requests of one connection are handled
 * per loop iteration (the rest wait, unread, for the pump idle handle), so a pipelining client
 * cannot starve raft's and the engine's timers; a connection whose parked requests plus unsent
 * replies exceed raft.api.max-pending-bytes is not read until they fall below half of it
 * (backpressure: the client's own socket fills); the sweep timer closes a connection idle for
 * raft.api.idle-timeout-ms and one whose queued replies saw no write complete for
 * raft.api.slow-client-timeout-ms; past raft.api.max-connections new connections are closed
 * at once. While host.writes_full (PROPOSAL_MAX_PENDING_CMDS commands wait for commit) no
 * connection's buffered requests are decoded: they wait, unread, for api_resume, so a burst of
 * pipelined writes commits (and is applied on every member) in slices, not all at once. So a connection's memory is at most the pending cap plus one batch's replies plus
 * a frame, whatever the client does. */
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
#define API_BATCH 64             /* requests of one connection handled per loop iteration */
#define API_SWEEP_MAX_MS 1000    /* the sweep's period at most */

struct api_write {
    uv_write_t req;
    struct api_conn *conn;
    char *data;
};

static void conn_update_reading(struct api_conn *c);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void pump_cb(uv_idle_t *h);

static void conn_free_if_done(struct api_conn *c)
{
    if (c->refs == 0 && c->closing && c->tcp.data == NULL) {
        frame_reader_free(&c->reader);
        tls_session_free(&c->tls);
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
    if (c->in_ready) {
        QUEUE_REMOVE(&c->ready_link);
        c->in_ready = false;
    }
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
    } else if (status == 0) {
        w->conn->write_progress_ms = uv_now(w->conn->api->ctx.loop);
        conn_update_reading(w->conn);
    }
    api_conn_unref(w->conn);
    free(w->data);
    free(w);
}

/* Writes DATA (LEN bytes) to the socket, trying a synchronous write first; only the remainder
 * is copied. */
static void conn_write_raw(struct api_conn *c, const char *data, size_t len)
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
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        c->write_progress_ms = uv_now(c->api->ctx.loop); /* the slow-client clock starts */
    }
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

/* Sends what OpenSSL has for the socket (handshake records, encrypted replies). */
static void conn_flush_tls(struct api_conn *c)
{
    char *out;
    size_t n;

    if (tls_session_take(&c->tls, &out, &n) != 0) {
        log_error("api: out of memory for TLS output to %s; closing it", c->peer);
        conn_close(c);
        return;
    }
    if (n > 0) {
        conn_write_raw(c, out, n);
        free(out);
    }
}

/* Writes DATA (LEN bytes) to the client, through TLS when the API speaks it. */
static void conn_write(struct api_conn *c, const char *data, size_t len)
{
    char err[256];

    if (c->tls.ssl == NULL || c->closing) {
        conn_write_raw(c, data, len);
        return;
    }
    if (tls_session_write(&c->tls, data, len, err, sizeof err) != 0) {
        log_warn("api: TLS write to %s (%s): %s; closing it", c->peer, c->who, err);
        conn_close(c);
        return;
    }
    conn_flush_tls(c);
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
        struct api_req req = {.ctx = &c->api->ctx, .conn = c, .id = f.id, .method = f.method, .args = f.args,
                              .frame_bytes = PROTO_HEADER_BYTES + len};
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
    if (c->tls.ssl != NULL) { /* ciphertext: decrypted into the reader by read_cb */
        *buf = uv_buf_init(c->api->tls_in, API_READ_CHUNK);
        return;
    }
    if (frame_reader_space(&c->reader, &p, &n) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to read_cb, which closes */
        return;
    }
    *buf = uv_buf_init(p, (unsigned)n);
}

/* Parked requests plus replies not yet written: what raft.api.max-pending-bytes bounds. */
static size_t conn_pending(struct api_conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + c->parked_bytes;
}

static void conn_set_reading(struct api_conn *c, bool on)
{
    if (on == c->reading) {
        return;
    }
    if (on) {
        int rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rv != 0) {
            log_warn("api: cannot read from %s: %s; closing it", c->peer, uv_strerror(rv));
            conn_close(c);
            return;
        }
    } else {
        (void)uv_read_stop((uv_stream_t *)&c->tcp); /* always 0 on a TCP handle */
    }
    c->reading = on;
}

/* Decides whether C is read (the state diagram):
 *   reading --pending > max--> throttled --pending <= max/2--> reading
 *   reading --a complete frame buffered--> in api->ready (not read) --pumped--> reading
 * A throttled connection is neither read nor pumped: its buffered frames wait. */
static void conn_update_reading(struct api_conn *c)
{
    struct api *a = c->api;
    size_t pending;

    if (c->closing) {
        return;
    }
    pending = conn_pending(c);
    if (c->throttled && pending <= a->limits.max_pending / 2) {
        c->throttled = false;
        log_debug("api: %s drained to %zu pending bytes: reading it again", c->peer, pending);
    }
    if (!c->throttled && pending > a->limits.max_pending) {
        c->throttled = true;
        log_debug("api: %s has %zu bytes of unanswered requests and unsent replies, over "
                  "raft.api.max-pending-bytes=%zu: not reading it until it drains",
                  c->peer, pending, a->limits.max_pending);
    }
    if (!c->throttled && frame_reader_ready(&c->reader)) {
        if (!c->in_ready) {
            QUEUE_PUSH(&a->ready, &c->ready_link);
            c->in_ready = true;
            if (uv_idle_start(&a->pump, pump_cb) != 0) {
                log_error("api: cannot start the request pump"); /* only on a closing handle */
            }
        }
        conn_set_reading(c, false);
        return;
    }
    if (c->in_ready) {
        QUEUE_REMOVE(&c->ready_link);
        c->in_ready = false;
    }
    conn_set_reading(c, !c->throttled);
}

void api_conn_park(struct api_conn *c, size_t bytes)
{
    c->parked_bytes += bytes;
}

void api_conn_unpark(struct api_conn *c, size_t bytes)
{
    c->parked_bytes -= bytes < c->parked_bytes ? bytes : c->parked_bytes;
    conn_update_reading(c);
}

static bool writes_full(const struct api *a)
{
    return a->ctx.host.writes_full != NULL && a->ctx.host.writes_full(a->ctx.host.node);
}

/* Handles at most API_BATCH buffered requests of C, then lets the loop run. */
static void conn_pump(struct api_conn *c)
{
    const char *payload;
    size_t len;
    char err[128];
    unsigned handled = 0;

    api_conn_ref(c); /* handlers may close the connection */
    while (!c->closing && handled < API_BATCH && conn_pending(c) <= c->api->limits.max_pending &&
           !writes_full(c->api)) {
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
        handled++;
        c->last_request_ms = uv_now(c->api->ctx.loop);
        if (handle_frame(c, payload, len) != 0) {
            conn_close(c);
            break;
        }
    }
    conn_update_reading(c);
    api_conn_unref(c);
}

static void pump_cb(uv_idle_t *h)
{
    struct api *a = h->data;
    queue batch;
    unsigned n = 0;

    /* One batch per ready connection; those still holding frames re-queue themselves at the
     * tail, for the next iteration (after raft's I/O and timers). */
    if (writes_full(a)) {
        (void)uv_idle_stop(h); /* the ready connections wait for api_resume */
        return;
    }
    QUEUE_INIT(&batch);
    while (!QUEUE_IS_EMPTY(&a->ready)) {
        queue *q = QUEUE_HEAD(&a->ready);
        QUEUE_REMOVE(q);
        QUEUE_PUSH(&batch, q);
    }
    while (!QUEUE_IS_EMPTY(&batch)) {
        queue *q = QUEUE_HEAD(&batch);
        struct api_conn *c = QUEUE_DATA(q, struct api_conn, ready_link);
        QUEUE_REMOVE(q);
        QUEUE_INIT(q);
        c->in_ready = false;
        conn_pump(c);
        n++;
    }
    (void)n;
    if (QUEUE_IS_EMPTY(&a->ready)) {
        (void)uv_idle_stop(h); /* always 0 */
    }
}

/* The connection's role from its verified certificate CN (c->who): listed in raft.api.admins,
 * member-<id>, or a reader. */
static void conn_set_role(struct api_conn *c)
{
    const char *admins = c->api->ctx.cfg->api_admins;
    size_t cn_len = strlen(c->who);
    char *end;
    unsigned long long id;

    for (const char *p = admins; *p != '\0';) {
        size_t n = strcspn(p, ","), len = n;
        const char *name = p;
        while (len > 0 && (*name == ' ' || *name == '\t')) { /* "a, b" lists */
            name++;
            len--;
        }
        while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t')) {
            len--;
        }
        if (len == cn_len && memcmp(name, c->who, len) == 0) {
            c->role = API_ROLE_ADMIN;
            return;
        }
        p += n + (p[n] == ',');
    }
    c->role = API_ROLE_READER;
    if (strncmp(c->who, "member-", 7) == 0 && c->who[7] >= '1' && c->who[7] <= '9') {
        id = strtoull(c->who + 7, &end, 10);
        if (*end == '\0' && id <= INT64_MAX) {
            c->role = API_ROLE_MEMBER;
            c->member_id = id;
        }
    }
}

/* TLS: feeds NREAD bytes of ciphertext, completes the handshake (then the client's CN decides
 * its role) and decrypts what it can into the frame reader. -1 when the connection closed. */
static int conn_tls_read(struct api_conn *c, const char *data, size_t nread)
{
    char err[256], *p;
    size_t space;
    ssize_t n;
    int hs;

    if (tls_session_feed(&c->tls, data, nread) != 0) {
        log_error("api: out of memory buffering TLS input from %s; closing it", c->peer);
        conn_close(c);
        return -1;
    }
    if (!c->tls.established) {
        hs = tls_session_handshake(&c->tls, err, sizeof err);
        conn_flush_tls(c);
        if (hs < 0 || (hs == 1 && tls_peer_cn(c->tls.ssl, c->who, sizeof c->who) != 0)) {
            log_warn("api: TLS handshake with %s failed: %s (a client needs a certificate signed by "
                     "raft.api.trusted-ca-file: raftctl --cacert, --cert, --key): closing it",
                     c->peer, hs < 0 ? err : c->who);
            conn_close(c);
            return -1;
        }
        if (hs == 0 || c->closing) {
            return c->closing ? -1 : 0;
        }
        for (char *q = c->who; *q != '\0'; q++) { /* printable ASCII in logs and the audit */
            *q = *q < 0x20 || *q >= 0x7f ? '?' : *q;
        }
        conn_set_role(c);
        log_debug("api: %s authenticated as %s (%s)", c->peer, c->who,
                  c->role == API_ROLE_ADMIN ? "admin" : c->role == API_ROLE_MEMBER ? "member" : "read-only");
    }
    for (;;) {
        if (frame_reader_space(&c->reader, &p, &space) != 0) {
            log_error("api: out of memory reading from %s; closing it", c->peer);
            conn_close(c);
            return -1;
        }
        n = tls_session_read(&c->tls, p, space, err, sizeof err);
        if (n == 0) {
            conn_flush_tls(c); /* key updates and the like */
            return c->closing ? -1 : 0;
        }
        if (n < 0) {
            if (err[0] != '\0') {
                log_warn("api: TLS read from %s (%s): %s; closing it", c->peer, c->who, err);
            }
            conn_close(c);
            return -1;
        }
        frame_reader_commit(&c->reader, (size_t)n);
    }
}

void api_resume(struct api *a)
{
    if (a->listening && !QUEUE_IS_EMPTY(&a->ready) && uv_idle_start(&a->pump, pump_cb) != 0) {
        log_error("api: cannot restart the request pump"); /* only on a closing handle */
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct api_conn *c = s->data;

    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("api: read from %s: %s", c->peer, uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    if (c->tls.ssl != NULL) {
        if (conn_tls_read(c, buf->base, (size_t)nread) != 0) {
            return;
        }
    } else {
        frame_reader_commit(&c->reader, (size_t)nread);
    }
    conn_pump(c);
}

/* Closes connections idle for idle_timeout_ms and those whose queued replies saw no write
 * complete for slow_timeout_ms. */
static void sweep_cb(uv_timer_t *t)
{
    struct api *a = t->data;
    uint64_t now = uv_now(a->ctx.loop);
    queue *q = QUEUE_HEAD(&a->conns);

    if (a->refused > 0 && now - a->refused_log_ms >= 1000) { /* the rest of a burst over the cap */
        log_warn("api: %u more connection(s) closed at once: raft.api.max-connections=%u are open",
                 a->refused, a->limits.max_connections);
        a->refused = 0;
        a->refused_log_ms = now;
    }

    while (q != (queue *)&a->conns) {
        struct api_conn *c = QUEUE_DATA(q, struct api_conn, queue);
        size_t unsent = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
        q = QUEUE_NEXT(q); /* conn_close unlinks c */
        if (unsent > 0 && now - c->write_progress_ms >= a->limits.slow_timeout_ms) {
            log_warn("api: %s has not read its replies for %llu ms (%zu bytes unsent, "
                     "raft.api.slow-client-timeout-ms=%u): closing it",
                     c->peer, (unsigned long long)(now - c->write_progress_ms), unsent,
                     a->limits.slow_timeout_ms);
            conn_close(c);
        } else if (unsent == 0 && c->parked_bytes == 0 &&
                   now - c->last_request_ms >= a->limits.idle_timeout_ms) {
            log_info("api: %s sent no complete request for %llu ms (raft.api.idle-timeout-ms=%u): "
                     "closing it", c->peer, (unsigned long long)(now - c->last_request_ms),
                     a->limits.idle_timeout_ms);
            conn_close(c);
        }
    }
}

/* A connection past raft.api.max-connections: closed at once; one WARN a second at most. */
static void conn_refuse(struct api *a, struct api_conn *c)
{
    uint64_t now = uv_now(a->ctx.loop);

    a->refused++;
    if (a->refused_log_ms == 0 || now - a->refused_log_ms >= 1000) {
        log_warn("api: %u connection(s) closed at once (latest from %s): raft.api.max-connections=%u "
                 "are open", a->refused, c->peer, a->limits.max_connections);
        a->refused = 0;
        a->refused_log_ms = now;
    }
    conn_close(c);
}

static void accept_cb(uv_stream_t *server, int status)
{
    struct api *a = server->data;
    struct api_conn *c;
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    bool over_cap;

    if (status != 0) {
        log_warn("api: accept failed: %s", uv_strerror(status));
        return;
    }
    over_cap = a->n_conns >= a->limits.max_connections;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_error("api: out of memory accepting a connection");
        return;
    }
    c->api = a;
    if (frame_reader_init(&c->reader, over_cap ? 16 : API_READ_CHUNK, a->max_frame) != 0) {
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
    QUEUE_INIT(&c->ready_link);
    a->n_conns++;
    c->last_request_ms = c->write_progress_ms = uv_now(a->ctx.loop);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET) {
        char ip[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        if (uv_ip4_name(sin, ip, sizeof ip) == 0) {
            snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(sin->sin_port));
        }
    }
    if (over_cap) {
        conn_refuse(a, c);
        return;
    }
    c->role = API_ROLE_ADMIN; /* without TLS: whoever reaches the port (docs/security.md) */
    snprintf(c->who, sizeof c->who, "peer %s", c->peer);
    if (a->tls != NULL) {
        c->role = API_ROLE_READER; /* until the handshake names it */
        snprintf(c->who, sizeof c->who, "?");
        if (tls_session_init(&c->tls, a->tls, true) != 0) {
            log_error("api: out of memory for TLS with %s; closing it", c->peer);
            conn_close(c);
            return;
        }
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* latency only: a failure changes nothing else */
    conn_set_reading(c, true);
}

int api_start(struct api *a, const struct api_ctx *ctx, const char *address, const struct api_limits *limits)
{
    char host[CONFIG_ADDR_MAX];
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sin;
    unsigned sweep_ms;
    int rv;

    memset(a, 0, sizeof *a);
    a->ctx = *ctx;
    a->limits = *limits;
    a->max_frame = limits->max_frame;
    QUEUE_INIT(&a->conns);
    QUEUE_INIT(&a->ready);
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
    /* From here api_close closes all three handles. */
    if (uv_timer_init(ctx->loop, &a->sweep) != 0 || uv_idle_init(ctx->loop, &a->pump) != 0) {
        abort(); /* both only fill in a struct on a live loop */
    }
    a->sweep.data = a;
    a->pump.data = a;
    if (ctx->cfg->api_cert_file[0] != '\0') {
        const struct tls_files f = {ctx->cfg->api_cert_file, ctx->cfg->api_key_file, ctx->cfg->api_ca_file,
                                    "raft.api.cert-file", "raft.api.key-file", "raft.api.trusted-ca-file"};
        char err[512];
        a->tls = tls_ctx_new(&f, true, err, sizeof err);
        a->tls_in = malloc(API_READ_CHUNK);
        if (a->tls == NULL || a->tls_in == NULL) {
            log_error("api: cannot set up TLS: %s", a->tls == NULL ? err : "out of memory");
            return -1;
        }
    }
    rv = uv_tcp_bind(&a->listener, (const struct sockaddr *)&sin, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&a->listener, 511, accept_cb);
    }
    if (rv == UV_EADDRINUSE) {
        log_error("api: cannot listen on raft.api.address %s: address already in use (another "
                  "process, or this member's raft.node.address, holds that port)", address);
        return -1;
    }
    if (rv != 0) {
        log_error("api: cannot listen on raft.api.address %s: %s", address, uv_strerror(rv));
        return -1;
    }
    sweep_ms = limits->idle_timeout_ms < limits->slow_timeout_ms ? limits->idle_timeout_ms
                                                                 : limits->slow_timeout_ms;
    sweep_ms /= 4;
    if (sweep_ms > API_SWEEP_MAX_MS) {
        sweep_ms = API_SWEEP_MAX_MS;
    }
    if (sweep_ms == 0) {
        sweep_ms = 1;
    }
    rv = uv_timer_start(&a->sweep, sweep_cb, sweep_ms, sweep_ms);
    if (rv != 0) {
        log_error("api: cannot start the connection sweep: %s", uv_strerror(rv));
        return -1;
    }
    log_info("api listening on %s (at most %u connections, %zu pending bytes each)", address,
             limits->max_connections, limits->max_pending);
    if (a->tls != NULL) {
        log_info("api: TLS with client certificates signed by %s; admins (may write): %s; other "
                 "certificates may only read", ctx->cfg->api_ca_file,
                 ctx->cfg->api_admins[0] != '\0' ? ctx->cfg->api_admins : "none");
    } else {
        log_info("api: plaintext, no client authentication: whoever reaches %s may change anything "
                 "(set raft.api.cert-file, key-file, trusted-ca-file; docs/security.md)", address);
    }
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

void api_close(struct api *a)
{
    if (!a->listening) {
        return;
    }
    a->listening = false;
    uv_close((uv_handle_t *)&a->listener, handle_closed);
    uv_close((uv_handle_t *)&a->sweep, handle_closed);
    uv_close((uv_handle_t *)&a->pump, handle_closed);
    while (!QUEUE_IS_EMPTY(&a->conns)) {
        queue *q = QUEUE_HEAD(&a->conns);
        conn_close(QUEUE_DATA(q, struct api_conn, queue));
    }
    tls_ctx_free(a->tls); /* sessions keep their own reference */
    a->tls = NULL;
    free(a->tls_in);
    a->tls_in = NULL;
}
