/* peer_conn: a peer connection's data path (peer_conn.h): reads, checks, copies, TLS. */
#include "peer_conn.h"

#include <inttypes.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "peer_tls.h"

static int process_in(struct peer_conn *c);
static void tls_pump(struct peer_conn *c);

static void conn_handle_closed(uv_handle_t *h)
{
    struct peer_conn *c = h->data;
    struct peer_transport_impl *p = c->p;
    struct raft_uv_connect *req = c->req;

    if (--c->open_handles > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        p->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c->in);
    tls_session_free(&c->tls);
    if (req != NULL) {
        raft_uv_connect_cb cb = c->cb;
        int status = p->closing ? RAFT_CANCELED : (c->status != 0 ? c->status : RAFT_NOCONNECTION);
        free(c);
        cb(req, NULL, status);
    } else {
        free(c);
    }
    peer_transport_maybe_closed(p);
}

void peer_conn_close(struct peer_conn *c, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    if (c->closing) {
        return;
    }
    c->closing = true;
    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        log_warn("raft peer %s: %s: closing that connection", c->peer, why);
        c->p->stats.rejected++;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    if (c->pipe_open) {
        uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
    }
}

struct peer_conn *peer_conn_new(struct peer_transport_impl *p, int dir)
{
    struct peer_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    if (uv_tcp_init(p->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->p = p;
    c->dir = dir;
    c->opened_ms = uv_now(p->loop);
    c->tcp.data = c;
    c->pipe.data = c;
    c->open_handles = 1;
    c->next = p->conns;
    if (p->conns != NULL) {
        p->conns->prev = c;
    }
    p->conns = c;
    if (p->ctx != NULL) {
        if (tls_session_init(&c->tls, p->ctx, dir == CONN_IN) != 0) {
            peer_conn_close(c, "out of memory for TLS");
            return NULL;
        }
    }
    c->state = p->ctx != NULL ? ST_TLS : (dir == CONN_IN ? ST_HANDSHAKE : ST_MESSAGES);
    return c;
}

/* ---- writes, both directions, with the high-water mark ---- */

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops reading the socket (TCP) or our end of libraft's pipe. */
static void set_reading(struct peer_conn *c, bool tcp, bool on)
{
    bool *reading = tcp ? &c->tcp_reading : &c->pipe_reading;
    uv_stream_t *s = tcp ? (uv_stream_t *)&c->tcp : (uv_stream_t *)&c->pipe;
    int rv;

    if (c->closing || (!tcp && !c->pipe_open) || *reading == on) {
        return;
    }
    rv = on ? uv_read_start(s, tcp ? tcp_alloc : pipe_alloc, tcp ? tcp_read : pipe_read) : uv_read_stop(s);
    if (rv != 0) {
        peer_conn_close(c, "cannot %s reading %s", on ? "start" : "stop", tcp ? "the socket" : "libraft's pipe");
        return;
    }
    *reading = on;
}

/* A write to the peer (socket) or to libraft (pipe) completed: below the high-water mark again,
 * the side that feeds it is read again. */
static void written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct peer_conn *c = w->c;
    bool to_peer = w->to_peer;
    size_t *queued = to_peer ? &c->to_tcp : &c->to_pipe;

    *queued -= w->len;
    free(w->base);
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED) {
            log_debug("raft peer %s: write to %s: %s", c->peer, to_peer ? "the socket" : "libraft",
                      uv_strerror(status));
        }
        peer_conn_close(c, NULL); /* the peer or libraft closed its end */
        return;
    }
    if (*queued <= PEER_TRANSPORT_HIGH_WATER && (!to_peer || c->state == ST_MESSAGES)) {
        set_reading(c, !to_peer, true);
    }
}

/* Queues BASE (LEN bytes, malloc'd; ownership passes here, success or not) to the peer's socket
 * (TO_PEER) or to libraft's pipe; past the high-water mark the side feeding it stops being read. */
static int write_to(struct peer_conn *c, bool to_peer, char *base, size_t len)
{
    uv_stream_t *stream = to_peer ? (uv_stream_t *)&c->tcp : (uv_stream_t *)&c->pipe;
    size_t *queued = to_peer ? &c->to_tcp : &c->to_pipe;
    uv_buf_t buf = uv_buf_init(base, (unsigned)len);
    struct wreq *w;

    if (c->closing) {
        free(base);
        return -1;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(base);
        peer_conn_close(c, "out of memory");
        return -1;
    }
    w->c = c;
    w->base = base;
    w->len = len;
    w->to_peer = to_peer;
    if (uv_write(&w->req, stream, &buf, 1, written) != 0) {
        free(base);
        free(w);
        peer_conn_close(c, NULL);
        return -1;
    }
    *queued += len;
    if (*queued > PEER_TRANSPORT_HIGH_WATER) {
        set_reading(c, !to_peer, false);
    }
    return 0;
}

/* Sends what OpenSSL produced for the socket. */
static int flush_tls(struct peer_conn *c)
{
    char *buf;
    size_t n;
    if (tls_session_take(&c->tls, &buf, &n) != 0) {
        peer_conn_close(c, "out of memory for the TLS output");
        return -1;
    }
    return n == 0 ? 0 : write_to(c, true, buf, n);
}

/* Sends LEN bytes at BASE (not taken) through TLS to the peer. */
static int tls_send(struct peer_conn *c, const char *base, size_t len)
{
    char e[256];
    if (tls_session_write(&c->tls, base, len, e, sizeof e) != 0) {
        peer_conn_close(c, "TLS write: %s", e);
        return -1;
    }
    return flush_tls(c);
}

/* ---- libraft's end: a socketpair per connection ---- */

static void raft_stream_closed(uv_handle_t *h)
{
    raft_free(h);
}

/* Opens the socketpair; our end starts reading; *OUT is libraft's end (raft_malloc'd: libraft
 * closes and frees it). */
static int make_pair(struct peer_conn *c, uv_stream_t **out)
{
    uv_os_sock_t fds[2];
    uv_pipe_t *theirs;
    int rv;

    rv = uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE);
    if (rv != 0) {
        peer_conn_close(c, "socketpair: %s", uv_strerror(rv));
        return -1;
    }
    theirs = raft_malloc(sizeof *theirs);
    if (theirs == NULL || uv_pipe_init(c->p->loop, theirs, 0) != 0) {
        raft_free(theirs);
        close(fds[0]);
        close(fds[1]);
        peer_conn_close(c, "out of memory for libraft's pipe");
        return -1;
    }
    if (uv_pipe_init(c->p->loop, &c->pipe, 0) != 0) {
        uv_close((uv_handle_t *)theirs, raft_stream_closed);
        close(fds[0]);
        close(fds[1]);
        peer_conn_close(c, "cannot open a pipe");
        return -1;
    }
    c->pipe.data = c;
    c->pipe_open = true;
    c->open_handles++;
    rv = uv_pipe_open(&c->pipe, fds[0]);
    if (rv == 0) {
        rv = uv_pipe_open(theirs, fds[1]);
        if (rv != 0) {
            close(fds[1]);
        }
    } else {
        close(fds[0]);
        close(fds[1]);
    }
    if (rv != 0) {
        uv_close((uv_handle_t *)theirs, raft_stream_closed);
        peer_conn_close(c, "pipe open: %s", uv_strerror(rv));
        return -1;
    }
    *out = (uv_stream_t *)theirs;
    return 0;
}

/* ---- peer -> libraft ---- */

static int ensure_in(struct peer_conn *c)
{
    size_t want = c->in_used + READ_CHUNK;
    char *nb;
    if (c->in_need > want) {
        want = c->in_need;
    }
    if (c->in_cap >= c->in_used + READ_CHUNK / 4 && c->in_cap >= c->in_need) {
        return 0;
    }
    nb = realloc(c->in, want);
    if (nb == NULL) {
        peer_conn_close(c, "out of memory for a %zu-byte message", want);
        return -1;
    }
    c->in = nb;
    c->in_cap = want;
    return 0;
}

/* Passes the first N bytes of c->in (whole checked messages) to libraft; keeps the rest. */
static int forward(struct peer_conn *c, size_t n)
{
    char *base = c->in;
    size_t rest = c->in_used - n;
    if (rest == 0) {
        c->in = NULL;
        c->in_cap = 0;
    } else {
        size_t cap = rest > READ_CHUNK ? rest : READ_CHUNK;
        if (c->in_need > cap) {
            cap = c->in_need;
        }
        c->in = malloc(cap);
        if (c->in == NULL) {
            c->in = base;
            peer_conn_close(c, "out of memory");
            return -1;
        }
        memcpy(c->in, base + n, rest);
        c->in_cap = cap;
    }
    c->in_used = rest;
    return write_to(c, false, base, n);
}

static int accept_handshake(struct peer_conn *c)
{
    struct peer_transport_impl *p = c->p;
    uint64_t id = 0;
    const char *address = NULL;
    uv_stream_t *theirs;
    char why[256];
    size_t need = 0;
    int rv = peer_hs_check((const uint8_t *)c->in, c->in_used, &need, &id, &address, why, sizeof why);

    if (rv == PEER_MSG_MORE) {
        c->in_need = need;
        return 1;
    }
    if (rv == PEER_MSG_BAD) {
        peer_conn_close(c, "%s", why);
        return -1;
    }
    if (c->tls.ssl != NULL && peer_tls_check_member(c->tls.ssl, id, why, sizeof why) != 0) {
        peer_conn_close(c, "handshake claims id %" PRIu64 " but %s", id, why);
        return -1;
    }
    if (p->closing || p->accept_cb == NULL || make_pair(c, &theirs) != 0) {
        peer_conn_close(c, NULL);
        return -1;
    }
    snprintf(c->peer + strlen(c->peer), sizeof c->peer - strlen(c->peer), " (id %" PRIu64 ")", id);
    c->state = ST_MESSAGES;
    c->established = true;
    c->in_need = 0;
    p->stats.accepted++;
    log_debug("raft peer %s: accepted, address %s", c->peer, address);
    p->accept_cb(p->t, id, address, theirs); /* copies the address */
    memmove(c->in, c->in + need, c->in_used - need);
    c->in_used -= need;
    set_reading(c, false, true); /* only to see libraft close its end */
    return 0;
}

/* Checks what c->in holds and passes whole messages on. 0, or -1 when C was closed. */
static int process_in(struct peer_conn *c)
{
    size_t pos = 0, need = 0;
    char why[256];

    if (c->closing) {
        return -1;
    }
    if (c->dir == CONN_OUT) {
        if (c->in_used > 0) {
            peer_conn_close(c, "%zu unexpected bytes on an outgoing connection", c->in_used);
            return -1;
        }
        return 0;
    }
    if (c->state == ST_HANDSHAKE) {
        int rv = accept_handshake(c);
        if (rv != 0) {
            return rv < 0 ? -1 : 0;
        }
    }
    for (;;) {
        int rv = peer_msg_check((const uint8_t *)c->in + pos, c->in_used - pos, c->p->max_bytes, &need, why,
                                sizeof why);
        if (rv == PEER_MSG_OK) {
            pos += need;
            c->p->stats.messages++;
            continue;
        }
        if (rv == PEER_MSG_BAD) {
            peer_conn_close(c, "%s", why);
            return -1;
        }
        c->in_need = need;
        break;
    }
    return pos > 0 ? forward(c, pos) : 0;
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer_conn *c = h->data;
    (void)suggested;
    if (c->tls.ssl != NULL) {
        *buf = uv_buf_init(c->p->scratch, sizeof c->p->scratch);
        return;
    }
    if (c->closing || ensure_in(c) != 0) {
        *buf = uv_buf_init(NULL, 0); /* the read callback gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(c->in + c->in_used, (unsigned)(c->in_cap - c->in_used));
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer_conn *c = s->data;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("raft peer %s: read: %s", c->peer, uv_strerror((int)nread));
        }
        peer_conn_close(c, NULL);
        return;
    }
    if (c->tls.ssl == NULL) {
        c->in_used += (size_t)nread;
        (void)process_in(c);
        return;
    }
    if (tls_session_feed(&c->tls, buf->base, (size_t)nread) != 0) {
        peer_conn_close(c, "TLS: cannot buffer %zd bytes", nread);
        return;
    }
    tls_pump(c);
}

static void tls_out_ready(struct peer_conn *c);

/* Drives the TLS handshake and then reads all the plaintext OpenSSL has. */
static void tls_pump(struct peer_conn *c)
{
    char e[256];
    int n;

    if (c->state == ST_TLS) {
        n = tls_session_handshake(&c->tls, e, sizeof e);
        if (flush_tls(c) != 0) {
            return;
        }
        if (n != 1) {
            if (n < 0) {
                peer_conn_close(c, "TLS handshake: %s", e);
            }
            return;
        }
        if (c->dir == CONN_OUT) {
            if (peer_tls_check_member(c->tls.ssl, c->peer_id, e, sizeof e) != 0) {
                c->status = RAFT_NOCONNECTION;
                peer_conn_close(c, "dialed id %" PRIu64 " but %s", (uint64_t)c->peer_id, e);
                return;
            }
            c->state = ST_MESSAGES;
            tls_out_ready(c);
            if (c->closing) {
                return;
            }
        } else {
            c->state = ST_HANDSHAKE;
        }
    }
    for (;;) {
        if (ensure_in(c) != 0) {
            return;
        }
        n = SSL_read(c->tls.ssl, c->in + c->in_used, (int)(c->in_cap - c->in_used));
        if (n <= 0) {
            break;
        }
        c->in_used += (size_t)n;
        if (process_in(c) != 0) {
            return;
        }
    }
    n = SSL_get_error(c->tls.ssl, n);
    if (n == SSL_ERROR_ZERO_RETURN) {
        peer_conn_close(c, NULL);
    } else if (n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE) {
        peer_conn_close(c, "TLS read: %s", tls_error(e, sizeof e));
    } else {
        (void)flush_tls(c);
    }
}

/* ---- libraft -> peer ---- */

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer_conn *c = h->data;
    char *base;
    (void)suggested;
    if (c->tls.ssl != NULL) {
        *buf = uv_buf_init(c->p->scratch, sizeof c->p->scratch);
        return;
    }
    base = malloc(READ_CHUNK);
    *buf = uv_buf_init(base, base != NULL ? READ_CHUNK : 0);
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer_conn *c = s->data;
    char *base = c->tls.ssl != NULL ? NULL : buf->base; /* ours (plaintext) until passed on */

    if (nread <= 0 || c->closing || c->dir == CONN_IN) {
        free(base);
        if (nread < 0) {
            peer_conn_close(c, NULL); /* libraft closed its end */
        }
        return;
    }
    if (c->tls.ssl != NULL) {
        (void)tls_send(c, buf->base, (size_t)nread);
    } else {
        (void)write_to(c, true, base, (size_t)nread);
    }
}

/* Outgoing connection established (and TLS verified): send our handshake, give libraft its
 * end of the pipe. */
static void tls_out_ready(struct peer_conn *c)
{
    struct peer_transport_impl *p = c->p;
    struct raft_uv_connect *req = c->req;
    size_t alen = strlen(p->address) + 1, padded = (alen + 7) / 8 * 8;
    size_t len = PEER_HS_PREAMBLE + padded;
    uv_stream_t *theirs;
    char *hs = calloc(1, len);
    uint64_t fields[3] = {PEER_HS_PROTOCOL, p->id, padded};
    int rv;

    if (hs == NULL) {
        c->status = RAFT_NOMEM;
        peer_conn_close(c, "out of memory");
        return;
    }
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 8; i++) {
            hs[f * 8 + i] = (char)(fields[f] >> (8 * i));
        }
    }
    memcpy(hs + PEER_HS_PREAMBLE, p->address, alen);
    if (c->tls.ssl != NULL) {
        rv = tls_send(c, hs, len);
        free(hs);
    } else {
        rv = write_to(c, true, hs, len);
    }
    if (rv != 0 || make_pair(c, &theirs) != 0) {
        c->status = RAFT_NOCONNECTION;
        return;
    }
    c->state = ST_MESSAGES;
    c->established = true;
    c->req = NULL;
    set_reading(c, false, true);
    c->cb(req, theirs, 0);
}

void peer_conn_connected(uv_connect_t *creq, int status)
{
    struct peer_conn *c = creq->data;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        c->status = RAFT_NOCONNECTION;
        log_debug("raft peer %s: connect: %s", c->peer, uv_strerror(status));
        peer_conn_close(c, NULL);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    set_reading(c, true, true);
    if (c->tls.ssl != NULL) {
        tls_pump(c); /* sends the ClientHello */
    } else {
        tls_out_ready(c);
    }
}

void peer_conn_start_reading(struct peer_conn *c)
{
    set_reading(c, true, true);
}
