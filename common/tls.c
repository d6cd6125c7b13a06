/* tls: contexts, peer names and memory-BIO sessions (tls.h). */
#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tls_error(char *buf, size_t len)
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

struct ssl_ctx_st *tls_ctx_new(const struct tls_files *f, bool require_peer, char *err, size_t err_len)
{
    char reason[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());

    if (ctx == NULL) {
        snprintf(err, err_len, "cannot create a TLS context: %s", tls_error(reason, sizeof reason));
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        snprintf(err, err_len, "cannot require TLS 1.2: %s", tls_error(reason, sizeof reason));
        goto fail;
    }
    if (f->cert[0] != '\0' && SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
        snprintf(err, err_len, "%s %s: %s", f->cert_name, f->cert, tls_error(reason, sizeof reason));
        goto fail;
    }
    if (f->key[0] != '\0' && SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, err_len, "%s %s: %s", f->key_name, f->key, tls_error(reason, sizeof reason));
        goto fail;
    }
    if ((f->cert[0] != '\0') != (f->key[0] != '\0')) {
        snprintf(err, err_len, "%s and %s go together: give both or neither", f->cert_name, f->key_name);
        goto fail;
    }
    if (f->cert[0] != '\0' && SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_len, "%s %s does not match %s %s", f->key_name, f->key, f->cert_name, f->cert);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
        snprintf(err, err_len, "%s %s: %s", f->ca_name, f->ca, tls_error(reason, sizeof reason));
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require_peer ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1) { /* no resumption: tickets would only pile up */
        snprintf(err, err_len, "cannot turn TLS session tickets off");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

int tls_peer_cn(struct ssl_st *ssl, char *cn, size_t cn_len)
{
    char buf[256] = "";
    X509 *cert = SSL_get_peer_certificate(ssl);
    int n;

    if (cert == NULL) {
        snprintf(cn, cn_len, "no peer certificate");
        return -1;
    }
    if (SSL_get_verify_result(ssl) != X509_V_OK) {
        snprintf(cn, cn_len, "certificate not verified: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        X509_free(cert);
        return -1;
    }
    n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    X509_free(cert);
    if (n <= 0 || (size_t)n != strlen(buf) || (size_t)n >= cn_len) {
        snprintf(cn, cn_len, "certificate without a usable CN");
        return -1;
    }
    memcpy(cn, buf, (size_t)n + 1);
    return 0;
}

int tls_session_init(struct tls_session *s, struct ssl_ctx_st *ctx, bool server)
{
    memset(s, 0, sizeof *s);
    s->ssl = SSL_new(ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->ssl == NULL || s->rbio == NULL || s->wbio == NULL) {
        SSL_free(s->ssl);
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        memset(s, 0, sizeof *s);
        return -1;
    }
    SSL_set_bio(s->ssl, s->rbio, s->wbio); /* the SSL owns both BIOs from here */
    if (server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
    }
    return 0;
}

void tls_session_free(struct tls_session *s)
{
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
    }
    memset(s, 0, sizeof *s);
}

int tls_session_feed(struct tls_session *s, const char *data, size_t len)
{
    return len == 0 || BIO_write(s->rbio, data, (int)len) == (int)len ? 0 : -1;
}

int tls_session_handshake(struct tls_session *s, char *err, size_t err_len)
{
    int n, e;

    if (s->established) {
        return 1;
    }
    n = SSL_do_handshake(s->ssl);
    if (n == 1) {
        s->established = true;
        return 1;
    }
    e = SSL_get_error(s->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return 0;
    }
    tls_error(err, err_len);
    return -1;
}

int tls_session_write(struct tls_session *s, const char *data, size_t len, char *err, size_t err_len)
{
    size_t done = 0;
    while (done < len) {
        int n = SSL_write(s->ssl, data + done, (int)(len - done));
        if (n <= 0) {
            tls_error(err, err_len);
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

ssize_t tls_session_read(struct tls_session *s, char *buf, size_t cap, char *err, size_t err_len)
{
    int n = SSL_read(s->ssl, buf, (int)(cap > 0x40000000 ? 0x40000000 : cap));
    if (n > 0) {
        return n;
    }
    switch (SSL_get_error(s->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(err, err_len, "%s", "");
        return -1;
    default:
        tls_error(err, err_len);
        return -1;
    }
}

int tls_session_take(struct tls_session *s, char **out, size_t *len)
{
    size_t pending = BIO_ctrl_pending(s->wbio);
    char *buf;
    int n;

    *out = NULL;
    *len = 0;
    if (pending == 0) {
        return 0;
    }
    buf = malloc(pending);
    if (buf == NULL) {
        return -1;
    }
    n = BIO_read(s->wbio, buf, (int)pending);
    if (n <= 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}
