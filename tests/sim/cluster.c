/* cluster: the fixture, each server's FSM hooks over the real store, the proposal pipeline
 * and the network model of the simulation (sim.h).
 *
 * The FSM hooks are raftnode/fsm_glue.c itself (linked, not copied), with this file as its
 * host (struct fsm_glue_host: a failed store fails the run, hand-overs go to the simulated
 * engine) and the oracles of check.c wrapped around its hooks: sim_apply reads the state
 * before the entry, glue_applied checks the entry after it, before its results reach the
 * proposer. The write pipeline is raftnode/proposal.c itself: every command submitted on a
 * server during one tick becomes one entry (sim.c flushes once per tick where raftnode's
 * uv_check flushes once per loop iteration); each command's callback runs once, with its
 * result when the entry applied locally, or status 3 when raft failed it.
 *
 * Fixture fix: libraft 0.22.1's in-memory I/O (src/fixture.c, ioMethodTruncate) keeps
 * "index - 1" entries on truncate, ignoring the start index a snapshot installation sets
 * (ioFlushSnapshotPut with trailing 0): a follower that installed a snapshot and later
 * truncates a conflicting suffix reads past its entry array (ASan: heap-buffer-overflow in
 * raft_fixture_step). io_truncate below tracks the fixture's start index and entry count
 * through the append, truncate and snapshot_put methods and passes the fixture the index
 * its arithmetic expects; nothing else of the fixture is touched.
 *
 * libraft 0.22.1 bug that raft_uv has too: the legacy layer builds an InstallSnapshot message
 * with the index and term of the snapshot it means to send, then loads the latest stored
 * snapshot (raft_io snapshot_get); when a newer snapshot was stored in between,
 * legacyLoadSnapshotCb updates last_index but not last_term, so the follower installs index N
 * with the term of the older snapshot, later finds "conflicting terms ... for entry N (commit
 * index N)", shuts down and double-frees (ASan) inside raft. raftnode's guard
 * (raftnode/raft_fix.c, wrapped around every server's io here as in node.c) corrects the term
 * on the sending side; io_recv is the oracle that fails the run if a wrong term still
 * arrives, checked against the sender's own record of its stored snapshots.
 *
 * Links: partitions use raft_fixture_saturate only (messages silently dropped), never
 * raft_fixture_disconnect, because the fixture's kill/revive assert that every link is
 * connected. links_apply() recomputes every directed link from the nemeses' cut counts and
 * the servers' liveness after any change. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/proto.h"
#include "raftnode/raft_fix.h"
#include "sim.h"

struct raft *srv_raft(struct srv *v)
{
    return raft_fixture_get(&v->sim->f, v->idx);
}

bool srv_alive(struct srv *v)
{
    return raft_fixture_alive(&v->sim->f, v->idx);
}

/* ---- the FSM: raftnode/fsm_glue.c itself, with this host and the oracles around it ---- */

/* The sim's log sink (common/log.h): what the linked raftnode files log goes into the event
 * history; an error fails the run (nothing should fail in memory). srv_log_as names the
 * member the next lines come from. */
static void sim_log(void *data, uint64_t node_id, int level, const char *line)
{
    struct sim *s = data;
    if (level >= LOG_LEVEL_ERROR && !s->closing) {
        sim_fail(s, "server %llu logged an error: %s", (unsigned long long)node_id, line);
        return;
    }
    if (level >= LOG_LEVEL_INFO || s->opts->verbose) {
        sim_event(s, "server %llu: %s", (unsigned long long)node_id, line);
    }
}

void srv_log_as(struct srv *v)
{
    log_setup(v->id, v->sim->opts->verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
}

static struct srv *glue_srv(struct raft_fsm *fsm)
{
    struct fsm_glue *g = fsm->data;
    return g->host.data;
}

/* fsm_glue_host.stop: raftnode stops the member; here that is a failure: nothing should
 * make an in-memory SQLite fail (the glue logged why, which failed the run already). */
static void glue_stop(void *data)
{
    struct srv *v = data;
    sim_fail(v->sim, "server %llu: the state machine failed and the member stops", (unsigned long long)v->id);
}

static void glue_handover(void *data, const char *project, size_t len)
{
    engine_handover(data, project, len);
}

/* fsm_glue_host.grace_all: after a restore, as engine_grace_all; from an apply it means
 * store_each_handover failed, which must not happen. */
static void glue_grace_all(void *data)
{
    struct srv *v = data;
    if (!v->restoring && !v->sim->closing) {
        sim_fail(v->sim, "server %llu: the hand-overs of an entry could not be read: %s", (unsigned long long)v->id,
                 v->store.errmsg);
    }
    engine_grace_all(v);
}

/* fsm_glue_host.applied: the oracles of one applied entry, before its results go to the
 * proposer (the state before it was read by sim_apply). */
static void glue_applied(void *data, uint64_t index, bool decision, const struct raft_buffer *buf,
                         const struct store_results *r)
{
    struct srv *v = data;
    struct sim *s = v->sim;
    (void)decision;
    s->counters[C_APPLIED]++;
    if (s->closing) {
        return;
    }
    if (r->entry_status != 0) {
        sim_fail(s, "server %llu: entry %llu malformed: %s (the sim only proposes well-formed entries)",
                 (unsigned long long)v->id, (unsigned long long)index, r->entry_message);
    }
    check_after_apply(v, index, buf->base, buf->len, v->before, v->n_before, v->maintenance_before, r);
    check_after_change(v, false);
    engine_applied(v);
}

/* raft_fsm.apply: reads the state the oracles compare with, then runs fsm_glue.c's apply. */
static int sim_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct srv *v = glue_srv(fsm);
    struct sim *s = v->sim;
    char reason[8];
    int rv;

    v->before = NULL;
    v->n_before = 0;
    v->maintenance_before = false;
    if (!v->glue.failed && !s->closing &&
        (store_load_engines(&v->store, &v->before, &v->n_before) != 0 ||
         store_maintenance(&v->store, &v->maintenance_before, reason, sizeof reason) != 0)) {
        sim_fail(s, "server %llu: reading the state before index %llu: %s", (unsigned long long)v->id,
                 (unsigned long long)raft_last_applied(srv_raft(v)) + 1, v->store.errmsg);
    }
    srv_log_as(v);
    rv = v->glue_apply(fsm, buf, result);
    free(v->before);
    v->before = NULL;
    v->n_before = 0;
    return rv;
}

static int sim_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct srv *v = glue_srv(fsm);
    srv_log_as(v);
    int rv = v->glue_snapshot(fsm, bufs, n_bufs);
    if (rv == 0) {
        v->sim->counters[C_SNAPSHOTS]++;
    }
    return rv;
}

static int sim_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct srv *v = glue_srv(fsm);
    uint64_t before = v->store.applied_index;
    srv_log_as(v);
    v->restoring = true;
    int rv = v->glue_restore(fsm, buf);
    v->restoring = false;
    if (rv != 0) {
        return rv; /* logged as an error: the run failed */
    }
    v->sim->counters[C_RESTORES]++;
    sim_event(v->sim, "server %llu restored a snapshot: applied %llu -> %llu", (unsigned long long)v->id,
              (unsigned long long)before, (unsigned long long)v->store.applied_index);
    if (!v->sim->closing) {
        check_after_change(v, true);
        engine_applied(v);
    }
    return 0;
}

/* fsm_glue.c's hooks with the sim's wrappers in front (the raft pointer comes once the
 * fixture made the server: glue_attach). */
static void glue_init(struct srv *v)
{
    static const struct fsm_glue_host host = {
        .stop = glue_stop, .handover = glue_handover, .grace_all = glue_grace_all, .applied = glue_applied};
    struct fsm_glue_host h = host;
    h.data = v;
    fsm_glue_init(&v->glue, NULL, &v->store, &v->proposals, &h);
    v->glue_apply = v->glue.fsm.apply;
    v->glue_snapshot = v->glue.fsm.snapshot;
    v->glue_restore = v->glue.fsm.restore;
    v->glue.fsm.apply = sim_apply;
    v->glue.fsm.snapshot = sim_snapshot;
    v->glue.fsm.restore = sim_restore;
}

/* ---- proposals: raftnode/proposal.c itself, flushed once per tick (sim.c) ---- */

/* The pipeline asks for a flush at the end of the loop iteration; the sim flushes every
 * server's open batch at the end of each tick instead (sim.c), so nothing to do here. */
static void flush_wanted(void *data, bool wanted)
{
    (void)data;
    (void)wanted;
}

/* A sim_done_cb waiting on proposal.c's callback, which does not name the proposer. */
struct sim_waiter {
    struct srv *proposer;
    sim_done_cb cb;
    void *data;
};

static void sim_waiter_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct sim_waiter *w = data;
    (void)code;
    w->cb(w->proposer, w->data, index, status, message);
    free(w);
}

int proposals_submit_sim(struct srv *v, const void *buf, size_t len, sim_done_cb cb, void *data)
{
    if (cb == NULL) {
        return proposals_submit(&v->proposals, buf, len, NULL, NULL);
    }
    struct sim_waiter *w = malloc(sizeof *w);
    if (w == NULL) {
        return -1;
    }
    *w = (struct sim_waiter){.proposer = v, .cb = cb, .data = data};
    if (proposals_submit(&v->proposals, buf, len, sim_waiter_done, w) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* One packed command on its way to a member's proposals (sim.h). */
msgpack_packer *pb_packer(struct packbuf *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    return &b->pk;
}

int pb_submit(struct packbuf *b, int pack_rc, struct srv *v, sim_done_cb cb, void *data)
{
    int rc = -1;
    if (pack_rc == 0 && b->sb.data != NULL) {
        rc = proposals_submit_sim(v, b->sb.data, b->sb.size, cb, data);
    }
    msgpack_sbuffer_destroy(&b->sb);
    return rc;
}

/* ---- network ---- */

void links_apply(struct sim *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        for (unsigned j = 0; j < s->n; j++) {
            if (i == j) {
                continue;
            }
            bool want = s->cut[i][j] > 0 || !raft_fixture_alive(&s->f, i) || !raft_fixture_alive(&s->f, j);
            if (raft_fixture_saturated(&s->f, i, j) != want) {
                if (want) {
                    raft_fixture_saturate(&s->f, i, j);
                } else {
                    raft_fixture_desaturate(&s->f, i, j);
                }
            }
        }
    }
}

bool link_up(struct sim *s, unsigned from, unsigned to)
{
    if (!raft_fixture_alive(&s->f, from) || !raft_fixture_alive(&s->f, to)) {
        return false;
    }
    return from == to || !raft_fixture_saturated(&s->f, from, to);
}

struct srv *sim_leader(struct sim *s)
{
    struct srv *best = NULL;
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        if (srv_alive(v) && raft_state(srv_raft(v)) == RAFT_LEADER &&
            (best == NULL || raft_current_term(srv_raft(v)) > raft_current_term(srv_raft(best)))) {
            best = v;
        }
    }
    return best;
}

/* ---- the truncate fix (see the top of this file) ---- */

static struct sim *io_sim; /* the run being simulated: the I/O wrappers find their server */

static struct srv *io_srv(struct raft_io *io)
{
    for (unsigned i = 0; i < io_sim->n; i++) {
        if (srv_raft(&io_sim->srv[i])->io == io) {
            return &io_sim->srv[i];
        }
    }
    abort(); /* an I/O object that is not one of ours */
}

static void io_append_cb(struct raft_io_append *req, int status)
{
    for (unsigned i = 0; i < io_sim->n; i++) {
        struct srv *v = &io_sim->srv[i];
        for (size_t k = 0; k < v->n_appends; k++) {
            if (v->appends[k].req == req) {
                raft_io_append_cb cb = v->appends[k].cb;
                if (status == 0) {
                    v->io_count += v->appends[k].n; /* ioFlushAppend appended them */
                    if (v->append_faults > 0) {
                        /* A disk error reported on completion (the write may or may not be
                         * on disk: here it is, the fixture kept it). */
                        v->append_faults--;
                        v->disk_failed = true;
                        status = RAFT_IOERR;
                        sim_event(io_sim, "server %llu: append of %u entries fails with an I/O error",
                                  (unsigned long long)v->id, v->appends[k].n);
                    }
                }
                v->appends[k] = v->appends[--v->n_appends];
                req->cb = cb;
                cb(req, status);
                return;
            }
        }
    }
    abort();
}

static int io_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[], unsigned n,
                     raft_io_append_cb cb)
{
    struct srv *v = io_srv(io);
    if (v->n_appends == v->cap_appends) {
        size_t cap = v->cap_appends ? v->cap_appends * 2 : 16;
        void *p = realloc(v->appends, cap * sizeof *v->appends);
        if (p == NULL) {
            return RAFT_NOMEM;
        }
        v->appends = p;
        v->cap_appends = cap;
    }
    int rv = v->orig_append(io, req, entries, n, io_append_cb);
    if (rv == 0) {
        v->appends[v->n_appends++] = (struct io_append_req){.req = req, .cb = cb, .n = n};
    }
    return rv;
}

static int io_truncate(struct raft_io *io, raft_index index)
{
    struct srv *v = io_srv(io);
    raft_index last = v->io_start + v->io_count;
    if (index >= last + 1) {
        return 0; /* nothing to truncate, as the fixture decides too */
    }
    size_t keep = index > v->io_start + 1 ? (size_t)(index - v->io_start - 1) : 0;
    int rv = v->orig_truncate(io, keep + 1); /* the fixture keeps "index - 1" entries */
    if (rv == 0) {
        v->io_count = keep;
    }
    return rv;
}

static void io_snapshot_put_cb(struct raft_io_snapshot_put *req, int status)
{
    for (unsigned i = 0; i < io_sim->n; i++) {
        struct srv *v = &io_sim->srv[i];
        if (v->put_req == req && v->put_cb != NULL) {
            raft_io_snapshot_put_cb cb = v->put_cb;
            if (status == 0 && v->put_trailing == 0) {
                v->io_start = v->put_index; /* ioFlushSnapshotPut truncated everything first */
            }
            if (status == 0) {
                unsigned k = v->n_puts % (sizeof v->puts / sizeof v->puts[0]);
                v->puts[k].index = v->put_index;
                v->puts[k].term = v->put_term;
                v->n_puts++;
            }
            v->put_cb = NULL;
            v->put_req = NULL;
            req->cb = cb;
            cb(req, status);
            return;
        }
    }
    abort();
}

static int io_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct srv *v = io_srv(io);
    if (v->put_cb != NULL) {
        abort(); /* raft has one snapshot_put in flight at most */
    }
    int rv = v->orig_snapshot_put(io, trailing, req, snapshot, io_snapshot_put_cb);
    if (rv == 0) {
        v->put_cb = cb;
        v->put_req = req;
        v->put_trailing = trailing;
        v->put_index = snapshot->index;
        v->put_term = snapshot->term;
    }
    return rv;
}

static void io_recv(struct raft_io *io, struct raft_message *m)
{
    struct srv *v = io_srv(io);
    if (m->type == RAFT_INSTALL_SNAPSHOT && m->server_id >= 1 && m->server_id <= io_sim->n) {
        struct srv *from = &io_sim->srv[m->server_id - 1];
        struct raft_install_snapshot *is = &m->install_snapshot;
        unsigned n = from->n_puts < 8 ? from->n_puts : 8;
        for (unsigned k = 0; k < n; k++) {
            if (from->puts[k].index == is->last_index && from->puts[k].term != is->last_term) {
                sim_fail(io_sim,
                         "libraft: InstallSnapshot %llu -> %llu says %llu^%llu, the snapshot is %llu^%llu: "
                         "raftnode/raft_fix.c did not correct the term",
                         (unsigned long long)from->id, (unsigned long long)v->id, (unsigned long long)is->last_index,
                         (unsigned long long)is->last_term, (unsigned long long)from->puts[k].index,
                         (unsigned long long)from->puts[k].term);
                is->last_term = from->puts[k].term; /* the run is over; do not crash on the way out */
            }
        }
    }
    v->orig_recv(io, m);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct srv *v = io_srv(io);
    v->orig_recv = recv;
    return v->orig_start(io, msecs, tick, io_recv);
}

/* After bootstrap: the fixture holds the one configuration entry, from index 1. */
static void io_wrap(struct srv *v)
{
    struct raft_io *io = srv_raft(v)->io;
    /* raftnode's own guard first (raftnode/raft_fix.c), exactly as node.c installs it */
    if (raft_fix_wrap(&v->fix, io) != 0) {
        abort();
    }
    v->fix.no_hold = v->sim->opts->no_install_hold;
    v->fix.raft = srv_raft(v);
    v->fix.no_prevote_fix = v->sim->opts->no_prevote_fix;
    v->fix.no_vote_result_fix = v->sim->opts->no_vote_result_fix;
    v->fix.no_change_split = v->sim->opts->no_change_split;
    v->fix.no_prevote_copies = v->sim->opts->no_prevote_copies;
    v->fix.no_vote_after_timeout = v->sim->opts->no_vote_after_timeout;
    v->fix.no_vote_resend = v->sim->opts->no_vote_resend;
    v->fix.no_pipeline_keep = v->sim->opts->no_pipeline_keep;
    v->fix.no_timeout_redraw = v->sim->opts->no_timeout_redraw;
    v->fix.tick_ms = v->sim->opts->tick_ms; /* 0 unless --tick-ms: libraft's tick */
    v->orig_start = io->start;
    io->start = io_start;
    v->orig_append = io->append;
    v->orig_truncate = io->truncate;
    v->orig_snapshot_put = io->snapshot_put;
    io->append = io_append;
    io->truncate = io_truncate;
    io->snapshot_put = io_snapshot_put;
    v->io_start = 0;
    v->io_count = 1;
}

/* ---- start and close ---- */

/* The fixture's own tracer prints every raft step to stderr; -v prints the sim's events. */
static void trace_quiet(struct raft_tracer *t, int type, const void *info)
{
    (void)t;
    (void)type;
    (void)info;
}

static struct raft_tracer quiet_tracer = {.impl = NULL, .version = 2, .emit = trace_quiet};

static int srv_init(struct sim *s, unsigned i)
{
    struct srv *v = &s->srv[i];
    memset(v, 0, sizeof *v);
    v->sim = s;
    v->idx = i;
    v->id = i + 1;
    if (store_open(&v->store, ":memory:") != 0) {
        fprintf(stderr, "sim: store_open: %s\n", v->store.errmsg);
        return -1;
    }
    glue_init(v);
    if (store_load_projects(&v->store, &v->snap, &v->n_snap) != 0) {
        return -1;
    }
    return 0;
}

int cluster_start(struct sim *s)
{
    struct raft_configuration conf;
    struct rng *r = &s->rng;
    unsigned threshold = rng_range(r, 8, 32), trailing = rng_range(r, 0, 24);

    if (raft_fixture_init(&s->f) != 0) {
        return -1;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (srv_init(s, i) != 0 || raft_fixture_grow(&s->f, &s->srv[i].glue.fsm) != 0) {
            return -1;
        }
        struct srv *v = &s->srv[i];
        struct proposals_host host = {.data = v, .flush_wanted = flush_wanted};
        v->glue.raft = srv_raft(v);
        if (proposals_init(&v->proposals, srv_raft(v), &host) != 0 || leader_init(v) != 0) {
            return -1;
        }
    }
    log_set_sink(sim_log, s);
    if (raft_fixture_configuration(&s->f, s->opts->autopilot ? SIM_AP_VOTERS : s->n, &conf) != 0) {
        return -1;
    }
    int rv = raft_fixture_bootstrap(&s->f, &conf);
    raft_configuration_close(&conf);
    if (rv != 0) {
        return -1;
    }
    io_sim = s;
    for (unsigned i = 0; i < s->n; i++) {
        struct raft *raft = raft_fixture_get(&s->f, i);
        io_wrap(&s->srv[i]);
        s->srv[i].fixture_tracer = raft->tracer;
        raft->tracer = &quiet_tracer;
        raft_set_snapshot_threshold(raft, threshold);
        raft_set_snapshot_trailing(raft, trailing);
        raft_set_pre_vote(raft, true);
        /* Distinct election timeouts (the fixture pins raft's PRNG to them). */
        raft_fixture_set_randomized_election_timeout(&s->f, i, 1000 + rng_range(r, 0, 9) * 100 + i * 17);
        s->latency_ms[i] = rng_range(r, 2, 30);
        raft_fixture_set_network_latency(&s->f, i, s->latency_ms[i]);
        raft_fixture_set_disk_latency(&s->f, i, rng_range(r, 1, 25));
        lease_init(&s->srv[i].lease);
        engine_grace_all(&s->srv[i]); /* engine_start: a restarted member's projects wait */
    }
    sim_event(s, "cluster of %u: snapshot threshold %u trailing %u", s->n, threshold, trailing);
    return raft_fixture_start(&s->f) == 0 ? 0 : -1;
}

void cluster_trace(struct sim *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        srv_raft(&s->srv[i])->tracer = s->srv[i].fixture_tracer;
    }
}

void cluster_close(struct sim *s)
{
    s->closing = true;
    raft_fixture_close(&s->f);
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        if (v->proposals.raft != NULL) {
            proposals_fail_open(&v->proposals, PROTO_CODE_SHUTTING_DOWN, "closing");
            /* the fixture's raft_close does not fire them */
            proposals_fail_inflight(&v->proposals, PROTO_CODE_SHUTTING_DOWN, "closing");
        }
        s->counters[C_RAFT_FIX_REWRITES] += v->fix.rewritten;
        s->counters[C_LIBRAFT_FIXES] += v->fix.terms_fixed;
        s->counters[C_INSTALLS_HELD] += v->fix.installs_held;
        s->counters[C_PREVOTE_TERMS] += v->fix.prevote_terms;
        s->counters[C_VOTE_RESULTS_DROPPED] += v->fix.vote_results_dropped;
        s->counters[C_CHANGES_SPLIT] += v->fix.changes_split;
        s->counters[C_PREVOTES_COPIED] += v->fix.prevotes_copied;
        s->counters[C_LEADERS_FORGOTTEN] += v->fix.leaders_forgotten;
        s->counters[C_VOTES_RESENT] += v->fix.votes_resent;
        s->counters[C_SNAPSHOTS_READDRESSED] += v->fix.snapshots_readdressed;
        s->counters[C_PIPELINES_KEPT] += v->fix.pipelines_kept;
        s->counters[C_PIPELINE_KEEP_OFF] += (uint64_t)v->fix.pipeline_keep_off;
        s->counters[C_TIMEOUTS_REDRAWN] += v->fix.timeouts_redrawn;
        raft_fix_unwrap(&v->fix);
        leader_free(v);
        engine_free(v);
        free(v->appends);
        store_free_projects(v->snap, v->n_snap);
        v->snap = NULL;
        check_close_server(v);
        store_close(&v->store);
    }
    log_set_sink(NULL, NULL);
}
