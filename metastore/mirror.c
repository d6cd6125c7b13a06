/* mirror: the loop-thread side of the metastore mirror: init, notify, status, close, and the
 * async callback that brings the worker's log lines and watermark to the loop (see mirror.h
 * for the threads, the states and what wakes the worker; the worker itself is worker.c). */
#include "metastore/mirror.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mp.h"
#include "metastore/worker.h"
#include "common/log.h"

/* The loop looks at the raft configuration and API addresses every CONF_TICKS ticks. */
#define CONF_TICKS 10

static struct worker *worker_of(struct mirror *m)
{
    return m->async.data;
}

/* Lag bookkeeping: drops the decisions the watermark covers. */
static void lag_pop(struct mirror *m)
{
    while (m->lag_n > 0 && m->lag[m->lag_head].index <= m->watermark_index) {
        m->lag_head = (m->lag_head + 1) % MIRROR_LAG_RING;
        m->lag_n--;
    }
}

static void lag_push(struct mirror *m, uint64_t index, uint64_t now)
{
    if (m->lag_n == MIRROR_LAG_RING) {
        /* Full: the newest entry absorbs this index and keeps its older time, so the lag in
         * ms is never under-reported. */
        m->lag[(m->lag_head + m->lag_n - 1) % MIRROR_LAG_RING].index = index;
        return;
    }
    size_t at = (m->lag_head + m->lag_n) % MIRROR_LAG_RING;
    m->lag[at].index = index;
    m->lag[at].at_ms = now;
    m->lag_n++;
}

static void drain_messages(struct mirror *m)
{
    struct mirror_msg msgs[MIRROR_MSGS];
    size_t n;
    uint64_t dropped;
    uv_mutex_lock(&m->lock);
    n = m->sh.n_msgs;
    memcpy(msgs, m->sh.msgs, n * sizeof msgs[0]);
    m->sh.n_msgs = 0;
    dropped = m->sh.dropped_msgs;
    m->sh.dropped_msgs = 0;
    if (m->sh.watermark_known) {
        m->watermark_index = m->sh.watermark_index;
    }
    uv_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        log_emit(msgs[i].level, "%s", msgs[i].text);
    }
    if (dropped > 0) {
        log_warn("metastore mirror: %" PRIu64 " further messages dropped; see raftctl metastore status", dropped);
    }
    lag_pop(m);
}

static void async_cb(uv_async_t *a)
{
    struct worker *w = a->data;
    drain_messages(w->m);
}

/* MIRROR_FULL_COMPARE_S, or the environment's override. 0, or -1 after logging why the
 * override is wrong. */
static int full_compare_setting(uint64_t *ms)
{
    const char *env = getenv(MIRROR_FULL_COMPARE_ENV);
    *ms = (uint64_t)MIRROR_FULL_COMPARE_S * 1000u;
    if (env == NULL || env[0] == '\0') {
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long s = strtoull(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || env[0] == '-' || s < 1 || s > 86400) {
        log_error("metastore mirror: environment variable %s=%s: not a whole number of seconds from 1 "
                  "to 86400; unset it (default %d s) or fix it",
                  MIRROR_FULL_COMPARE_ENV, env, MIRROR_FULL_COMPARE_S);
        return -1;
    }
    *ms = (uint64_t)s * 1000u;
    return 0;
}

int mirror_init(struct mirror *m, const struct mirror_config *c, const struct mirror_host *host)
{
    char err[1024];
    memset(m, 0, sizeof *m);
    m->host = *host;
    m->self_id = c->node_id;
    m->cancel_pipe[0] = m->cancel_pipe[1] = -1;
    int rc = ms_url_resolve(c->metastore_url, c->metadata_url, &m->url, err, sizeof err);
    if (rc < 0) {
        log_error("metastore mirror: %s", err);
        return -1;
    }
    if (rc == 0 && c->password_file != NULL && c->password_file[0] != '\0') {
        log_error("metastore mirror: raft.metastore.password-file is set but neither raft.metastore.url "
                  "nor kylin.metadata.url names a metastore");
        return -1;
    }
    if (rc == 0) {
        log_info("metastore mirror disabled: neither raft.metastore.url nor kylin.metadata.url is set");
        return 0;
    }
    if (c->password_file != NULL && c->password_file[0] != '\0' &&
        ms_password_file_read(c->password_file, m->url.password, sizeof m->url.password, err, sizeof err) != 0) {
        log_error("metastore mirror: %s", err);
        return -1;
    }
    m->enabled = true;
    snprintf(m->db_path, sizeof m->db_path, "%s", c->db_path);
    snprintf(m->self_api, sizeof m->self_api, "%s", c->api_address);
    snprintf(m->self_host, sizeof m->self_host, "%s", c->identity[0] != '\0' ? c->identity : c->api_address);
    m->log_debug = c->log_level <= LOG_LEVEL_DEBUG;
    m->epoch_rows_off = c->epoch_rows_off;
    if (full_compare_setting(&m->full_compare_ms) != 0) {
        return -1;
    }
    log_info("metastore mirror: %s %s (tables %s_epoch, %s_raft_member, %s_raft_history, %s_raft_sync)",
             ms_kind_name(m->url.kind), m->url.redacted, m->url.prefix, m->url.prefix, m->url.prefix,
             m->url.prefix);
    return 0;
}

/* Starts the worker (first notify). Failure leaves the mirror off with the reason in the
 * status; raft is not affected. */
static void mirror_start(struct mirror *m)
{
    struct worker *w = calloc(1, sizeof *w);
    m->start_failed = true;
    if (w == NULL) {
        log_error("metastore mirror: out of memory starting the worker; the mirror is off");
        return;
    }
    w->m = m;
    w->done_conf = UINT64_MAX;
    ms_backend_init(&w->b, &m->url, -1);
    w->b.member_id = m->self_id;
    if (ms_backend_global_init(m->url.kind) != 0) {
        log_error("metastore mirror: cannot initialise the %s client library; the mirror is off",
                  ms_kind_name(m->url.kind));
        free(w);
        return;
    }
    m->lib_initialised = true;
    if (pipe2(m->cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("metastore mirror: pipe: %s; the mirror is off", strerror(errno));
        goto err_lib;
    }
    w->b.cancel_fd = m->cancel_pipe[0];
    if (uv_mutex_init(&m->lock) != 0) {
        log_error("metastore mirror: cannot create a mutex; the mirror is off");
        goto err_pipe;
    }
    if (uv_cond_init(&m->cond) != 0) {
        log_error("metastore mirror: cannot create a condition variable; the mirror is off");
        goto err_mutex;
    }
    int rv = uv_async_init(m->host.loop, &m->async, async_cb);
    if (rv != 0) {
        log_error("metastore mirror: uv_async_init: %s; the mirror is off", uv_strerror(rv));
        goto err_cond;
    }
    m->async.data = w;
    rv = uv_thread_create(&m->thread, mirror_worker_main, w);
    if (rv != 0) {
        log_error("metastore mirror: cannot start its thread: %s; the mirror is off", uv_strerror(rv));
        uv_close((uv_handle_t *)&m->async, NULL);
        goto err_cond;
    }
    m->started = true;
    m->start_failed = false;
    return;

err_cond:
    uv_cond_destroy(&m->cond);
err_mutex:
    uv_mutex_destroy(&m->lock);
err_pipe:
    close(m->cancel_pipe[0]);
    close(m->cancel_pipe[1]);
    m->cancel_pipe[0] = m->cancel_pipe[1] = -1;
err_lib:
    ms_backend_global_end(m->url.kind);
    m->lib_initialised = false;
    free(w);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* Hash of the raft configuration and the registered API addresses (what the member rows
 * show besides the engines, which move the decision index themselves). */
static uint64_t conf_hash(struct mirror *m, const struct raft_configuration *conf)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        char api[SYNC_ADDR_MAX] = "";
        if (store_member_api(m->host.store, s->id, api, sizeof api) != 1) {
            api[0] = '\0';
        }
        h = fnv(h, &s->id, sizeof s->id);
        h = fnv(h, &s->role, sizeof s->role);
        h = fnv(h, s->address, strlen(s->address) + 1);
        h = fnv(h, api, strlen(api) + 1);
    }
    return h;
}

/* Publishes a new copy of the configuration (under the lock). */
static void publish_conf(struct mirror *m, const struct raft_configuration *conf)
{
    struct sync_conf_member *c = calloc(conf->n > 0 ? conf->n : 1, sizeof *c);
    if (c == NULL) {
        return; /* retried at the next look: conf_hash is not updated */
    }
    for (unsigned i = 0; i < conf->n; i++) {
        c[i].id = conf->servers[i].id;
        snprintf(c[i].raft_address, sizeof c[i].raft_address, "%s", conf->servers[i].address);
        snprintf(c[i].role, sizeof c[i].role, "%s", m->host.role_name(conf->servers[i].role));
    }
    uv_mutex_lock(&m->lock);
    free(m->sh.conf);
    m->sh.conf = c;
    m->sh.n_conf = conf->n;
    m->sh.conf_version++;
    uv_mutex_unlock(&m->lock);
}

void mirror_notify(struct mirror *m, const struct mirror_raft_state *st)
{
    bool leader = st->leader;
    uint64_t term = st->term; /* st->leader_id: the leader is this member whenever LEADER */
    if (!m->enabled || m->start_failed) {
        return;
    }
    if (!m->started) {
        mirror_start(m);
        if (!m->started) {
            return;
        }
    }
    uint64_t decision = m->host.store->committed_decision_index;
    if (decision != m->last_decision) {
        lag_push(m, decision, uv_now(m->host.loop));
        lag_pop(m);
    }
    bool conf_changed = false;
    if (leader && (m->ticks++ % CONF_TICKS == 0 || !m->last_leader)) {
        uint64_t h = conf_hash(m, st->conf);
        if (h != m->conf_hash) {
            m->conf_hash = h;
            publish_conf(m, st->conf);
            conf_changed = true;
        }
    }
    if (!conf_changed && leader == m->last_leader && term == m->last_term && decision == m->last_decision) {
        return; /* nothing the worker would act on: no lock, no wake-up */
    }
    m->last_leader = leader;
    m->last_term = term;
    m->last_decision = decision;
    uv_mutex_lock(&m->lock);
    m->sh.leader = leader;
    m->sh.term = term;
    m->sh.decision_index = decision;
    uv_cond_signal(&m->cond);
    uv_mutex_unlock(&m->lock);
}

void mirror_decided(struct mirror *m)
{
    if (!m->started) {
        return; /* the tick starts the worker; it reads the decision index then */
    }
    uint64_t decision = m->host.store->committed_decision_index;
    if (decision == m->last_decision) {
        return;
    }
    lag_push(m, decision, uv_now(m->host.loop));
    lag_pop(m);
    m->last_decision = decision; /* the tick's mirror_notify has nothing more to say */
    uv_mutex_lock(&m->lock);
    m->sh.decision_index = decision;
    if (m->last_leader) {
        uv_cond_signal(&m->cond); /* a follower's worker has nothing to do with it */
    }
    uv_mutex_unlock(&m->lock);
}

void mirror_close(struct mirror *m)
{
    if (!m->started) {
        return;
    }
    struct worker *w = worker_of(m);
    uv_mutex_lock(&m->lock);
    m->sh.stop = true;
    uv_cond_signal(&m->cond);
    uv_mutex_unlock(&m->lock);
    /* Wakes a PostgreSQL wait at once; MySQL calls end at their timeouts (backend.h). */
    ssize_t wr = write(m->cancel_pipe[1], "x", 1);
    (void)wr; /* a full pipe already wakes the worker; nothing else can fail here */
    uv_thread_join(&m->thread);
    drain_messages(m);
    uv_close((uv_handle_t *)&m->async, NULL);
    uv_cond_destroy(&m->cond);
    uv_mutex_destroy(&m->lock);
    close(m->cancel_pipe[0]);
    close(m->cancel_pipe[1]);
    m->cancel_pipe[0] = m->cancel_pipe[1] = -1;
    if (m->lib_initialised) {
        ms_backend_global_end(m->url.kind);
        m->lib_initialised = false;
    }
    free(m->sh.conf);
    m->sh.conf = NULL;
    free(w->conf);
    free(w);
    m->started = false;
    m->start_failed = true; /* closed for good */
}

void mirror_status(struct mirror *m, msgpack_packer *pk)
{
    bool initialised = m->host.store != NULL;
    bool connected = false, known = false;
    uint64_t wm_index = 0, wm_term = 0, wm_leader = 0, writes = 0, batches = 0;
    char last_error[MIRROR_ERROR_MAX] = "";
    if (m->started) {
        uv_mutex_lock(&m->lock);
        connected = m->sh.connected;
        known = m->sh.watermark_known;
        wm_index = m->sh.watermark_index;
        wm_term = m->sh.watermark_term;
        wm_leader = m->sh.watermark_leader;
        writes = m->sh.writes;
        batches = m->sh.batches;
        snprintf(last_error, sizeof last_error, "%s", m->sh.last_error);
        uv_mutex_unlock(&m->lock);
    } else if (m->enabled && m->start_failed) {
        snprintf(last_error, sizeof last_error, "the mirror could not start (see the member's log)");
    }
    bool leading = initialised && m->host.leading(m->host.data);
    uint64_t decision = initialised ? m->host.store->committed_decision_index : 0;
    uint64_t lag_entries = 0, lag_ms = 0;
    if (m->enabled && leading) {
        lag_entries = decision > wm_index ? decision - wm_index : 0;
        /* The oldest decision the watermark does not cover yet, on the loop's clock. */
        for (size_t i = 0; i < m->lag_n; i++) {
            size_t at = (m->lag_head + i) % MIRROR_LAG_RING;
            if (m->lag[at].index > wm_index) {
                uint64_t now = uv_now(m->host.loop);
                lag_ms = now > m->lag[at].at_ms ? now - m->lag[at].at_ms : 0;
                break;
            }
        }
        if (lag_entries == 0) {
            lag_ms = 0;
        }
    }
    msgpack_pack_map(pk, 15);
    mp_pack_kv_bool(pk, "enabled", m->enabled);
    mp_pack_kv_str(pk, "backend", ms_kind_name(m->url.kind));
    mp_pack_kv_str(pk, "url", m->enabled ? m->url.redacted : "");
    mp_pack_kv_bool(pk, "mirroring", m->enabled && leading);
    mp_pack_kv_bool(pk, "connected", connected);
    if (known) {
        mp_pack_kv_u64(pk, "watermark_index", wm_index);
        mp_pack_kv_u64(pk, "watermark_term", wm_term);
        mp_pack_kv_u64(pk, "watermark_leader", wm_leader);
    } else {
        mp_pack_kv_nil(pk, "watermark_index");
        mp_pack_kv_nil(pk, "watermark_term");
        mp_pack_kv_nil(pk, "watermark_leader");
    }
    mp_pack_kv_u64(pk, "decision_index", decision);
    mp_pack_kv_u64(pk, "lag_entries", lag_entries);
    mp_pack_kv_u64(pk, "lag_ms", lag_ms);
    if (last_error[0] != '\0') {
        mp_pack_kv_str(pk, "last_error", last_error);
    } else {
        mp_pack_kv_nil(pk, "last_error");
    }
    mp_pack_kv_u64(pk, "writes", writes);
    mp_pack_kv_u64(pk, "batches", batches);
    mp_pack_kv_u64(pk, "node_id", initialised ? m->self_id : 0);
}
