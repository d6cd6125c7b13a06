/* http: libmicrohttpd on its own thread, every answer built on the loop thread (see http.h).
 *
 * A request's life, with the thread that runs each step:
 *
 *   MHD thread   access_cb #1: route from the URL -> job; suspend; queue; uv_async_send
 *   loop thread  wake_cb: take the queue; http_answer(); job->answered = true; resume
 *   MHD thread   access_cb #2: queue the prepared response; completed_cb frees the job
 *
 * A job is touched by one thread at a time: the MHD thread until it is queued, the loop
 * thread from the queue until resume, the MHD thread after (the lock hands it over). */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/queue.h"
#include "metrics.h"

struct http_job {
    queue link;                    /* in http.queue while waiting for the loop */
    struct http *h;
    struct MHD_Connection *conn;
    enum http_route route;
    const char *path;              /* static: the metrics label of the route */
    size_t name_len;
    char name[HTTP_NAME_MAX + 1];
    /* the answer: written by the loop before answered is set (under lock) */
    bool answered;
    bool queued;                   /* MHD thread: the response was handed to libmicrohttpd */
    unsigned status;
    char *body;                    /* malloc'd; handed to libmicrohttpd, which frees it */
    size_t body_len;
    const char *content_type;
};

static const char *route_path(enum http_route r)
{
    switch (r) {
    case HTTP_ROUTE_METRICS: return "/metrics";
    case HTTP_ROUTE_HEALTH: return "/health";
    case HTTP_ROUTE_READY: return "/ready";
    case HTTP_ROUTE_STATUS: return "/v1/status";
    case HTTP_ROUTE_ENGINES: return "/v1/engines";
    case HTTP_ROUTE_PROJECTS: return "/v1/projects";
    case HTTP_ROUTE_PROJECT: return "/v1/projects/NAME";
    default: return "other";
    }
}

/* The route of METHOD URL; NAME gets the project name of /v1/projects/NAME. */
static enum http_route route_of(const char *method, const char *url, char *name, size_t *name_len)
{
    static const struct {
        const char *url;
        enum http_route route;
    } fixed[] = {
        {"/metrics", HTTP_ROUTE_METRICS}, {"/health", HTTP_ROUTE_HEALTH},       {"/ready", HTTP_ROUTE_READY},
        {"/v1/status", HTTP_ROUTE_STATUS}, {"/v1/engines", HTTP_ROUTE_ENGINES}, {"/v1/projects", HTTP_ROUTE_PROJECTS},
    };
    static const char prefix[] = "/v1/projects/";
    enum http_route route = HTTP_ROUTE_NOT_FOUND;

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(url, fixed[i].url) == 0) {
            route = fixed[i].route;
        }
    }
    if (route == HTTP_ROUTE_NOT_FOUND && strncmp(url, prefix, sizeof prefix - 1) == 0) {
        size_t len = strlen(url + sizeof prefix - 1);
        if (len == 0 || len > HTTP_NAME_MAX) {
            return HTTP_ROUTE_BAD_REQUEST;
        }
        memcpy(name, url + sizeof prefix - 1, len + 1);
        *name_len = len;
        route = HTTP_ROUTE_PROJECT;
    }
    if (route != HTTP_ROUTE_NOT_FOUND && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return HTTP_ROUTE_BAD_METHOD;
    }
    return route;
}

/* A response built on this (MHD) thread, for when the loop cannot be asked. */
static enum MHD_Result respond_now(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc;
    if (r == NULL) {
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_job(struct http_job *job)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (job->body == NULL) {
        return respond_now(job->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    r = MHD_create_response_from_buffer(job->body_len, job->body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(job->body);
        job->body = NULL;
        return MHD_NO;
    }
    job->body = NULL; /* libmicrohttpd frees it with the response */
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, job->content_type);
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (job->status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    rc = MHD_queue_response(job->conn, job->status, r);
    MHD_destroy_response(r);
    return rc;
}

/* MHD thread. Called once with the headers, again per piece of body, and again after a
 * resume. */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct http *h = cls;
    struct http_job *job = *con_cls;
    bool answered, closing;

    (void)version;
    (void)upload_data;
    if (job != NULL) {
        uv_mutex_lock(&h->lock);
        answered = job->answered;
        uv_mutex_unlock(&h->lock);
        /* A body we did not ask for is discarded; the answer (400) goes out at once, and
         * libmicrohttpd closes the connection rather than read the rest. */
        *upload_data_size = 0;
        if (!answered || job->queued) {
            return MHD_YES;
        }
        job->queued = true;
        return respond_job(job);
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        return respond_now(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    job->h = h;
    job->conn = conn;
    job->route = route_of(method, url, job->name, &job->name_len);
    if (job->route == HTTP_ROUTE_METRICS || job->route == HTTP_ROUTE_HEALTH || job->route == HTTP_ROUTE_READY ||
        job->route == HTTP_ROUTE_STATUS || job->route == HTTP_ROUTE_ENGINES || job->route == HTTP_ROUTE_PROJECTS ||
        job->route == HTTP_ROUTE_PROJECT) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if ((cl != NULL && strcmp(cl, "0") != 0) || te != NULL) {
            job->route = HTTP_ROUTE_BAD_REQUEST; /* a GET with a body */
        }
    }
    job->path = route_path(job->route);
    *con_cls = job;

    uv_mutex_lock(&h->lock);
    closing = h->closing;
    if (!closing) {
        MHD_suspend_connection(conn);
        QUEUE_PUSH(&h->queue, &job->link);
    }
    uv_mutex_unlock(&h->lock);
    if (closing) {
        return respond_now(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "member is shutting down\n");
    }
    if (uv_async_send(&h->wake) != 0) {
        /* Cannot happen while the handle is open; the next wake-up finds the job anyway. */
        return MHD_YES;
    }
    return MHD_YES;
}

/* MHD thread: the connection is done with (answered, timed out or closed). */
static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_job *job = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (job != NULL) {
        free(job->body);
        free(job);
        *con_cls = NULL;
    }
}

/* Loop thread: answer every queued job. */
static void wake_cb(uv_async_t *a)
{
    struct http *h = a->data;
    queue todo;
    queue *q;

    QUEUE_INIT(&todo);
    uv_mutex_lock(&h->lock);
    while (!QUEUE_IS_EMPTY(&h->queue)) {
        q = QUEUE_HEAD(&h->queue);
        QUEUE_REMOVE(q);
        QUEUE_PUSH(&todo, q);
    }
    uv_mutex_unlock(&h->lock);
    while (!QUEUE_IS_EMPTY(&todo)) {
        q = QUEUE_HEAD(&todo);
        QUEUE_REMOVE(q);
        struct http_job *job = QUEUE_DATA(q, struct http_job, link);
        unsigned status = http_answer(h, job->route, job->name, job->name_len, &job->body, &job->body_len,
                                      &job->content_type);
        metrics_http_request(job->path, status);
        uv_mutex_lock(&h->lock);
        job->status = status;
        job->answered = true;
        uv_mutex_unlock(&h->lock);
        MHD_resume_connection(job->conn); /* from here on the job is the MHD thread's */
    }
}

static void lag_cb(uv_timer_t *t)
{
    http_metrics_tick(t->data);
}

static void handle_closed(uv_handle_t *handle)
{
    (void)handle; /* embedded in struct http, which outlives the loop */
}

/* No HTTP port, only the figures for the InfluxDB push: the lag timer (loop lag, leader
 * changes) runs, libmicrohttpd does not. */
static int start_metrics_only(struct http *h)
{
    int rv = uv_timer_init(h->ctx.loop, &h->lag_timer);
    if (rv != 0) {
        log_error("http: uv_timer_init: %s", uv_strerror(rv));
        return -1;
    }
    h->lag_timer.data = h;
    h->lag_last_ns = uv_hrtime();
    rv = uv_timer_start(&h->lag_timer, lag_cb, HTTP_LAG_TICK_MS, HTTP_LAG_TICK_MS);
    if (rv != 0) {
        log_error("http: uv_timer_start: %s", uv_strerror(rv));
        uv_close((uv_handle_t *)&h->lag_timer, handle_closed);
        return -1;
    }
    h->started = true;
    return 0;
}

int http_start(struct http *h, const struct api_ctx *ctx, const char *address)
{
    char host[64];
    const char *colon = address != NULL ? strrchr(address, ':') : NULL;
    struct sockaddr_in sa;
    int rv;

    memset(h, 0, sizeof *h);
    h->ctx = *ctx;
    QUEUE_INIT(&h->queue);
    if (address == NULL) {
        return start_metrics_only(h);
    }
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        log_error("http: bad address %s (want IPv4:port)", address);
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    rv = uv_ip4_addr(host, atoi(colon + 1), &sa);
    if (rv != 0) {
        log_error("http: bad address %s: %s", address, uv_strerror(rv));
        return -1;
    }
    if (uv_mutex_init(&h->lock) != 0) {
        log_error("http: cannot create a mutex");
        return -1;
    }
    rv = uv_async_init(ctx->loop, &h->wake, wake_cb);
    if (rv != 0) {
        log_error("http: uv_async_init: %s", uv_strerror(rv));
        uv_mutex_destroy(&h->lock);
        return -1;
    }
    h->wake.data = h;
    rv = uv_timer_init(ctx->loop, &h->lag_timer);
    if (rv != 0) {
        log_error("http: uv_timer_init: %s", uv_strerror(rv));
        goto err_async;
    }
    h->lag_timer.data = h;
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, access_cb, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        1u, MHD_OPTION_END);
    if (h->daemon == NULL) {
        log_error("http: cannot serve on %s (address in use, or not this host's?)", address);
        goto err_timer;
    }
    h->lag_last_ns = uv_hrtime();
    rv = uv_timer_start(&h->lag_timer, lag_cb, HTTP_LAG_TICK_MS, HTTP_LAG_TICK_MS);
    if (rv != 0) {
        log_error("http: uv_timer_start: %s", uv_strerror(rv));
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
        goto err_timer;
    }
    h->started = true;
    log_info("http: serving /metrics, /health, /ready and /v1/* on %s", address);
    return 0;

err_timer:
    uv_close((uv_handle_t *)&h->lag_timer, handle_closed);
err_async:
    uv_close((uv_handle_t *)&h->wake, handle_closed);
    uv_mutex_destroy(&h->lock);
    return -1;
}

void http_close(struct http *h)
{
    queue *q;

    if (!h->started) {
        return;
    }
    h->started = false;
    if (h->daemon == NULL) { /* metrics only */
        free(h->reasons_text);
        h->reasons_text = NULL;
        uv_close((uv_handle_t *)&h->lag_timer, handle_closed);
        return;
    }
    /* Nothing new is queued once closing is set; everything already queued is answered 503
     * and resumed, so libmicrohttpd holds no suspended connection when it stops. */
    uv_mutex_lock(&h->lock);
    h->closing = true;
    while (!QUEUE_IS_EMPTY(&h->queue)) {
        q = QUEUE_HEAD(&h->queue);
        QUEUE_REMOVE(q);
        struct http_job *job = QUEUE_DATA(q, struct http_job, link);
        static const char text[] = "member is shutting down\n";
        job->body = malloc(sizeof text);
        if (job->body != NULL) {
            memcpy(job->body, text, sizeof text);
        }
        job->body_len = sizeof text - 1;
        job->content_type = "text/plain; charset=utf-8";
        job->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        job->answered = true;
        MHD_resume_connection(job->conn);
    }
    uv_mutex_unlock(&h->lock);
    MHD_stop_daemon(h->daemon); /* joins its thread; completed_cb frees every job */
    h->daemon = NULL;
    uv_mutex_destroy(&h->lock);
    free(h->reasons_text);
    h->reasons_text = NULL;
    uv_close((uv_handle_t *)&h->lag_timer, handle_closed);
    uv_close((uv_handle_t *)&h->wake, handle_closed);
}
