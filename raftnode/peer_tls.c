/* peer_tls: the raft.peer.* context and the member-<id> certificate rule (peer_tls.h). The
 * OpenSSL work is common/tls.c's, shared with the API and its clients. */
#include "peer_tls.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/tls.h"

struct ssl_ctx_st *peer_tls_ctx_new(const char *cert_file, const char *key_file, const char *ca_file,
                                    char *err, size_t err_len)
{
    const struct tls_files f = {cert_file, key_file, ca_file, "raft.peer.cert-file", "raft.peer.key-file",
                                "raft.peer.trusted-ca-file"};
    return tls_ctx_new(&f, true, err, err_len);
}

void peer_tls_ctx_free(struct ssl_ctx_st *ctx)
{
    tls_ctx_free(ctx);
}

int peer_tls_check_member(struct ssl_st *ssl, uint64_t id, char *why, size_t why_len)
{
    char want[40], cn[256];

    if (tls_peer_cn(ssl, cn, sizeof cn) != 0) {
        snprintf(why, why_len, "%s", cn);
        return -1;
    }
    snprintf(want, sizeof want, "member-%" PRIu64, id);
    if (strcmp(cn, want) != 0) {
        snprintf(why, why_len, "certificate CN \"%s\", expected \"%s\"", cn, want);
        return -1;
    }
    return 0;
}
