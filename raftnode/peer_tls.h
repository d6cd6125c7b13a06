/* peer_tls: the OpenSSL side of mutual TLS between members (raft.peer.cert-file, key-file,
 * trusted-ca-file): one SSL_CTX for both directions, TLS 1.2 or later, peer certificates
 * required and verified against the CA, and the member-<id> common-name rule (DESIGN.md,
 * "Operator interface, part two"). The byte pumping (memory BIOs driven by libuv reads and
 * writes) is peer_transport.c's.
 * Owns: the SSL_CTX. Calls: common/tls.h. */
#ifndef RAFTNODE_PEER_TLS_H
#define RAFTNODE_PEER_TLS_H

#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct ssl_st;

/* Builds the context from the three PEM files. NULL on failure with the file and OpenSSL's
 * reason in ERR. */
struct ssl_ctx_st *peer_tls_ctx_new(const char *cert_file, const char *key_file, const char *ca_file,
                                    char *err, size_t err_len);
void peer_tls_ctx_free(struct ssl_ctx_st *ctx);

/* 0 when the verified peer certificate of SSL has CN "member-ID"; else -1 with what it
 * presented in WHY. */
int peer_tls_check_member(struct ssl_st *ssl, uint64_t id, char *why, size_t why_len);

#endif
