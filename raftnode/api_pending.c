/* api_pending: parking a request until raft answers (see api_pending.h). */
#include "api_pending.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/mp.h"
#include "common/proto.h"
#include "metrics.h"
#include "proposal.h"

void *api_pending_new(const struct api_req *req, size_t size)
{
    struct api_pending *p = calloc(1, size);
    if (p == NULL) {
        return NULL;
    }
    p->ctx = req->ctx;
    p->conn = req->conn;
    p->id = req->id;
    p->parked_bytes = req->frame_bytes + size; /* the request and what waits for its answer */
    p->method = req->method_name;
    p->start_ns = req->start_ns;
    api_conn_ref(p->conn);
    api_conn_park(p->conn, p->parked_bytes);
    return p;
}

bool api_pending_open(const struct api_pending *p)
{
    return !p->conn->closing;
}

void api_pending_free(void *wait)
{
    struct api_pending *p = wait;
    api_conn_unpark(p->conn, p->parked_bytes);
    metrics_api_parked_done(p->method, p->start_ns);
    api_conn_unref(p->conn);
    free(p);
}

/* ---- writes ---- */

struct api_write_wait *api_write_wait_new(const struct api_req *req, const char *name)
{
    struct api_write_wait *w = api_pending_new(req, sizeof *w);
    if (w != NULL) {
        snprintf(w->name, sizeof w->name, "%s", name != NULL ? name : "");
    }
    return w;
}

void api_write_wait_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct api_write_wait *w = data;
    struct api_reply r;
    if (api_pending_open(&w->p)) {
        api_reply_begin(&r, w->p.ctx, w->p.id, status, code, message);
        if (status == 0) {
            msgpack_pack_map(&r.pk, w->name[0] ? 2 : 1);
            mp_pack_kv_u64(&r.pk, "index", index);
            if (w->name[0]) {
                mp_pack_kv_str(&r.pk, "name", w->name);
            }
        }
        api_reply_send(w->p.conn, &r);
    }
    api_pending_free(w);
}

void api_submit(const struct api_req *req, const msgpack_sbuffer *sbuf, const char *name)
{
    struct api_write_wait *w = api_write_wait_new(req, name);
    if (w == NULL || sbuf->data == NULL ||
        proposals_submit_client(req->ctx->proposals, sbuf->data, sbuf->size, api_write_wait_done, w) != 0) {
        if (w != NULL) {
            api_pending_free(w);
        }
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory queueing the write");
    }
}

/* ---- consistent reads ---- */

int api_want_consistent(const struct api_req *req, bool *consistent)
{
    *consistent = false;
    if (mp_get_bool(req->args, "consistent", consistent) == -2) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST, "\"consistent\" must be a bool");
        return -1;
    }
    return 0;
}

struct api_read_wait *api_read_wait_new(const struct api_req *req, size_t size, api_read_fn reply)
{
    struct api_read_wait *w = api_pending_new(req, size);
    if (w == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "out of memory");
        return NULL;
    }
    w->barrier.data = w;
    w->reply = reply;
    return w;
}

static void barrier_cb(struct raft_barrier *b, int status)
{
    struct api_read_wait *w = b->data;
    if (api_pending_open(&w->p)) {
        if (status != 0) {
            api_reply_error(w->p.conn, w->p.id, PROTO_UNAVAILABLE, PROTO_CODE_LEADERSHIP_LOST,
                            "consistent read failed: %s; retry", raft_strerror(status));
        } else if (w->p.ctx->store->broken) {
            /* the barrier applied, but the state lacks entries a failed write rolled back */
            api_reply_error(w->p.conn, w->p.id, PROTO_UNAVAILABLE, PROTO_CODE_FAILED,
                            "consistent read failed: this member lost applied entries to a failed write "
                            "and is stopping; retry against the next leader");
        } else {
            w->reply(w);
        }
    }
    api_pending_free(w);
}

void api_read_wait_start(const struct api_req *req, struct api_read_wait *w)
{
    int rv = raft_barrier(req->ctx->raft, &w->barrier, barrier_cb);
    if (rv != 0) {
        api_pending_free(w);
        if (rv == RAFT_NOTLEADER) {
            api_reply_redirect(req->conn, req->id);
        } else {
            api_reply_error(req->conn, req->id, PROTO_UNAVAILABLE, PROTO_CODE_FAILED, "barrier: %s", raft_strerror(rv));
        }
    }
}
