/* http: the member's HTTP port (raft.http.address; docs/observability.md): GET /metrics
 * (Prometheus text format 0.0.4), /health, /ready and the read-only JSON documents /v1/status,
 * /v1/engines, /v1/projects and /v1/projects/NAME.
 *
 * Threads: libmicrohttpd parses HTTP on its own thread (its internal polling thread). That
 * thread never reads raft, SQLite or any other member state: it turns a request into a
 * struct http_job, suspends the connection (MHD_suspend_connection), queues the job under
 * HTTP's lock and wakes the loop (uv_async_send). The loop thread builds every answer from its
 * own state (http_answer.c), marks the job answered and resumes the connection; libmicrohttpd
 * then calls back on its thread and sends the prepared body. Why libmicrohttpd and not a
 * parser on libuv: a maintained, fuzzed HTTP/1.1 server from Debian with connection limits,
 * timeouts, pipelining and HEAD handled for us, and the parser's CPU is kept off the raft
 * loop; the price is one hand-over per request, which the queue keeps cheap.
 *
 * Bounds: at most HTTP_MAX_CONNECTIONS connections (libmicrohttpd refuses more), an idle
 * timeout of HTTP_TIMEOUT_S, HTTP_MEMORY_LIMIT bytes of request per connection (longer
 * headers get 431/413 from libmicrohttpd), and bodies cut at HTTP_MAX_BODY (then 500). A job
 * is one per connection, so the queue holds at most HTTP_MAX_CONNECTIONS.
 *
 * Owns: the daemon, its jobs, the wake-up and the loop-lag timer. Calls: libmicrohttpd,
 * libuv, http_answer.c (on the loop thread). */
#ifndef RAFTNODE_HTTP_H
#define RAFTNODE_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api.h"

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_TIMEOUT_S 10
#define HTTP_MEMORY_LIMIT (32 * 1024)
#define HTTP_MAX_BODY (16u * 1024 * 1024)
#define HTTP_LAG_TICK_MS 100

struct MHD_Daemon;

/* What one request asks for (decided on libmicrohttpd's thread from the URL alone). */
enum http_route {
    HTTP_ROUTE_NOT_FOUND = 0,
    HTTP_ROUTE_BAD_METHOD, /* 405 */
    HTTP_ROUTE_BAD_REQUEST, /* 400: a body on a GET, a malformed path */
    HTTP_ROUTE_METRICS,
    HTTP_ROUTE_HEALTH,
    HTTP_ROUTE_READY,
    HTTP_ROUTE_STATUS,
    HTTP_ROUTE_ENGINES,
    HTTP_ROUTE_PROJECTS,
    HTTP_ROUTE_PROJECT, /* /v1/projects/NAME */
};

#define HTTP_NAME_MAX 300 /* longer names are answered 400 (project names are <= 255 bytes) */

struct http {
    struct api_ctx ctx;          /* read-only: copied at http_start */
    struct MHD_Daemon *daemon;   /* private */
    uv_async_t wake;             /* private: the daemon's thread -> the loop */
    uv_timer_t lag_timer;        /* private: loop lag and leader changes */
    uv_mutex_t lock;             /* private: guards queue and closing */
    void *queue[2];              /* private: jobs waiting for the loop */
    bool closing;                /* private, under lock */
    bool started;                /* read-only */
    uint64_t lag_last_ns;        /* private: when the lag timer last fired */
    uint64_t last_leader;        /* private: for raftnode_leader_changes_total */
    /* private: ownership changes by reason, re-counted when store->ownership_version moves */
    uint64_t reasons_version;
    bool reasons_valid;
    char *reasons_text;          /* rendered samples, malloc'd */
};

/* Copies CTX and serves on ADDRESS (IPv4:port). ADDRESS NULL: no HTTP port, only the
 * figures http_metrics_render needs (for the InfluxDB push). 0, or -1 after logging why. */
int http_start(struct http *h, const struct api_ctx *ctx, const char *address);
/* Answers every queued request 503, stops the daemon (joins its thread) and closes the
 * handles; safe when never started and when called twice. */
void http_close(struct http *h);

/* ---- http_answer.c: the loop thread's side ---- */

/* The answer to ROUTE (NAME/NAME_LEN for HTTP_ROUTE_PROJECT) from this member's state: the
 * HTTP status; *BODY (malloc'd, NUL-terminated, the caller frees; NULL only when out of
 * memory), *LEN and *CONTENT_TYPE (static). Loop thread only. */
unsigned http_answer(struct http *h, enum http_route route, const char *name, size_t name_len, char **body,
                     size_t *len, const char **content_type);
/* The /metrics text into B (http_metrics.c). */
struct metrics_buf;
void http_metrics_render(struct http *h, struct metrics_buf *b);
/* The lag timer's work: one loop-lag observation and the leader-change count. */
void http_metrics_tick(struct http *h);

#endif
