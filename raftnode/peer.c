/* peer: one outgoing API request at a time from this node to another member (join,
 * registration), on the node's own loop via common/client.h. A not_leader reply is
 * followed to leader_api (at most CLIENT_MAX_HOPS times); a deadline timer aborts the
 * connection. Failure modes all end in exactly one peer_cb call. */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

#include "../common/client.h"
#include "../common/proto.h"
#include "common/log.h"
#include "node.h"

struct peer_call {
    struct peer *peer;
    struct client_conn conn;
    uv_timer_t timer;
    char method[32];
    char *args;
    size_t args_len;
    unsigned timeout_ms;
    unsigned hops;
    peer_cb cb;
    int status;
    char code[CLIENT_CODE_MAX];
    char message[CLIENT_ERROR_MAX + CLIENT_ENDPOINT_MAX + 8];
    char redirect[CLIENT_ENDPOINT_MAX];
    bool finished;
    int open_handles;
};

static int call_start(struct peer_call *c, const char *endpoint);

static int pack_raw_args(msgpack_packer *pk, void *arg)
{
    struct peer_call *c = arg;
    /* The args map was packed by the caller: append its bytes as they are. */
    return pk->callback(pk->data, c->args, c->args_len);
}

static void call_free_if_done(struct peer_call *c)
{
    if (c->open_handles > 0) {
        return;
    }
    if (c->redirect[0] != '\0' && c->peer->node->phase == NODE_RUNNING) {
        char next[CLIENT_ENDPOINT_MAX];
        memcpy(next, c->redirect, sizeof next);
        c->redirect[0] = '\0';
        c->finished = false;
        if (call_start(c, next) == 0) {
            return;
        }
    }
    c->peer->busy = false;
    c->peer->impl = NULL;
    if (c->peer->node->phase == NODE_RUNNING) {
        c->cb(c->peer->node, c->status, c->code, c->message);
    }
    free(c->args);
    free(c);
}

static void conn_closed(struct client_conn *conn)
{
    struct peer_call *c = conn->data;
    c->open_handles--;
    call_free_if_done(c);
}

static void timer_closed(uv_handle_t *h)
{
    struct peer_call *c = h->data;
    c->open_handles--;
    call_free_if_done(c);
}

static void call_finish(struct peer_call *c)
{
    if (c->finished) {
        return;
    }
    c->finished = true;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    client_conn_close(&c->conn, conn_closed);
}

static void reply_cb(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct peer_call *c = data;
    (void)conn;
    c->status = r->status;
    snprintf(c->code, sizeof c->code, "%s", r->code);
    snprintf(c->message, sizeof c->message, "%s: %s", c->conn.endpoint, r->status == 0 ? "ok" : r->error);
    if (r->status == PROTO_UNAVAILABLE && strcmp(r->code, PROTO_CODE_NOT_LEADER) == 0 && r->leader_api[0] != '\0' &&
        c->hops < CLIENT_MAX_HOPS) {
        c->hops++;
        snprintf(c->redirect, sizeof c->redirect, "%s", r->leader_api);
    }
    call_finish(c);
}

static void timeout_cb(uv_timer_t *t)
{
    struct peer_call *c = t->data;
    client_conn_abort(&c->conn, CLIENT_CODE_TIMEOUT, "no reply within %u ms", c->timeout_ms);
}

static int call_start(struct peer_call *c, const char *endpoint)
{
    uv_loop_t *loop = c->peer->node->loop;

    if (client_conn_init(&c->conn, loop, endpoint) != 0) {
        c->status = PROTO_UNAVAILABLE;
        snprintf(c->code, sizeof c->code, "%s", CLIENT_CODE_UNREACHABLE);
        snprintf(c->message, sizeof c->message, "%s", c->conn.errmsg);
        return -1;
    }
    c->conn.data = c;
    c->open_handles = 2;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, timeout_cb, c->timeout_ms, 0);
    if (client_conn_connect(&c->conn) != 0 ||
        client_conn_call(&c->conn, c->method, pack_raw_args, c, reply_cb, c) != 0) {
        c->status = PROTO_UNAVAILABLE;
        snprintf(c->code, sizeof c->code, "%s", CLIENT_CODE_UNREACHABLE);
        snprintf(c->message, sizeof c->message, "%s", c->conn.errmsg);
        call_finish(c);
    }
    return 0;
}

int peer_init(struct peer *p, struct node *n)
{
    memset(p, 0, sizeof *p);
    p->node = n;
    return 0;
}

void peer_close(struct peer *p)
{
    struct peer_call *c = p->impl;
    if (c != NULL) {
        c->redirect[0] = '\0';
        client_conn_abort(&c->conn, CLIENT_CODE_CLOSED, "member is shutting down");
    }
}

int peer_call(struct peer *p, const char *endpoint, const char *method, const void *args, size_t args_len,
              unsigned timeout_ms, peer_cb cb)
{
    struct peer_call *c;

    if (p->busy || p->node->phase != NODE_RUNNING || args == NULL) {
        return -1;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->args = malloc(args_len)) == NULL) {
        free(c);
        return -1;
    }
    memcpy(c->args, args, args_len);
    c->args_len = args_len;
    c->peer = p;
    c->cb = cb;
    c->timeout_ms = timeout_ms;
    snprintf(c->method, sizeof c->method, "%s", method);
    p->busy = true;
    p->impl = c;
    if (call_start(c, endpoint) != 0) {
        p->busy = false;
        p->impl = NULL;
        log_warn("cannot call %s on %s: %s", method, endpoint, c->message);
        free(c->args);
        free(c);
        return -1;
    }
    return 0;
}
