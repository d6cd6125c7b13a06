/* http_metrics: the /metrics document (Prometheus text format 0.0.4) from this member's state,
 * on the loop thread: raft, apply lag, engines and this member's lease, ownership changes,
 * the metastore mirror, write batching, the API's own counters (metrics.c), loop lag and the
 * process. Every metric is listed with its meaning in docs/observability.md. */
#include <dirent.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "aio_defer.h"
#include "autopilot.h"
#include "fsm_glue.h"
#include "common/mp.h"
#include "config.h"
#include "engine.h"
#include "handlers.h"
#include "http.h"
#include "kylin_link.h"
#include "metastore/mirror.h"
#include "metrics.h"
#include "proposal.h"
#include "raft_fix.h"
#include "scheduler.h"
#include "storage/stats.h"
#include "storage/store.h"

void http_metrics_tick(struct http *h)
{
    const struct api_ctx *ctx = &h->ctx;
    uint64_t now = uv_hrtime();
    uint64_t expected = h->lag_last_ns + (uint64_t)HTTP_LAG_TICK_MS * 1000000u;
    double lag = now > expected ? (double)(now - expected) / 1e9 : 0;
    char api[64];
    uint64_t leader;

    h->lag_last_ns = now;
    metrics_hist_observe(&metrics_global.loop_lag, lag);
    if (lag > metrics_global.loop_lag_max_s) {
        metrics_global.loop_lag_max_s = lag;
    }
    leader = ctx->host.leader(ctx->host.node, api, sizeof api);
    if (leader != h->last_leader) {
        metrics_global.leader_changes++;
        h->last_leader = leader;
    }
}

static void gauge(struct metrics_buf *b, const char *name, const char *help, double v)
{
    metrics_write_header(b, name, "gauge", help);
    metrics_write_sample(b, name, NULL, 0, v);
}

static void raft_figures(struct http *h, struct metrics_buf *b)
{
    const struct api_ctx *ctx = &h->ctx;
    struct raft *r = ctx->raft;
    uint64_t commit = raft_commit_index(r), applied = ctx->host.applied_index(ctx->host.node);
    uint64_t last = raft_last_index(r), snap = ctx->fsm != NULL ? ctx->fsm->snapshot_index : 0;
    char api[64];
    uint64_t leader = ctx->host.leader(ctx->host.node, api, sizeof api);
    static const char *const states[] = {"follower", "candidate", "leader", "unavailable"};
    static const int state_ids[] = {RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER, RAFT_UNAVAILABLE};
    int state = raft_state(r);
    unsigned voters = 0, standbys = 0, spares = 0;

    gauge(b, "raftnode_id", "This member's raft.node.id.", (double)ctx->cfg->node_id);
    gauge(b, "raftnode_term", "Current Raft term.", (double)raft_current_term(r));
    gauge(b, "raftnode_is_leader", "1 when this member is the Raft leader, else 0.", state == RAFT_LEADER);
    gauge(b, "raftnode_has_leader", "1 when this member knows a leader, else 0.", leader != 0);
    gauge(b, "raftnode_leader_id", "Id of the leader this member knows (0: none).", (double)leader);
    metrics_write_header(b, "raftnode_state", "gauge", "1 for this member's Raft state, 0 for the others.");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        struct metrics_label l = {"state", states[i]};
        metrics_write_sample(b, "raftnode_state", &l, 1, state == state_ids[i]);
    }
    gauge(b, "raftnode_commit_index", "Highest log index this member knows to be committed.", (double)commit);
    gauge(b, "raftnode_applied_index", "Highest log index applied to this member's SQLite state.", (double)applied);
    gauge(b, "raftnode_apply_lag_entries", "Committed entries not applied here yet (commit - applied).",
          commit > applied ? (double)(commit - applied) : 0);
    gauge(b, "raftnode_last_log_index", "Index of the last entry in this member's Raft log.", (double)last);
    gauge(b, "raftnode_snapshot_index", "Last log index covered by this member's persisted snapshot.", (double)snap);
    gauge(b, "raftnode_log_entries_since_snapshot",
          "Log entries after the last snapshot (a snapshot is taken past raft.snapshot-threshold).",
          last > snap ? (double)(last - snap) : 0);
    gauge(b, "raftnode_snapshot_in_progress", "1 while this member takes a snapshot.", r->legacy.snapshot_taking);
    gauge(b, "raftnode_snapshot_installing", "1 while this member installs a snapshot from the leader.",
          r->legacy.snapshot_install);
    for (unsigned i = 0; i < r->configuration.n; i++) {
        int role = r->configuration.servers[i].role;
        voters += role == RAFT_VOTER;
        standbys += role == RAFT_STANDBY;
        spares += role == RAFT_SPARE;
    }
    metrics_write_header(b, "raftnode_members", "gauge", "Members of the Raft configuration, by role.");
    struct metrics_label l = {"role", "voter"};
    metrics_write_sample(b, "raftnode_members", &l, 1, voters);
    l.value = "standby";
    metrics_write_sample(b, "raftnode_members", &l, 1, standbys);
    l.value = "spare";
    metrics_write_sample(b, "raftnode_members", &l, 1, spares);
    metrics_write_header(b, "raftnode_leader_changes_total", "counter",
                         "Times the leader this member knows changed (including to none), since start.");
    metrics_write_sample(b, "raftnode_leader_changes_total", NULL, 0, (double)metrics_global.leader_changes);
}

/* The leader's autopilot (autopilot.h), on the leader only: the figures are its own view. */
static void autopilot_figures(struct http *h, struct metrics_buf *b)
{
    struct autopilot *ap = h->ctx.autopilot;
    struct autopilot_view v;
    struct autopilot_summary s;
    uint64_t now = uv_now(h->ctx.loop);

    if (ap == NULL || !autopilot_refresh(ap, now)) {
        return;
    }
    autopilot_view(ap, now, &v);
    autopilot_summarise(&ap->params, &v, &s);
    gauge(b, "raftnode_autopilot_healthy", "Leader only: 1 when every voter and standby is healthy (autopilot).",
          s.healthy);
    gauge(b, "raftnode_autopilot_failure_tolerance", "Leader only: voters that may fail with a quorum left.",
          s.failure_tolerance);
    gauge(b, "raftnode_autopilot_healthy_voters", "Leader only: voters heard from recently and caught up.",
          s.healthy_voters);
    metrics_write_header(b, "raftnode_autopilot_actions_total", "counter",
                         "Leader only: configuration changes the autopilot started in this process.");
    metrics_write_sample(b, "raftnode_autopilot_actions_total", NULL, 0, (double)ap->actions);
}

static void engine_figures(struct http *h, struct metrics_buf *b)
{
    const struct api_ctx *ctx = &h->ctx;
    struct store_engine *engines = NULL;
    size_t ne = 0;
    char id[24];
    struct metrics_label l = {"engine", id};

    if (store_load_engines(ctx->store, &engines, &ne) != 0) {
        ne = 0;
        engines = NULL;
    }
    metrics_write_header(b, "raftnode_engine_alive", "gauge", "1 when the engine is alive in the replicated state.");
    for (size_t i = 0; i < ne; i++) {
        snprintf(id, sizeof id, "%llu", (unsigned long long)engines[i].id);
        metrics_write_sample(b, "raftnode_engine_alive", &l, 1, engines[i].alive);
    }
    metrics_write_header(b, "raftnode_engine_projects", "gauge", "Projects the engine owns.");
    for (size_t i = 0; i < ne; i++) {
        snprintf(id, sizeof id, "%llu", (unsigned long long)engines[i].id);
        metrics_write_sample(b, "raftnode_engine_projects", &l, 1, (double)engines[i].projects);
    }
    metrics_write_header(b, "raftnode_engine_draining", "gauge", "1 when the engine is drained (raftctl drain).");
    for (size_t i = 0; i < ne; i++) {
        snprintf(id, sizeof id, "%llu", (unsigned long long)engines[i].id);
        metrics_write_sample(b, "raftnode_engine_draining", &l, 1, engines[i].draining);
    }
    metrics_write_header(b, "raftnode_engine_heartbeat_age_seconds", "gauge",
                         "Seconds since the engine's last heartbeat, on the leader's clock (the leader only).");
    for (size_t i = 0; i < ne; i++) {
        int64_t ms = scheduler_silence_ms(ctx->scheduler, engines[i].id);
        if (ms >= 0) {
            snprintf(id, sizeof id, "%llu", (unsigned long long)engines[i].id);
            metrics_write_sample(b, "raftnode_engine_heartbeat_age_seconds", &l, 1, (double)ms / 1000.0);
        }
    }
    free(engines);

    int64_t left = engine_lease_ms_left(ctx->engine);
    gauge(b, "raftnode_lease_valid", "1 while this member's engine holds a valid lease (may act for its projects).",
          engine_lease_valid(ctx->engine));
    gauge(b, "raftnode_lease_remaining_seconds", "Seconds of lease left for this member's engine (0: expired).",
          left > 0 ? (double)left / 1000.0 : 0);
    metrics_write_header(b, "raftnode_engine_heartbeats_sent_total", "counter",
                         "Heartbeats this member's engine sent to the leader.");
    metrics_write_sample(b, "raftnode_engine_heartbeats_sent_total", NULL, 0, (double)ctx->engine->sent);
    metrics_write_header(b, "raftnode_engine_heartbeats_acked_total", "counter",
                         "Heartbeats of this member's engine the leader acknowledged.");
    metrics_write_sample(b, "raftnode_engine_heartbeats_acked_total", NULL, 0, (double)ctx->engine->acked);
}

static void reason_cb(void *data, const char *reason, uint64_t n)
{
    struct metrics_buf *b = data;
    struct metrics_label l = {"reason", reason};
    metrics_write_sample(b, "raftnode_ownership_changes_total", &l, 1, (double)n);
}

/* Ownership changes by reason from the history table, counted again only after an apply
 * changed ownership (store->ownership_version): a scrape normally costs no table scan. */
static void ownership_figures(struct http *h, struct metrics_buf *b)
{
    struct store *s = h->ctx.store;
    metrics_write_header(b, "raftnode_ownership_changes_total", "counter",
                         "Ownership changes in the replicated history, by reason.");
    if (!h->reasons_valid || h->reasons_version != s->ownership_version) {
        struct metrics_buf rb;
        size_t len;
        metrics_buf_init(&rb, 1024 * 1024);
        if (store_count_history_reasons(s, reason_cb, &rb) != 0) {
            metrics_buf_free(&rb);
            return; /* the samples are left out; the next scrape tries again */
        }
        free(h->reasons_text);
        h->reasons_text = metrics_buf_take(&rb, &len);
        h->reasons_valid = h->reasons_text != NULL;
        h->reasons_version = s->ownership_version;
    }
    if (h->reasons_text != NULL) {
        metrics_buf_put(b, h->reasons_text, strlen(h->reasons_text));
    }
}

static void mirror_figures(struct http *h, struct metrics_buf *b)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    bool enabled = false, mirroring = false, connected = false;
    uint64_t lag_ms = 0, lag_entries = 0;
    const msgpack_object *err;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mirror_status(h->ctx.mirror, &pk);
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
        (void)mp_get_bool(&u.data, "enabled", &enabled);
        (void)mp_get_bool(&u.data, "mirroring", &mirroring);
        (void)mp_get_bool(&u.data, "connected", &connected);
        (void)mp_get_u64(&u.data, "lag_ms", &lag_ms);
        (void)mp_get_u64(&u.data, "lag_entries", &lag_entries);
        err = mp_get(&u.data, "last_error");
        gauge(b, "raftnode_mirror_enabled", "1 when a metastore mirror is configured.", enabled);
        gauge(b, "raftnode_mirror_active", "1 while this member (the leader) mirrors into the metastore.", mirroring);
        gauge(b, "raftnode_mirror_connected", "1 while the mirror is connected to the metastore.", connected);
        gauge(b, "raftnode_mirror_lag_seconds",
              "Age of the oldest ownership decision the metastore does not show yet (0 when caught up or not "
              "mirroring here).",
              (double)lag_ms / 1000.0);
        gauge(b, "raftnode_mirror_lag_entries", "Decisions the metastore does not show yet.", (double)lag_entries);
        gauge(b, "raftnode_mirror_error", "1 while the mirror's last attempt failed (raftctl metastore status).",
              err != NULL && err->type == MSGPACK_OBJECT_STR);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* The link to the local Kylin (raft.kylin.url; kylin_link.c); all 0 without one. */
static void kylin_figures(struct http *h, struct metrics_buf *b)
{
    const struct kylin_link *k = h->ctx.kylin;
    struct metrics_label l = {"result", "ok"};

    gauge(b, "raftnode_kylin_enabled", "1 when raft.kylin.url names a Kylin node.", k->enabled);
    gauge(b, "raftnode_kylin_health_up", "1 while the local Kylin's last health answer was UP.",
          k->health_known && k->health == KYLIN_HEALTH_UP);
    metrics_write_counter(b, "raftnode_kylin_health_probes_total", "Health probes of the local Kylin answered (or failed).",
            k->probes);
    metrics_write_counter(b, "raftnode_kylin_health_failures_total",
            "Health probes whose answer was not UP (DOWN, metastore unhealthy, no answer in time).", k->health_failures);
    metrics_write_header(b, "raftnode_kylin_claims_total", "counter",
                         "Projects claimed through the local Kylin's REST API, by the call's result.");
    metrics_write_sample(b, "raftnode_kylin_claims_total", &l, 1, (double)k->claims_ok);
    l.value = "failed";
    metrics_write_sample(b, "raftnode_kylin_claims_total", &l, 1, (double)k->claims_failed);
    metrics_write_counter(b, "raftnode_kylin_claim_calls_total", "Claim calls (POST /api/epoch) sent to the local Kylin.",
            k->claim_calls);
    metrics_write_counter(b, "raftnode_kylin_repairs_total",
            "Projects claimed again after this engine had verified them: their epoch row drifted, or Kylin "
            "restarted.", k->repairs);
    metrics_write_counter(b, "raftnode_kylin_releases_total", "Projects the local Kylin was told to release (another owner).",
            k->releases);
    metrics_write_counter(b, "raftnode_kylin_pokes_total", "Pokes (POST /api/broadcast) sent to the local Kylin.", k->pokes);
    metrics_write_counter(b, "raftnode_kylin_pokes_held_total",
            "Pokes deferred because the previous one went unanswered (it may still run in Kylin).", k->pokes_held);
    metrics_write_counter(b, "raftnode_kylin_rounds_total", "Reconcile rounds (epoch table read, claims, pokes) finished.",
            k->rounds);
    gauge(b, "raftnode_kylin_unverified_claims",
          "Claimed projects the last epoch table read did not show as this engine's (row drift while > 0 for long).",
          (double)k->unverified);
}

/* A histogram of durations kept as N non-cumulative BUCKETS (the last: past every bound) in
 * integer units of UNIT seconds (BOUNDS in the same units, N - 1 of them), with SUM. */
static void duration_hist(struct metrics_buf *b, const char *name, const char *help, const double *bounds,
                          double unit, const uint64_t *buckets, unsigned n, uint64_t sum)
{
    double secs[METRICS_HIST_MAX_BOUNDS];
    struct metrics_hist hist;

    if (n - 1 > METRICS_HIST_MAX_BOUNDS) {
        return; /* not reached: the callers' bucket counts are compile-time constants below the cap */
    }
    for (unsigned i = 0; i + 1 < n; i++) {
        secs[i] = bounds[i] * unit;
    }
    metrics_hist_init(&hist, secs, n - 1);
    for (unsigned i = 0; i < n; i++) {
        if (i + 1 < n) {
            hist.buckets[i] = buckets[i];
        }
        hist.count += buckets[i];
    }
    hist.sum = (double)sum * unit;
    metrics_write_header(b, name, "histogram", help);
    metrics_write_hist(b, name, NULL, 0, &hist);
}

static void proposal_figures(struct http *h, struct metrics_buf *b)
{
    static const double bounds[PROPOSAL_SIZE_BUCKETS - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    const struct proposals *p = h->ctx.proposals;
    struct metrics_hist hist;

    metrics_hist_init(&hist, bounds, PROPOSAL_SIZE_BUCKETS - 1);
    for (unsigned i = 0; i + 1 < PROPOSAL_SIZE_BUCKETS; i++) {
        hist.buckets[i] = p->batches_by_size[i];
        hist.count += p->batches_by_size[i];
    }
    hist.count += p->batches_by_size[PROPOSAL_SIZE_BUCKETS - 1];
    hist.sum = (double)p->batched_commands;
    metrics_write_header(b, "raftnode_proposal_batch_commands", "histogram",
                         "Commands per log entry this member proposed as leader (write batching).");
    metrics_write_hist(b, "raftnode_proposal_batch_commands", NULL, 0, &hist);
    gauge(b, "raftnode_proposals_inflight", "Log entries proposed here and not yet applied.", p->n_inflight);

    static const double commit_bounds_ms[PROPOSAL_COMMIT_BUCKETS - 1] = PROPOSAL_COMMIT_BOUNDS_MS;
    duration_hist(b, "raftnode_proposal_commit_seconds",
                  "Leader: seconds from proposing a log entry to having applied it (append, replication, "
                  "commit, apply; millisecond resolution).",
                  commit_bounds_ms, 1e-3, p->commit_ms_buckets, PROPOSAL_COMMIT_BUCKETS, p->commit_ms_sum);
    if (h->ctx.raft_fix != NULL) {
        static const double append_bounds_us[RAFT_FIX_APPEND_BUCKETS - 1] = RAFT_FIX_APPEND_BOUNDS_US;
        const struct raft_fix *f = h->ctx.raft_fix;
        duration_hist(b, "raftnode_raft_append_duration_seconds",
                      "Seconds from handing entries to libraft's disk I/O (raft_io append) to its completion "
                      "callback: the log write as raft sees it, on leader and followers.",
                      append_bounds_us, 1e-6, f->append_us_buckets, RAFT_FIX_APPEND_BUCKETS, f->append_us_sum);
    }
}

static void process_figures(struct metrics_buf *b)
{
    struct rusage ru;
    struct rlimit rl;
    long page = sysconf(_SC_PAGESIZE);
    unsigned long size = 0, resident = 0;
    unsigned fds = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    DIR *d;
    struct dirent *e;

    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
            size = resident = 0;
        }
        (void)fclose(f);
    }
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
          (double)resident * (double)(page > 0 ? page : 4096));
    gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          (double)size * (double)(page > 0 ? page : 4096));
    d = opendir("/proc/self/fd");
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            fds += e->d_name[0] != '.';
        }
        (void)closedir(d);
        gauge(b, "process_open_fds", "Open file descriptors (the listing's own included).", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        gauge(b, "process_max_fds", "Limit of open file descriptors.",
              rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                     (double)ru.ru_stime.tv_usec / 1e6;
        metrics_write_header(b, "process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
        metrics_write_sample(b, "process_cpu_seconds_total", NULL, 0, cpu);
    }
}

/* Where libraft's AIO contexts were torn down (aio_defer.h): on the background thread, or on the
 * loop because deferring was not possible. A member that takes snapshots and shows none
 * deferred has the snapshot stall back (e.g. a libraft that no longer calls syscall(3)). */
static void aio_figures(struct metrics_buf *b)
{
    struct metrics_label l = {"on", "background"};
    metrics_write_header(b, "raftnode_aio_destroys_total", "counter",
                         "io_destroy calls of libraft's AIO contexts made on the loop thread, by where they ran: "
                         "background (deferred) or loop (queue full, or the worker closed).");
    metrics_write_sample(b, "raftnode_aio_destroys_total", &l, 1, (double)aio_defer_deferred);
    l.value = "loop";
    metrics_write_sample(b, "raftnode_aio_destroys_total", &l, 1, (double)aio_defer_inline);
}

void http_metrics_render(struct http *h, struct metrics_buf *b)
{
    char why[320];
    /* While plain reads are held after a start (read_gate.h) the replicated state may be older
     * than what this member showed before: its figures are left out rather than going back. */
    bool reads_open = handlers_reads_open(&h->ctx, why, sizeof why);

    raft_figures(h, b);
    gauge(b, "raftnode_reads_open", "0 while this member holds plain reads after its start, re-applying its log.",
          reads_open);
    autopilot_figures(h, b);
    if (reads_open) {
        engine_figures(h, b);
        ownership_figures(h, b);
    }
    mirror_figures(h, b);
    kylin_figures(h, b);
    proposal_figures(h, b);
    metrics_write_own(b);
    aio_figures(b);
    process_figures(b);
}
