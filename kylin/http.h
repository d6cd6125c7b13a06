/* http: a small asynchronous HTTP client for the loop thread: libcurl's multi-socket interface
 * driven by libuv (one uv_poll_t per socket curl opens, one uv_timer_t for curl's timeouts;
 * the pattern of curl's docs/examples/multi-uv.c). raftnode uses it to talk to the Kylin node
 * on its own host: health probes, claims and pokes (kylin/api.h builds them).
 *
 *   kylin_http_init     once per client, on the loop thread
 *   kylin_http_request  starts one request; the reply comes to CB on the loop thread, never
 *                       from inside kylin_http_request itself
 *   kylin_http_close    cancels what is pending (their callbacks run, inside this call, with
 *                       error "cancelled") and closes the handles; CLOSE_CB runs once libuv
 *                       closed them all. The struct must stay in place until then.
 *
 * Every reply reaches its callback exactly once: a transport error (cannot connect, timeout,
 * reply larger than the bound, cancelled) has status 0 and an error text saying what failed,
 * on which URL, and what to do; otherwise the error is NULL and status is the HTTP status
 * (a 404 or 503 is not a transport error: the caller judges). A body larger than
 * KYLIN_HTTP_MAX_BODY is refused, by Content-Length before reading when there is one.
 *
 * Requests go straight to the URL's host: proxies from the environment (http_proxy...) are
 * ignored, redirects are not followed, only http and https are allowed, no signals are used.
 *
 * Ownership: a struct kylin_http_req is the caller's (embed it and find the owner with a
 * container-of macro, or use req->data); it must stay in place from kylin_http_request until
 * its callback ran, and may be reused or freed inside or after the callback. METHOD, URL,
 * HEADERS and BODY are copied by kylin_http_request. The reply, its body and its error text
 * belong to the client and are valid only during the callback (they do not live in the
 * request, so reusing or freeing it inside the callback leaves them intact).
 *
 * Owns: a CURLM handle, its uv_poll_t handles and one uv_timer_t. Calls: libcurl, libuv. */
#ifndef KYLIN_HTTP_H
#define KYLIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#define KYLIN_HTTP_MAX_BODY (1024u * 1024u) /* replies larger than 1 MiB are refused */
#define KYLIN_HTTP_ERROR_MAX 512

struct kylin_http;
struct kylin_http_req;

struct kylin_http_reply {
    long status;       /* HTTP status, 0 when error is set */
    const char *body;  /* NUL-terminated after body_len bytes; "" when there is none */
    size_t body_len;
    const char *error; /* NULL on success; else what failed, on which URL, what to do */
};

typedef void (*kylin_http_cb)(struct kylin_http_req *req, const struct kylin_http_reply *reply);
typedef void (*kylin_http_close_cb)(struct kylin_http *h);

struct kylin_http_req {
    void *data;                   /* public: the caller's */
    struct kylin_http *client;    /* read-only */
    kylin_http_cb cb;             /* private */
    void *easy;                   /* private: CURL * */
    void *headers;                /* private: struct curl_slist * */
    char method[8];               /* private */
    char *url;                    /* private: copy, for error texts */
    long timeout_ms;              /* private */
    char *buf;                    /* private: the reply body */
    size_t len, cap;              /* private */
    bool oversize;                /* private: the body passed KYLIN_HTTP_MAX_BODY */
    bool nomem;                   /* private: the body could not be stored */
    struct kylin_http_req *prev, *next; /* private: the client's active list */
    char curl_error[256];         /* private: CURLOPT_ERRORBUFFER (CURL_ERROR_SIZE) */
};

struct kylin_http {
    void *data;                   /* public: the caller's */
    uv_loop_t *loop;              /* read-only */
    void *multi;                  /* private: CURLM * */
    uv_timer_t timer;             /* private: curl's timeout */
    struct kylin_http_sock *socks; /* private: sockets curl asked us to watch */
    struct kylin_http_req *active; /* private: requests in flight */
    unsigned handles_open;        /* private: libuv handles not closed yet (timer + polls) */
    unsigned dispatching;         /* private: > 0 while replies are being delivered */
    bool closing;                 /* read-only: kylin_http_close was called */
    bool torn_down;               /* private: curl is gone, handles are closing */
    kylin_http_close_cb close_cb; /* private */
};

/* Initialises H on LOOP. KYLIN_OK, or KYLIN_EIO / KYLIN_ENOMEM with ERR (may be NULL); on
 * failure nothing is left to close. */
int kylin_http_init(struct kylin_http *h, uv_loop_t *loop, char *err, size_t err_size);

/* Starts METHOD ("GET", "POST", "PUT" or "DELETE") on URL with HEADERS (NULL-terminated
 * "Name: value" strings, or NULL) and BODY of BODY_LEN bytes (NULL for none), failing after
 * TIMEOUT_MS (> 0) with a timeout error. CB receives the reply. KYLIN_OK; else
 * KYLIN_EINVAL / KYLIN_ENOMEM / KYLIN_EIO / KYLIN_ECLOSED with ERR, and CB will not run. */
int kylin_http_request(struct kylin_http *h, struct kylin_http_req *req, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t body_len, long timeout_ms,
                       kylin_http_cb cb, char *err, size_t err_size);

/* Number of requests in flight. */
unsigned kylin_http_pending(const struct kylin_http *h);

/* Cancels every pending request (their callbacks run with error "cancelled" before this
 * returns; kylin_http_request from them gets KYLIN_ECLOSED) and closes the libuv handles; CLOSE_CB (may be NULL) runs on the loop once they are closed. Safe from inside a
 * reply callback. KYLIN_ECLOSED when called twice. */
int kylin_http_close(struct kylin_http *h, kylin_http_close_cb close_cb);

#endif
