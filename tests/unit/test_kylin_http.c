/* Unit tests for kylin/http.c: the libcurl + libuv client against a tiny HTTP server on
 * 127.0.0.1:0 running on the same loop in this process. The server answers by path:
 *   /ok         200 {"ok":true}
 *   /echo       200 with the raw request (method line, headers, body) as the body
 *   /status503  503 {"status":"DOWN"}
 *   /slow       never answers (the client's timeout)
 *   /big        200, Content-Length 2 MiB (refused before reading)
 *   /big-nolen  200, 2 MiB without Content-Length, then close (refused while reading)
 *   /exact      200, exactly KYLIN_HTTP_MAX_BODY bytes (accepted)
 *   /kylin/api/health     503 with an actuator document whose metaStore is UP
 *   /kylin/api/epoch, /kylin/api/broadcast   like /echo */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "kylin/api.h"
#include "kylin/error.h"
#include "kylin/health.h"
#include "kylin/http.h"

#define BIG (2u * 1024u * 1024u)

struct conn {
    uv_tcp_t tcp;
    char in[65536];
    size_t in_len;
    bool answered;
    char *out;
    uv_write_t write;
    struct conn *next;
};

struct fixture {
    uv_loop_t loop;
    uv_tcp_t server;
    int port;
    struct conn *conns;
    struct kylin_http http;
    bool http_closed;
    unsigned replies_wanted, replies_seen;
};

static struct fixture *F;

struct result {
    struct kylin_http_req req;
    bool done;
    long status;
    char *body;
    size_t body_len;
    char *error;
};

static void conn_closed(uv_handle_t *handle)
{
    struct conn *c = handle->data, **p;
    for (p = &F->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    free(c->out);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    (void)status; /* the client may hang up first (the oversize cases) */
    conn_close(c);
}

static void reply(struct conn *c, const char *head_fmt, size_t body_len, const char *body, bool with_length)
{
    char head[256];
    int n;
    uv_buf_t buf;

    if (with_length) {
        n = snprintf(head, sizeof head, "%sContent-Length: %zu\r\nConnection: close\r\n\r\n", head_fmt, body_len);
    } else {
        n = snprintf(head, sizeof head, "%sConnection: close\r\n\r\n", head_fmt);
    }
    assert_true(n > 0 && (size_t)n < sizeof head);
    c->out = malloc((size_t)n + body_len);
    assert_non_null(c->out);
    memcpy(c->out, head, (size_t)n);
    memcpy(c->out + n, body, body_len);
    buf = uv_buf_init(c->out, (unsigned)((size_t)n + body_len));
    c->write.data = c;
    assert_int_equal(uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, written), 0);
}

/* Answers once the request (headers and Content-Length body) is complete. */
static void route(struct conn *c)
{
    char *end = strstr(c->in, "\r\n\r\n"), *cl;
    size_t head_len, want = 0;
    char *body;

    if (end == NULL) {
        return;
    }
    head_len = (size_t)(end - c->in) + 4;
    cl = strcasestr(c->in, "content-length:");
    if (cl != NULL && cl < end) {
        want = strtoul(cl + 15, NULL, 10);
    }
    if (c->in_len < head_len + want) {
        return;
    }
    c->answered = true;
    if (strncmp(strchr(c->in, ' ') + 1, "/ok ", 4) == 0) {
        reply(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", 11, "{\"ok\":true}", true);
    } else if (strncmp(strchr(c->in, ' ') + 1, "/echo ", 6) == 0) {
        reply(c, "HTTP/1.1 200 OK\r\n", c->in_len, c->in, true);
    } else if (strncmp(strchr(c->in, ' ') + 1, "/kylin/api/epoch ", 17) == 0 ||
               strncmp(strchr(c->in, ' ') + 1, "/kylin/api/broadcast ", 21) == 0) {
        reply(c, "HTTP/1.1 200 OK\r\n", c->in_len, c->in, true);
    } else if (strncmp(strchr(c->in, ' ') + 1, "/kylin/api/health ", 18) == 0) {
        static const char doc[] = "{\"status\":\"DOWN\",\"components\":{\"metaStore\":{\"status\":\"UP\"},"
                                  "\"sparkContext\":{\"status\":\"DOWN\"}}}";
        reply(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n", sizeof doc - 1, doc, true);
    } else if (strncmp(strchr(c->in, ' ') + 1, "/status503 ", 11) == 0) {
        reply(c, "HTTP/1.1 503 Service Unavailable\r\n", 17, "{\"status\":\"DOWN\"}", true);
    } else if (strncmp(strchr(c->in, ' ') + 1, "/slow ", 6) == 0) {
        /* never answers */
    } else if (strncmp(strchr(c->in, ' ') + 1, "/big ", 5) == 0 ||
               strncmp(strchr(c->in, ' ') + 1, "/big-nolen ", 11) == 0 ||
               strncmp(strchr(c->in, ' ') + 1, "/exact ", 7) == 0) {
        bool exact = strncmp(strchr(c->in, ' ') + 1, "/exact ", 7) == 0;
        size_t n = exact ? KYLIN_HTTP_MAX_BODY : BIG;
        body = malloc(n);
        assert_non_null(body);
        memset(body, 'x', n);
        reply(c, "HTTP/1.1 200 OK\r\n", n, body, strncmp(strchr(c->in, ' ') + 1, "/big-nolen ", 11) != 0);
        free(body);
    } else {
        reply(c, "HTTP/1.1 404 Not Found\r\n", 0, "", true);
    }
}

static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = handle->data;
    (void)suggested;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - 1 - c->in_len));
}

static void conn_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    if (!c->answered) {
        route(c);
    }
}

static void accepted(uv_stream_t *server, int status)
{
    struct conn *c;
    assert_int_equal(status, 0);
    c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(uv_tcp_init(&F->loop, &c->tcp), 0);
    c->tcp.data = c;
    c->next = F->conns;
    F->conns = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read), 0);
}

static int setup(void **state)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    char err[256];

    F = calloc(1, sizeof *F);
    assert_non_null(F);
    *state = F;
    assert_int_equal(uv_loop_init(&F->loop), 0);
    assert_int_equal(uv_tcp_init(&F->loop, &F->server), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_bind(&F->server, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&F->server, 64, accepted), 0);
    assert_int_equal(uv_tcp_getsockname(&F->server, (struct sockaddr *)&bound, &len), 0);
    F->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    assert_int_equal(kylin_http_init(&F->http, &F->loop, err, sizeof err), KYLIN_OK);
    return 0;
}

static void http_closed(struct kylin_http *h)
{
    assert_ptr_equal(h, &F->http);
    F->http_closed = true;
}

static int teardown(void **state)
{
    struct conn *c;
    (void)state;
    if (!F->http.closing) {
        assert_int_equal(kylin_http_close(&F->http, http_closed), KYLIN_OK);
    }
    uv_close((uv_handle_t *)&F->server, NULL);
    for (c = F->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    /* a uv_stop left by the last reply ends the first run early; the loop must then end by
     * itself (no handle left open) */
    if (uv_run(&F->loop, UV_RUN_DEFAULT) != 0) {
        assert_int_equal(uv_run(&F->loop, UV_RUN_DEFAULT), 0);
    }
    assert_true(F->http_closed);
    assert_int_equal(uv_loop_close(&F->loop), 0); /* every handle was closed */
    free(F);
    F = NULL;
    return 0;
}

static void got_reply(struct kylin_http_req *req, const struct kylin_http_reply *r)
{
    struct result *res = req->data;
    assert_false(res->done);
    res->done = true;
    res->status = r->status;
    res->body_len = r->body_len;
    res->body = malloc(r->body_len + 1);
    assert_non_null(res->body);
    memcpy(res->body, r->body, r->body_len + 1);
    assert_int_equal(r->body[r->body_len], '\0');
    res->error = r->error != NULL ? strdup(r->error) : NULL;
    if (++F->replies_seen == F->replies_wanted) {
        uv_stop(&F->loop);
    }
}

static void result_free(struct result *res)
{
    free(res->body);
    free(res->error);
}

/* Starts a request whose reply goes to CB with RES as req.data. */
static void start_cb(struct result *res, const char *method, const char *url, const char *const *headers,
                     const char *body, size_t body_len, long timeout_ms, kylin_http_cb cb)
{
    char err[512];
    memset(res, 0, sizeof *res);
    assert_int_equal(kylin_http_request(&F->http, &res->req, method, url, headers, body, body_len, timeout_ms, cb,
                                        err, sizeof err),
                     KYLIN_OK);
    res->req.data = res;
    F->replies_wanted++;
}

/* url(PATH): the test server's URL of PATH (a static buffer). */
static const char *url(const char *path)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", F->port, path);
    return buf;
}

static void start(struct result *res, const char *method, const char *path, const char *const *headers,
                  const char *body, long timeout_ms)
{
    start_cb(res, method, url(path), headers, body, body != NULL ? strlen(body) : 0, timeout_ms, got_reply);
}

static void run(void)
{
    while (F->replies_seen < F->replies_wanted) {
        uv_run(&F->loop, UV_RUN_DEFAULT);
    }
}

static void test_get_ok(void **state)
{
    struct result res;
    (void)state;
    start(&res, "GET", "/ok", NULL, NULL, 5000);
    assert_int_equal(kylin_http_pending(&F->http), 1);
    run();
    assert_null(res.error);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "{\"ok\":true}");
    assert_int_equal(kylin_http_pending(&F->http), 0);
    result_free(&res);
}

static void test_post_sends_method_headers_and_body(void **state)
{
    const char *headers[] = {"routed: true", "Content-Type: application/json", NULL};
    struct result res;
    (void)state;
    start(&res, "POST", "/echo", headers, "{\"projects\":[\"a\"]}", 5000);
    run();
    assert_null(res.error);
    assert_int_equal(res.status, 200);
    assert_true(strncmp(res.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strstr(res.body, "\r\nrouted: true\r\n"));
    assert_non_null(strstr(res.body, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(res.body, "\r\nContent-Length: 18\r\n"));
    assert_null(strstr(res.body, "Expect:"));
    assert_non_null(strstr(res.body, "\r\n\r\n{\"projects\":[\"a\"]}"));
    result_free(&res);
}

static void test_http_error_status_is_not_a_transport_error(void **state)
{
    struct result a, b;
    (void)state;
    start(&a, "GET", "/status503", NULL, NULL, 5000);
    start(&b, "GET", "/nothing-here", NULL, NULL, 5000);
    run();
    assert_null(a.error);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.body, "{\"status\":\"DOWN\"}");
    assert_null(b.error);
    assert_int_equal(b.status, 404);
    assert_int_equal(b.body_len, 0);
    assert_string_equal(b.body, "");
    result_free(&a);
    result_free(&b);
}

static void test_timeout_names_the_url_and_what_to_do(void **state)
{
    struct result res;
    uint64_t t0;
    (void)state;
    t0 = uv_hrtime();
    start(&res, "GET", "/slow", NULL, NULL, 300);
    run();
    assert_true(uv_hrtime() - t0 >= 250u * 1000000u);
    assert_int_equal(res.status, 0);
    assert_non_null(res.error);
    assert_non_null(strstr(res.error, "GET http://127.0.0.1:"));
    assert_non_null(strstr(res.error, "/slow"));
    assert_non_null(strstr(res.error, "within 300 ms"));
    assert_non_null(strstr(res.error, "check that Kylin runs"));
    result_free(&res);
}

static void test_oversize_is_refused_with_and_without_length(void **state)
{
    struct result a, b, c;
    (void)state;
    start(&a, "GET", "/big", NULL, NULL, 10000);
    start(&b, "GET", "/big-nolen", NULL, NULL, 10000);
    start(&c, "GET", "/exact", NULL, NULL, 10000);
    run();
    assert_int_equal(a.status, 0);
    assert_non_null(a.error);
    assert_non_null(strstr(a.error, "larger than 1048576 bytes"));
    assert_non_null(strstr(a.error, "/big"));
    assert_int_equal(b.status, 0);
    assert_non_null(b.error);
    assert_non_null(strstr(b.error, "larger than 1048576 bytes"));
    assert_null(c.error); /* exactly the bound is accepted */
    assert_int_equal(c.status, 200);
    assert_int_equal(c.body_len, KYLIN_HTTP_MAX_BODY);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}

static void test_connection_refused(void **state)
{
    uv_tcp_t probe;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound, port;
    char refused[64];
    struct result res;
    (void)state;
    /* a port that was free a moment ago */
    assert_int_equal(uv_tcp_init(&F->loop, &probe), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &len), 0);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/kylin/api/health", port);
    start_cb(&res, "GET", refused, NULL, NULL, 0, 5000, got_reply);
    run();
    assert_int_equal(res.status, 0);
    assert_non_null(res.error);
    assert_non_null(strstr(res.error, "cannot connect"));
    assert_non_null(strstr(res.error, refused));
    assert_non_null(strstr(res.error, "raft.kylin.url"));
    result_free(&res);
}

static void test_many_at_once(void **state)
{
    struct result res[20];
    unsigned i;
    (void)state;
    for (i = 0; i < 20; i++) {
        start(&res[i], i % 2 ? "GET" : "POST", i % 2 ? "/ok" : "/echo", NULL, i % 2 ? NULL : "x", 5000);
    }
    run();
    for (i = 0; i < 20; i++) {
        assert_null(res[i].error);
        assert_int_equal(res[i].status, 200);
        result_free(&res[i]);
    }
}

static void test_bad_arguments_are_refused_and_no_callback_runs(void **state)
{
    struct kylin_http_req req;
    char err[256];
    (void)state;
    assert_int_equal(kylin_http_request(&F->http, &req, "PATCH", "http://127.0.0.1:1/", NULL, NULL, 0, 100,
                                        got_reply, err, sizeof err),
                     KYLIN_EINVAL);
    assert_non_null(strstr(err, "PATCH"));
    assert_int_equal(kylin_http_request(&F->http, &req, "GET", "http://127.0.0.1:1/", NULL, NULL, 0, 0, got_reply,
                                        err, sizeof err),
                     KYLIN_EINVAL);
    assert_int_equal(kylin_http_request(&F->http, &req, "GET", "", NULL, NULL, 0, 100, got_reply, err, sizeof err),
                     KYLIN_EINVAL);
    assert_int_equal(kylin_http_request(&F->http, &req, "POST", "http://127.0.0.1:1/", NULL, NULL, 3, 100, got_reply,
                                        err, sizeof err),
                     KYLIN_EINVAL);
    {
        const char *split[] = {"routed: true\r\nX-Evil: 1", NULL};
        const char *nameless[] = {"routed true", NULL};
        assert_int_equal(kylin_http_request(&F->http, &req, "GET", "http://127.0.0.1:1/", split, NULL, 0, 100,
                                            got_reply, err, sizeof err),
                         KYLIN_EINVAL);
        assert_non_null(strstr(err, "header 0"));
        assert_int_equal(kylin_http_request(&F->http, &req, "GET", "http://127.0.0.1:1/", nameless, NULL, 0, 100,
                                            got_reply, err, sizeof err),
                         KYLIN_EINVAL);
    }
    assert_int_equal(kylin_http_pending(&F->http), 0);
}

static void test_close_cancels_pending_requests(void **state)
{
    struct result a, b;
    char err[256];
    struct kylin_http_req late;
    (void)state;
    start(&a, "GET", "/slow", NULL, NULL, 60000);
    uv_run(&F->loop, UV_RUN_NOWAIT); /* connected, maybe sent */
    start(&b, "GET", "/slow", NULL, NULL, 60000);
    assert_int_equal(kylin_http_close(&F->http, http_closed), KYLIN_OK);
    /* both callbacks ran inside the close */
    assert_true(a.done && b.done);
    assert_int_equal(a.status, 0);
    assert_non_null(strstr(a.error, "cancelled"));
    assert_non_null(strstr(b.error, "/slow"));
    assert_int_equal(kylin_http_close(&F->http, http_closed), KYLIN_ECLOSED);
    assert_int_equal(kylin_http_request(&F->http, &late, "GET", "http://127.0.0.1:1/", NULL, NULL, 0, 100,
                                        got_reply, err, sizeof err),
                     KYLIN_ECLOSED);
    assert_false(F->http_closed); /* only after the libuv close callbacks */
    result_free(&a);
    result_free(&b);
}

/* A callback that closes the client, then one that reuses its request. */
static void close_from_callback(struct kylin_http_req *req, const struct kylin_http_reply *r)
{
    got_reply(req, r);
    assert_int_equal(kylin_http_close(&F->http, http_closed), KYLIN_OK);
}

static void test_close_from_inside_a_callback(void **state)
{
    struct result a, b;
    (void)state;
    start_cb(&a, "GET", url("/ok"), NULL, NULL, 0, 5000, close_from_callback);
    start(&b, "GET", "/slow", NULL, NULL, 60000);
    run();
    assert_null(a.error);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(b.error, "cancelled"));
    result_free(&a);
    result_free(&b);
}

static unsigned chained;

static void reuse_in_callback(struct kylin_http_req *req, const struct kylin_http_reply *r)
{
    struct result *res = req->data;
    char err[256];

    assert_null(r->error);
    assert_int_equal(r->status, 200);
    if (++chained < 3) {
        assert_int_equal(kylin_http_request(&F->http, req, "GET", url("/ok"), NULL, NULL, 0, 5000, reuse_in_callback,
                                            err, sizeof err),
                         KYLIN_OK);
        req->data = res;
        assert_string_equal(r->body, "{\"ok\":true}"); /* still valid after the reuse */
        return;
    }
    got_reply(req, r);
}

static void test_request_reused_inside_its_callback(void **state)
{
    struct result res;
    (void)state;
    chained = 0;
    start_cb(&res, "GET", url("/ok"), NULL, NULL, 0, 5000, reuse_in_callback);
    run();
    assert_int_equal(chained, 3);
    result_free(&res);
}

/* The pieces together: kylin/api.h builds, this client sends, kylin/health.h reads. */
static void send_api(struct result *res, const struct kylin_api_request *r)
{
    start_cb(res, r->method, r->url, r->headers, r->body, r->body_len, 5000, got_reply);
}

static void test_api_requests_on_the_wire(void **state)
{
    const char *names[] = {"Sales", "ops"};
    struct kylin_api_request claim, poke, health;
    struct result c, p, h;
    char base[64];
    size_t taken;
    (void)state;
    snprintf(base, sizeof base, "http://127.0.0.1:%d/kylin", F->port);
    assert_int_equal(kylin_api_claim(base, names, 2, 0, &taken, &claim, NULL, 0), KYLIN_OK);
    assert_int_equal(kylin_api_poke(base, &poke, NULL, 0), KYLIN_OK);
    assert_int_equal(kylin_api_health(base, &health, NULL, 0), KYLIN_OK);
    send_api(&c, &claim);
    send_api(&p, &poke);
    send_api(&h, &health);
    /* the client copied everything: the requests can go at once */
    kylin_api_request_free(&claim);
    kylin_api_request_free(&poke);
    kylin_api_request_free(&health);
    run();
    assert_null(c.error);
    assert_true(strncmp(c.body, "POST /kylin/api/epoch HTTP/1.1\r\n", 32) == 0);
    assert_non_null(strstr(c.body, "\r\nAccept: application/vnd.apache.kylin-v4-public+json\r\n"));
    assert_non_null(strstr(c.body, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(c.body, "\r\n\r\n{\"projects\":[\"Sales\",\"ops\"],\"force\":true,\"client\":true}"));
    assert_null(p.error);
    assert_true(strncmp(p.body, "POST /kylin/api/broadcast HTTP/1.1\r\n", 36) == 0);
    assert_non_null(strstr(p.body, "\r\nrouted: true\r\n"));
    assert_non_null(strstr(p.body, "EpochCheckBroadcastNotifier\"}"));
    assert_null(h.error);
    assert_int_equal(h.status, 503);
    assert_int_equal(kylin_health_parse(h.status, h.body, h.body_len, NULL, 0), KYLIN_HEALTH_UP);
    result_free(&c);
    result_free(&p);
    result_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_sends_method_headers_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_error_status_is_not_a_transport_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_names_the_url_and_what_to_do, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_is_refused_with_and_without_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_are_refused_and_no_callback_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_pending_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_inside_a_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_reused_inside_its_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_requests_on_the_wire, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
