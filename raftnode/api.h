/* api: the TCP listener on raft.api.address, its connections and the framing of
 * docs/protocol.md. A bad frame closes only its own connection; everyone else is served.
 *
 * Owns: the listener, every struct api_conn, and the copy of struct api_ctx it was started
 * with. Calls: libuv, common/frame.h, api_frame.h, handlers.h (dispatch), and its member only
 * through struct api_ctx: the API layer never sees struct node.
 *
 * Ownership: struct api_conn is heap-allocated per connection and reference counted: a
 * pending write or barrier holds a reference (api_conn_ref) so a reply to a connection that
 * closed meanwhile is dropped safely; the struct is freed when the handle's close callback
 * ran and the count reached zero. */
#ifndef RAFTNODE_API_H
#define RAFTNODE_API_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/frame.h"
#include "common/tls.h"

struct autopilot;
struct config;
struct engine;
struct fsm_glue;
struct raft_fix;
struct kylin_link;
struct mirror;
struct proposals;
struct raft;
struct scheduler;
struct store;

/* What only the member itself can answer (node.c implements these on struct node). */
struct api_host {
    void *node;                                                 /* opaque to the API */
    uint64_t (*leader)(void *node, char *api, size_t cap);      /* node_leader */
    uint64_t (*applied_index)(void *node);                      /* node_applied_index */
    const char *(*state_name)(void *node);                      /* node_state_name */
    bool (*running)(void *node);                                /* not shutting down */
    /* Optional: too many writes wait for commit (proposals_full): decode no requests until
     * the host calls api_resume. */
    bool (*writes_full)(void *node);
    /* Optional (NULL: always open): false while plain reads are held after a start
     * (read_gate.h); *TARGET: the applied index they wait for. */
    bool (*reads_open)(void *node, uint64_t *target);
};

/* The narrow context the API layer and its handlers get at api_start: the parts of the member
 * they use, and nothing else. All pointers are borrowed and outlive the api. */
struct bgworker;
struct api_ctx {
    uv_loop_t *loop;
    const struct config *cfg;       /* node_id, api_address, join */
    struct store *store;            /* reads */
    struct raft *raft;              /* state, barriers, membership changes, transfers */
    struct proposals *proposals;    /* writes (api_submit) */
    struct scheduler *scheduler;    /* heartbeats, plans, silence */
    struct engine *engine;          /* this member's lease (project.show) */
    struct mirror *mirror;          /* metastore.status */
    struct kylin_link *kylin;       /* kylin.status, project.show (raft.kylin.url) */
    struct autopilot *autopilot;    /* autopilot.status */
    const struct raft_fix *raft_fix; /* /metrics: log append durations (NULL: none) */
    const struct fsm_glue *fsm;     /* /metrics: snapshot index (NULL: none) */
    struct bgworker *bg;            /* rebalance plans off the loop (plan_async.h); NULL: on it */
    struct api_host host;
};

/* The client API's resource bounds (docs/security.md, "Limits"); config keys raft.api.*. */
struct api_limits {
    unsigned max_frame;          /* raft.api.max-frame-bytes */
    unsigned max_connections;    /* raft.api.max-connections: more are accepted and closed */
    unsigned idle_timeout_ms;    /* raft.api.idle-timeout-ms: no complete request, nothing owed */
    unsigned slow_timeout_ms;    /* raft.api.slow-client-timeout-ms: replies queued, none written */
    size_t max_pending;          /* raft.api.max-pending-bytes: parked requests + unsent replies */
};

/* What a connection may do (docs/security.md). Without API TLS every client is an admin. */
enum api_role {
    API_ROLE_ADMIN,  /* any method: no TLS, or a certificate CN listed in raft.api.admins */
    API_ROLE_MEMBER, /* CN member-<id>: reads and the calls members make to each other */
    API_ROLE_READER, /* any other certificate signed by the CA: reads only */
};

struct api {
    uv_tcp_t listener;       /* private */
    struct ssl_ctx_st *tls;  /* read-only: raft.api.*-file, NULL = plaintext */
    char *tls_in;            /* private: ciphertext read buffer (one read at a time) */
    uv_timer_t sweep;        /* private: idle and slow-client checks */
    uv_idle_t pump;          /* private: runs connections with buffered requests, a batch each */
    struct api_ctx ctx;      /* read-only: copied at api_start */
    struct api_limits limits; /* read-only */
    unsigned max_frame;      /* read-only: raft.api.max-frame-bytes */
    void *conns[2];          /* private: queue of open connections */
    void *ready[2];          /* private: connections with a complete request buffered */
    unsigned n_conns;        /* read-only */
    unsigned refused;        /* private: connections over the cap since the last WARN */
    uint64_t refused_log_ms; /* private: when that WARN was written */
    bool listening;          /* read-only */
};

struct api_conn {
    uv_tcp_t tcp;            /* private */
    struct api *api;         /* read-only */
    struct frame_reader reader; /* private: cuts the request stream into frames */
    unsigned refs;           /* private */
    bool closing;            /* read-only: no reply reaches the peer any more */
    bool reading;            /* private: uv_read_start is in effect */
    bool throttled;          /* private: over max_pending; not read until below half of it */
    bool in_ready;           /* private: linked in api->ready */
    size_t parked_bytes;     /* private: frame bytes of requests waiting for raft */
    uint64_t last_request_ms; /* private: loop time of the last complete request (or accept) */
    uint64_t write_progress_ms; /* private: last write completion, or when the queue began */
    void *queue[2];          /* private */
    void *ready_link[2];     /* private: in api->ready */
    char peer[64];           /* read-only: "ip:port" of the client, for logs */
    struct tls_session tls;  /* private: tls.ssl NULL without API TLS */
    enum api_role role;      /* read-only: valid once a request is handled */
    uint64_t member_id;      /* read-only: API_ROLE_MEMBER's id */
    char who[80];            /* read-only: the certificate CN, or "peer ip:port" without TLS */
};

/* One decoded request, valid during its handler call only (args points into the frame). */
struct api_req {
    const struct api_ctx *ctx;
    struct api_conn *conn;
    uint64_t id;
    const char *method;
    const msgpack_object *args; /* map; an empty map when omitted */
    const char *method_name;    /* set by handlers_dispatch: the method table's static name */
    uint64_t start_ns;          /* set by handlers_dispatch: uv_hrtime(), for metrics.h */
    size_t frame_bytes;         /* the request's frame size (pending-bytes accounting) */
};

/* A reply under construction: api_reply_begin packs the header, the caller packs exactly one
 * result value when status == 0, then api_reply_send frames and writes it (and frees). */
struct api_reply {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
};

/* Copies CTX and LIMITS and listens on ADDRESS; with raft.api.cert-file (ctx->cfg) set, TLS
 * with required client certificates (a->tls, which the member also uses as its client
 * identity). 0, or -1 after logging why (an address in use is named as such). */
int api_start(struct api *a, const struct api_ctx *ctx, const char *address,
              const struct api_limits *limits);
/* Stops listening and closes every connection; their pending replies are dropped. */
void api_close(struct api *a);
/* host.writes_full turned false: connections with buffered requests are pumped again. */
void api_resume(struct api *a);

void api_conn_ref(struct api_conn *c);
void api_conn_unref(struct api_conn *c);
/* A request of BYTES waits for raft (api_pending.c): counted in the connection's pending
 * bytes until unparked, which may resume reading it. */
void api_conn_park(struct api_conn *c, size_t bytes);
void api_conn_unpark(struct api_conn *c, size_t bytes);

/* status 0: a "result" key follows and the caller packs its value; otherwise ERROR is sent. */
void api_reply_begin(struct api_reply *r, const struct api_ctx *ctx, uint64_t id, int status,
                     const char *code, const char *error);
void api_reply_send(struct api_conn *c, struct api_reply *r);
/* Shorthands: an error reply; a reply whose result is a map {"index": INDEX}. */
void api_reply_error(struct api_conn *c, uint64_t id, int status, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* not_leader / no_leader / not_joined as appropriate for this member right now. */
void api_reply_redirect(struct api_conn *c, uint64_t id);

#endif
