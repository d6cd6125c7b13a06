/* peer_tls: SSL_CTX set-up and the member-<id> certificate rule (peer_tls.h). */
#include "peer_tls.h"

#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

const char *peer_tls_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "no further detail");
    } else {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
    return buf;
}

struct ssl_ctx_st *peer_tls_ctx_new(const char *cert_file, const char *key_file, const char *ca_file,
                                    char *err, size_t err_len)
{
    char reason[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());

    if (ctx == NULL) {
        snprintf(err, err_len, "cannot create a TLS context: %s", peer_tls_error(reason, sizeof reason));
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        snprintf(err, err_len, "cannot require TLS 1.2: %s", peer_tls_error(reason, sizeof reason));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(err, err_len, "raft.peer.cert-file %s: %s", cert_file, peer_tls_error(reason, sizeof reason));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, err_len, "raft.peer.key-file %s: %s", key_file, peer_tls_error(reason, sizeof reason));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "raft.peer.key-file %s does not match raft.peer.cert-file %s", key_file,
                 cert_file);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        snprintf(err, err_len, "raft.peer.trusted-ca-file %s: %s", ca_file,
                 peer_tls_error(reason, sizeof reason));
        goto fail;
    }
    /* both sides present a certificate signed by the CA, or the handshake fails */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1) { /* the client never reads server data */
        snprintf(err, err_len, "cannot turn TLS session tickets off");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void peer_tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

int peer_tls_check_member(struct ssl_st *ssl, uint64_t id, char *why, size_t why_len)
{
    char want[40], cn[256] = "";
    X509 *cert = SSL_get_peer_certificate(ssl);
    int n;

    if (cert == NULL) {
        snprintf(why, why_len, "no peer certificate");
        return -1;
    }
    if (SSL_get_verify_result(ssl) != X509_V_OK) {
        snprintf(why, why_len, "certificate not verified: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        X509_free(cert);
        return -1;
    }
    n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    snprintf(want, sizeof want, "member-%" PRIu64, id);
    if (n < 0 || (size_t)n != strlen(cn) || strcmp(cn, want) != 0) {
        snprintf(why, why_len, "certificate CN \"%s\", expected \"%s\"", n < 0 ? "" : cn, want);
        return -1;
    }
    return 0;
}
