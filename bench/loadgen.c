/* loadgen: load generator for the raftnode API (docs/protocol.md), on common/client.h.
 *
 * One uv loop, N persistent connections, each keeping up to --depth requests in flight
 * (default 1: a closed loop per client). Every write is `project.add {"name": P_C_S}` with
 * a unique name (PREFIX, client index, sequence number: letters, digits and '_', Kylin's
 * rule). Latencies are measured with uv_hrtime from the call to its reply callback.
 *
 * Modes:
 *   seq            one client, one request at a time; every latency is recorded
 *   throughput     N clients closed loop for --duration seconds (--warmup excluded) or for
 *                  --requests writes in total
 *   failover-probe connects to every endpoint given (the survivors), checks them with a
 *                  status call, sends SIGKILL to --kill-pid, then sends a new write to every
 *                  endpoint every --poll-ms without waiting for earlier ones (at most 1000 in
 *                  flight per endpoint) until the first write succeeds: prints the time from
 *                  the kill to that reply
 *   ready          polls `status` on every endpoint until each reports a known leader and
 *                  applied_index >= --min-applied (status calls, --timeout-ms each), then
 *                  probes with writes as failover-probe does until one succeeds:
 *                  prints the time since --t0-ms (CLOCK_REALTIME milliseconds, e.g. when
 *                  the members were started)
 *   status         one status call per endpoint: a STATUS line each (for scripts)
 * --op status makes seq/throughput send `status` instead of writes: the client + RPC
 * ceiling without consensus, for context.
 *
 * Output: a human summary on stderr and machine lines on stdout:
 *   RESULT <label>_<metric> <value> <unit>      STATUS <endpoint> <fields...>
 * Exit status: 0 done, 1 the run failed (nothing succeeded, deadline, leader not found),
 * 2 usage. Every loop is bounded: --deadline-s caps the whole run.
 *
 * Global symbols are prefixed bench_ (every bench program links all library objects). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <uv.h>

#include "common/client.h"
#include "common/mp.h"
#include "common/proto.h"

#define LG_MAX_ENDPOINTS 16
#define LG_MAX_CLIENTS 4096
#define LG_MAX_DEPTH 1024
#define LG_NAME_MAX 200
#define LG_ERR_PRINT_MAX 5 /* error messages printed per run; the rest are only counted */

enum lg_mode { LG_SEQ, LG_THROUGHPUT, LG_FAILOVER, LG_READY, LG_STATUS };

struct lg_opts {
    enum lg_mode mode;
    char *endpoints[LG_MAX_ENDPOINTS];
    unsigned n_endpoints;
    unsigned clients;
    unsigned depth;
    double duration_s; /* 0: use requests */
    double warmup_s;
    uint64_t requests; /* 0: use duration */
    const char *prefix;
    const char *label;
    unsigned timeout_ms; /* per attempt (failover/ready/status) */
    unsigned poll_ms;
    double deadline_s; /* the whole run */
    long kill_pid;
    uint64_t min_applied;
    int64_t t0_ms;
    bool quiet;
    bool op_status; /* --op status: seq/throughput send `status` (a local read, no raft) */
};

struct lg;

struct lg_slot {
    struct lg_worker *w;
    uint64_t t_start;
};

struct lg_worker {
    struct lg *lg;
    unsigned idx;
    char endpoint[CLIENT_ENDPOINT_MAX];
    struct client_conn conn;
    bool conn_open;     /* client_conn_init succeeded and the close callback has not run */
    bool closing;       /* client_conn_close called, waiting for its callback */
    bool reopen;        /* reopen after the close callback (after poll_ms) */
    uv_timer_t timer;   /* retry delay / per-attempt timeout */
    uv_timer_t tick;    /* probing: a new attempt every poll_ms */
    bool timer_open;
    unsigned inflight;
    uint64_t seq;
    struct lg_slot *free_slots[LG_MAX_DEPTH];
    unsigned n_free;
    struct lg_slot *slots;
    bool ready;         /* ready mode: this member is caught up */
    double ready_ms;
    char redirect[CLIENT_ENDPOINT_MAX];
};

struct lg {
    struct lg_opts *o;
    uv_loop_t *loop;
    struct lg_worker *workers;
    unsigned n_workers;
    uv_timer_t stop_timer;     /* end of the measured window (duration mode) */
    uv_timer_t deadline_timer; /* hard cap on the run */
    bool stopping;             /* no new requests */
    bool finished;             /* result known; closing everything */
    bool failed;
    uint64_t t0, t_warm, t_end, t_last;
    uint64_t issued, ok, errors, ok_window, local_errors;
    uint64_t *lat;             /* ns, requests that started after warm-up and ended in window */
    size_t n_lat, cap_lat;
    unsigned err_printed;
    /* failover / ready */
    int phase;                 /* 0 pre-check, 1 probing / polling, 2 writing */
    unsigned pre_ok;
    uint64_t t_kill;
    unsigned n_ready;
    char winner[CLIENT_ENDPOINT_MAX];
    double result_ms;
};

static void lg_usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen --endpoints H:P[,H:P...] [--mode seq|throughput|failover-probe|ready|status]\n"
            "               [--clients N] [--depth D] [--duration S | --requests N] [--warmup S]\n"
            "               [--prefix P] [--label L] [--timeout-ms MS] [--poll-ms MS] [--deadline-s S]\n"
            "               [--kill-pid PID] [--min-applied IDX] [--t0-ms EPOCH_MS] [--op add|status] [--quiet]\n"
            "  seq: one client, one request at a time (--requests, default 1000)\n"
            "  throughput: N clients, each with D requests in flight, for --duration or --requests\n"
            "  failover-probe: SIGKILL --kill-pid, then write to the endpoints until one succeeds\n"
            "  ready: wait until every endpoint knows a leader and applied >= --min-applied, then write\n"
            "  status: one STATUS line per endpoint\n");
}

static double ns_to_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static int64_t lg_realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lg_log(struct lg *lg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lg_log(struct lg *lg, const char *fmt, ...)
{
    va_list ap;
    if (lg->o->quiet) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void lg_record_error(struct lg *lg, const struct client_reply *r)
{
    lg->errors++;
    if (r->local) {
        lg->local_errors++;
    }
    if (lg->err_printed < LG_ERR_PRINT_MAX) {
        lg->err_printed++;
        fprintf(stderr, "loadgen: write failed: status %d %s: %s\n", r->status, r->code, r->error);
    }
}

static int lg_lat_push(struct lg *lg, uint64_t ns)
{
    if (lg->n_lat == lg->cap_lat) {
        size_t cap = lg->cap_lat ? lg->cap_lat * 2 : 65536;
        uint64_t *p = realloc(lg->lat, cap * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        lg->lat = p;
        lg->cap_lat = cap;
    }
    lg->lat[lg->n_lat++] = ns;
    return 0;
}

/* ---- names and packing ---- */

struct lg_name {
    char s[LG_NAME_MAX];
};

static int lg_pack_name(msgpack_packer *pk, void *arg)
{
    const struct lg_name *n = arg;
    if (msgpack_pack_map(pk, 1) != 0) {
        return -1;
    }
    return mp_pack_kv_str(pk, "name", n->s);
}

static void lg_make_name(struct lg_worker *w, struct lg_name *n, const char *tag)
{
    snprintf(n->s, sizeof n->s, "%s_%s%u_%" PRIu64, w->lg->o->prefix, tag, w->idx, w->seq++);
}

/* ---- worker connection management ---- */

static void lg_worker_open(struct lg_worker *w);
static void lg_on_retry(uv_timer_t *t);
static void lg_maybe_finish(struct lg *lg);
static void lg_tp_fill(struct lg_worker *w);
static void lg_probe_tick(uv_timer_t *t);
static void lg_ready_send(struct lg_worker *w);

static void lg_timer_closed(uv_handle_t *h)
{
    (void)h;
}

static void lg_on_conn_closed(struct client_conn *conn)
{
    struct lg_worker *w = conn->data;
    w->conn_open = false;
    w->closing = false;
    if (w->reopen && !w->lg->finished && !w->lg->stopping) {
        w->reopen = false;
        if (w->redirect[0] != '\0') {
            snprintf(w->endpoint, sizeof w->endpoint, "%s", w->redirect);
            w->redirect[0] = '\0';
            lg_worker_open(w);
            return;
        }
        /* reconnect after poll_ms: the timer callback reopens and resends */
        uv_timer_stop(&w->timer);
        uv_timer_start(&w->timer, lg_on_retry, w->lg->o->poll_ms, 0);
    }
    lg_maybe_finish(w->lg);
}

/* The timer callback used while a worker waits to reconnect or to retry. */
static void lg_on_retry(uv_timer_t *t)
{
    struct lg_worker *w = t->data;
    struct lg *lg = w->lg;
    if (lg->finished || lg->stopping) {
        return;
    }
    if (!w->conn_open) {
        lg_worker_open(w);
        return;
    }
    switch (lg->o->mode) {
    case LG_FAILOVER:
    case LG_READY:
        if (lg->phase == 0 || (lg->o->mode == LG_READY && lg->phase == 1)) {
            lg_ready_send(w);
        }
        /* probing: the tick timer sends */
        break;
    default:
        lg_tp_fill(w);
        break;
    }
}

/* Closes the worker's conn; when REOPEN, a new one is opened later (after poll_ms, or at
 * once towards a redirect). */
static void lg_worker_drop(struct lg_worker *w, bool reopen)
{
    w->reopen = reopen;
    if (w->conn_open && !w->closing) {
        w->closing = true;
        client_conn_close(&w->conn, lg_on_conn_closed);
    }
}

static void lg_on_conn_error(struct client_conn *conn)
{
    struct lg_worker *w = conn->data;
    /* Failed with no call pending (e.g. the server closed an idle connection). */
    lg_worker_drop(w, true);
}

static void lg_worker_open(struct lg_worker *w)
{
    struct lg *lg = w->lg;
    if (client_conn_init(&w->conn, lg->loop, w->endpoint) != 0) {
        fprintf(stderr, "loadgen: %s\n", w->conn.errmsg);
        lg->failed = true;
        return;
    }
    w->conn_open = true;
    w->closing = false;
    w->conn.data = w;
    w->conn.error_cb = lg_on_conn_error;
    if (client_conn_connect(&w->conn) != 0) {
        /* cannot even start connecting: retry after poll_ms */
        lg_worker_drop(w, true);
        return;
    }
    switch (lg->o->mode) {
    case LG_FAILOVER:
    case LG_READY:
    case LG_STATUS:
        /* failover phase 0 (pre-check) and ready phases 0-1 poll with status calls; while
         * probing, the tick timer sends the writes */
        if (lg->phase == 0 || (lg->o->mode == LG_READY && lg->phase == 1)) {
            lg_ready_send(w);
        }
        break;
    default:
        lg_tp_fill(w);
        break;
    }
}

/* ---- finishing ---- */

static void lg_close_all(struct lg *lg)
{
    for (unsigned i = 0; i < lg->n_workers; i++) {
        struct lg_worker *w = &lg->workers[i];
        if (w->timer_open) {
            uv_timer_stop(&w->timer);
            uv_timer_stop(&w->tick);
        }
        lg_worker_drop(w, false);
    }
    uv_timer_stop(&lg->stop_timer);
    uv_timer_stop(&lg->deadline_timer);
}

static void lg_finish(struct lg *lg)
{
    if (lg->finished) {
        return;
    }
    lg->finished = true;
    lg->stopping = true;
    lg_close_all(lg);
}

static unsigned lg_total_inflight(struct lg *lg)
{
    unsigned n = 0;
    for (unsigned i = 0; i < lg->n_workers; i++) {
        n += lg->workers[i].inflight;
    }
    return n;
}

static void lg_maybe_finish(struct lg *lg)
{
    if (lg->finished) {
        return;
    }
    if (lg->o->mode == LG_SEQ || lg->o->mode == LG_THROUGHPUT) {
        bool all_issued = lg->o->requests > 0 && lg->issued >= lg->o->requests;
        if ((lg->stopping || all_issued) && lg_total_inflight(lg) == 0) {
            lg_finish(lg);
        }
    }
}

static void lg_on_stop(uv_timer_t *t)
{
    struct lg *lg = t->data;
    lg->stopping = true;
    lg_maybe_finish(lg);
}

static void lg_on_deadline(uv_timer_t *t)
{
    struct lg *lg = t->data;
    fprintf(stderr, "loadgen: deadline of %.1f s reached (%u requests still in flight)\n", lg->o->deadline_s,
            lg_total_inflight(lg));
    lg->failed = true;
    lg->stopping = true;
    for (unsigned i = 0; i < lg->n_workers; i++) {
        struct lg_worker *w = &lg->workers[i];
        if (w->conn_open && !w->closing) {
            client_conn_abort(&w->conn, CLIENT_CODE_TIMEOUT, "run deadline reached");
        }
    }
    lg_finish(lg);
}

/* ---- seq / throughput ---- */

static void lg_tp_on_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct lg_slot *s = data;
    struct lg_worker *w = s->w;
    struct lg *lg = w->lg;
    uint64_t now = uv_hrtime();
    (void)conn;

    w->inflight--;
    w->free_slots[w->n_free++] = s;
    if (r->status == PROTO_OK) {
        lg->ok++;
        lg->t_last = now;
        bool in_window = lg->o->requests > 0 || (s->t_start >= lg->t_warm && now <= lg->t_end);
        if (in_window) {
            lg->ok_window++;
            if (lg_lat_push(lg, now - s->t_start) != 0) {
                fprintf(stderr, "loadgen: out of memory recording latencies\n");
                lg->failed = true;
                lg_finish(lg);
                return;
            }
        }
    } else {
        lg_record_error(lg, r);
        if (!r->local && strcmp(r->code, PROTO_CODE_NOT_LEADER) == 0 && r->leader_api[0] != '\0' &&
            strcmp(r->leader_api, w->endpoint) != 0) {
            snprintf(w->redirect, sizeof w->redirect, "%s", r->leader_api);
        }
    }
    if (lg->finished) {
        return;
    }
    if (r->local || w->redirect[0] != '\0') {
        if (w->inflight == 0) {
            lg_worker_drop(w, true);
        }
        lg_maybe_finish(lg);
        return;
    }
    lg_tp_fill(w);
    lg_maybe_finish(lg);
}

static void lg_tp_fill(struct lg_worker *w)
{
    struct lg *lg = w->lg;

    while (!lg->stopping && !lg->finished && w->conn_open && !w->closing && w->redirect[0] == '\0' &&
           w->inflight < lg->o->depth && w->n_free > 0 &&
           (lg->o->requests == 0 || lg->issued < lg->o->requests)) {
        struct lg_name name;
        struct lg_slot *s = w->free_slots[--w->n_free];
        int rc;
        lg_make_name(w, &name, "c");
        s->t_start = uv_hrtime();
        if (lg->o->op_status) {
            rc = client_conn_call(&w->conn, "status", NULL, NULL, lg_tp_on_reply, s);
        } else {
            rc = client_conn_call(&w->conn, "project.add", lg_pack_name, &name, lg_tp_on_reply, s);
        }
        if (rc != 0) {
            w->free_slots[w->n_free++] = s;
            fprintf(stderr, "loadgen: %s\n", w->conn.errmsg);
            if (w->inflight == 0) {
                lg_worker_drop(w, true);
            }
            return;
        }
        w->inflight++;
        lg->issued++;
    }
}

/* ---- failover probe / ready ---- */

static void lg_attempt_timer(struct lg_worker *w, uv_timer_cb cb, uint64_t ms)
{
    uv_timer_stop(&w->timer);
    uv_timer_start(&w->timer, cb, ms, 0);
}

static void lg_on_attempt_timeout(uv_timer_t *t)
{
    struct lg_worker *w = t->data;
    if (w->conn_open && !w->closing && w->inflight > 0) {
        client_conn_abort(&w->conn, CLIENT_CODE_TIMEOUT, "no reply within %u ms", w->lg->o->timeout_ms);
    }
}

/* After a failed attempt: retry on the same conn, or reconnect when the conn failed. */
static void lg_retry_later(struct lg_worker *w, bool conn_failed)
{
    uv_timer_stop(&w->timer);
    if (conn_failed) {
        lg_worker_drop(w, true);
        return;
    }
    uv_timer_start(&w->timer, lg_on_retry, w->lg->o->poll_ms, 0);
}

/* Probing: every poll_ms each worker sends one more write without waiting for the earlier
 * ones (at most LG_PROBE_INFLIGHT in flight per member), so the first success is seen
 * within about poll_ms of the cluster accepting writes again, whatever an earlier attempt
 * is stuck on. A conn that fails is reopened; the run deadline bounds everything. */
#define LG_PROBE_INFLIGHT 1000

static void lg_probe_on_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct lg_worker *w = data;
    struct lg *lg = w->lg;
    uint64_t now = uv_hrtime();
    (void)conn;

    w->inflight--;
    if (lg->finished) {
        return;
    }
    if (r->status == PROTO_OK) {
        lg->ok++;
        if (lg->o->mode == LG_FAILOVER) {
            lg->result_ms = ns_to_ms(now - lg->t_kill);
        } else {
            lg->result_ms = (double)(lg_realtime_ms() - lg->o->t0_ms);
        }
        snprintf(lg->winner, sizeof lg->winner, "%s", w->endpoint);
        lg_finish(lg);
        return;
    }
    lg->errors++;
    if (r->local) {
        lg_worker_drop(w, true);
    }
}

static void lg_probe_tick(uv_timer_t *t)
{
    struct lg_worker *w = t->data;
    struct lg_name name;

    if (w->lg->finished || !w->conn_open || w->closing || w->inflight >= LG_PROBE_INFLIGHT) {
        return;
    }
    lg_make_name(w, &name, "f");
    if (client_conn_call(&w->conn, "project.add", lg_pack_name, &name, lg_probe_on_reply, w) != 0) {
        lg_worker_drop(w, true);
        return;
    }
    w->inflight++;
}

static void lg_start_probing(struct lg *lg)
{
    lg->phase = 2;
    if (lg->o->mode == LG_FAILOVER) {
        if (kill((pid_t)lg->o->kill_pid, SIGKILL) != 0) {
            fprintf(stderr, "loadgen: cannot kill pid %ld: %s\n", lg->o->kill_pid, strerror(errno));
            lg->failed = true;
            lg_finish(lg);
            return;
        }
        lg->t_kill = uv_hrtime();
        /* the kill's wall-clock time, to line up with the members' logs (traces) */
        printf("INFO %s killed pid %ld at %" PRId64 " ms since the epoch\n", lg->o->label, lg->o->kill_pid,
               lg_realtime_ms());
    }
    for (unsigned i = 0; i < lg->n_workers; i++) {
        struct lg_worker *w = &lg->workers[i];
        uv_timer_stop(&w->timer);
        uv_timer_start(&w->tick, lg_probe_tick, 0, lg->o->poll_ms > 0 ? lg->o->poll_ms : 1);
    }
}

/* status replies: the failover pre-check (phase 0) and the ready poll (phase 1). */
static void lg_status_on_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct lg_worker *w = data;
    struct lg *lg = w->lg;
    (void)conn;

    w->inflight--;
    uv_timer_stop(&w->timer);
    if (lg->finished) {
        return;
    }
    if (lg->o->mode == LG_FAILOVER) {
        if (r->status != PROTO_OK) {
            fprintf(stderr, "loadgen: pre-check of %s failed: %s %s\n", w->endpoint, r->code, r->error);
            lg->failed = true;
            lg_finish(lg);
            return;
        }
        if (++lg->pre_ok == lg->n_workers) {
            lg_start_probing(lg);
        }
        return;
    }
    /* ready */
    if (r->status == PROTO_OK && r->leader_id != 0 && r->applied_index >= lg->o->min_applied) {
        if (!w->ready) {
            w->ready = true;
            w->ready_ms = (double)(lg_realtime_ms() - lg->o->t0_ms);
            printf("INFO %s member %s caught up after %.0f ms (applied %" PRIu64 ", leader %" PRIu64 ")\n",
                   lg->o->label, w->endpoint, w->ready_ms, r->applied_index, r->leader_id);
            if (++lg->n_ready == lg->n_workers) {
                lg_start_probing(lg);
            }
        }
        return;
    }
    lg_retry_later(w, r->local);
}

static void lg_ready_send(struct lg_worker *w)
{
    if (w->inflight > 0 || !w->conn_open || w->closing) {
        return;
    }
    if (client_conn_call(&w->conn, "status", NULL, NULL, lg_status_on_reply, w) != 0) {
        lg_retry_later(w, true);
        return;
    }
    w->inflight++;
    lg_attempt_timer(w, lg_on_attempt_timeout, w->lg->o->timeout_ms);
}

/* ---- status mode and leader discovery (synchronous helpers) ---- */

static void lg_str_field(const msgpack_object *o, const char *key, char *buf, size_t cap)
{
    if (o == NULL || mp_get_cstr(o, key, buf, cap) != 0) {
        snprintf(buf, cap, "-");
    }
}

static uint64_t lg_u64_field(const msgpack_object *o, const char *key)
{
    uint64_t v = 0;
    if (o != NULL) {
        (void)mp_get_u64(o, key, &v);
    }
    return v;
}

/* Prints one STATUS line per endpoint; returns the index of the endpoint that says it is
 * the leader, or -1. */
static int lg_status_all(struct lg_opts *o, bool print)
{
    struct client_sync_reply outs[LG_MAX_ENDPOINTS];
    int leader = -1;

    client_call_parallel(o->n_endpoints, (const char *const *)o->endpoints, "status", NULL, NULL,
                         o->timeout_ms, outs);
    for (unsigned i = 0; i < o->n_endpoints; i++) {
        const struct client_reply *r = &outs[i].reply;
        if (r->status != PROTO_OK) {
            if (print) {
                printf("STATUS %s unreachable %s\n", o->endpoints[i], r->code);
            }
        } else {
            char state[32], lapi[CLIENT_ENDPOINT_MAX];
            lg_str_field(r->result, "state", state, sizeof state);
            lg_str_field(r->result, "leader_api", lapi, sizeof lapi);
            if (strcmp(state, "leader") == 0) {
                leader = (int)i;
            }
            if (print) {
                printf("STATUS %s id=%" PRIu64 " state=%s term=%" PRIu64 " leader_id=%" PRIu64
                       " leader_api=%s commit=%" PRIu64 " applied=%" PRIu64 " last=%" PRIu64 "\n",
                       o->endpoints[i], lg_u64_field(r->result, "id"), state, lg_u64_field(r->result, "term"),
                       lg_u64_field(r->result, "leader_id"), lapi[0] ? lapi : "-",
                       lg_u64_field(r->result, "commit_index"), lg_u64_field(r->result, "applied_index"),
                       lg_u64_field(r->result, "last_index"));
            }
        }
        client_sync_reply_free(&outs[i]);
    }
    return leader;
}

/* ---- reporting ---- */

static int lg_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted array. */
static double lg_pct(const uint64_t *v, size_t n, double p)
{
    size_t rank;
    if (n == 0) {
        return NAN;
    }
    rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return ns_to_ms(v[rank - 1]);
}

static void lg_report_load(struct lg *lg)
{
    const struct lg_opts *o = lg->o;
    const char *L = o->label;
    double secs, mean = NAN;
    double sum = 0;

    qsort(lg->lat, lg->n_lat, sizeof *lg->lat, lg_cmp_u64);
    for (size_t i = 0; i < lg->n_lat; i++) {
        sum += (double)lg->lat[i];
    }
    if (lg->n_lat > 0) {
        mean = sum / (double)lg->n_lat / 1e6;
    }
    if (o->requests > 0) {
        secs = lg->t_last > lg->t0 ? (double)(lg->t_last - lg->t0) / 1e9 : NAN;
    } else {
        secs = o->duration_s - o->warmup_s;
    }
    double wps = (double)lg->ok_window / secs;
    printf("RESULT %s_writes_per_s %.1f writes/s\n", L, wps);
    printf("RESULT %s_p50 %.3f ms\n", L, lg_pct(lg->lat, lg->n_lat, 50));
    printf("RESULT %s_p99 %.3f ms\n", L, lg_pct(lg->lat, lg->n_lat, 99));
    printf("RESULT %s_p999 %.3f ms\n", L, lg_pct(lg->lat, lg->n_lat, 99.9));
    printf("RESULT %s_mean %.3f ms\n", L, mean);
    printf("RESULT %s_max %.3f ms\n", L, lg->n_lat ? ns_to_ms(lg->lat[lg->n_lat - 1]) : NAN);
    printf("RESULT %s_samples %zu count\n", L, lg->n_lat);
    printf("RESULT %s_errors %" PRIu64 " count\n", L, lg->errors);
    lg_log(lg, "%s: %u clients x depth %u, %" PRIu64 " ok (%" PRIu64 " in window), %" PRIu64
           " errors, %.1f writes/s, p50 %.3f ms, p99 %.3f ms, mean %.3f ms",
           L, o->clients, o->depth, lg->ok, lg->ok_window, lg->errors, wps, lg_pct(lg->lat, lg->n_lat, 50),
           lg_pct(lg->lat, lg->n_lat, 99), mean);
}

/* ---- options ---- */

static int lg_split_endpoints(struct lg_opts *o, char *list)
{
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        struct sockaddr_in sa;
        char err[256];
        if (o->n_endpoints == LG_MAX_ENDPOINTS) {
            fprintf(stderr, "loadgen: more than %d endpoints\n", LG_MAX_ENDPOINTS);
            return -1;
        }
        if (client_endpoint_parse(tok, &sa, err, sizeof err) != 0) {
            fprintf(stderr, "loadgen: %s\n", err);
            return -1;
        }
        o->endpoints[o->n_endpoints++] = tok;
    }
    return o->n_endpoints > 0 ? 0 : -1;
}

static int lg_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        return -1;
    }
    *out = v;
    return 0;
}

static bool lg_prefix_ok(const char *p)
{
    if (*p == '\0' || strlen(p) > 100) {
        return false;
    }
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

static int lg_parse(struct lg_opts *o, int argc, char **argv)
{
    char *eps = NULL;
    const char *mode = "throughput";
    bool have_clients = false;

    memset(o, 0, sizeof *o);
    o->clients = 1;
    o->depth = 1;
    o->prefix = "lg";
    o->label = NULL;
    o->timeout_ms = 1000;
    o->poll_ms = 10;
    o->deadline_s = 0;
    o->kill_pid = 0;
    o->t0_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define LG_NEED()                                                                                  \
    do {                                                                                           \
        if (v == NULL) {                                                                           \
            fprintf(stderr, "loadgen: %s needs a value\n", a);                                    \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
#define LG_NUM(lo, hi)                                                                             \
    do {                                                                                           \
        LG_NEED();                                                                                 \
        if (lg_num(v, lo, hi, &d) != 0) {                                                          \
            fprintf(stderr, "loadgen: %s: '%s' is not a number in %g..%g\n", a, v, (double)(lo), \
                    (double)(hi));                                                                 \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
        if (strcmp(a, "--endpoints") == 0) {
            LG_NEED();
            eps = argv[i];
        } else if (strcmp(a, "--mode") == 0) {
            LG_NEED();
            mode = v;
        } else if (strcmp(a, "--clients") == 0) {
            LG_NUM(1, LG_MAX_CLIENTS);
            o->clients = (unsigned)d;
            have_clients = true;
        } else if (strcmp(a, "--depth") == 0) {
            LG_NUM(1, LG_MAX_DEPTH);
            o->depth = (unsigned)d;
        } else if (strcmp(a, "--duration") == 0) {
            LG_NUM(0.1, 86400);
            o->duration_s = d;
        } else if (strcmp(a, "--warmup") == 0) {
            LG_NUM(0, 3600);
            o->warmup_s = d;
        } else if (strcmp(a, "--requests") == 0) {
            LG_NUM(1, 1e10);
            o->requests = (uint64_t)d;
        } else if (strcmp(a, "--prefix") == 0) {
            LG_NEED();
            o->prefix = v;
        } else if (strcmp(a, "--label") == 0) {
            LG_NEED();
            o->label = v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            LG_NUM(1, 600000);
            o->timeout_ms = (unsigned)d;
        } else if (strcmp(a, "--poll-ms") == 0) {
            LG_NUM(0, 60000);
            o->poll_ms = (unsigned)d;
        } else if (strcmp(a, "--deadline-s") == 0) {
            LG_NUM(0.1, 86400);
            o->deadline_s = d;
        } else if (strcmp(a, "--kill-pid") == 0) {
            LG_NUM(2, 4194304);
            o->kill_pid = (long)d;
        } else if (strcmp(a, "--min-applied") == 0) {
            LG_NUM(0, 1e18);
            o->min_applied = (uint64_t)d;
        } else if (strcmp(a, "--t0-ms") == 0) {
            LG_NUM(0, 1e15);
            o->t0_ms = (int64_t)d;
        } else if (strcmp(a, "--op") == 0) {
            LG_NEED();
            if (strcmp(v, "add") == 0) {
                o->op_status = false;
            } else if (strcmp(v, "status") == 0) {
                o->op_status = true;
            } else {
                fprintf(stderr, "loadgen: --op is add or status\n");
                return -1;
            }
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            lg_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "loadgen: unknown option '%s'\n", a);
            return -1;
        }
#undef LG_NUM
#undef LG_NEED
    }
    if (eps == NULL || lg_split_endpoints(o, eps) != 0) {
        fprintf(stderr, "loadgen: --endpoints H:P[,H:P...] is required\n");
        return -1;
    }
    if (!lg_prefix_ok(o->prefix)) {
        fprintf(stderr, "loadgen: --prefix must be 1..100 letters, digits or '_'\n");
        return -1;
    }
    if (strcmp(mode, "seq") == 0) {
        o->mode = LG_SEQ;
        if (have_clients && o->clients != 1) {
            fprintf(stderr, "loadgen: seq mode uses one client\n");
            return -1;
        }
        o->clients = 1;
        o->depth = 1;
        if (o->requests == 0 && o->duration_s == 0) {
            o->requests = 1000;
        }
    } else if (strcmp(mode, "throughput") == 0) {
        o->mode = LG_THROUGHPUT;
        if (o->requests == 0 && o->duration_s == 0) {
            o->duration_s = 10;
        }
    } else if (strcmp(mode, "failover-probe") == 0) {
        o->mode = LG_FAILOVER;
        if (o->kill_pid == 0) {
            fprintf(stderr, "loadgen: failover-probe needs --kill-pid\n");
            return -1;
        }
    } else if (strcmp(mode, "ready") == 0) {
        o->mode = LG_READY;
        if (o->t0_ms == 0) {
            o->t0_ms = lg_realtime_ms();
        }
    } else if (strcmp(mode, "status") == 0) {
        o->mode = LG_STATUS;
    } else {
        fprintf(stderr, "loadgen: unknown mode '%s'\n", mode);
        return -1;
    }
    if (o->requests > 0 && o->duration_s > 0) {
        fprintf(stderr, "loadgen: give --duration or --requests, not both\n");
        return -1;
    }
    if (o->duration_s > 0 && o->warmup_s >= o->duration_s) {
        fprintf(stderr, "loadgen: --warmup must be shorter than --duration\n");
        return -1;
    }
    if (o->label == NULL) {
        static const char *const names[] = {"seq", "throughput", "failover", "ready", "status"};
        o->label = names[o->mode];
    }
    if (o->deadline_s == 0) {
        o->deadline_s = o->duration_s > 0 ? o->duration_s + 30 : 600;
    }
    return 0;
}

/* ---- main ---- */

static int lg_run_loop(struct lg *lg, struct lg_opts *o, const char *const *endpoints, unsigned n)
{
    uv_loop_t loop;
    int rc;

    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "loadgen: cannot create the event loop\n");
        return -1;
    }
    lg->o = o;
    lg->loop = &loop;
    lg->n_workers = n;
    lg->workers = calloc(n, sizeof *lg->workers);
    if (lg->workers == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        return -1;
    }
    uv_timer_init(&loop, &lg->stop_timer);
    uv_timer_init(&loop, &lg->deadline_timer);
    lg->stop_timer.data = lg;
    lg->deadline_timer.data = lg;
    uv_timer_start(&lg->deadline_timer, lg_on_deadline, (uint64_t)(o->deadline_s * 1000), 0);
    lg->t0 = uv_hrtime();
    lg->t_warm = lg->t0 + (uint64_t)(o->warmup_s * 1e9);
    lg->t_end = o->duration_s > 0 ? lg->t0 + (uint64_t)(o->duration_s * 1e9) : UINT64_MAX;
    if (o->duration_s > 0) {
        uv_timer_start(&lg->stop_timer, lg_on_stop, (uint64_t)(o->duration_s * 1000), 0);
    }
    for (unsigned i = 0; i < n; i++) {
        struct lg_worker *w = &lg->workers[i];
        w->lg = lg;
        w->idx = i;
        snprintf(w->endpoint, sizeof w->endpoint, "%s", endpoints[i % (n > 0 ? n : 1)]);
        uv_timer_init(&loop, &w->timer);
        uv_timer_init(&loop, &w->tick);
        w->timer.data = w;
        w->tick.data = w;
        w->timer_open = true;
        if (o->mode == LG_SEQ || o->mode == LG_THROUGHPUT) {
            w->slots = calloc(o->depth, sizeof *w->slots);
            if (w->slots == NULL) {
                fprintf(stderr, "loadgen: out of memory\n");
                return -1;
            }
            for (unsigned k = 0; k < o->depth; k++) {
                w->slots[k].w = w;
                w->free_slots[w->n_free++] = &w->slots[k];
            }
        }
    }
    for (unsigned i = 0; i < n && !lg->finished; i++) {
        lg_worker_open(&lg->workers[i]);
    }
    if (lg->failed) {
        lg_finish(lg);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < n; i++) {
        struct lg_worker *w = &lg->workers[i];
        if (w->timer_open) {
            w->timer_open = false;
            uv_close((uv_handle_t *)&w->timer, lg_timer_closed);
            uv_close((uv_handle_t *)&w->tick, lg_timer_closed);
        }
        free(w->slots);
    }
    uv_close((uv_handle_t *)&lg->stop_timer, lg_timer_closed);
    uv_close((uv_handle_t *)&lg->deadline_timer, lg_timer_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc != 0) {
        fprintf(stderr, "loadgen: event loop closed with handles open\n");
    }
    free(lg->workers);
    return 0;
}

int main(int argc, char **argv)
{
    static struct lg_opts o;
    static struct lg lg;
    const char *eps[LG_MAX_CLIENTS];
    unsigned n;

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (lg_parse(&o, argc, argv) != 0) {
        lg_usage(stderr);
        return 2;
    }
    memset(&lg, 0, sizeof lg);
    lg.o = &o;
    if (o.mode == LG_STATUS) {
        (void)lg_status_all(&o, true);
        return 0;
    }
    if (o.mode == LG_SEQ || o.mode == LG_THROUGHPUT) {
        /* Every client connects to the leader: find it (bounded retries). */
        int leader = -1;
        uint64_t start = uv_hrtime();
        while ((leader = lg_status_all(&o, false)) < 0 && uv_hrtime() - start < 10ull * 1000000000ull) {
            uv_sleep(50);
        }
        if (leader < 0) {
            fprintf(stderr, "loadgen: no endpoint reports itself leader within 10 s\n");
            return 1;
        }
        n = o.clients;
        for (unsigned i = 0; i < n; i++) {
            eps[i] = o.endpoints[leader];
        }
        lg_log(&lg, "%s against leader %s: %u clients, depth %u", o.label, o.endpoints[leader], n, o.depth);
    } else {
        n = o.n_endpoints;
        for (unsigned i = 0; i < n; i++) {
            eps[i] = o.endpoints[i];
        }
    }
    if (lg_run_loop(&lg, &o, eps, n) != 0) {
        return 1;
    }
    switch (o.mode) {
    case LG_SEQ:
    case LG_THROUGHPUT:
        if (lg.ok == 0) {
            fprintf(stderr, "loadgen: no write succeeded\n");
            free(lg.lat);
            return 1;
        }
        lg_report_load(&lg);
        free(lg.lat);
        return lg.failed ? 1 : 0;
    case LG_FAILOVER:
    case LG_READY:
        if (lg.failed || lg.ok == 0) {
            printf("RESULT %s_ms fail ms\n", o.label);
            return 1;
        }
        printf("RESULT %s_ms %.1f ms\n", o.label, lg.result_ms);
        lg_log(&lg, "%s: first successful write after %.1f ms (via %s, %" PRIu64 " failed attempts)", o.label,
               lg.result_ms, lg.winner, lg.errors);
        return 0;
    default:
        return 0;
    }
}
