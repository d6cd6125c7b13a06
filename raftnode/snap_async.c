/* snap_async: snapshots copied off the loop (see snap_async.h). */
#include "snap_async.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static struct snap_async *wrapped_ios[SNAP_ASYNC_MAX];

static struct snap_async *wrapper_of(struct raft_io *io)
{
    for (unsigned i = 0; i < SNAP_ASYNC_MAX; i++) {
        if (wrapped_ios[i] != NULL && wrapped_ios[i]->io == io) {
            return wrapped_ios[i];
        }
    }
    abort(); /* not reached: only wrapped ios have these hooks */
}

/* Background thread: the only user of the second connection while busy. */
static void copy_work(struct bgjob *job)
{
    struct snap_async *sa = job->data;
    sa->rc = store_image_copy(&sa->image, &sa->buf, &sa->len);
}

/* Loop thread: the copy returned. Hands the image to the io, or completes the put with an
 * error; then releases libraft's close callback if the io closed meanwhile (SA may be
 * unwrapped by it: not touched afterwards). */
static void copy_done(struct bgjob *job, int status)
{
    struct snap_async *sa = job->data;
    struct raft_io_snapshot_put *req = sa->req;
    const struct raft_snapshot *snapshot = sa->snapshot;
    raft_io_snapshot_put_cb cb = sa->cb;
    int put_status;

    sa->busy = false;
    sa->req = NULL;
    sa->last_copy_us = (uv_hrtime() - sa->copy_start_ns) / 1000u;
    if (status != 0 || sa->rc != 0) {
        store_image_unpin(&sa->image); /* cancelled before it ran: still pinned */
        sa->copy_failures++;
        log_error("%s; this snapshot is dropped (libraft takes another at the next threshold)",
                  status != 0 ? "snapshot copy cancelled: the background thread closed" : sa->image.errmsg);
        put_status = RAFT_IOERR;
    } else if (sa->closing) {
        sqlite3_free(sa->buf);
        put_status = RAFT_CANCELED;
    } else {
        /* the array is fsm_glue's (raft_malloc'd in its snapshot hook); libraft reads it next in
         * the io's put and gives it back to snapshot_finalize, which sqlite3_frees the image */
        struct raft_buffer *b = (struct raft_buffer *)&snapshot->bufs[0];
        sqlite3_free(b->base);
        b->base = sa->buf;
        b->len = sa->len;
        sa->buf = NULL;
        sa->copies++;
        log_info("snapshot at index %llu: %zu bytes copied off the loop in %.1f ms",
                 (unsigned long long)snapshot->index, b->len, (double)sa->last_copy_us / 1000.0);
        put_status = sa->orig_snapshot_put(sa->io, sa->trailing, req, snapshot, cb);
        if (put_status == 0) {
            return; /* the io calls CB; a close meanwhile is the io's to wait for */
        }
        log_error("storing snapshot at index %llu: %s%s%s%s", (unsigned long long)snapshot->index,
                  raft_strerror(put_status), sa->io->errmsg[0] != '\0' ? " (" : "", sa->io->errmsg,
                  sa->io->errmsg[0] != '\0' ? ")" : "");
    }
    sa->buf = NULL;
    cb(req, put_status);
    if (sa->close_held) {
        sa->close_held = false;
        sa->close_cb(sa->io);
    }
}

static int wrap_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                             const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct snap_async *sa = wrapper_of(io);
    if (sa->placeholder == NULL || sa->busy || snapshot->n_bufs != 1 || snapshot->bufs[0].base != sa->placeholder) {
        return sa->orig_snapshot_put(io, trailing, req, snapshot, cb); /* an install, or a copy made on the loop */
    }
    sa->placeholder = NULL;
    if (sa->closing) {
        store_image_unpin(&sa->image);
        return RAFT_CANCELED; /* as the io answers once closing */
    }
    sa->req = req;
    sa->trailing = trailing;
    sa->snapshot = snapshot;
    sa->cb = cb;
    sa->buf = NULL;
    sa->len = 0;
    sa->rc = -1;
    sa->copy_start_ns = uv_hrtime();
    sa->job.data = sa;
    int rv = bgworker_submit(sa->bg, &sa->job, copy_work, copy_done);
    if (rv != 0) {
        store_image_unpin(&sa->image);
        sa->req = NULL;
        log_error("snapshot at index %llu: queueing its copy: %s; this snapshot is dropped",
                  (unsigned long long)snapshot->index, uv_strerror(rv));
        return RAFT_IOERR;
    }
    sa->busy = true;
    return 0;
}

/* The io closed: libraft's callback now, or once the copy in flight returned. */
static void wrap_close_done(struct raft_io *io)
{
    struct snap_async *sa = wrapper_of(io);
    if (sa->busy) {
        sa->close_held = true;
        return;
    }
    sa->close_cb(io);
}

static void wrap_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct snap_async *sa = wrapper_of(io);
    sa->closing = true;
    sa->close_cb = cb;
    if (sa->placeholder != NULL) {
        sa->placeholder = NULL; /* taken but never put: libraft frees it */
        store_image_unpin(&sa->image);
    }
    sa->orig_close(io, wrap_close_done);
}

int snap_async_wrap(struct snap_async *sa, struct raft_io *io, uv_loop_t *loop, struct bgworker *bg,
                    struct store *store)
{
    memset(sa, 0, sizeof *sa);
    int rc = store_image_open(&sa->image, store->path);
    if (rc != 0) {
        if (rc < 0) {
            log_warn("%s; snapshots are copied on the event loop instead", sa->image.errmsg);
        }
        return rc;
    }
    unsigned slot = 0;
    while (slot < SNAP_ASYNC_MAX && wrapped_ios[slot] != NULL) {
        slot++;
    }
    if (slot == SNAP_ASYNC_MAX) {
        store_image_close(&sa->image);
        log_warn("snapshot copies: more than %d raft instances in this process; snapshots are "
                 "copied on the event loop instead", SNAP_ASYNC_MAX);
        return -1;
    }
    sa->io = io;
    sa->loop = loop;
    sa->bg = bg;
    sa->store = store;
    sa->orig_snapshot_put = io->snapshot_put;
    sa->orig_close = io->close;
    io->snapshot_put = wrap_snapshot_put;
    io->close = wrap_close;
    wrapped_ios[slot] = sa;
    return 0;
}

int snap_async_take(void *data, struct store *s, void **buf, size_t *len)
{
    struct snap_async *sa = data;
    if (sa == NULL || sa->io == NULL || sa->busy || sa->closing) {
        return store_snapshot(s, buf, len);
    }
    if (sa->placeholder != NULL) {
        sa->placeholder = NULL; /* not reached: libraft puts every snapshot it takes at once */
        store_image_unpin(&sa->image);
    }
    /* Committed here, so that a failed commit fails the snapshot (store_snapshot would commit
     * nothing after the rollback and copy a state missing the rolled-back entries). */
    if (store_commit(s) != 0) {
        return -1;
    }
    void *placeholder = NULL;
    if (store_image_pin(&sa->image, s) != 0 || (placeholder = sqlite3_malloc(1)) == NULL) {
        log_warn("%s; this snapshot is copied on the event loop",
                 placeholder == NULL && sa->image.pinned ? "snapshot placeholder: out of memory" : sa->image.errmsg);
        store_image_unpin(&sa->image);
        sa->fallbacks++;
        return store_snapshot(s, buf, len);
    }
    sa->placeholder = placeholder;
    *buf = placeholder;
    *len = 0; /* libraft reads nothing before the put, which fills it in */
    return 0;
}

void snap_async_unwrap(struct snap_async *sa)
{
    for (unsigned i = 0; i < SNAP_ASYNC_MAX; i++) {
        if (wrapped_ios[i] == sa) {
            wrapped_ios[i] = NULL;
        }
    }
    if (sa->io != NULL) {
        store_image_close(&sa->image);
        sa->io = NULL;
    }
}
