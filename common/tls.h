/* tls: the OpenSSL side shared by every TLS endpoint of the project: the member's peer
 * transport (raftnode/peer_conn.c), the API server (raftnode/api.c) and the API client
 * (common/client.c, used by raftctl and by members calling each other). TLS 1.2 or later,
 * certificates verified against one trusted CA, and a session driven through two memory BIOs
 * so that libuv owns the socket: ciphertext read from the socket is fed in, ciphertext to
 * send is taken out (DESIGN.md, "Operator interface, part two", Security).
 *
 * Owns: the SSL_CTX of tls_ctx_new and a session's SSL and BIOs. Calls: OpenSSL only. */
#ifndef COMMON_TLS_H
#define COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

/* The three PEM files and the names to use for them in error messages (config keys or
 * command-line options). cert and key may be "" for a client without a certificate. */
struct tls_files {
    const char *cert, *key, *ca;
    const char *cert_name, *key_name, *ca_name;
};

/* One context for both directions (a member accepts and dials with the same certificate).
 * REQUIRE_PEER: an accepting side refuses a peer without a certificate signed by the CA
 * (a connecting side always verifies the server against the CA). NULL on failure with the
 * file and OpenSSL's reason in ERR. */
struct ssl_ctx_st *tls_ctx_new(const struct tls_files *f, bool require_peer, char *err, size_t err_len);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* The first queued OpenSSL error as text ("no further detail" when none), clearing the queue. */
const char *tls_error(char *buf, size_t len);

/* 0 with the CN of SSL's verified peer certificate in CN; -1 with the reason in CN (no
 * certificate, not verified, no or an odd CN). */
int tls_peer_cn(struct ssl_st *ssl, char *cn, size_t cn_len);

/* A TLS session over memory BIOs. */
struct tls_session {
    struct ssl_st *ssl;
    struct bio_st *rbio; /* ciphertext from the socket */
    struct bio_st *wbio; /* ciphertext for the socket */
    bool established;    /* the handshake completed */
};

/* 0, or -1 (out of memory; S is then all NULL). SERVER: accepts, else connects. */
int tls_session_init(struct tls_session *s, struct ssl_ctx_st *ctx, bool server);
void tls_session_free(struct tls_session *s);
/* Hands LEN bytes read from the socket to OpenSSL. 0 or -1. */
int tls_session_feed(struct tls_session *s, const char *data, size_t len);
/* Advances the handshake: 1 established (now or before), 0 needs more bytes, -1 failed with
 * OpenSSL's reason in ERR. Ciphertext to send may be waiting afterwards (tls_session_take). */
int tls_session_handshake(struct tls_session *s, char *err, size_t err_len);
/* Encrypts LEN bytes (after the handshake). 0, or -1 with the reason in ERR. */
int tls_session_write(struct tls_session *s, const char *data, size_t len, char *err, size_t err_len);
/* Decrypts into BUF: > 0 bytes, 0 when it needs more ciphertext, -1 when the peer closed
 * (ERR "") or the stream is broken (ERR says why). */
ssize_t tls_session_read(struct tls_session *s, char *buf, size_t cap, char *err, size_t err_len);
/* Ciphertext waiting for the socket: 0 with *OUT malloc'd (LEN bytes; NULL and 0 when none),
 * or -1 out of memory. */
int tls_session_take(struct tls_session *s, char **out, size_t *len);

#endif
