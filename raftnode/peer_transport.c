/* peer_transport: libraft's transport with framing checks and optional mutual TLS
 * (peer_transport.h).
 *
 * Connection states:
 *   incoming: [TLS handshake] -> HANDSHAKE (raft handshake read and checked; CN checked with
 *             TLS) -> MESSAGES (checked messages copied to libraft's pipe)
 *   outgoing: TCP connect -> [TLS handshake, CN of the dialed id checked] -> our handshake
 *             sent, pipe handed to libraft's connect callback -> MESSAGES (libraft's bytes
 *             copied to the socket; anything the server sends closes the connection)
 * Any state -> closing (conn_close) -> freed once the TCP handle and our pipe end are closed
 * (conn_handle_closed); a pending connect request is answered there, never before. */
#include "peer_transport.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "peer_msg.h"
#include "peer_tls.h"

#define READ_CHUNK 65536
/* A connection not handed to libraft within this long (TCP connect, TLS and raft handshakes)
 * is closed: a peer cannot hold sockets open by never finishing a handshake. */
#define HANDSHAKE_TIMEOUT_MS 10000
#define SWEEP_MS 1000

enum conn_dir { CONN_IN, CONN_OUT };
enum conn_state { ST_TLS, ST_HANDSHAKE, ST_MESSAGES };

struct conn;

struct ptrans {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    raft_id id;
    char address[PEER_HS_ADDRESS_MAX];
    uint64_t max_bytes;
    SSL_CTX *ctx;                /* NULL: plaintext */
    uv_tcp_t listener;
    bool listener_open;
    uv_timer_t sweep;            /* closes connections stuck in a handshake */
    bool sweep_open;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    bool closing;
    struct conn *conns;
    struct peer_transport_stats stats;
    char scratch[READ_CHUNK];    /* TLS reads land here before OpenSSL copies them */
};

struct conn {
    struct ptrans *p;
    struct conn *prev, *next;
    int dir;                     /* enum conn_dir */
    int state;                   /* enum conn_state */
    uv_tcp_t tcp;
    uv_pipe_t pipe;              /* our end of the socketpair */
    uv_connect_t connect;
    bool pipe_open;
    int open_handles;
    bool closing;
    bool established;            /* handed to libraft */
    uint64_t opened_ms;          /* uv_now when made */
    bool tcp_reading, pipe_reading;
    char peer[PEER_HS_ADDRESS_MAX + 8]; /* address for logs */
    raft_id peer_id;             /* outgoing: the id dialed */
    struct raft_uv_connect *req; /* outgoing: until answered */
    raft_uv_connect_cb cb;
    int status;                  /* given to a pending connect callback */
    SSL *ssl;
    BIO *rbio, *wbio;            /* owned by ssl */
    char *in;                    /* bytes from the peer not yet passed on */
    size_t in_cap, in_used, in_need;
    size_t to_pipe, to_tcp;      /* bytes queued for writing each way */
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    char *base;
    size_t len;
};

static void conn_close(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int process_in(struct conn *c);
static void tls_pump(struct conn *c);

/* ---- lifecycle ---- */

static void maybe_fire_close(struct ptrans *p)
{
    raft_uv_transport_close_cb cb = p->close_cb;
    if (!p->closing || p->listener_open || p->sweep_open || p->conns != NULL || cb == NULL) {
        return;
    }
    p->close_cb = NULL;
    cb(p->t);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct ptrans *p = c->p;
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
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    if (req != NULL) {
        raft_uv_connect_cb cb = c->cb;
        int status = p->closing ? RAFT_CANCELED : (c->status != 0 ? c->status : RAFT_NOCONNECTION);
        free(c);
        cb(req, NULL, status);
    } else {
        free(c);
    }
    maybe_fire_close(p);
}

/* Closes C; FMT (or NULL for a quiet close) says why, logged as a WARN with the peer. */
static void conn_close(struct conn *c, const char *fmt, ...)
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

static struct conn *conn_new(struct ptrans *p, int dir)
{
    struct conn *c = calloc(1, sizeof *c);
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
        c->ssl = SSL_new(p->ctx);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            c->rbio = c->wbio = NULL;
            conn_close(c, "out of memory for TLS");
            return NULL;
        }
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        if (dir == CONN_IN) {
            SSL_set_accept_state(c->ssl);
        } else {
            SSL_set_connect_state(c->ssl);
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

static void set_tcp_reading(struct conn *c, bool on)
{
    if (c->closing || c->tcp_reading == on) {
        return;
    }
    if (on ? uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc, tcp_read) : uv_read_stop((uv_stream_t *)&c->tcp)) {
        conn_close(c, "cannot %s reading the socket", on ? "start" : "stop");
        return;
    }
    c->tcp_reading = on;
}

static void set_pipe_reading(struct conn *c, bool on)
{
    if (c->closing || !c->pipe_open || c->pipe_reading == on) {
        return;
    }
    if (on ? uv_read_start((uv_stream_t *)&c->pipe, pipe_alloc, pipe_read)
           : uv_read_stop((uv_stream_t *)&c->pipe)) {
        conn_close(c, "cannot %s reading libraft's pipe", on ? "start" : "stop");
        return;
    }
    c->pipe_reading = on;
}

static void tcp_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    c->to_tcp -= w->len;
    free(w->base);
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED) {
            log_debug("raft peer %s: write: %s", c->peer, uv_strerror(status));
        }
        conn_close(c, NULL);
        return;
    }
    if (c->to_tcp <= PEER_TRANSPORT_HIGH_WATER && c->state == ST_MESSAGES) {
        set_pipe_reading(c, true);
    }
}

static void pipe_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    c->to_pipe -= w->len;
    free(w->base);
    free(w);
    if (status < 0) {
        conn_close(c, NULL); /* libraft closed its end */
        return;
    }
    if (c->to_pipe <= PEER_TRANSPORT_HIGH_WATER) {
        set_tcp_reading(c, true);
    }
}

/* Queues BASE (LEN bytes, malloc'd; ownership passes here, success or not) on STREAM. */
static int write_owned(struct conn *c, uv_stream_t *stream, char *base, size_t len, uv_write_cb cb)
{
    struct wreq *w;
    uv_buf_t buf = uv_buf_init(base, (unsigned)len);
    int rv;

    if (c->closing) {
        free(base);
        return -1;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(base);
        conn_close(c, "out of memory");
        return -1;
    }
    w->c = c;
    w->base = base;
    w->len = len;
    rv = uv_write(&w->req, stream, &buf, 1, cb);
    if (rv != 0) {
        free(base);
        free(w);
        conn_close(c, NULL);
        return -1;
    }
    return 0;
}

static int write_tcp_raw(struct conn *c, char *base, size_t len)
{
    if (write_owned(c, (uv_stream_t *)&c->tcp, base, len, tcp_written) != 0) {
        return -1;
    }
    c->to_tcp += len;
    if (c->to_tcp > PEER_TRANSPORT_HIGH_WATER) {
        set_pipe_reading(c, false);
    }
    return 0;
}

/* Sends what OpenSSL produced for the socket. */
static int flush_tls(struct conn *c)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(c->wbio)) > 0) {
        char *buf = malloc(pending);
        int n;
        if (buf == NULL) {
            conn_close(c, "out of memory");
            return -1;
        }
        n = BIO_read(c->wbio, buf, (int)pending);
        if (n <= 0) {
            free(buf);
            conn_close(c, "TLS: cannot read the outgoing buffer");
            return -1;
        }
        if (write_tcp_raw(c, buf, (size_t)n) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Sends LEN bytes at BASE (not taken) through TLS to the peer. */
static int tls_send(struct conn *c, const char *base, size_t len)
{
    size_t done = 0;
    while (done < len) {
        int n = SSL_write(c->ssl, base + done, (int)(len - done));
        if (n <= 0) {
            char e[256];
            conn_close(c, "TLS write: %s", peer_tls_error(e, sizeof e));
            return -1;
        }
        done += (size_t)n;
    }
    return flush_tls(c);
}

static int write_pipe(struct conn *c, char *base, size_t len)
{
    if (write_owned(c, (uv_stream_t *)&c->pipe, base, len, pipe_written) != 0) {
        return -1;
    }
    c->to_pipe += len;
    if (c->to_pipe > PEER_TRANSPORT_HIGH_WATER) {
        set_tcp_reading(c, false);
    }
    return 0;
}

/* ---- libraft's end: a socketpair per connection ---- */

static void raft_stream_closed(uv_handle_t *h)
{
    raft_free(h);
}

/* Opens the socketpair; our end starts reading; *OUT is libraft's end (raft_malloc'd: libraft
 * closes and frees it). */
static int make_pair(struct conn *c, uv_stream_t **out)
{
    uv_os_sock_t fds[2];
    uv_pipe_t *theirs;
    int rv;

    rv = uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE);
    if (rv != 0) {
        conn_close(c, "socketpair: %s", uv_strerror(rv));
        return -1;
    }
    theirs = raft_malloc(sizeof *theirs);
    if (theirs == NULL || uv_pipe_init(c->p->loop, theirs, 0) != 0) {
        raft_free(theirs);
        close(fds[0]);
        close(fds[1]);
        conn_close(c, "out of memory for libraft's pipe");
        return -1;
    }
    if (uv_pipe_init(c->p->loop, &c->pipe, 0) != 0) {
        uv_close((uv_handle_t *)theirs, raft_stream_closed);
        close(fds[0]);
        close(fds[1]);
        conn_close(c, "cannot open a pipe");
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
        conn_close(c, "pipe open: %s", uv_strerror(rv));
        return -1;
    }
    *out = (uv_stream_t *)theirs;
    return 0;
}

/* ---- peer -> libraft ---- */

static int ensure_in(struct conn *c)
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
        conn_close(c, "out of memory for a %zu-byte message", want);
        return -1;
    }
    c->in = nb;
    c->in_cap = want;
    return 0;
}

/* Passes the first N bytes of c->in (whole checked messages) to libraft; keeps the rest. */
static int forward(struct conn *c, size_t n)
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
            conn_close(c, "out of memory");
            return -1;
        }
        memcpy(c->in, base + n, rest);
        c->in_cap = cap;
    }
    c->in_used = rest;
    return write_pipe(c, base, n);
}

static int accept_handshake(struct conn *c)
{
    struct ptrans *p = c->p;
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
        conn_close(c, "%s", why);
        return -1;
    }
    if (c->ssl != NULL && peer_tls_check_member(c->ssl, id, why, sizeof why) != 0) {
        conn_close(c, "handshake claims id %" PRIu64 " but %s", id, why);
        return -1;
    }
    if (p->closing || p->accept_cb == NULL || make_pair(c, &theirs) != 0) {
        conn_close(c, NULL);
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
    set_pipe_reading(c, true); /* only to see libraft close its end */
    return 0;
}

/* Checks what c->in holds and passes whole messages on. 0, or -1 when C was closed. */
static int process_in(struct conn *c)
{
    size_t pos = 0, need = 0;
    char why[256];

    if (c->closing) {
        return -1;
    }
    if (c->dir == CONN_OUT) {
        if (c->in_used > 0) {
            conn_close(c, "%zu unexpected bytes on an outgoing connection", c->in_used);
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
            conn_close(c, "%s", why);
            return -1;
        }
        c->in_need = need;
        break;
    }
    return pos > 0 ? forward(c, pos) : 0;
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    if (c->ssl != NULL) {
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
    struct conn *c = s->data;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("raft peer %s: read: %s", c->peer, uv_strerror((int)nread));
        }
        conn_close(c, NULL);
        return;
    }
    if (c->ssl == NULL) {
        c->in_used += (size_t)nread;
        (void)process_in(c);
        return;
    }
    if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        conn_close(c, "TLS: cannot buffer %zd bytes", nread);
        return;
    }
    tls_pump(c);
}

static void tls_out_ready(struct conn *c);

/* Drives the TLS handshake and then reads all the plaintext OpenSSL has. */
static void tls_pump(struct conn *c)
{
    char e[256];
    int n;

    if (c->state == ST_TLS) {
        n = SSL_do_handshake(c->ssl);
        if (flush_tls(c) != 0) {
            return;
        }
        if (n != 1) {
            int err = SSL_get_error(c->ssl, n);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                conn_close(c, "TLS handshake: %s", peer_tls_error(e, sizeof e));
            }
            return;
        }
        if (c->dir == CONN_OUT) {
            if (peer_tls_check_member(c->ssl, c->peer_id, e, sizeof e) != 0) {
                c->status = RAFT_NOCONNECTION;
                conn_close(c, "dialed id %" PRIu64 " but %s", (uint64_t)c->peer_id, e);
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
        n = SSL_read(c->ssl, c->in + c->in_used, (int)(c->in_cap - c->in_used));
        if (n <= 0) {
            break;
        }
        c->in_used += (size_t)n;
        if (process_in(c) != 0) {
            return;
        }
    }
    n = SSL_get_error(c->ssl, n);
    if (n == SSL_ERROR_ZERO_RETURN) {
        conn_close(c, NULL);
    } else if (n != SSL_ERROR_WANT_READ && n != SSL_ERROR_WANT_WRITE) {
        conn_close(c, "TLS read: %s", peer_tls_error(e, sizeof e));
    } else {
        (void)flush_tls(c);
    }
}

/* ---- libraft -> peer ---- */

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    char *base;
    (void)suggested;
    if (c->ssl != NULL) {
        *buf = uv_buf_init(c->p->scratch, sizeof c->p->scratch);
        return;
    }
    base = malloc(READ_CHUNK);
    *buf = uv_buf_init(base, base != NULL ? READ_CHUNK : 0);
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    char *base = c->ssl != NULL ? NULL : buf->base; /* ours (plaintext) until passed on */

    if (nread <= 0 || c->closing || c->dir == CONN_IN) {
        free(base);
        if (nread < 0) {
            conn_close(c, NULL); /* libraft closed its end */
        }
        return;
    }
    if (c->ssl != NULL) {
        (void)tls_send(c, buf->base, (size_t)nread);
    } else {
        (void)write_tcp_raw(c, base, (size_t)nread);
    }
}

/* Outgoing connection established (and TLS verified): send our handshake, give libraft its
 * end of the pipe. */
static void tls_out_ready(struct conn *c)
{
    struct ptrans *p = c->p;
    struct raft_uv_connect *req = c->req;
    size_t alen = strlen(p->address) + 1, padded = (alen + 7) / 8 * 8;
    size_t len = PEER_HS_PREAMBLE + padded;
    uv_stream_t *theirs;
    char *hs = calloc(1, len);
    uint64_t fields[3] = {PEER_HS_PROTOCOL, p->id, padded};
    int rv;

    if (hs == NULL) {
        c->status = RAFT_NOMEM;
        conn_close(c, "out of memory");
        return;
    }
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < 8; i++) {
            hs[f * 8 + i] = (char)(fields[f] >> (8 * i));
        }
    }
    memcpy(hs + PEER_HS_PREAMBLE, p->address, alen);
    if (c->ssl != NULL) {
        rv = tls_send(c, hs, len);
        free(hs);
    } else {
        rv = write_tcp_raw(c, hs, len);
    }
    if (rv != 0 || make_pair(c, &theirs) != 0) {
        c->status = RAFT_NOCONNECTION;
        return;
    }
    c->state = ST_MESSAGES;
    c->established = true;
    c->req = NULL;
    set_pipe_reading(c, true);
    c->cb(req, theirs, 0);
}

static void connected(uv_connect_t *creq, int status)
{
    struct conn *c = creq->data;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        c->status = RAFT_NOCONNECTION;
        log_debug("raft peer %s: connect: %s", c->peer, uv_strerror(status));
        conn_close(c, NULL);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    set_tcp_reading(c, true);
    if (c->ssl != NULL) {
        tls_pump(c); /* sends the ClientHello */
    } else {
        tls_out_ready(c);
    }
}

/* ---- the raft_uv_transport methods ---- */

static int parse_ipv4(const char *address, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    char *end;
    unsigned long port;
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return -1;
    }
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -1;
}

static int t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct ptrans *p = t->impl;
    if (strlen(address) + 1 > sizeof p->address) {
        snprintf(t->errmsg, sizeof t->errmsg, "address %.100s... too long", address);
        return RAFT_INVALID;
    }
    p->id = id;
    snprintf(p->address, sizeof p->address, "%s", address);
    return 0;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct ptrans *p = listener->data;
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    struct conn *c;

    if (status < 0) {
        log_warn("raft peer: accept: %s", uv_strerror(status));
        return;
    }
    c = conn_new(p, CONN_IN);
    if (c == NULL) {
        /* accept and close it anyway: libuv stops listening until a pending one is accepted */
        uv_tcp_t *drop = malloc(sizeof *drop);
        log_warn("raft peer: out of memory for a new connection: refusing it");
        if (drop != NULL && uv_tcp_init(p->loop, drop) == 0) {
            (void)uv_accept(listener, (uv_stream_t *)drop);
            uv_close((uv_handle_t *)drop, free_handle);
        } else {
            free(drop);
        }
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, NULL);
        return;
    }
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        char ip[32];
        if (uv_ip4_name(sin, ip, sizeof ip) == 0) {
            snprintf(c->peer, sizeof c->peer, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
        }
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    set_tcp_reading(c, true);
}

static void sweep_cb(uv_timer_t *timer)
{
    struct ptrans *p = timer->data;
    uint64_t now = uv_now(p->loop);
    for (struct conn *c = p->conns; c != NULL; c = c->next) {
        if (!c->closing && !c->established && now - c->opened_ms > HANDSHAKE_TIMEOUT_MS) {
            c->status = RAFT_NOCONNECTION;
            conn_close(c, "no %s within %d ms",
                       c->state == ST_TLS ? "TLS handshake" : c->dir == CONN_IN ? "raft handshake" : "connection",
                       HANDSHAKE_TIMEOUT_MS);
        }
    }
}

static void sweep_closed(uv_handle_t *h)
{
    struct ptrans *p = h->data;
    p->sweep_open = false;
    maybe_fire_close(p);
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct ptrans *p = t->impl;
    struct sockaddr_in sa;
    int rv;

    p->accept_cb = cb;
    if (!p->sweep_open) {
        rv = uv_timer_init(p->loop, &p->sweep);
        if (rv != 0) {
            snprintf(t->errmsg, sizeof t->errmsg, "timer: %s", uv_strerror(rv));
            return RAFT_IOERR;
        }
        p->sweep.data = p;
        p->sweep_open = true;
        rv = uv_timer_start(&p->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
        if (rv != 0) {
            snprintf(t->errmsg, sizeof t->errmsg, "timer: %s", uv_strerror(rv));
            return RAFT_IOERR; /* closed by t_close */
        }
        uv_unref((uv_handle_t *)&p->sweep);
    }
    if (parse_ipv4(p->address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen: %.100s is not IPv4:port", p->address);
        return RAFT_INVALID;
    }
    rv = uv_tcp_init(p->loop, &p->listener);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen: %s", uv_strerror(rv));
        return RAFT_IOERR;
    }
    p->listener.data = p;
    p->listener_open = true;
    rv = uv_tcp_bind(&p->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&p->listener, 128, on_connection);
    }
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen on %.100s: %s", p->address, uv_strerror(rv));
        return RAFT_IOERR; /* the listener is closed by t_close */
    }
    return 0;
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                     raft_uv_connect_cb cb)
{
    struct ptrans *p = t->impl;
    struct sockaddr_in sa;
    struct conn *c;
    int rv;

    if (p->closing) {
        return RAFT_CANCELED;
    }
    if (parse_ipv4(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "connect: %.100s is not IPv4:port", address);
        return RAFT_NOCONNECTION;
    }
    c = conn_new(p, CONN_OUT);
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    snprintf(c->peer, sizeof c->peer, "%s (id %" PRIu64 ")", address, (uint64_t)id);
    c->peer_id = id;
    c->connect.data = c;
    rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, connected);
    if (rv != 0) {
        conn_close(c, NULL); /* no callback: we fail the call instead */
        return RAFT_NOCONNECTION;
    }
    c->req = req;
    c->cb = cb;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct ptrans *p = h->data;
    p->listener_open = false;
    maybe_fire_close(p);
}

static void t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct ptrans *p = t->impl;
    p->closing = true;
    p->close_cb = cb;
    if (p->listener_open && !uv_is_closing((uv_handle_t *)&p->listener)) {
        uv_close((uv_handle_t *)&p->listener, listener_closed);
    }
    if (p->sweep_open && !uv_is_closing((uv_handle_t *)&p->sweep)) {
        uv_close((uv_handle_t *)&p->sweep, sweep_closed);
    }
    for (struct conn *c = p->conns; c != NULL; c = c->next) {
        conn_close(c, NULL);
    }
    maybe_fire_close(p);
}

int peer_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct peer_transport_config *cfg)
{
    struct ptrans *p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(t->errmsg, sizeof t->errmsg, "out of memory");
        return -1;
    }
    p->t = t;
    p->loop = loop;
    p->max_bytes = cfg->max_message_bytes != 0 ? cfg->max_message_bytes : PEER_MSG_DEFAULT_MAX_BYTES;
    if (cfg->cert_file != NULL && cfg->cert_file[0] != '\0') {
        p->ctx = peer_tls_ctx_new(cfg->cert_file, cfg->key_file, cfg->ca_file, t->errmsg, sizeof t->errmsg);
        if (p->ctx == NULL) {
            free(p);
            return -1;
        }
    }
    t->version = 1;
    t->impl = p;
    t->init = t_init;
    t->listen = t_listen;
    t->connect = t_connect;
    t->close = t_close;
    return 0;
}

void peer_transport_close(struct raft_uv_transport *t)
{
    struct ptrans *p = t->impl;
    if (p == NULL) {
        return;
    }
    if (p->listener_open || p->sweep_open || p->conns != NULL) {
        /* libraft never closed us (it was not started): close what is open; p is left to the
         * process's exit, since handles still point at it. */
        if (!p->closing) {
            t_close(t, NULL);
        }
        return;
    }
    peer_tls_ctx_free(p->ctx);
    free(p);
    t->impl = NULL;
}

void peer_transport_stats(const struct raft_uv_transport *t, struct peer_transport_stats *out)
{
    const struct ptrans *p = t->impl;
    memset(out, 0, sizeof *out);
    if (p != NULL) {
        *out = p->stats;
    }
}
