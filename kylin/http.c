/* http: libcurl's multi-socket interface on libuv (http.h has the contract).
 *
 * Wiring (curl's docs/examples/multi-uv.c):
 *   curl  --CURLMOPT_SOCKETFUNCTION(fd, IN|OUT|REMOVE)-->  uv_poll_start / uv_close
 *   curl  --CURLMOPT_TIMERFUNCTION(ms | -1)----------->   uv_timer_start / uv_timer_stop
 *   libuv --poll callback(fd, events)----------------->   curl_multi_socket_action(fd)
 *   libuv --timer callback---------------------------->   curl_multi_socket_action(TIMEOUT)
 *   after every socket_action: curl_multi_info_read -> each finished transfer -> its callback
 *
 * curl's callbacks never call curl or the user back (the timer is started even for 0 ms
 * instead of acting at once: curl forbids re-entering socket_action from its callbacks).
 * Close: every request is cancelled, the polls are closed while their sockets are still open
 * (curl closes them in curl_multi_cleanup), then curl is cleaned up and the timer closed; the
 * user's close callback runs after the last libuv close callback. A close from inside a reply
 * callback defers the teardown until the delivery loop is done with the multi handle. */
#include "http.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define HTTP_CONTAINER_OF(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* One socket curl asked us to watch. */
struct kylin_http_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct kylin_http *client;
    struct kylin_http_sock *prev, *next;
};

static void http_maybe_closed(struct kylin_http *h)
{
    if (h->torn_down && h->handles_open == 0) {
        curl_global_cleanup();
        if (h->close_cb != NULL) {
            h->close_cb(h);
        }
    }
}

static void http_sock_closed(uv_handle_t *handle)
{
    struct kylin_http_sock *sock = HTTP_CONTAINER_OF(handle, struct kylin_http_sock, poll);
    struct kylin_http *h = sock->client;

    free(sock);
    h->handles_open--;
    http_maybe_closed(h);
}

static void http_sock_close(struct kylin_http_sock *sock)
{
    struct kylin_http *h = sock->client;

    if (sock->prev != NULL) {
        sock->prev->next = sock->next;
    } else {
        h->socks = sock->next;
    }
    if (sock->next != NULL) {
        sock->next->prev = sock->prev;
    }
    sock->prev = sock->next = NULL;
    uv_close((uv_handle_t *)&sock->poll, http_sock_closed);
}

static void http_dispatch(struct kylin_http *h);

static void http_poll_cb(uv_poll_t *poll, int status, int events)
{
    struct kylin_http_sock *sock = HTTP_CONTAINER_OF(poll, struct kylin_http_sock, poll);
    struct kylin_http *h = sock->client;
    int flags = 0, running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    /* an error here is also reported per transfer by curl_multi_info_read */
    (void)curl_multi_socket_action(h->multi, sock->fd, flags, &running);
    http_dispatch(h);
}

static void http_timer_fired(uv_timer_t *timer)
{
    struct kylin_http *h = HTTP_CONTAINER_OF(timer, struct kylin_http, timer);
    int running;

    (void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    http_dispatch(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch FD for ACTION. Returning -1 fails the transfers. */
static int http_socket_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct kylin_http *h = userp;
    struct kylin_http_sock *sock = socketp;
    int events = 0;

    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (sock != NULL) {
            (void)curl_multi_assign(h->multi, fd, NULL);
            http_sock_close(sock);
        }
        return 0;
    }
    if (sock == NULL) {
        sock = calloc(1, sizeof *sock);
        if (sock == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(h->loop, &sock->poll, fd) != 0) {
            free(sock);
            return -1;
        }
        sock->fd = fd;
        sock->client = h;
        sock->next = h->socks;
        if (h->socks != NULL) {
            h->socks->prev = sock;
        }
        h->socks = sock;
        h->handles_open++;
        if (curl_multi_assign(h->multi, fd, sock) != CURLM_OK) {
            http_sock_close(sock);
            return -1;
        }
    }
    if (action & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (action & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    return uv_poll_start(&sock->poll, events, http_poll_cb) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: call socket_action(TIMEOUT) after TIMEOUT_MS; -1 cancels. */
static int http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct kylin_http *h = userp;

    (void)multi;
    if (timeout_ms < 0) {
        return uv_timer_stop(&h->timer) == 0 ? 0 : -1;
    }
    return uv_timer_start(&h->timer, http_timer_fired, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

/* CURLOPT_WRITEFUNCTION: append to the request's buffer, refusing more than the bound. */
static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct kylin_http_req *req = userdata;
    size_t n = size * nmemb, cap;
    char *grown;

    if (n > KYLIN_HTTP_MAX_BODY - req->len) {
        req->oversize = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (req->len + n + 1 > req->cap) {
        cap = req->cap == 0 ? 4096 : req->cap;
        while (cap < req->len + n + 1) {
            cap *= 2;
        }
        if (cap > KYLIN_HTTP_MAX_BODY + 1) {
            cap = KYLIN_HTTP_MAX_BODY + 1;
        }
        grown = realloc(req->buf, cap);
        if (grown == NULL) {
            req->nomem = true;
            return 0;
        }
        req->buf = grown;
        req->cap = cap;
    }
    memcpy(req->buf + req->len, ptr, n);
    req->len += n;
    req->buf[req->len] = '\0';
    return n;
}

/* Frees what the request holds, apart from the caller's struct. */
static void http_req_release(struct kylin_http_req *req)
{
    struct kylin_http *h = req->client;

    if (req->easy != NULL) {
        (void)curl_multi_remove_handle(h->multi, req->easy);
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
    }
    curl_slist_free_all(req->headers);
    req->headers = NULL;
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else if (h->active == req) {
        h->active = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->prev = req->next = NULL;
}

/* The error text of REQ's transfer that ended with RESULT, into ERROR. */
static void http_error_text(const struct kylin_http_req *req, CURLcode result, char *error, size_t size)
{
    const char *detail = req->curl_error[0] != '\0' ? req->curl_error : curl_easy_strerror(result);

    if (req->nomem) {
        kylin_errf(error, size, "%s %s: out of memory storing the answer", req->method, req->url);
    } else if (req->oversize || result == CURLE_FILESIZE_EXCEEDED) {
        kylin_errf(error, size,
                   "%s %s: the answer is larger than %u bytes and was refused; check that the URL "
                   "(raft.kylin.url) points at Kylin",
                   req->method, req->url, KYLIN_HTTP_MAX_BODY);
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
        kylin_errf(error, size,
                   "%s %s: no complete answer within %ld ms; check that Kylin runs, is not paused "
                   "or overloaded, and listens at raft.kylin.url",
                   req->method, req->url, req->timeout_ms);
    } else if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST) {
        kylin_errf(error, size,
                   "%s %s: cannot connect (%s); check that Kylin runs and that raft.kylin.url names "
                   "its address and port",
                   req->method, req->url, detail);
    } else {
        kylin_errf(error, size, "%s %s: %s (%s); check that Kylin runs and answers at raft.kylin.url",
                   req->method, req->url, curl_easy_strerror(result), detail);
    }
}

/* Delivers REQ's reply (RESULT from curl, or CANCELLED) to its callback. The reply's body and
 * error live outside REQ, so the callback may reuse or free REQ at once. */
static void http_finish(struct kylin_http_req *req, CURLcode result, bool cancelled)
{
    struct kylin_http_reply reply = {0, "", 0, NULL};
    kylin_http_cb cb = req->cb;
    char error[KYLIN_HTTP_ERROR_MAX];
    char *buf = req->buf, *url = req->url;
    long status = 0;

    if (cancelled) {
        kylin_errf(error, sizeof error, "%s %s: cancelled, the HTTP client is closing (raftnode is stopping)",
                   req->method, req->url);
        reply.error = error;
    } else if (result != CURLE_OK) {
        http_error_text(req, result, error, sizeof error);
        reply.error = error;
    } else if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status <= 0) {
        kylin_errf(error, sizeof error, "%s %s: no HTTP status in the answer; check that raft.kylin.url "
                   "points at Kylin", req->method, req->url);
        reply.error = error;
    } else {
        reply.status = status;
        if (buf != NULL) {
            reply.body = buf;
            reply.body_len = req->len;
        }
    }
    http_req_release(req);
    req->cb = NULL;
    req->buf = NULL;
    req->url = NULL;
    cb(req, &reply);
    free(buf);
    free(url);
}

static void http_teardown(struct kylin_http *h);

/* Delivers every finished transfer. */
static void http_dispatch(struct kylin_http *h)
{
    CURLMsg *msg;
    int left;
    struct kylin_http_req *req;
    char *priv;

    h->dispatching++;
    while (!h->torn_down && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        priv = NULL;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK || priv == NULL) {
            continue;
        }
        req = (struct kylin_http_req *)(void *)priv;
        http_finish(req, msg->data.result, false);
    }
    h->dispatching--;
    if (h->closing && !h->torn_down && h->dispatching == 0) {
        http_teardown(h);
    }
}

int kylin_http_init(struct kylin_http *h, uv_loop_t *loop, char *err, size_t err_size)
{
    int rc;

    memset(h, 0, sizeof *h);
    h->loop = loop;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kylin_errf(err, err_size, "http: libcurl could not be initialised (curl_global_init)");
        return KYLIN_EIO;
    }
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        kylin_errf(err, err_size, "http: out of memory creating a libcurl multi handle");
        rc = KYLIN_ENOMEM;
        goto err_global;
    }
    if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK) {
        kylin_errf(err, err_size, "http: libcurl refused the multi-socket callbacks");
        rc = KYLIN_EIO;
        goto err_multi;
    }
    rc = uv_timer_init(loop, &h->timer);
    if (rc != 0) {
        kylin_errf(err, err_size, "http: uv_timer_init: %s", uv_strerror(rc));
        rc = KYLIN_EIO;
        goto err_multi;
    }
    h->handles_open = 1;
    return KYLIN_OK;

err_multi:
    (void)curl_multi_cleanup(h->multi);
    h->multi = NULL;
err_global:
    curl_global_cleanup();
    return rc;
}

unsigned kylin_http_pending(const struct kylin_http *h)
{
    const struct kylin_http_req *req;
    unsigned n = 0;

    for (req = h->active; req != NULL; req = req->next) {
        n++;
    }
    return n;
}

static bool http_method_known(const char *method)
{
    return method != NULL && (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ||
                              strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0);
}

/* Sets the options of REQ's easy handle; false when libcurl refused one. */
static bool http_easy_setup(struct kylin_http_req *req, const char *body, size_t body_len)
{
    CURL *easy = req->easy;
    bool ok = true;

    ok = ok && curl_easy_setopt(easy, CURLOPT_URL, req->url) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)req) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->curl_error) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, http_write_cb) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_WRITEDATA, req) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KYLIN_HTTP_MAX_BODY) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(easy, CURLOPT_PROXY, "") == CURLE_OK; /* no proxy from the environment */
    ok = ok && curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers) == CURLE_OK;
    if (strcmp(req->method, "GET") == 0) {
        ok = ok && curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else {
        if (strcmp(req->method, "POST") != 0) {
            ok = ok && curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
        }
        if (body != NULL || strcmp(req->method, "POST") == 0) {
            /* the size first: COPYPOSTFIELDS copies that many bytes (body may hold NULs) */
            ok = ok && curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) == CURLE_OK;
            ok = ok && curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "") == CURLE_OK;
        }
    }
    return ok;
}

int kylin_http_request(struct kylin_http *h, struct kylin_http_req *req, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t body_len, long timeout_ms,
                       kylin_http_cb cb, char *err, size_t err_size)
{
    struct curl_slist *grown;
    size_t i;
    int rc;

    memset(req, 0, sizeof *req);
    if (h->closing) {
        kylin_errf(err, err_size, "http: %s %s: the HTTP client is closing", method != NULL ? method : "?",
                   url != NULL ? url : "?");
        return KYLIN_ECLOSED;
    }
    if (!http_method_known(method) || url == NULL || url[0] == '\0' || timeout_ms <= 0 || cb == NULL ||
        (body == NULL && body_len != 0)) {
        kylin_errf(err, err_size, "http: bad request (method %s, url %s, timeout %ld ms): a method of GET, "
                   "POST, PUT, DELETE, a URL, a callback and a positive timeout are needed",
                   method != NULL ? method : "(null)", url != NULL ? url : "(null)", timeout_ms);
        return KYLIN_EINVAL;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (strpbrk(headers[i], "\r\n") != NULL || strchr(headers[i], ':') == NULL) {
            kylin_errf(err, err_size, "http: %s %s: header %zu is not one \"Name: value\" line", method, url, i);
            return KYLIN_EINVAL;
        }
    }
    req->client = h;
    req->cb = cb;
    req->timeout_ms = timeout_ms;
    memcpy(req->method, method, strlen(method) + 1);
    rc = KYLIN_ENOMEM;
    req->url = strdup(url);
    if (req->url == NULL) {
        goto err_nomem;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        grown = curl_slist_append(req->headers, headers[i]);
        if (grown == NULL) {
            goto err_nomem;
        }
        req->headers = grown;
    }
    /* no "Expect: 100-continue" round trip on larger bodies */
    grown = curl_slist_append(req->headers, "Expect:");
    if (grown == NULL) {
        goto err_nomem;
    }
    req->headers = grown;
    req->easy = curl_easy_init();
    if (req->easy == NULL) {
        goto err_nomem;
    }
    if (!http_easy_setup(req, body, body_len)) {
        kylin_errf(err, err_size, "http: %s %s: libcurl refused an option (out of memory, or a libcurl "
                   "without http)", method, url);
        rc = KYLIN_EIO;
        goto err_easy;
    }
    if (curl_multi_add_handle(h->multi, req->easy) != CURLM_OK) {
        kylin_errf(err, err_size, "http: %s %s: libcurl refused the transfer (curl_multi_add_handle)", method, url);
        rc = KYLIN_EIO;
        goto err_easy;
    }
    req->next = h->active;
    if (h->active != NULL) {
        h->active->prev = req;
    }
    h->active = req;
    return KYLIN_OK;

err_nomem:
    kylin_errf(err, err_size, "http: %s %s: out of memory", method, url);
err_easy:
    if (req->easy != NULL) {
        curl_easy_cleanup(req->easy);
    }
    curl_slist_free_all(req->headers);
    free(req->url);
    memset(req, 0, sizeof *req);
    return rc;
}

static void http_timer_closed(uv_handle_t *handle)
{
    struct kylin_http *h = HTTP_CONTAINER_OF(handle, struct kylin_http, timer);

    h->handles_open--;
    http_maybe_closed(h);
}

/* No request is active: close the polls while curl's sockets are still open, then curl, then
 * the timer. */
static void http_teardown(struct kylin_http *h)
{
    h->torn_down = true;
    while (h->socks != NULL) {
        (void)curl_multi_assign(h->multi, h->socks->fd, NULL);
        http_sock_close(h->socks);
    }
    /* curl_multi_cleanup closes cached connections: it must not call back into us */
    (void)curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    (void)curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
    (void)curl_multi_cleanup(h->multi);
    h->multi = NULL;
    uv_close((uv_handle_t *)&h->timer, http_timer_closed);
}

int kylin_http_close(struct kylin_http *h, kylin_http_close_cb close_cb)
{
    struct kylin_http_req *req;

    if (h->closing) {
        return KYLIN_ECLOSED;
    }
    h->closing = true;
    h->close_cb = close_cb;
    h->dispatching++; /* a callback below may not tear down under us */
    while ((req = h->active) != NULL) {
        http_finish(req, CURLE_OK, true);
    }
    h->dispatching--;
    if (h->dispatching == 0) {
        http_teardown(h);
    }
    return KYLIN_OK;
}
