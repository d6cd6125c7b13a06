/* node: start-up, the periodic tick, and orderly shutdown of one raftnode (see node.h). */
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aio_defer.h"
#include "fsm_glue.h"
#include "common/client.h"
#include "common/log.h"
#include "membership.h"
#include "metrics.h"
#include "peer_transport.h"
#include "recover.h"

#define NODE_TICK_MS 50

static int ensure_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            log_error("data directory %s exists but is not a directory; fix raft.data-dir", path);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT || mkdir(path, 0700) != 0) {
        log_error("cannot create data directory %s: %s; check raft.data-dir and permissions",
                  path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A raft directory that libraft has never written to holds neither metadata file. */
static bool raft_dir_is_pristine(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/metadata1", dir);
    if (access(path, F_OK) == 0) {
        return false;
    }
    snprintf(path, sizeof path, "%s/metadata2", dir);
    return access(path, F_OK) != 0;
}

static int bootstrap_if_needed(struct node *n)
{
    const struct config *c = n->cfg;
    struct raft_configuration conf;
    bool listed = false;
    int rv;

    if (!raft_dir_is_pristine(n->datadir_raft)) {
        return 0;
    }
    if (c->n_peers == 0) {
        log_info("empty data directory and raft.join=%s: waiting to be added to the cluster", c->join);
        return 0;
    }
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < c->n_peers; i++) {
        static const int roles[] = {RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE};
        listed = listed || c->peers[i].id == c->node_id;
        rv = raft_configuration_add(&conf, c->peers[i].id, c->peers[i].address, roles[c->peers[i].role]);
        if (rv != 0) {
            log_error("raft.initial-cluster entry %llu=%s: %s", (unsigned long long)c->peers[i].id,
                      c->peers[i].address, raft_strerror(rv));
            raft_configuration_close(&conf);
            return -1;
        }
    }
    if (!listed) {
        raft_configuration_close(&conf);
        log_error("raft.node.id %llu is not listed in raft.initial-cluster; a member added to a "
                  "running cluster must use raft.join instead", (unsigned long long)c->node_id);
        return -1;
    }
    rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        log_error("bootstrap of %s failed: %s (%s)", n->datadir_raft, raft_strerror(rv), raft_errmsg(&n->raft));
        return -1;
    }
    n->bootstrapped = rv == 0;
    log_info("bootstrapped a new cluster of %u members in %s", c->n_peers, n->datadir_raft);
    return 0;
}

static void node_close(struct node *n);

/* ---- the API's view of this member (struct api_ctx, api.h) ---- */

static uint64_t host_leader(void *node, char *api, size_t cap)
{
    return node_leader(node, api, cap);
}

static uint64_t host_applied_index(void *node)
{
    return node_applied_index(node);
}

static const char *host_state_name(void *node)
{
    return node_state_name(node);
}

static bool host_running(void *node)
{
    return ((struct node *)node)->phase == NODE_RUNNING;
}

/* Plain reads after a start wait until this member re-applied what it may have served before
 * (read_gate.h); logged once when they open. */
static bool host_reads_open(void *node, uint64_t *target)
{
    struct node *n = node;
    bool was = n->read_gate.open;
    uint64_t applied = node_applied_index(n);
    bool open = read_gate_check(&n->read_gate, applied);
    *target = n->read_gate.target;
    if (open && !was) {
        log_info("plain reads open: applied index %llu reached %llu (local log's last index at start: %llu)",
                 (unsigned long long)applied, (unsigned long long)n->read_gate.target,
                 (unsigned long long)n->read_gate.last_index);
    }
    return open;
}

static bool host_writes_full(void *node)
{
    return proposals_full(&((struct node *)node)->proposals);
}

static void api_ctx_fill(struct node *n, struct api_ctx *ctx)
{
    *ctx = (struct api_ctx){
        .loop = n->loop,
        .cfg = n->cfg,
        .store = &n->store,
        .raft = &n->raft,
        .proposals = &n->proposals,
        .scheduler = &n->scheduler,
        .bg = &n->bg,
        .engine = &n->engine,
        .mirror = &n->mirror,
        .kylin = &n->kylin,
        .autopilot = &n->autopilot,
        .raft_fix = &n->raft_fix,
        .fsm = &n->fsm,
        .host = {.node = n, .leader = host_leader, .applied_index = host_applied_index,
                 .state_name = host_state_name, .running = host_running, .writes_full = host_writes_full,
                 .reads_open = host_reads_open},
    };
}

/* ---- the hosts of the FSM glue, the write pipeline and the scheduler (the simulation has
 * its own: tests/sim/cluster.c, leader.c) ---- */

static void fsm_stop(void *data)
{
    node_stop(data, 1);
}

static void fsm_handover(void *data, const char *project, size_t len)
{
    struct node *n = data;
    engine_handover(&n->engine, project, len);
}

static void fsm_grace_all(void *data)
{
    struct node *n = data;
    engine_grace_all(&n->engine);
}

/* Group commit (store.h): the entries applied in the last raft.apply.group-commit-ms share one
 * SQLite transaction. The mirror's worker reads through its own connection, so it hears of a
 * decision once it is committed. */
static void group_commit(struct node *n)
{
    uint64_t decided = n->store.committed_decision_index;
    if (fsm_glue_commit(&n->fsm) == 0 && n->store.committed_decision_index != decided) {
        mirror_decided(&n->mirror); /* the leader's mirror starts its batch now, not at the tick */
    }
}

static void group_commit_cb(uv_timer_t *t)
{
    group_commit(t->data);
}

static void fsm_applied(void *data, uint64_t index, bool decision, const struct raft_buffer *buf,
                        const struct store_results *r)
{
    struct node *n = data;
    (void)index;
    (void)decision;
    (void)buf;
    (void)r;
    if (n->cfg->group_commit_ms == 0 || uv_is_closing((uv_handle_t *)&n->group_commit)) {
        group_commit(n); /* closing: store_close would commit it anyway */
    } else if (n->store.group_entries > 0 && !uv_is_active((uv_handle_t *)&n->group_commit)) {
        uv_timer_start(&n->group_commit, group_commit_cb, n->cfg->group_commit_ms, 0);
    }
}

static void proposals_flush_cb(uv_check_t *h)
{
    struct node *n = h->data;
    proposals_flush(&n->proposals);
}

static void proposals_flush_wanted(void *data, bool wanted)
{
    struct node *n = data;
    if (uv_is_closing((uv_handle_t *)&n->proposals_flush)) {
        return;
    }
    if (wanted) {
        uv_check_start(&n->proposals_flush, proposals_flush_cb);
    } else {
        uv_check_stop(&n->proposals_flush);
    }
}

static void proposals_room(void *data)
{
    struct node *n = data;
    api_resume(&n->api);
}

static uint64_t sched_now_ms(void *data)
{
    struct node *n = data;
    return uv_now(n->loop);
}

static uint64_t sched_wall_ms(void *data)
{
    struct timespec ts;
    (void)data;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool sched_running(void *data)
{
    struct node *n = data;
    return n->phase == NODE_RUNNING;
}

static void tick_cb(uv_timer_t *t);

/* The member's tick runs in the next loop iteration instead of at its turn, then every
 * NODE_TICK_MS again (the scheduler's backlog, scheduler.h). */
static void sched_tick_soon(void *data)
{
    struct node *n = data;
    if (n->phase == NODE_RUNNING && !uv_is_closing((uv_handle_t *)&n->tick)) {
        uv_timer_start(&n->tick, tick_cb, 0, NODE_TICK_MS);
    }
}

/* The write pipeline (proposal.h) and its flush check handle. 0 or -1. */
static int pipeline_init(struct node *n)
{
    struct proposals_host host = {.data = n, .flush_wanted = proposals_flush_wanted, .room = proposals_room};
    if (uv_check_init(n->loop, &n->proposals_flush) != 0) {
        return -1;
    }
    n->proposals_flush.data = n;
    return proposals_init(&n->proposals, &n->raft, &host);
}

static int scheduler_start(struct node *n)
{
    struct scheduler_host host = {
        .raft = &n->raft,
        .store = &n->store,
        .proposals = &n->proposals,
        .fsm_failed = &n->fsm.failed,
        .heartbeat_timeout_ms = (uint64_t)n->cfg->heartbeat_timeout_s * 1000,
        .data = n,
        .now_ms = sched_now_ms,
        .wall_ms = sched_wall_ms,
        .running = sched_running,
        .tick_soon = sched_tick_soon,
    };
    return scheduler_init(&n->scheduler, &host);
}

static bool mirror_leading(void *data)
{
    struct node *n = data;
    return raft_state(&n->raft) == RAFT_LEADER;
}

/* The metastore mirror (metastore/mirror.h): its settings and what it reads on the loop. */
static int mirror_setup(struct node *n)
{
    const struct config *c = n->cfg;
    struct mirror_config mc = {
        .metastore_url = c->metastore_url,
        .metadata_url = c->metadata_url,
        .password_file = c->metastore_password_file,
        .db_path = n->db_path,
        .node_id = c->node_id,
        .api_address = c->api_address,
        .identity = c->identity,
        .log_level = c->log_level,
        .epoch_rows_off = config_kylin_attached(c),
    };
    struct mirror_host host = {
        .loop = n->loop, .store = &n->store, .data = n, .leading = mirror_leading, .role_name = node_role_name};
    return mirror_init(&n->mirror, &mc, &host);
}

static void autopilot_heard(void *data, raft_id from)
{
    struct node *n = data;
    autopilot_contact(&n->autopilot, from, uv_now(n->loop));
}

/* The autopilot (autopilot.h) and its last-contact hook in the raft I/O guard. */
static void autopilot_setup(struct node *n)
{
    struct autopilot_params p;
    unsigned initial_voters;
    autopilot_params_from_config(n->cfg, &p, &initial_voters);
    autopilot_init(&n->autopilot, &n->raft, &p, initial_voters);
    n->raft_fix.on_recv = autopilot_heard;
    n->raft_fix.on_recv_data = n;
}

static void tick_cb(uv_timer_t *t)
{
    struct node *n = t->data;
    raft_id leader;
    const char *addr;
    int state;

    if (n->raft_fix.append_failures > 0 && n->phase == NODE_RUNNING) {
        log_error("raft log write failed in %s: %s; stopping this member (libraft cannot retry a "
                  "failed append). Free disk space or fix the disk, then start it again: it reloads "
                  "its log and the leader sends what is missing; the other members keep serving",
                  n->datadir_raft, n->raft_fix.append_error);
        node_stop(n, 1);
        return;
    }
    if (n->phase == NODE_RUNNING) {
        (void)fsm_glue_check(&n->fsm); /* a hash's commit may have broken the store: stop now */
    }
    if (!n->read_gate.open) {
        uint64_t target;
        (void)host_reads_open(n, &target); /* logs the opening without waiting for a read */
    }
    if (n->raft_fix.rewritten != n->raft_fix.reported) {
        log_info("raft guard: %llu AppendEntries message(s) reached below this member's snapshot at "
                 "index %llu (%llu committed entries dropped from them); rewritten to start at the "
                 "snapshot instead of crashing libraft 0.22.1 (see raftnode/raft_fix.h)",
                 (unsigned long long)(n->raft_fix.rewritten - n->raft_fix.reported),
                 (unsigned long long)n->raft_fix.snap_index, (unsigned long long)n->raft_fix.dropped);
        n->raft_fix.reported = n->raft_fix.rewritten;
    }
    if (n->raft_fix.terms_fixed != n->raft_fix.terms_reported) {
        log_warn("raft guard: corrected the last_term of %llu outgoing InstallSnapshot message(s) "
                 "(libraft 0.22.1 sends a newer snapshot's index with an older one's term; see "
                 "raftnode/raft_fix.h)", (unsigned long long)(n->raft_fix.terms_fixed - n->raft_fix.terms_reported));
        n->raft_fix.terms_reported = n->raft_fix.terms_fixed;
    }
    if (n->raft_fix.pipeline_keep_off && !n->raft_fix.keep_off_reported) {
        log_warn("raft guard: libraft's replication progress does not look like libraft 0.22.1's; the rule "
                 "that keeps live followers in pipeline replication is off (see raftnode/raft_fix.h, "
                 "\"Twelfth\"): failovers may be slower, nothing else changes. Check the installed libraft");
        n->raft_fix.keep_off_reported = 1;
    }
    if (n->phase == NODE_TRANSFERRING && uv_now(n->loop) >= n->transfer_deadline_ms) {
        /* The transferee never took over (it may be stopping too): stop anyway. */
        log_warn("leadership transfer did not finish within %llu ms; stopping anyway",
                 (unsigned long long)(2 * n->cfg->election_timeout_ms));
        node_close(n);
        return;
    }
    if (n->phase != NODE_RUNNING) {
        return;
    }
    state = raft_state(&n->raft);
    raft_leader(&n->raft, &leader, &addr);
    if (leader != n->last_leader_id || state != n->last_state) {
        log_info("state %s, term %llu, leader %llu", node_state_name(n),
                 (unsigned long long)raft_current_term(&n->raft), (unsigned long long)leader);
        n->last_leader_id = leader;
        n->last_state = state;
    }
    membership_tick(n);
    removal_tick(n);
    if (n->phase != NODE_RUNNING) {
        return; /* gave up joining (raft.join-timeout-ms), or removed: the member is stopping */
    }
    scheduler_tick(&n->scheduler);
    autopilot_tick(&n->autopilot, uv_now(n->loop));
    struct mirror_raft_state ms = {.leader = state == RAFT_LEADER,
                                   .term = raft_current_term(&n->raft),
                                   .leader_id = leader,
                                   .conf = &n->raft.configuration};
    mirror_notify(&n->mirror, &ms);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct node *n = s->data;
    log_info("received %s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    node_stop(n, 0);
}

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void raft_closed_cb(struct raft *r)
{
    struct node *n = r->data;
    raft_uv_close(&n->io);
    raft_fix_unwrap(&n->raft_fix);
    snap_async_unwrap(&n->snap_async);
    aio_defer_attach(NULL); /* libraft's io closed: its io_destroy calls were made */
    /* after raft (no snapshot copy in flight) and the checkpointer (closed in node_close; a
     * checkpoint in flight is waited for, one queued cancelled), before the store */
    bgworker_close(&n->bg);
    peer_transport_close(&n->transport);
    store_close(&n->store);
    if (!uv_is_closing((uv_handle_t *)&n->close_timer)) {
        uv_close((uv_handle_t *)&n->close_timer, handle_closed);
    }
    n->phase = NODE_CLOSED;
    log_info("stopped");
}

int node_start(struct node *n, uv_loop_t *loop, const struct config *cfg)
{
    struct api_ctx api_ctx;
    struct api_limits api_limits;
    int rv;

    memset(n, 0, sizeof *n);
    metrics_init();
    n->loop = loop;
    n->cfg = cfg;
    n->last_state = -1;
    snprintf(n->datadir_raft, sizeof n->datadir_raft, "%s/raft", cfg->data_dir);
    snprintf(n->db_path, sizeof n->db_path, "%s/state.db", cfg->data_dir);
    rv = removal_refuse_start(cfg->node_id, cfg->data_dir);
    if (rv != 0) {
        n->exit_status = rv > 0 ? REMOVAL_EXIT_STATUS : 1;
        return -1;
    }
    if (cfg->force_new_cluster && raft_dir_is_pristine(n->datadir_raft)) {
        recover_refuse_empty(cfg->node_id, cfg->data_dir);
        n->exit_status = 2;
        return -1;
    }
    if (ensure_dir(cfg->data_dir) != 0 || ensure_dir(n->datadir_raft) != 0) {
        return -1;
    }
    if (store_open(&n->store, n->db_path) != 0) {
        log_error("%s", n->store.errmsg);
        if (n->store.corrupt) {
            /* state.db is a cache of what raft/ holds: the last snapshot and the log after it
             * rebuild it entry by entry (tests/cluster/test_small_items.py checks the claim). */
            log_error("%s is corrupt. It is rebuilt from this member's snapshot and log in %s: with "
                      "this member stopped, run  rm -f -- '%s' '%s-wal' '%s-shm'  and start it again",
                      n->db_path, n->datadir_raft, n->db_path, n->db_path, n->db_path);
        }
        return -1;
    }
    if (mirror_setup(n) != 0) {
        goto err_store; /* a wrong metastore URL: logged; nothing of the mirror runs yet */
    }

    n->transport.version = 1;
    n->transport.data = n;
    /* framing checks and optional mutual TLS between libraft and the socket (issue 12) */
    struct peer_transport_config tcfg = {cfg->peer_max_message_bytes, cfg->peer_cert_file,
                                         cfg->peer_key_file, cfg->peer_ca_file};
    if (peer_transport_init(&n->transport, loop, &tcfg) != 0) {
        log_error("raft peer transport init: %s", n->transport.errmsg);
        goto err_store;
    }
    rv = raft_uv_init(&n->io, loop, n->datadir_raft, &n->transport);
    if (rv != 0) {
        log_error("raft disk I/O init on %s: %s (%s)", n->datadir_raft, raft_strerror(rv), n->io.errmsg);
        goto err_transport;
    }
    /* checkpoints and snapshot copies at a lowered priority (bgworker.h); a failure is
     * logged: they run on libuv's thread pool then */
    (void)bgworker_start(&n->bg, loop, (int)cfg->background_nice);
    aio_defer_attach(&n->bg); /* libraft's io_destroy calls off the loop (aio_defer.h) */
    /* snapshots copied off the loop (snap_async.h); before raft_fix, whose guards must see
     * the copy as part of the put. A failure is logged: snapshots are copied on the loop. */
    (void)snap_async_wrap(&n->snap_async, &n->io, loop, &n->bg, &n->store);
    /* guard against a libraft 0.22.1 follower crash (raft_fix.h) */
    if (raft_fix_wrap(&n->raft_fix, &n->io) != 0) {
        log_error("raft I/O guard: too many raft instances in this process");
        goto err_io;
    }
    read_gate_init(&n->read_gate);
    n->raft_fix.read_gate = &n->read_gate;
    struct fsm_glue_host fsm_host = {
        .data = n, .stop = fsm_stop, .handover = fsm_handover, .grace_all = fsm_grace_all, .applied = fsm_applied,
        .snapshot = snap_async_take, .snapshot_data = &n->snap_async};
    fsm_glue_init(&n->fsm, &n->raft, &n->store, &n->proposals, &fsm_host);
    rv = raft_init(&n->raft, &n->io, &n->fsm.fsm, cfg->node_id, cfg->node_address);
    if (rv == 0) {
        n->raft_fix.raft = &n->raft; /* the pre-vote guard reads its term */
        n->raft_fix.tick_ms = cfg->tick_ms; /* election timers checked this often (raft_fix.h) */
        autopilot_setup(n);
    }
    if (rv != 0) {
        log_error("raft init (id %llu, address %s): %s (%s)", (unsigned long long)cfg->node_id,
                  cfg->node_address, raft_strerror(rv), raft_errmsg(&n->raft));
        goto err_io;
    }
    n->raft.data = n;
    uv_timer_init(loop, &n->tick);
    n->tick.data = n;
    uv_timer_init(loop, &n->close_timer);
    n->close_timer.data = n;
    uv_timer_init(loop, &n->group_commit);
    n->group_commit.data = n;
    uv_signal_init(loop, &n->sigterm);
    uv_signal_init(loop, &n->sigint);
    n->sigterm.data = n;
    n->sigint.data = n;
    raft_set_election_timeout(&n->raft, cfg->election_timeout_ms);
    raft_set_heartbeat_timeout(&n->raft, cfg->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&n->raft, cfg->snapshot_threshold);
    raft_set_snapshot_trailing(&n->raft, cfg->snapshot_trailing);
    raft_set_pre_vote(&n->raft, true);
    if (cfg->force_new_cluster &&
        recover_force_new_cluster(&n->raft, &n->io, cfg->node_id, cfg->node_address, cfg->data_dir) != 0) {
        n->exit_status = 2;
        goto err_raft;
    }
    if (bootstrap_if_needed(n) != 0) {
        goto err_raft;
    }
    /* Before raft_start: a single voter elects itself and applies the log inside it, and each
     * apply reaches proposals_on_applied (a rebuilt state.db is applied entry by entry). */
    if (pipeline_init(n) != 0) {
        log_error("cannot initialise the write pipeline");
        goto err_raft;
    }
    rv = raft_start(&n->raft);
    if (rv != 0 && strstr(n->transport.errmsg, uv_strerror(UV_EADDRINUSE)) != NULL) {
        /* libraft reports only "I/O error ()": the transport's listen kept the cause. */
        log_error("cannot listen on raft.node.address %s: address already in use (another process, "
                  "another member on this host, or this member's raft.api.address holds that port)",
                  cfg->node_address);
        goto err_raft;
    }
    if (rv != 0) {
        log_error("raft start on %s: %s (%s%s%s); if it says the AIO limit is exceeded, raise "
                  "fs.aio-max-nr or stop other raftnode processes on this host",
                  n->datadir_raft, raft_strerror(rv), raft_errmsg(&n->raft),
                  n->transport.errmsg[0] ? "; transport: " : "", n->transport.errmsg);
        goto err_raft;
    }
    read_gate_start(&n->read_gate, raft_last_index(&n->raft));
    log_info("raft started: id %llu at %s, data in %s, applied index %llu, local log's last index %llu "
             "(plain reads wait until it is applied, or the leader's commit index once a leader's message "
             "shows it)",
             (unsigned long long)cfg->node_id, cfg->node_address, cfg->data_dir,
             (unsigned long long)n->store.applied_index, (unsigned long long)n->read_gate.last_index);

    if (peer_init(&n->peer, n) != 0 || scheduler_start(n) != 0) {
        log_error("cannot initialise the write pipeline");
        node_stop(n, 1);
        return -1;
    }
    api_ctx_fill(n, &api_ctx);
    api_limits = (struct api_limits){.max_frame = cfg->max_frame_bytes,
                                     .max_connections = cfg->api_max_connections,
                                     .idle_timeout_ms = cfg->api_idle_timeout_ms,
                                     .slow_timeout_ms = cfg->api_slow_client_timeout_ms,
                                     .max_pending = cfg->api_max_pending_bytes};
    if (api_start(&n->api, &api_ctx, cfg->api_address, &api_limits) != 0) {
        node_stop(n, 1);
        return -1;
    }
    /* With API TLS this member calls other members' APIs (joining, registering, its engine's
     * heartbeats) with its own certificate (member-<id>). */
    client_set_tls(n->api.tls);
    if (engine_start(&n->engine, n) != 0 || kylin_link_start(&n->kylin, n) != 0 ||
        ((cfg->http_address[0] != '\0' || cfg->influxdb_url[0] != '\0') &&
         http_start(&n->http, &api_ctx, cfg->http_address[0] != '\0' ? cfg->http_address : NULL) != 0) ||
        influx_start(&n->influx, loop, cfg, &n->http) != 0) {
        node_stop(n, 1);
        return -1;
    }
    /* A failure is logged and survivable: SQLite's inline fallback bounds the WAL. */
    (void)checkpointer_start(&n->checkpointer, loop, &n->bg, &n->store);
    (void)loop_busy_start(&n->loop_busy, loop); /* a failure is logged: only the metric is lost */
    uv_timer_start(&n->tick, tick_cb, NODE_TICK_MS, NODE_TICK_MS);
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
    return 0;

err_raft:
    /* raft_init succeeded: raft_close releases it; its callback closes the rest while the
     * caller runs the loop to completion. */
    n->phase = NODE_CLOSING;
    uv_close((uv_handle_t *)&n->tick, handle_closed);
    uv_close((uv_handle_t *)&n->group_commit, handle_closed);
    uv_close((uv_handle_t *)&n->sigterm, handle_closed);
    uv_close((uv_handle_t *)&n->sigint, handle_closed);
    if (n->proposals.raft != NULL) {
        uv_close((uv_handle_t *)&n->proposals_flush, handle_closed);
    }
    raft_close(&n->raft, raft_closed_cb);
    return -1;
err_io:
    raft_fix_unwrap(&n->raft_fix);
    snap_async_unwrap(&n->snap_async);
    raft_uv_close(&n->io);
    aio_defer_attach(NULL);
    bgworker_close(&n->bg);
err_transport:
    peer_transport_close(&n->transport);
err_store:
    store_close(&n->store);
    return -1;
}

static void close_timer_cb(uv_timer_t *t)
{
    struct node *n = t->data;
    n->raft.data = n;
    raft_close(&n->raft, raft_closed_cb);
}

/* Final stage: everything but raft closes now, raft from a fresh loop iteration (never from
 * inside a raft callback, where node_stop may be called). */
static void node_close(struct node *n)
{
    if (n->phase == NODE_CLOSING || n->phase == NODE_CLOSED) {
        return;
    }
    n->phase = NODE_CLOSING;
    api_close(&n->api);
    influx_close(&n->influx); /* before http: it renders through it */
    client_set_tls(NULL); /* connections still open keep their own reference */
    http_close(&n->http);
    engine_close(&n->engine);
    kylin_link_close(&n->kylin); /* before the mirror: it may end the client library */
    scheduler_close(&n->scheduler);
    mirror_close(&n->mirror);
    checkpointer_close(&n->checkpointer);
    loop_busy_close(&n->loop_busy);
    proposals_fail_open(&n->proposals, "shutting_down", "member is shutting down");
    if (n->proposals.raft != NULL && !uv_is_closing((uv_handle_t *)&n->proposals_flush)) {
        uv_close((uv_handle_t *)&n->proposals_flush, handle_closed);
    }
    peer_close(&n->peer);
    uv_close((uv_handle_t *)&n->tick, handle_closed);
    uv_close((uv_handle_t *)&n->group_commit, handle_closed);
    uv_close((uv_handle_t *)&n->sigterm, handle_closed);
    uv_close((uv_handle_t *)&n->sigint, handle_closed);
    uv_timer_start(&n->close_timer, close_timer_cb, 0, 0);
}

static void shutdown_transfer_cb(struct raft_transfer *req)
{
    struct node *n = req->data;
    raft_id leader;
    const char *addr;
    raft_leader(&n->raft, &leader, &addr);
    log_info("leadership transfer before shutdown finished: leader is now %llu", (unsigned long long)leader);
    node_close(n);
}

void node_stop(struct node *n, int exit_status)
{
    if (exit_status > n->exit_status) {
        n->exit_status = exit_status;
    }
    if (n->phase != NODE_RUNNING) {
        return;
    }
    /* A leader hands over first so the cluster does not wait an election timeout. */
    if (exit_status == 0 && raft_state(&n->raft) == RAFT_LEADER) {
        unsigned voters = 0;
        for (unsigned i = 0; i < n->raft.configuration.n; i++) {
            voters += n->raft.configuration.servers[i].role == RAFT_VOTER;
        }
        if (voters > 1) {
            n->shutdown_transfer.data = n;
            int rv = raft_transfer(&n->raft, &n->shutdown_transfer, 0, shutdown_transfer_cb);
            if (rv == 0) {
                n->phase = NODE_TRANSFERRING;
                n->transfer_deadline_ms = uv_now(n->loop) + 2 * (uint64_t)n->cfg->election_timeout_ms;
                log_info("transferring leadership before shutdown");
                return;
            }
            log_warn("leadership transfer before shutdown not possible: %s", raft_strerror(rv));
        }
    }
    node_close(n);
}

uint64_t node_applied_index(struct node *n)
{
    uint64_t a = raft_last_applied(&n->raft);
    return a > n->store.applied_index ? a : n->store.applied_index;
}

raft_id node_leader(struct node *n, char *api, size_t cap)
{
    raft_id id;
    const char *addr;
    raft_leader(&n->raft, &id, &addr);
    api[0] = '\0';
    if (id == n->cfg->node_id) {
        snprintf(api, cap, "%s", n->cfg->api_address);
    } else if (id != 0 && store_member_api(&n->store, id, api, cap) != 1) {
        api[0] = '\0';
    }
    return id;
}

const char *node_state_name(struct node *n)
{
    switch (raft_state(&n->raft)) {
        case RAFT_LEADER: return "leader";
        case RAFT_FOLLOWER: return "follower";
        case RAFT_CANDIDATE: return "candidate";
        default: return "unavailable";
    }
}

const char *node_role_name(int role)
{
    return membership_role_name(role);
}
