/* restore_raft: a raft directory that starts with the restored state (see restore_raft.h). */
#include "restore_raft.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "config.h"

#define RUN_TURNS_MAX 100000 /* loop turns allowed for a put or a close: a bound, never reached */

struct writer {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_io_snapshot_put put;
    bool put_done;
    int put_status;
    bool closed;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct writer *w = req->data;
    w->put_done = true;
    w->put_status = status;
}

/* io->data stays NULL: libraft's uv raft_io takes a set one for a struct raft (its legacy request
 * queue), so the writer is found from the embedded io instead. */
static void closed_cb(struct raft_io *io)
{
    struct writer *w = (struct writer *)(void *)((char *)io - offsetof(struct writer, io));
    w->closed = true;
}

static void run_until(struct writer *w, const bool *flag)
{
    for (int i = 0; i < RUN_TURNS_MAX && !*flag; i++) {
        uv_run(&w->loop, UV_RUN_ONCE);
    }
}

static int conf_of(const struct config *cfg, struct raft_configuration *conf, char *err, size_t cap)
{
    static const int roles[] = {RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE};
    raft_configuration_init(conf);
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        int rv = raft_configuration_add(conf, cfg->peers[i].id, cfg->peers[i].address, roles[cfg->peers[i].role]);
        if (rv != 0) {
            snprintf(err, cap, "raft.initial-cluster entry %llu=%s: %s", (unsigned long long)cfg->peers[i].id,
                     cfg->peers[i].address, raft_strerror(rv));
            raft_configuration_close(conf);
            return -1;
        }
    }
    return 0;
}

static int write_log(struct writer *w, const struct config *cfg, struct raft_configuration *conf, void *image,
                     size_t len, char *err, size_t cap)
{
    raft_term term = 0;
    raft_id vote = 0;
    struct raft_snapshot *loaded = NULL;
    raft_index start = 0;
    struct raft_entry *entries = NULL;
    size_t n_entries = 0;
    int rv = w->io.init(&w->io, cfg->node_id, cfg->node_address);
    if (rv == 0) {
        rv = w->io.load(&w->io, &term, &vote, &loaded, &start, &entries, &n_entries);
    }
    if (rv != 0) {
        snprintf(err, cap, "raft directory: %s (%s)", raft_strerror(rv), w->io.errmsg);
        return -1;
    }
    if (loaded != NULL || n_entries > 0 || term != 0) {
        snprintf(err, cap, "raft directory is not pristine (term %llu)", (unsigned long long)term);
        return -1; /* the data dir was checked empty: only a concurrent writer gets here */
    }
    rv = w->io.bootstrap(&w->io, conf);
    if (rv != 0) {
        snprintf(err, cap, "raft bootstrap: %s (%s)", raft_strerror(rv), w->io.errmsg);
        return -1;
    }
    struct raft_buffer buf = {image, len};
    struct raft_snapshot snap = {
        .index = RESTORE_RAFT_INDEX, .term = 1, .configuration = *conf, .configuration_index = 1,
        .bufs = &buf, .n_bufs = 1,
    };
    w->put.data = w;
    /* trailing 0: an installed snapshot, every entry up to its index is dropped */
    rv = w->io.snapshot_put(&w->io, 0, &w->put, &snap, put_cb);
    if (rv == 0) {
        run_until(w, &w->put_done);
        rv = w->put_done ? w->put_status : RAFT_IOERR;
    }
    if (rv != 0) {
        snprintf(err, cap, "writing the raft snapshot: %s (%s)", raft_strerror(rv), w->io.errmsg);
        return -1;
    }
    return 0;
}

int restore_raft_write(const struct config *cfg, const char *dir, void *image, size_t len, char *err, size_t cap)
{
    static struct writer w; /* large: off the stack */
    struct raft_configuration conf;
    memset(&w, 0, sizeof w);
    if (conf_of(cfg, &conf, err, cap) != 0) {
        return -1;
    }
    if (uv_loop_init(&w.loop) != 0) {
        snprintf(err, cap, "cannot initialise an event loop");
        raft_configuration_close(&conf);
        return -1;
    }
    int rc = -1;
    w.transport.version = 1; /* libraft 0.22: version fields are set before init */
    if (raft_uv_tcp_init(&w.transport, &w.loop) != 0) {
        snprintf(err, cap, "cannot initialise libraft's transport");
        goto out_loop;
    }
    if (raft_uv_init(&w.io, &w.loop, dir, &w.transport) != 0) {
        snprintf(err, cap, "raft disk I/O init on %s: %s", dir, w.io.errmsg);
        goto out_transport;
    }
    rc = write_log(&w, cfg, &conf, image, len, err, cap);
    w.io.close(&w.io, closed_cb); /* closes the transport too */
    run_until(&w, &w.closed);
    raft_uv_close(&w.io);
out_transport:
    raft_uv_tcp_close(&w.transport);
out_loop:
    uv_run(&w.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w.loop) != 0 && rc == 0) {
        snprintf(err, cap, "raft directory written, but libuv handles stayed open");
        rc = -1;
    }
    raft_configuration_close(&conf);
    return rc;
}
