/* peer_conn: one peer connection of the transport (peer_transport.h): the TCP socket, optional
 * TLS, the framing checks, and our end of the socketpair whose other end libraft holds.
 * Private to peer_transport.c and peer_conn.c.
 *
 * Connection states:
 *   incoming: [TLS handshake] -> HANDSHAKE (raft handshake read and checked; CN checked with
 *             TLS) -> MESSAGES (checked messages copied to libraft's pipe)
 *   outgoing: TCP connect -> [TLS handshake, CN of the dialed id checked] -> our handshake
 *             sent, pipe handed to libraft's connect callback -> MESSAGES (libraft's bytes
 *             copied to the socket; anything the server sends closes the connection)
 * Any state -> closing (peer_conn_close) -> freed once the TCP handle and our pipe end are
 * closed; a pending connect request is answered there, never before.
 * Owns: the connection's handles, buffers and SSL. Calls: libuv, OpenSSL, peer_msg.h,
 * peer_tls.h, common/log.h, and peer_transport_maybe_closed. */
#ifndef RAFTNODE_PEER_CONN_H
#define RAFTNODE_PEER_CONN_H

#include <openssl/ssl.h>

#include "common/tls.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_msg.h"
#include "peer_transport.h"

#define READ_CHUNK 65536
/* A connection not handed to libraft within this long (TCP connect, TLS and raft handshakes)
 * is closed: a peer cannot hold sockets open by never finishing a handshake. */
#define HANDSHAKE_TIMEOUT_MS 10000
#define SWEEP_MS 1000

enum conn_dir { CONN_IN, CONN_OUT };
enum conn_state { ST_TLS, ST_HANDSHAKE, ST_MESSAGES };

struct peer_conn;

struct peer_transport_impl {
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
    struct peer_conn *conns;
    struct peer_transport_stats stats;
    char scratch[READ_CHUNK];    /* TLS reads land here before OpenSSL copies them */
};

struct peer_conn {
    struct peer_transport_impl *p;
    struct peer_conn *prev, *next;
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
    struct tls_session tls;      /* tls.ssl NULL: plaintext */
    char *in;                    /* bytes from the peer not yet passed on */
    size_t in_cap, in_used, in_need;
    size_t to_pipe, to_tcp;      /* bytes queued for writing each way */
};

struct wreq {
    uv_write_t req;
    struct peer_conn *c;
    char *base;
    size_t len;
    bool to_peer;                /* else to libraft's pipe */
};

/* A connection on P's list with its TCP handle initialised (and SSL when P has a context);
 * NULL when out of memory. DIR: enum conn_dir. */
struct peer_conn *peer_conn_new(struct peer_transport_impl *p, int dir);

/* Closes C; FMT (or NULL for a quiet close) says why, logged as a WARN with the peer's address.
 * Idempotent. C is freed after its handles' close callbacks. */
void peer_conn_close(struct peer_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts reading an accepted connection (TLS or raft handshake first). */
void peer_conn_start_reading(struct peer_conn *c);

/* uv_tcp_connect's callback for an outgoing connection (creq->data is the connection). */
void peer_conn_connected(uv_connect_t *creq, int status);

/* Fires the transport's close callback once it is closing and everything is closed
 * (peer_transport.c). */
void peer_transport_maybe_closed(struct peer_transport_impl *p);

#endif
