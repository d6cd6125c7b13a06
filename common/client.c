/* client: framing, reply decoding, pipelined libuv connections and synchronous helpers for
 * the raftnode API (see client.h for the contract, docs/protocol.md for the wire format).
 *
 * Owns: the conn's socket, its buffers and its table of pending calls. Calls: libuv,
 * msgpack-c, common/mp.h. Allocation per request on the hot path: none in steady state
 * (buffers and the slot table only grow), except the two small mallocs msgpack_unpack_next
 * makes for each decoded reply's zone. */
#include "client.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "proto.h"

#define CLIENT_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

#define CLIENT_READ_INITIAL (64u * 1024) /* receive buffer at connect */
#define CLIENT_SLOTS_INITIAL 16u
#define CLIENT_SLOTS_MAX (1u << 30)
#define CLIENT_DETAIL_MAX 256 /* a lower layer's message, before the endpoint is prefixed */
#define CLIENT_TLS_READ (64u * 1024)

static struct ssl_ctx_st *client_tls_default; /* client_set_tls */

bool client_tls_enabled(void)
{
    return client_tls_default != NULL;
}

void client_set_tls(struct ssl_ctx_st *ctx)
{
    if (ctx != NULL) {
        SSL_CTX_up_ref(ctx);
    }
    SSL_CTX_free(client_tls_default);
    client_tls_default = ctx;
}

/* A pending call. Its id is (seq << 32) | index in the slot table: the index finds the slot
 * in O(1), the sequence number (never 0) makes ids unique, so a stale or foreign id never
 * matches a reused slot. id 0 marks a free slot. */
struct client_slot {
    uint64_t id;
    client_reply_fn cb;
    void *data;
    uint32_t next_free;
};

/* ---------------------------------------------------------------------------------------- */
/* Replies                                                                                   */

/* Copies SRC (LEN bytes, not NUL-terminated) into DST of size CAP; marks truncation "...". */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    if (len < cap) {
        memcpy(dst, src, len);
        dst[len] = '\0';
        return;
    }
    memcpy(dst, src, cap - 4);
    memcpy(dst + cap - 4, "...", 4);
}

void client_reply_set_local(struct client_reply *out, int status, const char *code, int sys_error,
                            bool connected, const char *fmt, ...)
{
    va_list ap;

    out->id = 0;
    out->status = status;
    copy_text(out->code, sizeof out->code, code, strlen(code));
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    out->result = NULL;
    out->node_id = 0;
    out->applied_index = 0;
    out->leader_id = 0;
    out->leader_api[0] = '\0';
    out->local = true;
    out->connected = connected;
    out->sys_error = sys_error;
    out->payload = NULL;
    out->payload_len = 0;
}

static const char *object_type_name(msgpack_object_type t)
{
    switch (t) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "binary";
    case MSGPACK_OBJECT_EXT: return "extension";
    }
    return "unknown type";
}

/* Optional unsigned field: absent or nil leaves *OUT 0. 0, or -1 with ERR set. */
static int opt_u64(const msgpack_object *root, const char *key, uint64_t *out, char *err, size_t errcap)
{
    const msgpack_object *v = mp_get(root, key);
    *out = 0;
    if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(err, errcap, "reply field \"%s\" is a %s, expected an unsigned integer", key,
                 object_type_name(v->type));
        return -1;
    }
    *out = v->via.u64;
    return 0;
}

/* Optional string field copied into BUF (CAP bytes); absent or nil gives "". When EXACT, a
 * value that does not fit is an error instead of being truncated. */
static int opt_str(const msgpack_object *root, const char *key, char *buf, size_t cap, bool exact,
                   char *err, size_t errcap)
{
    const msgpack_object *v = mp_get(root, key);
    buf[0] = '\0';
    if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        snprintf(err, errcap, "reply field \"%s\" is a %s, expected a string", key, object_type_name(v->type));
        return -1;
    }
    if (exact && v->via.str.size >= cap) {
        snprintf(err, errcap, "reply field \"%s\" is %u bytes long, the limit is %zu", key,
                 (unsigned)v->via.str.size, cap - 1);
        return -1;
    }
    copy_text(buf, cap, v->via.str.ptr, v->via.str.size);
    return 0;
}

int client_reply_parse(const char *payload, size_t len, msgpack_unpacked *unpacked,
                       struct client_reply *out, char *err, size_t errcap)
{
    size_t off = 0;
    const msgpack_object *root;
    int64_t status;
    int rc;

    switch (frame_unpack(payload, len, unpacked, &off)) {
    case FRAME_UNPACK_OK:
    case FRAME_UNPACK_NOT_MAP:
        break;
    case FRAME_UNPACK_INVALID:
        snprintf(err, errcap, "reply of %zu bytes is not valid msgpack (truncated, or declares more "
                 "elements than it holds)", len);
        return -1;
    case FRAME_UNPACK_TRAILING:
        snprintf(err, errcap, "reply has %zu bytes after its msgpack map", len - off);
        return -1;
    case FRAME_UNPACK_TRUNCATED:
        snprintf(err, errcap, "reply of %zu bytes is truncated msgpack", len);
        return -1;
    case FRAME_UNPACK_NOMEM:
        snprintf(err, errcap, "out of memory decoding a reply of %zu bytes", len);
        return -1;
    case FRAME_UNPACK_PARSE:
        snprintf(err, errcap, "reply of %zu bytes is not valid msgpack", len);
        return -1;
    }
    root = &unpacked->data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errcap, "reply is a msgpack %s, expected a map", object_type_name(root->type));
        return -1;
    }
    rc = mp_get_u64(root, "id", &out->id);
    if (rc != 0) {
        snprintf(err, errcap, rc == -1 ? "reply has no \"id\"" : "reply \"id\" is not an unsigned integer");
        return -1;
    }
    rc = mp_get_i64(root, "status", &status);
    if (rc != 0) {
        snprintf(err, errcap, rc == -1 ? "reply has no \"status\"" : "reply \"status\" is not an integer");
        return -1;
    }
    if (status < PROTO_OK || status > PROTO_UNAVAILABLE) {
        snprintf(err, errcap, "reply \"status\" is %lld, expected 0..3", (long long)status);
        return -1;
    }
    out->status = (int)status;
    if (opt_str(root, "code", out->code, sizeof out->code, false, err, errcap) != 0 ||
        opt_str(root, "error", out->error, sizeof out->error, false, err, errcap) != 0 ||
        opt_str(root, "leader_api", out->leader_api, sizeof out->leader_api, true, err, errcap) != 0 ||
        opt_u64(root, "node_id", &out->node_id, err, errcap) != 0 ||
        opt_u64(root, "applied_index", &out->applied_index, err, errcap) != 0 ||
        opt_u64(root, "leader_id", &out->leader_id, err, errcap) != 0) {
        return -1;
    }
    if (out->code[0] == '\0' && out->status == PROTO_OK) {
        copy_text(out->code, sizeof out->code, PROTO_CODE_OK, strlen(PROTO_CODE_OK));
    }
    out->result = out->status == PROTO_OK ? mp_get(root, "result") : NULL;
    out->local = false;
    out->connected = true;
    out->sys_error = 0;
    out->payload = payload;
    out->payload_len = len;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Framing                                                                                   */

int client_request_pack(msgpack_sbuffer *sb, uint64_t id, const char *method, client_pack_fn pack,
                        void *arg, size_t max_frame, char *err, size_t errcap)
{
    static const char no_length[PROTO_HEADER_BYTES];
    size_t start = sb->size;
    size_t payload;
    msgpack_packer pk;

    if (msgpack_sbuffer_write(sb, no_length, sizeof no_length) != 0) {
        goto nomem;
    }
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 3) != 0 || mp_pack_kv_u64(&pk, "id", id) != 0 ||
        mp_pack_kv_str(&pk, "method", method) != 0 || mp_pack_cstr(&pk, "args") != 0) {
        goto nomem;
    }
    if (pack != NULL ? pack(&pk, arg) != 0 : msgpack_pack_map(&pk, 0) != 0) {
        sb->size = start;
        snprintf(err, errcap, "cannot pack the arguments of %s (out of memory)", method);
        return -1;
    }
    payload = sb->size - start - PROTO_HEADER_BYTES;
    if (payload > max_frame || payload > UINT32_MAX) {
        sb->size = start;
        snprintf(err, errcap, "request %s is %zu bytes, over the %zu-byte frame limit", method, payload,
                 max_frame);
        return -1;
    }
    proto_put_len((unsigned char *)sb->data + start, (uint32_t)payload);
    return 0;

nomem:
    sb->size = start;
    snprintf(err, errcap, "out of memory packing request %s", method);
    return -1;
}

int client_endpoint_parse(const char *endpoint, struct sockaddr_in *out, char *err, size_t errcap)
{
    const char *colon = strrchr(endpoint, ':');
    char host[16];
    char *end;
    unsigned long port;
    size_t hlen;

    if (colon == NULL || strlen(endpoint) >= CLIENT_ENDPOINT_MAX) {
        goto bad;
    }
    hlen = (size_t)(colon - endpoint);
    if (hlen == 0 || hlen >= sizeof host || colon[1] < '0' || colon[1] > '9') {
        goto bad;
    }
    memcpy(host, endpoint, hlen);
    host[hlen] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
        goto bad;
    }
    if (uv_ip4_addr(host, (int)port, out) != 0) {
        goto bad;
    }
    return 0;

bad:
    snprintf(err, errcap, "'%s' is not an IPv4:port address (e.g. 127.0.0.1:7201)", endpoint);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                               */

/* Fails every pending call with one local error. Callbacks may close the conn (the loop
 * then finishes with the same error) but cannot add calls: the conn is FAILED or CLOSING. */
static void conn_fail_pending(struct client_conn *c, int status, const char *code, int sys_error,
                              bool connected, const char *msg)
{
    struct client_reply r;

    if (c->n_pending == 0) {
        return;
    }
    client_reply_set_local(&r, status, code, sys_error, connected, "%s", msg);
    c->failing = true;
    for (uint32_t i = 0; i < c->n_slots && c->n_pending > 0; i++) {
        struct client_slot *s = &c->slots[i];
        client_reply_fn cb = s->cb;
        void *data = s->data;
        if (s->id == 0) {
            continue;
        }
        r.id = s->id;
        s->id = 0;
        s->next_free = c->free_slot;
        c->free_slot = i;
        c->n_pending--;
        cb(c, &r, data);
    }
    c->failing = false;
}

/* Moves the conn to FAILED: stops I/O, drops unsent frames, fails pending calls. */
static void conn_fail(struct client_conn *c, int status, const char *code, int sys_error, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void conn_fail(struct client_conn *c, int status, const char *code, int sys_error, const char *fmt, ...)
{
    bool connected = c->state == CLIENT_CONN_CONNECTED;
    va_list ap;

    if (c->state != CLIENT_CONN_CONNECTING && c->state != CLIENT_CONN_CONNECTED) {
        return;
    }
    c->state = CLIENT_CONN_FAILED;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    if (connected) {
        /* uv_read_stop always returns 0 (libuv 1.x); the result carries no information. */
        (void)uv_read_stop((uv_stream_t *)&c->tcp);
    }
    (void)uv_prepare_stop(&c->flush); /* always 0, like every uv_*_stop */
    c->out_queued.size = 0;
    conn_fail_pending(c, status, code, sys_error, connected, c->errmsg);
    if (c->state == CLIENT_CONN_FAILED && c->error_cb != NULL) {
        c->error_cb(c);
    }
}

void client_conn_abort(struct client_conn *c, const char *code, const char *fmt, ...)
{
    char msg[CLIENT_DETAIL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    conn_fail(c, PROTO_UNAVAILABLE, code, strcmp(code, CLIENT_CODE_TIMEOUT) == 0 ? UV_ETIMEDOUT : 0, "%s: %s",
              c->endpoint, msg);
}

static void on_write(uv_write_t *req, int status);

struct tls_write {
    uv_write_t req;
    struct client_conn *conn;
    char *data;
};

static void on_tls_write(uv_write_t *req, int status)
{
    struct tls_write *w = req->data;
    struct client_conn *c = w->conn;

    free(w->data);
    free(w);
    if (status < 0 && c->state == CLIENT_CONN_CONNECTED) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, status, "cannot send to %s: %s", c->endpoint,
                  uv_strerror(status));
    }
}

/* Sends the ciphertext OpenSSL produced (handshake records, encrypted frames), each batch
 * with its own write request. */
static void conn_send_tls(struct client_conn *c)
{
    struct tls_write *w;
    char *data;
    size_t len;
    uv_buf_t buf;
    int rc;

    if (tls_session_take(&c->tls, &data, &len) != 0) {
        conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, "out of memory encrypting for %s", c->endpoint);
        return;
    }
    if (len == 0) {
        return;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(data);
        conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, "out of memory sending to %s", c->endpoint);
        return;
    }
    w->conn = c;
    w->data = data;
    w->req.data = w;
    buf = uv_buf_init(data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_tls_write);
    if (rc != 0) {
        free(data);
        free(w);
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, rc, "cannot send to %s: %s", c->endpoint,
                  uv_strerror(rc));
    }
}

/* Hands every queued frame to one uv_write (with TLS: encrypts them, once the handshake is
 * done). Only called from loop callbacks. */
static void conn_flush(struct client_conn *c)
{
    msgpack_sbuffer swap = c->out_writing;
    uv_buf_t buf;
    int rc;

    if (c->tls_ctx != NULL) {
        char err[CLIENT_DETAIL_MAX];
        if (!c->tls.established) {
            return; /* sent when the handshake completes */
        }
        rc = tls_session_write(&c->tls, c->out_queued.data, c->out_queued.size, err, sizeof err);
        c->out_queued.size = 0;
        if (rc != 0) {
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0, "TLS to %s: %s", c->endpoint, err);
            return;
        }
        conn_send_tls(c);
        return;
    }
    c->out_writing = c->out_queued;
    c->out_queued = swap;
    c->out_queued.size = 0;
    buf.base = c->out_writing.data;
    buf.len = c->out_writing.size;
    rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rc != 0) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, rc, "cannot send to %s: %s", c->endpoint,
                  uv_strerror(rc));
        return;
    }
    c->writing = true;
}

static void on_write(uv_write_t *req, int status)
{
    struct client_conn *c = CLIENT_CONTAINER_OF(req, struct client_conn, write_req);

    c->writing = false;
    c->out_writing.size = 0;
    if (c->state != CLIENT_CONN_CONNECTED) {
        return; /* failed or closing: UV_ECANCELED or an error already reported */
    }
    if (status < 0) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, status, "cannot send to %s: %s", c->endpoint,
                  uv_strerror(status));
        return;
    }
    if (c->out_queued.size > 0) {
        conn_flush(c);
    }
}

static void on_flush(uv_prepare_t *h)
{
    struct client_conn *c = CLIENT_CONTAINER_OF(h, struct client_conn, flush);

    (void)uv_prepare_stop(h); /* always 0 */
    if (c->state == CLIENT_CONN_CONNECTED && !c->writing && c->out_queued.size > 0) {
        conn_flush(c);
    }
}

/* Delivers one server reply to its call. A reply matching no pending call is a
 * connection-level error when its status is not 0 (the server's bad_request /
 * frame_too_large, sent with id 0 before it closes), otherwise a protocol violation. */
static void conn_dispatch(struct client_conn *c, const struct client_reply *r)
{
    uint32_t idx = (uint32_t)(r->id & 0xffffffffu);
    struct client_slot *s;
    client_reply_fn cb;
    void *data;

    if (r->id == 0 || idx >= c->n_slots || c->slots[idx].id != r->id) {
        if (r->status != PROTO_OK) {
            conn_fail(c, r->status, r->code, 0, "%s refused the connection: %.400s (%s)", c->endpoint, r->error,
                      r->code);
        } else {
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_BAD_REPLY, 0,
                      "%s answered request id %llu, which is not pending", c->endpoint,
                      (unsigned long long)r->id);
        }
        return;
    }
    s = &c->slots[idx];
    cb = s->cb;
    data = s->data;
    s->id = 0;
    s->next_free = c->free_slot;
    c->free_slot = idx;
    c->n_pending--;
    cb(c, r, data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct client_conn *c = CLIENT_CONTAINER_OF(h, struct client_conn, tcp);
    char *p;
    size_t n;

    (void)suggested; /* the reader sizes its own buffer */
    if (c->tls_ctx != NULL) {
        buf->base = c->tls_in; /* ciphertext, decrypted into the reader by on_read */
        buf->len = CLIENT_TLS_READ;
        return;
    }
    if (frame_reader_space(&c->reader, &p, &n) != 0) {
        buf->base = NULL;
        buf->len = 0; /* libuv reports UV_ENOBUFS to on_read */
        return;
    }
    buf->base = p;
    buf->len = n;
}

/* TLS: feeds NREAD bytes of ciphertext, completes the handshake (then sends the calls queued
 * meanwhile) and decrypts what it can into the reader. 0, or -1 after failing the conn. */
static int conn_tls_read(struct client_conn *c, const char *data, size_t nread)
{
    char err[CLIENT_DETAIL_MAX], *p;
    size_t space;
    ssize_t n;

    if (tls_session_feed(&c->tls, data, nread) != 0) {
        conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, "out of memory reading from %s", c->endpoint);
        return -1;
    }
    if (!c->tls.established) {
        int hs = tls_session_handshake(&c->tls, err, sizeof err);
        conn_send_tls(c);
        if (hs < 0) {
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0,
                      "TLS handshake with %s failed: %s (the member's API wants a client certificate "
                      "signed by its raft.api.trusted-ca-file: --cacert, --cert, --key)", c->endpoint, err);
            return -1;
        }
        if (hs == 0 || c->state != CLIENT_CONN_CONNECTED) {
            return c->state == CLIENT_CONN_CONNECTED ? 0 : -1;
        }
        if (c->out_queued.size > 0) {
            conn_flush(c);
        }
    }
    while (c->state == CLIENT_CONN_CONNECTED) {
        if (frame_reader_space(&c->reader, &p, &space) != 0) {
            conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOBUFS,
                      "out of memory growing the receive buffer for %s", c->endpoint);
            return -1;
        }
        n = tls_session_read(&c->tls, p, space, err, sizeof err);
        if (n == 0) {
            return 0;
        }
        if (n < 0) {
            /* a TLS alert (e.g. "certificate required") is the member's reason: keep it */
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, err[0] != '\0' ? 0 : UV_EOF,
                      "%s closed the connection%s%s", c->endpoint, err[0] != '\0' ? ": TLS: " : "", err);
            return -1;
        }
        frame_reader_commit(&c->reader, (size_t)n);
    }
    return -1;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct client_conn *c = CLIENT_CONTAINER_OF(stream, struct client_conn, tcp);
    char err[CLIENT_DETAIL_MAX];
    const char *payload;
    size_t len;
    int rc;

    (void)buf;
    if (nread == UV_EOF) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, UV_EOF, "%s closed the connection", c->endpoint);
        return;
    }
    if (nread == UV_ENOBUFS) {
        conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOBUFS,
                  "out of memory growing the receive buffer for %s", c->endpoint);
        return;
    }
    if (nread < 0) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, (int)nread, "cannot read from %s: %s",
                  c->endpoint, uv_strerror((int)nread));
        return;
    }
    if (c->tls_ctx != NULL) {
        if (conn_tls_read(c, buf->base, (size_t)nread) != 0) {
            return;
        }
    } else {
        frame_reader_commit(&c->reader, (size_t)nread);
    }
    while (c->state == CLIENT_CONN_CONNECTED) {
        struct client_reply reply;
        rc = frame_reader_next(&c->reader, &payload, &len, err, sizeof err);
        if (rc == 0) {
            return;
        }
        if (rc < 0) {
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_BAD_REPLY, 0, "%s sent a bad frame: %s (not a raftnode API port?)",
                      c->endpoint, err);
            return;
        }
        if (client_reply_parse(payload, len, &c->unpacked, &reply, err, sizeof err) != 0) {
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_BAD_REPLY, 0, "%s sent a malformed reply: %s",
                      c->endpoint, err);
            return;
        }
        conn_dispatch(c, &reply);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client_conn *c = CLIENT_CONTAINER_OF(req, struct client_conn, connect_req);
    int rc;

    if (c->state != CLIENT_CONN_CONNECTING) {
        return; /* aborted or closing (status UV_ECANCELED) */
    }
    if (status < 0) {
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, status, "cannot connect to %s: %s", c->endpoint,
                  uv_strerror(status));
        return;
    }
    c->state = CLIENT_CONN_CONNECTED;
    /* Without TCP_NODELAY a small request waits for the previous one's ACK (Nagle plus
     * delayed ACK, ~40 ms). A failure here costs latency only, so the conn carries on. */
    rc = uv_tcp_nodelay(&c->tcp, 1);
    (void)rc;
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        c->state = CLIENT_CONN_CONNECTING; /* reading never started: nothing to stop */
        conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, rc, "cannot read from %s: %s", c->endpoint,
                  uv_strerror(rc));
        return;
    }
    if (c->tls_ctx != NULL) {
        char err[CLIENT_DETAIL_MAX];
        if (tls_session_init(&c->tls, c->tls_ctx, false) != 0) {
            conn_fail(c, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, "out of memory for TLS to %s", c->endpoint);
            return;
        }
        if (tls_session_handshake(&c->tls, err, sizeof err) < 0) { /* queues the ClientHello */
            conn_fail(c, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0, "TLS to %s: %s", c->endpoint, err);
            return;
        }
        conn_send_tls(c);
        return; /* calls queued meanwhile go out once the handshake completes */
    }
    if (c->out_queued.size > 0) {
        conn_flush(c);
    }
}

int client_conn_init(struct client_conn *c, uv_loop_t *loop, const char *endpoint)
{
    char err[CLIENT_DETAIL_MAX];
    int rc;

    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->max_request_bytes = PROTO_DEFAULT_MAX_FRAME;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    if (client_endpoint_parse(endpoint, &c->addr, err, sizeof err) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", err);
        return -1;
    }
    if (frame_reader_init(&c->reader, CLIENT_READ_INITIAL, CLIENT_DEFAULT_MAX_REPLY) != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "out of memory allocating a receive buffer for %s", endpoint);
        return -1;
    }
    msgpack_sbuffer_init(&c->out_queued);
    msgpack_sbuffer_init(&c->out_writing);
    msgpack_unpacked_init(&c->unpacked);
    if (client_tls_default != NULL) {
        c->tls_in = malloc(CLIENT_TLS_READ);
        if (c->tls_in == NULL) {
            frame_reader_free(&c->reader);
            snprintf(c->errmsg, sizeof c->errmsg, "out of memory allocating a TLS buffer for %s", endpoint);
            return -1;
        }
        SSL_CTX_up_ref(client_tls_default);
        c->tls_ctx = client_tls_default;
    }
    rc = uv_tcp_init(loop, &c->tcp);
    if (rc != 0) {
        frame_reader_free(&c->reader);
        free(c->tls_in);
        SSL_CTX_free(c->tls_ctx);
        snprintf(c->errmsg, sizeof c->errmsg, "cannot create a TCP handle for %s: %s", endpoint, uv_strerror(rc));
        return -1;
    }
    c->open_handles = 1;
    c->tcp.data = c;
    c->state = CLIENT_CONN_INIT;
    /* uv_prepare_init cannot fail in libuv 1.x; should it, the tcp handle already exists, so
     * the conn reports FAILED and client_conn_close releases it. */
    rc = uv_prepare_init(loop, &c->flush);
    if (rc != 0) {
        c->state = CLIENT_CONN_FAILED;
        snprintf(c->errmsg, sizeof c->errmsg, "cannot create a prepare handle for %s: %s", endpoint,
                 uv_strerror(rc));
        return 0;
    }
    c->open_handles = 2;
    c->flush.data = c;
    return 0;
}

int client_conn_connect(struct client_conn *c)
{
    int rc;

    if (c->state == CLIENT_CONN_FAILED) {
        return -1; /* errmsg says why */
    }
    if (c->state != CLIENT_CONN_INIT) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: connect called twice or on a failed connection", c->endpoint);
        return -1;
    }
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->addr, on_connect);
    if (rc != 0) {
        c->state = CLIENT_CONN_FAILED;
        snprintf(c->errmsg, sizeof c->errmsg, "cannot connect to %s: %s", c->endpoint, uv_strerror(rc));
        return -1;
    }
    c->state = CLIENT_CONN_CONNECTING;
    return 0;
}

/* Index of a free slot, growing the table when none is left; -1 when out of memory. */
static int64_t conn_slot_alloc(struct client_conn *c)
{
    uint32_t idx;

    if (c->free_slot >= c->n_slots) {
        uint32_t n = c->n_slots == 0 ? CLIENT_SLOTS_INITIAL : c->n_slots * 2;
        struct client_slot *grown;
        if (c->n_slots >= CLIENT_SLOTS_MAX) {
            return -1;
        }
        grown = realloc(c->slots, (size_t)n * sizeof *grown);
        if (grown == NULL) {
            return -1;
        }
        for (uint32_t i = c->n_slots; i < n; i++) {
            grown[i].id = 0;
            grown[i].next_free = i + 1 < n ? i + 1 : n;
        }
        /* The new slots form the whole free list (the old ones were all in use); the free
         * list's "none" value is n_slots, which changes with the table size. */
        c->free_slot = c->n_slots;
        c->slots = grown;
        c->n_slots = n;
    }
    idx = c->free_slot;
    c->free_slot = c->slots[idx].next_free;
    return idx;
}

int client_conn_call(struct client_conn *c, const char *method, client_pack_fn pack, void *arg,
                     client_reply_fn cb, void *data)
{
    char err[CLIENT_DETAIL_MAX];
    int64_t idx;
    uint64_t id;
    size_t queued_before = c->out_queued.size;
    int rc;

    if (c->state != CLIENT_CONN_CONNECTING && c->state != CLIENT_CONN_CONNECTED) {
        if (c->state != CLIENT_CONN_FAILED) {
            snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", c->endpoint,
                     c->state == CLIENT_CONN_INIT ? "client_conn_connect was not called" : "the connection is closing");
        }
        return -1; /* FAILED: errmsg already says why the conn failed */
    }
    idx = conn_slot_alloc(c);
    if (idx < 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: out of memory for a pending call (%u pending)", c->endpoint,
                 (unsigned)c->n_pending);
        return -1;
    }
    c->next_seq = c->next_seq == UINT32_MAX ? 1 : c->next_seq + 1;
    id = ((uint64_t)c->next_seq << 32) | (uint64_t)idx;
    if (client_request_pack(&c->out_queued, id, method, pack, arg, c->max_request_bytes, err, sizeof err) != 0) {
        c->slots[idx].next_free = c->free_slot;
        c->free_slot = (uint32_t)idx;
        snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", c->endpoint, err);
        return -1;
    }
    c->slots[idx].id = id;
    c->slots[idx].cb = cb;
    c->slots[idx].data = data;
    c->n_pending++;
    if (c->state == CLIENT_CONN_CONNECTED && !c->writing) {
        rc = uv_prepare_start(&c->flush, on_flush);
        if (rc != 0) { /* libuv refuses only a NULL callback; undo the call all the same */
            c->out_queued.size = queued_before;
            c->slots[idx].id = 0;
            c->slots[idx].next_free = c->free_slot;
            c->free_slot = (uint32_t)idx;
            c->n_pending--;
            snprintf(c->errmsg, sizeof c->errmsg, "%s: cannot schedule the write: %s", c->endpoint, uv_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct client_conn *c = h->data;

    if (--c->open_handles > 0) {
        return;
    }
    frame_reader_free(&c->reader);
    msgpack_sbuffer_destroy(&c->out_queued);
    msgpack_sbuffer_destroy(&c->out_writing);
    msgpack_unpacked_destroy(&c->unpacked);
    free(c->slots);
    c->slots = NULL;
    c->n_slots = 0;
    tls_session_free(&c->tls);
    SSL_CTX_free(c->tls_ctx);
    c->tls_ctx = NULL;
    free(c->tls_in);
    c->tls_in = NULL;
    c->state = CLIENT_CONN_CLOSED;
    if (c->close_cb != NULL) {
        c->close_cb(c);
    }
}

void client_conn_close(struct client_conn *c, client_close_fn cb)
{
    bool connected = c->state == CLIENT_CONN_CONNECTED;
    int handles = c->open_handles;

    if (c->state == CLIENT_CONN_CLOSING || c->state == CLIENT_CONN_CLOSED) {
        return;
    }
    c->state = CLIENT_CONN_CLOSING;
    c->close_cb = cb;
    if (!c->failing) {
        char msg[CLIENT_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s: the connection was closed with the call pending", c->endpoint);
        conn_fail_pending(c, PROTO_UNAVAILABLE, CLIENT_CODE_CLOSED, 0, connected, msg);
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (handles == 2) {
        uv_close((uv_handle_t *)&c->flush, on_handle_closed);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Synchronous helpers                                                                       */

struct sync_batch;

struct sync_call {
    struct client_conn conn;
    struct client_sync_reply *out;
    struct sync_batch *batch;
    bool conn_open; /* client_conn_init succeeded: close pending or done */
    bool done;      /* *out holds the final answer */
};

struct sync_batch {
    uv_loop_t loop;
    uv_timer_t timer;
    bool timer_open;
    unsigned timeout_ms;
    size_t n_calls;
    size_t n_waiting;
    struct sync_call *calls;
};

/* Copies R (valid only now) into OUT, keeping its payload alive. */
static void sync_store(struct client_sync_reply *out, const struct client_reply *r)
{
    char err[CLIENT_DETAIL_MAX];

    client_sync_reply_free(out);
    out->reply = *r;
    out->reply.payload = NULL;
    out->reply.payload_len = 0;
    out->reply.result = NULL;
    if (r->payload == NULL) {
        return;
    }
    out->payload = malloc(r->payload_len > 0 ? r->payload_len : 1);
    if (out->payload == NULL) {
        client_reply_set_local(&out->reply, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, true,
                               "out of memory keeping a %zu-byte reply from %s", r->payload_len, out->endpoint);
        return;
    }
    memcpy(out->payload, r->payload, r->payload_len);
    if (client_reply_parse(out->payload, r->payload_len, &out->unpacked, &out->reply, err, sizeof err) != 0) {
        /* It parsed once already; only an allocation can fail the second time. */
        client_reply_set_local(&out->reply, PROTO_REFUSED, CLIENT_CODE_FAILED, 0, true,
                               "cannot keep the reply from %s: %s", out->endpoint, err);
    }
}

static void sync_timer_close(struct sync_batch *b)
{
    if (b->timer_open) {
        b->timer_open = false;
        uv_close((uv_handle_t *)&b->timer, NULL);
    }
}

static void sync_on_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct sync_call *call = data;

    sync_store(call->out, r);
    call->done = true;
    client_conn_close(conn, NULL);
    if (--call->batch->n_waiting == 0) {
        sync_timer_close(call->batch);
    }
}

static void sync_on_timeout(uv_timer_t *t)
{
    struct sync_batch *b = CLIENT_CONTAINER_OF(t, struct sync_batch, timer);

    for (size_t i = 0; i < b->n_calls; i++) {
        struct sync_call *call = &b->calls[i];
        if (call->done || !call->conn_open) {
            continue;
        }
        /* Fails the pending call, whose callback stores the error and closes the conn. */
        if (call->conn.state == CLIENT_CONN_CONNECTING) {
            client_conn_abort(&call->conn, CLIENT_CODE_TIMEOUT, "could not connect within %u ms", b->timeout_ms);
        } else {
            client_conn_abort(&call->conn, CLIENT_CODE_TIMEOUT, "no reply within %u ms", b->timeout_ms);
        }
    }
    sync_timer_close(b);
}

static void sync_reply_reset(struct client_sync_reply *out, const char *endpoint)
{
    memset(out, 0, sizeof *out);
    msgpack_unpacked_init(&out->unpacked);
    snprintf(out->endpoint, sizeof out->endpoint, "%s", endpoint != NULL ? endpoint : "");
    client_reply_set_local(&out->reply, PROTO_REFUSED, CLIENT_CODE_FAILED, 0, false,
                           "%s: no reply recorded (internal error)", out->endpoint);
}

int client_call_parallel(size_t n, const char *const endpoints[], const char *method,
                         client_pack_fn pack, void *arg, unsigned timeout_ms,
                         struct client_sync_reply outs[])
{
    struct sync_batch b;
    int rc;

    for (size_t i = 0; i < n; i++) {
        sync_reply_reset(&outs[i], endpoints[i]);
    }
    if (n == 0) {
        return 0;
    }
    memset(&b, 0, sizeof b);
    b.timeout_ms = timeout_ms;
    b.n_calls = n;
    b.calls = calloc(n, sizeof *b.calls);
    if (b.calls == NULL) {
        for (size_t i = 0; i < n; i++) {
            client_reply_set_local(&outs[i].reply, PROTO_REFUSED, CLIENT_CODE_FAILED, UV_ENOMEM, false,
                                   "out of memory preparing %zu calls of %s", n, method);
        }
        return -1;
    }
    rc = uv_loop_init(&b.loop);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            client_reply_set_local(&outs[i].reply, PROTO_REFUSED, CLIENT_CODE_FAILED, rc, false,
                                   "cannot create an event loop to call %s: %s", method, uv_strerror(rc));
        }
        free(b.calls);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct sync_call *call = &b.calls[i];
        call->out = &outs[i];
        call->batch = &b;
        if (client_conn_init(&call->conn, &b.loop, endpoints[i] != NULL ? endpoints[i] : "") != 0) {
            client_reply_set_local(&outs[i].reply, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0, false,
                                   "%s", call->conn.errmsg);
            call->done = true;
            continue;
        }
        call->conn_open = true;
        call->conn.data = call;
        if (client_conn_connect(&call->conn) != 0) {
            client_reply_set_local(&outs[i].reply, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0, false,
                                   "%s", call->conn.errmsg);
        } else if (client_conn_call(&call->conn, method, pack, arg, sync_on_reply, call) != 0) {
            client_reply_set_local(&outs[i].reply, PROTO_REFUSED, CLIENT_CODE_FAILED, 0, false, "%s",
                                   call->conn.errmsg);
        } else {
            b.n_waiting++;
            continue;
        }
        call->done = true;
        client_conn_close(&call->conn, NULL);
    }
    if (b.n_waiting > 0 && timeout_ms > 0) {
        rc = uv_timer_init(&b.loop, &b.timer);
        if (rc == 0) {
            b.timer_open = true;
            rc = uv_timer_start(&b.timer, sync_on_timeout, timeout_ms, 0);
        }
        if (rc != 0) { /* cannot happen in libuv 1.x; give up on the calls rather than hang */
            for (size_t i = 0; i < n; i++) {
                if (!b.calls[i].done) {
                    client_conn_abort(&b.calls[i].conn, CLIENT_CODE_FAILED, "cannot start a timer: %s",
                                      uv_strerror(rc));
                }
            }
            sync_timer_close(&b);
        }
    }
    rc = uv_run(&b.loop, UV_RUN_DEFAULT);
    (void)rc; /* non-zero only when handles remain active, which uv_loop_close reports */
    rc = uv_loop_close(&b.loop);
    free(b.calls);
    return rc == 0 ? 0 : -1;
}

int client_call_sync(const char *endpoint, const char *method, client_pack_fn pack, void *arg,
                     unsigned timeout_ms, struct client_sync_reply *out)
{
    const char *one[1] = {endpoint};

    (void)client_call_parallel(1, one, method, pack, arg, timeout_ms, out); /* errors are in *out */
    return out->reply.status;
}

int client_call_leader(const char *endpoint, const char *method, client_pack_fn pack, void *arg,
                       unsigned timeout_ms, unsigned max_hops, struct client_sync_reply *out)
{
    unsigned hops = 0;

    client_call_sync(endpoint, method, pack, arg, timeout_ms, out);
    while (out->reply.status == PROTO_UNAVAILABLE && !out->reply.local &&
           strcmp(out->reply.code, PROTO_CODE_NOT_LEADER) == 0 && out->reply.leader_api[0] != '\0' &&
           hops < max_hops && strcmp(out->reply.leader_api, out->endpoint) != 0) {
        char next[CLIENT_ENDPOINT_MAX];
        snprintf(next, sizeof next, "%s", out->reply.leader_api);
        client_sync_reply_free(out);
        hops++;
        client_call_sync(next, method, pack, arg, timeout_ms, out);
        out->hops = hops;
    }
    return out->reply.status;
}

void client_sync_reply_free(struct client_sync_reply *out)
{
    msgpack_unpacked_destroy(&out->unpacked);
    free(out->payload);
    out->payload = NULL;
    out->reply.result = NULL;
    out->reply.payload = NULL;
}
