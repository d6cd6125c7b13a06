/* checkpointer: WAL checkpoints on the background thread (see checkpointer.h). */
#include "checkpointer.h"

#include <string.h>

#include "common/log.h"

_Static_assert(2 * CHECKPOINTER_FRAMES <= STORE_WAL_INLINE_FRAMES,
               "the inline fallback must leave a held-back checkpoint room");
/* A frame is a 4 KiB page and a 24-byte header; a commit may overshoot the threshold by its
 * own pages (~330 frames under 64 clients, 512 allowed). */
_Static_assert((CHECKPOINTER_FRAMES + 512) * (4096 + 24) <= STORE_WAL_SIZE_LIMIT,
               "the WAL a checkpointer lets grow must not be truncated at every restart");

#define CHECKPOINTER_MAX_ROUNDS 4

/* Background thread: the only place the second connection is used while busy. */
static void work_cb(struct bgjob *job)
{
    struct checkpointer *c = job->data;
    c->rc = store_checkpointer_run(&c->sc, CHECKPOINTER_MAX_ROUNDS);
}

/* Loop thread, after work_cb returned (STATUS 0) or was cancelled at close (UV_ECANCELED). */
static void after_work_cb(struct bgjob *job, int status)
{
    struct checkpointer *c = job->data;
    c->busy = false;
    if (status == 0 && c->rc != 0 && !c->failing) {
        log_warn("WAL checkpoint failed: %s (retried; SQLite checkpoints inline past %d WAL pages "
                 "meanwhile)", c->sc.errmsg, STORE_WAL_INLINE_FRAMES);
    }
    c->failing = status == 0 && c->rc != 0;
    if (c->closing) {
        store_checkpointer_close(&c->sc);
    }
}

static void start_work(struct checkpointer *c)
{
    if (c->busy || c->closing) {
        return;
    }
    c->busy = true;
    int rv = bgworker_submit(c->bg, &c->job, work_cb, after_work_cb);
    if (rv != 0) {
        c->busy = false;
        log_warn("WAL checkpoint not started on the background thread: %s (tried again after the next "
                 "commit; past %d WAL pages SQLite checkpoints inline on the loop, so nothing is lost but "
                 "latency: if it repeats, restart this member)", uv_strerror(rv), STORE_WAL_INLINE_FRAMES);
    }
}

/* The store's WAL hook, after a commit on the loop thread (inside store_apply). */
static void wal_grew(void *arg, int frames)
{
    struct checkpointer *c = arg;
    if (frames >= CHECKPOINTER_FRAMES) {
        start_work(c);
    }
}

static void timer_cb(uv_timer_t *t)
{
    start_work(t->data);
}

int checkpointer_start(struct checkpointer *c, uv_loop_t *loop, struct bgworker *bg, struct store *s)
{
    memset(c, 0, sizeof *c);
    int rc = store_checkpointer_open(&c->sc, s->path);
    if (rc != 0) {
        if (rc < 0) {
            log_warn("%s; SQLite checkpoints inline instead", c->sc.errmsg);
        }
        return rc < 0 ? -1 : 0;
    }
    c->job.data = c;
    c->bg = bg;
    if (uv_timer_init(loop, &c->timer) != 0) {
        store_checkpointer_close(&c->sc);
        return -1;
    }
    c->timer.data = c;
    c->store = s;
    c->watch = (struct store_wal_watch){.fn = wal_grew, .arg = c};
    store_wal_watch(s, &c->watch);
    c->started = true;
    if (uv_timer_start(&c->timer, timer_cb, CHECKPOINTER_PERIOD_MS, CHECKPOINTER_PERIOD_MS) != 0) {
        checkpointer_close(c);
        return -1;
    }
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    (void)h;
}

void checkpointer_close(struct checkpointer *c)
{
    if (!c->started || c->closing) {
        return;
    }
    c->closing = true;
    store_wal_watch(c->store, NULL);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
    if (!c->busy) {
        store_checkpointer_close(&c->sc);
    }
}
