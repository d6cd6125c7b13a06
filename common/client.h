/* client: the API client used by raftctl and the bench load generator (docs/protocol.md).
 *
 * Three layers, each usable alone:
 *   1. Framing and decoding, pure functions without sockets (unit-tested):
 *      client_request_pack appends one request frame to a msgpack_sbuffer;
 *      struct frame_reader (common/frame.h) cuts a byte stream into frames;
 *      client_reply_parse decodes one reply payload into struct client_reply.
 *   2. struct client_conn: one persistent TCP connection to one "IPv4:port" endpoint on a
 *      caller's uv_loop_t. Requests are pipelined: client_conn_call only appends the frame
 *      to an output buffer; at most one uv_write is in flight and it carries every frame
 *      queued meanwhile. Replies may arrive in any order and are matched by id.
 *   3. Synchronous helpers for command-line tools, each on a private loop:
 *      client_call_sync, client_call_parallel (one call to each of N endpoints at once) and
 *      client_call_leader (follows not_leader redirects).
 *
 * Every error reported to a reply callback is a struct client_reply like a server's, with
 * `local` set: status 3 and code "unreachable" (connect/read/write failed, the server
 * closed the connection), "timeout", "bad_reply" (the server sent something that is not a
 * reply) or "closed" (the caller closed the connection); status 1 code "failed" for local
 * resource failures. Its `error` names the endpoint and the cause.
 *
 * Threading: a conn is used only from its loop's thread. SIGPIPE: libuv writes with write(2),
 * so a program using this module must ignore SIGPIPE (raftctl does in main).
 *
 * Owns: a conn's socket, its buffers and its table of pending calls. Calls: libuv, msgpack-c,
 * common/frame.h, common/mp.h. */
#ifndef COMMON_CLIENT_H
#define COMMON_CLIENT_H

#include <msgpack.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"
#include "tls.h"

#define CLIENT_ENDPOINT_MAX 64   /* "IPv4:port" plus slack; longer endpoints are refused */
#define CLIENT_CODE_MAX 32       /* longer codes are truncated */
#define CLIENT_ERROR_MAX 512     /* longer messages are truncated, ending in "..." */
#define CLIENT_ERRMSG_MAX 512
#define CLIENT_MAX_HOPS 3        /* not_leader redirects client_call_leader follows */
#define CLIENT_DEFAULT_MAX_REPLY (64u * 1024 * 1024) /* raft.api.max-frame-bytes' upper bound */

/* Codes the client itself reports (the server's codes are in common/proto.h). */
#define CLIENT_CODE_UNREACHABLE "unreachable" /* status 3 */
#define CLIENT_CODE_TIMEOUT "timeout"         /* status 3 (same word as PROTO_CODE_TIMEOUT) */
#define CLIENT_CODE_BAD_REPLY "bad_reply"     /* status 3 */
#define CLIENT_CODE_CLOSED "closed"           /* status 3 */
#define CLIENT_CODE_FAILED "failed"           /* status 1 */

/* ---------------------------------------------------------------------------------------- */
/* Replies                                                                                   */

/* One decoded reply (all fields read-only for callbacks). Strings are copied into the
 * struct; `result` and `payload` point into the receive buffer and stay valid only while
 * the callback runs (client_call_* keep them alive in struct client_sync_reply instead). */
struct client_reply {
    uint64_t id;                  /* the request's id (0 for connection-level errors) */
    int status;                   /* enum proto_status */
    char code[CLIENT_CODE_MAX];   /* "ok" on success */
    char error[CLIENT_ERROR_MAX]; /* human message; "" on success */
    const msgpack_object *result; /* NULL when absent (always NULL when status != 0) */
    uint64_t node_id;             /* answering member (0 when unknown or local) */
    uint64_t applied_index;       /* its applied index when it answered */
    uint64_t leader_id;           /* 0 = unknown */
    char leader_api[CLIENT_ENDPOINT_MAX]; /* "" = unknown */
    bool local;                   /* made by the client, not sent by a server */
    bool connected;               /* local errors: the TCP connection had been established, so
                                   * the request may have reached the server (a write's outcome
                                   * is then unknown); always true for server replies */
    int sys_error;                /* local errors: the libuv error (UV_E*), or 0 */
    const char *payload;          /* server replies: the raw msgpack payload, else NULL */
    size_t payload_len;
};

/* Decodes one frame payload (one msgpack map) into OUT. UNPACKED is the caller's
 * msgpack_unpacked (initialised with msgpack_unpacked_init, reused across calls, destroyed
 * by the caller); OUT->result points into it and into PAYLOAD. Required: "id" (uint) and
 * "status" (int 0..3); the other fields are optional, nil counts as absent, a present field
 * of the wrong type is an error. Returns 0, or -1 with a message in ERR (size ERRCAP). */
int client_reply_parse(const char *payload, size_t len, msgpack_unpacked *unpacked,
                       struct client_reply *out, char *err, size_t errcap);

/* Fills OUT as a local error (payload/result NULL, ids 0). FMT is printf-style. */
void client_reply_set_local(struct client_reply *out, int status, const char *code, int sys_error,
                            bool connected, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---------------------------------------------------------------------------------------- */
/* Framing                                                                                   */

/* Packs the value of "args" (normally a map) with PK. Returns 0, or non-zero to abandon the
 * call (msgpack's pack functions return non-zero only when the buffer cannot grow). */
typedef int (*client_pack_fn)(msgpack_packer *pk, void *arg);

/* Appends one request frame {"id", "method", "args"} to SB. PACK may be NULL (args = {}).
 * On failure (pack failed, out of memory, frame larger than MAX_FRAME bytes of payload) SB
 * is restored to its previous size and -1 is returned with a message in ERR. */
int client_request_pack(msgpack_sbuffer *sb, uint64_t id, const char *method, client_pack_fn pack,
                        void *arg, size_t max_frame, char *err, size_t errcap);

/* Parses "a.b.c.d:port" (port 1..65535) into OUT. 0, or -1 with a message in ERR. */
int client_endpoint_parse(const char *endpoint, struct sockaddr_in *out, char *err, size_t errcap);

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                               */

struct client_conn;

/* Called once per call: with the server's reply, or with a local error. May call
 * client_conn_call (pipelining) and client_conn_close on the same conn. */
typedef void (*client_reply_fn)(struct client_conn *conn, const struct client_reply *reply, void *data);
/* Called once when the conn enters CLIENT_CONN_FAILED (after the pending calls failed). */
typedef void (*client_error_fn)(struct client_conn *conn);
/* Called when every handle closed; the caller may free CONN from here on. */
typedef void (*client_close_fn)(struct client_conn *conn);

/*   INIT --connect--> CONNECTING --ok--> CONNECTED
 *     |                   |                  |   connect/read/write error, EOF, bad reply,
 *     |                   +------------------+-> client_conn_abort: FAILED
 *     +------ client_conn_close (from any state) --> CLOSING --close callback--> CLOSED
 * Calls are accepted in CONNECTING (queued, sent once connected) and CONNECTED. A FAILED
 * conn stays failed: close it and make a new one to reconnect. */
enum client_conn_state {
    CLIENT_CONN_INIT = 0,
    CLIENT_CONN_CONNECTING,
    CLIENT_CONN_CONNECTED,
    CLIENT_CONN_FAILED,
    CLIENT_CONN_CLOSING,
    CLIENT_CONN_CLOSED,
};

struct client_slot; /* one pending call (private) */

struct client_conn {
    void *data;                         /* public: for the caller */
    client_error_fn error_cb;           /* public: optional, see client_error_fn */
    size_t max_request_bytes;           /* public: default PROTO_DEFAULT_MAX_FRAME */
    uv_loop_t *loop;                    /* read-only */
    char endpoint[CLIENT_ENDPOINT_MAX]; /* read-only: "IPv4:port" */
    enum client_conn_state state;       /* read-only */
    char errmsg[CLIENT_ERRMSG_MAX];     /* read-only: why the last call/connect failed, or
                                         * why the conn failed */
    uint32_t n_pending;                 /* read-only: calls awaiting their callback */
    /* private */
    struct sockaddr_in addr;
    uv_tcp_t tcp;
    uv_prepare_t flush;                 /* runs before the loop polls: sends queued frames, so
                                         * every call made in one loop iteration shares one
                                         * write, and no call does I/O from inside
                                         * client_conn_call */
    uv_connect_t connect_req;
    uv_write_t write_req;
    int open_handles;                   /* handles not yet closed (tcp, flush) */
    bool writing;                       /* write_req is in flight */
    bool failing;                       /* pending calls are being failed right now */
    msgpack_sbuffer out_queued;         /* frames not yet handed to uv_write */
    msgpack_sbuffer out_writing;        /* frames of the uv_write in flight */
    struct frame_reader reader;
    msgpack_unpacked unpacked;
    struct client_slot *slots;
    uint32_t n_slots;
    uint32_t free_slot;                 /* head of the free list, n_slots = none */
    uint32_t next_seq;                  /* high half of the next id */
    client_close_fn close_cb;
    struct ssl_ctx_st *tls_ctx;         /* client_set_tls's context when init ran, or NULL */
    struct tls_session tls;             /* after connect, with tls_ctx */
    char *tls_in;                       /* ciphertext read buffer */
};

/* TLS for every conn initialised from now on in this process (raftctl --cacert/--cert/--key;
 * a member's raft.api.* files): CTX's reference is taken (the caller keeps its own), NULL
 * turns TLS off. Calls queued before the handshake completes are sent after it; a failed
 * handshake fails them as status 3 "unreachable" naming OpenSSL's reason. Not thread-safe:
 * call it before the conns are made. */
void client_set_tls(struct ssl_ctx_st *ctx);
/* Whether client_set_tls set a context. */
bool client_tls_enabled(void);

/* Prepares CONN for ENDPOINT ("IPv4:port") on LOOP. CONN is caller memory and must stay put
 * until the close callback; init zeroes it, so set data / error_cb / max_request_bytes after. Returns 0, or -1 with conn->errmsg set and nothing to free
 * (bad endpoint, out of memory). After 0, client_conn_close must be called eventually. */
int client_conn_init(struct client_conn *conn, uv_loop_t *loop, const char *endpoint);

/* Starts connecting. 0, or -1 (state FAILED, errmsg set) when the connect could not even be
 * started (e.g. no file descriptors left). A later connect failure fails pending calls. */
int client_conn_connect(struct client_conn *conn);

/* Sends METHOD with the args packed by PACK(pk, ARG) (PACK NULL = {}); assigns the id.
 * CB(conn, reply, DATA) runs exactly once, later, from the loop (never from inside this
 * function). Returns 0, or -1 with conn->errmsg set and CB never called (conn failed or
 * closing, args failed to pack, request larger than max_request_bytes, out of memory). */
int client_conn_call(struct client_conn *conn, const char *method, client_pack_fn pack, void *arg,
                     client_reply_fn cb, void *data);

/* Fails every pending call with a local error (status 3, CODE, message "ENDPOINT: ...") and
 * stops I/O (state FAILED). For callers' own deadlines, e.g. code CLIENT_CODE_TIMEOUT (the
 * local reply then has sys_error UV_ETIMEDOUT). No-op unless CONNECTING or CONNECTED. */
void client_conn_abort(struct client_conn *conn, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails pending calls with code "closed", closes the socket and, once libuv has released
 * it, frees the conn's buffers and calls CB (may be NULL). Idempotent. */
void client_conn_close(struct client_conn *conn, client_close_fn cb);

/* ---------------------------------------------------------------------------------------- */
/* Synchronous helpers (each runs a private uv loop; never call them from a loop callback)   */

/* A reply that outlives the call. Initialised by client_call_*; release with
 * client_sync_reply_free (also fine on a zeroed struct, and idempotent). */
struct client_sync_reply {
    struct client_reply reply;          /* read-only; reply.result valid until free */
    char endpoint[CLIENT_ENDPOINT_MAX]; /* read-only: the endpoint that produced the reply */
    unsigned hops;                      /* read-only: redirects followed (client_call_leader) */
    /* private */
    char *payload;                      /* malloc'd copy of the reply frame */
    msgpack_unpacked unpacked;
};

/* Calls METHOD on ENDPOINT and waits at most TIMEOUT_MS (0 = no limit) for the reply, which
 * it stores in OUT. Returns OUT->reply.status: a timeout is status 3 code "timeout". */
int client_call_sync(const char *endpoint, const char *method, client_pack_fn pack, void *arg,
                     unsigned timeout_ms, struct client_sync_reply *out);

/* Calls METHOD on each of the N endpoints in parallel on one loop, every call with the same
 * TIMEOUT_MS; OUTS[i] receives ENDPOINTS[i]'s reply or local error. An endpoint that does
 * not parse (or is NULL) gets status 3 "unreachable". Returns 0, or -1 if the private loop could not be
 * created (every OUTS[i] then holds status 1 "failed"). */
int client_call_parallel(size_t n, const char *const endpoints[], const char *method,
                         client_pack_fn pack, void *arg, unsigned timeout_ms,
                         struct client_sync_reply outs[]);

/* client_call_sync, then while the reply is status 3 "not_leader" with a leader_api and
 * fewer than MAX_HOPS redirects were followed, the same call to leader_api (each hop with
 * TIMEOUT_MS). OUT holds the last reply; OUT->endpoint says who gave it. */
int client_call_leader(const char *endpoint, const char *method, client_pack_fn pack, void *arg,
                       unsigned timeout_ms, unsigned max_hops, struct client_sync_reply *out);

void client_sync_reply_free(struct client_sync_reply *out);

#endif
