/* peer_transport: the raft_uv_transport methods (peer_transport.h): listen, dial, close, and
 * the sweep that closes connections stuck in a handshake. The data path is peer_conn.c. */
#include "peer_transport.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "peer_conn.h"
#include "peer_tls.h"

void peer_transport_maybe_closed(struct peer_transport_impl *p)
{
    raft_uv_transport_close_cb cb = p->close_cb;
    if (!p->closing || p->listener_open || p->sweep_open || p->conns != NULL || cb == NULL) {
        return;
    }
    p->close_cb = NULL;
    cb(p->t);
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
    struct peer_transport_impl *p = t->impl;
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
    struct peer_transport_impl *p = listener->data;
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    struct peer_conn *c;

    if (status < 0) {
        log_warn("raft peer: accept: %s", uv_strerror(status));
        return;
    }
    c = peer_conn_new(p, CONN_IN);
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
        peer_conn_close(c, NULL);
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
    peer_conn_start_reading(c);
}

static void sweep_cb(uv_timer_t *timer)
{
    struct peer_transport_impl *p = timer->data;
    uint64_t now = uv_now(p->loop);
    for (struct peer_conn *c = p->conns; c != NULL; c = c->next) {
        if (!c->closing && !c->established && now - c->opened_ms > HANDSHAKE_TIMEOUT_MS) {
            c->status = RAFT_NOCONNECTION;
            peer_conn_close(c, "no %s within %d ms",
                       c->state == ST_TLS ? "TLS handshake" : c->dir == CONN_IN ? "raft handshake" : "connection",
                       HANDSHAKE_TIMEOUT_MS);
        }
    }
}

/* The listener's or the sweep timer's close callback. */
static void own_handle_closed(uv_handle_t *h)
{
    struct peer_transport_impl *p = h->data;
    if (h == (uv_handle_t *)&p->listener) {
        p->listener_open = false;
    } else {
        p->sweep_open = false;
    }
    peer_transport_maybe_closed(p);
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct peer_transport_impl *p = t->impl;
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
    struct peer_transport_impl *p = t->impl;
    struct sockaddr_in sa;
    struct peer_conn *c;
    int rv;

    if (p->closing) {
        return RAFT_CANCELED;
    }
    if (parse_ipv4(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "connect: %.100s is not IPv4:port", address);
        return RAFT_NOCONNECTION;
    }
    c = peer_conn_new(p, CONN_OUT);
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    snprintf(c->peer, sizeof c->peer, "%s (id %" PRIu64 ")", address, (uint64_t)id);
    c->peer_id = id;
    c->connect.data = c;
    rv = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, peer_conn_connected);
    if (rv != 0) {
        peer_conn_close(c, NULL); /* no callback: we fail the call instead */
        return RAFT_NOCONNECTION;
    }
    c->req = req;
    c->cb = cb;
    return 0;
}

static void t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct peer_transport_impl *p = t->impl;
    p->closing = true;
    p->close_cb = cb;
    if (p->listener_open && !uv_is_closing((uv_handle_t *)&p->listener)) {
        uv_close((uv_handle_t *)&p->listener, own_handle_closed);
    }
    if (p->sweep_open && !uv_is_closing((uv_handle_t *)&p->sweep)) {
        uv_close((uv_handle_t *)&p->sweep, own_handle_closed);
    }
    for (struct peer_conn *c = p->conns; c != NULL; c = c->next) {
        peer_conn_close(c, NULL);
    }
    peer_transport_maybe_closed(p);
}

int peer_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct peer_transport_config *cfg)
{
    struct peer_transport_impl *p = calloc(1, sizeof *p);
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
    struct peer_transport_impl *p = t->impl;
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
    const struct peer_transport_impl *p = t->impl;
    memset(out, 0, sizeof *out);
    if (p != NULL) {
        *out = p->stats;
    }
}
