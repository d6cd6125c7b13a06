/* metastore_bench: what the metastore mirror (docs/metastore.md) costs, measured in
 * PostgreSQL itself. Two modes, both against a running raftnode cluster whose leader mirrors
 * into the PostgreSQL named by --pg (a libpq conninfo string; the user must be allowed to
 * create triggers on the epoch table and to read pg_stat_user_tables):
 *
 *   lag    commit-to-visible lag. Open-loop `project.move` at --rate decisions per second
 *          (the k-th request is due at t0 + k/rate, whatever the replies do) over one
 *          persistent API connection to the leader, for --duration seconds (the first
 *          --warmup excluded). Each move hands one placed project (round robin over every
 *          project whose name does not start with '_') to the next eligible engine: one
 *          decision, a new epoch, one changed row of <prefix>_epoch. A row trigger created
 *          here (and dropped at the end; never part of the product's DDL) sends
 *          pg_notify('raftnode_bench_lag', '<epoch_target> <epoch_id>') for every insert or
 *          update of the epoch table; PostgreSQL delivers a notification only after the
 *          writing transaction committed, so its arrival on our LISTEN connection is the
 *          moment the row is visible. Lag of one decision = (first notification of that
 *          project with epoch >= the move's epoch) - (arrival of the move's OK reply, which
 *          the leader sends once the entry is committed and applied). Both times are
 *          uv_hrtime (CLOCK_MONOTONIC) in this one process. After --duration it waits up to
 *          --drain-s for the decisions still invisible; those left are counted as missing.
 *   idle   metastore writes of an idle cluster. Waits until the leader's mirror is caught up
 *          (metastore.status lag_entries 0) and has committed no batch for --settle-s
 *          (PostgreSQL publishes a backend's table counters up to 10 s after its last
 *          transaction), then reads n_tup_ins + n_tup_upd + n_tup_del of the mirror's four
 *          tables (<prefix>_%) from pg_stat_user_tables, waits --seconds, reads them again;
 *          also the mirror's own `writes`/`batches` counters over the same window.
 *
 * Output: RESULT <label>_<metric> <value> <unit> lines on stdout, a summary on stderr.
 * Exit status: 0 done, 1 the run failed, 2 usage. Every wait has a deadline (--deadline-s
 * caps the whole run). */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/client.h"
#include "common/mp.h"
#include "common/proto.h"

#define MB_MAX_ENDPOINTS 16
#define MB_MAX_ENGINES 256
#define MB_CHANNEL "raftnode_bench_lag"
#define MB_TRIGGER "raftnode_bench_lag"
#define MB_MAX_INFLIGHT 20000 /* open loop, but bounded: a stuck leader must not eat memory */
#define MB_ERR_PRINT_MAX 5

struct mb_opts {
    const char *mode;
    char *endpoints[MB_MAX_ENDPOINTS];
    unsigned n_endpoints;
    const char *pg;
    const char *prefix;
    const char *label;
    double rate;
    double duration_s, warmup_s, drain_s;
    double seconds, settle_s;
    double deadline_s;
    unsigned timeout_ms;
};

static struct mb_opts O;
static uint64_t T_RUN0; /* uv_hrtime at start: the run deadline */

static void mb_usage(FILE *f)
{
    fprintf(f, "usage: metastore_bench --mode lag|idle --endpoints H:P[,H:P...] --pg CONNINFO --prefix P\n"
               "         [--label L] [--deadline-s S] [--timeout-ms MS]\n"
               "  lag:  [--rate N (1000)] [--duration S (20)] [--warmup S (2)] [--drain-s S (10)]\n"
               "  idle: [--seconds S (60)] [--settle-s S (11)]\n");
}

static double ns_ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static bool past_deadline(void)
{
    return uv_hrtime() - T_RUN0 > (uint64_t)(O.deadline_s * 1e9);
}

/* ---- PostgreSQL (synchronous, libpq) ---- */

static PGconn *pg_open(void)
{
    PGconn *c = PQconnectdb(O.pg);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "metastore_bench: connecting to PostgreSQL (%s) failed: %s\n", O.pg,
                c != NULL ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning")); /* no NOTICE for IF EXISTS */
    return c;
}

static int pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "metastore_bench: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* One integer from a one-row, one-column query; -1 on failure. */
static long long pg_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    } else {
        fprintf(stderr, "metastore_bench: %s: %s", sql, PQerrorMessage(c));
    }
    PQclear(r);
    return v;
}

/* ---- raftnode API (synchronous helpers) ---- */

/* The endpoint that says it leads (copied into BUF), or -1 after DEADLINE_MS. */
static int find_leader(char *buf, size_t cap, unsigned deadline_ms)
{
    uint64_t t0 = uv_hrtime();
    do {
        struct client_sync_reply outs[MB_MAX_ENDPOINTS];
        int leader = -1;
        client_call_parallel(O.n_endpoints, (const char *const *)O.endpoints, "status", NULL, NULL, O.timeout_ms,
                             outs);
        for (unsigned i = 0; i < O.n_endpoints; i++) {
            char state[32];
            if (outs[i].reply.status == PROTO_OK && outs[i].reply.result != NULL &&
                mp_get_cstr(outs[i].reply.result, "state", state, sizeof state) == 0 &&
                strcmp(state, "leader") == 0) {
                leader = (int)i;
            }
            client_sync_reply_free(&outs[i]);
        }
        if (leader >= 0) {
            snprintf(buf, cap, "%s", O.endpoints[leader]);
            return 0;
        }
        uv_sleep(50);
    } while ((uv_hrtime() - t0) / 1000000 < deadline_ms);
    return -1;
}

struct mirror_counters {
    bool connected;
    uint64_t writes, batches, lag_entries, decision_index;
    uint64_t applied_index; /* the leader's, from the reply envelope */
};

static int mirror_status(const char *leader, struct mirror_counters *out)
{
    struct client_sync_reply r;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (client_call_sync(leader, "metastore.status", NULL, NULL, O.timeout_ms, &r) == PROTO_OK &&
        r.reply.result != NULL) {
        bool mirroring = false;
        (void)mp_get_bool(r.reply.result, "connected", &out->connected);
        (void)mp_get_bool(r.reply.result, "mirroring", &mirroring);
        (void)mp_get_u64(r.reply.result, "writes", &out->writes);
        (void)mp_get_u64(r.reply.result, "batches", &out->batches);
        (void)mp_get_u64(r.reply.result, "lag_entries", &out->lag_entries);
        (void)mp_get_u64(r.reply.result, "decision_index", &out->decision_index);
        out->applied_index = r.reply.applied_index;
        rc = mirroring ? 0 : -1;
    }
    client_sync_reply_free(&r);
    return rc;
}

/* Polls metastore.status until the mirror is connected and caught up (lag_entries 0) and
 * its batch counter has not moved for QUIET_S seconds. 0, or -1 at the run deadline. */
static int wait_mirror_quiet(const char *leader, double quiet_s, struct mirror_counters *last)
{
    uint64_t since = uv_hrtime();
    bool have = false;
    struct mirror_counters prev = {0};
    for (;;) {
        struct mirror_counters c;
        if (past_deadline()) {
            fprintf(stderr, "metastore_bench: the mirror did not catch up and go quiet before the deadline\n");
            return -1;
        }
        if (mirror_status(leader, &c) == 0 && c.connected && c.lag_entries == 0) {
            if (!have || c.batches != prev.batches || c.writes != prev.writes) {
                since = uv_hrtime();
                prev = c;
                have = true;
            } else if ((double)(uv_hrtime() - since) / 1e9 >= quiet_s) {
                *last = c;
                return 0;
            }
        } else {
            have = false;
        }
        uv_sleep(200);
    }
}

/* ---- idle mode ---- */

static int run_idle(void)
{
    char leader[CLIENT_ENDPOINT_MAX];
    char sql[512];
    struct mirror_counters a, b;
    if (find_leader(leader, sizeof leader, 10000) != 0) {
        fprintf(stderr, "metastore_bench: no leader\n");
        return 1;
    }
    PGconn *pg = pg_open();
    if (pg == NULL) {
        return 1;
    }
    fprintf(stderr, "metastore_bench: idle: waiting until the mirror of %s is caught up and quiet for %.0f s\n",
            leader, O.settle_s);
    if (wait_mirror_quiet(leader, O.settle_s, &a) != 0) {
        PQfinish(pg);
        return 1;
    }
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
             " WHERE relname LIKE '%s\\_%%'", O.prefix);
    long long n_tables = 0;
    {
        char q[512];
        snprintf(q, sizeof q, "SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE '%s\\_%%'", O.prefix);
        n_tables = pg_int(pg, q);
    }
    (void)pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
    long long w0 = pg_int(pg, sql);
    long long x0 = pg_int(pg, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
    uint64_t t0 = uv_hrtime();
    fprintf(stderr, "metastore_bench: idle: %lld tables %s_*, counters %lld; watching for %.0f s\n", n_tables,
            O.prefix, w0, O.seconds);
    while ((double)(uv_hrtime() - t0) / 1e9 < O.seconds) {
        uv_sleep(100);
    }
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    (void)pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
    long long w1 = pg_int(pg, sql);
    long long x1 = pg_int(pg, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
    int ms = mirror_status(leader, &b);
    PQfinish(pg);
    if (w0 < 0 || w1 < 0 || ms != 0 || n_tables < 4) {
        fprintf(stderr, "metastore_bench: idle: reading the counters failed (tables %lld)\n", n_tables);
        return 1;
    }
    long long rows = w1 - w0;
    printf("RESULT %s_writes_per_min_idle %.0f writes/min\n", O.label, (double)rows * 60.0 / secs);
    printf("RESULT %s_rows_written_idle %lld rows\n", O.label, rows);
    printf("RESULT %s_idle_window %.1f s\n", O.label, secs);
    printf("RESULT %s_mirror_rows_idle %" PRIu64 " rows\n", O.label, b.writes - a.writes);
    printf("RESULT %s_mirror_batches_idle %" PRIu64 " count\n", O.label, b.batches - a.batches);
    printf("RESULT %s_log_entries_idle %" PRIu64 " count\n", O.label, b.applied_index - a.applied_index);
    fprintf(stderr,
            "metastore_bench: idle %.1f s: %lld rows written to %s_* (pg_stat_user_tables), the mirror counts %" PRIu64
            " rows in %" PRIu64 " batches; meanwhile the leader applied %" PRIu64 " log entries (heartbeats) and "
            "the database committed %lld transactions (any session, reads too)\n",
            secs, rows, O.prefix, b.writes - a.writes, b.batches - a.batches, b.applied_index - a.applied_index,
            x1 - x0);
    return 0;
}

/* ---- lag mode ---- */

/* A growable array of signed nanosecond samples. */
struct vec {
    int64_t *v;
    size_t n, cap;
};

static int push(struct vec *s, int64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        int64_t *p = realloc(s->v, cap * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

struct mb_project {
    char *name;
    uint64_t owner, epoch;
    bool pending, acked, visible, in_window;
    uint64_t want_epoch, target;
    uint64_t t_send, t_ack, t_vis;
};

struct mb_lag {
    uv_loop_t loop;
    struct client_conn conn;
    bool conn_open;
    uv_timer_t tick;
    uv_poll_t poll;
    bool poll_open;
    PGconn *pg;
    struct mb_project *p;
    size_t n;
    uint64_t engines[MB_MAX_ENGINES];
    size_t n_engines;
    uint64_t t0, t_warm, t_end, t_drain_end;
    uint64_t period_ns_x1000; /* 1e12 / rate: ns per request times 1000 (sub-ns schedule) */
    uint64_t due;             /* requests due so far (issued or skipped) */
    uint64_t issued, ok, ok_window, errors, skipped, outstanding, vis_before_ack, notifies;
    size_t next;
    bool stopping, finished, failed;
    unsigned err_printed;
    struct vec lag, ack, svis; /* ack -> visible, send -> ack, send -> visible */
    struct vec bursts;         /* between the starts of consecutive notification bursts */
    uint64_t burst_start, last_notify;
    uint64_t max_late_ns;
};

static int cmp_proj(const void *a, const void *b)
{
    return strcmp(((const struct mb_project *)a)->name, ((const struct mb_project *)b)->name);
}

static struct mb_project *find_project(struct mb_lag *L, const char *name)
{
    struct mb_project key = {.name = (char *)name};
    return bsearch(&key, L->p, L->n, sizeof *L->p, cmp_proj);
}

/* Reads every project (names starting with '_' left out); *UNPLACED_OUT = those without
 * an owner yet. */
static int load_projects_once(struct mb_lag *L, const char *leader, size_t *unplaced_out)
{
    struct client_sync_reply r;
    if (client_call_sync(leader, "project.list", NULL, NULL, 30000, &r) != PROTO_OK || r.reply.result == NULL ||
        r.reply.result->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "metastore_bench: project.list failed: %s %s\n", r.reply.code, r.reply.error);
        client_sync_reply_free(&r);
        return -1;
    }
    const msgpack_object_array *a = &r.reply.result->via.array;
    L->p = calloc(a->size > 0 ? a->size : 1, sizeof *L->p);
    if (L->p == NULL) {
        client_sync_reply_free(&r);
        return -1;
    }
    size_t unplaced = 0;
    for (uint32_t i = 0; i < a->size; i++) {
        char name[300];
        uint64_t owner = 0, epoch = 0;
        if (mp_get_cstr(&a->ptr[i], "name", name, sizeof name) != 0 || name[0] == '_') {
            continue;
        }
        if (mp_get_u64(&a->ptr[i], "owner", &owner) != 0 || owner == 0) {
            unplaced++;
            continue;
        }
        (void)mp_get_u64(&a->ptr[i], "epoch", &epoch);
        struct mb_project *p = &L->p[L->n++];
        p->name = strdup(name);
        p->owner = owner;
        p->epoch = epoch;
        if (p->name == NULL) {
            client_sync_reply_free(&r);
            return -1;
        }
    }
    client_sync_reply_free(&r);
    qsort(L->p, L->n, sizeof *L->p, cmp_proj);
    *unplaced_out = unplaced;
    return 0;
}

static void free_projects(struct mb_lag *L)
{
    for (size_t i = 0; i < L->n; i++) {
        free(L->p[i].name);
    }
    free(L->p);
    L->p = NULL;
    L->n = 0;
}

/* The projects, once the scheduler has placed every one (until the run deadline). */
static int load_projects(struct mb_lag *L, const char *leader)
{
    for (;;) {
        size_t unplaced = 0;
        if (load_projects_once(L, leader, &unplaced) != 0) {
            return -1;
        }
        if (unplaced == 0 && L->n > 0) {
            return 0;
        }
        free_projects(L);
        if (past_deadline()) {
            fprintf(stderr, "metastore_bench: %zu projects still without an owner at the deadline\n", unplaced);
            return -1;
        }
        uv_sleep(500);
    }
}

static int load_engines(struct mb_lag *L, const char *leader)
{
    struct client_sync_reply r;
    if (client_call_sync(leader, "engine.list", NULL, NULL, O.timeout_ms, &r) != PROTO_OK || r.reply.result == NULL ||
        r.reply.result->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "metastore_bench: engine.list failed: %s %s\n", r.reply.code, r.reply.error);
        client_sync_reply_free(&r);
        return -1;
    }
    const msgpack_object_array *a = &r.reply.result->via.array;
    for (uint32_t i = 0; i < a->size && L->n_engines < MB_MAX_ENGINES; i++) {
        uint64_t id = 0;
        bool alive = false, draining = true;
        char mode[16] = "";
        (void)mp_get_u64(&a->ptr[i], "id", &id);
        (void)mp_get_bool(&a->ptr[i], "alive", &alive);
        (void)mp_get_bool(&a->ptr[i], "draining", &draining);
        (void)mp_get_cstr(&a->ptr[i], "mode", mode, sizeof mode);
        if (id != 0 && alive && !draining && (strcmp(mode, "all") == 0 || strcmp(mode, "job") == 0)) {
            L->engines[L->n_engines++] = id;
        }
    }
    client_sync_reply_free(&r);
    if (L->n_engines < 2) {
        fprintf(stderr, "metastore_bench: moves need two eligible engines, found %zu\n", L->n_engines);
        return -1;
    }
    return 0;
}

static void lag_finish(struct mb_lag *L);

/* The decision of P is visible and acknowledged: one sample. */
static void settle_project(struct mb_lag *L, struct mb_project *p)
{
    if (p->in_window) {
        if (push(&L->lag, (int64_t)p->t_vis - (int64_t)p->t_ack) != 0 ||
            push(&L->svis, (int64_t)p->t_vis - (int64_t)p->t_send) != 0) {
            fprintf(stderr, "metastore_bench: out of memory\n");
            L->failed = true;
            lag_finish(L);
        }
    }
    p->pending = false;
    L->outstanding--;
}

struct move_args {
    const char *name;
    uint64_t engine;
};

static int pack_move(msgpack_packer *pk, void *arg)
{
    const struct move_args *m = arg;
    if (msgpack_pack_map(pk, 2) != 0 || mp_pack_kv_str(pk, "name", m->name) != 0) {
        return -1;
    }
    return mp_pack_kv_u64(pk, "engine", m->engine);
}

static void on_move_reply(struct client_conn *conn, const struct client_reply *r, void *data)
{
    struct mb_project *p = data;
    struct mb_lag *L = conn->data;
    uint64_t now = uv_hrtime();
    if (!p->pending || p->acked) {
        return; /* cannot happen: one move per project in flight */
    }
    if (r->status != PROTO_OK) {
        L->errors++;
        if (L->err_printed++ < MB_ERR_PRINT_MAX) {
            fprintf(stderr, "metastore_bench: move of %s to %" PRIu64 " failed: %s %s\n", p->name, p->target,
                    r->code, r->error);
        }
        p->pending = false;
        L->outstanding--;
        if (r->local && !L->finished) {
            L->failed = true;
            lag_finish(L);
        }
        return;
    }
    L->ok++;
    p->acked = true;
    p->t_ack = now;
    p->owner = p->target;
    p->epoch = p->want_epoch;
    if (p->in_window) {
        L->ok_window++;
        if (push(&L->ack, (int64_t)(now - p->t_send)) != 0) {
            L->failed = true;
            lag_finish(L);
            return;
        }
    }
    if (p->visible) {
        L->vis_before_ack++;
        settle_project(L, p);
    }
}

/* Issues the next move (round robin); false when the chosen project still has one pending. */
static bool issue_one(struct mb_lag *L, uint64_t now)
{
    struct mb_project *p = &L->p[L->next];
    L->next = (L->next + 1) % L->n;
    if (p->pending) {
        L->skipped++;
        return false;
    }
    uint64_t target = 0;
    for (size_t i = 0; i < L->n_engines; i++) {
        if (L->engines[i] == p->owner) {
            target = L->engines[(i + 1) % L->n_engines];
        }
    }
    if (target == 0 || target == p->owner) {
        target = L->engines[0] != p->owner ? L->engines[0] : L->engines[1];
    }
    struct move_args m = {.name = p->name, .engine = target};
    p->pending = true;
    p->acked = p->visible = false;
    p->target = target;
    p->want_epoch = p->epoch + 1;
    p->t_send = now;
    p->in_window = now >= L->t_warm && now < L->t_end;
    if (client_conn_call(&L->conn, "project.move", pack_move, &m, on_move_reply, p) != 0) {
        fprintf(stderr, "metastore_bench: %s\n", L->conn.errmsg);
        p->pending = false;
        L->failed = true;
        lag_finish(L);
        return false;
    }
    L->issued++;
    L->outstanding++;
    return true;
}

static void on_tick(uv_timer_t *t)
{
    struct mb_lag *L = t->data;
    uint64_t now = uv_hrtime();
    if (L->finished) {
        return;
    }
    if (past_deadline()) {
        fprintf(stderr, "metastore_bench: run deadline reached\n");
        L->failed = true;
        lag_finish(L);
        return;
    }
    if (!L->stopping) {
        if (now >= L->t_end) {
            L->stopping = true;
            L->t_drain_end = now + (uint64_t)(O.drain_s * 1e9);
        } else {
            /* Open loop: every request whose time has come, late ones included. */
            for (;;) {
                uint64_t due_at = L->t0 + L->due * L->period_ns_x1000 / 1000;
                if (due_at > now || L->outstanding >= MB_MAX_INFLIGHT) {
                    break;
                }
                if (now - due_at > L->max_late_ns) {
                    L->max_late_ns = now - due_at;
                }
                L->due++;
                (void)issue_one(L, now);
                if (L->finished) {
                    return;
                }
            }
        }
    }
    if (L->stopping && (L->outstanding == 0 || now >= L->t_drain_end)) {
        lag_finish(L);
    }
}

static void on_pg_readable(uv_poll_t *h, int status, int events)
{
    struct mb_lag *L = h->data;
    uint64_t now = uv_hrtime();
    PGnotify *nt;
    (void)events;
    if (L->finished) {
        return;
    }
    if (status < 0 || PQconsumeInput(L->pg) != 1) {
        fprintf(stderr, "metastore_bench: LISTEN connection failed: %s\n",
                status < 0 ? uv_strerror(status) : PQerrorMessage(L->pg));
        L->failed = true;
        lag_finish(L);
        return;
    }
    /* Notifications of one mirror transaction arrive together: a gap of more than 2 ms
     * starts a new burst, i.e. the next committed batch. */
    bool got = false;
    while ((nt = PQnotifies(L->pg)) != NULL) {
        if (!got) {
            got = true;
            if (now - L->last_notify > 2000000) {
                if (L->burst_start != 0 && L->burst_start >= L->t_warm && now <= L->t_end &&
                    push(&L->bursts, (int64_t)(now - L->burst_start)) != 0) {
                    L->failed = true;
                }
                L->burst_start = now;
            }
            L->last_notify = now;
        }
        char *sp = strrchr(nt->extra, ' ');
        L->notifies++;
        if (sp != NULL) {
            *sp = '\0';
            uint64_t epoch = strtoull(sp + 1, NULL, 10);
            struct mb_project *p = find_project(L, nt->extra);
            if (p != NULL && p->pending && !p->visible && epoch >= p->want_epoch) {
                p->visible = true;
                p->t_vis = now;
                if (p->acked) {
                    settle_project(L, p);
                }
            }
        }
        PQfreemem(nt);
    }
}

static void closed_cb(uv_handle_t *h)
{
    (void)h;
}

static void conn_closed(struct client_conn *c)
{
    struct mb_lag *L = c->data;
    L->conn_open = false;
}

static void lag_finish(struct mb_lag *L)
{
    if (L->finished) {
        return;
    }
    L->finished = true;
    uv_timer_stop(&L->tick);
    if (L->poll_open) {
        uv_poll_stop(&L->poll);
    }
    if (L->conn_open) {
        client_conn_close(&L->conn, conn_closed);
    }
}

static void on_conn_error(struct client_conn *c)
{
    struct mb_lag *L = c->data;
    fprintf(stderr, "metastore_bench: the API connection failed: %s\n", c->errmsg);
    L->failed = true;
    lag_finish(L);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted V, in ms. */
static double pct(const int64_t *v, size_t n, double p)
{
    if (n == 0) {
        return NAN;
    }
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return ns_ms(v[rank - 1]);
}

static double mean_ms(const int64_t *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)v[i];
    }
    return n > 0 ? s / (double)n / 1e6 : NAN;
}

static int run_lag(void)
{
    static struct mb_lag L;
    char leader[CLIENT_ENDPOINT_MAX];
    char sql[1024];
    struct mirror_counters m0, m1;
    int rc = 1;

    if (find_leader(leader, sizeof leader, 10000) != 0) {
        fprintf(stderr, "metastore_bench: no leader\n");
        return 1;
    }
    if (load_projects(&L, leader) != 0 || load_engines(&L, leader) != 0) {
        free_projects(&L);
        return 1;
    }
    if (wait_mirror_quiet(leader, 0.5, &m0) != 0 || (L.pg = pg_open()) == NULL) {
        free_projects(&L);
        return 1;
    }
    snprintf(sql, sizeof sql,
             "CREATE OR REPLACE FUNCTION %s_fn() RETURNS trigger LANGUAGE plpgsql AS $$"
             " BEGIN PERFORM pg_notify('%s', NEW.epoch_target || ' ' || NEW.epoch_id); RETURN NULL; END $$",
             MB_TRIGGER, MB_CHANNEL);
    if (pg_exec(L.pg, sql) != 0) {
        goto out_pg;
    }
    snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s ON %s_epoch", MB_TRIGGER, O.prefix);
    if (pg_exec(L.pg, sql) != 0) {
        goto out_pg;
    }
    snprintf(sql, sizeof sql,
             "CREATE TRIGGER %s AFTER INSERT OR UPDATE ON %s_epoch FOR EACH ROW EXECUTE FUNCTION %s_fn()",
             MB_TRIGGER, O.prefix, MB_TRIGGER);
    if (pg_exec(L.pg, sql) != 0 || pg_exec(L.pg, "LISTEN " MB_CHANNEL) != 0) {
        goto out_trigger;
    }

    if (uv_loop_init(&L.loop) != 0) {
        goto out_trigger;
    }
    if (client_conn_init(&L.conn, &L.loop, leader) != 0) {
        fprintf(stderr, "metastore_bench: %s\n", L.conn.errmsg);
        uv_loop_close(&L.loop);
        goto out_trigger;
    }
    L.conn_open = true;
    L.conn.data = &L;
    L.conn.error_cb = on_conn_error;
    uv_timer_init(&L.loop, &L.tick);
    L.tick.data = &L;
    if (uv_poll_init(&L.loop, &L.poll, PQsocket(L.pg)) == 0) {
        L.poll_open = true;
        L.poll.data = &L;
        uv_poll_start(&L.poll, UV_READABLE, on_pg_readable);
    } else {
        L.failed = true;
    }
    L.period_ns_x1000 = (uint64_t)(1e12 / O.rate);
    fprintf(stderr,
            "metastore_bench: lag: %zu projects, %zu engines, project.move at %.0f/s open loop for %.0f s "
            "(%.0f s warm-up) against %s\n",
            L.n, L.n_engines, O.rate, O.duration_s, O.warmup_s, leader);
    if (client_conn_connect(&L.conn) != 0) {
        L.failed = true;
    }
    L.t0 = uv_hrtime();
    L.t_warm = L.t0 + (uint64_t)(O.warmup_s * 1e9);
    L.t_end = L.t0 + (uint64_t)(O.duration_s * 1e9);
    if (L.failed) {
        lag_finish(&L);
    } else {
        uv_timer_start(&L.tick, on_tick, 0, 1);
    }
    uv_run(&L.loop, UV_RUN_DEFAULT);
    if (!L.finished) {
        lag_finish(&L);
    }
    uv_close((uv_handle_t *)&L.tick, closed_cb);
    if (L.poll_open) {
        uv_close((uv_handle_t *)&L.poll, closed_cb);
    }
    uv_run(&L.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&L.loop) != 0) {
        fprintf(stderr, "metastore_bench: event loop closed with handles open\n");
    }

    {
        uint64_t missing = 0, missing_window = 0;
        for (size_t i = 0; i < L.n; i++) {
            if (L.p[i].pending) {
                missing++;
                missing_window += L.p[i].in_window;
            }
        }
        (void)mirror_status(leader, &m1);
        qsort(L.lag.v, L.lag.n, sizeof *L.lag.v, cmp_i64);
        qsort(L.ack.v, L.ack.n, sizeof *L.ack.v, cmp_i64);
        qsort(L.svis.v, L.svis.n, sizeof *L.svis.v, cmp_i64);
        qsort(L.bursts.v, L.bursts.n, sizeof *L.bursts.v, cmp_i64);
        double secs = O.duration_s - O.warmup_s;
        const char *l = O.label;
        printf("RESULT %s_decisions_per_s %.1f decisions/s\n", l, (double)L.ok_window / secs);
        printf("RESULT %s_p50 %.3f ms\n", l, pct(L.lag.v, L.lag.n, 50));
        printf("RESULT %s_p99 %.3f ms\n", l, pct(L.lag.v, L.lag.n, 99));
        printf("RESULT %s_p999 %.3f ms\n", l, pct(L.lag.v, L.lag.n, 99.9));
        printf("RESULT %s_mean %.3f ms\n", l, mean_ms(L.lag.v, L.lag.n));
        printf("RESULT %s_max %.3f ms\n", l, L.lag.n ? ns_ms(L.lag.v[L.lag.n - 1]) : NAN);
        printf("RESULT %s_samples %zu count\n", l, L.lag.n);
        printf("RESULT %s_missing %" PRIu64 " count\n", l, missing_window);
        printf("RESULT %s_errors %" PRIu64 " count\n", l, L.errors);
        printf("RESULT %s_ack_p50 %.3f ms\n", l, pct(L.ack.v, L.ack.n, 50));
        printf("RESULT %s_ack_p99 %.3f ms\n", l, pct(L.ack.v, L.ack.n, 99));
        printf("RESULT %s_send_to_visible_p99 %.3f ms\n", l, pct(L.svis.v, L.svis.n, 99));
        printf("RESULT %s_batch_interval_p50 %.3f ms\n", l, pct(L.bursts.v, L.bursts.n, 50));
        printf("RESULT %s_batch_interval_p99 %.3f ms\n", l, pct(L.bursts.v, L.bursts.n, 99));
        if (m1.batches >= m0.batches && m1.batches > m0.batches) {
            printf("RESULT %s_mirror_batches %" PRIu64 " count\n", l, m1.batches - m0.batches);
            printf("RESULT %s_decisions_per_batch %.1f count\n", l,
                   (double)L.ok / (double)(m1.batches - m0.batches));
        }
        fprintf(stderr,
                "metastore_bench: %" PRIu64 " moves issued (%" PRIu64 " ok, %" PRIu64 " in the window, %" PRIu64
                " errors, %" PRIu64 " skipped: still pending), schedule slip max %.1f ms; %" PRIu64
                " notifications, %" PRIu64 " visible before the reply, %" PRIu64 " never visible (%" PRIu64
                " in the window); lag p50 %.1f ms p99 %.1f ms max %.1f ms over %zu decisions; mirror %" PRIu64
                " batches, %" PRIu64 " rows\n",
                L.issued, L.ok, L.ok_window, L.errors, L.skipped, ns_ms((int64_t)L.max_late_ns), L.notifies,
                L.vis_before_ack, missing, missing_window, pct(L.lag.v, L.lag.n, 50), pct(L.lag.v, L.lag.n, 99),
                L.lag.n ? ns_ms(L.lag.v[L.lag.n - 1]) : NAN, L.lag.n, m1.batches - m0.batches, m1.writes - m0.writes);
        rc = (L.failed || L.lag.n == 0 || L.errors > 0 || missing_window > 0) ? 1 : 0;
    }

out_trigger:
    snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s ON %s_epoch", MB_TRIGGER, O.prefix);
    (void)pg_exec(L.pg, "UNLISTEN *");
    (void)pg_exec(L.pg, sql);
    snprintf(sql, sizeof sql, "DROP FUNCTION IF EXISTS %s_fn()", MB_TRIGGER);
    (void)pg_exec(L.pg, sql);
out_pg:
    PQfinish(L.pg);
    free_projects(&L);
    free(L.lag.v);
    free(L.ack.v);
    free(L.svis.v);
    free(L.bursts.v);
    return rc;
}

/* ---- options ---- */

static int num(const char *s, double lo, double hi, double *out)
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

static bool ident_ok(const char *p)
{
    if (*p == '\0' || strlen(p) > 50 || (*p >= '0' && *p <= '9')) {
        return false;
    }
    for (; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            return false;
        }
    }
    return true;
}

static int parse(int argc, char **argv)
{
    char *eps = NULL;
    O.mode = "lag";
    O.label = NULL;
    O.rate = 1000;
    O.duration_s = 20;
    O.warmup_s = 2;
    O.drain_s = 10;
    O.seconds = 60;
    O.settle_s = 11;
    O.deadline_s = 0;
    O.timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        struct {
            const char *name;
            double lo, hi, *dst;
        } nums[] = {
            {"--rate", 1, 1e6, &O.rate},           {"--duration", 0.1, 86400, &O.duration_s},
            {"--warmup", 0, 3600, &O.warmup_s},    {"--drain-s", 0, 3600, &O.drain_s},
            {"--seconds", 0.1, 86400, &O.seconds}, {"--settle-s", 0, 3600, &O.settle_s},
            {"--deadline-s", 1, 86400, &O.deadline_s},
        };
        bool done = false;
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            if (strcmp(a, nums[k].name) == 0) {
                if (v == NULL || num(v, nums[k].lo, nums[k].hi, &d) != 0) {
                    fprintf(stderr, "metastore_bench: %s needs a number in %g..%g\n", a, nums[k].lo, nums[k].hi);
                    return -1;
                }
                *nums[k].dst = d;
                i++;
                done = true;
            }
        }
        if (done) {
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            mb_usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "metastore_bench: unknown option or missing value: '%s'\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--mode") == 0) {
            O.mode = v;
        } else if (strcmp(a, "--endpoints") == 0) {
            eps = argv[i];
        } else if (strcmp(a, "--pg") == 0) {
            O.pg = v;
        } else if (strcmp(a, "--prefix") == 0) {
            O.prefix = v;
        } else if (strcmp(a, "--label") == 0) {
            O.label = v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            if (num(v, 1, 600000, &d) != 0) {
                fprintf(stderr, "metastore_bench: --timeout-ms needs a number\n");
                return -1;
            }
            O.timeout_ms = (unsigned)d;
        } else {
            fprintf(stderr, "metastore_bench: unknown option '%s'\n", a);
            return -1;
        }
    }
    if (strcmp(O.mode, "lag") != 0 && strcmp(O.mode, "idle") != 0) {
        fprintf(stderr, "metastore_bench: --mode is lag or idle\n");
        return -1;
    }
    if (eps == NULL || O.pg == NULL || O.prefix == NULL) {
        fprintf(stderr, "metastore_bench: --endpoints, --pg and --prefix are required\n");
        return -1;
    }
    if (!ident_ok(O.prefix)) {
        fprintf(stderr, "metastore_bench: --prefix must be a lower-case SQL identifier\n");
        return -1;
    }
    char *save = NULL;
    for (char *tok = strtok_r(eps, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (O.n_endpoints == MB_MAX_ENDPOINTS) {
            fprintf(stderr, "metastore_bench: too many endpoints\n");
            return -1;
        }
        O.endpoints[O.n_endpoints++] = tok;
    }
    if (O.n_endpoints == 0) {
        return -1;
    }
    if (O.warmup_s >= O.duration_s) {
        fprintf(stderr, "metastore_bench: --warmup must be shorter than --duration\n");
        return -1;
    }
    if (O.label == NULL) {
        O.label = strcmp(O.mode, "lag") == 0 ? "metastore_lag" : "raftnode_metastore";
    }
    if (O.deadline_s == 0) {
        O.deadline_s = strcmp(O.mode, "lag") == 0 ? O.duration_s + O.drain_s + 120 : O.seconds + 300;
    }
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse(argc, argv) != 0) {
        mb_usage(stderr);
        return 2;
    }
    T_RUN0 = uv_hrtime();
    return strcmp(O.mode, "lag") == 0 ? run_lag() : run_idle();
}
