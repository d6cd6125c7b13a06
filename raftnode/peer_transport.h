/* peer_transport: raftnode's struct raft_uv_transport, in place of libraft's raft_uv_tcp_init.
 *
 * libraft 0.22.1 decodes whatever arrives on its raft port (issue 12). This transport owns
 * the TCP connections to and from the other members and gives libraft, per connection, one end
 * of a socketpair (a uv_pipe_t allocated with raft_malloc, which libraft closes and frees as it
 * does a TCP stream). Between the socket and the pipe it:
 *   - reads and checks the handshake itself (peer_msg.h) and passes libraft only its id and
 *     address, as libraft's accept callback expects;
 *   - checks every message's framing (peer_msg.h) and copies only whole, well-formed messages
 *     into the pipe, byte for byte, in large writes;
 *   - with raft.peer.cert-file / key-file / trusted-ca-file set, speaks mutual TLS (peer_tls.h)
 *     and requires the certificate CN member-<id> of the id the handshake claims (accepting
 *     side) or of the id it dials (connecting side).
 * Anything malformed closes that connection only, with a WARN naming the peer's address and
 * what was wrong. Outgoing bytes (libraft -> peer) are forwarded unchecked.
 *
 * Per connection:
 *   TCP socket <-> [TLS] <-> checks <-> pipe end (ours) <== socketpair ==> pipe end (libraft's)
 * A connection not handed to libraft within 10 s (connect, TLS and raft handshakes) is closed.
 * Both directions stop reading their source while more than PEER_TRANSPORT_HIGH_WATER bytes
 * wait to be written to the other side, and resume when the writes complete.
 *
 * Lifecycle: peer_transport_init fills T (libraft calls its init, listen, connect, close);
 * libraft's close (during raft_close) closes every handle and fires its callback when all close
 * callbacks ran; peer_transport_close then frees what init allocated.
 * Owns: the listener, every connection, their buffers, the SSL_CTX. Calls: libuv, libraft's
 * raft_malloc/raft_free, OpenSSL (peer_tls.h), peer_msg.h, common/log.h. One loop thread. */
#ifndef RAFTNODE_PEER_TRANSPORT_H
#define RAFTNODE_PEER_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <uv.h>

#define PEER_TRANSPORT_HIGH_WATER (8u * 1024 * 1024)

struct peer_transport_config {
    uint64_t max_message_bytes; /* raft.peer.max-message-bytes */
    const char *cert_file;      /* raft.peer.cert-file, or NULL/"" for plaintext */
    const char *key_file;       /* raft.peer.key-file */
    const char *ca_file;        /* raft.peer.trusted-ca-file */
};

/* Fills T for raft_uv_init. T->data is libraft's (it sets it); our state is in T->impl.
 * 0, or -1 with the reason in T->errmsg (an unreadable certificate, say). */
int peer_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct peer_transport_config *cfg);

/* Frees what peer_transport_init allocated. Call after libraft's close callback on T fired,
 * or when T was never started (raft_uv_init or raft_init failed). */
void peer_transport_close(struct raft_uv_transport *t);

/* Counters for tests and logs. */
struct peer_transport_stats {
    uint64_t accepted;      /* connections that completed the handshake */
    uint64_t rejected;      /* connections closed for a malformed handshake or message, or TLS */
    uint64_t messages;      /* messages passed to libraft */
};
void peer_transport_stats(const struct raft_uv_transport *t, struct peer_transport_stats *out);

#endif
