/* worker: the mirror's own thread (see mirror.h for the states and worker.h for what it
 * shares with the loop). It waits on the shared condition variable, connects, runs batches
 * (sync.h) and publishes what happened; it never touches the loop's handles except through
 * uv_async_send, and never writes the log itself (log.c is single-threaded): its lines go to
 * the loop thread through the shared message queue. */
#include "metastore/worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metastore/sync.h"
#include "metastore/view.h"
#include "common/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* An idle leader checks its connection this often (a read, never a write), so that
 * `connected` in the status stays true to the facts and an outage is logged when it
 * starts, not at the next decision. */
#define PING_MS 15000

uint64_t mirror_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Queues a log line for the loop thread (the worker never writes the log itself). */
static void post(struct mirror *m, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void post(struct mirror *m, int level, const char *fmt, ...)
{
    uv_mutex_lock(&m->lock);
    if (m->sh.n_msgs < MIRROR_MSGS) {
        struct mirror_msg *msg = &m->sh.msgs[m->sh.n_msgs++];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg->text, sizeof msg->text, fmt, ap);
        va_end(ap);
        msg->level = level;
    } else {
        m->sh.dropped_msgs++;
    }
    uv_mutex_unlock(&m->lock);
    uv_async_send(&m->async);
}

static bool work_due(const struct worker *w, const struct mirror_shared *sh)
{
    return sh->leader && (!w->verified || sh->term != w->done_term ||
                          sh->decision_index > w->done_decision || w->peeked_decision > w->done_decision ||
                          sh->conf_version != w->done_conf);
}

/* After a batch: did decisions arrive while it ran? The loop announces each one right after
 * applying it (mirror_decided), but a loop busy with a burst of entries announces late;
 * reading the index from the store now lets a busy mirror go on at once (batches back to
 * back). One small read, only after a batch ran: an idle leader reads nothing. */
static void peek_decisions(struct worker *w)
{
    uint64_t applied, decision;
    if (w->failing || !w->reader_open || view_read_indexes(&w->reader, &applied, &decision) != 0) {
        return; /* the tick's announcement still comes */
    }
    w->peeked_decision = decision;
}

static void publish_connected(struct worker *w, bool connected)
{
    uv_mutex_lock(&w->m->lock);
    w->m->sh.connected = connected;
    uv_mutex_unlock(&w->m->lock);
}

static void drop_connection(struct worker *w)
{
    if (w->b.impl != NULL || w->b.connected) {
        w->b.ops->disconnect(&w->b);
        publish_connected(w, false);
    }
    w->prepared = false;
    w->verified = false;
    image_reset(&w->img); /* whatever happened while we were away: compare in full */
}

/* A failed connect or batch: publish, log on a change of state, back off. */
static void failed(struct worker *w, const char *what)
{
    struct mirror *m = w->m;
    uv_mutex_lock(&m->lock);
    snprintf(m->sh.last_error, sizeof m->sh.last_error, "%s: %s", what, w->b.errmsg);
    bool stopping = m->sh.stop; /* a call cut short by mirror_close is no outage */
    uv_mutex_unlock(&m->lock);
    if (!stopping && (!w->failing || strcmp(w->failing_what, what) != 0)) {
        post(m, LOG_LEVEL_WARN,
             "metastore mirror: %s %s: %s failed: %s; retrying with backoff (%d ms .. %d s), "
             "raft goes on meanwhile",
             m->url.kind == MS_KIND_POSTGRESQL ? "postgresql" : "mysql", m->url.redacted, what,
             w->b.errmsg, BACKOFF_MIN_MS, BACKOFF_MAX_MS / 1000);
    }
    w->failing = true;
    snprintf(w->failing_what, sizeof w->failing_what, "%s", what);
    image_reset(&w->img); /* the next batch compares in full (sync_batch resets it too) */
    if (w->b.broken || !w->b.connected) {
        drop_connection(w);
    }
    w->backoff_ms = w->backoff_ms == 0 ? BACKOFF_MIN_MS
                    : w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                         : w->backoff_ms * 2;
    w->retry_at = mirror_mono_ms() + w->backoff_ms;
}

static void recovered(struct worker *w)
{
    struct mirror *m = w->m;
    if (w->failing) {
        post(m, LOG_LEVEL_INFO, "metastore mirror: %s %s: working again",
             ms_kind_name(m->url.kind), m->url.redacted);
        uv_mutex_lock(&m->lock);
        m->sh.last_error[0] = '\0';
        uv_mutex_unlock(&m->lock);
    }
    w->failing = false;
    w->failing_what[0] = '\0';
    w->backoff_ms = 0;
    w->retry_at = 0;
    w->last_io = mirror_mono_ms();
}

static int ensure_connected(struct worker *w)
{
    struct mirror *m = w->m;
    if (w->b.connected && w->prepared) {
        return 0;
    }
    if (!w->b.connected) {
        w->prepared = false;
        if (w->b.ops->connect(&w->b) != 0) {
            failed(w, "connect");
            return -1;
        }
    }
    if (sync_prepare(&w->b, m->url.prefix) != 0) {
        failed(w, "preparing tables");
        return -1;
    }
    w->prepared = true;
    publish_connected(w, true);
    post(m, LOG_LEVEL_INFO, "metastore mirror: connected to %s %s", ms_kind_name(m->url.kind),
         m->url.redacted);
    w->verified = false;
    image_reset(&w->img);
    w->last_io = mirror_mono_ms();
    return 0;
}

static void run_batch(struct worker *w)
{
    struct mirror *m = w->m;
    if (!w->reader_open) {
        if (view_open(&w->reader, m->db_path) != 0) {
            snprintf(w->b.errmsg, sizeof w->b.errmsg, "%s", w->reader.errmsg);
            failed(w, "opening the local state");
            return;
        }
        w->reader_open = true;
    }
    if (w->term != w->done_term) {
        image_reset(&w->img); /* a new term: another leader may have written in between */
    }
    uint64_t started = mirror_mono_ms();
    struct sync_params p = {
        .full_compare = started - w->full_at >= m->full_compare_ms,
        .prefix = m->url.prefix,
        .term = w->term,
        .self_id = m->self_id,
        .self_api = m->self_api,
        .self_host = m->self_host,
        .conf = w->conf,
        .n_conf = w->n_conf,
        .epoch_rows_off = m->epoch_rows_off,
    };
    struct sync_result r;
    if (sync_batch(&w->b, &w->reader, &p, &w->img, &r) != 0) {
        failed(w, "batch");
        return;
    }
    recovered(w);
    if (r.full_compare) {
        w->full_at = started;
    }
    w->verified = true;
    w->done_term = w->term;
    w->done_conf = w->conf_version;
    /* The state read may be newer than the index the loop announced: both are mirrored. */
    w->done_decision = r.decision_index > w->decision_index ? r.decision_index : w->decision_index;
    uv_mutex_lock(&m->lock);
    m->sh.watermark_known = true;
    m->sh.watermark_index = r.stored_index;
    m->sh.watermark_term = r.stored_term;
    m->sh.watermark_leader = r.stored_leader;
    m->sh.writes += r.rows_written;
    m->sh.batches += r.outcome == SYNC_WROTE;
    if (r.outcome == SYNC_FENCED) {
        snprintf(m->sh.last_error, sizeof m->sh.last_error,
                 "fenced: member %" PRIu64 " mirrored in term %" PRIu64 ", newer than ours (%" PRIu64
                 "); this member writes nothing",
                 r.stored_leader, r.stored_term, w->term);
    } else if (r.outcome == SYNC_BEHIND) {
        /* Normal for a moment on a new leader that has not applied every committed entry
         * yet; lasting, it means the tables came from elsewhere (see docs/metastore.md). */
        snprintf(m->sh.last_error, sizeof m->sh.last_error,
                 "behind: the metastore reflects decision index %" PRIu64 " (term %" PRIu64
                 ", member %" PRIu64 "), this member's state only %" PRIu64 "; waiting to catch up",
                 r.stored_index, r.stored_term, r.stored_leader, r.decision_index);
    } else {
        m->sh.last_error[0] = '\0';
    }
    uv_mutex_unlock(&m->lock);
    if (r.outcome == SYNC_FENCED && !w->fenced_logged) {
        post(m, LOG_LEVEL_WARN,
             "metastore mirror: %s holds term %" PRIu64 " from member %" PRIu64 ", newer than our term %" PRIu64
             ": a newer leader mirrors; writing nothing (if the cluster was re-created, delete "
             "the row of %s_raft_sync)",
             m->url.redacted, r.stored_term, r.stored_leader, w->term, m->url.prefix);
        w->fenced_logged = true;
    } else if (r.outcome != SYNC_FENCED) {
        w->fenced_logged = false;
    }
    if (r.stray_rows > 0) {
        post(m, LOG_LEVEL_WARN,
             "metastore mirror: %s: the full compare found %" PRIu64 " row(s) of %s_epoch written by "
             "someone else since the mirror wrote them (e.g. '%s'); the quorum's values are back. "
             "Does a Kylin job engine still run its leader race? See docs/metastore.md",
             m->url.redacted, r.stray_rows, m->url.prefix, r.stray_example);
    }
    if (r.outcome == SYNC_WROTE && m->log_debug) {
        post(m, LOG_LEVEL_DEBUG,
             "metastore mirror: wrote %" PRIu64 " rows (%" PRIu64 " epoch, %" PRIu64
             " history; %s) in %" PRIu64 " ms; watermark %" PRIu64 " term %" PRIu64,
             r.rows_written, r.epoch_rows, r.history_rows,
             r.full_compare ? "full compare" : r.incremental ? "compared with the image" : "compared with the tables",
             mirror_mono_ms() - started, r.stored_index, r.stored_term);
    }
    uv_async_send(&m->async);
}

static void ping(struct worker *w)
{
    struct ms_rows rows;
    if (w->b.ops->query(&w->b, "SELECT 1", &rows) != 0) {
        failed(w, "connection check");
        return;
    }
    ms_rows_free(&rows);
    w->last_io = mirror_mono_ms();
}

/* Copies the shared input under the lock (conf into the worker's own array). */
static int snapshot(struct worker *w, const struct mirror_shared *sh)
{
    w->leader = sh->leader;
    w->term = sh->term;
    w->decision_index = sh->decision_index;
    if (sh->conf_version != w->conf_version || w->conf == NULL) {
        if (sh->n_conf > w->cap_conf) {
            struct sync_conf_member *c = realloc(w->conf, sh->n_conf * sizeof *c);
            if (c == NULL) {
                return -1;
            }
            w->conf = c;
            w->cap_conf = sh->n_conf;
        }
        if (sh->n_conf > 0) {
            memcpy(w->conf, sh->conf, sh->n_conf * sizeof *w->conf);
        }
        w->n_conf = sh->n_conf;
        w->conf_version = sh->conf_version;
    }
    return 0;
}

enum step { STEP_STOP, STEP_IDLE_DROP, STEP_WORK, STEP_PING };

/* Waits under the lock until there is something to do. */
static enum step wait_for_step(struct worker *w)
{
    struct mirror *m = w->m;
    enum step step;
    uv_mutex_lock(&m->lock);
    for (;;) {
        if (m->sh.stop) {
            step = STEP_STOP;
            break;
        }
        uint64_t now = mirror_mono_ms();
        if (!m->sh.leader && (w->b.connected || w->verified)) {
            step = STEP_IDLE_DROP;
            break;
        }
        bool due = work_due(w, &m->sh);
        if (due && now >= w->retry_at) {
            step = STEP_WORK;
            break;
        }
        uint64_t ping_at = w->last_io + PING_MS;
        if (m->sh.leader && w->b.connected && !due && now >= ping_at) {
            step = STEP_PING;
            break;
        }
        uint64_t until = UINT64_MAX;
        if (due) {
            until = w->retry_at;
        } else if (m->sh.leader && w->b.connected) {
            until = ping_at;
        }
        if (until == UINT64_MAX) {
            uv_cond_wait(&m->cond, &m->lock);
        } else {
            /* A timeout is reported as UV_ETIMEDOUT: the loop above re-checks either way. */
            (void)uv_cond_timedwait(&m->cond, &m->lock, (until - now) * 1000000ull);
        }
    }
    if (step != STEP_STOP && snapshot(w, &m->sh) != 0) {
        step = STEP_IDLE_DROP; /* out of memory: try again after a pause */
        w->retry_at = mirror_mono_ms() + BACKOFF_MAX_MS;
    }
    uv_mutex_unlock(&m->lock);
    return step;
}

void mirror_worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        enum step step = wait_for_step(w);
        if (step == STEP_STOP) {
            break;
        }
        if (step == STEP_IDLE_DROP) {
            /* Not the leader (any more): a follower holds no connection and writes nothing. */
            drop_connection(w);
            continue;
        }
        if (ensure_connected(w) != 0) {
            continue;
        }
        if (step == STEP_PING) {
            ping(w);
        } else {
            run_batch(w);
            peek_decisions(w);
        }
    }
    drop_connection(w);
    if (w->reader_open) {
        view_close(&w->reader);
    }
    image_reset(&w->img);
}
